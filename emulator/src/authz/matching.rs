//! Action wildcard matching (placeholder).
pub fn action_matches(pattern: &str, action: &str) -> bool {
    fn m(p: &[u8], a: &[u8]) -> bool {
        match p.split_first() {
            None => a.is_empty(),
            Some((b'*', rest)) => (0..=a.len()).any(|i| m(rest, &a[i..])),
            Some((c, rest)) => a
                .split_first()
                .is_some_and(|(x, ar)| x.eq_ignore_ascii_case(c) && m(rest, ar)),
        }
    }
    m(pattern.as_bytes(), action.as_bytes())
}
