//! RBAC evaluation (placeholder).
use super::matching::action_matches;
use super::roles::{Permission, RoleDefinition};

pub struct Assignment {
    pub id: String,
    pub scope: String,
    pub role_definition_guid: String,
    pub principal_id: String,
    pub condition: Option<String>,
    pub condition_version: Option<String>,
}
pub struct DenyAssignment {
    pub id: String,
    pub scope: String,
    pub principal_ids: Vec<String>,
    pub exclude_principal_ids: Vec<String>,
    pub permissions: Vec<Permission>,
    pub does_not_apply_to_child_scopes: bool,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Control,
    Data,
}
pub struct Request<'a> {
    pub principal_ids: &'a [String],
    pub action: &'a str,
    pub kind: ActionKind,
    pub scope: &'a str,
    pub attributes: &'a dyn Fn(&str) -> Option<String>,
}
#[derive(Debug)]
pub struct Grant {
    pub assignment_id: String,
    pub role_name: String,
    pub role_guid: String,
    pub scope: String,
    pub via_condition: bool,
}
#[derive(Debug)]
pub enum DenyReason {
    NoAssignment,
}
#[derive(Debug)]
pub enum Decision {
    Allowed { grants: Vec<Grant> },
    Denied { reason: DenyReason },
}

pub fn scope_covers(assignment_scope: &str, request_scope: &str) -> bool {
    let a = assignment_scope.trim_end_matches('/').to_ascii_lowercase();
    let r = request_scope.trim_end_matches('/').to_ascii_lowercase();
    a.is_empty() || a == r || r.starts_with(&format!("{a}/"))
}

pub fn evaluate(
    req: &Request,
    assignments: &[Assignment],
    _denies: &[DenyAssignment],
    role: &dyn Fn(&str) -> Option<RoleDefinition>,
) -> Decision {
    let mut grants = Vec::new();
    for a in assignments {
        if !req
            .principal_ids
            .iter()
            .any(|p| p.eq_ignore_ascii_case(&a.principal_id))
            || !scope_covers(&a.scope, req.scope)
        {
            continue;
        }
        let Some(r) = role(&a.role_definition_guid) else {
            continue;
        };
        let ok = r.permissions.iter().any(|p| {
            let (yes, no) = match req.kind {
                ActionKind::Control => (&p.actions, &p.not_actions),
                ActionKind::Data => (&p.data_actions, &p.not_data_actions),
            };
            yes.iter().any(|x| action_matches(x, req.action))
                && !no.iter().any(|x| action_matches(x, req.action))
        });
        if ok {
            grants.push(Grant {
                assignment_id: a.id.clone(),
                role_name: r.role_name.clone(),
                role_guid: r.id_guid.clone(),
                scope: a.scope.clone(),
                via_condition: false,
            });
        }
    }
    if grants.is_empty() {
        Decision::Denied {
            reason: DenyReason::NoAssignment,
        }
    } else {
        Decision::Allowed { grants }
    }
}
