//! Hostile input: each plane answers with its own error shape and a 4xx —
//! never a 5xx, a hang or a leak — and nothing stored is harmed.

use crate::harness::{CLIENT_SECRET, Emulator, SUBSCRIPTION};
use reqwest::Method;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

fn rg(name: &str) -> String {
    format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{name}?api-version=2022-09-01")
}

/// Send `body` to ARM as the owner: (status, JSON body).
pub(crate) async fn put_raw(em: &Emulator, path: &str, body: Vec<u8>) -> (u16, Value) {
    let r = em
        .http()
        .put(format!("{}{path}", em.base()))
        .bearer_auth(em.arm_token().await)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn oversized_deep_and_malformed_bodies() {
    let em = Emulator::start();
    // Oversized: 413 in ARM's shape. (curl: the answer comes before the body is
    // all sent, and curl reads it where a client that must finish writing first
    // would see the connection close.)
    let big = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(big.path(), vec![b'a'; 20 << 20]).unwrap();
    let out = Command::new("curl")
        .args([
            "-sS",
            "-X",
            "PUT",
            "-w",
            "\n%{http_code}",
            "--noproxy",
            "*",
            "--cacert",
        ])
        .arg(em.data_dir().join("ca.pem"))
        .args([
            "-H",
            &format!("Authorization: Bearer {}", em.arm_token().await),
        ])
        .args(["-H", "content-type: application/json", "--data-binary"])
        .arg(format!("@{}", big.path().display()))
        .arg(format!("{}{}", em.base(), rg("big")))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    let b: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    assert_eq!(
        (code, b["error"]["code"].as_str()),
        ("413", Some("RequestContentTooLarge")),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Deep nesting: 400, not a stack overflow.
    let deep = format!(
        "{{\"location\":\"eastus\",\"tags\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let (s, b) = put_raw(&em, &rg("deep"), deep.into_bytes()).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("InvalidRequestContent")),
        "{b}"
    );
    // Found by the fuzz proptests (bench/fuzz): the lenient (JSON5) parser
    // recurses once per level and overflowed a small thread stack; bodies
    // nested past 128 levels are now refused before it runs.
    let deeper = format!("{}1{}", "{\"a\":".repeat(500_000), "}".repeat(500_000));
    let (s, b) = put_raw(&em, &rg("deeper"), deeper.into_bytes()).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("InvalidRequestContent")),
        "{b}"
    );
    // Invalid UTF-8.
    let (s, b) = put_raw(
        &em,
        &rg("utf8"),
        b"{\"location\":\"east\xff\xfeus\"}".to_vec(),
    )
    .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (400, Some("InvalidRequestContent")),
        "{b}"
    );
    // Nothing was created by any of them.
    let token = em.arm_token().await;
    for name in ["big", "deep", "deeper", "utf8"] {
        assert_eq!(em.arm(&token, Method::GET, &rg(name), None).await.0, 404);
    }
    // The emulator is still well.
    assert_eq!(
        put_raw(&em, &rg("fine"), br#"{"location":"eastus"}"#.to_vec())
            .await
            .0,
        201
    );
}

#[tokio::test]
async fn oversized_headers_get_431_in_each_planes_shape() {
    let em = Emulator::start();
    let big = "b".repeat(40_000);
    let proxied = em.proxied();
    for (req, pointer, code) in [
        // ARM.
        (
            em.http().get(format!(
                "{}/subscriptions?api-version=2022-12-01",
                em.base()
            )),
            "/error/code",
            "RequestHeaderFieldsTooLarge",
        ),
        // A registry, under its Azure host name through the proxy: OCI's shape.
        (
            proxied.get("https://anyreg.azurecr.io/v2/"),
            "/errors/0/code",
            "UNSUPPORTED",
        ),
        // Entra: OAuth's shape.
        (
            proxied
                .post("https://login.microsoftonline.com/common/oauth2/v2.0/token")
                .form(&[("grant_type", "client_credentials")]),
            "/error",
            "invalid_request",
        ),
    ] {
        let (s, b) = Emulator::answer(req.header("x-big", &big)).await;
        assert_eq!((s, b.pointer(pointer)), (431, Some(&json!(code))), "{b}");
    }
}

