//! Where a template violation sits in the text the client sent: ARM reports
//! `lineNumber`/`linePosition` of the offending element, relative to the
//! template. az sends the template file's text as it is (comments and
//! whitespace kept, "to preserve template whitespace accurately"), so these
//! are positions in the user's file.
//!
//! The scanner reads the same lenient JSON the ARM front door accepts
//! (comments, single-quoted strings, unquoted keys, trailing commas) and
//! never fails: an unreadable text just has no position.

/// One step of a path: an object key (matched ignoring case) or an array index.
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Parse ARM's violation path syntax: `parameters.sku`, `resources[2].properties`.
pub fn parse_path(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            out.push(Seg::Key(key.to_string()));
        }
        for idx in rest.split('[') {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Seg::Index(i));
            }
        }
    }
    out
}

/// 1-based (line, column) of the element at `path` (the key, for an object member).
pub fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let mut s = Scanner::new(text);
    s.find(path, 0)
}

/// The position of `path` inside the template found at `template_path` in a
/// request body, relative to the template's own first character.
pub fn locate_in_template(
    body: &str,
    template_path: &[Seg],
    path: &[Seg],
) -> Option<(usize, usize)> {
    let start = locate_value(body, template_path)?;
    let mut full = template_path.to_vec();
    full.extend_from_slice(path);
    let (l, c) = if path.is_empty() {
        start
    } else {
        locate(body, &full)?
    };
    Some(if l == start.0 {
        (1, c.saturating_sub(start.1) + 1)
    } else {
        (l.saturating_sub(start.0) + 1, c)
    })
}

/// 1-based (line, column) where the value at `path` begins.
fn locate_value(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let mut s = Scanner::new(text);
    s.find_value(path, 0)
}

struct Scanner {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    col: usize,
}

/// Deeper than this is not searched.
const MAX_DEPTH: usize = 128;

