//! Azure's action wildcards, as role definitions (`actions`, `notActions`,
//! `dataActions`, `notDataActions`), deny assignments and ABAC
//! `ActionMatches{'…'}` use them.
//!
//! - `*` matches any run of characters, slashes included, and may appear
//!   anywhere: `*`, `*/read`, `Microsoft.Authorization/*/Write`,
//!   `Microsoft.ContainerRegistry/registries/*`
//!   (<https://learn.microsoft.com/azure/role-based-access-control/role-definitions#actions>:
//!   "The wildcard (`*`) extends a permission to everything that matches the
//!   string you provide").
//! - Comparison ignores ASCII case (`Microsoft.Authorization/*/Write` in
//!   Contributor's NotActions removes `…/roleAssignments/write`).
//! - A `*` that stands alone between two slashes also matches *no* segment:
//!   `Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action` (the
//!   built-in Managed Identity Operator's only assign permission) must grant
//!   `Microsoft.ManagedIdentity/userAssignedIdentities/assign/action`, which is
//!   exactly the action ARM checks when an identity is attached (its
//!   `LinkedAuthorizationFailed` names it, and Microsoft's guidance for that
//!   error is to assign Managed Identity Operator). Read literally, `/*/`
//!   would need at least the two slashes; Azure evidently does not.
//!
//! The matcher is a small Thompson-style simulation over pattern positions:
//! no recursion, no backtracking blow-up, O(pattern × action) time and
//! O(pattern) memory, and it never panics on any input.

/// Does `pattern` match `action` (ASCII case-insensitively)?
pub fn action_matches(pattern: &str, action: &str) -> bool {
    let p = pattern.as_bytes();
    let n = p.len();
    // `live[i]`: the first `i` pattern bytes can match the input read so far.
    let mut live = vec![false; n + 1];
    let mut next = vec![false; n + 1];
    mark(&mut live, 0);
    close(p, &mut live);
    for &c in action.as_bytes() {
        next.iter_mut().for_each(|x| *x = false);
        let mut any = false;
        for (i, &pc) in p.iter().enumerate() {
            if live.get(i) != Some(&true) {
                continue;
            }
            if pc == b'*' {
                // A star swallows `c` and stays put.
                any |= mark(&mut next, i);
            } else if pc.eq_ignore_ascii_case(&c) {
                any |= mark(&mut next, i + 1);
                // Having just read a `/`, each `*/` that follows may stand
                // for no segment at all: `a/*/b` reads `a/b`.
                let mut t = i + 1;
                while pc == b'/' && p.get(t) == Some(&b'*') && p.get(t + 1) == Some(&b'/') {
                    t += 2;
                    mark(&mut next, t);
                }
            }
        }
        if !any {
            return false;
        }
        close(p, &mut next);
        std::mem::swap(&mut live, &mut next);
    }
    live.get(n) == Some(&true)
}

fn mark(states: &mut [bool], i: usize) -> bool {
    states.get_mut(i).map(|s| *s = true).is_some()
}

/// A star may also match nothing: follow it without reading input. The move
/// goes forward, so one pass reaches every state.
fn close(p: &[u8], states: &mut [bool]) {
    for (i, &pc) in p.iter().enumerate() {
        if pc == b'*' && states.get(i) == Some(&true) {
            mark(states, i + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::action_matches as m;
    use proptest::prelude::*;

    #[test]
    fn wildcards() {
        assert!(m("*", "Microsoft.Anything/x/write"));
        assert!(m("*", ""));
        assert!(m(
            "*/read",
            "Microsoft.Resources/subscriptions/resourceGroups/read"
        ));
        assert!(!m(
            "*/read",
            "Microsoft.Resources/subscriptions/resourceGroups/write"
        ));
        assert!(m(
            "Microsoft.Authorization/*/Write",
            "microsoft.authorization/roleAssignments/write"
        ));
        assert!(m(
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/policyAssignments/exemptions/write"
        ));
        assert!(!m(
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/roleAssignments/delete"
        ));
        assert!(m(
            "Microsoft.ContainerRegistry/registries/*",
            "Microsoft.ContainerRegistry/registries/pull/read"
        ));
        assert!(!m(
            "Microsoft.ContainerRegistry/registries/pull/read",
            "Microsoft.ContainerRegistry/registries/push/write"
        ));
        assert!(!m(
            "Microsoft.ContainerRegistry/registries/pull/read",
            "Microsoft.ContainerRegistry/registries/pull/read/extra"
        ));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(!m("a", ""));
        assert!(m("**", "anything"));
    }

    #[test]
    fn a_lone_star_segment_may_be_absent() {
        let op = "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action";
        assert!(m(
            op,
            "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"
        ));
        assert!(m(
            op,
            "Microsoft.ManagedIdentity/userAssignedIdentities/x/y/assign/action"
        ));
        assert!(m(
            "Microsoft.ManagedIdentity/userAssignedIdentities/*/read",
            "Microsoft.ManagedIdentity/userAssignedIdentities/read"
        ));
        assert!(!m(
            "Microsoft.ManagedIdentity/userAssignedIdentities/*/read",
            "Microsoft.ManagedIdentity/userAssignedIdentitiesread"
        ));
        // Only a star standing alone between slashes collapses.
        assert!(!m("a/x*/b", "a/b"));
        assert!(!m("a/*x/b", "a/b"));
        assert!(m("a/*/*/b", "a/b"));
    }

    #[test]
    fn non_ascii_and_odd_input_never_panics() {
        assert!(m("é*", "éàü"));
        assert!(!m("É", "é"), "only ASCII folds");
        assert!(m("*/*", "/"));
        assert!(m("/*/", "/"));
    }

    /// The obvious recursive definition, lower-cased first.
    fn reference(p: &[char], a: &[char], prev: Option<char>) -> bool {
        match p.split_first() {
            None => a.is_empty(),
            Some(('*', rest)) => {
                (0..=a.len()).any(|i| reference(rest, &a[i..], Some('*')))
                    || (prev == Some('/')
                        && rest.first() == Some(&'/')
                        && reference(&rest[1..], a, Some('/')))
            }
            Some((c, rest)) => a.first() == Some(c) && reference(rest, &a[1..], Some(*c)),
        }
    }

    fn reference_matches(p: &str, a: &str) -> bool {
        let p: Vec<char> = p.to_ascii_lowercase().chars().collect();
        let a: Vec<char> = a.to_ascii_lowercase().chars().collect();
        reference(&p, &a, None)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn agrees_with_the_reference(p in "[abAB*/]{0,9}", a in "[abAB/]{0,9}") {
            prop_assert_eq!(m(&p, &a), reference_matches(&p, &a));
        }

        #[test]
        fn any_text_is_safe(p in "\\PC{0,40}", a in "\\PC{0,40}") {
            let _ = m(&p, &a);
        }
    }
}
