//! Decision traces: what the emulator checked, in order, to let a pull
//! through or stop it — the registry named, the network path, the
//! credentials, the role assignments authorize() weighed, the manifest — and,
//! when a check failed, the fix Azure's documentation prescribes. Kept in a
//! bounded ring per emulator, queried under `/_emulator/traces`, rendered by
//! `/_emulator/explain` (and `azemu explain`) as text or a Mermaid sequence
//! diagram.

use serde::Serialize;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// How many traces an emulator keeps.
const CAPACITY: usize = 500;

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// `registry`, `network`, `credentials`, `authorize`, `manifest`.
    pub check: String,
    pub passed: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub id: String,
    pub time: String,
    /// `aci-pull`
    pub kind: String,
    /// The resource on whose behalf it happened (a container group id).
    pub resource: String,
    /// Who asked: `{"kind": "identity"|"password"|"anonymous", "principalId"?, "identity"?}`.
    pub subject: Value,
    pub image: String,
    pub steps: Vec<Step>,
    /// What the client was told (`pulled`, or the error code and message).
    pub outcome: String,
    /// What to change, when a check failed.
    pub fix: Option<String>,
}

impl Trace {
    pub fn new(kind: &str, resource: &str, image: &str, time: String) -> Self {
        Trace {
            id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            time,
            kind: kind.into(),
            resource: resource.into(),
            subject: Value::Null,
            image: image.into(),
            steps: Vec::new(),
            outcome: String::new(),
            fix: None,
        }
    }

    pub fn step(&mut self, check: &str, passed: bool, detail: impl Into<String>) {
        self.steps.push(Step {
            check: check.into(),
            passed,
            detail: detail.into(),
        });
    }
}

#[derive(Clone, Default)]
pub struct Traces(Arc<Mutex<VecDeque<Trace>>>);

impl Traces {
    pub fn record(&self, t: Trace) {
        let mut q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() == CAPACITY {
            q.pop_front();
        }
        q.push_back(t);
    }

    /// Newest first; only those for `resource` (case-insensitive) when given.
    pub fn query(&self, resource: Option<&str>) -> Vec<Trace> {
        let q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        q.iter()
            .rev()
            .filter(|t| {
                resource.is_none_or(|r| t.resource.eq_ignore_ascii_case(r.trim_end_matches('/')))
            })
            .cloned()
            .collect()
    }
}

/// A trace as text: each check with ✓ or ✗, then the outcome and the fix.
pub fn render_text(t: &Trace) -> String {
    let mut out = format!("{} of {} for {}\n", t.kind, t.image, t.resource);
    out.push_str(&format!("  as: {}\n", subject_text(&t.subject)));
    for s in &t.steps {
        out.push_str(&format!(
            "  {} {:<12} {}\n",
            if s.passed { "✓" } else { "✗" },
            s.check,
            s.detail
        ));
    }
    out.push_str(&format!("  → {}\n", t.outcome));
    if let Some(f) = &t.fix {
        out.push_str(&format!("  fix: {f}\n"));
    }
    out
}

fn subject_text(s: &Value) -> String {
    match s["kind"].as_str() {
        Some("identity") => format!(
            "managed identity {} (principal {})",
            s["identity"].as_str().unwrap_or("?"),
            s["principalId"].as_str().unwrap_or("?")
        ),
        Some("password") => format!(
            "username/password ({})",
            s["username"].as_str().unwrap_or("?")
        ),
        _ => "anonymous".into(),
    }
}

/// A trace as a Mermaid sequence diagram (who asked what of whom, and where it stopped).
pub fn render_mermaid(t: &Trace) -> String {
    let mut out = String::from("sequenceDiagram\n");
    out.push_str("    participant C as Container group\n");
    out.push_str("    participant E as Entra ID\n");
    out.push_str("    participant N as Network\n");
    out.push_str("    participant R as Registry\n");
    out.push_str("    participant A as authorize()\n");
    let clean = |s: &str| s.replace([';', '#', '\n'], " ");
    for s in &t.steps {
        let (from, to) = match s.check.as_str() {
            "credentials" => ("C", "E"),
            "network" => ("C", "N"),
            "authorize" => ("R", "A"),
            _ => ("C", "R"),
        };
        let arrow = if s.passed { "->>" } else { "-x" };
        out.push_str(&format!(
            "    {from}{arrow}{to}: {} {}\n",
            s.check,
            clean(&s.detail)
        ));
    }
    out.push_str(&format!("    Note over C,R: {}\n", clean(&t.outcome)));
    if let Some(f) = &t.fix {
        out.push_str(&format!("    Note over A: fix {}\n", clean(f)));
    }
    out
}

/// `json!` of the list for `/_emulator/traces`.
pub fn list_json(ts: &[Trace]) -> Value {
    json!({"value": ts})
}
