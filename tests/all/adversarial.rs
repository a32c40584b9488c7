//! Adversarial input, generated. Every route the emulator serves (ARM's, as
//! `/_emulator/routes` publishes them; the registry data plane; Entra's token
//! endpoints and Graph) is sent malformed bodies, wrong-typed fields and query
//! junk, over raw keep-alive HTTP connections (paths go out byte for byte:
//! reqwest would resolve `..` and `%2e%2e` before sending). Each request must
//! get a whole HTTP answer, never a 5xx, and a 4xx in its plane's error
//! shape; the resources created beforehand (one of each type, through the
//! same routes) must read back byte-identical afterwards, and so must the
//! whole world (`GET /_emulator/world`).
//!
//! Also here: a panic in a handler is contained (a test-only fault, behind
//! `--enable-test-panics`), the clock refuses out-of-range moves, path tricks
//! never reach another scope, and a VNet's subnets are bounded.

use crate::harness::{CLIENT_ID, CLIENT_SECRET, Emulator, SUBSCRIPTION, TENANT};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

// ---- a raw HTTP/1.1 client ----------------------------------------------------

/// One answer, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A plain-HTTP connection to the emulator, kept alive between requests and
/// reopened only when the server says `Connection: close`. A request that
/// gets no whole answer is a dropped connection, and the send fails.
pub(crate) struct Raw {
    port: u16,
    conn: Option<BufReader<TcpStream>>,
}

impl Raw {
    pub fn new(port: u16) -> Raw {
        Raw { port, conn: None }
    }

    /// Send one request; the whole answer, or why there was none.
    pub fn try_send(
        &mut self,
        method: &str,
        host: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Answer, String> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => {
                let s = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
                s.set_read_timeout(Some(Duration::from_secs(120))).ok();
                // Two writes (head, body) must not wait on a delayed ACK.
                s.set_nodelay(true).ok();
                BufReader::new(s)
            }
        };
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let stream = conn.get_mut();
        stream
            .write_all(head.as_bytes())
            .and_then(|_| stream.write_all(body))
            .map_err(|e| format!("write: {e}"))?;
        let answer = read_answer(&mut conn, method == "HEAD")?;
        let close = answer
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if !close {
            self.conn = Some(conn);
        }
        Ok(answer)
    }

    /// Send one request; it must get a whole answer.
    pub fn send(
        &mut self,
        method: &str,
        host: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        self.try_send(method, host, target, headers, body)
            .unwrap_or_else(|e| panic!("{method} {host}{target}: no whole answer ({e})"))
    }

    /// Is the connection of the last answer still open (not reopened since)?
    pub fn is_open(&self) -> bool {
        self.conn.is_some()
    }
}

fn read_answer(conn: &mut BufReader<TcpStream>, head: bool) -> Result<Answer, String> {
    let mut line = String::new();
    let read_line = |conn: &mut BufReader<TcpStream>, line: &mut String| -> Result<(), String> {
        line.clear();
        match conn.read_line(line) {
            Ok(0) => Err("the connection closed".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("read: {e}")),
        }
    };
    read_line(conn, &mut line)?;
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {line:?}"))?;
    let mut headers = Vec::new();
    loop {
        read_line(conn, &mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if head || status == 204 || status == 304 || (100..200).contains(&status) {
    } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            read_line(conn, &mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| format!("bad chunk size {line:?}"))?;
            let mut chunk = vec![0; size + 2];
            conn.read_exact(&mut chunk)
                .map_err(|e| format!("chunk: {e}"))?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body = vec![0; n];
        conn.read_exact(&mut body)
            .map_err(|e| format!("body: {e}"))?;
    } else {
        conn.read_to_end(&mut body)
            .map_err(|e| format!("body: {e}"))?;
    }
    Ok(Answer {
        status,
        headers,
        body,
    })
}

// ---- the world the sweep must leave alone ------------------------------------

const HOST: &str = "localhost";
/// The control API takes state-changing calls only as JSON.
const JSON: &[(&str, &str)] = &[("Content-Type", "application/json")];
const RG: &str = "sweep";
const REGISTRY: &str = "sweepreg01";
const ZONE: &str = "privatelink.azurecr.io";
const ROLE_DEFINITION: &str = "5a1e0000-0000-4000-8000-00000000d0ef";
const ROLE_ASSIGNMENT: &str = "5a1e0000-0000-4000-8000-00000000a551";
const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
/// The name every "absent" target carries (so nothing it names exists).
const ABSENT: &str = "zzabsent";
const ABSENT_GUID: &str = "5a1e0000-0000-4000-8000-0000000ab5e0";

fn sub() -> String {
    format!("/subscriptions/{SUBSCRIPTION}")
}

fn rg() -> String {
    format!("{}/resourceGroups/{RG}", sub())
}

/// A client-credentials token for `scope`, asked for over the raw connection.
fn token(raw: &mut Raw, scope: &str) -> String {
    // (None of these needs escaping in a form body.)
    let form = format!(
        "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}&scope={scope}"
    );
    let a = raw.send(
        "POST",
        HOST,
        &format!("/{TENANT}/oauth2/v2.0/token"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
    );
    a.json()["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("token: {}", a.text()))
        .to_string()
}

/// ARM over the raw connection, as the owner.
struct Arm<'a> {
    raw: &'a mut Raw,
    bearer: String,
}

impl Arm<'_> {
    fn call(&mut self, method: &str, target: &str, body: Option<&[u8]>) -> Answer {
        let mut headers = vec![("Authorization", self.bearer.as_str())];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        self.raw
            .send(method, HOST, target, &headers, body.unwrap_or_default())
    }

    /// A call that must succeed; its JSON answer.
    fn ok(&mut self, method: &str, path: &str, version: &str, body: Option<Value>) -> Answer {
        let bytes = body.map(|b| b.to_string().into_bytes());
        let a = self.call(
            method,
            &format!("{path}?api-version={version}"),
            bytes.as_deref(),
        );
        assert!(
            (200..300).contains(&a.status),
            "{method} {path}: {} {}",
            a.status,
            a.text()
        );
        a
    }
}

/// The names of the resources the sweep targets (the "existing" ones), by
/// the placeholder or collection that names them.
struct World {
    names: BTreeMap<&'static str, String>,
}

impl World {
    /// The value of `{placeholder}` after the path segment `after` (`None`: no such resource).
    fn name(&self, after: &str, placeholder: &str) -> Option<String> {
        let key = match (placeholder, after.to_ascii_lowercase().as_str()) {
            ("{name}" | "{guid}", t) => t.to_string(),
            ("{op}", t) => format!("op:{t}"),
            (p, _) => p
                .trim_matches(|c| c == '{' || c == '}')
                .to_ascii_lowercase(),
        };
        self.names.get(key.as_str()).cloned()
    }
}

/// The operation's path with its placeholders filled in: existing names, or
/// (when `absent`) the last one replaced by a name nothing has.
fn fill(op: &str, world: &World, absent: bool) -> Option<String> {
    let template = op.split_once(' ')?.1;
    let segs: Vec<&str> = template.split('/').collect();
    let last_placeholder = segs.iter().rposition(|s| s.starts_with('{'));
    let mut out = Vec::new();
    for (i, seg) in segs.iter().enumerate() {
        if *seg == "{scope}" {
            out.push(rg());
            continue;
        }
        if !seg.starts_with('{') {
            out.push(seg.to_string());
            continue;
        }
        let after = if i > 0 { segs[i - 1] } else { "" };
        if absent && Some(i) == last_placeholder {
            out.push(match *seg {
                "{guid}" => ABSENT_GUID.to_string(),
                "{sub}" => "5a1e0000-0000-4000-8000-0000000ab5e1".to_string(),
                "{ns}" => "Microsoft.Zzabsent".to_string(),
                "{zone}" => format!("{ABSENT}.example.com"),
                _ => ABSENT.to_string(),
            });
        } else {
            out.push(world.name(after, seg)?);
        }
    }
    Some(out.join("/"))
}

/// The body each write is created with (and the sweep mutates).
fn valid_body(op: &str, world: &World) -> Option<Value> {
    let (method, template) = op.split_once(' ')?;
    let segs: Vec<&str> = template.rsplit('/').collect();
    // The type a write names, or the action a POST calls.
    let last = if segs[0].starts_with('{') {
        segs.get(1).copied().unwrap_or_default()
    } else {
        segs[0]
    };
    let rg = rg();
    let reg = format!("{rg}/providers/Microsoft.ContainerRegistry/registries/{REGISTRY}");
    let vnet = |n: &str| format!("{rg}/providers/Microsoft.Network/virtualNetworks/{n}");
    let identity = format!("{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1");
    let tags = json!({"team": "sweep"});
    Some(match (method, last) {
        ("PUT", "resourcegroups") => json!({"location": "eastus", "tags": tags}),
        ("PATCH", "resourcegroups") => json!({"tags": tags}),
        ("PUT", "userAssignedIdentities") => json!({"location": "eastus", "tags": tags}),
        ("PATCH", "userAssignedIdentities") => json!({"tags": tags}),
        ("PUT", "registries") => json!({
            "location": "eastus", "tags": tags, "sku": {"name": "Premium"},
            "identity": {"type": "UserAssigned", "userAssignedIdentities": {identity.clone(): {}}},
            "properties": {"adminUserEnabled": true, "publicNetworkAccess": "Enabled",
                "networkRuleSet": {"defaultAction": "Allow", "ipRules": [{"action": "Allow", "value": "10.1.2.3"}]},
                "policies": {"retentionPolicy": {"days": 7, "status": "disabled"}}},
        }),
        ("PATCH", "registries") => json!({"tags": tags, "sku": {"name": "Premium"},
            "properties": {"adminUserEnabled": true}}),
        ("PUT" | "PATCH", "scopeMaps") => json!({"properties": {
            "description": "sweep", "actions": ["repositories/hello-world/content/read"]}}),
        ("PUT" | "PATCH", "tokens") => json!({"properties": {
            "scopeMapId": format!("{reg}/scopeMaps/map1"), "status": "enabled"}}),
        ("PUT", "containerGroups") => json!({
            "location": "eastus", "tags": tags,
            "identity": {"type": "UserAssigned", "userAssignedIdentities": {identity.clone(): {}}},
            "properties": {"osType": "Linux", "restartPolicy": "Always",
                "containers": [{"name": "c1", "properties": {
                    "image": "mcr.microsoft.com/azuredocs/aci-helloworld",
                    "command": ["/bin/sh", "-c", "echo hi"],
                    "ports": [{"port": 80, "protocol": "TCP"}],
                    "environmentVariables": [{"name": "A", "value": "1"}],
                    "resources": {"requests": {"cpu": 1, "memoryInGB": 1.5}}}}],
                "ipAddress": {"type": "Public", "ports": [{"port": 80, "protocol": "TCP"}]}},
        }),
        ("PATCH", "containerGroups") => json!({"tags": tags}),
        ("PUT", "virtualNetworks") => json!({
            "location": "eastus", "tags": tags,
            "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "subnets": [{"name": "sn1", "properties": {"addressPrefix": "10.0.0.0/24",
                    "privateEndpointNetworkPolicies": "Disabled"}}]},
        }),
        ("PUT", "subnets") => json!({"properties": {"addressPrefix": "10.0.1.0/24"}}),
        ("PUT", "virtualNetworkPeerings") => json!({"properties": {
            "remoteVirtualNetwork": {"id": vnet("vn2")}, "allowVirtualNetworkAccess": true}}),
        ("PUT", "privateEndpoints") => json!({
            "location": "eastus", "tags": tags,
            "properties": {"subnet": {"id": format!("{}/subnets/sn1", vnet("vn1"))},
                "privateLinkServiceConnections": [{"name": "c1", "properties": {
                    "privateLinkServiceId": reg, "groupIds": ["registry"]}}]},
        }),
        ("PUT", "privateDnsZones") => json!({"location": "global", "tags": tags}),
        ("PUT", "virtualNetworkLinks") => json!({"location": "global", "properties": {
            "virtualNetwork": {"id": vnet("vn1")}, "registrationEnabled": false}}),
        ("PUT", "A") => {
            json!({"properties": {"ttl": 3600, "aRecords": [{"ipv4Address": "10.0.0.9"}]}})
        }
        ("PUT", "privateDnsZoneGroups") => json!({"properties": {"privateDnsZoneConfigs": [{
            "name": "cfg", "properties": {"privateDnsZoneId":
                format!("{rg}/providers/Microsoft.Network/privateDnsZones/{ZONE}")}}]}}),
        ("PUT", "privateEndpointConnections") => json!({"properties": {
            "privateLinkServiceConnectionState": {"status": "Approved", "description": "ok"}}}),
        ("PUT", "roleDefinitions") => json!({"properties": {
            "roleName": "sweep-role", "description": "sweep", "type": "CustomRole",
            "assignableScopes": [rg],
            "permissions": [{"actions": ["*/read"], "notActions": [], "dataActions": [], "notDataActions": []}]}}),
        ("PUT", "roleAssignments") => json!({"properties": {
            "roleDefinitionId": format!("{}/providers/Microsoft.Authorization/roleDefinitions/{READER}", sub()),
            "principalId": world.names.get("principal")?, "principalType": "ServicePrincipal"}}),
        ("PATCH", "tasks") => json!({"tags": tags, "properties": {"status": "Enabled",
            "platform": {"os": "Linux"}, "agentConfiguration": {"cpu": 2}, "timeout": 3600}}),
        ("PUT", "tasks") => json!({"location": "eastus", "tags": tags, "properties": {
            "status": "Enabled", "platform": {"os": "Linux", "architecture": "amd64"},
            "agentConfiguration": {"cpu": 2}, "timeout": 3600,
            "step": {"type": "Docker", "dockerFilePath": "Dockerfile",
                "imageNames": ["sweep:{{.Run.ID}}"], "contextPath": "/dev/null", "isPushEnabled": false},
            "trigger": {"baseImageTrigger": {"name": "base", "baseImageTriggerType": "Runtime", "status": "Disabled"}}}}),
        ("POST", "scheduleRun") => json!({"type": "TaskRunRequest",
            "taskId": format!("{reg}/tasks/task1")}),
        ("PUT", "taskRuns") => json!({"properties": {"runRequest": {"type": "TaskRunRequest",
            "taskId": format!("{reg}/tasks/task1")}}}),
        ("PATCH", "runs") => json!({"isArchiveEnabled": true}),
        ("POST", "checkNameAvailability") => json!({"name": "sweepfree01",
            "type": "Microsoft.ContainerRegistry/registries"}),
        ("POST", "regenerateCredential") => json!({"name": "password"}),
        ("POST", "generateCredentials") => json!({"tokenId": format!("{reg}/tokens/tok1"),
            "name": "password1"}),
        ("PUT", "deployments") | ("POST", "validate" | "whatIf") => {
            let mut b = json!({"properties": {"mode": "Incremental",
                "template": {"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
                    "contentVersion": "1.0.0.0",
                    "parameters": {"n": {"type": "string", "defaultValue": "x"}},
                    "resources": [], "outputs": {"o": {"type": "string", "value": "[parameters('n')]"}}},
                "parameters": {"n": {"value": "y"}}}});
            if !template.contains("{rg}") {
                b["location"] = json!("eastus");
            }
            b
        }
        _ => return None,
    })
}

