//! Wildcard patterns (`*` = any run of characters, `?` = exactly one character), compiled once.
//!
//! A pattern `C0*C1*…*Ck` is stored as its star-free chunks. Matching anchors `C0` at the start
//! and `Ck` at the end and finds each middle chunk leftmost-first; because every chunk matches a
//! fixed number of characters (a `?` is one character, a variable is its literal value), the
//! leftmost placement is always safe, so matching is `O(text × pattern)` with no backtracking
//! blow-up and no allocation.
//!
//! Variables are resolved during matching and compared **literally**: a substituted value is
//! never interpreted as a pattern.

use std::borrow::Cow;

use crate::vars::{Resolver, Sink, Syntax, Token, VarRef, scan};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Any1,
    Var(VarRef),
}

// Plain Vecs (not boxed slices): shrinking on construction would reallocate for nothing.
type Chunk = Vec<Piece>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Only stars: matches everything.
    All,
    /// Literal text, no wildcards or variables.
    Exact(Cow<'static, str>),
    /// No star: the single chunk must cover the whole text.
    Anchored(Chunk),
    /// At least one star.
    Starred {
        first: Chunk,
        middle: Vec<Chunk>,
        last: Chunk,
    },
}

/// A compiled wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    kind: Kind,
    /// ASCII case-insensitive (actions); resources and condition values are case-sensitive.
    ci: bool,
}

impl Glob {
    /// Compiles tokens (see [`crate::vars::tokenize`]). With `ci`, literals compare ASCII
    /// case-insensitively.
    pub fn compile(tokens: Vec<Token>, ci: bool) -> Glob {
        let mut b = Builder::default();
        for t in tokens {
            match t {
                Token::Lit(s) => b.lit(&s),
                Token::Star => b.star(),
                Token::Quest => b.quest(),
                Token::Var(v) => b.var(v),
            }
        }
        b.finish(ci)
    }

    /// A pattern that matches exactly `s` (no wildcards, no variables).
    #[cfg(test)]
    pub fn exact(s: String, ci: bool) -> Glob {
        Glob {
            kind: Kind::Exact(Cow::Owned(s)),
            ci,
        }
    }

    /// Compiles pattern text; text without special characters skips tokenization.
    pub fn from_text(text: &str, syntax: Syntax, ci: bool) -> Result<Glob, String> {
        let special = |b: u8| {
            (syntax.wildcards && (b == b'*' || b == b'?')) || (syntax.variables && b == b'$')
        };
        if !text.bytes().any(special) {
            // ARN segments repeat a handful of values; share those instead of allocating.
            const COMMON: &[&str] = &["", "arn", "aws", "s3", "iam", "sts"];
            let kind = match COMMON.iter().find(|c| **c == text) {
                Some(c) => Kind::Exact(Cow::Borrowed(c)),
                None => Kind::Exact(Cow::Owned(text.to_string())),
            };
            return Ok(Glob { kind, ci });
        }
        let mut b = Builder::default();
        scan(text, syntax, &mut b)?;
        Ok(b.finish(ci))
    }

    /// True if this pattern matches every text.
    #[cfg(test)]
    pub fn is_all(&self) -> bool {
        matches!(self.kind, Kind::All)
    }

    /// True if the pattern contains no wildcard and no variable.
    #[cfg(test)]
    pub fn is_exact(&self) -> bool {
        matches!(self.kind, Kind::Exact(_))
    }

    fn chunks(&self) -> impl Iterator<Item = &Piece> {
        let (a, b, c): (&[Piece], &[Chunk], &[Piece]) = match &self.kind {
            Kind::All | Kind::Exact(_) => (&[], &[], &[]),
            Kind::Anchored(c) => (c, &[], &[]),
            Kind::Starred {
                first,
                middle,
                last,
            } => (first, middle, last),
        };
        a.iter()
            .chain(b.iter().flat_map(|c| c.iter()))
            .chain(c.iter())
    }

