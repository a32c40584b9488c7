//! Azure RBAC's evaluation, pure: no store, no HTTP. [`super::access`]
//! loads assignments and roles and calls [`evaluate`].
//!
//! The rules (../shared/notes/acr-aci-semantics.md §6;
//! https://learn.microsoft.com/azure/role-based-access-control/overview#how-azure-rbac-determines-if-a-user-has-access-to-a-resource):
//! - an assignment applies when it names one of the caller's principal ids and
//!   its scope is the request scope or an ancestor of it (inheritance goes down
//!   only; segments compare case-insensitively);
//! - a role grants an action when one of its permission blocks matches it in
//!   `actions` (`dataActions` for data actions) and not in that block's
//!   `notActions` (`notDataActions`): NotActions subtract, they do not deny, so
//!   another role or block may still grant;
//! - grants are the union over assignments; an assignment with a condition
//!   grants only where the condition holds, and an unconditional grant from
//!   another assignment makes the condition moot;
//! - a deny assignment that covers the scope, names the caller (or everyone
//!   but the excluded) and matches the action wins over every grant.

use super::condition;
use super::matching::action_matches;
use super::roles::{Permission, RoleDefinition};

#[derive(Debug, Clone)]
pub struct Assignment {
    /// Full ARM id of the assignment.
    pub id: String,
    pub scope: String,
    pub role_definition_guid: String,
    pub principal_id: String,
    pub condition: Option<String>,
    pub condition_version: Option<String>,
}

/// The principal id that means "everyone" in a deny assignment.
pub const EVERYONE: &str = "00000000-0000-0000-0000-000000000000";

