//! Random templates, evaluated as a deployment evaluates them (plan, every
//! resource body, the outputs), under a memory cap: the string- and
//! array-building functions nested at random, copy loops in copy loops,
//! variable chains. Whatever a template asks for, evaluation ends with a
//! value or an `InvalidTemplate`-shaped refusal; it never aborts.
//!
//! The cap: each template is evaluated in a child process (this test binary,
//! run again for [`child`]) whose address space `ulimit -v` limits. Past the
//! cap an allocation fails and the child aborts, which fails the property —
//! an evaluation that is not bounded fails this test instead of taking the
//! machine down. (The workspace forbids `unsafe`, so no counting allocator.)

use azemu_emulator::templates::eval::{DeploymentScope, Evaluator, TemplateError};
use azemu_emulator::templates::limits::{self, Budget};
use azemu_emulator::templates::plan;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::rc::Rc;

/// The child's address space, in KiB (the binary and its threads' stacks take
/// some ~100 MB of it before anything is evaluated).
const CAP_KIB: u64 = 1536 * 1024;
const CHILD_ENV: &str = "AZEMU_TEMPLATE_BOUNDS_INPUT";

/// In the child: evaluate the template in `$AZEMU_TEMPLATE_BOUNDS_INPUT`, print the outcome.
/// Run normally (no such variable), it does nothing.
#[test]
fn child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let t: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let outcome = match evaluate(&t) {
        Ok(()) => json!({"ok": true}),
        Err(e) => json!({"error": e}),
    };
    println!("OUTCOME {outcome}");
}

/// Evaluate `t` in a child limited to [`CAP_KIB`]: its outcome, or how it died.
fn evaluate_capped(t: &Value) -> Result<Result<(), String>, String> {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let input = std::env::temp_dir().join(format!("azemu-bounds-{}-{n}.json", std::process::id()));
    std::fs::write(&input, t.to_string()).map_err(|e| e.to_string())?;
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {CAP_KIB} && exec \"$0\" --exact child --nocapture --test-threads 1"
        ))
        .arg(&me)
        .env(CHILD_ENV, &input)
        .output()
        .map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&input);
    let out = out?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("OUTCOME ").map(|(_, o)| o));
    match (out.status.success(), line) {
        (true, Some(l)) => {
            let v: Value = serde_json::from_str(l).map_err(|e| e.to_string())?;
            Ok(match v["error"].as_str() {
                Some(e) => Err(e.to_string()),
                None => Ok(()),
            })
        }
        _ => Err(format!(
            "the evaluation died ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ")
        )),
    }
}

/// Plan `t`, evaluate every resource body and the outputs, as a deployment does.
fn evaluate(t: &Value) -> Result<(), String> {
    let budget = Rc::new(Budget::new(limits::WORK));
    let sc = DeploymentScope::example();
    let p =
        plan::plan(t, &json!({}), &sc, "2026-01-01T00:00:00Z", &budget).map_err(|e| e.error.0)?;
    let ev = Evaluator::new(&sc, &p.parameters, &p.variables, &p.names).with_budget(budget);
    for r in &p.resources {
        plan::evaluate_body(r, p.body_of(r), &ev).map_err(|e| e.0)?;
    }
    plan::outputs(t, &ev).map(|_| ()).map_err(|e| e.0)
}

/// An expression that builds strings or arrays, nested at random over `leaf`s
/// (literals, earlier variables, copy indexes).
fn expression(vars: usize) -> impl Strategy<Value = String> {
    let var = move |i: usize| format!("variables('v{}')", i % vars.max(1));
    let leaf = prop_oneof![
        Just("'x'".to_string()),
        Just("'ab,cd'".to_string()),
        (0i64..20_000).prop_map(|n| n.to_string()),
        Just("range(0, 10000)".to_string()),
        Just("string(range(0, 10000))".to_string()),
        Just("padLeft('x', 16000, 'y')".to_string()),
        Just("createObject('a', range(0, 100))".to_string()),
        any::<usize>().prop_map(move |i| if vars == 0 { "'v'".to_string() } else { var(i) }),
    ];
    leaf.prop_recursive(5, 64, 4, |inner| {
        let two = (inner.clone(), inner.clone());
        let three = (inner.clone(), inner.clone(), inner.clone());
        prop_oneof![
            two.clone().prop_map(|(a, b)| format!("concat({a}, {b})")),
            three
                .clone()
                .prop_map(|(a, b, c)| format!("concat({a}, {b}, {c})")),
            two.clone()
                .prop_map(|(a, b)| format!("format('{{0}}{{1}}{{0}}{{1}}', {a}, {b})")),
            three
                .clone()
                .prop_map(|(a, b, c)| format!("replace(string({a}), string({b}), string({c}))")),
            (inner.clone(), 0i64..100_000)
                .prop_map(|(a, n)| format!("padLeft(string({a}), {n}, 'z')")),
            inner.clone().prop_map(|a| format!("string({a})")),
            inner.clone().prop_map(|a| format!("base64(string({a}))")),
            inner.clone().prop_map(|a| format!("json(string({a}))")),
            inner.clone().prop_map(|a| format!("array({a})")),
            inner.clone().prop_map(|a| format!("toUpper(string({a}))")),
            inner
                .clone()
                .prop_map(|a| format!("split(string({a}), ',')")),
            two.clone()
                .prop_map(|(a, b)| format!("union(array({a}), array({b}))")),
            three.prop_map(|(a, b, c)| format!("createArray({a}, {b}, {c})")),
            (inner.clone(), any::<i64>()).prop_map(|(a, n)| format!("take(array({a}), {n})")),
            (inner.clone(), any::<i64>()).prop_map(|(a, n)| format!("skip(string({a}), {n})")),
            (inner.clone(), -5i64..20_000)
                .prop_map(|(a, n)| format!("range(length(string({a})), {n})")),
            two.prop_map(|(a, b)| format!("if(equals(length(string({a})), 3), {a}, {b})")),
        ]
    })
}

