//! ABAC conditions (`conditionVersion` 2.0) on role assignments, as Azure
//! writes them, e.g. for the Container Registry repository roles:
//!
//! ```text
//! ((!(ActionMatches{'Microsoft.ContainerRegistry/registries/repositories/content/read'}))
//!  OR (@Request[Microsoft.ContainerRegistry/registries/repositories:name] StringEqualsIgnoreCase 'hello-world'))
//! ```
//!
//! What is supported, following the format reference
//! (<https://learn.microsoft.com/azure/role-based-access-control/conditions-format>):
//!
//! - `AND`/`&&`, `OR`/`||`, `NOT`/`!`, parentheses. Keywords ignore case.
//!   Mixing `AND` and `OR` at one level without parentheses is rejected, as
//!   the reference requires (`a AND b OR c` must be written `(a AND b) OR c`).
//! - `ActionMatches{'pattern'}` (the same wildcard rules as role
//!   permissions, [`super::matching`]) and `SubOperationMatches{'name'}`
//!   (true only when the request names that sub-operation; plain
//!   [`Condition::evaluate`] passes none).
//! - `@Request[attr]`, `@Resource[attr]`, `@Principal[attr]`,
//!   `@Environment[attr]` compared with `StringEquals`, `StringNotEquals`,
//!   `StringStartsWith`, `StringNotStartsWith`, `StringLike`, `StringNotLike`
//!   (each also `…IgnoreCase`; `Like` takes `*` and `?`, escaped as `\*`,
//!   `\?`), `NumericEquals`/`NotEquals`/`LessThan`/`LessThanEquals`/
//!   `GreaterThan`/`GreaterThanEquals` (integers), `GuidEquals`/`GuidNotEquals`
//!   and `BoolEquals`/`BoolNotEquals`; a value or a `{v1, v2}` list, with the
//!   cross-product prefixes `ForAnyOfAnyValues:`, `ForAllOfAnyValues:`,
//!   `ForAnyOfAllValues:`, `ForAllOfAllValues:`.
//! - `Exists @Resource[attr]`.
//!
//! Attributes are looked up by source and name ([`Attributes`]): a role
//! assignment write carries `@Request[…]` attributes only and a delete
//! `@Resource[…]` ones only, as the authorization actions reference lists
//! them (<https://learn.microsoft.com/azure/role-based-access-control/conditions-authorization-actions-attributes>).
//!
//! **Absent attributes fail closed.** A comparison on an attribute the
//! request does not carry is false, whatever the operator (negated ones
//! too) and whatever the cross-product prefix; only `Exists` tells absence
//! apart. The format reference shows the idiom this implies: a condition
//! that must also hold when an attribute is missing says so explicitly,
//! `… DateTimeEquals '…' OR NOT Exists @Request[…:versionId]` (the `Or`
//! example in conditions-format.md).
//! TODO-fidelity: Microsoft's pages do not state the evaluation of a
//! comparison on a missing attribute in words (searched conditions-format.md,
//! conditions-troubleshoot.md, the delegation examples, and code/issues for
//! "attribute doesn't exist"/"isn't present"); vacuous truth for
//! `ForAllOf…` on a missing attribute is deliberately not emulated.
//!
//! Anything else (`DateTime…`, `IpMatch`, …) is a parse error. Malformed
//! input is an error, never a panic; nesting is capped at [`MAX_DEPTH`].

use super::matching::action_matches;

/// Deepest nesting of parentheses and negations accepted.
pub const MAX_DEPTH: usize = 64;

/// A request's attribute values, by source and name
/// (`(Source::Request, "Microsoft.Authorization/roleAssignments:RoleDefinitionId")`);
/// `None` when the request does not carry it.
pub type Attributes<'a> = &'a dyn Fn(Source, &str) -> Option<String>;

/// No attributes at all (every comparison is false).
pub fn no_attributes(_: Source, _: &str) -> Option<String> {
    None
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Or(Vec<Condition>),
    And(Vec<Condition>),
    Not(Box<Condition>),
    ActionMatches(String),
    SubOperationMatches(String),
    Exists {
        source: Source,
        attribute: String,
    },
    Compare {
        source: Source,
        attribute: String,
        quantifier: Quantifier,
        op: Operator,
        values: Vec<String>,
    },
}

/// Where an attribute comes from (`@Request[…]`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Request,
    Resource,
    Principal,
    Environment,
}

/// The cross-product prefix. The request carries one value per attribute,
/// so `…OfAny…` means "some listed value" and `…OfAll…` "every listed value".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    /// No prefix.
    Plain,
    AnyOfAny,
    AllOfAny,
    AnyOfAll,
    AllOfAll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    StringEquals,
    StringStartsWith,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    GuidEquals,
    BoolEquals,
}