#[derive(Debug, Clone)]
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
    /// The caller's object id, plus the groups it belongs to.
    pub principal_ids: &'a [String],
    pub action: &'a str,
    pub kind: ActionKind,
    pub scope: &'a str,
    pub attributes: &'a dyn Fn(&str) -> Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub assignment_id: String,
    pub role_name: String,
    pub role_guid: String,
    pub scope: String,
    pub via_condition: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenyReason {
    /// No assignment of the caller covers the scope.
    NoAssignment,
    /// Assignments cover the scope, but none of their roles has the action.
    NoRoleGrants { considered: Vec<String> },
    /// Roles have the action, but their conditions do not hold.
    ConditionNotMet { assignment_ids: Vec<String> },
    /// A deny assignment blocks it.
    DenyAssignment { id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed { grants: Vec<Grant> },
    Denied { reason: DenyReason },
}

fn segments(scope: &str) -> Vec<String> {
    scope
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Is `assignment_scope` the request scope or one of its ancestors?
pub fn scope_covers(assignment_scope: &str, request_scope: &str) -> bool {
    let a = segments(assignment_scope);
    let r = segments(request_scope);
    a.len() <= r.len() && a.iter().zip(&r).all(|(x, y)| x == y)
}

fn block_grants(p: &Permission, kind: ActionKind, action: &str) -> bool {
    let (yes, no) = match kind {
        ActionKind::Control => (&p.actions, &p.not_actions),
        ActionKind::Data => (&p.data_actions, &p.not_data_actions),
    };
    yes.iter().any(|x| action_matches(x, action)) && !no.iter().any(|x| action_matches(x, action))
}

/// Does `role` have `action`?
pub fn role_grants(role: &RoleDefinition, kind: ActionKind, action: &str) -> bool {
    role.permissions
        .iter()
        .any(|p| block_grants(p, kind, action))
}

fn names(ids: &[String], id: &str) -> bool {
    ids.iter().any(|p| p.eq_ignore_ascii_case(id))
}

pub fn evaluate(
    req: &Request,
    assignments: &[Assignment],
    denies: &[DenyAssignment],
    role: &dyn Fn(&str) -> Option<RoleDefinition>,
) -> Decision {
    for d in denies {
        let covers = if d.does_not_apply_to_child_scopes {
            segments(&d.scope) == segments(req.scope)
        } else {
            scope_covers(&d.scope, req.scope)
        };
        let applies_to = req.principal_ids.iter().any(|p| {
            (names(&d.principal_ids, p) || names(&d.principal_ids, EVERYONE))
                && !names(&d.exclude_principal_ids, p)
        });
        if covers
            && applies_to
            && d.permissions
                .iter()
                .any(|p| block_grants(p, req.kind, req.action))
        {
            return Decision::Denied {
                reason: DenyReason::DenyAssignment { id: d.id.clone() },
            };
        }
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
        let via_condition = a.condition.is_some();
        if let Some(src) = &a.condition {
            // An unparseable condition grants nothing.
            let holds = condition::parse(src)
                .map(|c| c.evaluate(req.action, req.attributes))
                .unwrap_or(false);
            if !holds {
                failed_conditions.push(a.id.clone());
                continue;
            }
        }
        grants.push(Grant {
            assignment_id: a.id.clone(),
            role_name: r.role_name.clone(),
            role_guid: r.id_guid.clone(),
            scope: a.scope.clone(),
            via_condition,
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
    use super::super::roles::{RoleType, builtin_by_name};
    use super::*;
    use proptest::prelude::*;

    const SUB: &str = "/subscriptions/s1";
    const RG: &str = "/subscriptions/s1/resourceGroups/g1";
    const REG: &str =
        "/subscriptions/s1/resourceGroups/g1/providers/Microsoft.ContainerRegistry/registries/r1";
    const REG2: &str =
        "/subscriptions/s1/resourceGroups/g1/providers/Microsoft.ContainerRegistry/registries/r2";

    fn assign(role: &str, scope: &str) -> Assignment {
        Assignment {
            id: format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{role}"),
            scope: scope.into(),
            role_definition_guid: builtin_by_name(role)
                .map(|r| r.id_guid.clone())
                .unwrap_or_else(|| role.into()),
            principal_id: "p".into(),
            condition: None,
            condition_version: None,
        }
    }

    fn lookup(guid: &str) -> Option<RoleDefinition> {
        super::super::roles::builtin_by_guid(guid).cloned()
    }

    fn allowed(
        assignments: &[Assignment],
        action: &str,
        kind: ActionKind,
        scope: &str,
        attrs: &dyn Fn(&str) -> Option<String>,
    ) -> bool {
        let ids = ["p".to_string()];
        let req = Request {
            principal_ids: &ids,
            action,
            kind,
            scope,
            attributes: attrs,
        };
        matches!(
            evaluate(&req, assignments, &[], &lookup),
            Decision::Allowed { .. }
        )
    }

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn owner_contributor_reader() {
        let c = [assign("Contributor", SUB)];
        assert!(allowed(
            &c,
            "Microsoft.ContainerRegistry/registries/write",
            ActionKind::Control,
            REG,
            &none
        ));
        assert!(!allowed(
            &c,
            "Microsoft.Authorization/roleAssignments/write",
            ActionKind::Control,
            RG,
            &none
        ));
        let o = [assign("Owner", SUB)];
        assert!(allowed(
            &o,
            "Microsoft.Authorization/roleAssignments/write",
            ActionKind::Control,
            RG,
            &none
        ));
        assert!(
            !allowed(
                &o,
                "Microsoft.ContainerRegistry/registries/repositories/content/read",
                ActionKind::Data,
                REG,
                &none
            ),
            "Owner has no data actions"
        );
        let r = [assign("Reader", RG)];
        assert!(allowed(
            &r,
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            ActionKind::Control,
            RG,
            &none
        ));
        assert!(!allowed(
            &r,
            "Microsoft.Resources/subscriptions/resourceGroups/write",
            ActionKind::Control,
            RG,
            &none
        ));
        assert!(
            !allowed(
                &r,
                "Microsoft.Resources/subscriptions/resourceGroups/read",
                ActionKind::Control,
                SUB,
                &none
            ),
            "no upward inheritance"
        );
        // Contributor's NotActions are not a deny: Owner elsewhere still grants.
        let both = [assign("Contributor", SUB), assign("Owner", RG)];
        assert!(allowed(
            &both,
            "Microsoft.Authorization/roleAssignments/write",
            ActionKind::Control,
            REG,
            &none
        ));
    }

    #[test]
    fn acrpull_is_per_registry() {
        let a = [assign("AcrPull", REG)];
        assert!(allowed(
            &a,
            "Microsoft.ContainerRegistry/registries/pull/read",
            ActionKind::Control,
            REG,
            &none
        ));
        assert!(!allowed(
            &a,
            "Microsoft.ContainerRegistry/registries/pull/read",
            ActionKind::Control,
            REG2,
            &none
        ));
        assert!(!allowed(
            &a,
            "Microsoft.ContainerRegistry/registries/push/write",
            ActionKind::Control,
            REG,
            &none
        ));
        assert!(!scope_covers(
            "/subscriptions/s1/resourceGroups/ab",
            "/subscriptions/s1/resourceGroups/abc"
        ));
        assert!(scope_covers("/", REG));
        assert!(scope_covers("/SUBSCRIPTIONS/S1/", REG));
    }

    #[test]
    fn repository_roles_with_conditions() {
        let read = "Microsoft.ContainerRegistry/registries/repositories/content/read";
        let mut a = assign("Container Registry Repository Reader", REG);
        a.condition = Some(format!(
            "((!(ActionMatches{{'{read}'}})) OR (@Request[Microsoft.ContainerRegistry/registries/repositories:name] StringEqualsIgnoreCase 'hello-world'))"
        ));
        let hello = |k: &str| {
            k.ends_with("repositories:name")
                .then(|| "hello-world".to_string())
        };
        let other = |k: &str| {
            k.ends_with("repositories:name")
                .then(|| "other".to_string())
        };
        let set = [a.clone()];
        assert!(allowed(&set, read, ActionKind::Data, REG, &hello));
        assert!(!allowed(&set, read, ActionKind::Data, REG, &other));
        // An unconditional grant of the same data action bypasses the condition.
        let with_plain = [a, assign("Container Registry Repository Reader", RG)];
        assert!(allowed(&with_plain, read, ActionKind::Data, REG, &other));
    }

    #[test]
    fn deny_assignments_win() {
        let ids = ["p".to_string()];
        let req = Request {
            principal_ids: &ids,
            action: "Microsoft.Resources/subscriptions/resourceGroups/write",
            kind: ActionKind::Control,
            scope: RG,
            attributes: &none,
        };
        let deny = DenyAssignment {
            id: "d1".into(),
            scope: SUB.into(),
            principal_ids: vec![EVERYONE.into()],
            exclude_principal_ids: vec![],
            permissions: vec![Permission {
                actions: vec!["*/write".into()],
                ..Default::default()
            }],
            does_not_apply_to_child_scopes: false,
        };
        let owner = [assign("Owner", SUB)];
        assert_eq!(
            evaluate(&req, &owner, std::slice::from_ref(&deny), &lookup),
            Decision::Denied {
                reason: DenyReason::DenyAssignment { id: "d1".into() }
            }
        );
        let excluded = DenyAssignment {
            exclude_principal_ids: vec!["P".into()],
            ..deny.clone()
        };
        assert!(matches!(
            evaluate(&req, &owner, &[excluded], &lookup),
            Decision::Allowed { .. }
        ));
        let here_only = DenyAssignment {
            does_not_apply_to_child_scopes: true,
            ..deny
        };
        assert!(matches!(
            evaluate(&req, &owner, &[here_only], &lookup),
            Decision::Allowed { .. }
        ));
    }

    #[test]
    fn reasons() {
        let ids = ["p".to_string()];
        let req = Request {
            principal_ids: &ids,
            action: "Microsoft.X/y/write",
            kind: ActionKind::Control,
            scope: RG,
            attributes: &none,
        };
        assert_eq!(
            evaluate(&req, &[], &[], &lookup),
            Decision::Denied {
                reason: DenyReason::NoAssignment
            }
        );
        assert_eq!(
            evaluate(&req, &[assign("Reader", SUB)], &[], &lookup),
            Decision::Denied {
                reason: DenyReason::NoRoleGrants {
                    considered: vec!["Reader".into()]
                }
            }
        );
    }

    // ---- the reference model --------------------------------------------

    /// Wildcards the slow, obvious way: recursion over characters, lower-cased first.
    fn ref_match(p: &[char], a: &[char]) -> bool {
        match p.split_first() {
            None => a.is_empty(),
            Some(('*', rest)) => (0..=a.len()).any(|i| ref_match(rest, &a[i..])),
            Some((c, rest)) => a.first() == Some(c) && ref_match(rest, &a[1..]),
        }
    }

    fn ref_matches(p: &str, a: &str) -> bool {
        let p: Vec<char> = p.to_lowercase().chars().collect();
        let a: Vec<char> = a.to_lowercase().chars().collect();
        ref_match(&p, &a)
    }

    /// Azure's rule as the documentation states it, with no shortcuts.
    fn reference(
        roles: &[RoleDefinition],
        assignments: &[(usize, String)],
        action: &str,
        scope: &str,
    ) -> bool {
        assignments.iter().any(|(ri, at)| {
            let at_segs: Vec<String> = at
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| s.to_lowercase())
                .collect();
            let sc_segs: Vec<String> = scope
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| s.to_lowercase())
                .collect();
            let inherited =
                sc_segs.len() >= at_segs.len() && sc_segs[..at_segs.len()] == at_segs[..];
            inherited
                && roles[*ri].permissions.iter().any(|p| {
                    p.actions.iter().any(|x| ref_matches(x, action))
                        && !p.not_actions.iter().any(|x| ref_matches(x, action))
                })
        })
    }

    fn flip_case(s: &str, mask: u64) -> String {
        s.chars()
            .enumerate()
            .map(|(i, c)| {
                if mask >> (i % 64) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    }

    fn action_strategy() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec!["Microsoft.A", "Microsoft.B"]),
            prop::sample::select(vec!["x", "y", "x/z"]),
            prop::sample::select(vec!["read", "write", "delete"]),
            any::<u64>(),
        )
            .prop_map(|(ns, t, v, mask)| flip_case(&format!("{ns}/{t}/{v}"), mask))
    }

    fn pattern_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("*".to_string()),
            Just("*/read".to_string()),
            Just("Microsoft.A/*".to_string()),
            Just("Microsoft.B/*/write".to_string()),
            Just("*/x/*".to_string()),
            action_strategy(),
        ]
        .prop_flat_map(|p| any::<u64>().prop_map(move |m| flip_case(&p, m)))
    }

    fn scope_strategy() -> impl Strategy<Value = String> {
        (
            prop::sample::select(vec![
                "/",
                "/subscriptions/s1",
                "/subscriptions/s1/resourceGroups/g1",
                "/subscriptions/s1/resourceGroups/g10",
                "/subscriptions/s1/resourceGroups/g1/providers/Microsoft.A/x/r1",
                "/subscriptions/s1/resourceGroups/g1/providers/Microsoft.A/x/r1/y/c1",
                "/subscriptions/s2",
            ]),
            any::<u64>(),
        )
            .prop_map(|(s, m)| flip_case(s, m))
    }

    fn role_strategy() -> impl Strategy<Value = RoleDefinition> {
        prop::collection::vec(
            (
                prop::collection::vec(pattern_strategy(), 0..3),
                prop::collection::vec(pattern_strategy(), 0..2),
            ),
            1..3,
        )
        .prop_map(|blocks| RoleDefinition {
            id_guid: String::new(),
            role_name: "r".into(),
            role_type: RoleType::Custom,
            permissions: blocks
                .into_iter()
                .map(|(actions, not_actions)| Permission {
                    actions,
                    not_actions,
                    ..Default::default()
                })
                .collect(),
            assignable_scopes: vec!["/".into()],
            description: String::new(),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn engine_agrees_with_the_reference_model(
            roles in prop::collection::vec(role_strategy(), 1..4),
            picks in prop::collection::vec((0usize..4, scope_strategy(), any::<bool>()), 0..5),
            action in action_strategy(),
            scope in scope_strategy(),
        ) {
            let roles: Vec<RoleDefinition> = roles.into_iter().enumerate().map(|(i, mut r)| { r.id_guid = format!("role{i}"); r }).collect();
            // Some assignments belong to someone else and must not count.
            let mine: Vec<(usize, String)> = picks.iter().filter(|(_, _, other)| !other).map(|(r, s, _)| (r % roles.len(), s.clone())).collect();
            let assignments: Vec<Assignment> = picks.iter().enumerate().map(|(i, (r, s, other))| Assignment {
                id: format!("a{i}"),
                scope: s.clone(),
                role_definition_guid: format!("role{}", r % roles.len()),
                principal_id: if *other { "q".into() } else { flip_case("pp", i as u64) },
                condition: None,
                condition_version: None,
            }).collect();
            let ids = ["PP".to_string()];
            let req = Request { principal_ids: &ids, action: &action, kind: ActionKind::Control, scope: &scope, attributes: &none };
            let lookup = |g: &str| roles.iter().find(|r| r.id_guid == g).cloned();
            let got = matches!(evaluate(&req, &assignments, &[], &lookup), Decision::Allowed { .. });
            prop_assert_eq!(got, reference(&roles, &mine, &action, &scope));
        }

        #[test]
        fn wildcard_matching_agrees_with_the_reference(p in "[a-cA-C*/]{0,8}", a in "[a-cA-C/]{0,8}") {
            prop_assert_eq!(action_matches(&p, &a), ref_matches(&p, &a));
        }
    }
}
