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

/// How many traces an emulator keeps (the console's timeline pages through them).
const CAPACITY: usize = 10_000;

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// `registry`, `network`, `credentials`, `authorize`, `manifest`.
    pub check: String,
    pub passed: bool,
    pub detail: String,
    /// The request the check was made on, as the request log names it, when it
    /// was one (a pull's requests to the registry).
    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub id: String,
    pub time: String,
    /// `aci-pull` (a container group pulling), `acr-exchange` (Entra token for an
    /// ACR refresh token), `acr-token` (an ACR access token for scopes),
    /// `acr-request` (a data-plane request refused), `arm` (an ARM call refused by
    /// authorize()), `explain-pull` (a hypothetical pull, asked, not done).
    pub kind: String,
    /// The resource it concerns: a container group's id, a registry's id, an ARM scope.
    pub resource: String,
    /// Who asked: `{"kind": "identity"|"principal"|"password"|"admin"|"token"|"anonymous", …}`.
    pub subject: Value,
    /// What was asked for: an image, ACR scopes, an ARM action.
    pub target: String,
    /// The request it belongs to (`x-ms-request-id` / `x-ms-correlation-request-id`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub steps: Vec<Step>,
    /// What the client was told (`pulled`, or the error code and message).
    pub outcome: String,
    /// What to change, when a check failed.
    pub fix: Option<String>,
}

impl Trace {
    pub fn new(kind: &str, resource: &str, target: &str, time: String) -> Self {
        Trace {
            id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
            time,
            kind: kind.into(),
            resource: resource.into(),
            subject: Value::Null,
            target: target.into(),
            request_id: None,
            steps: Vec::new(),
            outcome: String::new(),
            fix: None,
        }
    }

    /// The first check that failed, if one did.
    pub fn failed_check(&self) -> Option<&str> {
        self.steps
            .iter()
            .find(|s| !s.passed)
            .map(|s| s.check.as_str())
    }

    /// Set the outcome and keep the trace in `traces`.
    pub fn finish(mut self, traces: &Traces, outcome: impl Into<String>) {
        self.outcome = outcome.into();
        traces.record(self);
    }

    pub fn step(&mut self, check: &str, passed: bool, detail: impl Into<String>) {
        self.steps.push(Step {
            check: check.into(),
            passed,
            detail: detail.into(),
            request_id: None,
        });
    }

    /// A check made on a request, with the id the request log gave it.
    pub fn step_on(
        &mut self,
        check: &str,
        passed: bool,
        detail: impl Into<String>,
        request_id: &str,
    ) {
        self.step(check, passed, detail);
        if let Some(s) = self.steps.last_mut() {
            s.request_id = Some(request_id.to_string());
        }
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

    /// Newest first, filtered.
    pub fn query(&self, f: &Filter) -> Vec<Trace> {
        let q = self.0.lock().unwrap_or_else(|e| e.into_inner());
        q.iter()
            .rev()
            .filter(|t| f.matches(t))
            .take(f.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect()
    }
}

/// What `/_emulator/traces` may be asked for; every field narrows.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Filter {
    /// The resource id, case-insensitively.
    pub resource: Option<String>,
    /// `aci-pull`, `acr-token`, …
    pub kind: Option<String>,
    /// A principal's object id, as the subject names it.
    pub principal: Option<String>,
    /// The request id.
    #[serde(rename = "requestId")]
    pub request_id: Option<String>,
    /// Only those with a failed check (`true`) or without (`false`).
    pub failed: Option<bool>,
    pub limit: Option<usize>,
}

impl Filter {
    pub fn resource(r: &str) -> Self {
        Filter {
            resource: Some(r.to_string()),
            ..Filter::default()
        }
    }

