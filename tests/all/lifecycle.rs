//! The process: start-up, the files it writes, curl against the CA, the
//! CONNECT proxy's allow-list, `azemu env`, and a clean SIGTERM.

use crate::harness::Emulator;
use std::io::{Read, Write};
use std::process::Command;

/// `curl --cacert <data-dir>/ca.pem URL` with no proxy: (HTTP status, body).
fn curl(em: &Emulator, url: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}", "--noproxy", "*", "--cacert"])
        .arg(em.data_dir().join("ca.pem"))
        .arg(url)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    assert!(
        !code.is_empty(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (code.to_string(), body.to_string())
}

#[test]
fn curl_trusts_the_generated_ca() {
    let em = Emulator::start();
    let (code, body) = curl(
        &em,
        &format!("https://localhost:{}/_emulator/health", em.port),
    );
    assert_eq!(
        (code.as_str(), body.as_str()),
        ("200", r#"{"status":"ok"}"#)
    );
    // The IP literal works too (no SNI: the fallback certificate has an IP SAN).
    let (code, _) = curl(
        &em,
        &format!("https://127.0.0.1:{}/_emulator/health", em.port),
    );
    assert_eq!(code, "200");
}

#[test]
fn curl_through_the_proxy_reaches_azure_host_names() {
    let em = Emulator::start();
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}", "--cacert"])
        .arg(em.data_dir().join("ca.pem"))
        .args(["--proxy", &format!("http://localhost:{}", em.port)])
        .arg("https://management.azure.com/metadata/endpoints?api-version=2022-09-01")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.ends_with("\n200"),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("\"resourceManager\": \"https://management.azure.com/\"")
            || text.contains("\"resourceManager\":\"https://management.azure.com/\""),
        "{text}"
    );
}

#[test]
fn connect_to_other_hosts_is_refused() {
    let em = Emulator::start();
    for target in [
        "example.com:443",
        "azcliprod.blob.core.windows.net:443",
        "management.azure.com:22",
    ] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", em.port)).unwrap();
        write!(s, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap();
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 403"), "{target}: {head}");
    }
    let mut s = std::net::TcpStream::connect(("127.0.0.1", em.port)).unwrap();
    write!(
        s,
        "CONNECT myregistry.azurecr.io:443 HTTP/1.1\r\nHost: myregistry.azurecr.io:443\r\n\r\n"
    )
    .unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
}

#[test]
fn env_prints_exports_for_both_modes() {
    let em = Emulator::start();
    let run = |mode: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_azemu"))
            .args(["env", "--mode", mode, "--data-dir"])
            .arg(em.data_dir())
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let t = run("transparent");
    let bundle = em.bundle();
    assert!(
        t.contains(&format!("export REQUESTS_CA_BUNDLE={}\n", bundle.display())),
        "{t}"
    );
    assert!(
        t.contains(&format!("export SSL_CERT_FILE={}\n", bundle.display())),
        "{t}"
    );
    assert!(
        t.contains(&format!(
            "export HTTPS_PROXY=http://localhost:{}\n",
            em.port
        )),
        "{t}"
    );
    for k in [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_SUBSCRIPTION_ID",
        "AZURE_AUTHORITY_HOST",
    ] {
        assert!(t.contains(&format!("export {k}=")), "{k} in {t}");
    }
    let e = run("explicit");
    assert!(
        e.contains(&format!(
            "export AZURE_AUTHORITY_HOST=https://localhost:{}\n",
            em.port
        )),
        "{e}"
    );
    assert!(!e.contains("HTTPS_PROXY"), "{e}");
    // The bundle holds the emulator CA.
    let ca = String::from_utf8(em.ca_pem()).unwrap();
    assert!(std::fs::read_to_string(bundle).unwrap().contains(ca.trim()));
}

#[test]
fn env_without_a_running_emulator_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_azemu"))
        .args(["env", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("azemu serve"));
}

#[test]
fn sigterm_shuts_down_cleanly_and_the_ca_survives_a_restart() {
    let em = Emulator::start();
    let ca = em.ca_pem();
    let (status, dir) = em.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        !dir.path().join("port").exists(),
        "the port file is removed on shutdown"
    );
    let again = Emulator::start_in(dir, &[]);
    assert_eq!(again.ca_pem(), ca, "the CA is generated once and reused");
}

