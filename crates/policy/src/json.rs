//! A small, strict JSON (RFC 8259) reader that records where every value starts.
//!
//! serde_json would report positions for *syntax* errors only; policy validation also needs the
//! position of a semantically wrong value ("Effect must be Allow or Deny"), so the policy parser
//! works on this position-carrying tree instead. The reader is deliberately strict (no comments,
//! no trailing commas, no duplicate keys, no lone surrogates) and bounded (input size and nesting
//! depth), so hostile input costs at most linear time and bounded stack.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::error::PolicyError;

/// Largest accepted document, in bytes. AWS caps policies at 6–20 KiB; this leaves room for
/// whitespace-heavy hand-written files while bounding work on hostile input.
pub const MAX_DOCUMENT_BYTES: usize = 128 * 1024;

/// Deepest accepted nesting of arrays/objects. A policy needs 6 levels at most.
pub const MAX_DEPTH: usize = 32;

/// A 1-based line and column (columns count Unicode scalar values, tabs count as one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    pub fn error(self, message: impl Into<String>) -> PolicyError {
        PolicyError {
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }
}

/// A JSON value with the position of its first character. Strings borrow from the input
/// unless they contain escapes.
#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    pub pos: Pos,
    pub value: Json<'a>,
}

/// One member of a JSON object, in document order.
#[derive(Debug, Clone)]
pub(crate) struct Member<'a> {
    pub key: Cow<'a, str>,
    pub key_pos: Pos,
    pub value: Node<'a>,
}

