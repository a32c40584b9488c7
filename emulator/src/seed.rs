//! Declarative seeding: `azemu serve --seed world.yaml` builds a world at
//! start — principals, their role assignments, resources, images — so a team
//! can keep the world its tests need in its repository.
//!
//! ```yaml
//! principals:                      # service principals in the emulated directory
//!   - displayName: ci-deployer
//!     appId: 0b3b…                 # optional: fixed ids and secret, or generated
//!     objectId: 5c1e…
//!     secret: not-a-secret
//!     roles:
//!       - role: Contributor        # a built-in role by name, or a role definition GUID
//!         scope: /subscriptions/{subscriptionId}/resourceGroups/demo
//! location: westeurope             # the deployment's location
//! template: { … }                  # an ARM template at subscription scope (resource groups,
//! parameters: { … }                #   nested deployments, identities, registries, role assignments…)
//! images:
//!   - source: sample               # the built-in hello-world image, or an OCI image layout dir
//!     target: myacr.azurecr.io/hello-world:v1
//! ```
//!
//! The template runs as the bootstrap principal through the same deployment
//! engine as `az deployment sub create`; `{subscriptionId}` and `{tenantId}`
//! in strings are replaced first. Seeding again (a restart on persistent
//! state) converges on the same world.

use crate::arm::ResourceId;
use crate::entra::{Principal, PrincipalKind, ServicePrincipal};
use crate::providers::InternalCall;
use crate::state::AppState;
use crate::store::tables;
use anyhow::{Context, bail};
use http::Method;
use serde_json::{Value, json};
use std::path::Path;

/// Read a seed document (YAML or JSON).
pub fn load(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        return Ok(v);
    }
    let docs = yaml_rust2::YamlLoader::load_from_str(&text)
        .with_context(|| format!("parsing {}", path.display()))?;
    Ok(docs.first().map(yaml_to_json).unwrap_or(Value::Null))
}

fn yaml_to_json(y: &yaml_rust2::Yaml) -> Value {
    use yaml_rust2::Yaml;
    match y {
        Yaml::Real(s) => s
            .parse::<f64>()
            .map(|f| json!(f))
            .unwrap_or_else(|_| json!(s)),
        Yaml::Integer(i) => json!(i),
        Yaml::String(s) => json!(s),
        Yaml::Boolean(b) => json!(b),
        Yaml::Array(a) => Value::Array(a.iter().map(yaml_to_json).collect()),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        other => yaml_to_json(other).to_string(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Yaml::Null | Yaml::BadValue | Yaml::Alias(_) => Value::Null,
    }
}

fn substitute(v: &Value, sub: &str, tenant: &str) -> Value {
    match v {
        Value::String(s) => json!(
            s.replace("{subscriptionId}", sub)
                .replace("{tenantId}", tenant)
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, sub, tenant)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), substitute(x, sub, tenant)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Build the world `doc` describes. `base` is the emulator's own URL (long-running
/// operations started by the template name it).
pub fn apply(state: &AppState, doc: &Value, base: &str) -> anyhow::Result<()> {
    let c = &state.config;
    let doc = substitute(doc, &c.subscription_id, &c.tenant_id);
    let bootstrap = Principal {
        object_id: crate::config::well_known::CLIENT_OBJECT_ID.into(),
        app_id: c.client_id.clone(),
        tenant_id: c.tenant_id.clone(),
        kind: PrincipalKind::Application,
    };
    let call = InternalCall {
        principal: &bootstrap,
        base,
        correlation_id: "azemu-seed",
        nesting: None,
    };

    let mut roles: Vec<(String, String, Value)> = Vec::new();
    for p in doc["principals"].as_array().into_iter().flatten() {
        let name = p["displayName"]
            .as_str()
            .context("a principal needs a displayName")?;
        let sp = ServicePrincipal {
            object_id: p["objectId"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| crate::templates::hash::guid(&["azemu-seed", name, "object"])),
            app_id: p["appId"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| crate::templates::hash::guid(&["azemu-seed", name, "app"])),
            tenant_id: c.tenant_id.clone(),
            display_name: name.to_string(),
            kind: PrincipalKind::Application,
            secrets: p["secret"]
                .as_str()
                .map(|s| vec![s.to_string()])
                .unwrap_or_default(),
            mi_resource_id: None,
            created_ms: None,
        };
        state.directory.put(&sp)?;
        for r in p["roles"].as_array().into_iter().flatten() {
            roles.push((sp.object_id.clone(), name.to_string(), r.clone()));
        }
    }

    deploy_template(state, &call, &doc)?;

    // Role assignments last: their scopes may be what the template created.
    for (object_id, name, r) in &roles {
        let role = r["role"]
            .as_str()
            .context("a role assignment needs a role")?;
        let scope = r["scope"]
            .as_str()
            .context("a role assignment needs a scope")?
            .trim_end_matches('/');
        let guid = match crate::authz::roles::builtin_by_name(role) {
            Some(d) => d.id_guid.clone(),
            None if uuid::Uuid::parse_str(role).is_ok() => role.to_ascii_lowercase(),
            None => bail!("unknown role '{role}' for principal '{name}'"),
        };
        let name_guid = crate::templates::hash::guid(&[scope, object_id, &guid]);
        let path = format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name_guid}");
        let body = json!({"properties": {
            "roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{guid}", c.subscription_id),
            "principalId": object_id,
            "principalType": "ServicePrincipal",
        }});
        if state
            .store
            .get(tables::ROLE_ASSIGNMENTS, &path.to_ascii_lowercase())?
            .is_some()
        {
            continue;
        }
        let resp = call.call(state, Method::PUT, &path, "2022-04-01", Some(&body));
        if !resp.status.is_success() {
            bail!("role '{role}' for '{name}' at {scope}: {}", resp.body);
        }
    }

    for img in doc["images"].as_array().into_iter().flatten() {
        let target = img["target"].as_str().context("an image needs a target")?;
        let source = img["source"].as_str().unwrap_or("sample");
        push_image(state, source, target).with_context(|| format!("seeding image {target}"))?;
    }
    Ok(())
}

