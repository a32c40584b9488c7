//! Issue 19, the data planes: SAS links signed over every field (task logs,
//! build-context uploads), repository-token password expiry, fail-closed time
//! parsing, bounded growth (abandoned uploads, the upload cap, tombstones,
//! build contexts), and the registry's refusals that must not regress.
//! Everything runs on the emulated clock (`POST /_emulator/clock/advance`).

use crate::az::{Az, Mode};
use crate::harness::{CLIENT_SECRET, Emulator, SUBSCRIPTION, python_env, run, venv};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const TASKS_API: &str = "api-version=2025-03-01-preview";
const ACR_API: &str = "api-version=2023-07-01";
const ACRPULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const AUTH_REQUIRED: &str =
    "authentication required, visit https://aka.ms/acr/authorization for more information.";
const AUTHENTICATION_FAILED: &str = "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.";

fn digest(b: &[u8]) -> String {
    format!(
        "sha256:{}",
        Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
    )
}

fn rg() -> String {
    format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/oci")
}

/// A Basic registry (for task runs) in resource group `oci`; its id.
async fn basic_registry(em: &Emulator, owner: &str, name: &str) -> String {
    em.arm(
        owner,
        Method::PUT,
        &format!("{}?api-version=2024-07-01", rg()),
        Some(json!({"location": "eastus"})),
    )
    .await;
    let id = format!(
        "{}/providers/Microsoft.ContainerRegistry/registries/{name}",
        rg()
    );
    let (s, b) = em
        .arm(
            owner,
            Method::PUT,
            &format!("{id}?{ACR_API}"),
            Some(json!({"location": "eastus", "sku": {"name": "Basic"}})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    id
}

/// A Storage error's parts: (code, message before `RequestId`, AuthenticationErrorDetail).
/// The RequestId must be a GUID and the Time an ARM timestamp.
fn storage_error(text: &str) -> (String, String, Option<String>) {
    let text = text.trim_start_matches('\u{feff}');
    assert!(
        text.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>"),
        "{text}"
    );
    let between = |a: &str, b: &str| {
        let start = text.find(a)? + a.len();
        let end = text[start..].find(b)? + start;
        Some(text[start..end].to_string())
    };
    let code = between("<Code>", "</Code>").unwrap();
    let message = between("<Message>", "</Message>").unwrap();
    let (head, rest) = message.split_once("\nRequestId:").expect("RequestId line");
    let (request_id, time) = rest.split_once("\nTime:").expect("Time line");
    assert!(uuid::Uuid::parse_str(request_id).is_ok(), "{request_id}");
    assert!(
        time.len() == 28 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "{time}"
    );
    let detail = between(
        "<AuthenticationErrorDetail>",
        "</AuthenticationErrorDetail>",
    );
    (code, head.to_string(), detail)
}

/// GET `url`: (status, `x-ms-error-code`, body).
async fn get_text(http: &reqwest::Client, url: &str) -> (u16, String, String) {
    let r = http.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let code = r
        .headers()
        .get("x-ms-error-code")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, code, r.text().await.unwrap())
}

/// Replace query parameter `k` of `url` by `v` (already encoded), or drop it (`None`).
fn with_param(url: &str, k: &str, v: Option<&str>) -> String {
    let (base, query) = url.split_once('?').unwrap();
    let mut parts: Vec<String> = query
        .split('&')
        .filter(|p| !p.starts_with(&format!("{k}=")))
        .map(str::to_string)
        .collect();
    if let Some(v) = v {
        parts.push(format!("{k}={v}"));
    }
    format!("{base}?{}", parts.join("&"))
}

fn param(url: &str, k: &str) -> String {
    let query = url.split_once('?').unwrap().1;
    let v = query
        .split('&')
        .find_map(|p| p.strip_prefix(&format!("{k}=")))
        .unwrap();
    v.replace("%3A", ":")
        .replace("%2F", "/")
        .replace("%2B", "+")
        .replace("%3D", "=")
}

/// The blob path (after the account) of a path-style link.
fn blob_of(url: &str) -> String {
    let path = url.split_once('?').unwrap().0;
    path.split_once("/azemutasklogs/").unwrap().1.to_string()
}

/// Storage's string-to-sign for a blob link (2020-12-06 and later): what the
/// emulator must report when a signature does not match.
fn string_to_sign(sp: &str, se: &str, resource: &str, sv: &str, sr: &str) -> String {
    format!("{sp}\n\n{se}\n/blob/azemutasklogs/{resource}\n\n\n\n{sv}\n{sr}\n\n\n\n\n\n\n")
}

/// A task run that finishes at once (a Docker step with no context); its run id.
async fn quick_run(em: &Emulator, owner: &str, reg: &str) -> String {
    let (s, r) = em
        .arm(
            owner,
            Method::POST,
            &format!("{reg}/scheduleRun?{TASKS_API}"),
            Some(json!({
                "type": "DockerBuildRequest", "sourceLocation": "/dev/null", "dockerFilePath": "Dockerfile",
                "imageNames": ["app:{{.Run.ID}}"], "isPushEnabled": false, "platform": {"os": "Linux"}
            })),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    r["properties"]["runId"].as_str().unwrap().to_string()
}

async fn log_link(em: &Emulator, owner: &str, reg: &str, run: &str) -> String {
    let (s, link) = em
        .arm(
            owner,
            Method::POST,
            &format!("{reg}/runs/{run}/listLogSasUrl?{TASKS_API}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{link}");
    link["logLink"].as_str().unwrap().to_string()
}

/// Item 9: log and upload links carry a service SAS signed over `sp`, `se`,
/// `sv`, `sr` and the blob; changing any of them (or moving the signature to
/// another blob) is refused with Storage's 403 AuthenticationFailed and the
/// string-to-sign it used; an expired link says so; a read link cannot write;
/// a link made with Azure's own SDK and the instance's key is honoured.
#[tokio::test]
async fn sas_links_are_signed_over_every_field() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let reg = basic_registry(&em, &owner, "sasreg01").await;
    let http = em.http();
    let first = quick_run(&em, &owner, &reg).await;
    let second = quick_run(&em, &owner, &reg).await;
    let url = log_link(&em, &owner, &reg, &first).await;
    let other_url = log_link(&em, &owner, &reg, &second).await;
    let (sv, sr, sp, se) = (
        param(&url, "sv"),
        param(&url, "sr"),
        param(&url, "sp"),
        param(&url, "se"),
    );
    assert_eq!(
        (sv.as_str(), sr.as_str(), sp.as_str()),
        ("2023-11-03", "b", "r")
    );
    let blob = blob_of(&url);
    let (s, _, text) = get_text(&http, &url).await;
    assert_eq!(s, 200, "{text}");

    // Each signed field changed in turn: the signature no longer matches, and
    // Storage says which string it signed.
    let later = "2099-01-01T00:00:00Z";
    let other_blob = blob_of(&other_url);
    let cases = [
        (
            with_param(&url, "se", Some("2099-01-01T00%3A00%3A00Z")),
            string_to_sign(&sp, later, &blob, &sv, &sr),
        ),
        (
            with_param(&url, "sp", Some("rw")),
            string_to_sign("rw", &se, &blob, &sv, &sr),
        ),
        (
            with_param(&url, "sv", Some("2021-08-06")),
            string_to_sign(&sp, &se, &blob, "2021-08-06", &sr),
        ),
        (
            with_param(&url, "sr", Some("c")),
            format!("{sp}\n\n{se}\n/blob/azemutasklogs/logs\n\n\n\n{sv}\nc\n\n\n\n\n\n\n"),
        ),
        // This run's signature on the other run's log.
        (
            format!(
                "{}?{}",
                other_url.split_once('?').unwrap().0,
                url.split_once('?').unwrap().1
            ),
            string_to_sign(&sp, &se, &other_blob, &sv, &sr),
        ),
    ];
    for (tampered, sts) in cases {
        let (s, code, text) = get_text(&http, &tampered).await;
        assert_eq!(
            (s, code.as_str()),
            (403, "AuthenticationFailed"),
            "{tampered}"
        );
        assert_eq!(
            storage_error(&text),
            (
                "AuthenticationFailed".to_string(),
                AUTHENTICATION_FAILED.to_string(),
                Some(format!(
                    "Signature did not match. String to sign used was {sts}"
                ))
            ),
            "{tampered}"
        );
    }
    // Malformed or missing fields, as Storage words them.
    for (tampered, detail) in [
        (
            with_param(&url, "sr", None),
            "sr is mandatory. Cannot be empty",
        ),
        (
            with_param(&url, "se", None),
            "se is mandatory. Cannot be empty",
        ),
        (
            with_param(&url, "sig", None),
            "sig is mandatory. Cannot be empty",
        ),
        (
            with_param(&url, "sp", None),
            "sp is mandatory. Cannot be empty",
        ),
        // Item 13: an unreadable time is a malformed link, never one without a limit.
        (
            with_param(&url, "se", Some("never")),
            "Signature fields not well formed.",
        ),
        (
            with_param(&url, "st", Some("soon")),
            "Signature fields not well formed.",
        ),
        (
            with_param(&url, "sig", Some("%%%")),
            "Signature fields not well formed.",
        ),
        (
            with_param(&url, "sp", Some("q")),
            "Signature fields not well formed.",
        ),
        (
            with_param(&url, "sv", Some("latest")),
            "sv is either not in the correct format or is not equal or later than version 2012-02-12",
        ),
    ] {
        let (s, code, text) = get_text(&http, &tampered).await;
        assert_eq!(
            (s, code.as_str()),
            (403, "AuthenticationFailed"),
            "{tampered}"
        );
        assert_eq!(
            storage_error(&text).2.as_deref(),
            Some(detail),
            "{tampered}"
        );
    }
    // HEAD: the same refusal, without a body.
    let r = http
        .head(with_param(&url, "se", Some(later)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["x-ms-error-code"], "AuthenticationFailed");
    assert_eq!(r.text().await.unwrap(), "");
    // No SAS at all: a private container does not say what it holds.
    let (s, code, text) = get_text(&http, url.split_once('?').unwrap().0).await;
    assert_eq!((s, code.as_str()), (404, "ResourceNotFound"));
    assert_eq!(
        storage_error(&text),
        (
            "ResourceNotFound".into(),
            "The specified resource does not exist.".into(),
            None
        )
    );
    // A read link does not write (the signature is good; the permission is not).
    let r = http.put(&url).body("overwritten").send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        storage_error(&r.text().await.unwrap()),
        (
            "AuthorizationPermissionMismatch".into(),
            "This request is not authorized to perform this operation using this permission."
                .into(),
            None
        )
    );

    // A link signed by Azure's own SDK with this instance's account key is good:
    // the emulator signs exactly what Storage signs.
    let key = std::fs::read_to_string(em.data_dir().join("storage-account.key")).unwrap();
    let script = format!(
        "from azure.storage.blob import generate_blob_sas\nimport datetime\nprint(generate_blob_sas('azemutasklogs', 'logs', '{}', account_key='{}', permission='r', expiry=datetime.datetime(2099, 1, 1, tzinfo=datetime.timezone.utc)))",
        blob.strip_prefix("logs/").unwrap(),
        key.trim()
    );
    let mut py = tokio::process::Command::new(venv().join("bin/python"));
    python_env(&mut py, &em);
    let out = run(py.args(["-c", &script])).await;
    assert!(out.ok, "{}", out.stderr);
    let sdk_url = format!("{}?{}", url.split_once('?').unwrap().0, out.stdout.trim());
    let (s, _, text) = get_text(&http, &sdk_url).await;
    assert_eq!(s, 200, "{sdk_url}: {text}");

    // The upload link of a build context: signed the same way, for `cw`.
    let (s, loc) = em
        .arm(
            &owner,
            Method::POST,
            &format!("{reg}/listBuildSourceUploadUrl?{TASKS_API}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{loc}");
    let upload = loc["uploadUrl"].as_str().unwrap().to_string();
    let relative = loc["relativePath"].as_str().unwrap();
    assert_eq!(param(&upload, "sp"), "cw");
    let r = http
        .put(with_param(&upload, "se", Some("2099-01-01T00%3A00%3A00Z")))
        .header("x-ms-blob-type", "BlockBlob")
        .body("ctx")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        storage_error(&r.text().await.unwrap()).2.unwrap(),
        format!(
            "Signature did not match. String to sign used was {}",
            string_to_sign(
                "cw",
                later,
                &format!("sources/{relative}"),
                "2023-11-03",
                "b"
            )
        )
    );
    let r = http
        .put(&upload)
        .header("x-ms-blob-type", "BlockBlob")
        .body("ctx")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // An hour of emulated time later the links have expired; Storage names
    // the signed expiry and the time it compared it with.
    em.advance_clock(3601).await;
    for link in [&url, &upload] {
        let r = if link == &url {
            http.get(link.as_str()).send().await.unwrap()
        } else {
            http.put(link.as_str()).body("late").send().await.unwrap()
        };
        assert_eq!(r.status(), 403);
        let (code, message, detail) = storage_error(&r.text().await.unwrap());
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("AuthenticationFailed", AUTHENTICATION_FAILED)
        );
        let detail = detail.unwrap();
        let expiry = time::OffsetDateTime::parse(
            &param(link, "se"),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        let rfc1123 = time::macros::format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        let prefix = format!(
            "Signed expiry time [{}] must be after signed start time [",
            expiry.format(&rfc1123).unwrap()
        );
        assert!(
            detail.starts_with(&prefix) && detail.ends_with(" GMT]"),
            "{detail}"
        );
    }
}

/// A user-defined scope map `map` with `actions` and a token `name` on it
/// (raw ARM); the token's first password, valid until `expiry` (or forever).
async fn scope_token(
    em: &Emulator,
    owner: &str,
    reg: &str,
    name: &str,
    actions: &[&str],
    expiry: Option<&str>,
) -> String {
    let map = format!("{reg}/scopeMaps/{name}-map");
    let (s, b) = em
        .arm(
            owner,
            Method::PUT,
            &format!("{map}?{ACR_API}"),
            Some(json!({"properties": {"actions": actions}})),
        )
        .await;
    // Azure answers a scope map's creating PUT with 200 (azure-cli's acr recordings).
    assert_eq!(s, 200, "{b}");
    let token = format!("{reg}/tokens/{name}");
    let (s, b) = em
        .arm(
            owner,
            Method::PUT,
            &format!("{token}?{ACR_API}"),
            Some(json!({"properties": {"scopeMapId": map, "status": "enabled"}})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let mut body = json!({"tokenId": token, "name": "password1"});
    if let Some(e) = expiry {
        body["expiry"] = json!(e);
    }
    let (s, b) = em
        .arm(
            owner,
            Method::POST,
            &format!("{reg}/generateCredentials?{ACR_API}"),
            Some(body),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    b["passwords"][0]["value"].as_str().unwrap().to_string()
}

/// `GET /oauth2/token` with Basic credentials: (status, body).
async fn basic_token(
    em: &Emulator,
    host: &str,
    user: &str,
    pass: &str,
    scope: &str,
) -> (u16, Value) {
    Emulator::answer(
        em.proxied()
            .get(format!(
                "https://{host}/oauth2/token?service={host}&scope={scope}"
            ))
            .basic_auth(user, Some(pass)),
    )
    .await
}

fn unauthorized() -> Value {
    json!({"errors": [{"code": "UNAUTHORIZED", "message": AUTH_REQUIRED}]})
}

/// Item 10: `generateCredentials` takes an expiry only as ISO 8601 with an
/// offset, in the future (400 otherwise, the passwords untouched); the
/// registry's token service and Basic logins refuse the password once its
/// expiry has passed on the emulated clock. az's `--expiration-in-days` and
/// `--expiration` go the same way.
#[tokio::test]
async fn token_password_expiry_is_validated_and_enforced() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", "rg", "-l", "eastus", "-o", "none"])
        .await;
    az.acr_create("rg", "expiryreg01", "Standard").await;
    az.ok(&[
        "acr",
        "scope-map",
        "create",
        "-n",
        "readers",
        "-r",
        "expiryreg01",
        "--repository",
        "team-a/app",
        "content/read",
        "-o",
        "none",
    ])
    .await;
    let token = az
        .json(&[
            "acr",
            "token",
            "create",
            "-n",
            "reader",
            "-r",
            "expiryreg01",
            "--scope-map",
            "readers",
            "--expiration-in-days",
            "1",
        ])
        .await;
    let password = token["credentials"]["passwords"][0]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let expiry = token["credentials"]["passwords"][0]["expiry"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        time::OffsetDateTime::parse(&expiry, &time::format_description::well_known::Rfc3339)
            .is_ok(),
        "{expiry}"
    );
    let host = "expiryreg01.azurecr.io";
    let scope = "repository:team-a/app:pull";
    let (s, b) = basic_token(&em, host, "reader", &password, scope).await;
    assert_eq!(s, 200, "{b}");
    let v2 = || {
        em.proxied()
            .get(format!("https://{host}/v2/"))
            .basic_auth("reader", Some(&password))
    };
    assert_eq!(Emulator::answer(v2()).await, (200, json!({})));

    // Malformed or past expiries: 400, and the password in use is kept.
    let (_, show) = em
        .arm(
            &em.arm_token().await,
            Method::GET,
            &format!(
                "/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/expiryreg01?{ACR_API}"
            ),
            None,
        )
        .await;
    let reg = show["id"].as_str().unwrap().to_string();
    let owner = em.arm_token().await;
    for (expiry, message) in [
        (
            json!("2030-01-01T00:00:00"),
            "The expiry '2030-01-01T00:00:00' is not valid. It must be an ISO 8601 date and time with a UTC offset, for example 2030-12-31T23:59:59Z.",
        ),
        (
            json!("next week"),
            "The expiry 'next week' is not valid. It must be an ISO 8601 date and time with a UTC offset, for example 2030-12-31T23:59:59Z.",
        ),
        (
            json!(1893456000),
            "The expiry '1893456000' is not valid. It must be an ISO 8601 date and time with a UTC offset, for example 2030-12-31T23:59:59Z.",
        ),
        (
            json!("2001-01-01T00:00:00+02:00"),
            "The expiry '2001-01-01T00:00:00+02:00' is in the past. It must be later than the current time.",
        ),
    ] {
        let (s, b) = em
            .arm(
                &owner,
                Method::POST,
                &format!("{reg}/generateCredentials?{ACR_API}"),
                Some(json!({"tokenId": format!("{reg}/tokens/reader"), "name": "password1", "expiry": expiry})),
            )
            .await;
        assert_eq!(
            (s, b),
            (
                400,
                json!({"error": {"code": "InvalidParameter", "message": message}})
            ),
            "{expiry}"
        );
    }
    let out = az
        .run(&[
            "acr",
            "token",
            "credential",
            "generate",
            "-n",
            "reader",
            "-r",
            "expiryreg01",
            "--password1",
            "--expiration",
            "2001-01-01T00:00:00Z",
        ])
        .await;
    assert!(!out.ok);
    assert!(
        out.stderr.contains(
            "The expiry '2001-01-01T00:00:00Z' is in the past. It must be later than the current time."
        ),
        "{}",
        out.stderr
    );
    assert_eq!(
        basic_token(&em, host, "reader", &password, scope).await.0,
        200,
        "a refused generate leaves the password as it was"
    );

    // A day (and a second) of emulated time later, the password is refused everywhere.
    em.advance_clock(86_401).await;
    assert_eq!(
        basic_token(&em, host, "reader", &password, scope).await,
        (401, unauthorized())
    );
    let (s, b) = Emulator::answer(
        em.proxied()
            .post(format!("https://{host}/oauth2/token"))
            .form(&[
                ("grant_type", "password"),
                ("service", host),
                ("scope", scope),
                ("username", "reader"),
                ("password", password.as_str()),
            ]),
    )
    .await;
    assert_eq!((s, b), (401, unauthorized()));
    assert_eq!(Emulator::answer(v2()).await, (401, unauthorized()));

    // A fresh password with an explicit expiry works until then (az logs in
    // again: its cached token expired in emulated time).
    az.ok(&["account", "clear"]).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    let fresh = az
        .json(&[
            "acr",
            "token",
            "credential",
            "generate",
            "-n",
            "reader",
            "-r",
            "expiryreg01",
            "--password2",
            "--expiration-in-days",
            "2",
        ])
        .await;
    let p2 = fresh["passwords"][0]["value"].as_str().unwrap().to_string();
    assert_eq!(fresh["passwords"][0]["name"], "password2");
    assert_eq!(basic_token(&em, host, "reader", &p2, scope).await.0, 200);
}

/// Item 13: times kept in state that cannot be read fail closed. A snapshot
/// edited by hand (export → edit → import) with an unreadable role-assignment
/// `createdOn` grants nothing, an unreadable tombstone `deletedOn` no longer
/// keeps a deleted assignment alive, an unreadable token-password expiry logs
/// nobody in, and an upload session with an unreadable start is gone.
#[tokio::test]
async fn unreadable_stored_times_fail_closed() {
    let em = Emulator::start_with(&["--rbac-propagation-delay-seconds", "60"]);
    let owner = em.arm_token().await;
    let (reg, admin, admin_pw) = crate::oci_clients::registry(&em, "timesreg01").await;
    let rg = rg();
    let assign = |p: String| {
        let (em, owner, rg) = (&em, owner.clone(), rg.clone());
        async move {
            let id = format!(
                "{rg}/providers/Microsoft.Authorization/roleAssignments/{}",
                uuid::Uuid::new_v4()
            );
            let (s, b) = em
                .arm(
                    &owner,
                    Method::PUT,
                    &format!("{id}?api-version=2022-04-01"),
                    Some(json!({"properties": {
                        "roleDefinitionId": format!("/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{READER}"),
                        "principalId": p, "principalType": "ServicePrincipal",
                    }})),
                )
                .await;
            assert_eq!(s, 201, "{b}");
            id
        }
    };
    let (p1, p2) = (em.new_principal().await, em.new_principal().await);
    assign(p1.object_id.clone()).await;
    let a2 = assign(p2.object_id.clone()).await;
    let password = scope_token(
        &em,
        &owner,
        &reg,
        "reader",
        &["repositories/app/content/read"],
        Some("2099-01-01T00:00:00Z"),
    )
    .await;
    let host = "timesreg01.azurecr.io";
    let http = em.proxied();
    let r = http
        .post(format!("https://{host}/v2/app/blobs/uploads/"))
        .basic_auth(&admin, Some(&admin_pw))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let session = r.headers()["location"].to_str().unwrap().to_string();

    em.advance_clock(61).await;
    let read_rg = |token: String| {
        let (em, rg) = (&em, rg.clone());
        async move {
            em.arm(
                &token,
                Method::GET,
                &format!("{rg}?api-version=2024-07-01"),
                None,
            )
            .await
        }
    };
    assert_eq!(read_rg(p1.token.clone()).await.0, 200);
    let (s, _) = em
        .arm(
            &owner,
            Method::DELETE,
            &format!("{a2}?api-version=2022-04-01"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        read_rg(p2.token.clone()).await.0,
        200,
        "a deleted assignment works until the delay has passed"
    );
    assert_eq!(
        basic_token(&em, host, "reader", &password, "repository:app:pull")
            .await
            .0,
        200
    );

    // Export, break every time, import.
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap");
    let control = |path: &'static str, body: Value| {
        let em = &em;
        async move {
            Emulator::answer(
                em.http()
                    .post(format!("{}/_emulator/state/{path}", em.base()))
                    .json(&body),
            )
            .await
        }
    };
    let (s, b) = control("export", json!({"path": snap})).await;
    assert_eq!(s, 200, "{b}");
    let file = snap.join("state.json");
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let tables = &mut doc["tables"];
    let mut broken = 0;
    for (_, row) in tables["role_assignments"].as_object_mut().unwrap() {
        if row["properties"]["principalId"] == p1.object_id.as_str() {
            row["properties"]["createdOn"] = json!("the day before yesterday");
            broken += 1;
        }
    }
    for (_, row) in tables["role_assignment_tombstones"]
        .as_object_mut()
        .unwrap()
    {
        row["properties"]["deletedOn"] = json!(20260101);
        broken += 1;
    }
    for (k, row) in tables["acr_credentials"].as_object_mut().unwrap() {
        if k.ends_with("/tokens/reader") {
            row["password1"]["expiry"] = json!("when pigs fly");
            broken += 1;
        }
    }
    for (_, row) in tables["oci_uploads"].as_object_mut().unwrap() {
        row["started"] = json!("");
        broken += 1;
    }
    assert_eq!(broken, 4, "{doc}");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let (s, b) = control("import", json!({"path": snap})).await;
    assert_eq!(s, 200, "{b}");

    for p in [&p1, &p2] {
        let (s, b) = read_rg(p.token.clone()).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (403, Some("AuthorizationFailed")),
            "{b}"
        );
    }
    assert_eq!(
        basic_token(&em, host, "reader", &password, "repository:app:pull").await,
        (401, unauthorized())
    );
    let (s, b) = Emulator::answer(
        http.get(format!("https://{host}{session}"))
            .basic_auth(&admin, Some(&admin_pw)),
    )
    .await;
    assert_eq!(
        (s, b),
        (
            404,
            json!({"errors": [{"code": "BLOB_UPLOAD_UNKNOWN", "message": "blob upload unknown to registry"}]})
        )
    );
}

/// The world as `POST /_emulator/state/export` writes it: its tables.
async fn exported(em: &Emulator) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap");
    let (s, b) = Emulator::answer(
        em.http()
            .post(format!("{}/_emulator/state/export", em.base()))
            .json(&json!({"path": snap})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let doc: Value =
        serde_json::from_slice(&std::fs::read(snap.join("state.json")).unwrap()).unwrap();
    doc["tables"].clone()
}

fn rows(tables: &Value, table: &str) -> usize {
    tables[table].as_object().map_or(0, |m| m.len())
}

fn upload_unknown() -> Value {
    json!({"errors": [{"code": "BLOB_UPLOAD_UNKNOWN", "message": "blob upload unknown to registry"}]})
}

/// Files under the data dir's `registry/uploads`.
fn upload_files(em: &Emulator) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(em.data_dir().join("registry/uploads"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Item 14: an upload session left alone for distribution's purge age (168 h)
/// is gone: its URL answers BLOB_UPLOAD_UNKNOWN from then on, and the sweep
/// (every 24 h of emulated time) removes the bytes of the ones nobody asks about.
#[tokio::test]
async fn abandoned_uploads_expire_and_are_swept() {
    let em = Emulator::start();
    let (_, user, pass) = crate::oci_clients::registry(&em, "purgereg01").await;
    let http = em.proxied();
    let host = "purgereg01.azurecr.io";
    let req = |m: Method, path: &str| {
        http.request(m, format!("https://{host}{path}"))
            .basic_auth(&user, Some(&pass))
    };
    let mut sessions = Vec::new();
    for bytes in [&b"hello"[..], b"abc"] {
        let r = req(Method::POST, "/v2/app/blobs/uploads/")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let r = req(Method::PATCH, &location)
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        sessions.push(location);
    }
    let id = |l: &str| l.rsplit('/').next().unwrap().to_string();
    let mut both = vec![id(&sessions[0]), id(&sessions[1])];
    both.sort();
    assert_eq!(upload_files(&em), both);

    // A week less an hour: still there, where it was.
    em.advance_clock(167 * 3600).await;
    let r = req(Method::GET, &sessions[0]).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["range"], "0-4");

    // Past a week: the session is unknown, its bytes gone on the spot.
    em.advance_clock(2 * 3600).await;
    for m in [Method::GET, Method::PATCH, Method::PUT, Method::DELETE] {
        let mut r = req(m.clone(), &sessions[0]);
        if m == Method::PUT {
            r = req(
                m.clone(),
                &format!("{}?digest={}", sessions[0], digest(b"hello")),
            );
        }
        assert_eq!(Emulator::answer(r).await, (404, upload_unknown()), "{m}");
    }
    assert_eq!(upload_files(&em), vec![id(&sessions[1])]);
    // The other one, never asked about, goes at the next sweep (24 h on).
    em.advance_clock(24 * 3600).await;
    assert!(upload_files(&em).is_empty(), "{:?}", upload_files(&em));
    assert_eq!(rows(&exported(&em).await, "oci_uploads"), 0);
    assert_eq!(
        Emulator::answer(req(Method::GET, &sessions[1])).await,
        (404, upload_unknown())
    );
}

/// Item 14: an upload larger than `--max-upload-bytes` is refused (413
/// BLOB_UPLOAD_INVALID), its session ended and its bytes removed, whether sent
/// at once or in chunks; an upload at the cap is stored.
#[tokio::test]
async fn upload_size_is_capped() {
    let em = Emulator::start_with(&["--max-upload-bytes", "1024"]);
    let (_, user, pass) = crate::oci_clients::registry(&em, "capreg01").await;
    let http = em.proxied();
    let host = "capreg01.azurecr.io";
    let req = |m: Method, path: &str| {
        http.request(m, format!("https://{host}{path}"))
            .basic_auth(&user, Some(&pass))
    };
    let too_large = json!({"errors": [{"code": "BLOB_UPLOAD_INVALID", "message": "blob upload invalid: the upload exceeds the registry's limit of 1024 bytes"}]});
    let big = vec![7u8; 2000];
    let r = req(
        Method::POST,
        &format!("/v2/app/blobs/uploads/?digest={}", digest(&big)),
    )
    .body(big.clone());
    assert_eq!(Emulator::answer(r).await, (413, too_large.clone()));
    assert!(upload_files(&em).is_empty());
    assert_eq!(
        req(Method::HEAD, &format!("/v2/app/blobs/{}", digest(&big)))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    // In chunks: the chunk that crosses the cap ends the session.
    let r = req(Method::POST, "/v2/app/blobs/uploads/")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let r = req(Method::PATCH, &location)
        .body(vec![1u8; 600])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(
        Emulator::answer(req(Method::PATCH, &location).body(vec![2u8; 600])).await,
        (413, too_large)
    );
    assert_eq!(
        Emulator::answer(req(Method::GET, &location)).await,
        (404, upload_unknown())
    );
    assert!(upload_files(&em).is_empty());
    assert_eq!(rows(&exported(&em).await, "oci_uploads"), 0);

    // Streamed without a length (chunked): cut off at the chunk that crosses the cap.
    let big_digest = digest(&[3u8; 1600]);
    let mut raw = format!(
        "POST /v2/app/blobs/uploads/?digest={big_digest} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        }
    )
    .into_bytes();
    for _ in 0..2 {
        raw.extend_from_slice(b"320\r\n");
        raw.extend_from_slice(&[3u8; 800]);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let answer = tokio::task::spawn_blocking({
        let addr = format!("127.0.0.1:{}", em.port);
        move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.write_all(&raw).unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out);
            out
        }
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("the upload exceeds the registry's limit of 1024 bytes"),
        "{answer}"
    );
    assert!(upload_files(&em).is_empty());
    assert_eq!(rows(&exported(&em).await, "oci_uploads"), 0);

    // At the cap exactly: stored.
    let exact = vec![9u8; 1024];
    let r = req(
        Method::POST,
        &format!("/v2/app/blobs/uploads/?digest={}", digest(&exact)),
    )
    .body(exact)
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
}

/// Item 14: with a propagation delay, a deleted assignment leaves a tombstone
/// while it goes on working; once the delay has passed the sweep prunes it.
#[tokio::test]
async fn tombstones_are_pruned_once_the_delay_has_passed() {
    let em = Emulator::start_with(&["--rbac-propagation-delay-seconds", "60"]);
    let owner = em.arm_token().await;
    let p = em.new_principal().await;
    let sub = format!("/subscriptions/{SUBSCRIPTION}");
    let id = format!(
        "{sub}/providers/Microsoft.Authorization/roleAssignments/{}",
        uuid::Uuid::new_v4()
    );
    let (s, b) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{id}?api-version=2022-04-01"),
            Some(json!({"properties": {
                "roleDefinitionId": format!("{sub}/providers/Microsoft.Authorization/roleDefinitions/{READER}"),
                "principalId": p.object_id, "principalType": "ServicePrincipal",
            }})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let groups = format!("{sub}/resourcegroups/tomb?api-version=2024-07-01");
    let (s, b) = em
        .arm(
            &owner,
            Method::PUT,
            &groups,
            Some(json!({"location": "eastus"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    em.advance_clock(61).await;
    assert_eq!(em.arm(&p.token, Method::GET, &groups, None).await.0, 200);
    let (s, _) = em
        .arm(
            &owner,
            Method::DELETE,
            &format!("{id}?api-version=2022-04-01"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(em.arm(&p.token, Method::GET, &groups, None).await.0, 200);
    assert_eq!(rows(&exported(&em).await, "role_assignment_tombstones"), 1);
    em.advance_clock(61).await;
    assert_eq!(em.arm(&p.token, Method::GET, &groups, None).await.0, 403);
    // The next sweep (a day after the last) prunes it.
    em.advance_clock(24 * 3600).await;
    assert_eq!(rows(&exported(&em).await, "role_assignment_tombstones"), 0);
}

/// Item 14: a build context `az acr build` uploads is claimed by its run and
/// kept as long as the run; one uploaded and never run is dropped once its
/// upload link has expired (a run naming it later fails: it is not found);
/// deleting the registry drops the rest.
#[tokio::test]
async fn build_contexts_go_with_their_runs_and_registry() {
    let em = Emulator::start();
    let az = Az::new(&em, Mode::Transparent).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["group", "create", "-n", "rg", "-l", "eastus", "-o", "none"])
        .await;
    az.acr_create("rg", "ctxreg01", "Basic").await;
    em.push_sample("ctxreg01.azurecr.io/hello-world:v1")
        .unwrap();
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM ctxreg01.azurecr.io/hello-world:v1\nCMD [\"/hello\"]\n",
    )
    .unwrap();
    let dir = ctx.path().to_string_lossy().into_owned();
    let build = az
        .run(&["acr", "build", "-r", "ctxreg01", "-t", "app:v1", &dir])
        .await;
    assert!(build.ok, "{}\n{}", build.stdout, build.stderr);
    let sources = exported(&em).await["acr_sources"].clone();
    let claimed: Vec<String> = sources.as_object().unwrap().keys().cloned().collect();
    assert_eq!(claimed.len(), 1, "{sources}");
    assert_eq!(
        sources[&claimed[0]]["runs"].as_array().unwrap().len(),
        1,
        "{sources}"
    );

    // A context uploaded and never run.
    let owner = em.arm_token().await;
    let reg = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/ctxreg01"
    );
    let (s, loc) = em
        .arm(
            &owner,
            Method::POST,
            &format!("{reg}/listBuildSourceUploadUrl?{TASKS_API}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{loc}");
    let r = em
        .http()
        .put(loc["uploadUrl"].as_str().unwrap())
        .header("x-ms-blob-type", "BlockBlob")
        .body(std::fs::read(ctx.path().join("Dockerfile")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let unclaimed = loc["relativePath"].as_str().unwrap().to_string();
    assert_eq!(rows(&exported(&em).await, "acr_sources"), 2);

    // Its link expires after an hour; the next sweep (a day on) drops it, not the claimed one.
    em.advance_clock(25 * 3600).await;
    let owner = em.arm_token().await;
    let left = exported(&em).await["acr_sources"].clone();
    assert_eq!(
        left.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        claimed,
        "{left}"
    );
    let (s, run) = em
        .arm(
            &owner,
            Method::POST,
            &format!("{reg}/scheduleRun?{TASKS_API}"),
            Some(json!({
                "type": "DockerBuildRequest", "sourceLocation": unclaimed, "dockerFilePath": "Dockerfile",
                "imageNames": ["late:v1"], "isPushEnabled": true, "platform": {"os": "Linux"}
            })),
        )
        .await;
    assert_eq!(s, 200, "{run}");
    let run_id = run["properties"]["runId"].as_str().unwrap();
    let (_, run) = em
        .arm(
            &owner,
            Method::GET,
            &format!("{reg}/runs/{run_id}?{TASKS_API}"),
            None,
        )
        .await;
    assert_eq!(run["properties"]["status"], "Failed", "{run}");
    let log = em
        .http()
        .get(log_link(&em, &owner, &reg, run_id).await)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        log.contains(&format!("the uploaded source '{unclaimed}' was not found")),
        "{log}"
    );

    // The registry goes, and its contexts with it.
    az.ok(&["account", "clear"]).await;
    assert!(az.login(CLIENT_SECRET).await.ok);
    az.ok(&["acr", "delete", "-n", "ctxreg01", "--yes"]).await;
    assert_eq!(rows(&exported(&em).await, "acr_sources"), 0);
}

// ---- registry regressions ---------------------------------------------------

/// The 401 challenge body for `actions` on `repo` (ACR's text is the same
/// whether the caller was anonymous or short of them).
fn challenge(repo: &str, actions: &[&str]) -> Value {
    let detail: Vec<Value> = actions
        .iter()
        .map(|a| json!({"Type": "repository", "Name": repo, "Action": a}))
        .collect();
    json!({"errors": [{"code": "UNAUTHORIZED", "message": AUTH_REQUIRED, "detail": detail}]})
}

/// Refresh token → access token for `scope` at `host`: (status, body).
async fn access_for(em: &Emulator, host: &str, refresh: &str, scope: &str) -> (u16, Value) {
    Emulator::answer(
        em.proxied()
            .post(format!("https://{host}/oauth2/token"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("service", host),
                ("scope", scope),
                ("refresh_token", refresh),
            ]),
    )
    .await
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// Refresh and access tokens are not interchangeable, and a registry's
/// tokens are refused at another registry, in every place a token goes.
#[tokio::test]
async fn registry_tokens_keep_to_their_kind_and_registry() {
    let em = Emulator::start();
    let entra = em.arm_token().await;
    for r in ["kinda01", "kindb01"] {
        crate::oci_clients::registry(&em, r).await;
        em.push_sample(&format!("{r}.azurecr.io/hello-world:v1"))
            .unwrap();
    }
    let (a, b) = ("kinda01.azurecr.io", "kindb01.azurecr.io");
    let refresh = crate::oci_clients::refresh_token(&em, &entra, a).await;
    let (s, t) = access_for(&em, a, &refresh, "repository:hello-world:pull").await;
    assert_eq!(s, 200, "{t}");
    let access = t["access_token"].as_str().unwrap().to_string();
    let http = em.proxied();
    let manifest = |host: &str| {
        http.get(format!("https://{host}/v2/hello-world/manifests/v1"))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
    };
    let null_guid = "00000000-0000-0000-0000-000000000000";
    assert_eq!(
        manifest(a)
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let token_req = |host: &str, refresh: &str| {
        http.post(format!("https://{host}/oauth2/token")).form(&[
            ("grant_type", "refresh_token"),
            ("service", host),
            ("scope", "repository:hello-world:pull"),
            ("refresh_token", refresh),
        ])
    };
    let exchange = |host: &str, service: &str, token: &str| {
        http.post(format!("https://{host}/oauth2/exchange")).form(&[
            ("grant_type", "access_token"),
            ("service", service),
            ("access_token", token),
        ])
    };
    let pull_challenge = challenge("hello-world", &["pull"]);
    for (what, req, want) in [
        // Kinds: an access token is no refresh token, and the other way round.
        (
            "access token as a refresh token",
            token_req(a, &access),
            (401, unauthorized()),
        ),
        (
            "access token as the null-GUID password",
            manifest(a).basic_auth(null_guid, Some(&access)),
            (401, unauthorized()),
        ),
        (
            "refresh token as a bearer token",
            manifest(a).bearer_auth(&refresh),
            (401, pull_challenge.clone()),
        ),
        // Registry A's tokens at registry B, each way in.
        (
            "A's refresh token at B's token service",
            token_req(b, &refresh),
            (401, unauthorized()),
        ),
        (
            "A's refresh token as B's null-GUID password",
            manifest(b).basic_auth(null_guid, Some(&refresh)),
            (401, unauthorized()),
        ),
        (
            "A's access token at B",
            manifest(b).bearer_auth(&access),
            (401, pull_challenge),
        ),
    ] {
        assert_eq!(Emulator::answer(req).await, want, "{what}");
    }
    // An ACR token is no Entra token at the exchange; the service named must be the registry asked.
    for (what, req) in [
        ("an ACR token exchanged", exchange(a, a, &refresh)),
        (
            "another registry named as the service",
            exchange(b, a, &entra),
        ),
    ] {
        let (s, body) = Emulator::answer(req).await;
        assert_eq!(
            (s, body["errors"][0]["code"].as_str()),
            (401, Some("UNAUTHORIZED")),
            "{what}"
        );
    }
}

/// AcrPull pulls, and neither pushes nor deletes, with a bearer token or with
/// the refresh token as a Basic password; nothing changes in the registry.
#[tokio::test]
async fn acrpull_cannot_push_or_delete() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let (reg, admin, admin_pw) = crate::oci_clients::registry(&em, "pullonly01").await;
    em.push_sample("pullonly01.azurecr.io/hello-world:v1")
        .unwrap();
    let p = em.new_principal().await;
    let (s, b) = em
        .arm(
            &owner,
            Method::PUT,
            &format!(
                "{reg}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
                uuid::Uuid::new_v4()
            ),
            Some(json!({"properties": {
                "roleDefinitionId": format!("/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{ACRPULL}"),
                "principalId": p.object_id,
            }})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let host = "pullonly01.azurecr.io";
    let refresh = crate::oci_clients::refresh_token(&em, &p.token, host).await;
    let (s, t) = access_for(
        &em,
        host,
        &refresh,
        "repository:hello-world:pull,push,delete",
    )
    .await;
    assert_eq!(s, 200);
    let access = t["access_token"].as_str().unwrap().to_string();
    assert_eq!(claims(&access)["access"][0]["actions"], json!(["pull"]));

    let http = em.proxied();
    let url = |path: &str| format!("https://{host}/v2/hello-world{path}");
    let r = http
        .get(url("/manifests/v1"))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let manifest_digest = r.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string();
    let manifest = r.bytes().await.unwrap().to_vec();
    let layer = claims_of_manifest(&manifest);
    type Auth<'a> = &'a dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder;
    let bearer = |r: reqwest::RequestBuilder| r.bearer_auth(&access);
    let basic = |r: reqwest::RequestBuilder| {
        r.basic_auth("00000000-0000-0000-0000-000000000000", Some(&refresh))
    };
    for (way, auth) in [("bearer", &bearer as Auth), ("basic", &basic as Auth)] {
        for (m, path, actions) in [
            (
                Method::POST,
                "/blobs/uploads/".to_string(),
                &["pull", "push"][..],
            ),
            (
                Method::PUT,
                "/manifests/v2".to_string(),
                &["pull", "push"][..],
            ),
            (
                Method::DELETE,
                format!("/manifests/{manifest_digest}"),
                &["delete"][..],
            ),
            (Method::DELETE, format!("/blobs/{layer}"), &["delete"][..]),
        ] {
            let mut req = auth(http.request(m.clone(), url(&path)));
            if m == Method::PUT {
                req = req
                    .header("content-type", "application/vnd.oci.image.manifest.v1+json")
                    .body(manifest.clone());
            }
            assert_eq!(
                Emulator::answer(req).await,
                (401, challenge("hello-world", actions)),
                "{way} {m} {path}"
            );
        }
    }
    // Nothing changed: one tag, the manifest and the layer still there.
    let admin_get = |path: String| http.get(url(&path)).basic_auth(&admin, Some(&admin_pw));
    assert_eq!(
        Emulator::answer(admin_get("/tags/list".into())).await,
        (200, json!({"name": "hello-world", "tags": ["v1"]}))
    );
    assert_eq!(
        admin_get(format!("/blobs/{layer}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// The first layer's digest of an image manifest.
fn claims_of_manifest(manifest: &[u8]) -> String {
    let m: Value = serde_json::from_slice(manifest).unwrap();
    m["layers"][0]["digest"].as_str().unwrap().to_string()
}

/// A repository token reaches exactly what its scope map lists: read on
/// team-a/app, nothing on team-b/app, no push or delete anywhere.
#[tokio::test]
async fn scope_map_tokens_stay_inside_their_map() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let (reg, _, _) = crate::oci_clients::registry(&em, "mapreg01").await;
    for repo in ["team-a/app", "team-b/app"] {
        em.push_sample(&format!("mapreg01.azurecr.io/{repo}:v1"))
            .unwrap();
    }
    let password = scope_token(
        &em,
        &owner,
        &reg,
        "teama",
        &["repositories/team-a/app/content/read"],
        None,
    )
    .await;
    let host = "mapreg01.azurecr.io";
    let http = em.proxied();
    let req = |m: Method, path: &str| {
        http.request(m, format!("https://{host}/v2/{path}"))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .basic_auth("teama", Some(&password))
    };
    let r = req(Method::GET, "team-a/app/manifests/v1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d = r.headers()["docker-content-digest"]
        .to_str()
        .unwrap()
        .to_string();
    for (m, path, repo, actions) in [
        (
            Method::GET,
            "team-b/app/manifests/v1".to_string(),
            "team-b/app",
            &["pull"][..],
        ),
        (
            Method::GET,
            "team-a/app2/manifests/v1".to_string(),
            "team-a/app2",
            &["pull"][..],
        ),
        (
            Method::POST,
            "team-a/app/blobs/uploads/".to_string(),
            "team-a/app",
            &["pull", "push"][..],
        ),
        (
            Method::DELETE,
            format!("team-a/app/manifests/{d}"),
            "team-a/app",
            &["delete"][..],
        ),
    ] {
        assert_eq!(
            Emulator::answer(req(m.clone(), &path)).await,
            (401, challenge(repo, actions)),
            "{m} {path}"
        );
    }
    // The token service grants no more than the map either.
    let (s, t) = basic_token(&em, host, "teama", &password, "repository:team-b/app:pull").await;
    assert_eq!(s, 200);
    assert_eq!(
        claims(t["access_token"].as_str().unwrap())["access"],
        json!([{"type": "repository", "name": "team-b/app", "actions": []}])
    );
    let (s, t) = basic_token(
        &em,
        host,
        "teama",
        &password,
        "repository:team-a/app:pull,push,delete",
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        claims(t["access_token"].as_str().unwrap())["access"][0]["actions"],
        json!(["pull"])
    );
}

/// A blob pushed only to one repository cannot be read by digest through
/// another (BLOB_UNKNOWN, as distribution answers), nor mounted from it, nor
/// referenced by a manifest there, by a caller allowed only on the other.
#[tokio::test]
async fn blobs_do_not_cross_repositories() {
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let (reg, admin, admin_pw) = crate::oci_clients::registry(&em, "crossreg01").await;
    let host = "crossreg01.azurecr.io";
    let http = em.proxied();
    let secret = b"only for the secret repository".to_vec();
    let d = digest(&secret);
    let r = http
        .post(format!(
            "https://{host}/v2/secret/blobs/uploads/?digest={d}"
        ))
        .basic_auth(&admin, Some(&admin_pw))
        .body(secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let password = scope_token(
        &em,
        &owner,
        &reg,
        "public",
        &[
            "repositories/public/content/read",
            "repositories/public/content/write",
        ],
        None,
    )
    .await;
    let as_public = |m: Method, path: &str| {
        http.request(m, format!("https://{host}{path}"))
            .basic_auth("public", Some(&password))
    };
    let unknown = json!({"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown to registry", "detail": d}]});
    assert_eq!(
        Emulator::answer(as_public(Method::GET, &format!("/v2/public/blobs/{d}"))).await,
        (404, unknown)
    );
    let r = as_public(Method::HEAD, &format!("/v2/public/blobs/{d}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        Emulator::answer(as_public(Method::GET, &format!("/v2/secret/blobs/{d}"))).await,
        (401, challenge("secret", &["pull"]))
    );
    // A mount from a repository the caller cannot read starts an upload instead.
    let r = as_public(
        Method::POST,
        &format!("/v2/public/blobs/uploads/?mount={d}&from=secret"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(
        as_public(Method::GET, &format!("/v2/public/blobs/{d}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // A manifest naming it is refused.
    let config = br#"{"architecture":"amd64","os":"linux"}"#;
    let c = digest(config);
    let r = as_public(
        Method::POST,
        &format!("/v2/public/blobs/uploads/?digest={c}"),
    )
    .body(config.to_vec())
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let manifest = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": 30}],
    });
    let (s, b) = Emulator::answer(
        as_public(Method::PUT, "/v2/public/manifests/v1")
            .header("content-type", "application/vnd.oci.image.manifest.v1+json")
            .body(manifest.to_string()),
    )
    .await;
    assert_eq!(
        (s, b),
        (
            400,
            json!({"errors": [{"code": "MANIFEST_BLOB_UNKNOWN", "message": "blob unknown to registry", "detail": {"digest": d}}]})
        )
    );
    // The admin, who may read both, mounts it.
    let r = http
        .post(format!(
            "https://{host}/v2/public/blobs/uploads/?mount={d}&from=secret"
        ))
        .basic_auth(&admin, Some(&admin_pw))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

/// Forged ACR tokens are refused at the registry, as bearer tokens and as
/// refresh tokens: alg none, HS256 keyed with the public key, another key
/// under a foreign kid, expired, and (item 13) times that are not numbers.
#[tokio::test]
async fn forged_registry_tokens_are_refused() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    let em = Emulator::start();
    let entra = em.arm_token().await;
    crate::oci_clients::registry(&em, "forgereg01").await;
    em.push_sample("forgereg01.azurecr.io/hello-world:v1")
        .unwrap();
    let host = "forgereg01.azurecr.io";
    let refresh = crate::oci_clients::refresh_token(&em, &entra, host).await;
    let (_, t) = access_for(&em, host, &refresh, "repository:hello-world:pull").await;
    let access = t["access_token"].as_str().unwrap().to_string();

    let pem = std::fs::read_to_string(em.data_dir().join("signing-key.pem")).unwrap();
    let private = rsa::RsaPrivateKey::from_pkcs1_pem(&pem).unwrap();
    let real = EncodingKey::from_rsa_pem(private.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes())
        .unwrap();
    let real_kid = jsonwebtoken::decode_header(&access).unwrap().kid;
    let public_pem = rsa::RsaPublicKey::from(&private)
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let other = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let other =
        EncodingKey::from_rsa_pem(other.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
    let forgeries = |genuine: &str| {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut c = claims(genuine);
        c["access"] = json!([{"type": "repository", "name": "hello-world", "actions": ["*"]}]);
        let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let mut v = vec![
            (
                "alg none".to_string(),
                format!("{header}.{}.", b64.encode(c.to_string())),
            ),
            (
                "HS256 with the public key".into(),
                jsonwebtoken::encode(
                    &Header::new(Algorithm::HS256),
                    &c,
                    &EncodingKey::from_secret(public_pem.as_bytes()),
                )
                .unwrap(),
            ),
        ];
        let mut foreign = Header::new(Algorithm::RS256);
        foreign.kid = Some("foreign-kid".into());
        v.push((
            "another key, foreign kid".into(),
            jsonwebtoken::encode(&foreign, &c, &other).unwrap(),
        ));
        let mut ours = Header::new(Algorithm::RS256);
        ours.kid = real_kid.clone();
        let iat = c["iat"].as_i64().unwrap();
        for (what, field, value) in [
            ("expired", "exp", json!(iat - 1)),
            ("exp not a number", "exp", json!("never")),
            ("nbf not a number", "nbf", json!("soon")),
        ] {
            let mut c = claims(genuine);
            c[field] = value;
            v.push((what.into(), jsonwebtoken::encode(&ours, &c, &real).unwrap()));
        }
        v
    };
    let http = em.proxied();
    let manifest = |bearer: &str| {
        http.get(format!("https://{host}/v2/hello-world/manifests/v1"))
            .header("accept", "application/vnd.oci.image.manifest.v1+json")
            .bearer_auth(bearer)
    };
    assert_eq!(manifest(&access).send().await.unwrap().status(), 200);
    for (what, forged) in forgeries(&access) {
        assert_eq!(
            Emulator::answer(manifest(&forged)).await,
            (401, challenge("hello-world", &["pull"])),
            "access token: {what}"
        );
    }
    for (what, forged) in forgeries(&refresh) {
        assert_eq!(
            access_for(&em, host, &forged, "repository:hello-world:pull").await,
            (401, unauthorized()),
            "refresh token: {what}"
        );
    }
    // Item 13, Entra's side: an Entra token (signed with the real key) whose
    // expiry is not a number is no token, at the exchange and at ARM.
    let mut c = claims(&entra);
    c["exp"] = json!("never");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = jsonwebtoken::decode_header(&entra).unwrap().kid;
    let forged = jsonwebtoken::encode(&header, &c, &real).unwrap();
    let (s, b) = Emulator::answer(http.post(format!("https://{host}/oauth2/exchange")).form(&[
        ("grant_type", "access_token"),
        ("service", host),
        ("access_token", forged.as_str()),
    ]))
    .await;
    assert_eq!(
        (s, b["errors"][0]["code"].as_str()),
        (401, Some("UNAUTHORIZED")),
        "{b}"
    );
    let (s, b) = em
        .arm(
            &forged,
            Method::GET,
            &format!("/subscriptions/{SUBSCRIPTION}?api-version=2022-12-01"),
            None,
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (401, Some("InvalidAuthenticationToken")),
        "{b}"
    );
}
