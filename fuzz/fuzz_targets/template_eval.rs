//! Whole templates evaluated as a deployment evaluates them: the plan
//! (parameters, variables, resources with copy loops, dependencies), every
//! resource body, the outputs. Whatever the input asks for, evaluation ends
//! with a value or a refusal, within the memory libFuzzer allows
//! (`-rss_limit_mb`, `-malloc_limit_mb`) and without overflowing the stack.
//!
//! An input that reads as a JSON object is the template; any other text is
//! one expression, used as a variable, a resource property and an output.
#![no_main]
use azemu_emulator::templates::eval::{DeploymentScope, Evaluator};
use azemu_emulator::templates::limits::{self, Budget};
use azemu_emulator::templates::plan;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use std::rc::Rc;

fn template_of(data: &[u8]) -> Option<Value> {
    if let Ok(v @ Value::Object(_)) = azemu_emulator::arm::request::parse_lenient(data) {
        return Some(v);
    }
    let text = std::str::from_utf8(data).ok()?;
    let e = format!("[{text}]");
    Some(json!({
        "parameters": {"p": {"type": "array", "defaultValue": [1, "two", {"three": 3}]}},
        "variables": {"v": e, "copy": [{"name": "c", "count": 3, "input": e}]},
        "resources": [{
            "type": "Microsoft.X/things", "apiVersion": "1", "name": "[concat('t', copyIndex())]",
            "copy": {"name": "res", "count": 2},
            "properties": {"x": e, "copy": [{"name": "p", "count": 2, "input": e}]}
        }],
        "outputs": {"o": {"type": "object", "value": e}}
    }))
}

fuzz_target!(|data: &[u8]| {
    let Some(t) = template_of(data) else { return };
    let parameters = t.get("parametersValues").cloned().unwrap_or(json!({}));
    let sc = DeploymentScope::example();
    let budget = Rc::new(Budget::new(limits::WORK));
    let p = match plan::plan(&t, &parameters, &sc, "2026-01-01T00:00:00Z", &budget) {
        Ok(p) => p,
        Err(e) => {
            assert!(!e.error.0.is_empty());
            return;
        }
    };
    assert!(p.resources.len() <= limits::MAX_RESOURCES);
    let ev = Evaluator::new(&sc, &p.parameters, &p.variables, &p.names).with_budget(budget.clone());
    for r in &p.resources {
        if let Err(e) = plan::evaluate_body(r, p.body_of(r), &ev) {
            assert!(!e.0.is_empty());
        }
    }
    match plan::outputs(&t, &ev) {
        Ok(Some(out)) => {
            assert!(limits::json_len(&out, limits::MAX_OUTPUTS_BYTES).is_some());
            assert!(limits::depth(&out) <= limits::MAX_VALUE_DEPTH);
        }
        Ok(None) => {}
        Err(e) => assert!(!e.0.is_empty()),
    }
    assert!(budget.used() <= limits::WORK);
});