#[test]
fn control_api_needs_no_token() {
    // The control API is unauthenticated, like Azurite's and LocalStack's.
    let em = Emulator::start();
    let (code, body) = curl(
        &em,
        &format!("https://localhost:{}/_emulator/version", em.port),
    );
    assert_eq!(code, "200");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
}

/// Crash safety, repeatedly: writes (identities with their principals, a
/// deployment, a role assignment, image pushes) race a `kill -9`; after each
/// restart on the same data dir every acknowledged write is there and whole
/// (a deployment caught mid-run finishes), nothing half-written is visible
/// (no principal without its identity), and pushed images pull with every
/// blob verified against its digest.
#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    use reqwest::Method;
    use serde_json::{Value, json};
    let rg = "/subscriptions/a2e0a2e0-0000-4000-8000-000000000002/resourceGroups/crash";
    let mut dir = tempfile::tempdir().unwrap();
    let mut acknowledged: Vec<String> = Vec::new();
    let (mut deployments, mut assignments, mut pushed) = (
        Vec::<String>::new(),
        Vec::<String>::new(),
        Vec::<String>::new(),
    );
    for round in 0..3 {
        let em = Emulator::start_in(dir, &[]);
        let token = em.arm_token().await;
        if round == 0 {
            let (s, _) = em
                .arm(
                    &token,
                    Method::PUT,
                    &format!("{rg}?api-version=2024-07-01"),
                    Some(json!({"location": "eastus"})),
                )
                .await;
            assert_eq!(s, 201);
            let (s, b) = em
                .arm(
                    &token,
                    Method::PUT,
                    &format!("{rg}/providers/Microsoft.ContainerRegistry/registries/crashreg?api-version=2023-07-01"),
                    Some(json!({"location": "eastus", "sku": {"name": "Basic"}, "properties": {"adminUserEnabled": true}})),
                )
                .await;
            assert_eq!(s, 201, "{b}");
            em.push_sample("crashreg.azurecr.io/hello-world:v1")
                .unwrap();
        }
        // The pushed image pulls whole: skopeo checks every blob against its digest.
        let (_, creds) = em
            .arm(
                &token,
                Method::POST,
                &format!("{rg}/providers/Microsoft.ContainerRegistry/registries/crashreg/listCredentials?api-version=2023-07-01"),
                None,
            )
            .await;
        let out_dir = tempfile::tempdir().unwrap();
        let copy = crate::oci_clients::skopeo(
            &em,
            &[
                "copy",
                "--src-creds",
                &format!(
                    "{}:{}",
                    creds["username"].as_str().unwrap(),
                    creds["passwords"][0]["value"].as_str().unwrap()
                ),
                "docker://crashreg.azurecr.io/hello-world:v1",
                &format!("oci:{}:v1", out_dir.path().display()),
            ],
        )
        .await;
        assert!(copy.ok, "round {round}: {}", copy.stderr);
        let creds_text = format!(
            "{}:{}",
            creds["username"].as_str().unwrap(),
            creds["passwords"][0]["value"].as_str().unwrap()
        );
        // Everything acknowledged before any crash is still there, whole.
        for name in &acknowledged {
            let (s, b) = em
                .arm(
                    &token,
                    Method::GET,
                    &format!("{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}?api-version=2023-01-31"),
                    None,
                )
                .await;
            assert_eq!(s, 200, "round {round}: {name} was acknowledged: {b}");
            assert!(b["properties"]["principalId"].is_string(), "{b}");
        }
        let principals: Value = em
            .http()
            .get(format!("{}/_emulator/principals", em.base()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let (_, listed) = em
            .arm(
                &token,
                Method::GET,
                &format!("{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities?api-version=2023-01-31"),
                None,
            )
            .await;
        let identity_principals: Vec<&str> = listed["value"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["properties"]["principalId"].as_str())
            .collect();
        for p in principals["value"].as_array().unwrap() {
            if p["kind"] == "ManagedIdentity" {
                let oid = p["objectId"].as_str().unwrap();
                assert!(
                    identity_principals.contains(&oid),
                    "round {round}: principal {p} has no identity among {listed}"
                );
            }
        }

        // Acknowledged deployments, role assignments and pushes are there too (a
        // deployment caught mid-run resumes and finishes).
        for dep in &deployments {
            let (s, b) = em
                .arm(&token, Method::GET, &format!("{rg}/providers/Microsoft.Resources/deployments/{dep}?api-version=2024-07-01"), None)
                .await;
            assert_eq!(s, 200, "round {round}: deployment {dep}: {b}");
            assert_eq!(
                b["properties"]["provisioningState"], "Succeeded",
                "round {round}: {b}"
            );
        }
        for ra in &assignments {
            let (s, b) = em
                .arm(
                    &token,
                    Method::GET,
                    &format!("{ra}?api-version=2022-04-01"),
                    None,
                )
                .await;
            assert_eq!(s, 200, "round {round}: {ra}: {b}");
        }
        for tag in &pushed {
            let out_dir = tempfile::tempdir().unwrap();
            let copy = crate::oci_clients::skopeo(
                &em,
                &[
                    "copy",
                    "--src-creds",
                    &creds_text,
                    &format!("docker://crashreg.azurecr.io/hello-world:{tag}"),
                    &format!("oci:{}:x", out_dir.path().display()),
                ],
            )
            .await;
            assert!(copy.ok, "round {round}: pushed {tag}: {}", copy.stderr);
        }

        // Writes racing the crash: identities (principal + resource), a deployment,
        // a role assignment, pushes.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(char, String)>();
        for n in 0..40 {
            let http = em.http();
            let url = format!(
                "{}{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/r{round}-id{n}?api-version=2023-01-31",
                em.base()
            );
            let token = token.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Ok(r) = http
                    .put(&url)
                    .bearer_auth(&token)
                    .json(&json!({"location": "eastus"}))
                    .send()
                    .await
                    && r.status().as_u16() == 201
                {
                    let _ = tx.send(('i', format!("r{round}-id{n}")));
                }
            });
        }
        {
            let http = em.http();
            let dep = format!("r{round}-dep");
            let url = format!(
                "{}{rg}/providers/Microsoft.Resources/deployments/{dep}?api-version=2024-07-01",
                em.base()
            );
            let token = token.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let body = json!({"properties": {"mode": "Incremental", "template": {
                    "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                    "contentVersion": "1.0.0.0",
                    "resources": [{"type": "Microsoft.ManagedIdentity/userAssignedIdentities", "apiVersion": "2023-01-31",
                                   "name": format!("{dep}-made"), "location": "eastus"}]
                }}});
                if let Ok(r) = http.put(&url).bearer_auth(&token).json(&body).send().await
                    && r.status().as_u16() == 201
                {
                    let _ = tx.send(('d', dep));
                }
            });
        }
        {
            let http = em.http();
            let ra = format!(
                "{rg}/providers/Microsoft.Authorization/roleAssignments/{}",
                uuid::Uuid::new_v4()
            );
            let url = format!("{}{ra}?api-version=2022-04-01", em.base());
            let token = token.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let body = json!({"properties": {
                    "roleDefinitionId": "/subscriptions/a2e0a2e0-0000-4000-8000-000000000002/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7",
                    "principalId": "a2e0a2e0-0000-4000-8000-000000000004",
                    "principalType": "ServicePrincipal"
                }});
                if let Ok(r) = http.put(&url).bearer_auth(&token).json(&body).send().await
                    && r.status().as_u16() == 201
                {
                    let _ = tx.send(('r', ra));
                }
            });
        }
        for k in 0..3 {
            let data = em.data_dir().to_path_buf();
            let tx = tx.clone();
            tokio::task::spawn_blocking(move || {
                let tag = format!("r{round}-p{k}");
                let out = Command::new(env!("CARGO_BIN_EXE_azemu"))
                    .args(["push", "--data-dir"])
                    .arg(&data)
                    .arg(
                        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                            .join("fixtures/images/hello-world"),
                    )
                    .arg(format!("crashreg.azurecr.io/hello-world:{tag}"))
                    .output();
                if out.is_ok_and(|o| o.status.success()) {
                    let _ = tx.send(('p', tag));
                }
            });
        }
        drop(tx);
        let mut record = |(kind, v): (char, String)| match kind {
            'i' => acknowledged.push(v),
            'd' => deployments.push(v),
            'r' => assignments.push(v),
            _ => pushed.push(v),
        };
        // Kill once some of each kind were acknowledged, with the rest still in flight.
        let (mut ids, mut deps, mut pushes) = (0, 0, 0);
        while ids < 10 || deps < 1 || pushes < 1 {
            let Some(x) = rx.recv().await else { break };
            match x.0 {
                'i' => ids += 1,
                'd' => deps += 1,
                'p' => pushes += 1,
                _ => {}
            }
            record(x);
        }
        dir = em.kill9();
        while let Ok(x) = rx.try_recv() {
            record(x);
        }
    }
    assert!(acknowledged.len() >= 30);
    assert!(
        deployments.len() >= 3 && pushed.len() >= 3,
        "every kind was checked"
    );
}

