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

use crate::vars::{Resolver, Token, VarRef};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(Box<str>),
    Any1,
    Var(VarRef),
}

type Chunk = Box<[Piece]>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Only stars: matches everything.
    All,
    /// Literal text, no wildcards or variables.
    Exact(Box<str>),
    /// No star: the single chunk must cover the whole text.
    Anchored(Chunk),
    /// At least one star.
    Starred {
        first: Chunk,
        middle: Box<[Chunk]>,
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
    pub fn compile(tokens: &[Token], ci: bool) -> Glob {
        let mut chunks: Vec<Vec<Piece>> = vec![Vec::new()];
        for t in tokens {
            match t {
                Token::Star => chunks.push(Vec::new()),
                other => {
                    let piece = match other {
                        Token::Quest => Piece::Any1,
                        Token::Var(v) => Piece::Var(v.clone()),
                        Token::Lit(s) => Piece::Lit(s.as_str().into()),
                        Token::Star => continue,
                    };
                    if let Some(chunk) = chunks.last_mut() {
                        // Adjacent literals are merged by the tokenizer, except across escapes.
                        if let (Some(Piece::Lit(prev)), Piece::Lit(s)) = (chunk.last_mut(), &piece)
                        {
                            let mut merged = String::from(&**prev);
                            merged.push_str(s);
                            *prev = merged.into();
                        } else {
                            chunk.push(piece);
                        }
                    }
                }
            }
        }
        let kind = if chunks.len() == 1 {
            let chunk = chunks.pop().unwrap_or_default();
            match chunk.as_slice() {
                [] => Kind::Exact("".into()),
                [Piece::Lit(s)] => Kind::Exact(s.clone()),
                _ => Kind::Anchored(chunk.into()),
            }
        } else if chunks.iter().all(Vec::is_empty) {
            Kind::All
        } else {
            let last = chunks.pop().unwrap_or_default().into_boxed_slice();
            let mut rest = chunks.into_iter().map(Vec::into_boxed_slice);
            let first = rest.next().unwrap_or_default();
            Kind::Starred {
                first,
                middle: rest.collect(),
                last,
            }
        };
        Glob { kind, ci }
    }

    /// A pattern that matches exactly `s` (no wildcards, no variables).
    #[cfg(test)]
    pub fn literal(s: &str, ci: bool) -> Glob {
        Glob {
            kind: Kind::Exact(s.into()),
            ci,
        }
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
                    **s == *text
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

#[inline]
fn eq_at(text: &[u8], at: usize, lit: &[u8], ci: bool) -> bool {
    match text.get(at..at.saturating_add(lit.len())) {
        Some(t) if ci => t.eq_ignore_ascii_case(lit),
        Some(t) => t == lit,
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
fn match_back<R: Resolver + ?Sized>(
    chunk: &[Piece],
    text: &str,
    r: &R,
    ci: bool,
) -> Option<usize> {
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
mod tests {
    use super::*;
    use crate::vars::{NoVars, Syntax, tokenize};

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
        Glob::compile(&t, false)
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
        let glob = Glob::compile(&t, true);
        assert!(glob.matches("S3:GetObject", &NoVars));
        assert!(!glob.matches("s3:PutObject", &NoVars));
        assert!(Glob::literal("s3:GetObject", true).matches("S3:GETOBJECT", &NoVars));
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