impl Scanner {
    /// At the first token of `text`.
    fn new(text: &str) -> Self {
        let mut s = Scanner {
            chars: text.chars().collect(),
            pos: 0,
            line: 1,
            col: 1,
        };
        s.skip();
        s
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    /// Whitespace and comments.
    fn skip(&mut self) {
        loop {
            match (self.peek(), self.chars.get(self.pos + 1).copied()) {
                (Some(c), _) if c.is_whitespace() || c == '\u{feff}' => {
                    self.bump();
                }
                (Some('/'), Some('/')) => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                (Some('/'), Some('*')) => {
                    self.bump();
                    self.bump();
                    while self.peek().is_some() {
                        if self.peek() == Some('*') && self.chars.get(self.pos + 1) == Some(&'/') {
                            self.bump();
                            self.bump();
                            break;
                        }
                        self.bump();
                    }
                }
                _ => return,
            }
        }
    }

    fn string(&mut self) -> Option<String> {
        let q = self.bump()?;
        let mut s = String::new();
        while let Some(c) = self.bump() {
            match c {
                '\\' => {
                    if let Some(e) = self.bump() {
                        s.push(e);
                    }
                }
                c if c == q => return Some(s),
                c => s.push(c),
            }
        }
        None
    }

    /// An object key: quoted or bare.
    fn key(&mut self) -> Option<String> {
        match self.peek()? {
            '"' | '\'' => self.string(),
            _ => {
                let mut k = String::new();
                while self
                    .peek()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$')
                {
                    k.push(self.bump()?);
                }
                (!k.is_empty()).then_some(k)
            }
        }
    }

    /// Skip one value.
    fn value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip();
        match self.peek()? {
            '{' => {
                self.bump();
                loop {
                    self.skip();
                    if self.peek()? == '}' {
                        self.bump();
                        return Some(());
                    }
                    self.key()?;
                    self.skip();
                    (self.bump()? == ':').then_some(())?;
                    self.value(depth + 1)?;
                    self.skip();
                    if self.peek()? == ',' {
                        self.bump();
                    }
                }
            }
            '[' => {
                self.bump();
                loop {
                    self.skip();
                    if self.peek()? == ']' {
                        self.bump();
                        return Some(());
                    }
                    self.value(depth + 1)?;
                    self.skip();
                    if self.peek()? == ',' {
                        self.bump();
                    }
                }
            }
            '"' | '\'' => self.string().map(|_| ()),
            _ => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| !matches!(c, ',' | '}' | ']') && !c.is_whitespace())
                {
                    self.bump();
                }
                (self.pos > start).then_some(())
            }
        }
    }

    /// Walk to `path`; the position of its last key (or element).
    fn find(&mut self, path: &[Seg], depth: usize) -> Option<(usize, usize)> {
        self.walk(path, depth, false)
    }

    fn find_value(&mut self, path: &[Seg], depth: usize) -> Option<(usize, usize)> {
        self.walk(path, depth, true)
    }

    fn walk(&mut self, path: &[Seg], depth: usize, value_pos: bool) -> Option<(usize, usize)> {
        if path.is_empty() {
            return Some((self.line, self.col));
        }
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip();
        match (&path[0], self.peek()?) {
            (Seg::Key(want), '{') => {
                self.bump();
                loop {
                    self.skip();
                    if self.peek()? == '}' {
                        return None;
                    }
                    let at = (self.line, self.col);
                    let k = self.key()?;
                    self.skip();
                    (self.bump()? == ':').then_some(())?;
                    self.skip();
                    if k.eq_ignore_ascii_case(want) {
                        if path.len() == 1 && !value_pos {
                            return Some(at);
                        }
                        return self.walk(&path[1..], depth + 1, value_pos);
                    }
                    self.value(depth + 1)?;
                    self.skip();
                    if self.peek()? == ',' {
                        self.bump();
                    }
                }
            }
            (Seg::Index(want), '[') => {
                self.bump();
                let mut i = 0;
                loop {
                    self.skip();
                    if self.peek()? == ']' {
                        return None;
                    }
                    if i == *want {
                        return self.walk(&path[1..], depth + 1, value_pos);
                    }
                    self.value(depth + 1)?;
                    self.skip();
                    if self.peek()? == ',' {
                        self.bump();
                    }
                    i += 1;
                }
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_in_lenient_text() {
        let text = "{\n  // c\n  \"parameters\": {\n    /* x */ sku: { 'type': 'string' },\n  },\n  \"resources\": [ {}, { \"name\": 1 } ]\n}";
        assert_eq!(locate(text, &parse_path("parameters.sku")), Some((4, 13)));
        assert_eq!(
            locate(text, &parse_path("resources[1].name")),
            Some((6, 24))
        );
        assert_eq!(locate(text, &parse_path("resources[1]")), Some((6, 22)));
        assert_eq!(locate(text, &parse_path("PARAMETERS")), Some((3, 3)));
        assert_eq!(locate(text, &parse_path("nope")), None);
        assert_eq!(locate("{", &parse_path("a")), None);
        assert_eq!(locate("", &parse_path("a")), None);
    }

    #[test]
    fn relative_to_the_template() {
        let body = "{\"properties\": {\"template\": {\n  \"parameters\": {\n    \"sku\": {}\n  }\n}, \"mode\": \"Incremental\"}}";
        let t = parse_path("properties.template");
        assert_eq!(
            locate_in_template(body, &t, &parse_path("parameters.sku")),
            Some((3, 5))
        );
        assert_eq!(locate_in_template(body, &t, &[]), Some((1, 1)));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in any_text(), path in "[a-z\\[\\]0-9.]{0,12}") {
            let _ = locate(&text, &parse_path(&path));
            let _ = locate_in_template(&text, &parse_path("properties.template"), &parse_path(&path));
        }
    }

    fn any_text() -> impl proptest::strategy::Strategy<Value = String> {
        "[{}\\[\\]:,'\"/* a-z0-9\n]{0,60}"
    }
}