    /// True if the pattern contains a policy variable.
    pub fn has_variables(&self) -> bool {
        self.chunks().any(|p| matches!(p, Piece::Var(_)))
    }

    /// True if the pattern contains a wildcard (`*` or `?`).
    pub fn has_wildcards(&self) -> bool {
        matches!(self.kind, Kind::All | Kind::Starred { .. })
            || self.chunks().any(|p| matches!(p, Piece::Any1))
    }

    /// True if every variable in the pattern resolves (to a value or its default).
    pub fn variables_resolve<R: Resolver + ?Sized>(&self, r: &R) -> bool {
        self.chunks().all(|p| match p {
            Piece::Var(v) => v.resolve(r).is_some(),
            _ => true,
        })
    }

    /// The text of a wildcard-free pattern with its variables substituted; `None` if a variable
    /// is unresolved or the pattern has wildcards.
    pub fn render<R: Resolver + ?Sized>(&self, r: &R) -> Option<String> {
        match &self.kind {
            Kind::Exact(s) => Some(s.to_string()),
            Kind::Anchored(chunk) => {
                let mut out = String::new();
                for p in chunk.iter() {
                    match p {
                        Piece::Lit(s) => out.push_str(s),
                        Piece::Var(v) => out.push_str(v.resolve(r)?),
                        Piece::Any1 => return None,
                    }
                }
                Some(out)
            }
            Kind::All | Kind::Starred { .. } => None,
        }
    }

    /// Matches `text` against the pattern, substituting variables from `r`. An unresolved
    /// variable makes the pattern match nothing.
    pub fn matches<R: Resolver + ?Sized>(&self, text: &str, r: &R) -> bool {
        match &self.kind {
            Kind::All => true,
            Kind::Exact(s) => {
                if self.ci {
                    s.len() == text.len() && s.as_bytes().eq_ignore_ascii_case(text.as_bytes())
                } else {
                    bytes_eq(s.as_bytes(), text.as_bytes())
                }
            }
            Kind::Anchored(chunk) => match_at(chunk, text, 0, r, self.ci) == Some(text.len()),
            Kind::Starred {
                first,
                middle,
                last,
            } => {
                let Some(mut pos) = match_at(first, text, 0, r, self.ci) else {
                    return false;
                };
                let Some(tail) = match_back(last, text, r, self.ci) else {
                    return false;
                };
                if tail < pos {
                    return false;
                }
                let Some(bounded) = text.get(..tail) else {
                    return false;
                };
                for chunk in middle.iter() {
                    match find(chunk, bounded, pos, r, self.ci) {
                        Some(end) => pos = end,
                        None => return false,
                    }
                }
                true
            }
        }
    }
}

/// Byte equality for the short strings of ARNs and keys. Compares eight bytes at a time instead
/// of calling `memcmp`, whose call overhead dominated decisions on short operands.
#[inline]
pub(crate) fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut xs = a.chunks_exact(8);
    let mut ys = b.chunks_exact(8);
    for (x, y) in (&mut xs).zip(&mut ys) {
        let x = u64::from_ne_bytes(x.try_into().unwrap_or([0; 8]));
        let y = u64::from_ne_bytes(y.try_into().unwrap_or([0; 8]));
        if x != y {
            return false;
        }
    }
    let (rx, ry) = (xs.remainder(), ys.remainder());
    let mut diff = 0u8;
    for (x, y) in rx.iter().zip(ry) {
        diff |= x ^ y;
    }
    diff == 0
}

/// Builds the chunks of a pattern straight from the scanner, allocating only the chunks.
#[derive(Default)]
struct Builder {
    /// The chunk before the first star, once a star was seen.
    first: Option<Chunk>,
    /// Chunks between stars.
    middle: Vec<Chunk>,
    /// The chunk being filled.
    cur: Chunk,
}