#[tokio::test]
async fn traversal_and_injection_through_names() {
    let em = Emulator::start();
    let token = em.arm_token().await;
    // Resource names: `..`, encoded slashes, CR/LF.
    for name in ["..", "..%2f..%2fetc", "a%0d%0aX-Injected:%201", "%00"] {
        let r = em
            .http()
            .put(format!("{}{}", em.base(), rg(name)))
            .bearer_auth(&token)
            .json(&json!({"location": "eastus"}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        assert!(
            r.headers().get("x-injected").is_none(),
            "{name}: header injected"
        );
        let b: Value = r.json().await.unwrap();
        assert!(
            (400..500).contains(&status) && b["error"]["code"].is_string(),
            "{name}: {status} {b}"
        );
    }
    // A registry's repositories and digests.
    let (_, user, pass) = crate::oci_clients::registry(&em, "hostilereg").await;
    em.push_sample("hostilereg.azurecr.io/hello-world:v1")
        .unwrap();
    let pass = pass.as_str();
    for path in [
        "/v2/../../etc/passwd/manifests/latest",
        "/v2/%2e%2e/%2e%2e/etc/manifests/latest",
        "/v2/hello-world/blobs/sha256:..%2f..%2f..%2fstate.redb",
        "/v2/hello-world/blobs/sha256:../../../../etc/passwd",
        "/v2/Hello-World/manifests/v1",
    ] {
        let r = em
            .proxied()
            .get(format!("https://hostilereg.azurecr.io{path}"))
            .basic_auth(&user, Some(pass))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let b: Value = r.json().await.unwrap_or(Value::Null);
        assert!(
            (400..500).contains(&status) && b["errors"][0]["code"].is_string(),
            "{path}: {status} {b}"
        );
    }
    // A manifest reference that is neither a tag nor a digest is not routed:
    // ACR's router's plain-text 404 (oci_conformance::references_of_neither_form_are_not_routed).
    let r = em
        .proxied()
        .get("https://hostilereg.azurecr.io/v2/hello-world/manifests/..%2f..%2fstate.redb")
        .basic_auth(&user, Some(pass))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), "404 page not found\n");
    // The real image is untouched.
    let (s, _) = Emulator::answer(
        em.proxied()
            .get("https://hostilereg.azurecr.io/v2/hello-world/manifests/v1")
            .basic_auth(&user, Some(pass))
            .header("accept", "application/vnd.oci.image.manifest.v1+json"),
    )
    .await;
    assert_eq!(s, 200);
}

/// ACR tokens replayed at another registry, tampered with, or used for the
/// wrong grant are refused with 401 in OCI's shape.
#[tokio::test]
async fn replayed_and_tampered_registry_tokens() {
    let em = Emulator::start();
    let token = em.arm_token().await;
    for r in ["tokenrega", "tokenregb"] {
        crate::oci_clients::registry(&em, r).await;
        em.push_sample(&format!("{r}.azurecr.io/hello-world:v1"))
            .unwrap();
    }
    let http = em.proxied();
    let refresh = crate::oci_clients::refresh_token(&em, &token, "tokenrega.azurecr.io").await;
    let access = Emulator::json_of(
        http.post("https://tokenrega.azurecr.io/oauth2/token")
            .form(&[
                ("grant_type", "refresh_token"),
                ("service", "tokenrega.azurecr.io"),
                ("scope", "repository:hello-world:pull"),
                ("refresh_token", refresh.as_str()),
            ]),
    )
    .await;
    let access = access["access_token"].as_str().unwrap().to_string();
    let manifest = |host: &'static str, bearer: String| {
        let http = http.clone();
        async move {
            let r = http
                .get(format!("https://{host}/v2/hello-world/manifests/v1"))
                .bearer_auth(bearer)
                .header("accept", "application/vnd.oci.image.manifest.v1+json")
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(
        manifest("tokenrega.azurecr.io", access.clone()).await.0,
        200
    );
    // Replayed at another registry.
    let (s, b) = manifest("tokenregb.azurecr.io", access.clone()).await;
    assert_eq!(
        (s, b["errors"][0]["code"].as_str()),
        (401, Some("UNAUTHORIZED")),
        "{b}"
    );
    // Tampered: the payload widened, the signature kept.
    let mut parts: Vec<String> = access.split('.').map(str::to_string).collect();
    {
        use base64::Engine;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: Value = serde_json::from_slice(&e.decode(&parts[1]).unwrap()).unwrap();
        claims["access"] = json!([{"type": "repository", "name": "hello-world", "actions": ["*"]}]);
        parts[1] = e.encode(claims.to_string());
    }
    let (s, b) = manifest("tokenrega.azurecr.io", parts.join(".")).await;
    assert_eq!(
        (s, b["errors"][0]["code"].as_str()),
        (401, Some("UNAUTHORIZED")),
        "{b}"
    );
    // A refresh token is not an access token.
    let (s, _) = manifest("tokenrega.azurecr.io", refresh.clone()).await;
    assert_eq!(s, 401);
    // Expired: three hours and a bit later.
    let r = em
        .http()
        .post(format!(
            "{}/_emulator/clock/advance?seconds=11000",
            em.base()
        ))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (s, _) = manifest("tokenrega.azurecr.io", access).await;
    assert_eq!(s, 401);
}

/// A client that connects and stalls (sends nothing, or never finishes its
/// headers) is disconnected after the read timeout.
#[test]
fn slow_clients_are_let_go() {
    let em = Emulator::start_with(&["--header-read-timeout-ms", "800"]);
    let addr = format!("127.0.0.1:{}", em.port);
    let limit = std::time::Duration::from_secs(20);
    for opening in [
        &b""[..],
        b"GET /_emulator/health HTTP/1.1\r\nHost: localhost\r\n",
    ] {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(limit)).unwrap();
        s.write_all(opening).unwrap();
        let mut buf = Vec::new();
        // The server closes the connection (EOF), well before our own limit.
        let n = s.read_to_end(&mut buf);
        assert!(
            n.is_ok(),
            "{:?}: the server did not close: {n:?}",
            String::from_utf8_lossy(opening)
        );
    }
    // A prompt client is served.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(b"GET /_emulator/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    assert!(buf.starts_with("HTTP/1.1 200"), "{buf}");
}

