//! Azure RBAC's evaluation, pure: no store, no HTTP, no clock.
//! [`super::access`] loads assignments and roles and calls [`evaluate`].
//!
//! The rules (how Azure RBAC determines access,
//! <https://learn.microsoft.com/azure/role-based-access-control/overview#how-azure-rbac-determines-if-a-user-has-access-to-a-resource>;
//! scope, <https://learn.microsoft.com/azure/role-based-access-control/scope-overview>;
//! NotActions, <https://learn.microsoft.com/azure/role-based-access-control/role-definitions#notactions>;
//! deny assignments, <https://learn.microsoft.com/azure/role-based-access-control/deny-assignments>;
//! conditions, <https://learn.microsoft.com/azure/role-based-access-control/conditions-overview>):
//!
//! 1. **Deny assignments first.** One that covers the request scope (the
//!    scope itself only, if `doesNotApplyToChildScopes`), names the caller
//!    (one of its ids, or Everyone `00000000-0000-0000-0000-000000000000`)
//!    and excludes none of the caller's ids, and whose permissions match the
//!    action, blocks it whatever the role assignments say.
//! 2. **Applicable role assignments**: those naming one of the caller's ids
//!    (its object id and its groups') at the request scope or an ancestor of
//!    it. Scopes compare by `/`-separated segments, ignoring ASCII case and
//!    empty segments (so trailing and doubled slashes), and `/` is everyone's
//!    ancestor. Inheritance flows down only; `…/resourceGroups/ab` is no
//!    ancestor of `…/resourceGroups/abc`.
//! 3. **A role grants an action** when one of its permission blocks matches
//!    it in `actions` and not in *that block's* `notActions` (for data
//!    actions: `dataActions` minus `notDataActions`). NotActions subtract;
//!    they are not a deny, so another block or another role may still grant.
//!    Wildcards: [`super::matching`].
//! 4. **Union**: any applicable assignment that grants allows the request.
//! 5. **Conditions**: an assignment with a condition (version 2.0) grants
//!    only where the condition holds for the action and the request's
//!    attributes; an unparseable condition grants nothing. Another
//!    assignment granting without a condition allows regardless.
//!
//! The answer names every assignment that granted (sorted), or why nothing did.

use super::condition;
use super::matching::action_matches;
use super::roles::{Permission, RoleDefinition};

/// The principal id that means "everyone" in a deny assignment.
pub const EVERYONE: &str = "00000000-0000-0000-0000-000000000000";

/// A role assignment, as the engine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Full ARM id of the assignment.
    pub id: String,
    pub scope: String,
    pub role_definition_guid: String,
    pub principal_id: String,
    pub condition: Option<String>,
    pub condition_version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenyAssignment {
    pub id: String,
    pub scope: String,
    /// Who is denied; [`EVERYONE`] means everyone.
    pub principal_ids: Vec<String>,
    pub exclude_principal_ids: Vec<String>,
    pub permissions: Vec<Permission>,
    pub does_not_apply_to_child_scopes: bool,
}

/// Control-plane actions are matched against `actions`/`notActions`, data
/// actions against `dataActions`/`notDataActions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    Control,
    Data,
}

pub struct Request<'a> {
    /// The caller's object id, plus the ids of the groups it belongs to.
    pub principal_ids: &'a [String],
    pub action: &'a str,
    pub kind: ActionKind,
    /// An ARM id (`/subscriptions/…`, or `/`).
    pub scope: &'a str,
    /// Request and resource attributes for conditions, by source and name
    /// (`@Request[Microsoft.ContainerRegistry/registries/repositories:name]`).
    pub attributes: condition::Attributes<'a>,
}

/// One assignment that granted the request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub assignment_id: String,
    pub role_name: String,
    pub role_guid: String,
    pub scope: String,
    /// The assignment carries a condition, and it held.
    pub via_condition: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    /// No assignment of the caller's (with a known role) covers the scope.
    NoAssignment,
    /// Assignments cover the scope, but none of their roles has the action.
    /// The role names, sorted and deduplicated.
    NoRoleGrants { considered: Vec<String> },
    /// Roles have the action, but the conditions on those assignments do not hold.
    ConditionNotMet { assignment_ids: Vec<String> },
    /// A deny assignment blocks it.
    DenyAssignment { id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed { grants: Vec<Grant> },
    Denied { reason: DenyReason },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }
}

fn segments(scope: &str) -> impl Iterator<Item = &str> {
    scope.split('/').filter(|s| !s.is_empty())
}