/// The template, as a subscription-scope deployment named `azemu-seed`, run to its end.
fn deploy_template(state: &AppState, call: &InternalCall<'_>, doc: &Value) -> anyhow::Result<()> {
    let c = &state.config;
    if let Some(template) = doc.get("template").filter(|t| t.is_object()) {
        let path = format!(
            "/subscriptions/{}/providers/Microsoft.Resources/deployments/azemu-seed",
            c.subscription_id
        );
        let body = json!({
            "location": doc["location"].as_str().unwrap_or("eastus"),
            "properties": {
                "mode": "Incremental",
                "template": template,
                "parameters": doc.get("parameters").cloned().unwrap_or(json!({})),
            }
        });
        let resp = call.call(state, Method::PUT, &path, "2024-07-01", Some(&body));
        if !resp.status.is_success() {
            bail!("the seed template was refused: {}", resp.body["error"]);
        }
        crate::providers::settle(state, true).map_err(|e| anyhow::anyhow!(e.message))?;
        let id: ResourceId = path
            .parse()
            .map_err(|_| anyhow::anyhow!("bad deployment id"))?;
        let row = crate::providers::resources::deployments::load(state, &id)
            .map_err(|e| anyhow::anyhow!(e.message))?
            .context("the seed deployment vanished")?;
        if row["properties"]["provisioningState"] != "Succeeded" {
            bail!("the seed template failed: {}", row["properties"]["error"]);
        }
    }

    Ok(())
}

/// Put an image (the built-in sample, or an OCI image layout dir) into an emulated registry.
fn push_image(state: &AppState, source: &str, target: &str) -> anyhow::Result<()> {
    let r = crate::pull::parse_image(target).context("not an image reference")?;
    let name = crate::acr::registry_name_of_host(&r.host)
        .context("the target must be <registry>.azurecr.io/<repository>:<tag>")?;
    crate::acr::registry::by_name(state, &name)
        .map_err(|e| anyhow::anyhow!(e.message))?
        .with_context(|| {
            format!("registry '{name}' does not exist (create it in the seed's template)")
        })?;
    let (manifest, blobs): (Vec<u8>, Vec<Vec<u8>>) = if source == "sample" {
        crate::public_registry::sample_image()
    } else {
        read_layout(Path::new(source))?
    };
    let mut links = Vec::new();
    for b in &blobs {
        links.push((state.blobs.put(b)?, b.len()));
    }
    let m = state.blobs.put(&manifest)?;
    let now = crate::clock::arm_timestamp(state.clock.now());
    crate::oci::images::link(
        state.store.as_ref(),
        &name,
        &r.repository,
        &links,
        (&m, manifest.len()),
        Some(&r.reference),
        &now,
    )?;
    Ok(())
}

/// The first image of an OCI image layout: (manifest, [config, layers…]).
fn read_layout(dir: &Path) -> anyhow::Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let blob = |d: &str| -> anyhow::Result<Vec<u8>> {
        let hex = d.strip_prefix("sha256:").context("only sha256 digests")?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("bad digest {d}");
        }
        let bytes = std::fs::read(dir.join("blobs/sha256").join(hex))?;
        if crate::oci::blobs::digest_of(&bytes) != d {
            bail!("blob {d} does not match its digest");
        }
        Ok(bytes)
    };
    let index: Value = serde_json::from_slice(&std::fs::read(dir.join("index.json"))?)?;
    let md = index["manifests"][0]["digest"]
        .as_str()
        .context("an empty image layout")?;
    let manifest = blob(md)?;
    let m: Value = serde_json::from_slice(&manifest)?;
    let mut blobs = vec![blob(m["config"]["digest"].as_str().context("no config")?)?];
    for l in m["layers"].as_array().into_iter().flatten() {
        blobs.push(blob(
            l["digest"].as_str().context("a layer without digest")?,
        )?);
    }
    Ok((manifest, blobs))
}
