//! Every operation of the spec table whose `x-ms-examples` file is in
//! `fixtures/specs/`, replayed against azemu: the example's request (its
//! parameters, with our subscription), in an order that creates before it
//! reads and deletes last; the answer's status must be one the spec lists,
//! and its body must read as the spec's response schema says.
//!
//! The operations that do not pass are listed, each with what happened, in
//! `fixtures/golden/spec-example-exceptions.txt`; the test fails on any
//! failure not listed there. `AZEMU_UPDATE_GOLDEN=1` rewrites the list.

use crate::harness::{Emulator, SUBSCRIPTION};
use azemu_emulator::arm::spec::{self, Op, Seg};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const GOLDEN: &str = "fixtures/golden/spec-example-exceptions.txt";

fn specs_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/specs")
}

/// The example's request: method, path with query, body.
fn request(op: &Op, example: &Value) -> Result<(String, Option<Value>), String> {
    let params = &example["parameters"];
    let words: Vec<&str> = op.template.split('/').filter(|s| !s.is_empty()).collect();
    let mut path = String::new();
    for (seg, word) in op.segs.iter().zip(&words) {
        let part = match seg {
            Seg::Lit(_) => word.to_string(),
            Seg::Param(n) | Seg::Scope(n) => {
                if n.eq_ignore_ascii_case("subscriptionId") {
                    SUBSCRIPTION.to_string()
                } else {
                    let v = params
                        .get(*n)
                        .ok_or_else(|| format!("the example has no parameter '{n}'"))?;
                    let s = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    s.replace("00000000-0000-0000-0000-000000000000", SUBSCRIPTION)
                        .replace("subid", SUBSCRIPTION)
                }
            }
        };
        path.push('/');
        path.push_str(part.trim_start_matches('/'));
    }
    let version = params["api-version"].as_str().unwrap_or(op.api_version);
    let mut query = format!("api-version={version}");
    for q in op.required_query {
        if let Some(v) = params.get(*q) {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            query.push_str(&format!("&{q}={v}"));
        }
    }
    // The body: the example's object parameter (an array one only when there
    // is none: some examples also list array-valued query facts, `zones`).
    let values = || params.as_object().into_iter().flatten().map(|(_, v)| v);
    let body = values()
        .find(|v| v.is_object())
        .or_else(|| values().find(|v| v.is_array()))
        .cloned();
    Ok((format!("{path}?{query}"), body))
}

/// Why an example does not replay, from what azemu answered.
fn why(status: u16, code: &str, unrouted: bool) -> &'static str {
    match (status, code) {
        (404, "SubscriptionNotFound") => "the example names another subscription",
        (404, "ResourceNotFound" | "ParentResourceNotFound" | "ResourceGroupNotFound") => {
            "the example names a resource no earlier example creates"
        }
        (404, "NotFound") if !unrouted => "the example names a resource no earlier example creates",
        (404, "InvalidResourceNamespace") => "the example names a namespace azemu does not serve",
        (404, "NotFound") => "azemu does not route this path yet",
        (400, "OperationNotSupported") => "azemu has no behaviour for this operation yet",
        (405, _) => "the hand-written provider does not take this method yet",
        (400, "InvalidTemplateLink") => "the example links a template on the internet",
        (
            400,
            "InvalidResourceReference" | "SubnetNotFound" | "ScopeMapNotFound" | "TokenNotFound",
        ) => "the example references a resource no earlier example creates",
        (400, _) => "azemu refuses the example's body (an emulated rule or a missing resource)",
        _ => "azemu answers with a status the spec does not list",
    }
}

fn order(op: &Op) -> (u8, i64) {
    let depth = op.segs.len() as i64;
    match op.method {
        "PUT" => (0, depth),
        "PATCH" => (1, depth),
        "GET" | "HEAD" => (2, depth),
        "POST" => (3, depth),
        _ => (4, -depth),
    }
}

#[tokio::test]
async fn every_spec_example_replays() {
    let em = Emulator::start();
    let token = em.arm_token().await;
    let mut cases: Vec<(&'static Op, &'static str)> = spec::OPS
        .iter()
        .flat_map(|op| op.examples.iter().map(move |e| (op, *e)))
        .collect();
    cases.sort_by_key(|(op, e)| (order(op), *e));
    assert!(cases.len() > 200, "{} examples", cases.len());
    // The examples' resource groups, created first.
    let mut groups: Vec<String> = Vec::new();
    for (_, file) in &cases {
        let example: Value =
            serde_json::from_str(&std::fs::read_to_string(specs_dir().join(file)).unwrap())
                .unwrap();
        if let Some(g) = example["parameters"]["resourceGroupName"].as_str()
            && !groups.contains(&g.to_string())
        {
            groups.push(g.to_string());
        }
    }
    for g in &groups {
        let (s, body) = em
            .arm(
                &token,
                Method::PUT,
                &format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{g}?api-version=2024-07-01"),
                Some(json!({"location": "eastus"})),
            )
            .await;
        assert!(s == 200 || s == 201, "{g}: {body}");
    }
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    for (op, file) in &cases {
        let key = format!("{} {file}", op.operation_id);
        let example: Value =
            serde_json::from_str(&std::fs::read_to_string(specs_dir().join(file)).unwrap())
                .unwrap();
        let (path, body) = match request(op, &example) {
            Ok(r) => r,
            Err(e) => {
                failures.insert(key, e);
                continue;
            }
        };
        let method = Method::from_bytes(op.method.as_bytes()).unwrap();
        let (status, answer) = em.arm(&token, method, &path, body).await;
        if !op.statuses.contains(&status) {
            let code = answer["error"]["code"].as_str().unwrap_or("-");
            let message = answer["error"]["message"].as_str().unwrap_or_default();
            failures.insert(
                key,
                format!(
                    "{} (answered {status} {code})",
                    why(status, code, message.starts_with("The requested path"))
                ),
            );
            continue;
        }
        if (status == 200 || status == 201)
            && !answer.is_null()
            && let Some(schema) = op.response()
            && let Err(e) = spec::conforms(schema, &answer)
        {
            failures.insert(
                key,
                format!("the response does not read as {}: {e}", schema.name),
            );
        }
    }
    let golden_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    let listed: String = failures
        .iter()
        .map(|(k, r)| format!("{k}: {r}\n"))
        .collect();
    if std::env::var("AZEMU_UPDATE_GOLDEN").is_ok() {
        std::fs::write(&golden_path, &listed).unwrap();
        return;
    }
    let golden = std::fs::read_to_string(&golden_path).unwrap_or_default();
    let known: Vec<&str> = golden
        .lines()
        .filter_map(|l| l.split_once(": ").map(|(k, _)| k))
        .collect();
    let new: Vec<String> = failures
        .iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .map(|(k, r)| format!("{k}: {r}"))
        .collect();
    let passing: Vec<&str> = known
        .iter()
        .copied()
        .filter(|k| !failures.contains_key(*k))
        .collect();
    if !passing.is_empty() {
        eprintln!("now passing (remove from {GOLDEN}): {passing:#?}");
    }
    assert!(
        new.is_empty(),
        "{} of {} examples fail in a way {GOLDEN} does not list:\n{}",
        new.len(),
        cases.len(),
        new.join("\n")
    );
}