/// Secrets — client secrets, secureValue environment variables, admin and
/// token passwords — never appear in the server's log (at debug level) or in
/// GET bodies; a non-loopback bind is allowed only when asked, with a warning.
#[tokio::test]
async fn secrets_stay_out_of_logs_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_azemu"))
        .args(["serve", "--port", "0", "--bind", "0.0.0.0", "--data-dir"])
        .arg(dir.path().join("data"))
        .env("AZEMU_LOG", "debug")
        .env("AZEMU_CONTAINER_ENGINE", "none")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut port = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if let Some(p) = line.unwrap().strip_prefix("azemu ready on port ") {
            port = Some(p.trim().parse::<u16>().unwrap());
            break;
        }
    }
    let port = port.expect("ready");
    let ca = std::fs::read(dir.path().join("data/ca.pem")).unwrap();
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .proxy(reqwest::Proxy::all(format!("http://127.0.0.1:{port}")).unwrap())
        .build()
        .unwrap();
    let base = format!("https://localhost:{port}");
    let form_token = |id: String, secret: String| {
        let http = http.clone();
        async move {
            let b = Emulator::json_of(
                http.post("https://login.microsoftonline.com/a2e0a2e0-0000-4000-8000-000000000001/oauth2/v2.0/token")
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("client_id", id.as_str()),
                        ("client_secret", secret.as_str()),
                        ("scope", "https://management.azure.com/.default"),
                    ]),
            )
            .await;
            b["access_token"].as_str().unwrap_or_default().to_string()
        }
    };
    let owner = form_token(
        "a2e0a2e0-0000-4000-8000-000000000003".into(),
        CLIENT_SECRET.into(),
    )
    .await;
    // A principal with a chosen secret; a wrong one too.
    let sp = Emulator::json_of(
        http.post(format!("{base}/_emulator/principals"))
            .json(&json!({"displayName": "leaky", "secret": "sp-secret-9f8e7d6c"})),
    )
    .await;
    assert!(
        !form_token(
            sp["appId"].as_str().unwrap().into(),
            "sp-secret-9f8e7d6c".into()
        )
        .await
        .is_empty()
    );
    form_token(
        sp["appId"].as_str().unwrap().into(),
        "wrong-secret-1a2b3c".into(),
    )
    .await;
    let listed = http
        .get(format!("{base}/_emulator/principals"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!listed.contains("sp-secret-9f8e7d6c"), "{listed}");
    // A container group with a secure environment variable; a registry's admin password.
    let arm = |method: Method, path: String, body: Option<Value>| {
        let (http, owner) = (http.clone(), owner.clone());
        async move {
            let mut r = http
                .request(method, format!("https://management.azure.com{path}"))
                .bearer_auth(owner);
            if let Some(b) = body {
                r = r.json(&b);
            }
            r.send().await.unwrap().text().await.unwrap()
        }
    };
    let rg = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/secrets");
    arm(
        Method::PUT,
        format!("{rg}?api-version=2022-09-01"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    let cg = format!(
        "{rg}/providers/Microsoft.ContainerInstance/containerGroups/cg?api-version=2023-05-01"
    );
    arm(
        Method::PUT,
        cg.clone(),
        Some(json!({"location": "eastus", "properties": {"osType": "Linux", "containers": [{"name": "app", "properties": {
            "image": "mcr.microsoft.com/azuredocs/aci-helloworld",
            "environmentVariables": [{"name": "DB_PASSWORD", "secureValue": "env-secret-5e4d3c2b"}]}}]}})),
    )
    .await;
    let shown = arm(Method::GET, cg, None).await;
    assert!(
        shown.contains("DB_PASSWORD") && !shown.contains("env-secret-5e4d3c2b"),
        "{shown}"
    );
    let reg = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/secretsreg");
    arm(
        Method::PUT,
        format!("{reg}?api-version=2023-07-01"),
        Some(json!({"location": "eastus", "sku": {"name": "Basic"}, "properties": {"adminUserEnabled": true}})),
    )
    .await;
    let creds: Value = serde_json::from_str(
        &arm(
            Method::POST,
            format!("{reg}/listCredentials?api-version=2023-07-01"),
            None,
        )
        .await,
    )
    .unwrap();
    let admin_password = creds["passwords"][0]["value"].as_str().unwrap().to_string();
    let shown = arm(Method::GET, format!("{reg}?api-version=2023-07-01"), None).await;
    assert!(!shown.contains(&admin_password), "{shown}");
    // Log in with it (and with a wrong one).
    for p in [admin_password.as_str(), "wrong-admin-7h6g5f"] {
        http.get("https://secretsreg.azurecr.io/oauth2/token?service=secretsreg.azurecr.io&scope=repository:x:pull")
            .basic_auth("secretsreg", Some(p))
            .send()
            .await
            .unwrap();
    }

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("WARNING: listening on 0.0.0.0"),
        "a non-loopback bind warns: {text}"
    );
    for secret in [
        "sp-secret-9f8e7d6c",
        "wrong-secret-1a2b3c",
        "env-secret-5e4d3c2b",
        admin_password.as_str(),
        "wrong-admin-7h6g5f",
        CLIENT_SECRET,
    ] {
        assert!(!text.contains(secret), "the log shows a secret ({secret})");
    }
}

/// An answer given before the request's body is read (a 401 or 403 for
/// missing credentials or a bad signature) reaches the client whole, in ARM,
/// the registry and Blob Storage: the connection drains what the client still
/// sends instead of resetting it (issue 22, item 2; `server/linger.rs`).
/// Repeated, because a reset is timing-dependent.
#[tokio::test]
async fn early_answers_reach_clients_still_sending_a_body() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    em.arm(
        &owner,
        Method::PUT,
        &rg("early"),
        Some(json!({"location": "eastus"})),
    )
    .await;
    let reg = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/early/providers/Microsoft.ContainerRegistry/registries/earlyreg1?api-version=2023-07-01"
    );
    let (s, _) = em
        .arm(
            &owner,
            Method::PUT,
            &reg,
            Some(json!({"location": "eastus", "sku": {"name": "Basic"}})),
        )
        .await;
    assert_eq!(s, 201);
    let blob = vec![b'x'; 3 * 1024 * 1024];
    let arm = em.http();
    let registry = em.proxied();
    for round in 0..10 {
        // ARM: no bearer token, a 3 MiB body.
        let r = arm
            .put(format!("{}{}", em.base(), rg("early2")))
            .header("content-type", "application/json")
            .body(blob.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {round}: ARM: {e:?}"));
        assert_eq!(r.status(), 401, "round {round}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "AuthenticationFailed");
        // The registry: an anonymous monolithic upload of 3 MiB.
        let r = registry
            .post("https://earlyreg1.azurecr.io/v2/app/blobs/uploads/?digest=sha256:0000000000000000000000000000000000000000000000000000000000000000")
            .header("content-type", "application/octet-stream")
            .body(blob.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {round}: registry: {e:?}"));
        assert_eq!(r.status(), 401, "round {round}");
        assert!(r.headers().contains_key("www-authenticate"));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["code"], "UNAUTHORIZED");
        // Blob Storage: a build-context upload with a signature that does not verify.
        let r = registry
            .put("https://azemutasklogs.blob.core.windows.net/source/early.tar.gz?sv=2021-12-02&sr=b&sp=cw&se=2099-01-01T00:00:00Z&sig=AAAA")
            .header("x-ms-blob-type", "BlockBlob")
            .body(blob.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {round}: storage: {e:?}"));
        assert_eq!(r.status(), 403, "round {round}");
        let text = r.text().await.unwrap();
        assert!(text.contains("<Code>AuthenticationFailed</Code>"), "{text}");
    }
}