impl Sink for Builder {
    fn lit(&mut self, s: &str) {
        if let Some(Piece::Lit(prev)) = self.cur.last_mut() {
            prev.push_str(s);
        } else {
            self.cur.push(Piece::Lit(s.to_string()));
        }
    }
    fn star(&mut self) {
        if self.first.is_some() && self.cur.is_empty() {
            return; // `**` is `*`
        }
        let chunk = std::mem::take(&mut self.cur);
        match self.first {
            None => self.first = Some(chunk),
            Some(_) => self.middle.push(chunk),
        }
    }
    fn quest(&mut self) {
        self.cur.push(Piece::Any1);
    }
    fn var(&mut self, v: VarRef) {
        self.cur.push(Piece::Var(v));
    }
}

impl Builder {
    fn finish(self, ci: bool) -> Glob {
        let Builder {
            first,
            middle,
            mut cur,
        } = self;
        let kind = match first {
            None => match cur.as_mut_slice() {
                [] => Kind::Exact(Cow::Borrowed("")),
                [Piece::Lit(s)] => Kind::Exact(Cow::Owned(std::mem::take(s))),
                _ => Kind::Anchored(cur),
            },
            Some(first) if first.is_empty() && middle.is_empty() && cur.is_empty() => Kind::All,
            Some(first) => Kind::Starred {
                first,
                middle,
                last: cur,
            },
        };
        Glob { kind, ci }
    }
}

#[inline]
fn eq_at(text: &[u8], at: usize, lit: &[u8], ci: bool) -> bool {
    match text.get(at..at.saturating_add(lit.len())) {
        Some(t) if ci => t.eq_ignore_ascii_case(lit),
        Some(t) => bytes_eq(t, lit),
        None => false,
    }
}

/// Matches `chunk` at byte offset `start` (a char boundary); returns the end offset.
/// Literal comparisons are byte-wise on complete UTF-8 sequences, so every offset produced is a
/// char boundary.
fn match_at<R: Resolver + ?Sized>(
    chunk: &[Piece],
    text: &str,
    start: usize,
    r: &R,
    ci: bool,
) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = start;
    for p in chunk {
        match p {
            Piece::Lit(s) => {
                if !eq_at(bytes, i, s.as_bytes(), ci) {
                    return None;
                }
                i += s.len();
            }
            Piece::Any1 => {
                let c = text.get(i..)?.chars().next()?;
                i += c.len_utf8();
            }
            Piece::Var(v) => {
                let val = v.resolve(r)?;
                if !eq_at(bytes, i, val.as_bytes(), ci) {
                    return None;
                }
                i += val.len();
            }
        }
    }
    Some(i)
}

/// Matches `chunk` so that it ends exactly at the end of `text`; returns its start offset.
fn match_back<R: Resolver + ?Sized>(chunk: &[Piece], text: &str, r: &R, ci: bool) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut e = text.len();
    for p in chunk.iter().rev() {
        match p {
            Piece::Lit(s) => {
                let st = e.checked_sub(s.len())?;
                if !eq_at(bytes, st, s.as_bytes(), ci) {
                    return None;
                }
                e = st;
            }
            Piece::Any1 => {
                let c = text.get(..e)?.chars().next_back()?;
                e -= c.len_utf8();
            }
            Piece::Var(v) => {
                let val = v.resolve(r)?;
                let st = e.checked_sub(val.len())?;
                if !eq_at(bytes, st, val.as_bytes(), ci) {
                    return None;
                }
                e = st;
            }
        }
    }
    Some(e)
}

