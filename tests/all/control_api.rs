//! The control API answers only the local user (issue 19, item 5), the
//! managed-identity endpoints check their secret (item 8), every plane refuses
//! oversized requests in its own shape (item 11), and the transport refusals
//! stay: forwarding headers do not move a caller past a firewall, CONNECT opens
//! tunnels to emulated hosts only, smuggled requests are never served, stalled
//! clients are let go.

use crate::harness::{Emulator, SUBSCRIPTION};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::process::Command;

/// Send `request` over plain HTTP to the emulator's port and read until it closes.
fn raw(em: &Emulator, request: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", em.port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The status and JSON body of one raw HTTP/1.1 response.
fn parsed(response: &str) -> (u16, Value) {
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// `curl` with the emulator's CA, through its proxy: (status, body text).
fn curl(em: &Emulator, args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-w", "\n%{http_code}", "--max-time", "60"])
        .arg("--cacert")
        .arg(em.data_dir().join("ca.pem"))
        .args(["--proxy", &format!("http://localhost:{}", em.port)])
        .args(args)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        code.trim().parse().unwrap_or(0),
        body.trim_start_matches('\u{feff}').to_string(),
    )
}

fn arm_error(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

fn wrong_host(named: &str) -> Value {
    arm_error(
        "Forbidden",
        &format!(
            "The control API answers only requests addressed to localhost, 127.0.0.1, [::1] or the address azemu is bound to; this request was addressed to {named}."
        ),
    )
}

/// A resource group `name` holding `resources` (`(path under the group with its
/// api-version, body)`), each created (201): the group's id and their bodies.
async fn group_with(
    em: &Emulator,
    name: &str,
    resources: &[(String, Value)],
) -> (String, Vec<Value>) {
    let owner = em.arm_token().await;
    let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{name}");
    let location = json!({"location": "eastus"});
    let (s, b) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{rg}?api-version=2024-07-01"),
            Some(location),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let mut made = Vec::new();
    for (path, body) in resources {
        let (s, b) = em
            .arm(
                &owner,
                Method::PUT,
                &format!("{rg}/{path}"),
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, 201, "{path}: {b}");
        made.push(b);
    }
    (rg, made)
}

/// Does the directory still list the principal `made` (a `POST /_emulator/principals` answer)?
async fn still_listed(em: &Emulator, made: &Value) -> bool {
    em.control_json("/_emulator/principals").await["value"]
        .as_array()
        .is_some_and(|all| all.iter().any(|p| p["objectId"] == made["objectId"]))
}

/// The principals the directory lists (the control API's own read).
async fn principal_count(em: &Emulator) -> usize {
    em.control_json("/_emulator/principals").await["value"]
        .as_array()
        .map_or(0, Vec::len)
}

/// A web page on another name, rebound to 127.0.0.1 (DNS rebinding), reaches the
/// port with its own name as `Host`; so does a request with no `Host`. Both are
/// refused before anything runs, on every control and identity path; local
/// names with any port are served.
#[tokio::test]
async fn wrong_host_names_are_refused() {
    let em = Emulator::start();
    let before = principal_count(&em).await;
    for (line, extra) in [
        ("GET /_emulator/info", ""),
        ("GET /_emulator/ui", ""),
        (
            "POST /_emulator/principals",
            "Content-Type: application/json\r\nContent-Length: 2\r\n",
        ),
        (
            "POST /_emulator/reset",
            "Content-Type: application/json\r\nContent-Length: 2\r\n",
        ),
        ("GET /_emulator/identity-endpoint", ""),
        (
            "GET /_emulator/identity/token?resource=x",
            "Metadata: true\r\n",
        ),
        (
            "GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=x",
            "Metadata: true\r\n",
        ),
    ] {
        let body = if extra.contains("Content-Length") {
            "{}"
        } else {
            ""
        };
        for host in ["evil.example", "evil.example:80", "localhost.evil.example"] {
            let text = raw(
                &em,
                &format!(
                    "{line} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n{body}"
                ),
            );
            assert_eq!(
                parsed(&text),
                (403, wrong_host(&format!("host '{host}'"))),
                "{line} as {host}: {text}"
            );
        }
        // HTTP/1.0 needs no Host: refused too.
        let text = raw(&em, &format!("{line} HTTP/1.0\r\n{extra}\r\n{body}"));
        assert_eq!(
            parsed(&text),
            (403, wrong_host("no host")),
            "{line}: {text}"
        );
    }
    // The IMDS address serves the identity endpoints, not the control API.
    let text = raw(
        &em,
        "GET /_emulator/info HTTP/1.1\r\nHost: 169.254.169.254\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        parsed(&text),
        (403, wrong_host("host '169.254.169.254'")),
        "{text}"
    );
    // Nothing was created or reset.
    assert_eq!(principal_count(&em).await, before);
    // Local names, any port, are served.
    for host in [
        "localhost",
        "localhost:1",
        "127.0.0.1",
        &format!("127.0.0.1:{}", em.port),
        "[::1]",
        "[::1]:8443",
        "LOCALHOST.",
    ] {
        let text = raw(
            &em,
            &format!("GET /_emulator/health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(parsed(&text), (200, json!({"status": "ok"})), "{host}");
    }
}

/// A page on another origin cannot write: any `Origin` that is not the
/// emulator's own (scheme, host and port as addressed) gets 403 and nothing
/// changes; the emulator's own origin (the console's) is served.
#[tokio::test]
async fn cross_origin_writes_are_refused() {
    let em = Emulator::start();
    let url = format!("{}/_emulator/principals", em.base());
    let own = format!("https://localhost:{}", em.port);
    for origin in [
        "https://evil.example",
        "http://evil.example",
        "null",
        &format!("http://localhost:{}", em.port),
        &format!("https://127.0.0.1:{}", em.port),
        "https://localhost:1",
    ] {
        let (s, b) = Emulator::answer(
            em.http()
                .post(&url)
                .header("origin", origin)
                .json(&json!({"displayName": "csrf"})),
        )
        .await;
        assert_eq!(
            (s, b),
            (
                403,
                arm_error(
                    "Forbidden",
                    &format!(
                        "The control API refuses cross-origin requests: Origin '{origin}' is not this emulator's own ({own})."
                    )
                )
            ),
            "{origin}"
        );
    }
    // A cross-origin reset does not reset either.
    let made = Emulator::json_of(em.http().post(&url).json(&json!({"displayName": "kept"}))).await;
    let (s, _) = Emulator::answer(
        em.http()
            .post(format!("{}/_emulator/reset", em.base()))
            .header("origin", "https://evil.example")
            .json(&json!({})),
    )
    .await;
    assert_eq!(s, 403);
    assert!(still_listed(&em, &made).await);
    // The emulator's own origin, as the console sends it.
    let (s, b) = Emulator::answer(
        em.http()
            .post(&url)
            .header("origin", &own)
            .json(&json!({"displayName": "same-origin"})),
    )
    .await;
    assert_eq!((s, b["displayName"].as_str()), (201, Some("same-origin")));
}

/// What a browser can send cross-site without asking (an HTML form, a `no-cors`
/// fetch) cannot change anything: state-changing calls need
/// `Content-Type: application/json`.
#[tokio::test]
async fn form_posts_cannot_change_state() {
    let em = Emulator::start();
    let made = Emulator::json_of(
        em.http()
            .post(format!("{}/_emulator/principals", em.base()))
            .json(&json!({"displayName": "survivor"})),
    )
    .await;
    let refused = |sent: &str| {
        arm_error(
            "UnsupportedMediaType",
            &format!(
                "The control API accepts calls that change state (POST, PUT, PATCH, DELETE) only with 'Content-Type: application/json'; this request sent {sent}."
            ),
        )
    };
    for (method, path, ct, body) in [
        (
            Method::POST,
            "/_emulator/reset",
            Some("application/x-www-form-urlencoded"),
            "a=b",
        ),
        (Method::POST, "/_emulator/reset", Some("text/plain"), "{}"),
        (
            Method::POST,
            "/_emulator/reset",
            Some("multipart/form-data; boundary=x"),
            "--x--",
        ),
        (Method::POST, "/_emulator/reset", None, ""),
        (Method::POST, "/_emulator/step", None, ""),
        (
            Method::POST,
            "/_emulator/clock/advance?seconds=99999",
            None,
            "",
        ),
        (
            Method::POST,
            "/_emulator/principals",
            Some("text/plain;charset=UTF-8"),
            r#"{"displayName":"sneaky"}"#,
        ),
        (Method::DELETE, "/_emulator/faults", None, ""),
    ] {
        let mut req = em
            .http()
            .request(method.clone(), format!("{}{path}", em.base()))
            .body(body.to_string());
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let (s, b) = Emulator::answer(req).await;
        let sent = ct.map_or("none".to_string(), |c| format!("'{c}'"));
        assert_eq!((s, b), (415, refused(&sent)), "{method} {path} {ct:?}");
    }
    // The principal is still there, the clock did not move.
    assert!(still_listed(&em, &made).await);
    assert_eq!(
        em.control_json("/_emulator/clock").await["offsetSeconds"],
        0
    );
    // JSON is served (with parameters too), and reads need no content type.
    let (s, b) = Emulator::answer(
        em.http()
            .post(format!("{}/_emulator/reset", em.base()))
            .header("content-type", "Application/JSON; charset=utf-8")
            .body("{}"),
    )
    .await;
    assert_eq!((s, b), (200, json!({"status": "reset"})));
}

/// Through the transparent proxy, Azure's host names do not have the control
/// API or the managed-identity endpoints: each answers what it answers for any
/// path it does not serve, and no token or credential comes back.
#[tokio::test]
async fn not_served_under_azure_host_names() {
    let em = Emulator::start();
    let root = em.control_json("/_emulator/identity-endpoint").await;
    let secret = root["IDENTITY_HEADER"].as_str().unwrap().to_string();
    let proxied = em.proxied();
    let not_found = |path: &str| json!({"error": {"code": "NotFound", "message": format!("The requested path '{path}' was not found."), "target": path}});
    for host in [
        "management.azure.com",
        "management.core.windows.net",
        "login.microsoftonline.com",
        "login.windows.net",
        "graph.microsoft.com",
    ] {
        for (method, path) in [
            (Method::GET, "/_emulator/info"),
            (Method::GET, "/_emulator/ui"),
            (Method::GET, "/_emulator/identity-endpoint"),
            (Method::POST, "/_emulator/reset"),
            (Method::POST, "/_emulator/principals"),
        ] {
            let (s, b) = Emulator::answer(
                proxied
                    .request(method.clone(), format!("https://{host}{path}"))
                    .json(&json!({})),
            )
            .await;
            assert_eq!((s, b), (404, not_found(path)), "{method} {host}{path}");
        }
        // No managed-identity token on an Azure host, in any style.
        for (path, header, value) in [
            (
                "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com",
                "metadata",
                "true",
            ),
            (
                "/_emulator/identity/token?api-version=2019-08-01&resource=https://management.azure.com",
                "x-identity-header",
                secret.as_str(),
            ),
        ] {
            let (s, b) = Emulator::answer(
                proxied
                    .get(format!("https://{host}{path}"))
                    .header(header, value),
            )
            .await;
            let bare = path.split('?').next().unwrap();
            assert_eq!((s, b), (404, not_found(bare)), "{host}{path}");
        }
    }
    // The registry, public registry and storage hosts answer as they do for unknown paths.
    let (s, b) =
        Emulator::answer(proxied.get("https://someregistry.azurecr.io/_emulator/info")).await;
    assert_eq!(
        (s, b),
        (
            404,
            json!({"errors": [{"code": "NAME_UNKNOWN", "message": "registry 'someregistry' not found"}]})
        )
    );
    let (s, b) = Emulator::answer(proxied.get("https://mcr.microsoft.com/_emulator/info")).await;
    assert_eq!(
        (s, b),
        (
            404,
            json!({"errors": [{"code": "NAME_UNKNOWN", "message": "not found"}]})
        )
    );
    let (s, text) = curl(
        &em,
        &["https://azemutasklogs.blob.core.windows.net/_emulator/info"],
    );
    // No SAS on a private container: Storage's anonymous answer.
    assert_eq!(s, 404);
    assert!(
        text.contains("<Code>ResourceNotFound</Code>") && !text.contains("tenantId"),
        "{text}"
    );
    // The same paths answer on localhost, through the proxy too.
    let (s, b) = Emulator::answer(proxied.get(format!("{}/_emulator/health", em.base()))).await;
    assert_eq!((s, b), (200, json!({"status": "ok"})));
}

/// Two user-assigned identities, `app-a` and `app-b`: (resource id, principal id) each.
async fn two_identities(em: &Emulator) -> [(String, String); 2] {
    let uai = |name: &str| {
        (
            format!(
                "providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}?api-version=2023-01-31"
            ),
            json!({"location": "eastus"}),
        )
    };
    let (_, made) = group_with(em, "mi", &[uai("app-a"), uai("app-b")]).await;
    let pair = |b: &Value| {
        (
            b["id"].as_str().unwrap().to_string(),
            b["properties"]["principalId"].as_str().unwrap().to_string(),
        )
    };
    [pair(&made[0]), pair(&made[1])]
}

fn oid_of(token: &str) -> String {
    use base64::Engine;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    claims["oid"].as_str().unwrap_or_default().to_string()
}

/// A 401 from an App Service–style endpoint: App Service's shape, no token.
fn assert_app_service_401(s: u16, b: &Value, message: &str) {
    assert_eq!(s, 401, "{b}");
    assert_eq!(b["statusCode"], 401, "{b}");
    assert_eq!(b["message"], message, "{b}");
    assert!(
        uuid::Uuid::parse_str(b["correlationId"].as_str().unwrap_or_default()).is_ok(),
        "{b}"
    );
    assert_eq!(b.as_object().unwrap().len(), 3, "{b}");
}

/// Each App Service–style endpoint has its own secret: the right one gets a
/// token (as `X-IDENTITY-HEADER`, or as `secret` for the 2017 protocol); a
/// missing or wrong one — another resource's, the root's — gets 401 and no token.
/// The secrets survive a restart.
#[tokio::test]
async fn identity_endpoints_check_their_secret() {
    let em = Emulator::start();
    let [(a, a_oid), (b, _)] = two_identities(&em).await;
    let env = |id: &str| {
        let path = format!("/_emulator/identity-endpoint?resourceId={id}");
        let em = &em;
        async move { em.control_json(&path).await }
    };
    let env_a = env(&a).await;
    let env_b = env(&b).await;
    let root = em.control_json("/_emulator/identity-endpoint").await;
    assert_eq!(
        root["IDENTITY_ENDPOINT"],
        format!("{}/_emulator/identity/token", em.base())
    );
    let endpoint = env_a["IDENTITY_ENDPOINT"].as_str().unwrap().to_string();
    let secret_a = env_a["IDENTITY_HEADER"].as_str().unwrap().to_string();
    let secret_b = env_b["IDENTITY_HEADER"].as_str().unwrap().to_string();
    let secret_root = root["IDENTITY_HEADER"].as_str().unwrap().to_string();
    assert!(secret_a.len() >= 43 && secret_a != secret_b && secret_a != secret_root);
    // Resource ids are case-insensitive: so is the secret.
    assert_eq!(env(&a.to_uppercase()).await["IDENTITY_HEADER"], secret_a);

    let ask = |url: String, headers: Vec<(&'static str, String)>| {
        let mut req = em.http().get(format!(
            "{url}?api-version=2019-08-01&resource=https://management.azure.com"
        ));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        Emulator::answer(req)
    };
    // Right: a token for A.
    for name in ["x-identity-header", "secret"] {
        let (s, t) = ask(endpoint.clone(), vec![(name, secret_a.clone())]).await;
        assert_eq!(s, 200, "{name}: {t}");
        assert_eq!(oid_of(t["access_token"].as_str().unwrap()), a_oid, "{name}");
    }
    // Wrong (B's secret, the root's, garbage, empty) or missing: 401, no token.
    let root_url = root["IDENTITY_ENDPOINT"].as_str().unwrap().to_string();
    let mismatch = |name: &str| {
        format!(
            "The {name} header does not match this endpoint's IDENTITY_HEADER. No token was issued."
        )
    };
    let missing = "The request has no X-IDENTITY-HEADER header: send the IDENTITY_HEADER this endpoint was handed out with. No token was issued.";
    let refusals = [
        (
            &endpoint,
            Some(("x-identity-header", secret_b.as_str())),
            mismatch("X-IDENTITY-HEADER"),
        ),
        (
            &endpoint,
            Some(("x-identity-header", secret_root.as_str())),
            mismatch("X-IDENTITY-HEADER"),
        ),
        (
            &endpoint,
            Some(("x-identity-header", "azemu-identity-header")),
            mismatch("X-IDENTITY-HEADER"),
        ),
        (
            &endpoint,
            Some(("x-identity-header", "")),
            mismatch("X-IDENTITY-HEADER"),
        ),
        (
            &endpoint,
            Some(("secret", secret_b.as_str())),
            mismatch("secret"),
        ),
        (&endpoint, None, missing.to_string()),
        // IMDS's header is not App Service's.
        (&endpoint, Some(("metadata", "true")), missing.to_string()),
        // The root endpoint takes the root's secret only.
        (
            &root_url,
            Some(("x-identity-header", secret_a.as_str())),
            mismatch("X-IDENTITY-HEADER"),
        ),
    ];
    for (url, header, message) in refusals {
        let headers = header
            .map(|(k, v)| (k, v.to_string()))
            .into_iter()
            .collect();
        let (s, t) = ask(url.clone(), headers).await;
        assert_app_service_401(s, &t, &message);
    }
    let client_a = em.control_json("/_emulator/principals").await["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["objectId"] == a_oid.as_str())
        .map(|p| p["appId"].as_str().unwrap().to_string())
        .unwrap();
    let (s, t) = Emulator::answer(
        em.http()
            .get(format!(
                "{root_url}?api-version=2019-08-01&resource=https://management.azure.com&client_id={client_a}"
            ))
            .header("x-identity-header", &secret_root),
    )
    .await;
    assert_eq!(
        (s, oid_of(t["access_token"].as_str().unwrap_or(".e30."))),
        (200, a_oid.clone())
    );
    // Cloud Shell's style (MSI_ENDPOINT, Metadata: true, a form) at the root.
    let (s, t) = Emulator::answer(em.http().post(&root_url).header("metadata", "true").form(&[
        ("resource", "https://management.azure.com"),
        ("client_id", &client_a),
    ]))
    .await;
    assert_eq!(
        (s, oid_of(t["access_token"].as_str().unwrap_or(".e30."))),
        (200, a_oid.clone())
    );

    // The key is kept in the data dir: the same secrets after a restart.
    let (_, dir) = em.terminate();
    let em = Emulator::start_in(dir, &[]);
    let again = em
        .control_json(&format!("/_emulator/identity-endpoint?resourceId={a}"))
        .await;
    assert_eq!(again["IDENTITY_HEADER"], secret_a);
}

/// IMDS requires `Metadata: true` and refuses anything that came through a
/// proxy (`X-Forwarded-For`), at the root and at a resource's IMDS-style path.
#[tokio::test]
async fn imds_requires_metadata_and_no_forwarding() {
    let em = Emulator::start();
    let [(a, a_oid), _] = two_identities(&em).await;
    use base64::Engine;
    let per_resource = format!(
        "{}/_emulator/identity/{}",
        em.base(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&a)
    );
    for base in [em.base(), per_resource] {
        let url = format!(
            "{base}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com&msi_res_id={a}"
        );
        let (s, b) = Emulator::answer(em.http().get(&url)).await;
        assert_eq!(
            (s, b),
            (
                400,
                json!({"error": "invalid_request", "error_description": "Required metadata header not specified"})
            ),
            "{base}"
        );
        let (s, b) = Emulator::answer(
            em.http()
                .get(&url)
                .header("metadata", "true")
                .header("x-forwarded-for", "10.0.0.9"),
        )
        .await;
        assert_eq!(
            (s, b),
            (
                400,
                json!({"error": "invalid_request", "error_description": "Request contains an X-Forwarded-For header: the Instance Metadata Service does not accept requests through a proxy"})
            ),
            "{base}"
        );
        let (s, b) = Emulator::answer(em.http().get(&url).header("metadata", "true")).await;
        assert_eq!(s, 200, "{base}: {b}");
        assert_eq!(oid_of(b["access_token"].as_str().unwrap()), a_oid);
    }
    // At the IMDS address, as a VM's clients call it (plain HTTP, no proxy).
    let text = raw(
        &em,
        &format!(
            "GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com&msi_res_id={a} HTTP/1.1\r\nHost: 169.254.169.254\r\nMetadata: true\r\nConnection: close\r\n\r\n"
        ),
    );
    let (s, b) = parsed(&text);
    assert_eq!(s, 200, "{text}");
    assert_eq!(oid_of(b["access_token"].as_str().unwrap()), a_oid);
}

/// Item 11's table: for each plane, an oversized header set gets 431 and an
/// oversized body 413, each in the plane's own shape. Bodies go through curl,
/// which reads the answer that comes before the body is all sent.
#[tokio::test]
async fn oversized_requests_in_each_planes_shape() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    group_with(
        &em,
        "big",
        &[(
            "providers/Microsoft.ContainerRegistry/registries/bigbody01?api-version=2023-07-01"
                .into(),
            json!({"location": "eastus", "sku": {"name": "Basic"}}),
        )],
    )
    .await;
    let big = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(big.path(), vec![b'a'; 5 << 20]).unwrap();
    let big_body = format!("@{}", big.path().display());
    let base = em.base();
    let xml = |code: &str| format!("<Code>{code}</Code>");
    let json_at = |pointer: &'static str, want: &'static str| {
        move |text: &str| {
            let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            v.pointer(pointer) == Some(&json!(want))
        }
    };
    type Check = Box<dyn Fn(&str) -> bool>;
    // (plane, URL, 413 check, 431 check)
    let planes: Vec<(&str, String, Check, Check)> = vec![
        (
            "ARM",
            format!("{base}/subscriptions?api-version=2022-12-01"),
            Box::new(json_at("/error/code", "RequestContentTooLarge")),
            Box::new(json_at("/error/code", "RequestHeaderFieldsTooLarge")),
        ),
        (
            "control API",
            format!("{base}/_emulator/principals"),
            Box::new(json_at("/error/code", "RequestContentTooLarge")),
            Box::new(json_at("/error/code", "RequestHeaderFieldsTooLarge")),
        ),
        (
            "managed identity",
            format!("{base}/metadata/identity/oauth2/token"),
            Box::new(json_at(
                "/error_description",
                "The request body exceeds the limit of 4194304 bytes",
            )),
            Box::new(json_at("/error", "invalid_request")),
        ),
        (
            "Entra",
            "https://login.microsoftonline.com/common/oauth2/v2.0/token".into(),
            Box::new(|t: &str| {
                let v: Value = serde_json::from_str(t).unwrap_or(Value::Null);
                v["error"] == "invalid_request"
                    && v["error_codes"] == json!([90015])
                    && v["error_description"].as_str().is_some_and(|d| {
                        d.starts_with("AADSTS90015: Requested query string is too long. Trace ID: ")
                    })
                    && v["trace_id"].is_string()
                    && v["correlation_id"].is_string()
            }),
            Box::new(|t: &str| {
                let v: Value = serde_json::from_str(t).unwrap_or(Value::Null);
                v["error"] == "invalid_request" && v["error_codes"] == json!([9002313])
            }),
        ),
        (
            "Graph",
            "https://graph.microsoft.com/v1.0/directoryObjects/getByIds".into(),
            Box::new(|t: &str| {
                let v: Value = serde_json::from_str(t).unwrap_or(Value::Null);
                v["error"]["code"] == "RequestEntityTooLarge"
                    && v["error"]["innerError"]["request-id"].is_string()
            }),
            Box::new(json_at("/error/code", "RequestHeaderFieldsTooLarge")),
        ),
        (
            "registry",
            "https://bigbody01.azurecr.io/oauth2/token".into(),
            Box::new(|t: &str| {
                serde_json::from_str::<Value>(t).ok()
                    == Some(
                        json!({"errors": [{"code": "UNSUPPORTED", "message": "the request body is too large"}]}),
                    )
            }),
            Box::new(json_at("/errors/0/code", "UNSUPPORTED")),
        ),
        (
            "Blob storage",
            format!(
                "https://{}/sources/ctx.tar.gz?sig=x",
                "azemutasklogs.blob.core.windows.net"
            ),
            Box::new(move |t: &str| {
                t.starts_with("<?xml") && t.contains(&xml("RequestBodyTooLarge"))
            }),
            Box::new(move |t: &str| {
                t.starts_with("<?xml") && t.contains(&xml("RequestHeaderFieldsTooLarge"))
            }),
        ),
    ];
    let big_header = format!("x-big: {}", "b".repeat(40_000));
    // ARM reads a body only once the caller is authenticated.
    let bearer = format!("Authorization: Bearer {owner}");
    for (plane, url, body_ok, headers_ok) in &planes {
        // Oversized headers.
        let (s, text) = curl(&em, &["-H", &big_header, url]);
        assert_eq!(s, 431, "{plane}: {text}");
        assert!(headers_ok(&text), "{plane} 431: {text}");
        // An oversized body, declared with Content-Length (storage's limit is
        // 256 MiB: declared, not sent).
        let method = if *plane == "Blob storage" {
            "PUT"
        } else {
            "POST"
        };
        let mut args = vec![
            "-X",
            method,
            "-H",
            "content-type: application/json",
            "-H",
            &bearer,
        ];
        if *plane == "Blob storage" {
            args.extend(["-H", "Content-Length: 300000000", "--data-binary", "tiny"]);
        } else {
            args.extend(["--data-binary", &big_body]);
        }
        args.push(url);
        let (s, text) = curl(&em, &args);
        assert_eq!(s, 413, "{plane}: {text}");
        assert!(body_ok(&text), "{plane} 413: {text}");
        // And streamed without a length (chunked), where the plane reads it.
        if *plane != "Blob storage" {
            let (s, text) = curl(
                &em,
                &[
                    "-X",
                    "POST",
                    "-H",
                    "content-type: application/json",
                    "-H",
                    "Transfer-Encoding: chunked",
                    "-H",
                    &bearer,
                    "--data-binary",
                    &big_body,
                    url,
                ],
            );
            assert_eq!(s, 413, "{plane} chunked: {text}");
            assert!(body_ok(&text), "{plane} 413 chunked: {text}");
        }
    }
    // The emulator is well afterwards.
    assert_eq!(
        em.control_json("/_emulator/health").await,
        json!({"status": "ok"})
    );
}

/// The registry firewall decides by the connection's address: forwarding
/// headers naming an allowed address, and variants of the registry's host
/// name, do not get a caller past it.
#[tokio::test]
async fn firewall_ignores_forwarding_headers_and_host_variants() {
    let em = Emulator::start();
    group_with(
        &em,
        "fw",
        &[(
            "providers/Microsoft.ContainerRegistry/registries/fwreg01?api-version=2023-07-01".into(),
            json!({"location": "eastus", "sku": {"name": "Premium"}, "properties": {"networkRuleSet": {"defaultAction": "Deny", "ipRules": [{"action": "Allow", "value": "1.2.3.4"}]}}}),
        )],
    )
    .await;
    let denied = json!({"errors": [{"code": "DENIED", "message": "client with IP '127.0.0.1' is not allowed access. Refer https://aka.ms/acr/firewall to grant access."}]});
    let proxied = em.proxied();
    let (s, b) = Emulator::answer(proxied.get("https://fwreg01.azurecr.io/v2/")).await;
    assert_eq!((s, &b), (403, &denied));
    for (name, value) in [
        ("x-forwarded-for", "1.2.3.4"),
        ("x-forwarded-for", "1.2.3.4, 127.0.0.1"),
        ("forwarded", "for=1.2.3.4"),
        ("forwarded", "for=\"1.2.3.4\";proto=https"),
        ("x-real-ip", "1.2.3.4"),
        ("x-client-ip", "1.2.3.4"),
        ("true-client-ip", "1.2.3.4"),
        ("x-originating-ip", "1.2.3.4"),
        ("x-azure-clientip", "1.2.3.4"),
        ("x-azure-socketip", "1.2.3.4"),
    ] {
        for path in [
            "/v2/",
            "/oauth2/token?service=fwreg01.azurecr.io&scope=repository:x:pull",
        ] {
            let (s, b) = Emulator::answer(
                proxied
                    .get(format!("https://fwreg01.azurecr.io{path}"))
                    .header(name, value),
            )
            .await;
            assert_eq!((s, &b), (403, &denied), "{name}: {value} {path}");
        }
    }
    // Host variants inside the tunnel: the same registry, the same refusal.
    for host in [
        "FWREG01.AZURECR.IO",
        "fwreg01.azurecr.io:443",
        "FwReg01.azurecr.io",
    ] {
        let (s, b) = Emulator::answer(
            proxied
                .get("https://fwreg01.azurecr.io/v2/")
                .header("host", host),
        )
        .await;
        assert_eq!((s, &b), (403, &denied), "{host}");
    }
    // Straight to the port (no tunnel), with a forwarding header: refused too.
    let text = raw(
        &em,
        "GET /v2/ HTTP/1.1\r\nHost: fwreg01.azurecr.io\r\nX-Forwarded-For: 1.2.3.4\r\nForwarded: for=1.2.3.4\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(parsed(&text), (403, denied.clone()), "{text}");
}

/// CONNECT opens a tunnel to an emulated host on 443, or to this port on a
/// local name; never to other hosts or other local ports.
#[test]
fn connect_only_to_emulated_hosts_and_this_port() {
    let em = Emulator::start();
    let other = if em.port == 65535 { 1 } else { em.port + 1 };
    for target in [
        "example.com:443".to_string(),
        "evil.example:443".into(),
        "localhost:22".into(),
        format!("localhost:{other}"),
        format!("127.0.0.1:{other}"),
        "127.0.0.1:6379".into(),
        format!("[::1]:{other}"),
        "169.254.169.254:80".into(),
        "management.azure.com:80".into(),
        "management.azure.com:8443".into(),
        "10.0.0.1:443".into(),
        "0.0.0.0:443".into(),
    ] {
        let text = raw(
            &em,
            &format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"),
        );
        let head = text.lines().next().unwrap_or_default();
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        assert_eq!(head, "HTTP/1.1 403 Forbidden", "{target}: {text}");
        assert_eq!(
            body,
            format!("azemu does not emulate {target}\n"),
            "{target}"
        );
    }
    for target in [
        format!("localhost:{}", em.port),
        format!("127.0.0.1:{}", em.port),
        "management.azure.com:443".into(),
    ] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", em.port)).unwrap();
        write!(s, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").unwrap();
        let head = read_head(&mut s);
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{target}: {head}");
    }
}

/// Request smuggling: a second request hidden behind an ambiguous body length
/// is never answered. Conflicting `Content-Length`s and malformed
/// `Transfer-Encoding`s are refused (400, nothing run); `Content-Length` beside
/// `Transfer-Encoding: chunked` is read as chunked (RFC 9112 §6.1) and the
/// connection closes after the one answer. Either way the hidden reset never runs.
#[tokio::test]
async fn smuggled_requests_are_never_served() {
    let em = Emulator::start();
    let smuggled = "POST /_emulator/reset HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
    let kept = Emulator::json_of(
        em.http()
            .post(format!("{}/_emulator/principals", em.base()))
            .json(&json!({"displayName": "kept"})),
    )
    .await;
    let before = principal_count(&em).await;
    for (what, head, body) in [
        (
            "two Content-Lengths",
            "Content-Length: 2\r\nContent-Length: 120\r\n",
            "{}",
        ),
        ("a Content-Length list", "Content-Length: 2, 120\r\n", "{}"),
        (
            "Transfer-Encoding not ending in chunked",
            "Transfer-Encoding: chunked, identity\r\n",
            "",
        ),
        (
            "an obfuscated Transfer-Encoding",
            "Transfer-Encoding: xchunked\r\nContent-Length: 2\r\n",
            "{}",
        ),
        (
            "a space before the colon",
            "Transfer-Encoding : chunked\r\nContent-Length: 2\r\n",
            "{}",
        ),
    ] {
        let text = raw(
            &em,
            &format!(
                "POST /_emulator/principals HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{head}\r\n{body}{smuggled}"
            ),
        );
        assert!(
            text.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{what}: {text}"
        );
        assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "{what}: {text}");
    }
    assert_eq!(principal_count(&em).await, before, "nothing was created");
    // CL + TE: one answer (the chunked body was read), then the connection closes.
    let text = raw(
        &em,
        &format!(
            "POST /_emulator/principals HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n{smuggled}"
        ),
    );
    assert!(text.starts_with("HTTP/1.1 201 Created\r\n"), "{text}");
    assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
    assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "{text}");
    // The hidden reset never ran: the principal made first is still there.
    assert!(still_listed(&em, &kept).await);
    assert_eq!(principal_count(&em).await, before + 1);
}

/// The response head, read byte by byte up to the blank line.
fn read_head(s: &mut std::net::TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && s.read(&mut b).unwrap_or(0) == 1 {
        head.push(b[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Slow clients through the proxy are let go too: a TLS handshake that stalls,
/// and a tunnel that is opened and never used.
#[test]
fn stalled_handshakes_and_tunnels_are_let_go() {
    let em = Emulator::start_with(&["--header-read-timeout-ms", "800"]);
    let limit = std::time::Duration::from_secs(20);
    // A TLS ClientHello's first bytes, then nothing.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", em.port)).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    s.write_all(&[0x16, 0x03, 0x01, 0x00, 0x50]).unwrap();
    let mut buf = Vec::new();
    let started = std::time::Instant::now();
    assert!(s.read_to_end(&mut buf).is_ok(), "the server did not close");
    assert!(started.elapsed() < limit);
    // A tunnel opened, then silence.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", em.port)).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    s.write_all(
        b"CONNECT management.azure.com:443 HTTP/1.1\r\nHost: management.azure.com:443\r\n\r\n",
    )
    .unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    assert!(
        s.read_to_end(&mut rest).is_ok(),
        "the tunnel was not closed"
    );
    assert!(started.elapsed() < limit);
    // A prompt client is still served.
    let text = raw(
        &em,
        "GET /_emulator/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(parsed(&text), (200, json!({"status": "ok"})));
}

/// The console keeps working in a real browser: its buttons send JSON from the
/// emulator's own origin and pass. A page of another origin, in the same
/// browser, cannot: its no-cors fetches and its form are refused, and nothing
/// changes.
#[tokio::test]
async fn the_console_passes_and_other_sites_do_not() {
    let em = Emulator::start();
    let artifacts = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let before = principal_count(&em).await;
    let seen =
        crate::console::node(&["cross-site", &em.base()], &artifacts.join("unused.png")).await;
    // The fetches left the browser (opaque answers), the form got the refusal.
    assert_eq!(
        seen,
        json!({"advance": "opaque", "principal": "opaque", "reset": "opaque", "form": "refused"})
    );
    assert_eq!(
        em.control_json("/_emulator/clock").await["offsetSeconds"],
        0
    );
    assert_eq!(principal_count(&em).await, before);

    let made = Emulator::json_of(
        em.http()
            .post(format!("{}/_emulator/principals", em.base()))
            .json(&json!({"displayName": "before-reset"})),
    )
    .await;
    let seen = crate::console::node(
        &["controls", &em.base()],
        &artifacts.join("console-controls.png"),
    )
    .await;
    let said = |k: &str| -> Value {
        serde_json::from_str(seen[k].as_str().unwrap_or_default()).unwrap_or(json!(seen[k]))
    };
    assert_eq!(said("advance")["offsetSeconds"], 120, "{seen}");
    assert_eq!(said("addFault")["status"], 503, "{seen}");
    assert_eq!(seen["rulesShown"], 2, "a header row and the rule: {seen}");
    assert_eq!(said("clearFaults"), json!("done"), "{seen}");
    assert_eq!(said("reset"), json!({"status": "reset"}), "{seen}");
    // The reset happened: the principal made before it is gone, the clock is back.
    assert!(!still_listed(&em, &made).await);
    assert_eq!(
        em.control_json("/_emulator/clock").await["offsetSeconds"],
        0
    );
}