fn azemu(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_azemu"))
        .args(args)
        .output()
        .expect("run azemu")
}

/// Resource group `group` holding a Basic registry `registry` with `properties`; the ARM token used.
async fn group_with_registry(
    em: &Emulator,
    group: &str,
    registry: &str,
    properties: serde_json::Value,
) -> String {
    use reqwest::Method;
    let rg = format!("/subscriptions/a2e0a2e0-0000-4000-8000-000000000002/resourceGroups/{group}");
    let token = em.arm_token().await;
    let body = serde_json::json!({"location": "eastus"});
    em.arm(
        &token,
        Method::PUT,
        &format!("{rg}?api-version=2024-07-01"),
        Some(body),
    )
    .await;
    let (s, _) = em
        .arm(
            &token,
            Method::PUT,
            &format!("{rg}/providers/Microsoft.ContainerRegistry/registries/{registry}?api-version=2023-07-01"),
            Some(serde_json::json!({"location": "eastus", "sku": {"name": "Basic"}, "properties": properties})),
        )
        .await;
    assert_eq!(s, 201);
    token
}

/// `azemu <args>` under a pseudo-terminal (util-linux `script`): what the terminal showed.
fn azemu_on_a_terminal(args: &[&str]) -> String {
    let line = std::iter::once(env!("CARGO_BIN_EXE_azemu"))
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .output()
        .expect("run script");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{shown}");
    shown
}