/// Finds the leftmost placement of `chunk` at or after `from`; returns its end offset.
fn find<R: Resolver + ?Sized>(
    chunk: &[Piece],
    text: &str,
    from: usize,
    r: &R,
    ci: bool,
) -> Option<usize> {
    let mut q = from;
    loop {
        if !ci && let Some(Piece::Lit(s)) = chunk.first() {
            q += text.get(q..)?.find(&**s)?;
        }
        if let Some(end) = match_at(chunk, text, q, r, ci) {
            return Some(end);
        }
        let c = text.get(q..)?.chars().next()?;
        q += c.len_utf8();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::vars::{NoVars, tokenize};

    struct Map(&'static [(&'static str, &'static str)]);
    impl Resolver for Map {
        fn single_value(&self, key: &str) -> Option<&str> {
            self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
        }
    }

    fn g(p: &str) -> Glob {
        let t = tokenize(
            p,
            Syntax {
                variables: true,
                wildcards: true,
            },
        )
        .unwrap();
        Glob::compile(t, false)
    }

    fn m(p: &str, t: &str) -> bool {
        g(p).matches(t, &NoVars)
    }

    #[test]
    fn wildcard_basics() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(!m("abc", "ABC"));
        assert!(m("a*", "a"));
        assert!(m("a*", "abc"));
        assert!(!m("a*", "ba"));
        assert!(m("*c", "abc"));
        assert!(!m("*c", "abcd"));
        assert!(m("a*c", "ac"));
        assert!(m("a*c", "abbbc"));
        assert!(!m("a*c", "abbbcd"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("a?c", "aéc"));
        assert!(m("???", "日本語"));
        assert!(!m("??", "日本語"));
        assert!(m("*b*d*", "abcde"));
        assert!(m("*b*b*", "abb"));
        assert!(!m("*b*b*", "ab"));
        assert!(m("a*b?d*e", "axxbcdyye"));
        assert!(!m("ab*ba", "aba"));
        assert!(m("ab*ba", "abba"));
        assert!(m("*?", "x"));
        assert!(!m("*?", ""));
        assert!(m("a*a*a*a*b", "aaaaaaaaab"));
        assert!(!m("a*a*a*a*b", "aaaaaaaaaa"));
    }

    #[test]
    fn case_insensitive_mode() {
        let t = tokenize(
            "s3:get*",
            Syntax {
                variables: false,
                wildcards: true,
            },
        )
        .unwrap();
        let glob = Glob::compile(t, true);
        assert!(glob.matches("S3:GetObject", &NoVars));
        assert!(!glob.matches("s3:PutObject", &NoVars));
        assert!(Glob::exact("s3:GetObject".into(), true).matches("S3:GETOBJECT", &NoVars));
    }

    #[test]
    fn variables_are_literal() {
        let p = g("home/${aws:username}/*");
        let star = Map(&[("aws:username", "*")]);
        assert!(p.matches("home/*/x", &star));
        assert!(!p.matches("home/bob/x", &star));
        let q = Map(&[("aws:username", "b?b")]);
        assert!(p.matches("home/b?b/x", &q));
        assert!(!p.matches("home/bob/x", &q));
        // Unresolved: nothing matches, not even the empty substitution.
        assert!(!p.matches("home//x", &NoVars));
        // Defaults.
        let d = g("${aws:username, 'guest'}/*");
        assert!(d.matches("guest/a", &NoVars));
        assert!(d.matches("bob/a", &Map(&[("aws:username", "bob")])));
        assert!(!d.matches("guest/a", &Map(&[("aws:username", "bob")])));
        // Variable in the last chunk and in a middle chunk.
        let e = g("*/${k}");
        assert!(e.matches("a/b/v", &Map(&[("k", "v")])));
        let f = g("*-${k}-*");
        assert!(f.matches("a-v-b", &Map(&[("k", "v")])));
        assert!(!f.matches("a-w-b", &Map(&[("k", "v")])));
    }

    #[test]
    fn render_and_introspection() {
        let p = g("a/${k}");
        assert_eq!(p.render(&Map(&[("k", "v")])).as_deref(), Some("a/v"));
        assert_eq!(p.render(&NoVars), None);
        assert!(p.has_variables());
        assert!(!p.has_wildcards());
        assert!(g("a?").has_wildcards());
        assert!(g("**").is_all());
        assert!(g("abc").is_exact());
    }
}