/// A comparison operator: a function, maybe case-insensitive, maybe negated
/// (`StringNotStartsWithIgnoreCase` is `StringStartsWith`, both flags set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operator {
    pub function: Function,
    pub ignore_case: bool,
    pub negated: bool,
}

/// Why a condition did not parse: a message and the byte offset it refers to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at position {position}")]
pub struct ConditionError {
    pub message: String,
    pub position: usize,
}

/// Parse a condition (conditionVersion 2.0).
pub fn parse(src: &str) -> Result<Condition, ConditionError> {
    let mut p = Parser {
        s: src.as_bytes(),
        i: 0,
    };
    let c = p.expr(0)?;
    p.ws();
    if p.i < p.s.len() {
        return p.err("unexpected text");
    }
    Ok(c)
}

impl Condition {
    /// Does the condition hold for `action`, with attributes looked up by source and name?
    pub fn evaluate(&self, action: &str, attrs: Attributes) -> bool {
        self.evaluate_with(action, None, attrs)
    }

    /// [`Condition::evaluate`], for a request that also names a sub-operation.
    pub fn evaluate_with(
        &self,
        action: &str,
        sub_operation: Option<&str>,
        attrs: Attributes,
    ) -> bool {
        match self {
            Condition::Or(v) => v
                .iter()
                .any(|c| c.evaluate_with(action, sub_operation, attrs)),
            Condition::And(v) => v
                .iter()
                .all(|c| c.evaluate_with(action, sub_operation, attrs)),
            Condition::Not(c) => !c.evaluate_with(action, sub_operation, attrs),
            Condition::ActionMatches(p) => action_matches(p, action),
            Condition::SubOperationMatches(s) => {
                sub_operation.is_some_and(|o| o.eq_ignore_ascii_case(s))
            }
            Condition::Exists { source, attribute } => attrs(*source, attribute).is_some(),
            Condition::Compare {
                source,
                attribute,
                quantifier,
                op,
                values,
            } => {
                let Some(actual) = attrs(*source, attribute) else {
                    return false;
                };
                let one = |v: &String| compare(*op, &actual, v);
                match quantifier {
                    Quantifier::Plain | Quantifier::AnyOfAny | Quantifier::AllOfAny => {
                        values.iter().any(one)
                    }
                    Quantifier::AnyOfAll | Quantifier::AllOfAll => values.iter().all(one),
                }
            }
        }
    }
}

/// One comparison of the request's value with one listed value.
fn compare(op: Operator, actual: &str, value: &str) -> bool {
    let lower = |s: &str| s.to_lowercase();
    let (a, v) = if op.ignore_case {
        (lower(actual), lower(value))
    } else {
        (actual.to_string(), value.to_string())
    };
    let holds = match op.function {
        Function::StringEquals => a == v,
        Function::StringStartsWith => a.starts_with(&v),
        Function::StringLike => like(&v, &a),
        Function::GuidEquals => match (guid(actual), guid(value)) {
            (Some(x), Some(y)) => x == y,
            _ => return false,
        },
        Function::BoolEquals => match (boolean(actual), boolean(value)) {
            (Some(x), Some(y)) => x == y,
            _ => return false,
        },
        numeric => {
            let (Ok(x), Ok(y)) = (actual.trim().parse::<i64>(), value.parse::<i64>()) else {
                return false;
            };
            match numeric {
                Function::NumericEquals => x == y,
                Function::NumericLessThan => x < y,
                Function::NumericLessThanEquals => x <= y,
                Function::NumericGreaterThan => x > y,
                _ => x >= y,
            }
        }
    };
    holds != op.negated
}

