//! Managed identity inside running containers: a group with identities gets
//! `IDENTITY_ENDPOINT` and `IDENTITY_HEADER`; code in its container (busybox's
//! shell and `nc`, speaking HTTP/1.0) obtains a token for the group's
//! user-assigned identity and calls ARM with it, and RBAC decides the answer.
//! The endpoint serves each group its own identities only.

use crate::aci::{create_with_identity, grant_acrpull, setup};
use crate::aci_engine::{container, push_busybox, until};
use crate::docker::Dockerd;
use crate::harness::{Emulator, SUBSCRIPTION, words};
use base64::Engine as _;
use serde_json::Value;

/// What the container runs: the token endpoint without the header, for the other
/// group's identity (`$OTHER`, a client id) and with the other group's header
/// (`$STOLEN`); then, every second, a token for its own identity and
/// `GET` of the resource group with it, from ARM at `$ARM` (azemu's port on the
/// engine's gateway). Every answer is printed whole, after a `>>> what` line.
const SCRIPT: &str = r#"A=${IDENTITY_ENDPOINT#http://}; HP=${A%%/*}; H=${HP%:*}; P=${HP#*:}
get() { echo ">>> $1"; printf "GET $3 HTTP/1.1\r\nHost: $2\r\nConnection: close\r\n$4\r\n" | /bin/busybox nc $H $5 2>&1; echo; }
Q="/msi/token?resource=https://management.azure.com/&api-version=2019-08-01"
echo "endpoint=$IDENTITY_ENDPOINT"
get no-header $HP "$Q" "" $P
get other-identity $HP "$Q&client_id=$OTHER" "X-IDENTITY-HEADER: $IDENTITY_HEADER\r\n" $P
get stolen-header $HP "$Q" "X-IDENTITY-HEADER: $STOLEN\r\n" $P
while true; do
  T=$(get token $HP "$Q" "X-IDENTITY-HEADER: $IDENTITY_HEADER\r\n" $P)
  echo "$T"
  TOK=$(echo "$T" | /bin/busybox sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  get arm management.azure.com "/subscriptions/$SUB/resourceGroups/myResourceGroup?api-version=2021-04-01" "Authorization: Bearer $TOK\r\n" $ARM
  /bin/busybox sleep 1
done
"#;

fn group_id(name: &str) -> String {
    format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/myResourceGroup/providers/Microsoft.ContainerInstance/containerGroups/{name}"
    )
}

/// What group `name`'s container has written so far (the engine's log).
async fn engine_logs(engine: &Dockerd, name: &str) -> String {
    let filter = format!("label=azemu.group={}", group_id(name));
    // Its container (labelled with its name), not the group's sandbox.
    let ids = engine
        .ok(&[
            "ps",
            "-aq",
            "--filter",
            &filter,
            "--filter",
            "label=azemu.container",
        ])
        .await;
    let Some(id) = ids.lines().next() else {
        return String::new();
    };
    engine.ok(&["logs", id]).await
}

/// The group's log once it holds `what` (bounded: the container runs on its own).
async fn logs_until(engine: &Dockerd, name: &str, what: &str) -> String {
    let mut last = String::new();
    for _ in 0..300 {
        last = engine_logs(engine, name).await;
        if last.contains(what) {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{name}: its log never showed {what}:\n{last}");
}

/// The answer printed after `>>> what` (its first occurrence from `from`).
fn answer<'a>(log: &'a str, what: &str) -> &'a str {
    let marker = format!(">>> {what}\n");
    let start = log
        .find(&marker)
        .unwrap_or_else(|| panic!("no {what}:\n{log}"))
        + marker.len();
    let rest = &log[start..];
    &rest[..rest.find("\n>>> ").unwrap_or(rest.len())]
}

async fn identity(az: &crate::az::Az<'_>, name: &str) -> Value {
    az.json(&["identity", "show", "-g", "myResourceGroup", "-n", name])
        .await
}