/// A template: a chain of variables over those expressions, copy loops of
/// copy loops (variables, resource properties, outputs), resources in copies.
fn template() -> impl Strategy<Value = Value> {
    (1usize..12)
        .prop_flat_map(|n| {
            let vars: Vec<_> = (0..n).map(expression).collect();
            (
                vars,
                expression(n),
                expression(n),
                0i64..900,
                0i64..900,
                0i64..900,
                0usize..3,
            )
        })
        .prop_map(|(vars, body, out, c1, c2, c3, shape)| {
            let mut v = serde_json::Map::new();
            for (i, e) in vars.iter().enumerate() {
                v.insert(format!("v{i}"), json!(format!("[{e}]")));
            }
            let input = json!(format!("[{body}]"));
            let nested = json!({"copy": [{"name": "inner", "count": c2, "input": input}]});
            match shape {
                0 => {
                    v.insert(
                        "copy".into(),
                        json!([{"name": "looped", "count": c1, "input": nested}]),
                    );
                }
                1 => {}
                _ => {
                    v.insert("plain".into(), nested.clone());
                }
            }
            json!({
                "variables": v,
                "resources": [{
                    "type": "Microsoft.X/things", "apiVersion": "1",
                    "name": "[concat('t', copyIndex())]",
                    "copy": {"name": "res", "count": c3 % 801},
                    "properties": {"copy": [{"name": "p", "count": c1, "input": nested}], "x": input}
                }],
                "outputs": {
                    "o": {"type": "array", "copy": {"count": c2 % 801, "input": format!("[{out}]")}},
                    "p": {"type": "string", "value": format!("[string({out})]")}
                }
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(48),
        max_shrink_iters: 64,
        .. ProptestConfig::default()
    })]

    /// Any template: a value or a refusal in the template language's words; never an abort.
    #[test]
    fn random_templates_are_bounded(t in template()) {
        let outcome = evaluate_capped(&t);
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
        if let Ok(Err(e)) = outcome {
            prop_assert!(!e.is_empty());
            // It reads as ARM's InvalidTemplate once wrapped.
            let wrapped = plan::wrap(TemplateError(e)).0;
            prop_assert!(wrapped.starts_with("Deployment template validation failed: '"), "{}", wrapped);
        }
    }
}

/// The bombs the issue names, one by one, under the same cap.
#[test]
fn named_bombs_stay_under_the_cap() {
    let bombs = [
        json!({"variables": {"a": "[padLeft('x', 2000, 'x')]", "b": "[replace(variables('a'), 'x', padLeft('y', 2000, 'y'))]",
            "c": "[replace(variables('b'), 'y', variables('b'))]"}}),
        json!({"variables": {"copy": [{"name": "c", "count": 800, "input": {"copy": [{"name": "d", "count": 800, "input": "[string(range(0, 10000))]"}]}}]}}),
        json!({"outputs": {"o": {"type": "array", "copy": {"count": 800, "input": {"copy": [{"name": "p", "count": 800, "input": "[range(0, 10000)]"}]}}}}}),
        json!({"variables": {"big": "[string(range(0, 10000))]",
            "many": format!("[createArray({})]", vec!["variables('big')"; 5000].join(", "))}}),
        json!({"variables": {"x": format!("[{}'x'{}]", "base64(".repeat(150), ")".repeat(150))}}),
    ];
    for b in bombs {
        let outcome = evaluate_capped(&b);
        assert!(matches!(outcome, Ok(Err(_))), "{b}: {outcome:?}");
    }
}