/// `azemu push` and `azemu state export|import` draw a progress bar (bytes of
/// blobs) on a terminal, and print only their result when output is not one.
#[tokio::test]
async fn long_commands_show_progress_on_a_terminal_only() {
    use serde_json::json;
    let em = Emulator::start();
    group_with_registry(&em, "bars", "barsreg", json!({})).await;
    let dir = em.data_dir().to_string_lossy().into_owned();
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/images/hello-world");
    let push = |tag: &str| {
        [
            "push",
            "--data-dir",
            &dir,
            sample,
            &format!("barsreg.azurecr.io/hello:{tag}"),
        ]
        .map(String::from)
    };
    let piped = azemu(&push("v1").each_ref().map(String::as_str));
    assert!(piped.status.success());
    assert!(
        piped.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );
    assert!(
        String::from_utf8_lossy(&piped.stdout)
            .starts_with("pushed barsreg.azurecr.io/hello:v1@sha256:")
    );
    // The sample's three blobs are there already: the bar counts them, all 410 bytes.
    let shown = azemu_on_a_terminal(&push("v2").each_ref().map(String::as_str));
    assert!(shown.contains("pushing "), "{shown}");
    assert!(shown.contains("410 B/410 B sha256:"), "{shown}");
    assert!(shown.contains(" already there"), "{shown}");
    let (_, data) = em.terminate();

    let out = tempfile::tempdir().unwrap();
    let snap = out.path().join("snap").to_string_lossy().into_owned();
    let data = data.path().to_string_lossy().into_owned();
    let shown = azemu_on_a_terminal(&["state", "export", "--data-dir", &data, &snap]);
    assert!(shown.contains("exporting blobs "), "{shown}");
    // The three blobs and the manifest.
    assert!(shown.contains("811 B/811 B"), "{shown}");
    let fresh = tempfile::tempdir().unwrap();
    let fresh = fresh.path().to_string_lossy().into_owned();
    let piped = azemu(&["state", "import", "--data-dir", &fresh, &snap]);
    assert!(piped.status.success());
    assert!(
        piped.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );
    assert!(String::from_utf8_lossy(&piped.stdout).starts_with("imported "));
}

