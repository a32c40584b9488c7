//! `POST …/deployments/{name}/whatIf`: what a deployment would change, without
//! changing anything. Each template resource is evaluated (expressions that
//! need resources which do not exist yet stay as written, as ARM shows them)
//! and compared with what exists: `Create`, `Modify` with property-level
//! `delta`, or `NoChange`; the group's other resources are `Delete` in
//! Complete mode and `Ignore` in Incremental mode.

use super::engine::{Live, evaluator};
use super::{Run, ms, parse_request, plan_and_preflight};
use crate::arm::{ArmError, ArmRequest, ResourceId};
use crate::providers::json_response;
use crate::state::AppState;
use crate::store::tables;
use crate::templates::eval::{Evaluator, lookup};
use crate::templates::limits::{self, Budget};
use crate::templates::plan;
use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::{Map, Value, json};
use std::rc::Rc;

/// Keys compared between what exists and what the template asks for.
const COMPARED: &[&str] = &[
    "location",
    "tags",
    "sku",
    "kind",
    "identity",
    "properties",
    "zones",
];

pub fn what_if(state: &AppState, req: &ArmRequest, id: &ResourceId) -> Result<Response, ArmError> {
    let r = parse_request(req, id)?;
    let budget = Rc::new(Budget::new(limits::WORK));
    let (scope, plan) = plan_and_preflight(state, req, id, &r, &budget)?;
    let run = Run {
        principal: req.principal.clone(),
        base: req.base.0.clone(),
        correlation_id: uuid::Uuid::new_v4().to_string(),
        operation: String::new(),
        scope,
        request: json!({"template": r.template, "parameters": r.parameters, "mode": r.mode}),
        states: Vec::new(),
        started_ms: ms(req.now),
        extra: Vec::new(),
        plan,
        tree: Default::default(),
        rollback_of: None,
    };
    let live = Live::new(state, &run);
    let ev = evaluator(live.run(), &live, &budget);
    let mut changes = Vec::new();
    for res in run.plan.resources.iter().filter(|x| !x.skipped) {
        let mut after = match lenient(&ev, run.plan.body_of(res), res) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        after.insert("id".into(), json!(res.id));
        after.insert(
            "name".into(),
            json!(res.name.rsplit('/').next().unwrap_or(&res.name)),
        );
        after.insert("type".into(), json!(res.resource_type));
        after.insert("apiVersion".into(), json!(res.api_version));
        let after = Value::Object(after);
        let existing = live
            .call
            .call(state, Method::GET, &res.id, &res.api_version, None);
        if !existing.status.is_success() {
            changes.push(json!({"resourceId": res.id, "changeType": "Create", "after": after}));
            continue;
        }
        let before = existing.body;
        let mut delta = Vec::new();
        for key in COMPARED {
            if let Some(a) = after.get(*key) {
                match lookup(before.as_object().unwrap_or(&Map::new()), key) {
                    Some(b) => diff(key, b, a, &mut delta),
                    None => {
                        delta.push(json!({"path": key, "propertyChangeType": "Create", "after": a}))
                    }
                }
            }
        }
        let change_type = if delta.is_empty() {
            "NoChange"
        } else {
            "Modify"
        };
        let mut c = json!({"resourceId": res.id, "changeType": change_type, "before": before, "after": after});
        if !delta.is_empty() {
            c["delta"] = json!(delta);
        }
        changes.push(c);
    }
    // The group's other resources.
    if let Some(rg_id) = run
        .scope
        .resource_group
        .as_ref()
        .and_then(|g| g["id"].as_str())
    {
        let prefix = format!("{}/providers/", rg_id.to_ascii_lowercase());
        for (key, v) in state.store.scan(tables::RESOURCES, &prefix)? {
            let top_level = key[prefix.len()..].split('/').count() == 3;
            let in_template = run
                .plan
                .resources
                .iter()
                .any(|x| x.id.eq_ignore_ascii_case(&key));
            if !top_level || in_template || !crate::providers::caller_may_read(state, req, &v) {
                continue;
            }
            let rid = v["id"].as_str().unwrap_or(&key).to_string();
            changes.push(if r.mode == "Complete" {
                json!({"resourceId": rid, "changeType": "Delete", "before": v})
            } else {
                json!({"resourceId": rid, "changeType": "Ignore"})
            });
        }
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({"status": "Succeeded", "properties": {"changes": changes}}),
    ))
}

/// Evaluate what can be evaluated; keep expressions that cannot (yet) as written.
fn lenient(ev: &Evaluator<'_>, v: &Value, res: &plan::PlannedResource) -> Value {
    let mut ev = ev.child();
    if let Some((l, i)) = &res.copy {
        ev.copy.insert(String::new(), *i);
        ev.copy.insert(l.to_ascii_lowercase(), *i);
    }
    walk(&ev, v)
}

fn walk(ev: &Evaluator<'_>, v: &Value) -> Value {
    if let Ok(x) = ev.value(v) {
        return x;
    }
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, x)| (k.clone(), walk(ev, x))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| walk(ev, x)).collect()),
        other => other.clone(),
    }
}

/// Property-level differences, on the properties the template sets.
fn diff(path: &str, before: &Value, after: &Value, out: &mut Vec<Value>) {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            for (k, av) in a {
                let p = format!("{path}.{k}");
                match lookup(b, k) {
                    Some(bv) => diff(&p, bv, av, out),
                    None => {
                        out.push(json!({"path": p, "propertyChangeType": "Create", "after": av}))
                    }
                }
            }
        }
        (b, a) if same(path, b, a) => {}
        (b, a) => {
            out.push(json!({"path": path, "propertyChangeType": "Modify", "before": b, "after": a}))
        }
    }
}

fn same(path: &str, b: &Value, a: &Value) -> bool {
    if b == a {
        return true;
    }
    match (b, a) {
        (Value::String(x), Value::String(y)) if path == "location" => {
            crate::arm::locations::normalize(x) == crate::arm::locations::normalize(y)
        }
        (Value::String(x), Value::String(y)) => x.eq_ignore_ascii_case(y) && path.ends_with("Type"),
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => false,
    }
}
