//! Hostile templates (issue 19, item 4, and the deployment half of item 3).
//! Each bomb is deployed over raw HTTP by the subscription's owner and fails
//! in ARM's words (400 `InvalidTemplate` at validation, or a `Failed`
//! deployment whose error says why); meanwhile the emulator keeps answering
//! other callers (a resource group GET by a Reader), and after a restart on the
//! same data dir every request still works and each failed deployment reads
//! back exactly as it did.

use crate::harness::{Emulator, TestPrincipal};
use reqwest::Method;
use serde_json::{Value, json};

const SUB: &str = "/subscriptions/a2e0a2e0-0000-4000-8000-000000000002";
const RG: &str = "/subscriptions/a2e0a2e0-0000-4000-8000-000000000002/resourceGroups/rg1";
const API: &str = "api-version=2024-07-01";
const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";

fn dep(name: &str) -> String {
    format!("{RG}/providers/Microsoft.Resources/deployments/{name}")
}

fn deployment(template: Value, parameters: Value) -> Value {
    let mut t = template;
    t["$schema"] =
        json!("https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#");
    t["contentVersion"] = json!("1.0.0.0");
    json!({"properties": {"mode": "Incremental", "template": t, "parameters": parameters}})
}

/// `{"variables": {v0: first, v1: next(1), …}}`.
fn chain(first: &str, next: impl Fn(usize) -> String, n: usize) -> Value {
    let mut vars = serde_json::Map::new();
    vars.insert("v0".into(), json!(first));
    for i in 1..n {
        vars.insert(format!("v{i}"), json!(next(i)));
    }
    json!({"variables": vars})
}

/// ARM's validation refusal, as `InvalidTemplate` says it.
fn invalid_template(inner: &str) -> Value {
    json!({"error": {
        "code": "InvalidTemplate",
        "message": format!("Deployment template validation failed: '{inner}'."),
        "additionalInfo": [{"type": "TemplateViolation", "info": {"lineNumber": 0, "linePosition": 0, "path": ""}}],
    }})
}

const TOO_BIG: &str = "produced a value larger than the template language allows (values up to 8388608 bytes, nested up to 128 levels).";
const BUDGET: &str = "The template's language expressions produce more than '128' MB of values, the most azemu evaluates for a deployment and the deployments nested in it (ARM limits a template to 4 MB once its copy loops are expanded and its variables and parameters resolved). Please see https://aka.ms/arm-template for usage details.";

