//! The template expression grammar: parsing a JSON string into either a
//! literal or an [`Expr`], and printing an [`Expr`] back.
//!
//! ```text
//! template-string := "[" expression "]"      (an expression)
//!                  | "[[" …                  (a literal starting with "[")
//!                  | anything else           (a literal)
//! expression      := primary accessor*
//! primary         := function "(" [expression ("," expression)*] ")"
//!                  | "'" chars "'"           ('' inside is one quote)
//!                  | integer
//! accessor        := "." identifier | "[" expression "]"
//! ```
//! Function names are case-insensitive (kept as written). There are no
//! operators: `add(1, 2)`, not `1 + 2`.

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Str(String),
    Int(i64),
    Call { name: String, args: Vec<Expr> },
    Member(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
}

/// A JSON string as the template language reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateString {
    Literal(String),
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub message: String,
    /// Character offset in the expression where parsing stopped.
    pub position: usize,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Is this JSON string an expression (`[…]` but not `[[…`)?
pub fn is_expression(s: &str) -> bool {
    s.len() >= 2 && s.starts_with('[') && s.ends_with(']') && !s.starts_with("[[")
}

/// Read a JSON string: a literal, an escaped literal (`[[` → `[`), or an expression.
pub fn parse_template_string(s: &str) -> Result<TemplateString, ParseError> {
    if s.starts_with("[[") && s.ends_with(']') {
        return Ok(TemplateString::Literal(s[1..].to_string()));
    }
    if !is_expression(s) {
        return Ok(TemplateString::Literal(s.to_string()));
    }
    parse(&s[1..s.len() - 1]).map(TemplateString::Expr)
}

/// Parse the text between the brackets.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut p = Parser {
        chars: &chars,
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    if p.at_end() {
        return Err(p.error(
            "The language expression is empty. Please see https://aka.ms/arm-functions for usage details.",
        ));
    }
    let e = p.expression()?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.error(&format!(
            "The language expression '{text}' is not valid: the string character '{}' at position '{}' is not expected.",
            p.chars[p.pos], p.pos
        )));
    }
    Ok(e)
}

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_DEPTH: usize = 200;