/// Every ARM operation the emulator publishes.
fn operations(raw: &mut Raw) -> Vec<String> {
    let a = raw.send("GET", HOST, "/_emulator/routes", &[], b"");
    a.json()["value"]
        .as_array()
        .expect("routes")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

fn version(op: &str) -> &'static str {
    crate::route_authz::api_version(op)
}

/// Create one resource of each type through the routes the sweep then
/// attacks; the world's names.
fn build_world(raw: &mut Raw, ops: &[String]) -> World {
    let principal = {
        let a = raw.send(
            "POST",
            HOST,
            "/_emulator/principals",
            &[("Content-Type", "application/json")],
            br#"{"displayName":"sweep-principal"}"#,
        );
        a.json()["objectId"]
            .as_str()
            .expect("principal")
            .to_string()
    };
    let mut names: BTreeMap<&'static str, String> = [
        ("sub", SUBSCRIPTION),
        ("rg", RG),
        ("resourcegroups", RG),
        ("userassignedidentities", "id1"),
        ("registries", REGISTRY),
        ("map", "map1"),
        ("token", "tok1"),
        ("containergroups", "cg1"),
        ("container", "c1"),
        ("virtualnetworks", "vn1"),
        ("subnet", "sn2"),
        ("peering", "peer1"),
        ("privateendpoints", "pe1"),
        ("zone", ZONE),
        ("link", "link1"),
        ("record", "rec1"),
        ("group", "zg1"),
        ("roledefinitions", ROLE_DEFINITION),
        ("roleassignments", ROLE_ASSIGNMENT),
        ("task", "task1"),
        ("taskrun", "tr1"),
        ("deployments", "dep1"),
        ("loc", "eastus"),
        ("ns", "Microsoft.ContainerRegistry"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    names.insert("principal", principal);
    let mut world = World { names };
    let bearer = format!(
        "Bearer {}",
        token(raw, "https://management.azure.com/.default")
    );
    let mut arm = Arm { raw, bearer };
    let find = |suffix: &str| -> String {
        ops.iter()
            .find(|o| o.starts_with("PUT ") && o.ends_with(suffix))
            .unwrap_or_else(|| panic!("no PUT route ending {suffix}"))
            .clone()
    };
    let put = |arm: &mut Arm, world: &World, suffix: &str| -> Answer {
        let op = find(suffix);
        let path = fill(&op, world, false).expect("names");
        let body = valid_body(&op, world).unwrap_or_else(|| panic!("no body for {op}"));
        arm.ok("PUT", &path, version(&op), Some(body))
    };
    put(&mut arm, &world, "/resourcegroups/{rg}");
    put(&mut arm, &world, "/userAssignedIdentities/{name}");
    let created = put(&mut arm, &world, "/registries/{name}");
    put(&mut arm, &world, "/scopeMaps/{map}");
    put(&mut arm, &world, "/tokens/{token}");
    let vnets = format!("{}/providers/Microsoft.Network/virtualNetworks", rg());
    arm.ok(
        "PUT",
        &format!("{vnets}/vn2"),
        "2024-05-01",
        Some(json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.1.0.0/16"]}}})),
    );
    put(&mut arm, &world, "/virtualNetworks/{name}");
    put(&mut arm, &world, "/subnets/{subnet}");
    put(&mut arm, &world, "/virtualNetworkPeerings/{peering}");
    put(&mut arm, &world, "/privateEndpoints/{name}");
    put(&mut arm, &world, "/privateDnsZones/{zone}");
    put(&mut arm, &world, "/virtualNetworkLinks/{link}");
    put(&mut arm, &world, "/A/{record}");
    put(&mut arm, &world, "/privateDnsZoneGroups/{group}");
    let reg = format!(
        "{}/providers/Microsoft.ContainerRegistry/registries/{REGISTRY}",
        rg()
    );
    let conns = arm.ok(
        "GET",
        &format!("{reg}/privateEndpointConnections"),
        "2023-07-01",
        None,
    );
    let conn = conns.json()["value"][0]["name"]
        .as_str()
        .expect("a private endpoint connection")
        .to_string();
    world.names.insert("connection", conn);
    put(&mut arm, &world, "/privateEndpointConnections/{connection}");
    put(&mut arm, &world, "/roleDefinitions/{guid}");
    put(&mut arm, &world, "/roleAssignments/{guid}");
    put(&mut arm, &world, "/tasks/{task}");
    let run = arm.ok(
        "POST",
        &format!("{reg}/scheduleRun"),
        "2023-07-01",
        valid_body(
            "POST /subscriptions/{sub}/resourcegroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}/scheduleRun",
            &world,
        ),
    );
    let run = run.json()["properties"]["runId"]
        .as_str()
        .expect("run id")
        .to_string();
    world.names.insert("run", run);
    put(&mut arm, &world, "/taskRuns/{taskRun}");
    put(&mut arm, &world, "/containerGroups/{name}");
    put(
        &mut arm,
        &world,
        "{rg}/providers/Microsoft.Resources/deployments/{name}",
    );
    let sub_deployment = ops
        .iter()
        .find(|o| *o == "PUT /subscriptions/{sub}/providers/Microsoft.Resources/deployments/{name}")
        .expect("subscription deployments")
        .clone();
    arm.ok(
        "PUT",
        &fill(&sub_deployment, &world, false).unwrap(),
        version(&sub_deployment),
        valid_body(&sub_deployment, &world),
    );
    // Operation ids to poll: the registry's creation (Azure-AsyncOperation) and
    // a resource group's deletion (Location).
    if let Some(status) = created.header("azure-asyncoperation") {
        let id = status
            .split('?')
            .next()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap_or_default();
        world.names.insert("op:operationstatuses", id.to_string());
    }
    arm.ok(
        "PUT",
        &format!("{}/resourceGroups/sweeptmp", sub()),
        "2024-07-01",
        Some(json!({"location": "eastus"})),
    );
    let deleted = arm.ok(
        "DELETE",
        &format!("{}/resourceGroups/sweeptmp", sub()),
        "2024-07-01",
        None,
    );
    if let Some(loc) = deleted.header("location") {
        let id = loc
            .split('?')
            .next()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap_or_default();
        world.names.insert("op:operationresults", id.to_string());
    }
    // Everything settles before the "before" picture is taken.
    let step = arm.raw.send("POST", HOST, "/_emulator/step", JSON, b"");
    assert_eq!(step.status, 200, "{}", step.text());
    world
}

// ---- the junk -------------------------------------------------------------------

/// Must the plane refuse it, or may it be a valid request after all?
#[derive(Debug, Clone, Copy, PartialEq)]
enum Class {
    /// Refused (4xx) wherever it is read.
    Refused,
    /// Perhaps valid (an empty PATCH, a null that means "absent", a number
    /// where a string goes, which Azure converts): only absent targets get it.
    Maybe,
}

/// Bodies that are not what any operation takes.
fn junk_bodies() -> Vec<(String, Vec<u8>, Class)> {
    use Class::*;
    let deep = |open: &str, close: &str, n: usize| {
        format!(
            "{{\"location\":\"eastus\",\"properties\":{}1{}}}",
            open.repeat(n),
            close.repeat(n)
        )
        .into_bytes()
    };
    vec![
        ("not JSON".into(), b"this is not json".to_vec(), Refused),
        (
            "JSON5 junk".into(),
            b"{location: 'eastus', properties: {a: [1,,2]}, /* open".to_vec(),
            Refused,
        ),
        (
            "truncated".into(),
            b"{\"location\": \"eastus\", \"properties\": {".to_vec(),
            Refused,
        ),
        ("deep arrays".into(), deep("[", "]", 300), Refused),
        ("deep objects".into(), deep("{\"a\":", "}", 300), Refused),
        ("array".into(), b"[1,2,3]".to_vec(), Refused),
        ("string".into(), b"\"a string\"".to_vec(), Refused),
        ("number".into(), b"42".to_vec(), Refused),
        ("bool".into(), b"true".to_vec(), Refused),
        ("null".into(), b"null".to_vec(), Maybe),
        ("empty".into(), Vec::new(), Maybe),
        // (JSON readers differ on raw control characters in strings: some take them.)
        (
            "raw NUL".into(),
            b"{\"location\":\"east\0us\",\"properties\":{}}".to_vec(),
            Maybe,
        ),
        (
            "escaped NUL".into(),
            br#"{"location":"east\u0000us","properties":{"x":"\u0000"},"tags":{"\u0000":"\u0000"}}"#
                .to_vec(),
            Maybe,
        ),
        (
            "invalid UTF-8".into(),
            b"{\"location\":\"\xff\xfe\",\"properties\":{}}".to_vec(),
            Refused,
        ),
        (
            "lone surrogate".into(),
            br#"{"location":"\ud800","properties":{}}"#.to_vec(),
            Refused,
        ),
        (
            "BOM and junk".into(),
            "\u{feff}{nope".as_bytes().to_vec(),
            Refused,
        ),
        (
            "huge number".into(),
            br#"{"location":"eastus","properties":{"x":1e999,"y":-99999999999999999999999999}}"#
                .to_vec(),
            Maybe,
        ),
        (
            "huge string as properties".into(),
            format!("{{\"properties\":\"{}\"}}", "a".repeat(1 << 20)).into_bytes(),
            Refused,
        ),
        (
            "huge string".into(),
            format!(
                "{{\"location\":\"eastus\",\"properties\":{{\"description\":\"{}\"}}}}",
                "a".repeat(3 << 20)
            )
            .into_bytes(),
            Maybe,
        ),
        (
            "many keys".into(),
            format!(
                "{{\"location\":\"eastus\",\"properties\":{{{}\"z\":1}}}}",
                (0..20_000).map(|i| format!("\"k{i}\":{i},")).collect::<String>()
            )
            .into_bytes(),
            Maybe,
        ),
        (
            "duplicate keys".into(),
            br#"{"location":"eastus","location":[],"properties":{}}"#.to_vec(),
            Maybe,
        ),
    ]
}

/// Every way to give `valid` a field of the wrong type: each object or array
/// in it replaced by a value of another kind (refused), each scalar by an
/// object or array (refused) or another scalar (perhaps valid: Azure converts
/// some), and (for a resource's PUT) `properties` itself of every wrong kind.
/// A template's insides are the template language's to judge, not the
/// body's shape: changes there are only "perhaps valid".
fn mutations(valid: &Value, resource_put: bool) -> Vec<(String, Value, Class)> {
    fn walk(root: &Value, at: &mut Vec<Step>, node: &Value, out: &mut Vec<(String, Value, Class)>) {
        let alternatives: Vec<(Value, Class)> = match node {
            Value::Object(_) => vec![
                (json!([]), Class::Refused),
                (json!(["x"]), Class::Refused),
                (json!("x"), Class::Refused),
                (json!(7), Class::Refused),
                (json!(true), Class::Refused),
                (Value::Null, Class::Maybe),
            ],
            Value::Array(_) => vec![
                (json!({}), Class::Refused),
                (json!("x"), Class::Refused),
                (json!(7), Class::Refused),
                (json!(false), Class::Refused),
                (Value::Null, Class::Maybe),
            ],
            Value::String(_) => vec![
                (json!({"a": 1}), Class::Refused),
                (json!([1]), Class::Refused),
                (json!(7), Class::Maybe),
                (json!(true), Class::Maybe),
                (Value::Null, Class::Maybe),
            ],
            Value::Number(_) => vec![
                (json!({}), Class::Refused),
                (json!([]), Class::Refused),
                (json!("seven"), Class::Maybe),
                (json!(-1), Class::Maybe),
                (json!(1e300), Class::Maybe),
                (json!(u64::MAX), Class::Maybe),
                (Value::Null, Class::Maybe),
            ],
            Value::Bool(_) => vec![
                (json!({}), Class::Refused),
                (json!([]), Class::Refused),
                (json!("yes"), Class::Maybe),
                (json!(1), Class::Maybe),
                (Value::Null, Class::Maybe),
            ],
            Value::Null => vec![],
        };
        let in_template = matches!(at.get(1), Some(Step::Key(k)) if k == "template" || k == "parameters")
            && matches!(at.first(), Some(Step::Key(k)) if k == "properties");
        if !at.is_empty() {
            for (alt, class) in alternatives {
                let mut v = root.clone();
                *pointer_mut(&mut v, at) = alt.clone();
                let class = if in_template { Class::Maybe } else { class };
                out.push((format!("{} = {alt}", path_text(at)), v, class));
            }
        }
        match node {
            Value::Object(m) => {
                for (k, child) in m {
                    at.push(Step::Key(k.clone()));
                    walk(root, at, child, out);
                    at.pop();
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate().take(2) {
                    at.push(Step::Index(i));
                    walk(root, at, child, out);
                    at.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(valid, &mut Vec::new(), valid, &mut out);
    if resource_put && valid.get("properties").is_none() {
        for alt in [json!([]), json!("x"), json!(7), json!(false)] {
            let mut v = valid.clone();
            v["properties"] = alt.clone();
            out.push((format!("properties = {alt}"), v, Class::Refused));
        }
    }
    out
}

#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn pointer_mut<'a>(v: &'a mut Value, at: &[Step]) -> &'a mut Value {
    at.iter().fold(v, |v, s| match s {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

fn path_text(at: &[Step]) -> String {
    let mut s = String::new();
    for step in at {
        match step {
            Step::Key(k) if s.is_empty() => s.push_str(k),
            Step::Key(k) => s.push_str(&format!(".{k}")),
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Query strings no operation takes (`{v}` is a good api-version).
fn junk_queries(v: &str) -> Vec<String> {
    vec![
        String::new(),
        "api-version=".into(),
        "api-version=junk".into(),
        format!("api-version={v}&api-version=1999-01-01"),
        format!("api-version={v}&$filter=%ZZ%"),
        format!("api-version={v}&$top=-1"),
        format!("api-version={v}&$top=99999999999999999999999"),
        format!("api-version={v}&$top=abc"),
        format!("api-version={v}&$skipToken=%00%ff"),
        format!("api-version={v}&$skipToken={}", "A".repeat(4000)),
        format!("api-version={v}&$filter=resourceType%20eq%20'"),
        format!("api-version={v}&$filter={}", "(".repeat(3000)),
        format!("api-version={v}&$expand=*&%00=%00"),
        format!("api-version={v}&&&==&"),
        format!("api-version={v}%00"),
    ]
}

// ---- the sweep ------------------------------------------------------------------

/// Every GET the world answers, by target: what the sweep must not change.
fn snapshot(arm: &mut Arm, ops: &[String], world: &World) -> BTreeMap<String, (u16, String)> {
    let mut out = BTreeMap::new();
    for op in ops.iter().filter(|o| o.starts_with("GET ")) {
        let Some(path) = fill(op, world, false) else {
            continue;
        };
        let target = format!("{path}?api-version={}", version(op));
        let a = arm.call("GET", &target, None);
        // What junk at absent names may have made is not the sweep's concern here.
        let text = match serde_json::from_slice::<Value>(&a.body) {
            Ok(mut v) => {
                without_absent(&mut v);
                v.to_string()
            }
            Err(_) => a.text(),
        };
        out.insert(target, (a.status, text));
    }
    let world = arm.raw.send("GET", HOST, "/_emulator/world", &[], b"");
    let mut w = world.json();
    w.as_object_mut().map(|o| o.remove("now"));
    // What junk at absent names may have made is not the sweep's concern here.
    without_absent(&mut w);
    out.insert("/_emulator/world".into(), (world.status, w.to_string()));
    out
}

/// `v` without the entries that mention [`ABSENT`] names.
fn without_absent(v: &mut Value) {
    let mentions = |v: &Value| v.to_string().to_ascii_lowercase().contains(ABSENT);
    match v {
        Value::Array(a) => {
            a.retain(|e| !mentions(e));
            a.iter_mut().for_each(without_absent);
        }
        Value::Object(o) => {
            o.retain(|k, e| !k.to_ascii_lowercase().contains(ABSENT) && !mentions(e));
            o.values_mut().for_each(without_absent);
        }
        _ => {}
    }
}

/// Is this answer a whole, non-5xx answer in ARM's shape?
fn check_arm(what: &str, method: &str, a: &Answer, failures: &mut Vec<String>) {
    if a.status >= 500 {
        failures.push(format!("{what}: {} {}", a.status, truncate(&a.text())));
    } else if a.status >= 400 && method != "HEAD" && !a.json()["error"]["code"].is_string() {
        failures.push(format!(
            "{what}: {} not in ARM's shape: {}",
            a.status,
            truncate(&a.text())
        ));
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(400).collect()
}

/// What a POST action does with its body.
#[derive(PartialEq)]
enum Action {
    /// Reads it: junk is refused.
    ReadsBody,
    /// Ignores it and only reads state: junk may be answered as the action.
    Reads,
    /// Ignores it and acts: junk goes only to targets that do not exist.
    Acts,
}

fn action(op: &str) -> Action {
    let ends = |list: &[&str]| list.iter().any(|a| op.ends_with(a));
    if ends(&[
        "/checkNameAvailability",
        "/regenerateCredential",
        "/generateCredentials",
        "/scheduleRun",
        "/validate",
        "/whatIf",
    ]) {
        Action::ReadsBody
    } else if ends(&["/listCredentials", "/listDetails", "/exportTemplate"]) {
        Action::Reads
    } else {
        Action::Acts
    }
}

/// Which requests a pass of the sweep sends.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Pass {
    /// Refused junk at targets that do not exist: nothing anywhere may change.
    AbsentRefused,
    /// Perhaps-valid junk at targets that do not exist (it may make them, and
    /// what making them does to their parents is legitimate).
    AbsentMaybe,
    /// Junk at the existing resources: refused writes, junk reads; nothing may change.
    Existing,
}

/// One pass over every operation; the number of requests sent.
fn sweep(
    arm: &mut Arm,
    ops: &[String],
    world: &World,
    pass: Pass,
    failures: &mut Vec<String>,
) -> usize {
    let junk = junk_bodies();
    let mut sent = 0usize;
    // `AZEMU_SWEEP_ONLY=<text>` sweeps only the operations that contain it (for debugging).
    let only = std::env::var("AZEMU_SWEEP_ONLY").unwrap_or_default();
    for op in ops.iter().filter(|o| o.contains(&only)) {
        let method = op.split(' ').next().unwrap();
        let v = version(op);
        // Must junk sent to an existing target be refused?
        let must_refuse = matches!(method, "PUT" | "PATCH")
            || (method == "POST" && action(op) == Action::ReadsBody);
        let target = match pass {
            Pass::Existing => {
                let acts = match method {
                    "GET" | "HEAD" | "PUT" | "PATCH" => true,
                    "POST" => action(op) != Action::Acts,
                    _ => false,
                };
                fill(op, world, false).filter(|_| acts)
            }
            Pass::AbsentRefused | Pass::AbsentMaybe => fill(op, world, true),
        };
        let Some(path) = target else {
            continue;
        };
        // Bodies matter where they are read; elsewhere two kinds of junk will do.
        let mut bodies: Vec<(String, Vec<u8>, Class)> = if must_refuse {
            junk.clone()
        } else {
            junk.iter()
                .filter(|(w, ..)| w == "not JSON" || w == "huge string as properties")
                .cloned()
                .collect()
        };
        if let Some(valid) = valid_body(op, world) {
            bodies.extend(
                mutations(&valid, method == "PUT")
                    .into_iter()
                    .map(|(what, v, class)| (what, v.to_string().into_bytes(), class)),
            );
        }
        let reads = matches!(method, "GET" | "HEAD");
        for (what, body, class) in &bodies {
            // Fields a body does not have are ignored (only a resource has `properties`).
            let class = if what == "huge string as properties" && method != "PUT" {
                Class::Maybe
            } else {
                *class
            };
            let send = match pass {
                Pass::AbsentRefused => class == Class::Refused,
                Pass::AbsentMaybe => class == Class::Maybe,
                Pass::Existing => class == Class::Refused || reads,
            };
            // The biggest body costs the most: once per write type is plenty.
            if !send || (what == "huge string" && (method != "PUT" || pass == Pass::Existing)) {
                continue;
            }
            let a = arm.call(method, &format!("{path}?api-version={v}"), Some(body));
            sent += 1;
            let label = format!("{op} [{path}] body {what}");
            check_arm(&label, method, &a, failures);
            if pass != Pass::AbsentMaybe
                && class == Class::Refused
                && must_refuse
                && (200..300).contains(&a.status)
            {
                failures.push(format!("{label}: accepted ({})", a.status));
            }
        }
        if reads && pass != Pass::AbsentMaybe {
            for q in junk_queries(v) {
                let a = arm.call(method, &format!("{path}?{q}"), None);
                sent += 1;
                check_arm(
                    &format!("{op} [{path}] query {}", truncate(&q)),
                    method,
                    &a,
                    failures,
                );
            }
        }
    }
    sent
}

/// Every difference between two snapshots, as failures.
fn compare(
    when: &str,
    before: &BTreeMap<String, (u16, String)>,
    after: &BTreeMap<String, (u16, String)>,
    failures: &mut Vec<String>,
) {
    for (target, was) in before {
        let now = &after[target];
        if was != now {
            // Show where they part.
            let at = was
                .1
                .chars()
                .zip(now.1.chars())
                .take_while(|(a, b)| a == b)
                .count()
                .saturating_sub(200);
            let from = |s: &str| s.chars().skip(at).take(600).collect::<String>();
            failures.push(format!(
                "{target} changed by {when}:\n  before {} …{}\n  after  {} …{}",
                was.0,
                from(&was.1),
                now.0,
                from(&now.1)
            ));
        }
    }
}

/// A running emulator with the world built: it, a connection, the routes it
/// serves, the world's names and the owner's bearer header.
fn swept_world() -> (Emulator, Raw, Vec<String>, World, String) {
    let em = Emulator::start();
    let mut raw = Raw::new(em.port);
    let ops = operations(&mut raw);
    let world = build_world(&mut raw, &ops);
    let bearer = format!(
        "Bearer {}",
        token(&mut raw, "https://management.azure.com/.default")
    );
    (em, raw, ops, world, bearer)
}

#[test]
fn every_arm_route_survives_malformed_input() {
    let (_em, mut raw, ops, world, bearer) = swept_world();
    let mut arm = Arm {
        raw: &mut raw,
        bearer,
    };
    let mut failures = Vec::new();
    let mut sent = 0;
    let before = snapshot(&mut arm, &ops, &world);
    sent += sweep(&mut arm, &ops, &world, Pass::AbsentRefused, &mut failures);
    let after = snapshot(&mut arm, &ops, &world);
    compare(
        "refused junk at absent names",
        &before,
        &after,
        &mut failures,
    );
    sent += sweep(&mut arm, &ops, &world, Pass::AbsentMaybe, &mut failures);
    let before = snapshot(&mut arm, &ops, &world);
    sent += sweep(&mut arm, &ops, &world, Pass::Existing, &mut failures);
    let after = snapshot(&mut arm, &ops, &world);
    compare("junk at existing resources", &before, &after, &mut failures);
    assert!(
        failures.is_empty(),
        "{} of {sent} requests went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---- a panic is contained -------------------------------------------------------

/// (plane, host, method, path, headers, body, is the answer in the plane's shape?)
type PanicCase<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    Vec<(&'a str, &'a str)>,
    &'a [u8],
    Box<dyn Fn(&Answer) -> bool>,
);

/// A panic while a request is handled (injected by a test-only fault rule)
/// becomes a 500 in the plane's own shape; the same keep-alive connection
/// then serves the next request, the process lives on, and the panic is logged.
#[test]
fn a_panicking_handler_answers_500_in_its_planes_shape() {
    // Without the flag, panic rules are refused.
    let em = Emulator::start();
    let mut raw = Raw::new(em.port);
    let a = raw.send(
        "POST",
        HOST,
        "/_emulator/faults",
        &[("Content-Type", "application/json")],
        br#"{"path":"/","panic":true}"#,
    );
    assert_eq!(a.status, 400, "{}", a.text());
    assert_eq!(
        a.json(),
        json!({"error": {"code": "InvalidParameter", "message": "'panic' rules are for tests: start the emulator with --enable-test-panics."}})
    );
    drop(em);

    let em = Emulator::start_logged(&["--enable-test-panics"]);
    let port = em.port;
    let mut raw = Raw::new(port);
    let arm = token(&mut raw, "https://management.azure.com/.default");
    let graph = token(&mut raw, "https://graph.microsoft.com/.default");
    let arm = format!("Bearer {arm}");
    let graph = format!("Bearer {graph}");
    let form = "grant_type=client_credentials";
    let cases: Vec<PanicCase> = vec![
        (
            "ARM",
            HOST,
            "GET",
            "/subscriptions?api-version=2022-12-01",
            vec![("Authorization", arm.as_str())],
            b"",
            Box::new(|a: &Answer| {
                a.json()
                    == json!({"error": {"code": "InternalServerError", "message": "Encountered internal server error. Diagnostic information: timestamp, correlation id."}})
            }),
        ),
        (
            "registry",
            "panicreg.azurecr.io",
            "GET",
            "/v2/",
            vec![],
            b"",
            Box::new(|a: &Answer| {
                a.json() == json!({"errors": [{"code": "UNKNOWN", "message": "unknown error"}]})
            }),
        ),
        (
            "Entra",
            HOST,
            "POST",
            "/a2e0a2e0-0000-4000-8000-000000000001/oauth2/v2.0/token",
            vec![("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
            Box::new(|a: &Answer| {
                let b = a.json();
                b["error"] == "server_error"
                    && b["error_codes"] == json!([50000])
                    && b["error_description"].as_str().is_some_and(|d| {
                        d.starts_with("AADSTS50000: There was an error issuing a token or an issue with our sign-in service. Trace ID: ")
                    })
            }),
        ),
        (
            "Graph",
            HOST,
            "GET",
            "/v1.0/servicePrincipals",
            vec![("Authorization", graph.as_str())],
            b"",
            Box::new(|a: &Answer| {
                let b = a.json();
                b["error"]["code"] == "generalException"
                    && b["error"]["message"] == "An internal server error occurred."
            }),
        ),
        (
            "Storage",
            "azemutasklogs.blob.core.windows.net",
            "GET",
            "/logs/anything",
            vec![],
            b"",
            Box::new(|a: &Answer| {
                a.header("content-type") == Some("application/xml")
                    && a.header("x-ms-error-code") == Some("InternalError")
                    && a.text().contains("<Error><Code>InternalError</Code><Message>The server encountered an internal error. Please retry the request.\nRequestId:")
            }),
        ),
    ];
    for (plane, host, method, path, headers, body, shaped) in &cases {
        let rule = json!({"host": host, "path": path.split('?').next().unwrap(), "panic": true, "times": 1});
        let made = raw.send(
            "POST",
            HOST,
            "/_emulator/faults",
            &[("Content-Type", "application/json")],
            rule.to_string().as_bytes(),
        );
        assert_eq!(made.status, 201, "{}", made.text());
        let a = raw.send(method, host, path, headers, body);
        assert_eq!(a.status, 500, "{plane}: {}", a.text());
        assert!(shaped(&a), "{plane}: {} {}", a.status, a.text());
        assert!(raw.is_open(), "{plane}: the connection was closed");
        // The same connection serves the next request; the rule was used up.
        let next = raw
            .try_send("GET", HOST, "/_emulator/health", &[], b"")
            .unwrap_or_else(|e| panic!("{plane}: the next request got no answer: {e}"));
        assert_eq!(next.status, 200, "{plane}");
        assert!(
            raw.is_open(),
            "{plane}: the connection was closed after the next answer"
        );
    }
    // The process is alive, on a new connection too.
    let a = Raw::new(port).send("GET", HOST, "/_emulator/health", &[], b"");
    assert_eq!(a.status, 200);
    let log = em.log();
    let logged = log
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains("injected test panic (fault rule "))
        .count();
    assert_eq!(
        logged,
        cases.len(),
        "each panic is logged at error level:\n{log}"
    );
}

// ---- the clock ------------------------------------------------------------------

/// `POST /_emulator/clock/advance` with a value out of range answers 400 and
/// leaves the clock where it was, and usable.
#[test]
fn the_clock_refuses_out_of_range_moves() {
    let em = Emulator::start();
    let mut raw = Raw::new(em.port);
    let not_a_number = json!({"error": {"code": "InvalidParameter",
        "message": "Query parameter 'seconds' must be a non-negative whole number."}});
    for q in [
        "seconds=-5",
        "seconds=NaN",
        "seconds=abc",
        "seconds=1e9",
        "seconds=1.5",
        "seconds=",
        "",
        "seconds=%00",
        "seconds=99999999999999999999999",
        "seconds=-9223372036854775808",
    ] {
        let a = raw.send(
            "POST",
            HOST,
            &format!("/_emulator/clock/advance?{q}"),
            JSON,
            b"",
        );
        assert_eq!((a.status, a.json()), (400, not_a_number.clone()), "{q}");
    }
    for q in [
        "seconds=9223372036854775807",
        "seconds=999999999999",
        "seconds=300000000000",
    ] {
        let a = raw.send(
            "POST",
            HOST,
            &format!("/_emulator/clock/advance?{q}"),
            JSON,
            b"",
        );
        assert_eq!(a.status, 400, "{q}: {}", a.text());
        let b = a.json();
        assert_eq!(b["error"]["code"], "InvalidParameter");
        let m = b["error"]["message"].as_str().unwrap();
        assert!(
            m.starts_with("Query parameter 'seconds' must be a whole number from 0 to ")
                && m.ends_with(": emulated time stays before 9000-01-01T00:00:00.0000000Z."),
            "{m}"
        );
    }
    // Nothing moved, and the clock still moves and tells the time.
    let clock = raw.send("GET", HOST, "/_emulator/clock", &[], b"").json();
    assert_eq!(clock["offsetSeconds"], 0, "{clock}");
    let a = raw.send(
        "POST",
        HOST,
        "/_emulator/clock/advance?seconds=3600",
        JSON,
        b"",
    );
    assert_eq!(
        (a.status, a.json()["offsetSeconds"].clone()),
        (200, json!(3600))
    );
    // Tokens (issued and checked against the clock) still work.
    let bearer = format!(
        "Bearer {}",
        token(&mut raw, "https://management.azure.com/.default")
    );
    let a = raw.send(
        "GET",
        HOST,
        "/subscriptions?api-version=2022-12-01",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(a.status, 200, "{}", a.text());
}

// ---- linear costs ---------------------------------------------------------------

/// A new resource group (made with reqwest, as the owner): its path.
async fn group(em: &Emulator, owner: &str, name: &str) -> String {
    let rg = format!("{}/resourceGroups/{name}", sub());
    let (s, b) = em
        .arm(
            owner,
            reqwest::Method::PUT,
            &format!("{rg}?api-version=2024-07-01"),
            Some(json!({"location": "eastus"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    rg
}

/// A VNet takes Azure's 3,000 subnets inline (checked for overlaps sorted, not
/// pair by pair); the 3,001st is refused, inline or as a child.
#[tokio::test]
async fn a_vnet_takes_3000_subnets_and_refuses_more() {
    use reqwest::Method;
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let rg = group(&em, &owner, "many").await;
    let subnets = |n: u32| -> Vec<Value> {
        // /28 blocks in 10.0.0.0/8, listed backwards (the check sorts them).
        (0..n)
            .rev()
            .map(|i| {
                let net = 0x0a00_0000u32 + i * 16;
                json!({"name": format!("s{i}"), "properties": {"addressPrefix": format!("{}/28", std::net::Ipv4Addr::from(net))}})
            })
            .collect()
    };
    let vnet = |name: &str, subnets: Vec<Value>| {
        (
            format!(
                "{rg}/providers/Microsoft.Network/virtualNetworks/{name}?api-version=2024-05-01"
            ),
            json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/8"]}, "subnets": subnets}}),
        )
    };
    let (path, body) = vnet("v3000", subnets(3000));
    let (s, b) = em.arm(&owner, Method::PUT, &path, Some(body)).await;
    assert_eq!(s, 201, "{}", b["error"]);
    let (_, got) = em.arm(&owner, Method::GET, &path, None).await;
    assert_eq!(
        got["properties"]["subnets"].as_array().map(Vec::len),
        Some(3000)
    );

    let (path, body) = vnet("v3001", subnets(3001));
    let (s, b) = em.arm(&owner, Method::PUT, &path, Some(body)).await;
    assert_eq!(
        (s, b),
        (
            400,
            json!({"error": {"code": "SubnetsPerVirtualNetworkLimitReached",
            "message": "Virtual network 'v3001' cannot have 3001 subnets: the limit is 3000 subnets per virtual network."}})
        )
    );
    let (s, _) = em.arm(&owner, Method::GET, &path, None).await;
    assert_eq!(s, 404, "nothing was made");
    // One more as a child of the full one.
    let (s, b) = em
        .arm(
            &owner,
            Method::PUT,
            &format!("{rg}/providers/Microsoft.Network/virtualNetworks/v3000/subnets/extra?api-version=2024-05-01"),
            Some(json!({"properties": {"addressPrefix": "10.255.0.0/24"}})),
        )
        .await;
    assert_eq!(
        (s, b),
        (
            400,
            json!({"error": {"code": "SubnetsPerVirtualNetworkLimitReached",
            "message": "Virtual network 'v3000' cannot have 3001 subnets: the limit is 3000 subnets per virtual network."}})
        )
    );
    // An overlap among thousands is found, and named as Azure names it.
    let mut clash = subnets(2999);
    clash.push(json!({"name": "clash", "properties": {"addressPrefix": "10.0.0.0/24"}}));
    let (path, body) = vnet("vclash", clash);
    let (s, b) = em.arm(&owner, Method::PUT, &path, Some(body)).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"]["code"], "NetcfgSubnetRangesOverlap", "{b}");
    let m = b["error"]["message"].as_str().unwrap();
    assert!(
        m.starts_with("Subnet 'clash' is not valid because its IP address range overlaps with that of an existing subnet 's")
            && m.ends_with("' in virtual network 'vclash'."),
        "{m}"
    );
}

// ---- wrong-typed fields, exactly -------------------------------------------------

/// ARM's wording for a body it cannot read (Newtonsoft.Json's messages inside).
fn undeserializable(detail: &str) -> Value {
    json!({"error": {"code": "InvalidRequestContent",
        "message": format!("The request content was invalid and could not be deserialized: '{detail}'.")}})
}

fn array_into(ty: &str, path: &str, position: usize) -> Value {
    undeserializable(&format!(
        "Cannot deserialize the current JSON array (e.g. [1,2,3]) into type '{ty}' because the type requires a JSON object (e.g. {{\"name\":\"value\"}}) to deserialize correctly.\r\nTo fix this error either change the JSON to a JSON object (e.g. {{\"name\":\"value\"}}) or change the deserialized type to an array or a type that implements a collection interface (e.g. ICollection, IList) like List<T> that can be deserialized from a JSON array. JsonArrayAttribute can also be added to the type to force it to deserialize from a JSON array.\r\nPath '{path}', line 1, position {position}."
    ))
}

fn object_into(ty: &str, path: &str, position: usize) -> Value {
    undeserializable(&format!(
        "Cannot deserialize the current JSON object (e.g. {{\"name\":\"value\"}}) into type '{ty}' because the type requires a JSON array (e.g. [1,2,3]) to deserialize correctly.\r\nTo fix this error either change the JSON to a JSON array (e.g. [1,2,3]) or change the deserialized type so that it is a normal .NET type (e.g. not a primitive type like integer, not a collection type like an array or List<T>) that can be deserialized from a JSON object. JsonObjectAttribute can also be added to the type to force it to deserialize from a JSON object.\r\nPath '{path}', line 1, position {position}."
    ))
}

fn converting(value: &str, ty: &str, path: &str, position: usize) -> Value {
    undeserializable(&format!(
        "Error converting value {value} to type '{ty}'. Path '{path}', line 1, position {position}."
    ))
}

/// Wrong-typed `properties` and nested fields on each kind of resource: 400
/// `InvalidRequestContent` with the path and position, and nothing is made.
#[tokio::test]
async fn wrong_typed_fields_get_invalid_request_content() {
    use reqwest::Method;
    let em = Emulator::start();
    let owner = em.arm_token().await;
    let rg = group(&em, &owner, "typed").await;
    let cg = format!(
        "{rg}/providers/Microsoft.ContainerInstance/containerGroups/cg?api-version=2023-05-01"
    );
    let reg = format!(
        "{rg}/providers/Microsoft.ContainerRegistry/registries/typedreg01?api-version=2023-07-01"
    );
    let vnet = format!("{rg}/providers/Microsoft.Network/virtualNetworks/v?api-version=2024-05-01");
    let group = format!("{}/resourceGroups/typed2?api-version=2024-07-01", sub());
    let deployment =
        format!("{rg}/providers/Microsoft.Resources/deployments/d?api-version=2024-07-01");
    // A parameters file sent whole, as ARM's recorded error shows it.
    let schema =
        "https://schema.management.azure.com/schemas/2015-01-01/deploymentParameters.json#";
    let whole_file = format!(
        r#"{{"properties":{{"mode":"Incremental","template":{{}},"parameters":{{"$schema":"{schema}"}}}}}}"#
    );
    let list = "System.Collections.Generic.List`1";
    let tags = "System.Collections.Generic.Dictionary`2[System.String,System.String]";
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            &deployment,
            &whole_file,
            converting(
                &format!("\"{schema}\""),
                "Azure.Deployments.Core.Definitions.DeploymentParameterDefinition",
                "properties.parameters.$schema",
                157,
            ),
        ),
        (
            &cg,
            r#"{"location":"eastus","properties":[]}"#,
            array_into("ContainerGroupProperties", "properties", 35),
        ),
        (
            &cg,
            r#"{"location":"eastus","properties":"x"}"#,
            converting("\"x\"", "ContainerGroupProperties", "properties", 37),
        ),
        (
            &cg,
            r#"{"location":"eastus","properties":7}"#,
            converting("7", "ContainerGroupProperties", "properties", 35),
        ),
        (
            &cg,
            r#"{"location":"eastus","properties":true}"#,
            converting("True", "ContainerGroupProperties", "properties", 38),
        ),
        (
            &cg,
            r#"{"location":"eastus","properties":{"containers":"x"}}"#,
            converting(
                "\"x\"",
                &format!("{list}[Container]"),
                "properties.containers",
                51,
            ),
        ),
        (
            &cg,
            r#"{"location":"eastus","properties":{"containers":{}}}"#,
            object_into(&format!("{list}[Container]"), "properties.containers", 49),
        ),
        (
            &cg,
            r#"{"location":"eastus","identity":[]}"#,
            array_into("ContainerGroupIdentity", "identity", 33),
        ),
        (
            &reg,
            r#"{"location":"eastus","sku":"Premium"}"#,
            converting("\"Premium\"", "Sku", "sku", 36),
        ),
        (
            &reg,
            r#"{"location":"eastus","sku":{"name":"Basic"},"properties":{"networkRuleSet":"x"}}"#,
            converting("\"x\"", "NetworkRuleSet", "properties.networkRuleSet", 78),
        ),
        (
            &reg,
            r#"{"location":"eastus","sku":{"name":"Basic"},"tags":["a"]}"#,
            array_into(tags, "tags", 52),
        ),
        (
            &vnet,
            r#"{"location":"eastus","properties":{"addressSpace":[]}}"#,
            array_into("AddressSpace", "properties.addressSpace", 51),
        ),
        (
            &vnet,
            r#"{"location":"eastus","properties":{"addressSpace":{"addressPrefixes":["10.0.0.0/16"]},"subnets":"x"}}"#,
            converting(
                "\"x\"",
                &format!("{list}[Subnet]"),
                "properties.subnets",
                99,
            ),
        ),
        (
            &group,
            r#"{"location":[]}"#,
            undeserializable(
                "Unexpected character encountered while parsing value: [. Path 'location', line 1, position 12.",
            ),
        ),
    ];
    for (path, body, want) in cases {
        let got = crate::hostile::put_raw(&em, path, body.as_bytes().to_vec()).await;
        assert_eq!(got, (400, want), "{path} {body}");
        assert_eq!(
            em.arm(&owner, Method::GET, path, None).await.0,
            404,
            "{path}: nothing made"
        );
    }
}

// ---- path tricks ----------------------------------------------------------------

/// The same path, spelled so that a server resolving dot segments, decoding
/// slashes or folding case differently from its authorization would act
/// elsewhere: `a/../b`, `%2e%2e`, `%2F`, `//`, casing, trailing slashes.
/// (`escapes`: the spellings that would land in group `b`; `same`: the ones
/// that name the same resource.)
fn spellings(path: &str, a: &str, b: &str) -> (Vec<String>, Vec<String>) {
    let rg = format!("/resourcegroups/{a}");
    let mut escapes = Vec::new();
    if let Some(i) = path
        .to_ascii_lowercase()
        .find(&format!("{rg}/"))
        .or_else(|| {
            path.to_ascii_lowercase()
                .ends_with(&rg)
                .then(|| path.len() - rg.len())
        })
    {
        let (head, rest) = path.split_at(i + rg.len());
        for via in [
            format!("/../{b}"),
            format!("/%2e%2e/{b}"),
            format!("/%2E%2E/{b}"),
            format!("%2F..%2F{b}"),
            format!("/..%2f{b}"),
            format!("/.%2e/{b}"),
            format!("/./../{b}"),
            format!("/..;/{b}"),
            format!("%5C..%5C{b}"),
        ] {
            escapes.push(format!("{head}{via}{rest}"));
        }
        // Dot segments deep in a resource path, climbing back to `b`.
        if rest.len() > 1 {
            escapes.push(format!(
                "{path}/../../../../../../../../resourceGroups/{b}{rest}"
            ));
        }
    }
    let swapped: String = path
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    let same = vec![
        path.replace('/', "//"),
        swapped,
        format!("{path}/"),
        format!("{path}//"),
        path.replacen("/providers/", "/providers%2F", 1),
        path.replace("/resourcegroups/", "/resourceGroups/./"),
    ];
    (escapes, same)
}

/// The ids an answer names (its own, or its list's), case-folded.
fn ids(a: &Answer) -> Vec<String> {
    let v = a.json();
    let mut out: Vec<String> = v["value"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(std::iter::once(&v))
        .filter_map(|x| x["id"].as_str())
        .map(str::to_ascii_lowercase)
        .collect();
    out.sort();
    out
}

/// A principal that may write in group `a` only tries every route, spelled
/// every tricky way: a spelling that would land in group `b` is refused (or,
/// for what reads the same from any scope, answers as the plain path does),
/// one that names the same resource answers as the plain path does (or is
/// refused), and nothing in `b` changes.
#[test]
fn path_tricks_reach_the_same_resource_or_are_refused() {
    let (_em, mut raw, ops, world, owner) = swept_world();
    let b = "sweepb";
    let b_rg = format!("{}/resourceGroups/{b}", sub());
    let b_reads: Vec<(String, &str)> = vec![
        (b_rg.clone(), "2024-07-01"),
        (format!("{b_rg}/resources"), "2024-07-01"),
        (
            format!("{b_rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"),
            "2023-01-31",
        ),
        (
            format!("{b_rg}/providers/Microsoft.Network/virtualNetworks/vn1"),
            "2024-05-01",
        ),
        (
            format!("{b_rg}/providers/Microsoft.Network/privateDnsZones/{ZONE}/A/rec1"),
            "2018-09-01",
        ),
        (
            format!("{b_rg}/providers/Microsoft.Authorization/roleAssignments"),
            "2022-04-01",
        ),
    ];
    {
        let mut arm = Arm {
            raw: &mut raw,
            bearer: owner.clone(),
        };
        arm.ok(
            "PUT",
            &b_rg,
            "2024-07-01",
            Some(json!({"location": "eastus"})),
        );
        for (path, version, body) in [
            (&b_reads[2].0, "2023-01-31", json!({"location": "eastus"})),
            (
                &b_reads[3].0,
                "2024-05-01",
                json!({"location": "eastus", "properties": {
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "subnets": [{"name": "sn2", "properties": {"addressPrefix": "10.0.1.0/24"}}]}}),
            ),
            (
                &format!("{b_rg}/providers/Microsoft.Network/privateDnsZones/{ZONE}"),
                "2018-09-01",
                json!({"location": "global"}),
            ),
            (
                &b_reads[4].0,
                "2018-09-01",
                json!({"properties": {"ttl": 60, "aRecords": [{"ipv4Address": "10.9.9.9"}]}}),
            ),
        ] {
            arm.ok("PUT", path, version, Some(body));
        }
    }
    // Contributor on group `a` (the sweep's) only.
    let made = raw
        .send(
            "POST",
            HOST,
            "/_emulator/principals",
            &[("Content-Type", "application/json")],
            br#"{"displayName":"narrow"}"#,
        )
        .json();
    {
        let mut arm = Arm {
            raw: &mut raw,
            bearer: owner.clone(),
        };
        arm.ok(
            "PUT",
            &format!("{}/providers/Microsoft.Authorization/roleAssignments/5a1e0000-0000-4000-8000-00000000c0de", rg()),
            "2022-04-01",
            Some(json!({"properties": {
                "roleDefinitionId": format!("{}/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c", sub()),
                "principalId": made["objectId"], "principalType": "ServicePrincipal"}})),
        );
    }
    let narrow = {
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&scope=https://management.azure.com/.default",
            made["appId"].as_str().unwrap(),
            made["secret"].as_str().unwrap()
        );
        let a = raw.send(
            "POST",
            HOST,
            &format!("/{TENANT}/oauth2/v2.0/token"),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        );
        format!("Bearer {}", a.json()["access_token"].as_str().unwrap())
    };
    let read_b = |raw: &mut Raw| -> Vec<(u16, String)> {
        b_reads
            .iter()
            .map(|(p, v)| {
                let a = raw.send(
                    "GET",
                    HOST,
                    &format!("{p}?api-version={v}"),
                    &[("Authorization", &owner)],
                    b"",
                );
                (a.status, a.text())
            })
            .collect()
    };
    let before = read_b(&mut raw);
    let mut failures = Vec::new();
    let mut sent = 0;
    let only = std::env::var("AZEMU_SWEEP_ONLY").unwrap_or_default();
    for op in ops.iter().filter(|o| o.contains(&only)) {
        let method = op.split(' ').next().unwrap();
        let v = version(op);
        // Deletes and acting POSTs aim at names that do not exist in `a`.
        let acts = method == "DELETE" || (method == "POST" && action(op) == Action::Acts);
        let Some(path) = fill(op, &world, acts) else {
            continue;
        };
        let body = valid_body(op, &world).map(|b| b.to_string().into_bytes());
        let mut call = |target: &str| {
            let mut headers = vec![("Authorization", narrow.as_str())];
            if body.is_some() {
                headers.push(("Content-Type", "application/json"));
            }
            sent += 1;
            raw.try_send(
                method,
                HOST,
                &format!("{target}?api-version={v}"),
                &headers,
                body.as_deref().unwrap_or_default(),
            )
        };
        let plain = match call(&path) {
            Ok(a) => a,
            Err(e) => {
                failures.push(format!("{op} [{path}]: no whole answer: {e}"));
                continue;
            }
        };
        let (escapes, same) = spellings(&path, RG, b);
        for target in escapes {
            match call(&target) {
                Err(e) => failures.push(format!("{op} [{target}]: no whole answer: {e}")),
                Ok(a) => {
                    check_arm(&format!("{op} [{target}]"), method, &a, &mut failures);
                    // Answered at all, it is the same resource (a role
                    // definition reads the same from any scope), never b's.
                    let in_b = ids(&a)
                        .iter()
                        .any(|id| id.contains(&format!("/resourcegroups/{b}")));
                    if (200..300).contains(&a.status) && (in_b || ids(&a) != ids(&plain)) {
                        failures.push(format!(
                            "{op} [{target}]: a spelling that would land in '{b}' answered {} {}",
                            a.status,
                            truncate(&a.text())
                        ));
                    }
                }
            }
        }
        for target in same {
            match call(&target) {
                Err(e) => failures.push(format!("{op} [{target}]: no whole answer: {e}")),
                Ok(a) => {
                    check_arm(&format!("{op} [{target}]"), method, &a, &mut failures);
                    let reads = matches!(method, "GET" | "HEAD");
                    if reads
                        && (200..300).contains(&a.status)
                        && (a.status, ids(&a)) != (plain.status, ids(&plain))
                    {
                        failures.push(format!(
                            "{op} [{target}]: {} {:?}, where the plain path answers {} {:?}",
                            a.status,
                            ids(&a),
                            plain.status,
                            ids(&plain)
                        ));
                    }
                }
            }
        }
    }
    let after = read_b(&mut raw);
    for ((path, _), (was, now)) in b_reads.iter().zip(before.iter().zip(after.iter())) {
        if was != now {
            failures.push(format!(
                "{path} changed: {} → {}",
                truncate(&was.1),
                truncate(&now.1)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {sent} requests went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---- the data plane, Entra and Graph ---------------------------------------------

/// A 4xx from this plane is in its shape (`None`: fine).
fn shape_problem(plane: &str, method: &str, a: &Answer) -> Option<String> {
    if a.status >= 500 {
        return Some(format!("{} {}", a.status, truncate(&a.text())));
    }
    if a.status < 400 || method == "HEAD" {
        return None;
    }
    let b = a.json();
    let shaped = match plane {
        // The control API's own knobs: not Azure, only no 5xx.
        "control" => true,
        // Or, for a path its router does not route (a manifest reference of
        // neither form), ACR's recorded plain-text 404.
        "registry" => {
            b["errors"][0]["code"].is_string()
                || (a.status == 404 && a.text() == "404 page not found\n")
        }
        "entra" => b["error"].is_string() && b["error_description"].is_string(),
        // Managed-identity endpoints: IMDS's OAuth-style JSON, or App Service's
        // `{"statusCode","message","correlationId"}` on the IDENTITY_ENDPOINT style.
        "identity" => {
            (b["error"].is_string() && b["error_description"].is_string())
                || (b["statusCode"].is_u64() && b["message"].is_string())
        }
        _ => b["error"]["code"].is_string(),
    };
    (!shaped).then(|| {
        format!(
            "{} not in {plane}'s shape: {}",
            a.status,
            truncate(&a.text())
        )
    })
}

/// The registry's data plane (manifests, blobs, uploads, tags, catalog, its
/// token endpoints), Entra's token and discovery endpoints, the managed-
/// identity endpoints and Microsoft Graph get junk bodies, forms and queries:
/// a whole answer each, never a 5xx, 4xx in the plane's shape, and the image
/// pushed before reads back byte-identical.
#[test]
fn the_data_plane_entra_and_graph_survive_junk() {
    let em = Emulator::start();
    let mut raw = Raw::new(em.port);
    let arm = format!(
        "Bearer {}",
        token(&mut raw, "https://management.azure.com/.default")
    );
    let graph = format!(
        "Bearer {}",
        token(&mut raw, "https://graph.microsoft.com/.default")
    );
    let registry = "junkreg01";
    let reg_host = format!("{registry}.azurecr.io");
    let reg_path = format!(
        "{}/providers/Microsoft.ContainerRegistry/registries/{registry}",
        rg()
    );
    {
        let mut a = Arm {
            raw: &mut raw,
            bearer: arm.clone(),
        };
        a.ok(
            "PUT",
            &rg(),
            "2024-07-01",
            Some(json!({"location": "eastus"})),
        );
        a.ok("PUT", &reg_path, "2023-07-01", Some(json!({"location": "eastus", "sku": {"name": "Basic"}, "properties": {"adminUserEnabled": true}})));
    }
    em.push_sample(&format!("{reg_host}/hello-world:v1"))
        .unwrap();
    let creds = raw
        .send(
            "POST",
            HOST,
            &format!("{reg_path}/listCredentials?api-version=2023-07-01"),
            &[("Authorization", &arm)],
            b"",
        )
        .json();
    let basic = {
        use base64::Engine;
        let pair = format!(
            "{registry}:{}",
            creds["passwords"][0]["value"].as_str().unwrap()
        );
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    };
    let oci_manifest = "application/vnd.oci.image.manifest.v1+json";
    let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.index.v1+json";
    let reads: Vec<String> = [
        "/v2/hello-world/manifests/v1",
        "/v2/hello-world/tags/list",
        "/v2/_catalog",
        "/acr/v1/hello-world/_tags",
        "/acr/v1/hello-world/_tags/v1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let read_all = |raw: &mut Raw| -> Vec<(u16, Vec<u8>)> {
        reads
            .iter()
            .map(|p| {
                let a = raw.send(
                    "GET",
                    &reg_host,
                    p,
                    &[("Authorization", &basic), ("Accept", accept)],
                    b"",
                );
                (a.status, a.body)
            })
            .collect()
    };
    let before = read_all(&mut raw);
    assert!(
        before.iter().all(|(s, _)| *s == 200),
        "{:?}",
        before.iter().map(|x| x.0).collect::<Vec<_>>()
    );

    let mut failures = Vec::new();
    let mut sent = 0usize;
    let mut send = |raw: &mut Raw,
                    plane: &str,
                    method: &str,
                    host: &str,
                    target: &str,
                    headers: &[(&str, &str)],
                    body: &[u8]| {
        sent += 1;
        match raw.try_send(method, host, target, headers, body) {
            Ok(a) => {
                if let Some(p) = shape_problem(plane, method, &a) {
                    failures.push(format!("{plane} {method} {host}{} : {p}", truncate(target)));
                }
                Some(a)
            }
            Err(e) => {
                failures.push(format!(
                    "{plane} {method} {host}{}: no whole answer ({e})",
                    truncate(target)
                ));
                None
            }
        }
    };

    // -- the registry --
    let mut manifests: Vec<(String, Vec<u8>)> = junk_bodies()
        .into_iter()
        .filter(|(w, ..)| w != "huge string")
        .map(|(w, b, _)| (w, b))
        .collect();
    for (what, m) in [
        (
            "types",
            json!({"schemaVersion": "2", "mediaType": [], "config": [], "layers": "x"}),
        ),
        (
            "config types",
            json!({"schemaVersion": 2, "mediaType": oci_manifest,
            "config": {"digest": 7, "size": "x", "mediaType": {}}, "layers": [{"digest": []}]}),
        ),
        (
            "unknown blobs",
            json!({"schemaVersion": 2, "mediaType": oci_manifest,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 2,
                "digest": format!("sha256:{}", "0".repeat(64))}, "layers": []}),
        ),
        (
            "bad digest",
            json!({"schemaVersion": 2, "mediaType": oci_manifest,
            "config": {"mediaType": "x", "size": -1, "digest": "sha256:../../etc/passwd"}, "layers": [{"digest": "md5:zz", "size": 1e300}]}),
        ),
        (
            "index",
            json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": "x"}),
        ),
        (
            "index of junk",
            json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"digest": "sha256:zz", "size": "big", "platform": []}]}),
        ),
        (
            "subject",
            json!({"schemaVersion": 2, "mediaType": oci_manifest, "subject": "x",
            "config": {"mediaType": "x", "size": 2, "digest": format!("sha256:{}", "0".repeat(64))}, "layers": [], "annotations": []}),
        ),
    ] {
        manifests.push((what.to_string(), m.to_string().into_bytes()));
    }
    let auth = basic.as_str();
    for (what, body) in &manifests {
        for ct in [
            oci_manifest,
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.oci.image.index.v1+json",
            "application/json",
            "text/plain",
            "application/vnd.oci.image.manifest.v1+json; charset=junk; q=\"x",
        ] {
            for reference in [
                "v1",
                "junk-tag",
                "sha256:0000",
                "..",
                "v1%00",
                &"t".repeat(300),
            ] {
                let _ = what;
                send(
                    &mut raw,
                    "registry",
                    "PUT",
                    &reg_host,
                    &format!("/v2/hello-world/manifests/{reference}"),
                    &[("Authorization", auth), ("Content-Type", ct)],
                    body,
                );
            }
        }
    }
    let zero = format!("sha256:{}", "0".repeat(64));
    for (method, target, body) in [
        (
            "POST",
            "/v2/hello-world/blobs/uploads/?digest=junk".to_string(),
            b"abc".to_vec(),
        ),
        (
            "POST",
            "/v2/hello-world/blobs/uploads/?digest=sha256:zz".to_string(),
            b"abc".to_vec(),
        ),
        (
            "POST",
            format!("/v2/hello-world/blobs/uploads/?digest={zero}"),
            b"abc".to_vec(),
        ),
        (
            "POST",
            "/v2/hello-world/blobs/uploads/?mount=sha256:zz&from=../../x".to_string(),
            Vec::new(),
        ),
        (
            "POST",
            format!("/v2/hello-world/blobs/uploads/?mount={zero}&from=%00"),
            Vec::new(),
        ),
        (
            "PATCH",
            "/v2/hello-world/blobs/uploads/not-an-upload".to_string(),
            b"abc".to_vec(),
        ),
        (
            "PUT",
            "/v2/hello-world/blobs/uploads/not-an-upload?digest=junk".to_string(),
            Vec::new(),
        ),
        (
            "PUT",
            "/v2/hello-world/blobs/uploads/..%2f..%2f?digest=junk".to_string(),
            Vec::new(),
        ),
        (
            "DELETE",
            "/v2/hello-world/blobs/uploads/not-an-upload".to_string(),
            Vec::new(),
        ),
        (
            "GET",
            "/v2/hello-world/blobs/uploads/not-an-upload".to_string(),
            Vec::new(),
        ),
        (
            "GET",
            "/v2/hello-world/blobs/sha256:zz".to_string(),
            Vec::new(),
        ),
        ("HEAD", format!("/v2/hello-world/blobs/{zero}"), Vec::new()),
        (
            "DELETE",
            "/v2/hello-world/blobs/md5:00".to_string(),
            Vec::new(),
        ),
        (
            "DELETE",
            "/v2/hello-world/manifests/junk-tag-absent".to_string(),
            Vec::new(),
        ),
        (
            "DELETE",
            "/v2/hello-world/manifests/sha256:zz".to_string(),
            Vec::new(),
        ),
        ("GET", "/v2/_catalog?n=-1".to_string(), Vec::new()),
        (
            "GET",
            "/v2/_catalog?n=99999999999999999999999".to_string(),
            Vec::new(),
        ),
        ("GET", "/v2/_catalog?n=abc&last=%00".to_string(), Vec::new()),
        (
            "GET",
            "/v2/hello-world/tags/list?n=-5&last=zz%ff".to_string(),
            Vec::new(),
        ),
        (
            "GET",
            "/v2/hello-world/referrers/sha256:zz?artifactType=%00".to_string(),
            Vec::new(),
        ),
        (
            "GET",
            format!(
                "/v2/hello-world/referrers/{zero}?artifactType={}",
                "a".repeat(3000)
            ),
            Vec::new(),
        ),
        (
            "GET",
            "/acr/v1/hello-world/_tags?n=abc&orderby=junk&last=%00".to_string(),
            Vec::new(),
        ),
        ("GET", "/acr/v1/_catalog?n=-1".to_string(), Vec::new()),
        (
            "PATCH",
            "/acr/v1/hello-world/_tags/v1".to_string(),
            b"not json".to_vec(),
        ),
        (
            "PATCH",
            "/acr/v1/hello-world/_tags/v1".to_string(),
            br#"{"writeEnabled":"x","deleteEnabled":{}}"#.to_vec(),
        ),
        (
            "PATCH",
            "/acr/v1/hello-world/_tags/v1".to_string(),
            b"[]".to_vec(),
        ),
        (
            "PATCH",
            "/acr/v1/hello-world/_tags/nope".to_string(),
            b"{}".to_vec(),
        ),
        (
            "DELETE",
            "/acr/v1/hello-world/_tags/nope".to_string(),
            Vec::new(),
        ),
        (
            "GET",
            "/v2/%2e%2e/hello-world/manifests/v1".to_string(),
            Vec::new(),
        ),
        (
            "GET",
            "/v2/hello-world/../hello-world/manifests/v1".to_string(),
            Vec::new(),
        ),
        (
            "GET",
            "/v2//hello-world//manifests//v1".to_string(),
            Vec::new(),
        ),
        (
            "GET",
            "/v2/HELLO-WORLD/manifests/v1".to_string(),
            Vec::new(),
        ),
        (
            "GET",
            "/v2/hello-world%2Fmanifests%2Fv1".to_string(),
            Vec::new(),
        ),
        (
            "GET",
            "/v2/hello-world/manifests/v1/".to_string(),
            Vec::new(),
        ),
    ] {
        for body in [body.clone(), b"\0\0\0".to_vec()] {
            send(
                &mut raw,
                "registry",
                method,
                &reg_host,
                &target,
                &[
                    ("Authorization", auth),
                    ("Content-Range", "bytes=9-2"),
                    ("Content-Type", "application/octet-stream"),
                ],
                &body,
            );
        }
    }
    // A real upload, then junk at it.
    let upload = send(
        &mut raw,
        "registry",
        "POST",
        &reg_host,
        "/v2/hello-world/blobs/uploads/",
        &[("Authorization", auth)],
        b"",
    );
    if let Some(loc) = upload.and_then(|a| a.header("location").map(str::to_string)) {
        let loc = loc
            .split_once("azurecr.io")
            .map(|x| x.1.to_string())
            .unwrap_or(loc);
        let sep = if loc.contains('?') { '&' } else { '?' };
        for (method, target, range) in [
            ("PATCH", loc.clone(), "bytes=5-2"),
            ("PATCH", loc.clone(), "abc"),
            ("PATCH", loc.clone(), "0-18446744073709551615"),
            ("PUT", format!("{loc}{sep}digest=junk"), ""),
            ("PUT", format!("{loc}{sep}digest={zero}"), ""),
            ("GET", loc.clone(), ""),
            ("DELETE", loc.clone(), ""),
            ("PUT", format!("{loc}{sep}digest={zero}"), ""),
        ] {
            send(
                &mut raw,
                "registry",
                method,
                &reg_host,
                &target,
                &[("Authorization", auth), ("Content-Range", range)],
                b"junk bytes",
            );
        }
    }
    // Its token endpoints.
    let forms: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"not a form %zz".to_vec(),
        br#"{"grant_type":"refresh_token"}"#.to_vec(),
        b"grant_type=junk".to_vec(),
        b"grant_type=refresh_token&refresh_token=junk&service=junkreg01.azurecr.io&scope=repository:hello-world:pull".to_vec(),
        b"grant_type=password&username=&password=".to_vec(),
        b"grant_type=access_token&access_token=a.b.c&service=%00&tenant=..".to_vec(),
        b"grant_type=access_token&access_token=eyJhbGciOiJub25lIn0.eyJ9.&service=junkreg01.azurecr.io".to_vec(),
        format!("grant_type=refresh_token&scope={}", "repository:x:pull,".repeat(2000)).into_bytes(),
        b"grant_type=refresh_token&refresh_token=\0\0&scope=repository::::::".to_vec(),
    ];
    for body in &forms {
        for path in ["/oauth2/token", "/oauth2/exchange"] {
            send(
                &mut raw,
                "registry",
                "POST",
                &reg_host,
                path,
                &[("Content-Type", "application/x-www-form-urlencoded")],
                body,
            );
        }
    }
    for q in [
        "service=%00&scope=repository:..:pull",
        "scope=repository:hello-world:pull,push,*,delete&service=junkreg01.azurecr.io",
        "scope=registry:catalog:*&scope=repository:%2e%2e:pull",
        "scope=::::",
    ] {
        send(
            &mut raw,
            "registry",
            "GET",
            &reg_host,
            &format!("/oauth2/token?{q}"),
            &[("Authorization", auth)],
            b"",
        );
    }
    let after = read_all(&mut raw);
    let mut changed: Vec<String> = reads
        .iter()
        .zip(&before)
        .zip(&after)
        .filter(|((_, was), now)| was != now)
        .map(|((path, was), now)| format!("{path} changed: {} → {}", was.0, now.0))
        .collect();

    // Path tricks at the data plane: the same manifest, byte for byte, or a refusal.
    for target in [
        "/v2/%2e%2e/hello-world/manifests/v1",
        "/v2/hello-world/../hello-world/manifests/v1",
        "/v2/./hello-world/manifests/v1",
        "/v2//hello-world//manifests//v1",
        "/v2/HELLO-WORLD/manifests/v1",
        "/v2/hello-world%2Fmanifests%2Fv1",
        "/v2/hello-world/manifests/v1/",
        "/v2/hello-world/manifests/v1%2f..%2f..%2f..",
        "/v2/hello-world/manifests/V1",
        "/acr/v1/hello-world/../../v2/hello-world/manifests/v1",
    ] {
        let headers = [("Authorization", auth), ("Accept", accept)];
        if let Some(a) = send(
            &mut raw, "registry", "GET", &reg_host, target, &headers, b"",
        ) && a.status < 400
            && (a.status, &a.body) != (before[0].0, &before[0].1)
        {
            changed.push(format!(
                "registry GET {target}: {} {}",
                a.status,
                truncate(&a.text())
            ));
        }
    }
    // A manifest may declare any sizes for blobs that exist: reading the world
    // must not add them up into an overflow.
    let mut huge: Value = serde_json::from_slice(&before[0].1).unwrap();
    huge["config"]["size"] = json!(u64::MAX);
    for l in huge["layers"].as_array_mut().into_iter().flatten() {
        l["size"] = json!(u64::MAX);
    }
    let media = huge["mediaType"]
        .as_str()
        .unwrap_or(oci_manifest)
        .to_string();
    send(
        &mut raw,
        "registry",
        "PUT",
        &reg_host,
        "/v2/hello-world/manifests/huge-sizes",
        &[("Authorization", auth), ("Content-Type", &media)],
        huge.to_string().as_bytes(),
    );
    send(
        &mut raw,
        "control",
        "GET",
        HOST,
        "/_emulator/world",
        &[],
        b"",
    );

    // -- Entra: token endpoints, discovery, managed identity --
    let tenants = [
        TENANT.to_string(),
        "common".into(),
        "%00".into(),
        "..".into(),
        "x".repeat(300),
        "%2e%2e%2f".into(),
    ];
    for tenant in &tenants {
        for path in [
            format!("/{tenant}/oauth2/v2.0/token"),
            format!("/{tenant}/oauth2/token"),
        ] {
            for body in &forms {
                send(
                    &mut raw,
                    "entra",
                    "POST",
                    HOST,
                    &path,
                    &[("Content-Type", "application/x-www-form-urlencoded")],
                    body,
                );
            }
            for body in [
                format!("grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={}&scope=https://management.azure.com/.default", "x".repeat(5000)),
                format!("grant_type=client_credentials&client_id=%00&client_secret={CLIENT_SECRET}&scope=%00"),
                format!("grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}&scope=https://management.azure.com/.default&scope=x"),
                "grant_type=client_credentials&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=a.b.c&client_id=x".to_string(),
                "grant_type=client_credentials&client_id=x&resource=%ff%fe".to_string(),
            ] {
                send(&mut raw, "entra", "POST", HOST, &path,
                    &[("Content-Type", "application/x-www-form-urlencoded")], body.as_bytes());
            }
        }
        for path in [
            format!("/{tenant}/v2.0/.well-known/openid-configuration"),
            format!("/{tenant}/.well-known/openid-configuration"),
            format!("/{tenant}/discovery/v2.0/keys"),
        ] {
            send(&mut raw, "entra", "GET", HOST, &path, &[], b"");
        }
    }
    send(
        &mut raw,
        "entra",
        "GET",
        HOST,
        "/common/discovery/instance?authorization_endpoint=%00&api-version=junk",
        &[],
        b"",
    );
    for q in [
        "resource=%00&api-version=junk",
        "api-version=2018-02-01",
        "resource=https://management.azure.com/&client_id=%00&mi_res_id=..%2f..",
        "resource=https://management.azure.com/&object_id=zz&api-version=2019-08-01",
    ] {
        for path in [
            "/metadata/identity/oauth2/token",
            "/_emulator/identity/token",
            "/_emulator/identity/%2e%2e/token",
            "/_emulator/identity/nope/metadata/identity/oauth2/token",
        ] {
            send(
                &mut raw,
                "identity",
                "GET",
                HOST,
                &format!("{path}?{q}"),
                &[("Metadata", "true"), ("X-IDENTITY-HEADER", "junk")],
                b"",
            );
        }
    }

    // -- Graph --
    for target in [
        "/v1.0/servicePrincipals?$filter=junk",
        "/v1.0/servicePrincipals?$filter=appId%20eq%20'",
        "/v1.0/servicePrincipals?$filter=displayName%20eq%20'%00'&$top=-1",
        "/v1.0/servicePrincipals?$filter=servicePrincipalNames/any(c:c%20eq%20'x')&$select=%00",
        "/v1.0/servicePrincipals/%00",
        "/v1.0/servicePrincipals/..%2f..%2f",
        "/v1.0/servicePrincipals/'",
        "/v1.0/applications?$filter=appId%20eq%20",
        "/v1.0/junk/%2e%2e",
        "/v1.0/",
    ] {
        send(
            &mut raw,
            "graph",
            "GET",
            HOST,
            target,
            &[("Authorization", &graph)],
            b"",
        );
    }
    for body in [
        b"not json".to_vec(),
        b"[]".to_vec(),
        br#"{"ids":"x","types":{}}"#.to_vec(),
        br#"{"ids":[1,{},null],"types":[7]}"#.to_vec(),
        format!("{{\"ids\":[{}\"x\"]}}", "\"a\",".repeat(5000)).into_bytes(),
        Vec::new(),
    ] {
        send(
            &mut raw,
            "graph",
            "POST",
            HOST,
            "/v1.0/directoryObjects/getByIds",
            &[
                ("Authorization", &graph),
                ("Content-Type", "application/json"),
            ],
            &body,
        );
    }

    // -- the control API's inputs --
    let junk = junk_bodies();
    for path in [
        "/_emulator/principals",
        "/_emulator/faults",
        "/_emulator/explain/pull",
        "/_emulator/state/import",
        "/_emulator/state/export",
    ] {
        // (An export writes where it is told: it gets only junk that names no place.)
        let objects = [
            json!({"appId": [], "secret": {}, "displayName": 7}),
            json!({"path": 7, "image": [], "identity": {}, "subnet": 7}),
            json!({"path": ["/"], "status": 99999, "delayMs": -1, "times": "x", "host": []}),
            json!({"path": {}, "image": "%00/../x:..", "username": "a", "password": []}),
        ];
        let bodies = junk
            .iter()
            .filter(|(w, ..)| w != "huge string")
            .map(|(_, b, _)| b.clone())
            .chain(objects.iter().map(|o| o.to_string().into_bytes()));
        for body in bodies {
            send(
                &mut raw,
                "control",
                "POST",
                HOST,
                path,
                &[("Content-Type", "application/json")],
                &body,
            );
        }
    }
    for target in [
        "/_emulator/traces?limit=-1&failed=maybe&kind=%00",
        "/_emulator/traces?limit=99999999999999999999",
        "/_emulator/explain?resource=%00&format=junk",
        "/_emulator/explain?id=..&format=mermaid",
        "/_emulator/identity-endpoint?resourceId=%00",
        "/_emulator/ui/..%2f..%2fetc%2fpasswd",
        "/_emulator/faults/..%2f..",
    ] {
        send(&mut raw, "control", "GET", HOST, target, &[], b"");
    }
    failures.extend(changed);
    assert!(
        failures.is_empty(),
        "{} of {sent} requests went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