/// `azemu state export` → `import` into a fresh data dir → `export` again:
/// byte-identical files; and the imported world works (an identity, a pushed image).
/// Exporting under a running emulator is refused with a clear reason.
#[tokio::test]
async fn state_export_import_round_trip() {
    use reqwest::Method;
    use serde_json::json;
    let rg = "/subscriptions/a2e0a2e0-0000-4000-8000-000000000002/resourceGroups/snap";
    let em = Emulator::start();
    let token =
        group_with_registry(&em, "snap", "snapreg", json!({"adminUserEnabled": true})).await;
    let (s, ident) = em
        .arm(
            &token,
            Method::PUT,
            &format!("{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/kept?api-version=2023-01-31"),
            Some(json!({"location": "eastus"})),
        )
        .await;
    assert_eq!(s, 201);
    em.push_sample("snapreg.azurecr.io/hello-world:v1").unwrap();
    let running_dir = em.data_dir().to_string_lossy().into_owned();
    let out = tempfile::tempdir().unwrap();
    let busy = azemu(&[
        "state",
        "export",
        "--data-dir",
        &running_dir,
        &out.path().join("busy").to_string_lossy(),
    ]);
    assert!(!busy.status.success());
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("stop it first"),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );
    let (_, a) = em.terminate();

    let one = out.path().join("one");
    let e = azemu(&[
        "state",
        "export",
        "--data-dir",
        &a.path().to_string_lossy(),
        &one.to_string_lossy(),
    ]);
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    let b = tempfile::tempdir().unwrap();
    let i = azemu(&[
        "state",
        "import",
        "--data-dir",
        &b.path().to_string_lossy(),
        &one.to_string_lossy(),
    ]);
    assert!(i.status.success(), "{}", String::from_utf8_lossy(&i.stderr));

    // Export the imported world before anything runs on it: byte-identical.
    let two = out.path().join("two");
    let e = azemu(&[
        "state",
        "export",
        "--data-dir",
        &b.path().to_string_lossy(),
        &two.to_string_lossy(),
    ]);
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    let text = |d: &std::path::Path| std::fs::read_to_string(d.join("state.json")).unwrap();
    assert!(
        text(&one) == text(&two),
        "export → import → export is byte-identical"
    );
    let em = Emulator::start_in(b, &[]);
    let token = em.arm_token().await;
    let (s, got) = em
        .arm(
            &token,
            Method::GET,
            &format!("{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/kept?api-version=2023-01-31"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        got["properties"]["principalId"],
        ident["properties"]["principalId"]
    );
    let copy = pull_with_admin(&em, rg, "snapreg").await;
    assert!(copy.ok, "{}", copy.stderr);
    em.terminate();

    let list = |d: &std::path::Path| {
        let mut v: Vec<_> = std::fs::read_dir(d.join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    assert_eq!(list(&one), list(&two));
    assert!(!list(&one).is_empty());
}

/// A seed's principals can sign in with their secrets and hold their roles;
/// a seed that cannot be applied stops the start with the reason.
#[tokio::test]
async fn seeded_principals_and_a_bad_seed() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    std::fs::write(
        &good,
        r#"{
  "principals": [{
    "displayName": "ci-deployer",
    "appId": "0b3b0000-0000-4000-8000-0000000000c1",
    "objectId": "0b3b0000-0000-4000-8000-0000000000c2",
    "secret": "ci-secret",
    "roles": [{"role": "Contributor", "scope": "/subscriptions/{subscriptionId}/resourceGroups/ci"}]
  }],
  "location": "westeurope",
  "template": {
    "$schema": "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#",
    "contentVersion": "1.0.0.0",
    "resources": [{"type": "Microsoft.Resources/resourceGroups", "apiVersion": "2022-09-01", "name": "ci", "location": "westeurope"}]
  }
}"#,
    )
    .unwrap();
    let em = Emulator::start_with(&["--seed", &good.to_string_lossy()]);
    let client = azemu_client::Client::builder(&em.base())
        .ca_pem(&em.ca_pem())
        .unwrap()
        .credentials(
            crate::harness::TENANT,
            "0b3b0000-0000-4000-8000-0000000000c1",
            "ci-secret",
        )
        .build()
        .unwrap();
    let token = client
        .token(azemu_client::ARM_SCOPE)
        .await
        .unwrap()
        .access_token;
    let rg = "/subscriptions/a2e0a2e0-0000-4000-8000-000000000002/resourceGroups/ci";
    let (s, b) = em
        .arm(
            &token,
            Method::PUT,
            &format!("{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/made-by-ci?api-version=2023-01-31"),
            Some(serde_json::json!({"location": "westeurope"})),
        )
        .await;
    assert_eq!(s, 201, "Contributor on the seeded group: {b}");
    let (s, _) = em
        .arm(&token, Method::PUT, "/subscriptions/a2e0a2e0-0000-4000-8000-000000000002/resourceGroups/other?api-version=2024-07-01", Some(serde_json::json!({"location": "westeurope"})))
        .await;
    assert_eq!(s, 403, "and nothing outside it");

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "principals:\n  - displayName: x\n    roles:\n      - role: NoSuchRole\n        scope: /subscriptions/{subscriptionId}\n").unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_azemu"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(data.path())
        .arg("--seed")
        .env("AZEMU_CONTAINER_ENGINE", "none")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown role 'NoSuchRole'"), "{err}");
}