#[derive(Debug, Clone)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    /// The number exactly as written (validated against the JSON grammar).
    Number(&'a str),
    String(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    Object(Vec<Member<'a>>),
}

impl Json<'_> {
    /// A short description for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

/// Parses a complete JSON document.
pub(crate) fn parse(src: &str) -> Result<Node<'_>, PolicyError> {
    if src.len() > MAX_DOCUMENT_BYTES {
        return Err(Pos { line: 1, column: 1 }.error(format!(
            "policy document is {} bytes; the limit is {MAX_DOCUMENT_BYTES}",
            src.len()
        )));
    }
    let mut p = Reader {
        src,
        members: Vec::new(),
        items: Vec::new(),
        bytes: src.as_bytes(),
        i: 0,
        line: 1,
        column: 1,
        depth: 0,
    };
    // A UTF-8 byte-order mark is tolerated (some editors add it to policy files).
    if src.starts_with('\u{feff}') {
        p.i = 3;
    }
    p.skip_ws();
    if p.i >= p.bytes.len() {
        return Err(p
            .pos()
            .error("expected a JSON object, found the end of the input"));
    }
    let node = p.value()?;
    p.skip_ws();
    if p.i < p.bytes.len() {
        return Err(p
            .pos()
            .error("expected the end of the document after the top-level value"));
    }
    Ok(node)
}

struct Reader<'a> {
    src: &'a str,
    /// Scratch stacks: containers collect their children here and move them into an
    /// exactly-sized Vec when they close, instead of growing a Vec per container.
    members: Vec<Member<'a>>,
    items: Vec<Node<'a>>,
    bytes: &'a [u8],
    i: usize,
    line: usize,
    column: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.i).copied()
    }

    /// Advances over one byte, keeping line/column in step (continuation bytes of a multi-byte
    /// character do not advance the column).
    fn bump(&mut self) {
        if let Some(&b) = self.bytes.get(self.i) {
            self.i += 1;
            if b == b'\n' {
                self.line += 1;
                self.column = 1;
            } else if b & 0xC0 != 0x80 {
                self.column += 1;
            }
        }
    }

    /// Advances over string content up to a quote, backslash or control character. Such a
    /// run holds no newline, so only the column moves (once per character).
    fn skip_plain(&mut self) {
        let rest = self.bytes.get(self.i..).unwrap_or_default();
        let n = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
            .unwrap_or(rest.len());
        let run = rest.get(..n).unwrap_or_default();
        self.column += run.iter().filter(|&&b| b & 0xC0 != 0x80).count();
        self.i += n;
    }

    fn skip_ws(&mut self) {
        while let Some(&b) = self.bytes.get(self.i) {
            match b {
                b' ' | b'\t' | b'\r' => self.column += 1,
                b'\n' => {
                    self.line += 1;
                    self.column = 1;
                }
                _ => break,
            }
            self.i += 1;
        }
    }

    fn found(&self) -> String {
        let rest = self.bytes.get(self.i..).unwrap_or_default();
        if rest.is_empty() {
            return "the end of the input".to_string();
        }
        // Error path only: decoding the rest is linear but happens once.
        match std::str::from_utf8(rest)
            .ok()
            .and_then(|s| s.chars().next())
        {
            Some(c) if c.is_control() || c.is_whitespace() => format!("U+{:04X}", c as u32),
            Some(c) => format!("'{c}'"),
            None => "an unexpected byte".to_string(),
        }
    }

    fn value(&mut self) -> Result<Node<'a>, PolicyError> {
        let pos = self.pos();
        let value = match self.peek() {
            Some(b'{') => self.object()?,
            Some(b'[') => self.array()?,
            Some(b'"') => Json::String(self.string()?),
            Some(b't') => {
                self.literal("true")?;
                Json::Bool(true)
            }
            Some(b'f') => {
                self.literal("false")?;
                Json::Bool(false)
            }
            Some(b'n') => {
                self.literal("null")?;
                Json::Null
            }
            Some(b'-' | b'0'..=b'9') => Json::Number(self.number()?),
            _ => {
                return Err(pos.error(format!("expected a JSON value, found {}", self.found())));
            }
        };
        Ok(Node { pos, value })
    }

    fn enter(&mut self) -> Result<(), PolicyError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self
                .pos()
                .error(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn literal(&mut self, word: &'static str) -> Result<(), PolicyError> {
        let pos = self.pos();
        let end = self.i + word.len();
        if self.bytes.get(self.i..end) == Some(word.as_bytes()) {
            for _ in 0..word.len() {
                self.bump();
            }
            Ok(())
        } else {
            Err(pos.error(format!(
                "expected a JSON value (did you mean `{word}`?), found {}",
                self.found()
            )))
        }
    }

    fn object(&mut self) -> Result<Json<'a>, PolicyError> {
        self.enter()?;
        self.bump(); // '{'
        let base = self.members.len();
        let mut seen: Option<HashSet<Cow<'a, str>>> = None;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.bump();
            self.depth -= 1;
            return Ok(Json::Object(Vec::new()));
        }
        loop {
            self.skip_ws();
            let key_pos = self.pos();
            if self.peek() != Some(b'"') {
                return Err(key_pos.error(format!(
                    "expected a string key (in double quotes), found {}",
                    self.found()
                )));
            }
            let key = self.string()?;
            // Duplicate keys are rejected: different JSON readers keep the first or the last
            // one, and a policy must mean the same thing everywhere it is read.
            let duplicate = match &mut seen {
                Some(set) => !set.insert(key.clone()),
                None => self
                    .members
                    .get(base..)
                    .unwrap_or_default()
                    .iter()
                    .any(|m| m.key == key),
            };
            if duplicate {
                return Err(key_pos.error(format!("duplicate key \"{key}\" in object")));
            }
            // Large objects switch to a hash set so duplicate detection stays linear.
            let count = self.members.len() - base;
            if seen.is_none() && count >= 16 {
                let mut set: HashSet<Cow<'a, str>> = self
                    .members
                    .get(base..)
                    .unwrap_or_default()
                    .iter()
                    .map(|m| m.key.clone())
                    .collect();
                set.insert(key.clone());
                seen = Some(set);
            }
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.pos().error(format!(
                    "expected ':' after the object key, found {}",
                    self.found()
                )));
            }
            self.bump();
            self.skip_ws();
            let value = self.value()?;
            self.members.push(Member {
                key,
                key_pos,
                value,
            });
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.bump();
                }
                Some(b'}') => {
                    self.bump();
                    break;
                }
                _ => {
                    return Err(self.pos().error(format!(
                        "expected ',' or '}}' in object, found {}",
                        self.found()
                    )));
                }
            }
        }
        self.depth -= 1;
        Ok(Json::Object(self.members.split_off(base)))
    }

    fn array(&mut self) -> Result<Json<'a>, PolicyError> {
        self.enter()?;
        self.bump(); // '['
        let base = self.items.len();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.bump();
            self.depth -= 1;
            return Ok(Json::Array(Vec::new()));
        }
        loop {
            self.skip_ws();
            let item = self.value()?;
            self.items.push(item);
            self.skip_ws();
            match self.peek() {
                Some(b',') => {
                    self.bump();
                }
                Some(b']') => {
                    self.bump();
                    break;
                }
                _ => {
                    return Err(self.pos().error(format!(
                        "expected ',' or ']' in array, found {}",
                        self.found()
                    )));
                }
            }
        }
        self.depth -= 1;
        Ok(Json::Array(self.items.split_off(base)))
    }

    fn hex4(&mut self) -> Result<u32, PolicyError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let pos = self.pos();
            let d = match self.peek() {
                Some(b @ b'0'..=b'9') => u32::from(b - b'0'),
                Some(b @ b'a'..=b'f') => u32::from(b - b'a' + 10),
                Some(b @ b'A'..=b'F') => u32::from(b - b'A' + 10),
                _ => {
                    return Err(pos.error(format!(
                        "expected a hexadecimal digit in \\u escape, found {}",
                        self.found()
                    )));
                }
            };
            v = v * 16 + d;
            self.bump();
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<Cow<'a, str>, PolicyError> {
        let start = self.pos();
        self.bump(); // opening quote
        let begin = self.i;
        // Fast path: no escapes, borrow from the input.
        self.skip_plain();
        if self.peek() == Some(b'"') {
            // Runs stop only at ASCII bytes, so the bounds are char boundaries.
            let s = self.src.get(begin..self.i).unwrap_or_default();
            self.bump();
            return Ok(Cow::Borrowed(s));
        }
        let mut out = String::from(self.src.get(begin..self.i).unwrap_or_default());
        loop {
            // Copy a run of plain bytes at once.
            let run_start = self.i;
            self.skip_plain();
            // Runs end at ASCII bytes, so the bounds are char boundaries.
            out.push_str(self.src.get(run_start..self.i).unwrap_or_default());
            let pos = self.pos();
            match self.peek() {
                None => return Err(start.error("unterminated string (missing closing '\"')")),
                Some(b'"') => {
                    self.bump();
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    self.bump();
                    let esc_pos = self.pos();
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.bump();
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if self.peek() != Some(b'\\')
                                    || self.bytes.get(self.i + 1) != Some(&b'u')
                                {
                                    return Err(pos.error(
                                        "invalid \\u escape: a high surrogate must be followed by a low surrogate",
                                    ));
                                }
                                self.bump();
                                self.bump();
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return Err(pos.error(
                                        "invalid \\u escape: a high surrogate must be followed by a low surrogate",
                                    ));
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return Err(pos.error("invalid \\u escape: lone low surrogate"));
                            } else {
                                hi
                            };
                            let c = char::from_u32(code)
                                .ok_or_else(|| pos.error("invalid \\u escape"))?;
                            out.push(c);
                            continue;
                        }
                        _ => {
                            return Err(esc_pos.error(format!(
                                "invalid escape sequence; expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX, found {}",
                                self.found()
                            )));
                        }
                    };
                    self.bump();
                    out.push(c);
                }
                Some(_) => {
                    return Err(pos.error(
                        "control characters must be escaped inside strings (e.g. \\n, \\t)",
                    ));
                }
            }
        }
    }

    fn digits(&mut self) -> usize {
        let mut n = 0;
        while let Some(b'0'..=b'9') = self.peek() {
            self.bump();
            n += 1;
        }
        n
    }

    fn number(&mut self) -> Result<&'a str, PolicyError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.bump();
        }
        match self.peek() {
            Some(b'0') => {
                self.bump();
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.pos().error("numbers must not have leading zeros"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => {
                return Err(self
                    .pos()
                    .error(format!("expected a digit, found {}", self.found())));
            }
        }
        if self.peek() == Some(b'.') {
            self.bump();
            if self.digits() == 0 {
                return Err(self.pos().error(format!(
                    "expected a digit after the decimal point, found {}",
                    self.found()
                )));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.bump();
            if let Some(b'+' | b'-') = self.peek() {
                self.bump();
            }
            if self.digits() == 0 {
                return Err(self.pos().error(format!(
                    "expected a digit in the exponent, found {}",
                    self.found()
                )));
            }
        }
        Ok(self.src.get(start..self.i).unwrap_or_default())
    }
}

/// Appends `s` to `out` as a JSON string literal.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn err(src: &str) -> PolicyError {
        match parse(src) {
            Ok(_) => panic!("expected an error for {src:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_values_with_positions() {
        let n =
            parse("{\n  \"a\": [1, -2.5e3, true, null],\n  \"b\": \"x\\u00e9\\ud83d\\ude00\"\n}")
                .unwrap();
        let Json::Object(m) = n.value else { panic!() };
        assert_eq!(m[0].key, "a");
        assert_eq!(m[0].key_pos, Pos { line: 2, column: 3 });
        assert_eq!(m[0].value.pos, Pos { line: 2, column: 8 });
        let Json::Array(items) = &m[0].value.value else {
            panic!()
        };
        assert!(matches!(&items[1].value, Json::Number(s) if *s == "-2.5e3"));
        assert_eq!(
            items[2].pos,
            Pos {
                line: 2,
                column: 20
            }
        );
        assert!(matches!(&m[1].value.value, Json::String(s) if s == "xé😀"));
    }

    #[test]
    fn columns_count_characters() {
        let e = err("{\"é\": x}");
        assert_eq!((e.line, e.column), (1, 7));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = err("{\n \"a\": 1,\n}");
        assert_eq!((e.line, e.column), (3, 1));
        assert!(e.message.contains("string key"), "{e}");
        let e = err("{\"a\" 1}");
        assert_eq!((e.line, e.column), (1, 6));
        assert!(e.message.contains("':'"));
        let e = err("[1 2]");
        assert_eq!((e.line, e.column), (1, 4));
        let e = err("{\"a\":tru}");
        assert!(e.message.contains("true"));
        let e = err("\"abc");
        assert!(e.message.contains("unterminated"));
        let e = err("{} x");
        assert!(e.message.contains("end of the document"));
        let e = err("");
        assert!(e.message.contains("end of the input"));
        let e = err("01");
        assert!(e.message.contains("leading zeros"));
        let e = err("\"\\ud800\"");
        assert!(e.message.contains("surrogate"));
        let e = err("\"\\x\"");
        assert!(e.message.contains("escape"));
        let e = err("\"a\tb\"");
        assert!(e.message.contains("control"));
    }

    #[test]
    fn duplicate_keys_rejected() {
        let e = err("{\"a\":1,\n\"a\":2}");
        assert_eq!((e.line, e.column), (2, 1));
        let mut big = String::from("{");
        for i in 0..40 {
            big.push_str(&format!("\"k{i}\":1,"));
        }
        big.push_str("\"k3\":1}");
        assert!(err(&big).message.contains("duplicate"));
    }

    #[test]
    fn depth_and_size_limits() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(err(&deep).message.contains("nesting"));
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
        let big = format!("\"{}\"", "a".repeat(MAX_DOCUMENT_BYTES));
        assert!(err(&big).message.contains("limit"));
    }

    #[test]
    fn write_string_roundtrips() {
        let s = "a\"b\\c\n\u{1}é";
        let mut out = String::new();
        write_string(&mut out, s);
        assert!(matches!(parse(&out).unwrap().value, Json::String(t) if t == s));
    }
}