    fn matches(&self, t: &Trace) -> bool {
        self.resource
            .as_deref()
            .is_none_or(|r| t.resource.eq_ignore_ascii_case(r.trim_end_matches('/')))
            && self.kind.as_deref().is_none_or(|k| t.kind == k)
            && self.principal.as_deref().is_none_or(|p| {
                t.subject["principalId"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(p))
            })
            && self
                .request_id
                .as_deref()
                .is_none_or(|r| t.request_id.as_deref() == Some(r))
            && self.failed.is_none_or(|f| t.failed_check().is_some() == f)
    }
}

/// A trace as text: each check with ✓ or ✗, then the outcome and the fix.
pub fn render_text(t: &Trace) -> String {
    let mut out = format!("{} of {} for {}\n", t.kind, t.target, t.resource);
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
        Some("principal") => {
            let who = format!(
                "{} {}",
                s["type"].as_str().unwrap_or("principal"),
                s["principalId"].as_str().unwrap_or("?")
            );
            match s["appId"].as_str() {
                Some(app) => format!("{who} (app {app})"),
                None => who,
            }
        }
        Some("password") => format!(
            "username/password ({})",
            s["username"].as_str().unwrap_or("?")
        ),
        Some("admin") => format!(
            "the registry's admin user ({})",
            s["username"].as_str().unwrap_or("?")
        ),
        Some("token") => format!(
            "repository-scoped token '{}'",
            s["username"].as_str().unwrap_or("?")
        ),
        Some("unknown") => "credentials that did not verify".into(),
        _ => "anonymous".into(),
    }
}

/// A trace as a sequence of messages between participants (who asked what of
/// whom, and where it stopped): what the Mermaid rendering and the console's
/// diagram both draw.
pub fn sequence(t: &Trace) -> Value {
    let who = if t.kind == "aci-pull" {
        "Container group"
    } else if t.kind == "acr-task-run" {
        "Task run"
    } else {
        "Client"
    };
    let service = if t.kind == "arm" {
        "Azure Resource Manager"
    } else {
        "Registry"
    };
    let participants = json!([
        {"id": "C", "name": who},
        {"id": "E", "name": "Entra ID"},
        {"id": "N", "name": "Network"},
        {"id": "R", "name": service},
        {"id": "A", "name": "authorize()"},
        {"id": "B", "name": "Manifest and blobs"},
    ]);
    let messages: Vec<Value> = t
        .steps
        .iter()
        .map(|s| {
            let (from, to) = match s.check.as_str() {
                "credentials" if t.kind.starts_with("acr-") => ("C", "R"),
                "credentials" | "tenant" => ("C", "E"),
                "network" => ("C", "N"),
                "authorize" => ("R", "A"),
                "manifest" | "blob" => ("R", "B"),
                _ => ("C", "R"),
            };
            json!({"from": from, "to": to, "check": s.check, "detail": s.detail, "passed": s.passed, "requestId": s.request_id})
        })
        .collect();
    json!({
        "id": t.id,
        "kind": t.kind,
        "participants": participants,
        "messages": messages,
        "outcome": t.outcome,
        "failedCheck": t.failed_check(),
        "fix": t.fix,
    })
}

/// A trace as a Mermaid sequence diagram, drawn from [`sequence`].
pub fn render_mermaid(t: &Trace) -> String {
    let seq = sequence(t);
    let mut out = String::from("sequenceDiagram\n");
    for p in seq["participants"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "    participant {} as {}\n",
            p["id"].as_str().unwrap_or_default(),
            p["name"].as_str().unwrap_or_default()
        ));
    }
    let clean = |s: &str| s.replace([';', '#', '\n'], " ");
    for m in seq["messages"].as_array().into_iter().flatten() {
        let arrow = if m["passed"] == true { "->>" } else { "-x" };
        out.push_str(&format!(
            "    {}{arrow}{}: {} {}\n",
            m["from"].as_str().unwrap_or_default(),
            m["to"].as_str().unwrap_or_default(),
            m["check"].as_str().unwrap_or_default(),
            clean(m["detail"].as_str().unwrap_or_default())
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