/// Snapshots through the control API on a running emulator (export, a bad
/// import that changes nothing, an import that replaces the world, export
/// again byte-identical), a deleted registry's content gone with it, and at the
/// next start the blob files nothing refers to are swept while every image
/// still pulls whole.
#[tokio::test]
async fn control_api_snapshots_and_the_blob_sweep() {
    use reqwest::Method;
    use serde_json::{Value, json};
    let rg = "/subscriptions/a2e0a2e0-0000-4000-8000-000000000002/resourceGroups/snap2";
    let em = Emulator::start();
    let token = em.arm_token().await;
    let put = |path: String, body: Value| {
        let (em, token) = (&em, token.clone());
        async move { em.arm(&token, Method::PUT, &path, Some(body)).await }
    };
    assert_eq!(
        put(
            format!("{rg}?api-version=2024-07-01"),
            json!({"location": "eastus"})
        )
        .await
        .0,
        201
    );
    for reg in ["keepreg", "gonereg"] {
        let (s, b) = put(
            format!("{rg}/providers/Microsoft.ContainerRegistry/registries/{reg}?api-version=2023-07-01"),
            json!({"location": "eastus", "sku": {"name": "Basic"}, "properties": {"adminUserEnabled": true}}),
        )
        .await;
        assert_eq!(s, 201, "{b}");
        em.push_sample(&format!("{reg}.azurecr.io/hello-world:v1"))
            .unwrap();
    }
    let control = |verb: &'static str, path: std::path::PathBuf| {
        let em = &em;
        async move {
            let r = em
                .http()
                .post(format!("{}/_emulator/state/{verb}", em.base()))
                .json(&json!({"path": path}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let out = tempfile::tempdir().unwrap();
    let (s, b) = control("export", out.path().join("a")).await;
    assert_eq!(s, 200, "{b}");
    assert!(b["blobs"].as_u64().unwrap() >= 3, "{b}");
    let (s, b) = control("export", out.path().join("a")).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (409, Some("SnapshotFailed")),
        "not over a snapshot: {b}"
    );
    let later = "/subscriptions/a2e0a2e0-0000-4000-8000-000000000002/resourceGroups/later?api-version=2024-07-01";
    assert_eq!(
        put(later.into(), json!({"location": "eastus"})).await.0,
        201
    );

    // A snapshot with a tampered blob is refused and the world stays as it was.
    let bad = out.path().join("bad");
    std::fs::create_dir_all(bad.join("blobs/sha256")).unwrap();
    std::fs::copy(out.path().join("a/state.json"), bad.join("state.json")).unwrap();
    for e in std::fs::read_dir(out.path().join("a/blobs/sha256")).unwrap() {
        let e = e.unwrap();
        std::fs::write(bad.join("blobs/sha256").join(e.file_name()), b"tampered").unwrap();
    }
    let (s, b) = control("import", bad).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("InvalidSnapshot")),
        "{b}"
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not match its content"),
        "{b}"
    );
    assert_eq!(em.arm(&token, Method::GET, later, None).await.0, 200);
    let (s, b) = control("import", "relative/path".into()).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("InvalidRequestContent")),
        "{b}"
    );

    // The good one replaces the world: `later` is gone, and exporting again is byte-identical.
    let (s, b) = control("import", out.path().join("a")).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(em.arm(&token, Method::GET, later, None).await.0, 404);
    let (s, _) = control("export", out.path().join("b")).await;
    assert_eq!(s, 200);
    let text = |d: &str| std::fs::read(out.path().join(d).join("state.json")).unwrap();
    assert!(
        text("a") == text("b"),
        "export → import → export is byte-identical"
    );

    // Deleting a registry deletes its content: created again, it is empty.
    let gone = format!(
        "{rg}/providers/Microsoft.ContainerRegistry/registries/gonereg?api-version=2023-07-01"
    );
    let (s, _) = em.arm(&token, Method::DELETE, &gone, None).await;
    assert_eq!(s, 200);
    let (s, _) = put(gone.clone(), json!({"location": "eastus", "sku": {"name": "Basic"}, "properties": {"adminUserEnabled": true}})).await;
    assert_eq!(s, 201);
    let (_, creds) = em
        .arm(
            &token,
            Method::POST,
            &gone.replace("?api-version", "/listCredentials?api-version"),
            None,
        )
        .await;
    let r = em
        .proxied()
        .get("https://gonereg.azurecr.io/v2/hello-world/manifests/v1")
        .basic_auth("gonereg", creds["passwords"][0]["value"].as_str())
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Files nothing refers to: one blob, one interrupted upload. Swept at the next start.
    let registry_dir = em.data_dir().join("registry");
    let orphan = registry_dir.join(format!("blobs/sha256/ab/{}", "ab".repeat(32)));
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"nobody refers to me").unwrap();
    let stale = registry_dir.join("uploads/7f0c3e52-interrupted");
    std::fs::write(&stale, b"half a blob").unwrap();
    let (_, dir) = em.terminate();
    let em = Emulator::start_in(dir, &[]);
    assert!(!orphan.exists() && !stale.exists(), "swept at start");
    let copy = pull_with_admin(&em, rg, "keepreg").await;
    assert!(
        copy.ok,
        "every blob of a kept image survived the sweep: {}",
        copy.stderr
    );
    em.terminate();
}

/// skopeo copies `<registry>.azurecr.io/hello-world:v1` (in resource group `rg`) with
/// the registry's admin credentials, checking every blob against its digest.
async fn pull_with_admin(em: &Emulator, rg: &str, registry: &str) -> crate::harness::Output {
    let token = em.arm_token().await;
    let (_, creds) = em
        .arm(
            &token,
            reqwest::Method::POST,
            &format!("{rg}/providers/Microsoft.ContainerRegistry/registries/{registry}/listCredentials?api-version=2023-07-01"),
            None,
        )
        .await;
    let pulled = tempfile::tempdir().unwrap();
    crate::oci_clients::skopeo(
        em,
        &[
            "copy",
            "--src-creds",
            &format!(
                "{}:{}",
                creds["username"].as_str().unwrap(),
                creds["passwords"][0]["value"].as_str().unwrap()
            ),
            &format!("docker://{registry}.azurecr.io/hello-world:v1"),
            &format!("oci:{}:v1", pulled.path().display()),
        ],
    )
    .await
}
