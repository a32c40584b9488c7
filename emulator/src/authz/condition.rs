//! ABAC conditions (`conditionVersion` 2.0) as Azure writes them on role
//! assignments, e.g. the ACR repository roles':
//!
//! ```text
//! ((!(ActionMatches{'Microsoft.ContainerRegistry/registries/repositories/content/read'}))
//!  OR (@Request[Microsoft.ContainerRegistry/registries/repositories:name] StringStartsWithIgnoreCase 'team-a/'))
//! ```
//!
//! Grammar: `OR`/`AND` (case-insensitive, AND binds tighter), `!`/`NOT`,
//! parentheses, `ActionMatches{'…'}`, `SubOperationMatches{'…'}`, and
//! comparisons `@Request|@Resource|@Principal|@Environment[attr] <Operator> 'value'`
//! (or `{'a', 'b'}` with `ForAnyOfAnyValues:`/`ForAllOfAnyValues:` prefixes).
//! A comparison on an attribute the request does not carry is false
//! (https://learn.microsoft.com/azure/role-based-access-control/conditions-format).
//! Malformed input is an error, never a panic.

use super::matching::action_matches;

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Or(Vec<Condition>),
    And(Vec<Condition>),
    Not(Box<Condition>),
    ActionMatches(String),
    SubOperationMatches(String),
    Compare {
        source: String,
        attribute: String,
        op: String,
        values: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ConditionError(String);

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, ConditionError> {
        Err(ConditionError(format!("{what} at position {}", self.i)))
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn keyword(&mut self, kw: &str) -> bool {
        self.ws();
        let end = self.i + kw.len();
        let matches = end <= self.s.len()
            && self.s[self.i..end].eq_ignore_ascii_case(kw.as_bytes())
            && self.s.get(end).is_none_or(|c| !c.is_ascii_alphanumeric());
        if matches {
            self.i = end;
        }
        matches
    }

    fn or(&mut self, depth: usize) -> Result<Condition, ConditionError> {
        let mut items = vec![self.and(depth)?];
        while self.keyword("OR") || self.symbol("||") {
            items.push(self.and(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Condition::Or(items)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Condition, ConditionError> {
        let mut items = vec![self.unary(depth)?];
        while self.keyword("AND") || self.symbol("&&") {
            items.push(self.unary(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Condition::And(items)
        })
    }

    fn symbol(&mut self, sym: &str) -> bool {
        self.ws();
        if self.s[self.i..].starts_with(sym.as_bytes()) {
            self.i += sym.len();
            true
        } else {
            false
        }
    }

    fn unary(&mut self, depth: usize) -> Result<Condition, ConditionError> {
        if depth > 64 {
            return self.err("condition nested too deeply");
        }
        if self.symbol("!") || self.keyword("NOT") {
            return Ok(Condition::Not(Box::new(self.unary(depth + 1)?)));
        }
        if self.symbol("(") {
            let inner = self.or(depth + 1)?;
            if !self.symbol(")") {
                return self.err("expected ')'");
            }
            return Ok(inner);
        }
        self.atom()
    }

    fn quoted(&mut self) -> Result<String, ConditionError> {
        self.ws();
        if self.s.get(self.i) != Some(&b'\'') {
            return self.err("expected a quoted string");
        }
        self.i += 1;
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != b'\'' {
            self.i += 1;
        }
        if self.i >= self.s.len() {
            return self.err("unterminated string");
        }
        let v = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.i += 1;
        Ok(v)
    }

    fn ident(&mut self) -> String {
        self.ws();
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric()
                || matches!(self.s[self.i], b':' | b'_' | b'@'))
        {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn braced_string(&mut self) -> Result<String, ConditionError> {
        if !self.symbol("{") {
            return self.err("expected '{'");
        }
        let v = self.quoted()?;
        if !self.symbol("}") {
            return self.err("expected '}'");
        }
        Ok(v)
    }

    fn atom(&mut self) -> Result<Condition, ConditionError> {
        if self.peek() == Some(b'@') {
            let source = self.ident();
            if !self.symbol("[") {
                return self.err("expected '['");
            }
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i] != b']' {
                self.i += 1;
            }
            if self.i >= self.s.len() {
                return self.err("expected ']'");
            }
            let attribute = String::from_utf8_lossy(&self.s[start..self.i])
                .trim()
                .to_string();
            self.i += 1;
            let op = self.ident();
            if op.is_empty() {
                return self.err("expected an operator");
            }
            let values = if self.symbol("{") {
                let mut v = vec![self.quoted()?];
                while self.symbol(",") {
                    v.push(self.quoted()?);
                }
                if !self.symbol("}") {
                    return self.err("expected '}'");
                }
                v
            } else {
                vec![self.quoted()?]
            };
            let known = ["@Request", "@Resource", "@Principal", "@Environment"];
            if !known.iter().any(|k| k.eq_ignore_ascii_case(&source)) {
                return self.err("unknown attribute source");
            }
            if operator(&op).is_none() {
                return Err(ConditionError(format!("unsupported operator '{op}'")));
            }
            return Ok(Condition::Compare {
                source,
                attribute,
                op,
                values,
            });
        }
        let name = self.ident();
        if name.eq_ignore_ascii_case("ActionMatches") {
            return Ok(Condition::ActionMatches(self.braced_string()?));
        }
        if name.eq_ignore_ascii_case("SubOperationMatches") {
            return Ok(Condition::SubOperationMatches(self.braced_string()?));
        }
        self.err("expected an expression")
    }
}

/// (negated, base operator) for a known operator name.
fn operator(op: &str) -> Option<(bool, &'static str)> {
    let base = op.rsplit(':').next().unwrap_or(op).to_ascii_lowercase();
    Some(match base.as_str() {
        "stringequals" => (false, "eq"),
        "stringequalsignorecase" => (false, "eq_i"),
        "stringnotequals" => (true, "eq"),
        "stringnotequalsignorecase" => (true, "eq_i"),
        "stringstartswith" => (false, "sw"),
        "stringstartswithignorecase" => (false, "sw_i"),
        "stringnotstartswith" => (true, "sw"),
        "stringnotstartswithignorecase" => (true, "sw_i"),
        "stringlike" => (false, "like"),
        "stringnotlike" => (true, "like"),
        _ => return None,
    })
}

/// `StringLike`: `*` matches any run of characters, case-insensitively.
fn like(pattern: &str, s: &str) -> bool {
    action_matches(pattern, s)
}

pub fn parse(src: &str) -> Result<Condition, ConditionError> {
    let mut p = Parser {
        s: src.as_bytes(),
        i: 0,
    };
    let c = p.or(0)?;
    p.ws();
    if p.i != p.s.len() {
        return p.err("unexpected text");
    }
    Ok(c)
}

impl Condition {
    /// Does the condition hold for `action` with these request attributes?
    pub fn evaluate(&self, action: &str, attrs: &dyn Fn(&str) -> Option<String>) -> bool {
        match self {
            Condition::Or(v) => v.iter().any(|c| c.evaluate(action, attrs)),
            Condition::And(v) => v.iter().all(|c| c.evaluate(action, attrs)),
            Condition::Not(c) => !c.evaluate(action, attrs),
            Condition::ActionMatches(p) => action_matches(p, action),
            Condition::SubOperationMatches(_) => false,
            Condition::Compare {
                attribute,
                op,
                values,
                ..
            } => {
                let Some(actual) = attrs(attribute) else {
                    return false;
                };
                let Some((negated, base)) = operator(op) else {
                    return false;
                };
                let hit = values.iter().any(|v| match base {
                    "eq" => actual == *v,
                    "eq_i" => actual.eq_ignore_ascii_case(v),
                    "sw" => actual.starts_with(v.as_str()),
                    "sw_i" => actual
                        .to_ascii_lowercase()
                        .starts_with(&v.to_ascii_lowercase()),
                    "like" => like(v, &actual),
                    _ => false,
                });
                hit != negated
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REPO: &str = "Microsoft.ContainerRegistry/registries/repositories:name";
    const READ: &str = "Microsoft.ContainerRegistry/registries/repositories/content/read";

    fn repo(name: &'static str) -> impl Fn(&str) -> Option<String> {
        move |k: &str| (k == REPO).then(|| name.to_string())
    }

    #[test]
    fn acr_repository_condition() {
        let c = parse(&format!(
            "((!(ActionMatches{{'{READ}'}}) AND !(ActionMatches{{'Microsoft.ContainerRegistry/registries/repositories/metadata/read'}})) OR (@Request[{REPO}] StringStartsWithIgnoreCase 'team-a/'))"
        ))
        .unwrap();
        assert!(c.evaluate(READ, &repo("team-a/app")));
        assert!(c.evaluate(READ, &repo("TEAM-A/app")));
        assert!(!c.evaluate(READ, &repo("team-b/app")));
        assert!(
            !c.evaluate(READ, &|_| None),
            "a missing attribute makes the comparison false"
        );
        assert!(c.evaluate(
            "Microsoft.ContainerRegistry/registries/repositories/content/write",
            &repo("team-b/app")
        ));
    }

    #[test]
    fn operators_and_lists() {
        let eq = parse(&format!("@Request[{REPO}] StringEquals 'hello-world'")).unwrap();
        assert!(eq.evaluate(READ, &repo("hello-world")));
        assert!(!eq.evaluate(READ, &repo("Hello-World")));
        let any = parse(&format!(
            "@Request[{REPO}] ForAnyOfAnyValues:StringEqualsIgnoreCase {{'a', 'b'}}"
        ))
        .unwrap();
        assert!(any.evaluate(READ, &repo("B")));
        let not = parse(&format!(
            "@Request[{REPO}] StringNotEquals 'x' and not (@Request[{REPO}] StringLike 'y*')"
        ))
        .unwrap();
        assert!(not.evaluate(READ, &repo("z")));
        assert!(!not.evaluate(READ, &repo("yes")));
        for bad in [
            "",
            "(",
            "ActionMatches{'x'",
            "@Request[a] Bogus 'x'",
            "@Request[a] StringEquals",
            "x AND",
            "@Nope[a] StringEquals 'x'",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "[ -~]{0,120}") {
            if let Ok(c) = parse(&s) {
                let _ = c.evaluate("a/b", &|_| Some("v".into()));
            }
        }

        #[test]
        fn never_panics_on_near_misses(parts in proptest::collection::vec(prop_oneof![
            Just("("), Just(")"), Just("!"), Just(" AND "), Just(" OR "), Just("ActionMatches{'a/*'}"),
            Just("@Request[x]"), Just(" StringEquals "), Just("'v'"), Just("{'a','b'}"), Just("{"), Just("'"),
        ], 0..12)) {
            let s: String = parts.concat();
            if let Ok(c) = parse(&s) {
                let _ = c.evaluate("a/b", &|_| Some("v".into()));
            }
        }
    }
}