/// The seed's user-assigned identity inside a running container: the
/// endpoint's refusals (no header, an identity the group does not have,
/// another group's header, a caller that is no container), then a token for
/// the group's own identity (`oid`, `xms_mirid`) that ARM refuses with 403
/// AuthorizationFailed until the identity is a Reader of the resource group, then 200.
#[tokio::test]
async fn code_in_a_container_gets_its_group_identity_token_and_rbac_decides() {
    let engine = Dockerd::start_bridged();
    let host = engine.host();
    // azemu's port must be reachable from the containers for their ARM call:
    // on every address (the engine's bridge is local to this machine).
    let env = [
        ("AZEMU_CONTAINER_ENGINE", "docker"),
        ("DOCKER_HOST", host.as_str()),
    ];
    let em = Emulator::start_logged_env(&["--bind", "0.0.0.0"], &env);
    let (az, userid, spid) = setup(&em, "acimsi0001").await;
    let mine = identity(&az, "myACRId").await;
    az.ok(&words(
        "identity create -g myResourceGroup -n otherId -o none",
    ))
    .await;
    let other = identity(&az, "otherId").await;
    let otherid = other["id"].as_str().unwrap().to_string();
    grant_acrpull(&az, "acimsi0001", &spid).await;
    grant_acrpull(&az, "acimsi0001", other["principalId"].as_str().unwrap()).await;
    let image = "acimsi0001.azurecr.io/busybox:v1";
    push_busybox(&em, image, SCRIPT);

    // The header each group is handed (the control API names it for any resource).
    let header = |name: &str| {
        let path = format!("/_emulator/identity-endpoint?resourceId={}", group_id(name));
        let em = &em;
        async move {
            em.control_json(&path).await["IDENTITY_HEADER"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let groups = [
        ("msi-a", &userid, &other, header("msi-b").await),
        ("msi-b", &otherid, &mine, header("msi-a").await),
    ];
    for (name, identity, not_its, stolen) in &groups {
        let vars = [
            format!("SUB={SUBSCRIPTION}"),
            format!("ARM={}", em.port),
            format!("OTHER={}", not_its["clientId"].as_str().unwrap()),
            format!("STOLEN={stolen}"),
        ];
        let mut extra = vec!["--environment-variables"];
        extra.extend(vars.iter().map(String::as_str));
        extra.extend(["-o", "none"]);
        let out = create_with_identity(&az, name, image, identity, &extra).await;
        assert!(out.ok, "{}", out.stderr);
    }
    for (name, ..) in &groups {
        let g = until(&em, name, "ran", |g| {
            container(g)["currentState"]["state"] == "Running"
        })
        .await;
        // The endpoint is the container's environment, never the group's as ARM shows it.
        assert!(!g.to_string().contains("IDENTITY_"), "{g:#}");
    }

    // Group a's first token answer, and ARM's 403: the identity has no role yet.
    let log = logs_until(&engine, "msi-a", "AuthorizationFailed").await;
    let endpoint = log
        .lines()
        .find_map(|l| l.strip_prefix("endpoint="))
        .unwrap()
        .to_string();
    assert!(endpoint.starts_with("http://10."), "{endpoint}");
    assert!(endpoint.ends_with("/msi/token"), "{endpoint}");
    let status = |a: &str| a.lines().next().unwrap_or_default().trim_end().to_string();
    let body = |a: &str| -> Value {
        let json = a.split("\r\n\r\n").nth(1).unwrap_or_default().trim();
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {a}"))
    };
    // An answer of the endpoint's refusing: its status line and App Service's shape.
    let refused = |a: &str, line: &str, code: u16, message: &str| {
        assert_eq!(status(a), line, "{a}");
        let refused = body(a);
        assert_eq!(refused["statusCode"], code, "{a}");
        assert_eq!(refused["message"], message, "{a}");
        assert!(refused["correlationId"].is_string(), "{a}");
    };
    let unauthorized = "HTTP/1.1 401 Unauthorized";
    let bad = "HTTP/1.1 400 Bad Request";
    let no_msi = "No MSI found for specified ClientId/ResourceId.";
    refused(
        answer(&log, "no-header"),
        unauthorized,
        401,
        "The request has no X-IDENTITY-HEADER header: send the IDENTITY_HEADER this endpoint was handed out with. No token was issued.",
    );
    refused(answer(&log, "other-identity"), bad, 400, no_msi);
    let token = answer(&log, "token");
    assert_eq!(status(token), "HTTP/1.1 200 OK", "{token}");
    let token = body(token);
    assert_eq!(token["client_id"], mine["clientId"]);
    assert_eq!(token["resource"], "https://management.azure.com/");
    assert_eq!(token["token_type"], "Bearer");
    let jwt = token["access_token"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["oid"], mine["principalId"], "{claims:#}");
    assert!(
        claims["xms_mirid"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case(&userid),
        "{claims:#}"
    );
    let arm = answer(&log, "arm");
    assert_eq!(status(arm), "HTTP/1.1 403 Forbidden", "{arm}");
    let denied = body(arm);
    assert_eq!(denied["error"]["code"], "AuthorizationFailed", "{denied}");
    assert!(
        denied["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("with object id '{spid}'")),
        "{denied}"
    );

    // Group b: its own header, but a's identity, is refused; so is a's header.
    let log_b = logs_until(&engine, "msi-b", ">>> arm").await;
    refused(answer(&log_b, "other-identity"), bad, 400, no_msi);
    refused(
        answer(&log_b, "stolen-header"),
        unauthorized,
        401,
        "The X-IDENTITY-HEADER header does not match this endpoint's IDENTITY_HEADER. No token was issued.",
    );
    let own = body(answer(&log_b, "token"));
    assert_eq!(own["client_id"], other["clientId"], "{own}");

    // Nothing but a group's container is served, even with a group's header.
    let (_, rest) = endpoint.split_once("//").unwrap();
    let gateway = rest.split(':').next().unwrap();
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = plain
        .get(format!(
            "{endpoint}?resource=https://management.azure.com/&api-version=2019-08-01"
        ))
        .header("X-IDENTITY-HEADER", header("msi-a").await)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let refused: Value = r.json().await.unwrap();
    assert_eq!(
        refused["message"],
        format!(
            "This managed-identity endpoint serves only containers of the container groups azemu runs; {gateway} is not one. No token was issued."
        )
    );
    // It listens on the gateway only.
    let port = endpoint
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    assert!(
        plain
            .get(format!("http://127.0.0.1:{port}/msi/token"))
            .send()
            .await
            .is_err()
    );

    // Reader on the resource group: the same code, its next token, gets 200.
    let scope = format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/myResourceGroup");
    let grant =
        format!("role assignment create --assignee {spid} --role Reader --scope {scope} -o none");
    az.ok(&words(&grant)).await;
    let log = logs_until(&engine, "msi-a", "\"name\":\"myResourceGroup\"").await;
    let granted = log
        .split("\n>>> arm\n")
        .skip(1)
        .find(|a| a.starts_with("HTTP/1.1 200 OK"))
        .unwrap();
    let rg = body(granted);
    assert_eq!(rg["id"], scope.as_str(), "{rg}");
    assert_eq!(rg["name"], "myResourceGroup");
    // `az container logs` shows the same.
    let shown = az
        .ok(&["container", "logs", "-g", "myResourceGroup", "-n", "msi-a"])
        .await;
    assert!(shown.contains("AuthorizationFailed"), "{shown}");
    assert!(shown.contains("\"name\":\"myResourceGroup\""), "{shown}");
}