/// A GUID with or without hyphens and braces, lower-cased; `None` if it is not one.
fn guid(s: &str) -> Option<String> {
    let hex: String = s
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .chars()
        .filter(|c| *c != '-')
        .collect();
    (hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

fn boolean(s: &str) -> Option<bool> {
    match s.trim() {
        t if t.eq_ignore_ascii_case("true") => Some(true),
        t if t.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum LikeToken {
    Many,
    One,
    Lit(char),
}

/// `StringLike`: `*` any run, `?` one character, `\*` and `\?` literal.
/// The same forward simulation as [`action_matches`], over characters.
fn like(pattern: &str, s: &str) -> bool {
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        toks.push(match c {
            '*' => LikeToken::Many,
            '?' => LikeToken::One,
            '\\' => match chars.next() {
                Some(e) => LikeToken::Lit(e),
                None => LikeToken::Lit('\\'),
            },
            c => LikeToken::Lit(c),
        });
    }
    let close = |states: &mut Vec<bool>| {
        for (i, t) in toks.iter().enumerate() {
            if *t == LikeToken::Many
                && states.get(i) == Some(&true)
                && let Some(n) = states.get_mut(i + 1)
            {
                *n = true;
            }
        }
    };
    let mut live = vec![false; toks.len() + 1];
    if let Some(first) = live.first_mut() {
        *first = true;
    }
    close(&mut live);
    for c in s.chars() {
        let mut next = vec![false; toks.len() + 1];
        for (i, t) in toks.iter().enumerate() {
            if live.get(i) != Some(&true) {
                continue;
            }
            let to = match t {
                LikeToken::Many => i,
                LikeToken::One => i + 1,
                LikeToken::Lit(l) if *l == c => i + 1,
                LikeToken::Lit(_) => continue,
            };
            if let Some(n) = next.get_mut(to) {
                *n = true;
            }
        }
        close(&mut next);
        live = next;
    }
    live.last() == Some(&true)
}

/// `(negated, function, ignore_case)` for an operator name without its prefix.
fn function(name: &str) -> Option<Operator> {
    let lower = name.to_ascii_lowercase();
    let (base, ignore_case) = match lower.strip_suffix("ignorecase") {
        Some(b) => (b.to_string(), true),
        None => (lower, false),
    };
    let (function, negated) = match base.as_str() {
        "stringequals" => (Function::StringEquals, false),
        "stringnotequals" => (Function::StringEquals, true),
        "stringstartswith" => (Function::StringStartsWith, false),
        "stringnotstartswith" => (Function::StringStartsWith, true),
        "stringlike" => (Function::StringLike, false),
        "stringnotlike" => (Function::StringLike, true),
        "numericequals" if !ignore_case => (Function::NumericEquals, false),
        "numericnotequals" if !ignore_case => (Function::NumericEquals, true),
        "numericlessthan" if !ignore_case => (Function::NumericLessThan, false),
        "numericlessthanequals" if !ignore_case => (Function::NumericLessThanEquals, false),
        "numericgreaterthan" if !ignore_case => (Function::NumericGreaterThan, false),
        "numericgreaterthanequals" if !ignore_case => (Function::NumericGreaterThanEquals, false),
        "guidequals" if !ignore_case => (Function::GuidEquals, false),
        "guidnotequals" if !ignore_case => (Function::GuidEquals, true),
        "boolequals" if !ignore_case => (Function::BoolEquals, false),
        "boolnotequals" if !ignore_case => (Function::BoolEquals, true),
        _ => return None,
    };
    Some(Operator {
        function,
        ignore_case,
        negated,
    })
}

fn quantifier(prefix: &str) -> Option<Quantifier> {
    Some(match prefix.to_ascii_lowercase().as_str() {
        "foranyofanyvalues" => Quantifier::AnyOfAny,
        "forallofanyvalues" => Quantifier::AllOfAny,
        "foranyofallvalues" => Quantifier::AnyOfAll,
        "forallofallvalues" => Quantifier::AllOfAll,
        _ => return None,
    })
}

fn source(name: &str) -> Option<Source> {
    Some(match name.to_ascii_lowercase().as_str() {
        "request" => Source::Request,
        "resource" => Source::Resource,
        "principal" => Source::Principal,
        "environment" => Source::Environment,
        _ => return None,
    })
}

/// A value as written: quoted strings, or bare tokens (numbers, GUIDs, booleans).
struct Value {
    text: String,
    quoted: bool,
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err<T>(&self, message: &str) -> Result<T, ConditionError> {
        Err(ConditionError {
            message: message.to_string(),
            position: self.i,
        })
    }

    fn at(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while self.at().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn text(&self, from: usize, to: usize) -> String {
        self.s
            .get(from..to)
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    }

    /// Consume `sym` (after whitespace) if it is next.
    fn symbol(&mut self, sym: &str) -> bool {
        self.ws();
        let hit = self
            .s
            .get(self.i..)
            .is_some_and(|rest| rest.starts_with(sym.as_bytes()));
        if hit {
            self.i += sym.len();
        }
        hit
    }

    /// Consume the keyword `kw` (any case, not followed by a word character).
    fn keyword(&mut self, kw: &str) -> bool {
        self.ws();
        let end = self.i + kw.len();
        let hit = self
            .s
            .get(self.i..end)
            .is_some_and(|w| w.eq_ignore_ascii_case(kw.as_bytes()))
            && !self
                .s
                .get(end)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
        if hit {
            self.i = end;
        }
        hit
    }

    fn word(&mut self) -> String {
        self.ws();
        let start = self.i;
        while self
            .at()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b':' | b'_'))
        {
            self.i += 1;
        }
        self.text(start, self.i)
    }

    fn expr(&mut self, depth: usize) -> Result<Condition, ConditionError> {
        let first = self.term(depth)?;
        let mut items = vec![first];
        let mut joiner: Option<bool> = None; // Some(true): AND, Some(false): OR
        loop {
            let and = self.keyword("AND") || self.symbol("&&");
            let or = !and && (self.keyword("OR") || self.symbol("||"));
            if !and && !or {
                break;
            }
            if joiner.is_some_and(|j| j != and) {
                return self.err("AND and OR need parentheses to be combined");
            }
            joiner = Some(and);
            items.push(self.term(depth)?);
        }
        Ok(match (joiner, items.len()) {
            (Some(true), _) => Condition::And(items),
            (Some(false), _) => Condition::Or(items),
            (None, _) => items.pop().unwrap_or(Condition::And(Vec::new())),
        })
    }

    fn term(&mut self, depth: usize) -> Result<Condition, ConditionError> {
        if depth >= MAX_DEPTH {
            return self.err("condition nested too deeply");
        }
        if self.symbol("!") || self.keyword("NOT") {
            return Ok(Condition::Not(Box::new(self.term(depth + 1)?)));
        }
        if self.symbol("(") {
            let inner = self.expr(depth + 1)?;
            if !self.symbol(")") {
                return self.err("expected ')'");
            }
            return Ok(inner);
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Condition, ConditionError> {
        self.ws();
        if self.at() == Some(b'@') {
            let (source, attribute) = self.attribute()?;
            return self.comparison(source, attribute);
        }
        let start = self.i;
        let name = self.word();
        if name.eq_ignore_ascii_case("ActionMatches") {
            return Ok(Condition::ActionMatches(self.braced()?));
        }
        if name.eq_ignore_ascii_case("SubOperationMatches") {
            return Ok(Condition::SubOperationMatches(self.braced()?));
        }
        if name.eq_ignore_ascii_case("Exists") {
            let (source, attribute) = self.attribute()?;
            return Ok(Condition::Exists { source, attribute });
        }
        self.i = start;
        self.err("expected an expression")
    }

    /// `@Source[name]`
    fn attribute(&mut self) -> Result<(Source, String), ConditionError> {
        if !self.symbol("@") {
            return self.err("expected '@'");
        }
        let name = self.word();
        let Some(source) = source(&name) else {
            return self.err("unknown attribute source");
        };
        if !self.symbol("[") {
            return self.err("expected '['");
        }
        let start = self.i;
        while self.at().is_some_and(|c| c != b']') {
            self.i += 1;
        }
        if self.at().is_none() {
            return self.err("expected ']'");
        }
        let attribute = self.text(start, self.i).trim().to_string();
        self.i += 1;
        if attribute.is_empty() {
            return self.err("empty attribute name");
        }
        Ok((source, attribute))
    }

    fn comparison(
        &mut self,
        source: Source,
        attribute: String,
    ) -> Result<Condition, ConditionError> {
        self.ws();
        let at = self.i;
        let name = self.word();
        let (quantifier, op_name) = match name.split_once(':') {
            Some((prefix, rest)) => match quantifier(prefix) {
                Some(q) => (q, rest),
                None => {
                    self.i = at;
                    return self.err("unknown cross-product prefix");
                }
            },
            None => (Quantifier::Plain, name.as_str()),
        };
        let Some(op) = function(op_name) else {
            self.i = at;
            return self.err(&format!("unsupported operator '{name}'"));
        };
        let values = if self.symbol("{") {
            let mut v = vec![self.value()?];
            while self.symbol(",") {
                v.push(self.value()?);
            }
            if !self.symbol("}") {
                return self.err("expected '}'");
            }
            v
        } else {
            vec![self.value()?]
        };
        let mut texts = Vec::with_capacity(values.len());
        for v in values {
            let ok = match op.function {
                Function::StringEquals | Function::StringStartsWith | Function::StringLike => {
                    v.quoted
                }
                Function::GuidEquals => guid(&v.text).is_some(),
                Function::BoolEquals => boolean(&v.text).is_some(),
                _ => v.text.parse::<i64>().is_ok(),
            };
            if !ok {
                return self.err(&format!("'{}' is not a valid value for '{name}'", v.text));
            }
            texts.push(v.text);
        }
        Ok(Condition::Compare {
            source,
            attribute,
            quantifier,
            op,
            values: texts,
        })
    }

    fn value(&mut self) -> Result<Value, ConditionError> {
        self.ws();
        if self.at() == Some(b'\'') {
            return Ok(Value {
                text: self.quoted()?,
                quoted: true,
            });
        }
        let start = self.i;
        while self
            .at()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
        {
            self.i += 1;
        }
        if self.i == start {
            return self.err("expected a value");
        }
        Ok(Value {
            text: self.text(start, self.i),
            quoted: false,
        })
    }

    /// `'…'`; a backslash keeps the next character (so `\'` does not end it).
    fn quoted(&mut self) -> Result<String, ConditionError> {
        self.ws();
        if self.at() != Some(b'\'') {
            return self.err("expected a quoted string");
        }
        self.i += 1;
        let start = self.i;
        loop {
            match self.at() {
                None => return self.err("unterminated string"),
                Some(b'\'') => break,
                Some(b'\\') => self.i += 2,
                Some(_) => self.i += 1,
            }
        }
        let v = self.text(start, self.i);
        self.i += 1;
        Ok(v)
    }

    /// `{'…'}`
    fn braced(&mut self) -> Result<String, ConditionError> {
        if !self.symbol("{") {
            return self.err("expected '{'");
        }
        let v = self.quoted()?;
        if !self.symbol("}") {
            return self.err("expected '}'");
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REPO: &str = "Microsoft.ContainerRegistry/registries/repositories:name";
    const READ: &str = "Microsoft.ContainerRegistry/registries/repositories/content/read";
    const META: &str = "Microsoft.ContainerRegistry/registries/repositories/metadata/read";
    const WRITE: &str = "Microsoft.ContainerRegistry/registries/repositories/content/write";

    fn repo(name: &'static str) -> impl Fn(Source, &str) -> Option<String> {
        move |s: Source, k: &str| (s == Source::Request && k == REPO).then(|| name.to_string())
    }

    fn none(_: Source, _: &str) -> Option<String> {
        None
    }

    #[test]
    fn acr_hello_world_condition() {
        let c = parse(&format!(
            "((!(ActionMatches{{'{READ}'}})) OR (@Request[{REPO}] StringEqualsIgnoreCase 'hello-world'))"
        ))
        .unwrap();
        assert!(c.evaluate(READ, &repo("hello-world")));
        assert!(c.evaluate(READ, &repo("Hello-World")));
        assert!(!c.evaluate(READ, &repo("other")));
        assert!(!c.evaluate(READ, &none), "a missing attribute is false");
        assert!(
            c.evaluate(WRITE, &repo("other")),
            "other actions are not targeted"
        );
    }

    #[test]
    fn acr_prefix_condition_over_lines() {
        let c = parse(&format!(
            "(\n  (\n    !(ActionMatches{{'{READ}'}})\n    AND\n    !(ActionMatches{{'{META}'}})\n  )\n  OR\n  (\n    @Request[{REPO}] StringStartsWithIgnoreCase 'team-a/'\n  )\n)"
        ))
        .unwrap();
        assert!(c.evaluate(READ, &repo("team-a/app")));
        assert!(c.evaluate(META, &repo("TEAM-A/app")));
        assert!(!c.evaluate(READ, &repo("team-b/app")));
        assert!(c.evaluate(WRITE, &repo("team-b/app")));
    }

    #[test]
    fn string_operators() {
        let t = |op: &str, value: &str, actual: &'static str| {
            parse(&format!("@Request[{REPO}] {op} {value}"))
                .unwrap_or_else(|e| panic!("{op} {value}: {e}"))
                .evaluate(READ, &repo(actual))
        };
        assert!(t("StringEquals", "'hello-world'", "hello-world"));
        assert!(!t("StringEquals", "'hello-world'", "Hello-World"));
        assert!(t("stringequalsignorecase", "'hello-world'", "Hello-World"));
        assert!(t("StringNotEquals", "'x'", "y"));
        assert!(!t("StringNotEquals", "'x'", "x"));
        assert!(t("StringNotEqualsIgnoreCase", "'x'", "y"));
        assert!(!t("StringNotEqualsIgnoreCase", "'X'", "x"));
        assert!(t("StringStartsWith", "'team/'", "team/app"));
        assert!(!t("StringStartsWith", "'Team/'", "team/app"));
        assert!(t("StringNotStartsWith", "'team/'", "other/app"));
        assert!(!t("StringNotStartsWithIgnoreCase", "'TEAM/'", "team/app"));
        // The reference's own examples: `a*c?` matches "abcd", `A*C?` and `a*c` do not.
        assert!(t("StringLike", "'a*c?'", "abcd"));
        assert!(!t("StringLike", "'A*C?'", "abcd"));
        assert!(t("StringLikeIgnoreCase", "'A*C?'", "abcd"));
        assert!(!t("StringLike", "'a*c'", "abcd"));
        assert!(t("StringLike", "'a\\*'", "a*"));
        assert!(!t("StringLike", "'a\\*'", "ab"));
        assert!(t("StringNotLike", "'y*'", "no"));
        assert!(!t("StringNotLike", "'y*'", "yes"));
    }

    #[test]
    fn lists_and_cross_products() {
        let t = |op: &str, actual: &'static str| {
            parse(&format!("@Request[{REPO}] {op} {{'a', 'b'}}"))
                .unwrap()
                .evaluate(READ, &repo(actual))
        };
        assert!(t("ForAnyOfAnyValues:StringEqualsIgnoreCase", "B"));
        assert!(!t("ForAnyOfAnyValues:StringEquals", "c"));
        assert!(t("ForAllOfAnyValues:StringEquals", "a"));
        assert!(!t("ForAnyOfAllValues:StringEquals", "a"));
        assert!(t("ForAnyOfAllValues:StringNotEquals", "c"));
        assert!(!t("forallofallvalues:stringnotequals", "a"));
        // Negation is per pair: some listed value differs from "a".
        assert!(t("ForAnyOfAnyValues:StringNotEquals", "a"));
        assert!(parse("@Request[x] ForSomeValues:StringEquals 'a'").is_err());
    }

    #[test]
    fn numbers_guids_booleans_exists() {
        let attrs = |_: Source, k: &str| match k {
            "n" => Some("10".to_string()),
            "g" => Some("08D4C71A-CC63-4CE4-A9C8-5DD251B4D619".to_string()),
            "b" => Some("True".to_string()),
            _ => None,
        };
        let t = |src: &str| parse(src).unwrap().evaluate("a/b", &attrs);
        assert!(t("@Request[n] NumericLessThan 15"));
        assert!(!t("@Request[n] NumericGreaterThan 15"));
        assert!(t("@Request[n] ForAnyOfAllValues:NumericLessThan {15, 18}"));
        assert!(t(
            "@Request[g] ForAnyOfAnyValues:GuidEquals {08d4c71acc634ce4a9c85dd251b4d619, 00000000000000000000000000000000}"
        ));
        assert!(t(
            "@Request[g] GuidNotEquals 00000000-0000-0000-0000-000000000000"
        ));
        assert!(t("@Request[b] BoolEquals true"));
        assert!(t("Exists @Resource[n]"));
        assert!(!t("Exists @Resource[missing]"));
        assert!(t("NOT Exists @Resource[missing]"));
        assert!(
            !t("@Request[missing] StringNotEquals 'x'"),
            "missing is false"
        );
        assert!(parse("@Request[n] NumericEquals 'ten'").is_err());
        assert!(parse("@Request[g] GuidEquals xyz").is_err());
        assert!(parse("@Request[n] StringEquals bare").is_err());
    }

    #[test]
    fn sub_operations() {
        let c = parse("!(ActionMatches{'a/read'} AND SubOperationMatches{'Blob.List'})").unwrap();
        assert!(!c.evaluate_with("a/read", Some("Blob.List"), &none));
        assert!(c.evaluate("a/read", &none), "no sub-operation named");
    }

    #[test]
    fn logic_and_keywords() {
        let t = |src: &str| parse(src).unwrap().evaluate("a/read", &none);
        assert!(t("ActionMatches{'a/*'} and actionmatches{'*/read'}"));
        assert!(t("ActionMatches{'x'} || ActionMatches{'a/read'}"));
        assert!(t("NOT ActionMatches{'x'} && !ActionMatches{'y'}"));
        assert!(t("!(!(ActionMatches{'A/READ'}))"));
        assert!(t(
            "(ActionMatches{'x'} OR ActionMatches{'a/read'}) AND ActionMatches{'a/*'}"
        ));
        assert!(parse("ActionMatches{'x'} AND ActionMatches{'y'} OR ActionMatches{'z'}").is_err());
        assert!(parse("ActionMatches{'x'} ORActionMatches{'y'}").is_err());
    }

    #[test]
    fn malformed_input_is_an_error() {
        for bad in [
            "",
            "   ",
            "(",
            ")",
            "()",
            "ActionMatches{'x'",
            "ActionMatches{x}",
            "ActionMatches",
            "@Request[a] Bogus 'x'",
            "@Request[a] StringEquals",
            "@Request[a] StringEquals {}",
            "@Request[a] StringEquals {'a',}",
            "@Request[a StringEquals 'x'",
            "@Request[] StringEquals 'x'",
            "@Nope[a] StringEquals 'x'",
            "@Request[a] StringEquals 'x",
            "@Request[a] DateTimeGreaterThan '2020-01-01'",
            "x AND",
            "ActionMatches{'a'} garbage",
            "!",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let deep = format!("{}ActionMatches{{'a'}}{}", "(".repeat(200), ")".repeat(200));
        assert!(parse(&deep).is_err());
        let nots = format!("{}ActionMatches{{'a'}}", "!".repeat(10_000));
        assert!(parse(&nots).is_err());
        let e = parse("@Request[a] Bogus 'x'").unwrap_err();
        assert_eq!(e.position, 12);
        assert!(e.to_string().contains("unsupported operator 'Bogus'"));
    }

    const WRITE_RA: &str = "Microsoft.Authorization/roleAssignments/write";
    const DELETE_RA: &str = "Microsoft.Authorization/roleAssignments/delete";
    const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
    const UAA: &str = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9";
    const RBAC_ADMIN: &str = "f58310d9-a9f6-439a-9e8d-f62e7b41a168";
    const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
    const ACRPULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
    const BACKUP_CONTRIBUTOR: &str = "5e467623-bb1f-42f4-a55d-6e525e11384b";
    const BACKUP_READER: &str = "a795c7a0-d4a2-40c1-ae25-d81f01202912";
    const VM_ADMIN_LOGIN: &str = "1c0163c0-47e6-4577-8991-ea5c82e286e4";
    const AKS_RBAC_WRITER: &str = "a7ffa36f-339b-4b5c-8bdf-e2c188b2c0eb";
    const MARKETING: &str = "28c35fea-2099-4cf5-8ad9-473547bc9423";
    const DARA: &str = "ea585310-c95c-4a68-af22-49af4363bbb1";
    const SOMEONE: &str = "0b0b0b0b-0000-4000-8000-000000000001";

    /// A role assignment's attributes as one source: role, principal, type.
    fn ra(
        source: Source,
        role: &'static str,
        principal: &'static str,
        kind: &'static str,
    ) -> impl Fn(Source, &str) -> Option<String> {
        move |s: Source, k: &str| {
            if s != source {
                return None;
            }
            match k.rsplit(':').next()? {
                "RoleDefinitionId" => Some(role.into()),
                "PrincipalId" => Some(principal.into()),
                "PrincipalType" => Some(kind.into()),
                _ => None,
            }
        }
    }

    /// Microsoft's delegation examples (the fixture holds them verbatim):
    /// each parses, allows what it names and refuses the rest, for writes
    /// (`@Request`) and deletes (`@Resource`); attributes of the wrong source
    /// or none at all never satisfy a comparison.
    #[test]
    fn microsofts_delegation_examples() {
        use Source::{Request as Q, Resource as R};
        let doc: serde_json::Value = serde_json::from_str(include_str!(
            "../../../fixtures/conditions/delegation-examples.json"
        ))
        .unwrap();
        type Case = (
            &'static str,
            Source,
            &'static str,
            &'static str,
            &'static str,
            bool,
        );
        let table: &[(&str, &[Case])] = &[
            (
                "Constrain roles",
                &[
                    (
                        WRITE_RA,
                        Q,
                        BACKUP_READER,
                        SOMEONE,
                        "ServicePrincipal",
                        true,
                    ),
                    (WRITE_RA, Q, OWNER, SOMEONE, "ServicePrincipal", false),
                    (DELETE_RA, R, BACKUP_CONTRIBUTOR, SOMEONE, "User", true),
                    (DELETE_RA, R, OWNER, SOMEONE, "User", false),
                    (WRITE_RA, R, BACKUP_READER, SOMEONE, "User", false),
                    (DELETE_RA, Q, BACKUP_READER, SOMEONE, "User", false),
                ],
            ),
            (
                "Constrain roles and principal types",
                &[
                    (WRITE_RA, Q, BACKUP_READER, SOMEONE, "User", true),
                    (
                        WRITE_RA,
                        Q,
                        BACKUP_READER,
                        SOMEONE,
                        "ServicePrincipal",
                        false,
                    ),
                    (DELETE_RA, R, BACKUP_CONTRIBUTOR, SOMEONE, "group", true),
                    (
                        DELETE_RA,
                        R,
                        BACKUP_CONTRIBUTOR,
                        SOMEONE,
                        "ServicePrincipal",
                        false,
                    ),
                ],
            ),
            (
                "Constrain roles and specific groups",
                &[
                    (WRITE_RA, Q, BACKUP_READER, MARKETING, "Group", true),
                    (WRITE_RA, Q, BACKUP_READER, SOMEONE, "Group", false),
                    (DELETE_RA, R, BACKUP_READER, MARKETING, "Group", true),
                    (DELETE_RA, R, READER, MARKETING, "Group", false),
                ],
            ),
            (
                "Constrain virtual machine management",
                &[
                    (WRITE_RA, Q, VM_ADMIN_LOGIN, DARA, "User", true),
                    (WRITE_RA, Q, VM_ADMIN_LOGIN, SOMEONE, "User", false),
                    (WRITE_RA, Q, OWNER, DARA, "User", false),
                ],
            ),
            (
                "Constrain AKS cluster management",
                &[
                    (WRITE_RA, Q, AKS_RBAC_WRITER, DARA, "User", true),
                    (WRITE_RA, Q, AKS_RBAC_WRITER, SOMEONE, "User", false),
                    (DELETE_RA, R, AKS_RBAC_WRITER, DARA, "User", true),
                ],
            ),
            (
                "Constrain ACR management",
                &[
                    (WRITE_RA, Q, ACRPULL, SOMEONE, "ServicePrincipal", true),
                    (WRITE_RA, Q, ACRPULL, SOMEONE, "User", false),
                    (WRITE_RA, Q, READER, SOMEONE, "ServicePrincipal", false),
                ],
            ),
            (
                "Constrain add role assignments",
                &[
                    (WRITE_RA, Q, BACKUP_CONTRIBUTOR, SOMEONE, "User", true),
                    (WRITE_RA, Q, OWNER, SOMEONE, "User", false),
                    (DELETE_RA, R, OWNER, SOMEONE, "User", true),
                ],
            ),
            (
                "Allow most roles, but don't allow others to assign roles",
                &[
                    (WRITE_RA, Q, READER, SOMEONE, "User", true),
                    (WRITE_RA, Q, OWNER, SOMEONE, "User", false),
                    (WRITE_RA, Q, RBAC_ADMIN, SOMEONE, "User", false),
                    (DELETE_RA, R, UAA, SOMEONE, "User", false),
                    (DELETE_RA, R, READER, SOMEONE, "User", true),
                ],
            ),
            (
                "Cannot assign Owner",
                &[
                    (WRITE_RA, Q, UAA, SOMEONE, "User", true),
                    (WRITE_RA, Q, OWNER, SOMEONE, "User", false),
                    (DELETE_RA, R, OWNER, SOMEONE, "User", false),
                ],
            ),
        ];
        let examples = doc["examples"].as_array().unwrap();
        assert_eq!(examples.len(), table.len());
        for (name, cases) in table {
            let text = examples
                .iter()
                .find(|e| e["example"] == *name)
                .and_then(|e| e["condition"].as_str())
                .unwrap_or_else(|| panic!("{name} is in the fixture"));
            let c = parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            for (i, (action, source, role, principal, kind, want)) in cases.iter().enumerate() {
                let got = c.evaluate(action, &ra(*source, role, principal, kind));
                assert_eq!(got, *want, "{name}, case {i}");
            }
            // Reads are never constrained; a write or delete with no attributes never passes.
            assert!(c.evaluate("Microsoft.Authorization/roleAssignments/read", &none));
            assert!(!c.evaluate(WRITE_RA, &none), "{name}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn random_text_never_panics(s in "\\PC{0,160}") {
            if let Ok(c) = parse(&s) {
                let _ = c.evaluate("a/b", &|_, _| Some("v".into()));
            }
        }

        #[test]
        fn near_misses_never_panic(parts in proptest::collection::vec(prop_oneof![
            Just("("), Just(")"), Just("!"), Just(" AND "), Just(" OR "), Just(" && "), Just("NOT "),
            Just("ActionMatches{'a/*'}"), Just("SubOperationMatches{'x'}"), Just("Exists "),
            Just("@Request[x]"), Just("@Resource[y:z]"), Just(" StringEquals "),
            Just(" ForAnyOfAllValues:StringLikeIgnoreCase "), Just(" NumericLessThan "), Just(" GuidEquals "),
            Just("'v'"), Just("'a\\'"), Just("{'a','b'}"), Just("{1, 2}"), Just("12"), Just("{"), Just("}"),
            Just("'"), Just(","), Just("["), Just("]"), Just("@"), Just("é"),
        ], 0..14)) {
            let s: String = parts.concat();
            if let Ok(c) = parse(&s) {
                let attrs = |_: Source, k: &str| (k == "x").then(|| "a".to_string());
                let _ = c.evaluate("a/b", &attrs);
                let _ = c.evaluate_with("a/b", Some("x"), &attrs);
            }
        }

        #[test]
        fn like_agrees_with_a_reference(p in "[ab*?]{0,7}", s in "[ab]{0,7}") {
            fn reference(p: &[char], s: &[char]) -> bool {
                match p.split_first() {
                    None => s.is_empty(),
                    Some(('*', rest)) => (0..=s.len()).any(|i| reference(rest, &s[i..])),
                    Some(('?', rest)) => !s.is_empty() && reference(rest, &s[1..]),
                    Some((c, rest)) => s.first() == Some(c) && reference(rest, &s[1..]),
                }
            }
            let pc: Vec<char> = p.chars().collect();
            let sc: Vec<char> = s.chars().collect();
            prop_assert_eq!(like(&p, &s), reference(&pc, &sc));
        }
    }
}
