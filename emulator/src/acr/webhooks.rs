//! Registry webhooks' events: what the data plane (an image pushed, a
//! manifest deleted) and the control plane (`webhooks/{w}/ping`) record, and
//! what `webhooks/{w}/listEvents` reads back.
//!
//! A domain service below both planes: [`record`] is called by the OCI data
//! plane through its gate ([`crate::acr::data_plane::AcrGate`]), [`ping`] and
//! [`list`] by the webhook behaviour in
//! [`crate::providers::container_registry::children`]; neither calls the other.
//!
//! Each event is kept as Azure lists it: `{id, eventRequestMessage:{content,
//! headers, method, requestUri, version}}`. The content follows Azure's
//! webhook reference (learn.microsoft.com, container-registry-webhook-reference:
//! `push`: `target.{mediaType, size, digest, length,
//! repository, tag}`, `request.{id, host, method, useragent}`; `delete`:
//! `target.{mediaType, digest, repository}`; `ping`: `{id, timestamp,
//! action}` as recorded in azure-cli's `test_acr_create_webhook`). Nothing is
//! delivered to the service URI (an emulator does not call out), so no
//! `eventResponseMessage` is recorded.

use crate::arm::ResourceId;
use crate::oci::ContentChange;
use crate::state::AppState;
use crate::store::StoreResult;
use serde_json::{Value, json};

/// `{webhook key}/{timestamp µs, zero-padded}-{uuid}` → the event as `listEvents` returns it.
pub const EVENTS: &str = "acr_webhook_events";
/// The webhook resource type.
pub const WEBHOOK_TYPE: &str = "Microsoft.ContainerRegistry/registries/webhooks";
/// How many events a webhook keeps (the oldest go first).
// TODO-fidelity: Azure's retention of webhook events is not documented (searched
// the webhook reference and the REST docs of listEvents); a bound keeps rows small.
const KEEP: usize = 100;

/// Record `event` with every enabled webhook of the registry named
/// `registry` (lower-case name) whose actions and scope take it.
pub fn record(state: &AppState, registry: &str, event: &ContentChange) -> StoreResult<()> {
    // The registry by its login server: the store's index, not the provider.
    let host = format!("{}{}", registry.to_ascii_lowercase(), super::LOGIN_SUFFIX);
    let Some((_, row)) =
        crate::store::index::REGISTRIES_BY_LOGIN_SERVER.first(state.store.as_ref(), &host)?
    else {
        return Ok(());
    };
    let Some(id) = row["id"]
        .as_str()
        .and_then(|i| i.parse::<ResourceId>().ok())
    else {
        return Ok(());
    };
    let now = state.clock.now();
    for hook in state.resources().children(&id, WEBHOOK_TYPE)? {
        let props = &hook["properties"];
        if props["status"] == "disabled"
            || !props["actions"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == event.action))
            || !in_scope(
                props["scope"].as_str().unwrap_or_default(),
                event.repository,
                event.tag,
            )
        {
            continue;
        }
        let id = uuid::Uuid::new_v4().to_string();
        let mut target = json!({"mediaType": event.media_type});
        if let Some(size) = event.size {
            target["size"] = json!(size);
        }
        target["digest"] = json!(event.digest);
        if let Some(size) = event.size {
            target["length"] = json!(size);
        }
        target["repository"] = json!(event.repository);
        if let Some(t) = event.tag {
            target["tag"] = json!(t);
        }
        let content = json!({
            "id": id,
            "timestamp": crate::clock::arm_timestamp(now),
            "action": event.action,
            "target": target,
            "request": {
                "id": uuid::Uuid::new_v4().to_string(),
                "host": event.host,
                "method": event.method,
                "useragent": event.user_agent,
            },
        });
        save(state, &hook, &id, content, now)?;
    }
    Ok(())
}

/// `POST …/webhooks/{w}/ping`: a `ping` event for `hook` (its stored row); its id.
pub fn ping(state: &AppState, hook: &Value) -> StoreResult<String> {
    let now = state.clock.now();
    let id = uuid::Uuid::new_v4().to_string();
    let content =
        json!({"id": id, "timestamp": crate::clock::arm_timestamp(now), "action": "ping"});
    save(state, hook, &id, content, now)?;
    Ok(id)
}

/// `POST …/webhooks/{w}/listEvents`: the webhook's events, newest first.
// TODO-fidelity: the order of Azure's listEvents is not documented and the one
// recording (test_acr_create_webhook) holds a single event; newest first, as
// the portal shows a webhook's events.
pub fn list(state: &AppState, webhook: &ResourceId) -> StoreResult<Vec<Value>> {
    let mut rows: Vec<Value> = state
        .store
        .scan(EVENTS, &format!("{}/", webhook.key()))?
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    rows.reverse();
    Ok(rows)
}

/// `{webhook key}` → `{serviceUri, customHeaders}`: what a webhook calls. Kept
/// out of the resource row: Azure returns it only from `getCallbackConfig`
/// (both are write-only in the webhook's schema).
pub const CALLBACKS: &str = "acr_webhook_callbacks";