fn same_scope(a: &str, b: &str) -> bool {
    segments(a)
        .map(Some)
        .chain(std::iter::once(None))
        .zip(segments(b).map(Some).chain(std::iter::once(None)))
        .all(|(x, y)| match (x, y) {
            (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
            (None, None) => true,
            _ => false,
        })
}

/// Is `assignment_scope` the request scope or one of its ancestors
/// (segment-wise, ignoring ASCII case and empty segments)?
pub fn scope_covers(assignment_scope: &str, request_scope: &str) -> bool {
    let mut request = segments(request_scope);
    segments(assignment_scope).all(|a| request.next().is_some_and(|r| r.eq_ignore_ascii_case(a)))
}

impl Permission {
    /// Does this block have `action`: matched by its actions (data actions)
    /// and not by its own notActions (notDataActions)?
    pub fn grants(&self, kind: ActionKind, action: &str) -> bool {
        let (yes, no) = match kind {
            ActionKind::Control => (&self.actions, &self.not_actions),
            ActionKind::Data => (&self.data_actions, &self.not_data_actions),
        };
        yes.iter().any(|p| action_matches(p, action))
            && !no.iter().any(|p| action_matches(p, action))
    }
}

/// Does `role` have `action` (in any of its permission blocks)?
pub fn role_grants(role: &RoleDefinition, kind: ActionKind, action: &str) -> bool {
    role.permissions.iter().any(|p| p.grants(kind, action))
}

fn names(ids: &[String], id: &str) -> bool {
    ids.iter().any(|p| p.eq_ignore_ascii_case(id))
}

impl DenyAssignment {
    /// Does this deny assignment block `req`?
    pub fn blocks(&self, req: &Request) -> bool {
        let covers = if self.does_not_apply_to_child_scopes {
            same_scope(&self.scope, req.scope)
        } else {
            scope_covers(&self.scope, req.scope)
        };
        let named = names(&self.principal_ids, EVERYONE)
            || req
                .principal_ids
                .iter()
                .any(|p| names(&self.principal_ids, p));
        let excluded = req
            .principal_ids
            .iter()
            .any(|p| names(&self.exclude_principal_ids, p));
        covers
            && named
            && !excluded
            && self
                .permissions
                .iter()
                .any(|p| p.grants(req.kind, req.action))
    }
}

/// Does `condition` (with its version) hold for `req`? Only version 2.0
/// exists; an unparseable condition holds for nothing.
fn condition_holds(condition: &str, version: Option<&str>, req: &Request) -> bool {
    version.is_none_or(|v| v.trim() == "2.0")
        && condition::parse(condition).is_ok_and(|c| c.evaluate(req.action, req.attributes))
}

/// Decide `req` against the caller's role and deny assignments. `role`
/// resolves a role definition GUID; assignments to unknown roles count for
/// nothing.
pub fn evaluate(
    req: &Request,
    assignments: &[Assignment],
    denies: &[DenyAssignment],
    role: &dyn Fn(&str) -> Option<RoleDefinition>,
) -> Decision {
    if let Some(d) = denies
        .iter()
        .filter(|d| d.blocks(req))
        .min_by(|a, b| a.id.cmp(&b.id))
    {
        return Decision::Denied {
            reason: DenyReason::DenyAssignment { id: d.id.clone() },
        };
    }

    let mut grants = Vec::new();
    let mut considered = Vec::new();
    let mut failed_conditions = Vec::new();
    for a in assignments {
        if !names(req.principal_ids, &a.principal_id) || !scope_covers(&a.scope, req.scope) {
            continue;
        }
        let Some(r) = role(&a.role_definition_guid) else {
            continue;
        };
        considered.push(r.role_name.clone());
        if !role_grants(&r, req.kind, req.action) {
            continue;
        }
        if let Some(c) = &a.condition
            && !condition_holds(c, a.condition_version.as_deref(), req)
        {
            failed_conditions.push(a.id.clone());
            continue;
        }
        grants.push(Grant {
            assignment_id: a.id.clone(),
            role_name: r.role_name,
            role_guid: r.id_guid,
            scope: a.scope.clone(),
            via_condition: a.condition.is_some(),
        });
    }
    if !grants.is_empty() {
        grants.sort();
        return Decision::Allowed { grants };
    }
    let reason = if !failed_conditions.is_empty() {
        failed_conditions.sort();
        DenyReason::ConditionNotMet {
            assignment_ids: failed_conditions,
        }
    } else if considered.is_empty() {
        DenyReason::NoAssignment
    } else {
        considered.sort();
        considered.dedup();
        DenyReason::NoRoleGrants { considered }
    };
    Decision::Denied { reason }
}

#[cfg(test)]
mod tests {
    use super::super::roles::{RoleType, builtin_by_guid, builtin_by_name};
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    const SUB: &str = "/subscriptions/s1";
    const RG: &str = "/subscriptions/s1/resourceGroups/g1";
    const REG: &str =
        "/subscriptions/s1/resourceGroups/g1/providers/Microsoft.ContainerRegistry/registries/r1";
    const REG2: &str =
        "/subscriptions/s1/resourceGroups/g1/providers/Microsoft.ContainerRegistry/registries/r2";
    const REPO_ATTR: &str = "Microsoft.ContainerRegistry/registries/repositories:name";
    const CONTENT_READ: &str = "Microsoft.ContainerRegistry/registries/repositories/content/read";
    const CONTENT_WRITE: &str = "Microsoft.ContainerRegistry/registries/repositories/content/write";

    fn assign(role: &str, scope: &str) -> Assignment {
        assign_to("p", role, scope)
    }

    fn assign_to(principal: &str, role: &str, scope: &str) -> Assignment {
        let guid = builtin_by_name(role)
            .map(|r| r.id_guid.clone())
            .unwrap_or_else(|| role.into());
        Assignment {
            id: format!(
                "{scope}/providers/Microsoft.Authorization/roleAssignments/{principal}-{guid}"
            ),
            scope: scope.into(),
            role_definition_guid: guid,
            principal_id: principal.into(),
            condition: None,
            condition_version: None,
        }
    }

    fn lookup(guid: &str) -> Option<RoleDefinition> {
        builtin_by_guid(guid).cloned()
    }

    fn none(_: condition::Source, _: &str) -> Option<String> {
        None
    }

    fn decide(
        assignments: &[Assignment],
        denies: &[DenyAssignment],
        action: &str,
        kind: ActionKind,
        scope: &str,
        attrs: condition::Attributes,
    ) -> Decision {
        let ids = ["p".to_string(), "group-1".to_string()];
        let req = Request {
            principal_ids: &ids,
            action,
            kind,
            scope,
            attributes: attrs,
        };
        evaluate(&req, assignments, denies, &lookup)
    }

    fn control(assignments: &[Assignment], action: &str, scope: &str) -> bool {
        decide(assignments, &[], action, ActionKind::Control, scope, &none).is_allowed()
    }

    fn data(
        assignments: &[Assignment],
        action: &str,
        scope: &str,
        attrs: condition::Attributes,
    ) -> bool {
        decide(assignments, &[], action, ActionKind::Data, scope, attrs).is_allowed()
    }

    #[test]
    fn owner() {
        let o = [assign("Owner", SUB)];
        assert!(control(
            &o,
            "Microsoft.Authorization/roleAssignments/write",
            RG
        ));
        assert!(control(
            &o,
            "Microsoft.ContainerRegistry/registries/delete",
            REG
        ));
        assert!(
            !data(&o, CONTENT_READ, REG, &none),
            "Owner has no data actions"
        );
        assert!(!control(
            &o,
            "Microsoft.Resources/subscriptions/read",
            "/subscriptions/s2"
        ));
    }

    #[test]
    fn contributor() {
        let c = [assign("Contributor", SUB)];
        assert!(control(
            &c,
            "Microsoft.ContainerRegistry/registries/write",
            REG
        ));
        assert!(control(
            &c,
            "Microsoft.ContainerRegistry/registries/pull/read",
            REG
        ));
        assert!(control(
            &c,
            "Microsoft.Authorization/roleAssignments/read",
            RG
        ));
        assert!(!control(
            &c,
            "Microsoft.Authorization/roleAssignments/write",
            RG
        ));
        assert!(!control(
            &c,
            "microsoft.authorization/ROLEASSIGNMENTS/WRITE",
            RG
        ));
        assert!(!control(
            &c,
            "Microsoft.Authorization/roleAssignments/delete",
            REG
        ));
        assert!(!control(
            &c,
            "Microsoft.Authorization/elevateAccess/action",
            "/"
        ));
        assert!(!control(&c, "Microsoft.Subscription/cancel/action", SUB));
        assert_eq!(
            decide(
                &c,
                &[],
                "Microsoft.Authorization/roleAssignments/write",
                ActionKind::Control,
                RG,
                &none
            ),
            Decision::Denied {
                reason: DenyReason::NoRoleGrants {
                    considered: vec!["Contributor".into()]
                }
            }
        );
        // NotActions are not a deny: User Access Administrator elsewhere still grants.
        let both = [
            assign("Contributor", SUB),
            assign("User Access Administrator", RG),
        ];
        assert!(control(
            &both,
            "Microsoft.Authorization/roleAssignments/write",
            REG
        ));
    }

    #[test]
    fn reader() {
        let r = [assign("Reader", RG)];
        assert!(control(
            &r,
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            RG
        ));
        assert!(control(
            &r,
            "Microsoft.ContainerRegistry/registries/read",
            REG
        ));
        assert!(!control(
            &r,
            "Microsoft.Resources/subscriptions/resourceGroups/write",
            RG
        ));
        assert!(!control(
            &r,
            "Microsoft.ContainerRegistry/registries/listCredentials/action",
            REG
        ));
        assert!(
            !control(
                &r,
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                SUB
            ),
            "no upward inheritance"
        );
        assert!(
            !control(
                &r,
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                "/subscriptions/s1/resourceGroups/g10"
            ),
            "segment boundaries"
        );
    }

    #[test]
    fn acrpull_is_per_registry() {
        let a = [assign("AcrPull", REG)];
        let pull = "Microsoft.ContainerRegistry/registries/pull/read";
        assert!(control(&a, pull, REG));
        assert!(control(&a, pull, &REG.to_uppercase()));
        assert!(control(&a, pull, &format!("{REG}/")));
        assert!(!control(&a, pull, REG2));
        assert!(!control(&a, pull, RG));
        assert!(!control(
            &a,
            "Microsoft.ContainerRegistry/registries/push/write",
            REG
        ));
        let push = [assign("AcrPush", RG)];
        assert!(control(
            &push,
            "Microsoft.ContainerRegistry/registries/push/write",
            REG2
        ));
    }

    #[test]
    fn managed_identity_operator_may_assign() {
        let uai = "/subscriptions/s1/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/pull-id";
        let a = [assign("Managed Identity Operator", uai)];
        assert!(control(
            &a,
            "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
            uai
        ));
        assert!(control(
            &a,
            "Microsoft.ManagedIdentity/userAssignedIdentities/read",
            uai
        ));
        assert!(!control(
            &a,
            "Microsoft.ManagedIdentity/userAssignedIdentities/write",
            uai
        ));
        let c = [assign("Managed Identity Contributor", uai)];
        assert!(!control(
            &c,
            "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
            uai
        ));
    }

    #[test]
    fn scopes() {
        assert!(scope_covers("/", REG));
        assert!(scope_covers("/", "/"));
        assert!(scope_covers("", "/"));
        assert!(scope_covers("/SUBSCRIPTIONS/S1/", REG));
        assert!(scope_covers(REG, REG));
        assert!(scope_covers(RG, &format!("{REG}/replications/westus")));
        assert!(!scope_covers(REG, RG));
        assert!(!scope_covers(
            "/subscriptions/s1/resourceGroups/ab",
            "/subscriptions/s1/resourceGroups/abc"
        ));
        assert!(!scope_covers("/subscriptions/s1", "/subscriptions/s10"));
        assert!(scope_covers("//subscriptions//s1", "/subscriptions/s1/"));
        assert!(same_scope("/subscriptions/S1/", "/subscriptions/s1"));
        assert!(!same_scope(
            "/subscriptions/s1",
            "/subscriptions/s1/resourceGroups/g1"
        ));
        assert!(!same_scope(
            "/subscriptions/s1/resourceGroups/g1",
            "/subscriptions/s1"
        ));
    }

    #[test]
    fn repository_roles_with_conditions() {
        let mut a = assign("Container Registry Repository Reader", REG);
        a.condition = Some(format!(
            "((!(ActionMatches{{'{CONTENT_READ}'}})) OR (@Request[{REPO_ATTR}] StringEqualsIgnoreCase 'hello-world'))"
        ));
        a.condition_version = Some("2.0".into());
        let hello =
            |_: condition::Source, k: &str| (k == REPO_ATTR).then(|| "hello-world".to_string());
        let other = |_: condition::Source, k: &str| (k == REPO_ATTR).then(|| "other".to_string());
        let set = [a.clone()];
        assert_eq!(
            decide(&set, &[], CONTENT_READ, ActionKind::Data, REG, &hello),
            Decision::Allowed {
                grants: vec![Grant {
                    assignment_id: a.id.clone(),
                    role_name: "Container Registry Repository Reader".into(),
                    role_guid: "b93aa761-3e63-49ed-ac28-beffa264f7ac".into(),
                    scope: REG.into(),
                    via_condition: true,
                }]
            }
        );
        assert_eq!(
            decide(&set, &[], CONTENT_READ, ActionKind::Data, REG, &other),
            Decision::Denied {
                reason: DenyReason::ConditionNotMet {
                    assignment_ids: vec![a.id.clone()]
                }
            }
        );
        assert!(!data(&set, CONTENT_READ, REG, &none), "no repository named");
        // The condition does not target metadata reads: the role grants them anywhere.
        assert!(data(
            &set,
            "Microsoft.ContainerRegistry/registries/repositories/metadata/read",
            REG,
            &other
        ));
        assert!(
            !data(&set, CONTENT_WRITE, REG, &hello),
            "Reader cannot write"
        );
        assert!(!control(
            &set,
            "Microsoft.ContainerRegistry/registries/pull/read",
            REG
        ));
        // An unconditional grant of the same data action bypasses the condition.
        let with_plain = [
            a.clone(),
            assign("Container Registry Repository Writer", RG),
        ];
        let d = decide(
            &with_plain,
            &[],
            CONTENT_READ,
            ActionKind::Data,
            REG,
            &other,
        );
        assert!(
            matches!(&d, Decision::Allowed { grants } if grants.len() == 1 && !grants[0].via_condition)
        );
        // Both grant for hello-world; both are reported, sorted.
        let d = decide(
            &with_plain,
            &[],
            CONTENT_READ,
            ActionKind::Data,
            REG,
            &hello,
        );
        let Decision::Allowed { grants } = d else {
            panic!("{d:?}")
        };
        assert_eq!(grants.len(), 2);
        assert!(grants.windows(2).all(|w| w[0] <= w[1]));
        // A broken condition or an unknown version grants nothing.
        let mut broken = a.clone();
        broken.condition = Some("((".into());
        assert!(!data(&[broken], CONTENT_READ, REG, &hello));
        let mut v1 = a;
        v1.condition_version = Some("1.0".into());
        assert!(!data(&[v1], CONTENT_READ, REG, &hello));
    }

    #[test]
    fn groups_and_principal_case() {
        let g = [assign_to("GROUP-1", "Reader", SUB)];
        assert!(control(&g, "Microsoft.Resources/subscriptions/read", SUB));
        let someone_else = [assign_to("q", "Owner", SUB)];
        assert_eq!(
            decide(
                &someone_else,
                &[],
                "Microsoft.Resources/subscriptions/read",
                ActionKind::Control,
                SUB,
                &none
            ),
            Decision::Denied {
                reason: DenyReason::NoAssignment
            }
        );
        let unknown_role = [assign("00000000-1111-2222-3333-444444444444", SUB)];
        assert!(matches!(
            decide(
                &unknown_role,
                &[],
                "a/read",
                ActionKind::Control,
                SUB,
                &none
            ),
            Decision::Denied {
                reason: DenyReason::NoAssignment
            }
        ));
    }

    fn deny(id: &str, scope: &str, principals: &[&str], actions: &[&str]) -> DenyAssignment {
        DenyAssignment {
            id: id.into(),
            scope: scope.into(),
            principal_ids: principals.iter().map(|s| s.to_string()).collect(),
            exclude_principal_ids: vec![],
            permissions: vec![Permission {
                actions: actions.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            }],
            does_not_apply_to_child_scopes: false,
        }
    }

    #[test]
    fn deny_assignments_win() {
        let owner = [assign("Owner", SUB)];
        let write = "Microsoft.Resources/subscriptions/resourceGroups/write";
        let run = |denies: &[DenyAssignment], scope: &str| {
            decide(&owner, denies, write, ActionKind::Control, scope, &none)
        };
        let everyone = deny("d1", SUB, &[EVERYONE], &["*/write"]);
        assert_eq!(
            run(std::slice::from_ref(&everyone), RG),
            Decision::Denied {
                reason: DenyReason::DenyAssignment { id: "d1".into() }
            }
        );
        // The first (by id) of several matching denies is reported.
        let d0 = deny("d0", "/", &["P"], &["Microsoft.Resources/*"]);
        assert_eq!(
            run(&[everyone.clone(), d0], RG),
            Decision::Denied {
                reason: DenyReason::DenyAssignment { id: "d0".into() }
            }
        );
        // Excluding any of the caller's ids (here the object id) lifts it,
        // even though the caller's group is not excluded.
        let excluded = DenyAssignment {
            exclude_principal_ids: vec!["P".into()],
            ..everyone.clone()
        };
        assert!(run(&[excluded], RG).is_allowed());
        // A deny naming the caller's group applies to the caller.
        assert!(!run(&[deny("d2", SUB, &["Group-1"], &["*"])], RG).is_allowed());
        assert!(run(&[deny("d3", SUB, &["someone"], &["*"])], RG).is_allowed());
        // Scope: only at and below.
        assert!(run(&[deny("d4", REG, &[EVERYONE], &["*"])], RG).is_allowed());
        let here_only = DenyAssignment {
            does_not_apply_to_child_scopes: true,
            ..everyone.clone()
        };
        assert!(run(std::slice::from_ref(&here_only), RG).is_allowed());
        assert!(!run(&[here_only], "/Subscriptions/S1/").is_allowed());
        // The deny's own NotActions carve out exceptions.
        let mut carved = everyone.clone();
        carved.permissions[0].not_actions = vec!["Microsoft.Resources/*".into()];
        assert!(run(&[carved], RG).is_allowed());
        // Control denies do not touch data actions, and vice versa.
        let reader = [assign("Container Registry Repository Reader", REG)];
        let all_control = deny("d5", "/", &[EVERYONE], &["*"]);
        assert!(
            decide(
                &reader,
                &[all_control],
                CONTENT_READ,
                ActionKind::Data,
                REG,
                &none
            )
            .is_allowed()
        );
        let mut all_data = deny("d6", "/", &[EVERYONE], &[]);
        all_data.permissions[0].data_actions = vec!["*".into()];
        assert!(
            !decide(
                &reader,
                &[all_data],
                CONTENT_READ,
                ActionKind::Data,
                REG,
                &none
            )
            .is_allowed()
        );
    }

    #[test]
    fn reasons() {
        assert_eq!(
            decide(
                &[],
                &[],
                "Microsoft.X/y/write",
                ActionKind::Control,
                RG,
                &none
            ),
            Decision::Denied {
                reason: DenyReason::NoAssignment
            }
        );
        assert_eq!(
            decide(
                &[
                    assign("Reader", SUB),
                    assign("AcrPull", RG),
                    assign("Reader", "/")
                ],
                &[],
                "Microsoft.X/y/write",
                ActionKind::Control,
                RG,
                &none
            ),
            Decision::Denied {
                reason: DenyReason::NoRoleGrants {
                    considered: vec!["AcrPull".into(), "Reader".into()]
                }
            }
        );
    }

    // ---- the reference model --------------------------------------------
    //
    // Azure's rules written the slow, obvious way, independently of the
    // engine: lower-case everything, match wildcards by recursion over
    // characters, compare scopes as vectors of segments.

    fn ref_glob(p: &[char], a: &[char], prev: Option<char>) -> bool {
        match p.split_first() {
            None => a.is_empty(),
            Some(('*', rest)) => {
                (0..=a.len()).any(|i| ref_glob(rest, &a[i..], Some('*')))
                    || (prev == Some('/')
                        && rest.first() == Some(&'/')
                        && ref_glob(&rest[1..], a, Some('/')))
            }
            Some((c, rest)) => a.first() == Some(c) && ref_glob(rest, &a[1..], Some(*c)),
        }
    }

    fn ref_match(p: &str, a: &str) -> bool {
        let p: Vec<char> = p.to_lowercase().chars().collect();
        let a: Vec<char> = a.to_lowercase().chars().collect();
        ref_glob(&p, &a, None)
    }

    fn ref_segments(s: &str) -> Vec<String> {
        s.to_lowercase()
            .split('/')
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect()
    }

    fn ref_ancestor_or_self(above: &str, below: &str) -> bool {
        let (a, b) = (ref_segments(above), ref_segments(below));
        a.len() <= b.len() && b[..a.len()] == a[..]
    }

    fn ref_role_has(role: &RoleDefinition, kind: ActionKind, action: &str) -> bool {
        role.permissions.iter().any(|p| {
            let (yes, no) = match kind {
                ActionKind::Control => (&p.actions, &p.not_actions),
                ActionKind::Data => (&p.data_actions, &p.not_data_actions),
            };
            yes.iter().any(|x| ref_match(x, action)) && !no.iter().any(|x| ref_match(x, action))
        })
    }

    /// A generated condition: `(!(ActionMatches{'target'})) OR (@Request[attr] StringEquals 'value')`.
    #[derive(Debug, Clone)]
    struct Cond {
        target: String,
        value: String,
    }

    impl Cond {
        fn text(&self) -> String {
            format!(
                "((!(ActionMatches{{'{}'}})) OR (@Request[attr] StringEquals '{}'))",
                self.target, self.value
            )
        }
        fn holds(&self, action: &str, attr: &str) -> bool {
            !ref_match(&self.target, action) || attr == self.value
        }
    }

    /// A generated assignment: role index, scope, principal, condition.
    type GenAssignment = (usize, String, String, Option<Cond>);
    /// A generated deny assignment: scope, principals, excluded, permission, here only.
    type GenDeny = (String, Vec<String>, Vec<String>, Permission, bool);

    #[derive(Debug, Clone)]
    struct World {
        roles: Vec<RoleDefinition>,
        assignments: Vec<GenAssignment>,
        denies: Vec<GenDeny>,
        caller: Vec<String>,
        action: String,
        kind: ActionKind,
        scope: String,
        attr: String,
    }

    /// The ids of the assignments Azure's rules say grant, or `None` if a deny blocks.
    fn reference(w: &World) -> Option<BTreeSet<String>> {
        let is_caller = |p: &str| {
            w.caller
                .iter()
                .any(|c| c.to_lowercase() == p.to_lowercase())
        };
        let denied = w
            .denies
            .iter()
            .any(|(scope, who, excluded, perm, here_only)| {
                let covers = if *here_only {
                    ref_segments(scope) == ref_segments(&w.scope)
                } else {
                    ref_ancestor_or_self(scope, &w.scope)
                };
                let named = who.iter().any(|p| p == EVERYONE || is_caller(p));
                let exempt = excluded.iter().any(|p| is_caller(p));
                let role = RoleDefinition {
                    id_guid: String::new(),
                    role_name: String::new(),
                    role_type: RoleType::Custom,
                    permissions: vec![perm.clone()],
                    assignable_scopes: vec![],
                    description: String::new(),
                };
                covers && named && !exempt && ref_role_has(&role, w.kind, &w.action)
            });
        if denied {
            return None;
        }
        Some(
            w.assignments
                .iter()
                .enumerate()
                .filter(|(_, (r, scope, who, cond))| {
                    is_caller(who)
                        && ref_ancestor_or_self(scope, &w.scope)
                        && ref_role_has(&w.roles[*r], w.kind, &w.action)
                        && cond.as_ref().is_none_or(|c| c.holds(&w.action, &w.attr))
                })
                .map(|(i, _)| format!("a{i}"))
                .collect(),
        )
    }

    fn flip_case(s: &str, mask: u64) -> String {
        s.chars()
            .enumerate()
            .map(|(i, c)| {
                if (mask >> (i % 64)) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    }

    fn cased(s: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
        (s, any::<u64>()).prop_map(|(s, m)| flip_case(&s, m))
    }

    fn action_strategy() -> impl Strategy<Value = String> {
        cased(
            (
                prop::sample::select(vec!["Microsoft.A", "Microsoft.B"]),
                prop::sample::select(vec!["x", "y", "x/z", "x/y"]),
                prop::sample::select(vec!["read", "write", "delete", "assign/action"]),
            )
                .prop_map(|(ns, t, v)| format!("{ns}/{t}/{v}")),
        )
    }

    fn pattern_strategy() -> impl Strategy<Value = String> {
        cased(prop_oneof![
            Just("*".to_string()),
            Just("*/read".to_string()),
            Just("*/write".to_string()),
            Just("Microsoft.A/*".to_string()),
            Just("Microsoft.B/*/write".to_string()),
            Just("Microsoft.A/x/*/action".to_string()),
            Just("Microsoft.A/x/*/read".to_string()),
            Just("*/x/*".to_string()),
            Just("Microsoft.*/y/*".to_string()),
            action_strategy(),
        ])
    }

    fn scope_strategy() -> impl Strategy<Value = String> {
        (
            cased(
                prop::sample::select(vec![
                    "/",
                    "/subscriptions/s1",
                    "/subscriptions/s1/resourceGroups/g1",
                    "/subscriptions/s1/resourceGroups/g10",
                    "/subscriptions/s1/resourceGroups/g1/providers/Microsoft.A/x/r1",
                    "/subscriptions/s1/resourceGroups/g1/providers/Microsoft.A/x/r1/y/c1",
                    "/subscriptions/s1/resourceGroups/g1/providers/Microsoft.A/x/r10",
                    "/subscriptions/s2",
                ])
                .prop_map(String::from),
            ),
            any::<bool>(),
        )
            .prop_map(|(s, slash)| {
                if slash && s != "/" {
                    format!("{s}/")
                } else {
                    s
                }
            })
    }

    fn principal_strategy() -> impl Strategy<Value = String> {
        cased(
            prop::sample::select(vec!["user-1", "group-1", "group-2", "other"])
                .prop_map(String::from),
        )
    }

    fn permission_strategy() -> impl Strategy<Value = Permission> {
        (
            prop::collection::vec(pattern_strategy(), 0..3),
            prop::collection::vec(pattern_strategy(), 0..2),
            prop::collection::vec(pattern_strategy(), 0..3),
            prop::collection::vec(pattern_strategy(), 0..2),
        )
            .prop_map(|(actions, not_actions, data_actions, not_data_actions)| {
                Permission {
                    actions,
                    not_actions,
                    data_actions,
                    not_data_actions,
                }
            })
    }

    fn role_strategy() -> impl Strategy<Value = RoleDefinition> {
        prop::collection::vec(permission_strategy(), 1..3).prop_map(|permissions| RoleDefinition {
            id_guid: String::new(),
            role_name: String::new(),
            role_type: RoleType::Custom,
            permissions,
            assignable_scopes: vec!["/".into()],
            description: String::new(),
        })
    }

    fn cond_strategy() -> impl Strategy<Value = Option<Cond>> {
        prop::option::of(
            (pattern_strategy(), prop::sample::select(vec!["v1", "v2"])).prop_map(
                |(target, value)| Cond {
                    target,
                    value: value.into(),
                },
            ),
        )
    }

    fn world_strategy() -> impl Strategy<Value = World> {
        (
            prop::collection::vec(role_strategy(), 1..4),
            prop::collection::vec(
                (
                    0usize..4,
                    scope_strategy(),
                    principal_strategy(),
                    cond_strategy(),
                ),
                0..6,
            ),
            prop::collection::vec(
                (
                    scope_strategy(),
                    prop::collection::vec(
                        prop_oneof![Just(EVERYONE.to_string()), principal_strategy()],
                        1..3,
                    ),
                    prop::collection::vec(principal_strategy(), 0..2),
                    permission_strategy(),
                    any::<bool>(),
                ),
                0..2,
            ),
            prop::sample::subsequence(vec!["user-1", "group-1", "group-2"], 1..=3),
            action_strategy(),
            any::<bool>(),
            scope_strategy(),
            prop::sample::select(vec!["v1", "v2"]),
        )
            .prop_map(
                |(roles, mut assignments, denies, caller, action, data, scope, attr)| {
                    let roles: Vec<RoleDefinition> = roles
                        .into_iter()
                        .enumerate()
                        .map(|(i, mut r)| {
                            r.id_guid = format!("role{i}");
                            r.role_name = format!("Role {i}");
                            r
                        })
                        .collect();
                    for a in &mut assignments {
                        a.0 %= roles.len();
                    }
                    World {
                        roles,
                        assignments,
                        denies,
                        caller: caller.into_iter().map(|c| c.to_uppercase()).collect(),
                        action,
                        kind: if data {
                            ActionKind::Data
                        } else {
                            ActionKind::Control
                        },
                        scope,
                        attr: attr.into(),
                    }
                },
            )
    }

    fn run(w: &World) -> Decision {
        let assignments: Vec<Assignment> = w
            .assignments
            .iter()
            .enumerate()
            .map(|(i, (r, scope, who, cond))| Assignment {
                id: format!("a{i}"),
                scope: scope.clone(),
                role_definition_guid: format!("ROLE{r}"),
                principal_id: who.clone(),
                condition: cond.as_ref().map(Cond::text),
                condition_version: cond.as_ref().map(|_| "2.0".to_string()),
            })
            .collect();
        let denies: Vec<DenyAssignment> = w
            .denies
            .iter()
            .enumerate()
            .map(
                |(i, (scope, who, excluded, perm, here_only))| DenyAssignment {
                    id: format!("d{i}"),
                    scope: scope.clone(),
                    principal_ids: who.clone(),
                    exclude_principal_ids: excluded.clone(),
                    permissions: vec![perm.clone()],
                    does_not_apply_to_child_scopes: *here_only,
                },
            )
            .collect();
        let attr = w.attr.clone();
        let attrs = move |_: condition::Source, k: &str| (k == "attr").then(|| attr.clone());
        let req = Request {
            principal_ids: &w.caller,
            action: &w.action,
            kind: w.kind,
            scope: &w.scope,
            attributes: &attrs,
        };
        let lookup = |g: &str| {
            w.roles
                .iter()
                .find(|r| r.id_guid.eq_ignore_ascii_case(g))
                .cloned()
        };
        evaluate(&req, &assignments, &denies, &lookup)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The engine agrees with a plain reference model of Azure's rules on
        /// random role sets, scopes, principals, actions (wildcards,
        /// NotActions, data actions, case variations), conditions and deny
        /// assignments: same allow/deny, and the same granting assignments.
        #[test]
        fn engine_agrees_with_the_reference_model(w in world_strategy()) {
            let got = run(&w);
            match (reference(&w), &got) {
                (Some(want), Decision::Allowed { grants }) => {
                    let ids: BTreeSet<String> = grants.iter().map(|g| g.assignment_id.clone()).collect();
                    prop_assert_eq!(ids, want);
                    prop_assert!(grants.windows(2).all(|p| p[0] <= p[1]));
                }
                (Some(want), Decision::Denied { reason }) => {
                    prop_assert!(want.is_empty(), "reference grants via {:?}, engine says {:?}", want, reason);
                    let by_deny = matches!(reason, DenyReason::DenyAssignment { .. });
                    prop_assert!(!by_deny, "no deny applies, engine says {:?}", reason);
                }
                (None, d) => prop_assert!(
                    matches!(d, Decision::Denied { reason: DenyReason::DenyAssignment { .. } }),
                    "reference denies by a deny assignment, engine says {:?}", d
                ),
            }
        }

        #[test]
        fn scope_ancestry_agrees_with_the_reference(a in scope_strategy(), b in scope_strategy()) {
            prop_assert_eq!(scope_covers(&a, &b), ref_ancestor_or_self(&a, &b));
            prop_assert_eq!(same_scope(&a, &b), ref_segments(&a) == ref_segments(&b));
        }

        #[test]
        fn wildcards_agree_with_the_reference(p in pattern_strategy(), a in action_strategy()) {
            prop_assert_eq!(action_matches(&p, &a), ref_match(&p, &a));
        }
    }
}