struct Parser<'a> {
    chars: &'a [char],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn error(&self, message: &str) -> ParseError {
        ParseError {
            message: message.to_string(),
            position: self.pos,
        }
    }

    fn unexpected(&self) -> ParseError {
        let text: String = self.chars.iter().collect();
        match self.peek() {
            Some(c) => self.error(&format!(
                "The language expression '{text}' is not valid: the string character '{c}' at position '{}' is not expected.",
                self.pos
            )),
            None => self.error(&format!(
                "The language expression '{text}' is not valid: the expression ends unexpectedly."
            )),
        }
    }

    fn expression(&mut self) -> Result<Expr, ParseError> {
        // Each level takes a few kilobytes (more in debug builds): grow rather than overflow.
        stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.expression_inner())
    }

    fn expression_inner(&mut self) -> Result<Expr, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("The language expression is nested too deeply."));
        }
        self.skip_ws();
        let mut e = self.primary()?;
        loop {
            self.skip_ws();
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    self.skip_ws();
                    let name = self.identifier();
                    if name.is_empty() {
                        return Err(self.unexpected());
                    }
                    e = Expr::Member(Box::new(e), name);
                }
                Some('[') => {
                    self.pos += 1;
                    let index = self.expression()?;
                    self.skip_ws();
                    if self.peek() != Some(']') {
                        return Err(self.unexpected());
                    }
                    self.pos += 1;
                    e = Expr::Index(Box::new(e), Box::new(index));
                }
                _ => break,
            }
        }
        self.depth -= 1;
        Ok(e)
    }

    fn identifier(&mut self) -> String {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$')
        {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        match self.peek() {
            Some('\'') => self.string(),
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' => self.integer(),
            Some(c) if c.is_alphabetic() || c == '_' => {
                let name = self.identifier();
                self.skip_ws();
                if self.peek() != Some('(') {
                    return Err(self.unexpected());
                }
                self.pos += 1;
                let mut args = Vec::new();
                self.skip_ws();
                if self.peek() == Some(')') {
                    self.pos += 1;
                    return Ok(Expr::Call { name, args });
                }
                loop {
                    args.push(self.expression()?);
                    self.skip_ws();
                    match self.peek() {
                        Some(',') => self.pos += 1,
                        Some(')') => {
                            self.pos += 1;
                            return Ok(Expr::Call { name, args });
                        }
                        _ => return Err(self.unexpected()),
                    }
                }
            }
            _ => Err(self.unexpected()),
        }
    }

    fn string(&mut self) -> Result<Expr, ParseError> {
        self.pos += 1;
        let mut s = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(self.error(
                        "The language expression literal string is not terminated: a closing quote is missing.",
                    ));
                }
                Some('\'') if self.chars.get(self.pos + 1) == Some(&'\'') => {
                    s.push('\'');
                    self.pos += 2;
                }
                Some('\'') => {
                    self.pos += 1;
                    return Ok(Expr::Str(s));
                }
                Some(c) => {
                    s.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn integer(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos;
        if matches!(self.peek(), Some('-' | '+')) {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        if self.peek() == Some('.')
            && self
                .chars
                .get(self.pos + 1)
                .is_some_and(char::is_ascii_digit)
        {
            return Err(self.error(&format!(
                "The language expression literal '{text}.' is not supported: use json('…') for floating-point values."
            )));
        }
        text.parse::<i64>().map(Expr::Int).map_err(|_| ParseError {
            message: format!("The language expression literal '{text}' is not a valid integer."),
            position: start,
        })
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Expr::Int(i) => write!(f, "{i}"),
            Expr::Call { name, args } => {
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            // `8. 9` parses as member `9` of 8; printed without the space it
            // would read as the float 8.9 (found by fuzz/template_expr).
            Expr::Member(e, name)
                if matches!(**e, Expr::Int(_))
                    && name.starts_with(|c: char| c.is_ascii_digit()) =>
            {
                write!(f, "{e}. {name}")
            }
            Expr::Member(e, name) => write!(f, "{e}.{name}"),
            Expr::Index(e, i) => write!(f, "{e}[{i}]"),
        }
    }
}

impl Expr {
    /// Every function call in the expression, outermost first.
    pub fn calls(&self) -> Vec<(&str, &[Expr])> {
        let mut out = Vec::new();
        self.visit(&mut |e| {
            if let Expr::Call { name, args } = e {
                out.push((name.as_str(), args.as_slice()));
            }
        });
        out
    }

    fn visit<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Str(_) | Expr::Int(_) => {}
            Expr::Call { args, .. } => args.iter().for_each(|a| a.visit(f)),
            Expr::Member(e, _) => e.visit(f),
            Expr::Index(e, i) => {
                e.visit(f);
                i.visit(f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn call(name: &str, args: Vec<Expr>) -> Expr {
        Expr::Call {
            name: name.into(),
            args,
        }
    }

    #[test]
    fn grammar_examples() {
        // From the template syntax docs: quoting, escaping, member and index access.
        assert_eq!(
            parse_template_string("[parameters('location')]").unwrap(),
            TemplateString::Expr(call("parameters", vec![Expr::Str("location".into())]))
        );
        assert_eq!(
            parse_template_string("[[parameters('x')]").unwrap(),
            TemplateString::Literal("[parameters('x')]".into())
        );
        assert_eq!(
            parse_template_string("plain [text]x").unwrap(),
            TemplateString::Literal("plain [text]x".into())
        );
        assert_eq!(
            parse("concat('it''s', 'x')").unwrap(),
            call(
                "concat",
                vec![Expr::Str("it's".into()), Expr::Str("x".into())]
            )
        );
        assert_eq!(
            parse("reference(variables('id'), '2021-01-01').outputs['a-b'].value").unwrap(),
            Expr::Member(
                Box::new(Expr::Index(
                    Box::new(Expr::Member(
                        Box::new(call(
                            "reference",
                            vec![
                                call("variables", vec![Expr::Str("id".into())]),
                                Expr::Str("2021-01-01".into())
                            ]
                        )),
                        "outputs".into()
                    )),
                    Box::new(Expr::Str("a-b".into()))
                )),
                "value".into()
            )
        );
        assert_eq!(
            parse(" add( -1 ,2 ) ").unwrap(),
            call("add", vec![Expr::Int(-1), Expr::Int(2)])
        );
        for bad in [
            "",
            "foo",
            "concat('a'",
            "'open",
            "a(1,)",
            "x().",
            "1.5",
            "f()g",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    fn arb_expr() -> impl Strategy<Value = Expr> {
        let leaf = prop_oneof![
            any::<String>().prop_map(Expr::Str),
            any::<i64>().prop_map(Expr::Int),
            "[a-zA-Z][a-zA-Z0-9]{0,8}".prop_map(|n| Expr::Call {
                name: n,
                args: vec![]
            }),
        ];
        leaf.prop_recursive(5, 48, 4, |inner| {
            prop_oneof![
                (
                    "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
                    prop::collection::vec(inner.clone(), 0..4)
                )
                    .prop_map(|(name, args)| Expr::Call { name, args }),
                (inner.clone(), "[a-zA-Z_$][a-zA-Z0-9_$]{0,7}")
                    .prop_map(|(e, m)| Expr::Member(Box::new(e), m)),
                (inner.clone(), inner).prop_map(|(e, i)| Expr::Index(Box::new(e), Box::new(i))),
            ]
        })
    }

    #[test]
    fn member_of_an_integer_prints_apart_from_a_float() {
        let e = parse("8.\t9").unwrap();
        assert_eq!(e, Expr::Member(Box::new(Expr::Int(8)), "9".into()));
        assert_eq!(parse(&e.to_string()).unwrap(), e);
        assert!(parse("8.9").is_err());
    }

    proptest! {
        /// Printing an expression and reading it back gives the same tree.
        #[test]
        fn round_trips(e in arb_expr()) {
            let text = e.to_string();
            prop_assert_eq!(parse(&text).unwrap(), e.clone());
            let wrapped = format!("[{text}]");
            prop_assert_eq!(parse_template_string(&wrapped).unwrap(), TemplateString::Expr(e));
        }

        /// Arbitrary input never panics: it parses or says why not.
        #[test]
        fn never_panics(s in any::<String>()) {
            let _ = parse(&s);
            let _ = parse_template_string(&s);
        }

        #[test]
        fn never_panics_on_near_expressions(s in "[\\[\\]()',. a-z0-9-]{0,40}") {
            let _ = parse(&s);
            let _ = parse_template_string(&format!("[{s}]"));
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let deep = format!("{}1{}", "f(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep).is_err());
    }
}