/// The webhook's `{serviceUri, customHeaders}` (`{}` when none is kept).
pub fn callback(state: &AppState, webhook: &ResourceId) -> StoreResult<Value> {
    Ok(state
        .store
        .get(CALLBACKS, &webhook.key())?
        .unwrap_or_else(|| json!({})))
}

/// Move `serviceUri` and `customHeaders` out of a webhook's `properties`
/// (as written by a PUT or merged by a PATCH) into its callback row.
pub fn keep_callback(
    state: &AppState,
    webhook: &ResourceId,
    properties: &mut Value,
) -> StoreResult<()> {
    let mut kept = callback(state, webhook)?;
    if let Some(p) = properties.as_object_mut() {
        for k in ["serviceUri", "customHeaders"] {
            if let Some(v) = p.shift_remove(k) {
                kept[k] = v;
            }
        }
    }
    state.store.put(CALLBACKS, &webhook.key(), kept)?;
    Ok(())
}

/// Forget the events and callback of the webhook `under` (deleted), or of
/// every webhook under a deleted registry (`under` is then the registry's id).
pub fn forget(state: &AppState, under: &ResourceId) -> StoreResult<()> {
    for (k, _) in state.store.scan(EVENTS, &format!("{}/", under.key()))? {
        state.store.delete(EVENTS, &k)?;
    }
    state.store.delete(CALLBACKS, &under.key())?;
    for (k, _) in state.store.scan(CALLBACKS, &format!("{}/", under.key()))? {
        state.store.delete(CALLBACKS, &k)?;
    }
    Ok(())
}

/// Does a webhook `scope` take an event on `repository[:tag]`? Azure's rule
/// (the spec's description of `scope`): empty takes everything; `foo:*` every
/// tag of `foo`; `foo:bar` only that tag; `foo` means `foo:latest`. `*` is a
/// wildcard in either part. An event without a tag (a manifest deleted by
/// digest) is taken when the repository part matches.
pub fn in_scope(scope: &str, repository: &str, tag: Option<&str>) -> bool {
    let scope = scope.trim();
    if scope.is_empty() {
        return true;
    }
    let (repo_pat, tag_pat) = scope.split_once(':').unwrap_or((scope, "latest"));
    glob(repo_pat, repository) && tag.is_none_or(|t| glob(tag_pat, t))
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(p) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            match rest.find(p) {
                Some(at) => rest = &rest[at + p.len()..],
                None => return false,
            }
        }
    }
    true
}

fn save(
    state: &AppState,
    hook: &Value,
    id: &str,
    content: Value,
    now: time::OffsetDateTime,
) -> StoreResult<()> {
    let Some(hook_id) = hook["id"]
        .as_str()
        .and_then(|i| i.parse::<ResourceId>().ok())
    else {
        return Ok(());
    };
    let callback = callback(state, &hook_id)?;
    let mut uri = callback["serviceUri"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // As Azure records it: a URI without a path gets `/`.
    if let Some((_, rest)) = uri.split_once("://")
        && !rest.contains('/')
    {
        uri.push('/');
    }
    let mut headers = callback["customHeaders"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let length = serde_json::to_vec(&content).map(|b| b.len()).unwrap_or(0);
    // A custom Content-Type wins (learn.microsoft.com, "Azure Container Registry
    // webhook reference": "a Content-Type of application/json if you have not
    // specified a Content-Type custom header"); the value as recorded.
    if !headers
        .keys()
        .any(|k| k.eq_ignore_ascii_case("content-type"))
    {
        headers.insert(
            "Content-Type".into(),
            json!("application/json; charset=utf-8"),
        );
    }
    headers.insert("Content-Length".into(), json!(length.to_string()));
    let event = json!({
        "eventRequestMessage": {
            "content": content,
            "headers": headers,
            "method": "POST",
            "requestUri": uri,
            "version": "1.1",
        },
        "id": id,
    });
    let prefix = format!("{}/", hook_id.key());
    let micros = now.unix_timestamp_nanos() / 1000;
    state
        .store
        .put(EVENTS, &format!("{prefix}{micros:020}-{id}"), event)?;
    let all = state.store.scan(EVENTS, &prefix)?;
    for (k, _) in all.iter().take(all.len().saturating_sub(KEEP)) {
        state.store.delete(EVENTS, k)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::in_scope;

    #[test]
    fn scopes() {
        assert!(in_scope("", "a", Some("v1")));
        assert!(in_scope("hello-world", "hello-world", Some("latest")));
        assert!(!in_scope("hello-world", "hello-world", Some("v1")));
        assert!(in_scope("hello-world:*", "hello-world", Some("v1")));
        assert!(in_scope("hello-world:v1", "hello-world", Some("v1")));
        assert!(!in_scope("hello-world:v1", "other", Some("v1")));
        assert!(in_scope("team/*:*", "team/app", Some("v2")));
        assert!(in_scope("hello-world:v1", "hello-world", None));
        assert!(!in_scope("hello-world:v1", "other", None));
    }
}