/// The group, its owner's token, and a second principal that may only read it.
async fn world(em: &Emulator) -> (String, TestPrincipal) {
    let owner = em.arm_token().await;
    let (s, b) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{RG}?{API}"),
            Some(json!({"location": "eastus"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let reader = em.new_principal().await;
    let (s, b) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{RG}/providers/Microsoft.Authorization/roleAssignments/5b0c6a3e-0000-4000-8000-0000000000f1?api-version=2022-04-01"),
            Some(json!({"properties": {
                "roleDefinitionId": format!("{SUB}/providers/Microsoft.Authorization/roleDefinitions/{READER}"),
                "principalId": reader.object_id,
                "principalType": "ServicePrincipal"
            }})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    (owner, reader)
}

/// Another caller's request is answered as if nothing had happened.
async fn others_still_answered(em: &Emulator, token: &str) {
    let (s, b) = em
        .arm(token, Method::GET, &format!("{RG}?{API}"), None)
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b,
        json!({"id": RG, "location": "eastus", "name": "rg1", "properties": {"provisioningState": "Succeeded"}, "type": "Microsoft.Resources/resourceGroups"})
    );
}

/// `METHOD` on deployment `name`: (status, JSON body).
async fn at(
    em: &Emulator,
    token: &str,
    method: Method,
    name: &str,
    body: Option<Value>,
) -> (u16, Value) {
    em.arm(token, method, &format!("{}?{API}", dep(name)), body)
        .await
}

/// PUT a deployment of `template`: accepted (201), to run.
async fn accepted(em: &Emulator, token: &str, name: &str, template: &Value, parameters: Value) {
    let body = Some(deployment(template.clone(), parameters));
    let (s, b) = at(em, token, Method::PUT, name, body).await;
    assert_eq!(s, 201, "{name}: {b}");
}

/// `GET` a deployment (it must exist).
async fn get(em: &Emulator, token: &str, name: &str) -> Value {
    let (s, b) = at(em, token, Method::GET, name, None).await;
    assert_eq!(s, 200, "{name}: {b}");
    b
}

/// Restart on the same data dir: the emulator comes up, and a fresh owner token.
async fn restart(em: Emulator) -> (Emulator, String) {
    let (status, dir) = em.terminate();
    assert!(status.success(), "{status:?}");
    let em = Emulator::start_in(dir, &[]);
    let owner = em.arm_token().await;
    (em, owner)
}

/// Bombs ARM's validation refuses: 400 `InvalidTemplate` before anything is stored.
#[tokio::test]
async fn validation_refuses_bombs_in_azures_words() {
    let em = Emulator::start();
    let (owner, reader) = world(&em).await;
    let many = |n: usize, v: Value| -> Value {
        Value::Object((0..n).map(|i| (format!("x{i}"), v.clone())).collect())
    };
    // Deeper than a stored deployment may nest: refused at the edge already,
    // where a body may nest 100 levels.
    let mut deep_json = json!("x");
    for _ in 0..123 {
        deep_json = json!([deep_json]);
    }
    let bombs: Vec<(&str, Value, Value)> = vec![
        (
            "doubling",
            chain(
                "[padLeft('x', 16000, 'x')]",
                |i| format!("[concat(variables('v{0}'), variables('v{0}'))]", i - 1),
                40,
            ),
            invalid_template(&format!("The template function 'concat' {TOO_BIG}")),
        ),
        (
            "string-range",
            chain(
                "[string(range(0, 10000))]",
                |i| {
                    format!(
                        "[string(createArray(variables('v{0}'), variables('v{0}'), variables('v{0}'), variables('v{0}')))]",
                        i - 1
                    )
                },
                12,
            ),
            invalid_template(&format!("The template function 'createArray' {TOO_BIG}")),
        ),
        (
            "padleft",
            json!({"variables": {"wide": "[padLeft('x', 100000000, 'x')]"}}),
            invalid_template(
                "The template language function 'padLeft' total length must not exceed 16384.",
            ),
        ),
        (
            "replace",
            chain(
                "[padLeft('x', 2000, 'x')]",
                |i| {
                    format!(
                        "[replace(variables('v{0}'), 'x', variables('v{0}'))]",
                        i - 1
                    )
                },
                4,
            ),
            invalid_template(&format!("The template function 'replace' {TOO_BIG}")),
        ),
        (
            "union",
            chain(
                "[range(0, 10000)]",
                |i| {
                    format!(
                        "[union(variables('v{}'), range(mul({i}, 10000), 10000))]",
                        i - 1
                    )
                },
                40,
            ),
            invalid_template(BUDGET),
        ),
        (
            "copy-of-copies",
            json!({"variables": {"copy": [{"name": "c", "count": 800, "input": {"copy": [{"name": "d", "count": 800, "input": "[range(0, 1000)]"}]}}]}}),
            invalid_template(BUDGET),
        ),
        (
            "deep-values",
            chain(
                "x",
                |i| {
                    format!(
                        "[createArray(createArray(createArray(createArray(variables('v{}')))))]",
                        i - 1
                    )
                },
                40,
            ),
            invalid_template(&format!("The template function 'createArray' {TOO_BIG}")),
        ),
        (
            "job-size",
            json!({"variables": {
                "a": "[padLeft('x', 16000, 'x')]",
                "b": format!("[concat({})]", vec!["variables('a')"; 500].join(", ")),
                "c": "[concat(variables('b'), 'c')]",
                "d": "[concat(variables('b'), 'd')]",
                "e": "[concat(variables('b'), 'e')]",
                "f": "[concat(variables('b'), 'f')]",
            }}),
            json!({"error": {"code": "DeploymentJobSizeExceeded", "message":
                "The deployment is larger than '16777216' bytes once its template is expanded and its variables and parameters resolved, more than a deployment can keep. Please see https://aka.ms/arm-template for usage details."}}),
        ),
        (
            "variables",
            json!({"variables": many(513, json!(1))}),
            invalid_template(
                "The number of template variables limit exceeded. Limit: '512' and actual: '513'. Please see https://aka.ms/arm-template/#variables for usage details.",
            ),
        ),
        (
            "parameters",
            json!({"parameters": many(257, json!({"type": "int", "defaultValue": 1}))}),
            invalid_template(
                "The number of template parameters limit exceeded. Limit: '256' and actual: '257'. Please see https://aka.ms/arm-template/#parameters for usage details.",
            ),
        ),
        (
            "outputs",
            json!({"outputs": many(65, json!({"type": "int", "value": 1}))}),
            invalid_template(
                "The number of template outputs limit exceeded. Limit: '64' and actual: '65'. Please see https://aka.ms/arm-template/#outputs for usage details.",
            ),
        ),
        (
            "resources",
            json!({"resources": [{"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31",
                "name": "[concat('id', copyIndex())]", "location": "eastus", "copy": {"name": "c", "count": 800}},
                {"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31", "name": "one-more", "location": "eastus"}]}),
            invalid_template(
                "The number of template resources limit exceeded. Limit: '800' and actual: '801'. Please see https://aka.ms/arm-template/#resources for usage details.",
            ),
        ),
        (
            "expression",
            json!({"variables": {"long": format!("[concat('{}')]", "x".repeat(81_920))}}),
            invalid_template(
                "The language expression length limit exceeded. Limit: '81920' and actual: '81932'.. Please see https://aka.ms/arm-template-expressions for usage details.",
            ),
        ),
        (
            "deep-json",
            json!({"variables": {"deep": deep_json}}),
            json!({"error": {"code": "InvalidRequestContent", "message":
                "The request content was invalid and could not be deserialized: 'The content is nested more than 100 levels deep.'."}}),
        ),
    ];
    for (name, template, want) in bombs {
        let (s, b) = at(
            &em,
            &owner,
            Method::PUT,
            name,
            Some(deployment(template, json!({}))),
        )
        .await;
        assert_eq!((s, &b), (400, &want), "{name}");
        let (s, _) = at(&em, &owner, Method::GET, name, None).await;
        assert_eq!(s, 404, "{name}: nothing is stored");
        others_still_answered(&em, &reader.token).await;
    }
    // 512 variables, a chain of 512 references, 199 nested calls: all within ARM's limits.
    let chain512 = chain(
        "[concat('a')]",
        |i| format!("[concat(variables('v{}'), '')]", i - 1),
        512,
    );
    let mut t = chain512;
    t["outputs"] = json!({"last": {"type": "string", "value": "[variables('v511')]"},
        "deep": {"type": "string", "value": format!("[{}'b'{}]", "concat(".repeat(199), ")".repeat(199))}});
    accepted(&em, &owner, "chain", &t, json!({})).await;
    let (s, b) = at(&em, &owner, Method::GET, "chain", None).await;
    assert_eq!(s, 200);
    assert_eq!(b["properties"]["provisioningState"], "Succeeded", "{b}");
    assert_eq!(
        b["properties"]["outputs"],
        json!({"last": {"type": "String", "value": "a"}, "deep": {"type": "String", "value": "b"}})
    );

    let (em, owner) = restart(em).await;
    others_still_answered(&em, &owner).await;
    others_still_answered(&em, &reader.token).await;
    let (s, b) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{RG}/providers/Microsoft.Resources/deployments?{API}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let names: Vec<&str> = b["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["chain"]);
}

/// Bombs that go off while the deployment runs (resource bodies and outputs
/// are evaluated then): the deployment fails, by itself, with its own error.
#[tokio::test]
async fn running_bombs_fail_their_deployment_alone() {
    let em = Emulator::start();
    let (owner, reader) = world(&em).await;
    let identity = "Microsoft.ManagedIdentity/userAssignedIdentities";
    let cases: Vec<(&str, Value)> = vec![
        (
            "copies",
            json!({"resources": [{"type": identity, "apiVersion": "2023-01-31", "name": "[concat('id', copyIndex())]",
                "location": "eastus", "copy": {"name": "c", "count": 800},
                "properties": {"copy": [{"name": "p", "count": 800, "input": "[range(0, 10000)]"}]}}]}),
        ),
        (
            "outputs",
            json!({"outputs": {"o": {"type": "array", "copy": {"count": 800, "input": {"copy": [{"name": "p", "count": 800, "input": "[range(0, 10000)]"}]}}}}}),
        ),
        (
            "replace",
            json!({"variables": {"a": "[padLeft('x', 2000, 'x')]", "b": "[replace(variables('a'), 'x', padLeft('y', 2000, 'y'))]"},
                "outputs": {"o": {"type": "int", "value": "[length(replace(variables('b'), 'y', variables('b')))]"}}}),
        ),
        (
            "body",
            json!({"variables": {"a": "[padLeft('x', 2000, 'x')]"},
                "resources": [{"type": identity, "apiVersion": "2023-01-31", "name": "big", "location": "eastus",
                    "tags": {"t": "[replace(variables('a'), 'x', variables('a'))]",
                             "u": "[replace(variables('a'), 'x', variables('a'))]"}}]}),
        ),
    ];
    for (name, t) in &cases {
        accepted(&em, &owner, name, t, json!({})).await;
        others_still_answered(&em, &reader.token).await;
    }
    let unable = |id: &str, why: &str| {
        json!({"code": "InvalidTemplate", "message": format!(
            "Unable to process template language expressions for resource '{RG}/providers/{identity}/{id}' at line '0' and column '0'. '{why}'"
        )})
    };
    let failed = |details: Vec<Value>, name: &str| {
        json!({"code": "DeploymentFailed", "target": dep(name),
            "message": "At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/arm-deployment-operations for usage details.",
            "details": details})
    };
    let outputs = |why: &str| {
        json!({"code": "InvalidTemplate", "message": format!(
            "Unable to evaluate template outputs: '{why}'. Please see error details and deployment operations. Please see https://aka.ms/arm-common-errors for usage details."
        )})
    };

    for (name, _) in &cases {
        let b = get(&em, &owner, name).await;
        assert_eq!(
            b["properties"]["provisioningState"], "Failed",
            "{name}: {b}"
        );
    }
    let copies = get(&em, &owner, "copies").await;
    let details: Vec<Value> = (0..800)
        .map(|i| unable(&format!("id{i}"), BUDGET))
        .collect();
    assert_eq!(copies["properties"]["error"], failed(details, "copies"));
    assert_eq!(copies["properties"]["outputResources"], json!([]));
    let o = get(&em, &owner, "outputs").await;
    assert_eq!(o["properties"]["error"], outputs(BUDGET));
    let r = get(&em, &owner, "replace").await;
    assert_eq!(
        r["properties"]["error"],
        outputs(&format!("The template function 'replace' {TOO_BIG}"))
    );
    let body = get(&em, &owner, "body").await;
    assert_eq!(
        body["properties"]["error"],
        failed(
            vec![
                json!({"code": "RequestContentTooLarge", "message": "The request content size exceeds the maximum allowed size of 4194304 bytes."})
            ],
            "body"
        )
    );
    // Nothing was created, and the identities' type is still listable.
    let (s, b) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{RG}/providers/{identity}?api-version=2023-01-31"),
            None,
        )
        .await;
    assert_eq!((s, b), (200, json!({"value": []})));

    let before: Vec<Value> = vec![copies, o, r, body];
    let (em, owner) = restart(em).await;
    others_still_answered(&em, &reader.token).await;
    for (b, (name, _)) in before.iter().zip(&cases) {
        let after = get(&em, &owner, name).await;
        assert_eq!(&after, b, "{name} reads back as it was");
    }
}

/// Nested deployments: one that redeploys itself under its own name is refused
/// (`DeploymentActive`); one that deploys itself under new names stops at the
/// nesting limit; one that fans out stops at the tree's size. Each fails alone.
#[tokio::test]
async fn nested_deployments_are_bounded() {
    let em = Emulator::start();
    let (owner, reader) = world(&em).await;
    let same_name = json!({"resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01",
        "name": "[deployment().name]",
        "properties": {"mode": "Incremental", "template": {"resources": []}}}]});
    // A template that passes itself on: each level deploys `level{n+1}`.
    let replicator = json!({"parameters": {"t": {"type": "object"}, "n": {"type": "int"}},
        "resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01",
            "name": "[concat('level', parameters('n'))]",
            "properties": {"mode": "Incremental", "template": "[parameters('t')]",
                "parameters": {"t": {"value": "[parameters('t')]"}, "n": {"value": "[add(parameters('n'), 1)]"}}}}]});
    for (name, t, p) in [
        ("itself", same_name, json!({})),
        (
            "replicator",
            replicator.clone(),
            json!({"t": {"value": replicator}, "n": {"value": 1}}),
        ),
    ] {
        accepted(&em, &owner, name, &t, p).await;
        others_still_answered(&em, &reader.token).await;
    }
    let failed = |name: &str, details: Value| {
        json!({"code": "DeploymentFailed", "target": dep(name),
            "message": "At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/arm-deployment-operations for usage details.",
            "details": details})
    };

    let itself = get(&em, &owner, "itself").await;
    assert_eq!(itself["properties"]["provisioningState"], "Failed");
    assert_eq!(
        itself["properties"]["error"],
        failed(
            "itself",
            json!([{"code": "DeploymentActive", "message": format!(
                "The deployment with resource id '{}' cannot be saved, because this would overwrite an existing deployment which is still active. Please see https://aka.ms/arm-deploy for usage details.",
                dep("itself")
            )}])
        )
    );

    // level1 … level32 exist; level32 may not nest further.
    let deepest = get(&em, &owner, "level32").await;
    assert_eq!(deepest["properties"]["provisioningState"], "Failed");
    let too_deep = json!({"code": "InvalidTemplate", "message":
        "The deployment 'level32' is nested '32' deployments deep, the most azemu deploys: a deployment can't deploy further nested deployments."});
    assert_eq!(
        deepest["properties"]["error"],
        failed("level32", json!([too_deep]))
    );
    let (s, _) = at(&em, &owner, Method::GET, "level33", None).await;
    assert_eq!(s, 404);
    // The root says so too: its error ends in the same cause, however deep the tree.
    let root = get(&em, &owner, "replicator").await;
    assert_eq!(root["properties"]["provisioningState"], "Failed");
    assert_eq!(root["properties"]["error"]["code"], "DeploymentFailed");
    let mut e = &root["properties"]["error"];
    let mut levels = 1;
    while let Some(d) = e["details"].get(0) {
        e = d;
        levels += 1;
    }
    assert_eq!(e, &too_deep);
    assert!(levels <= 13, "{levels} errors deep");

    let before = (itself, deepest, root);
    let (em, owner) = restart(em).await;
    others_still_answered(&em, &reader.token).await;
    assert_eq!(get(&em, &owner, "itself").await, before.0);
    assert_eq!(get(&em, &owner, "level32").await, before.1);
    assert_eq!(get(&em, &owner, "replicator").await, before.2);
}

/// A template that fans out (each level deploys three copies of itself) stops
/// when its tree holds 800 deployments; the rest fail, and so does the root.
#[tokio::test]
async fn a_fanning_tree_stops_at_800_deployments() {
    let em = Emulator::start();
    let (owner, reader) = world(&em).await;
    let fan = json!({"parameters": {"t": {"type": "object"}, "n": {"type": "int"}},
        "resources": [{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01",
            "name": "[concat('f', parameters('n'), '-', copyIndex(), '-', uniqueString(deployment().name))]",
            "copy": {"name": "fan", "count": 30},
            "properties": {"mode": "Incremental", "template": "[parameters('t')]",
                "parameters": {"t": {"value": "[parameters('t')]"}, "n": {"value": "[add(parameters('n'), 1)]"}}}}]});
    let p = json!({"t": {"value": fan}, "n": {"value": 1}});
    accepted(&em, &owner, "fan", &fan, p).await;
    others_still_answered(&em, &reader.token).await;
    let (s, b) = at(&em, &owner, Method::GET, "fan", None).await;
    assert_eq!(s, 200);
    assert_eq!(b["properties"]["provisioningState"], "Failed", "{b}");
    let (s, list) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{RG}/providers/Microsoft.Resources/deployments?{API}&$top=1000"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let mut all: Vec<Value> = list["value"].as_array().unwrap().clone();
    let mut next = list["nextLink"].as_str().map(str::to_string);
    while let Some(url) = next {
        let path = url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap();
        let (_, page) = em.arm(&owner, Method::GET, &path, None).await;
        all.extend(page["value"].as_array().unwrap().iter().cloned());
        next = page["nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(all.len(), 800, "the root and 799 nested deployments");
    let full = all
        .iter()
        .filter(|d| {
            d["properties"]["error"]["details"]
                .as_array()
                .is_some_and(|ds| {
                    ds.iter().any(|x| {
                        x["message"].as_str().is_some_and(|m| {
                            m.ends_with("already holds '800' deployments, the most azemu deploys.")
                        })
                    })
                })
        })
        .count();
    assert!(full > 0, "some deployments were refused more nesting");
    assert!(
        all.iter()
            .all(|d| d["properties"]["provisioningState"] == "Failed"),
        "every deployment of the tree failed (each holds a refused child, or its children failed)"
    );
    others_still_answered(&em, &reader.token).await;
}

/// A stored deployment that cannot be read back as a run (here: imported from a
/// snapshot with its run mangled) fails by itself with ARM's internal-error
/// answer: the step that meets it succeeds, other requests are answered, its
/// operation finishes, and a restart changes nothing.
#[tokio::test]
async fn a_deployment_that_cannot_be_advanced_fails_alone() {
    let em = Emulator::start_with(&["--sim-mode", "explicit"]);
    let (owner, reader) = world(&em).await;
    let t = json!({"resources": [{"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31", "name": "ok-id", "location": "eastus"}]});
    for name in ["broken", "fine"] {
        accepted(&em, &owner, name, &t, json!({})).await;
    }
    // Export, mangle the run of `broken`, import.
    let snap = tempfile::tempdir().unwrap();
    let out = snap.path().join("s");
    let (s, b) = Emulator::answer(
        em.http()
            .post(format!("{}/_emulator/state/export", em.base()))
            .json(&json!({"path": out})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let file = out.join("state.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let key = dep("broken").to_ascii_lowercase();
    let row = &mut doc["tables"]["deployments"][&key];
    assert_eq!(row["properties"]["provisioningState"], "Accepted");
    row["_run"] = json!({"plan": 5});
    std::fs::write(&file, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    let (s, b) = Emulator::answer(
        em.http()
            .post(format!("{}/_emulator/state/import", em.base()))
            .json(&json!({"path": out})),
    )
    .await;
    assert_eq!(s, 200, "{b}");

    em.step().await;
    others_still_answered(&em, &reader.token).await;
    let (s, broken) = at(&em, &owner, Method::GET, "broken", None).await;
    assert_eq!(s, 200, "{broken}");
    assert_eq!(broken["properties"]["provisioningState"], "Failed");
    assert_eq!(
        broken["properties"]["error"],
        json!({"code": "InternalServerError", "message": "Encountered internal server error. Diagnostic information: timestamp, correlation id."})
    );
    let (_, fine) = at(&em, &owner, Method::GET, "fine", None).await;
    assert_eq!(
        fine["properties"]["provisioningState"], "Succeeded",
        "{fine}"
    );
    // Its operations list is empty (the run is gone), not an error.
    let (s, ops) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{}/operations?{API}", dep("broken")),
            None,
        )
        .await;
    assert_eq!((s, ops), (200, json!({"value": []})));

    let (em, owner) = restart(em).await;
    em.step().await;
    others_still_answered(&em, &reader.token).await;
    let (s, again) = at(&em, &owner, Method::GET, "broken", None).await;
    assert_eq!((s, &again), (200, &broken));
    // And it can be deleted.
    let (s, _) = at(&em, &owner, Method::DELETE, "broken", None).await;
    assert_eq!(s, 202);
    let (s, _) = at(&em, &owner, Method::GET, "broken", None).await;
    assert_eq!(s, 404);
}
