//! Policy variables: `${key}`, `${key, 'default'}` and the escapes `${*}`, `${?}`, `${$}`.
//!
//! Text that may contain variables and wildcards is split into [`Token`]s once, at parse time.
//! Substituted values are always *literal*: a claim such as `*` can never act as a wildcard,
//! because wildcards only come from [`Token::Star`]/[`Token::Quest`] written in the policy itself.

use std::borrow::Cow;

use crate::context::key_name;

/// A reference to a request-context key, resolved at evaluation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VarRef {
    /// The key name, ASCII-lowercased (key names are case-insensitive).
    pub key: Cow<'static, str>,
    /// The value used when the key is absent (`${key, 'default'}`).
    pub default: Option<Box<str>>,
}

impl VarRef {
    /// The value to substitute, or `None` when the key is absent (or multi-valued) and no
    /// default was given.
    pub fn resolve<'a, R: Resolver + ?Sized>(&'a self, r: &'a R) -> Option<&'a str> {
        r.single_value(&self.key).or(self.default.as_deref())
    }
}

/// Supplies values for policy variables: only *single-valued* keys can be substituted.
pub(crate) trait Resolver {
    /// The single value of `key` (already lowercase), if present and single-valued.
    fn single_value(&self, key: &str) -> Option<&str>;
}

/// A resolver with no keys, for text that cannot contain variables (actions).
pub(crate) struct NoVars;

impl Resolver for NoVars {
    fn single_value(&self, _key: &str) -> Option<&str> {
        None
    }
}

/// One piece of pattern text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// Literal text (including characters produced by `${*}`, `${?}`, `${$}`).
    Lit(String),
    /// `*`: any run of characters.
    Star,
    /// `?`: exactly one character.
    Quest,
    /// `${key}` or `${key, 'default'}`.
    Var(VarRef),
}

/// Which special syntax a piece of text supports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Syntax {
    /// `${…}` is a variable (Version 2012-10-17 and a variable-capable position).
    pub variables: bool,
    /// `*` and `?` are wildcards.
    pub wildcards: bool,
}

/// Receives the pieces of pattern text from [`scan`].
pub(crate) trait Sink {
    /// Literal text (never empty; may follow another literal).
    fn lit(&mut self, s: &str);
    /// `*` (consecutive stars arrive once).
    fn star(&mut self);
    /// `?`.
    fn quest(&mut self);
    /// `${…}`.
    fn var(&mut self, v: VarRef);
}

impl Sink for Vec<Token> {
    fn lit(&mut self, s: &str) {
        if let Some(Token::Lit(prev)) = self.last_mut() {
            prev.push_str(s);
        } else {
            self.push(Token::Lit(s.to_string()));
        }
    }
    fn star(&mut self) {
        self.push(Token::Star);
    }
    fn quest(&mut self) {
        self.push(Token::Quest);
    }
    fn var(&mut self, v: VarRef) {
        self.push(Token::Var(v));
    }
}

/// Splits `s` into tokens. Errors describe the offending variable.
pub(crate) fn tokenize(s: &str, syntax: Syntax) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    scan(s, syntax, &mut tokens)?;
    Ok(tokens)
}

/// Feeds the pieces of `s` to `sink`, in order. Errors describe the offending variable.
pub(crate) fn scan(s: &str, syntax: Syntax, sink: &mut impl Sink) -> Result<(), String> {
    let bytes = s.as_bytes();
    // All special characters are ASCII, so every cut below is on a char boundary.
    let mut lit_start = 0;
    let mut i = 0;
    let mut last_star = false;
    let flush = |sink: &mut _, from: usize, to: usize| {
        if let Some(text) = s.get(from..to).filter(|t| !t.is_empty()) {
            Sink::lit(sink, text);
        }
    };
    while let Some(&b) = bytes.get(i) {
        if syntax.variables && b == b'$' && bytes.get(i + 1) == Some(&b'{') {
            flush(&mut *sink, lit_start, i);
            let rest = s.get(i + 2..).unwrap_or_default();
            let end = find_close(rest).ok_or_else(|| {
                format!("unterminated policy variable in \"{s}\" (expected '}}' after \"${{\")")
            })?;
            let inner = rest.get(..end).unwrap_or_default();
            match inner {
                "*" | "?" | "$" => sink.lit(inner),
                _ => sink.var(parse_var(inner)?),
            }
            last_star = false;
            i += 2 + end + 1;
            lit_start = i;
            continue;
        }
        if syntax.wildcards && (b == b'*' || b == b'?') {
            flush(&mut *sink, lit_start, i);
            if b == b'?' {
                sink.quest();
                last_star = false;
            } else if !(last_star && lit_start == i) {
                sink.star();
                last_star = true;
            }
            i += 1;
            lit_start = i;
            continue;
        }
        last_star = false;
        i += 1;
    }
    flush(sink, lit_start, bytes.len());
    Ok(())
}

/// Splits ARN-shaped pattern text at its first five colons, ignoring colons inside `${…}` when
/// variables are enabled (`${aws:username}` contains one). `None` if there are fewer than five.
pub(crate) fn split_arn_pattern(s: &str, variables: bool) -> Option<[&str; 6]> {
    let bytes = s.as_bytes();
    let mut cuts = [0usize; 5];
    let mut n = 0;
    let mut i = 0;
    while n < 5 {
        let b = *bytes.get(i)?;
        if variables && b == b'$' && bytes.get(i + 1) == Some(&b'{') {
            let rest = s.get(i + 2..).unwrap_or_default();
            if let Some(end) = find_close(rest) {
                i += 2 + end + 1;
                continue;
            }
        }
        if b == b':' {
            if let Some(c) = cuts.get_mut(n) {
                *c = i;
            }
            n += 1;
        }
        i += 1;
    }
    let [a, b, c, d, e] = cuts;
    Some([
        s.get(..a)?,
        s.get(a + 1..b)?,
        s.get(b + 1..c)?,
        s.get(c + 1..d)?,
        s.get(d + 1..e)?,
        s.get(e + 1..)?,
    ])
}

/// Index of the `}` closing a variable, skipping a quoted default value.
fn find_close(s: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_var(inner: &str) -> Result<VarRef, String> {
    let (key, default) = match inner.split_once(',') {
        Some((k, d)) => (k.trim(), Some(d.trim())),
        None => (inner.trim(), None),
    };
    if key.is_empty() {
        return Err(format!(
            "empty policy variable \"${{{inner}}}\"; expected a key such as ${{aws:username}}"
        ));
    }
    if let Some(bad) = key
        .chars()
        .find(|&c| c.is_control() || matches!(c, '$' | '{' | '\'' | '"' | '*' | '?'))
    {
        return Err(format!(
            "invalid character '{bad}' in policy variable \"${{{inner}}}\""
        ));
    }
    let default = match default {
        None => None,
        Some(d) => {
            let quoted = d
                .strip_prefix('\'')
                .and_then(|d| d.strip_suffix('\''))
                .filter(|d| !d.contains('\''));
            match quoted {
                Some(v) => Some(v.into()),
                None => {
                    return Err(format!(
                        "invalid default in policy variable \"${{{inner}}}\"; expected ${{key, 'default value'}}"
                    ));
                }
            }
        }
    };
    Ok(VarRef {
        key: key_name(key),
        default,
    })
}

/// True if `s` mentions `${` (used by lints to spot variables that would be literal text).
pub(crate) fn mentions_variable(s: &str) -> bool {
    s.contains("${")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const FULL: Syntax = Syntax {
        variables: true,
        wildcards: true,
    };

    fn lit(s: &str) -> Token {
        Token::Lit(s.to_string())
    }

    fn var(k: &str, d: Option<&str>) -> Token {
        Token::Var(VarRef {
            key: Cow::Owned(k.to_string()),
            default: d.map(Into::into),
        })
    }

    #[test]
    fn splits_variables_and_wildcards() {
        assert_eq!(
            tokenize("a/${aws:username}/*", FULL).unwrap(),
            vec![lit("a/"), var("aws:username", None), lit("/"), Token::Star]
        );
        assert_eq!(
            tokenize("${aws:PrincipalTag/Team, 'company-wide'}?", FULL).unwrap(),
            vec![
                var("aws:principaltag/team", Some("company-wide")),
                Token::Quest
            ]
        );
        assert_eq!(
            tokenize("x**y", FULL).unwrap(),
            vec![lit("x"), Token::Star, lit("y")]
        );
    }

    #[test]
    fn escapes_are_literal() {
        assert_eq!(tokenize("${*}${?}${$}a", FULL).unwrap(), vec![lit("*?$a")]);
    }

    #[test]
    fn without_variables_text_is_literal() {
        let t = tokenize(
            "${aws:username}*",
            Syntax {
                variables: false,
                wildcards: true,
            },
        )
        .unwrap();
        assert_eq!(t, vec![lit("${aws:username}"), Token::Star]);
        let t = tokenize(
            "a*?",
            Syntax {
                variables: true,
                wildcards: false,
            },
        )
        .unwrap();
        assert_eq!(t, vec![lit("a*?")]);
    }

    #[test]
    fn splits_arn_patterns() {
        assert_eq!(
            split_arn_pattern("arn:aws:s3:::b/${aws:username}/x:y", true),
            Some(["arn", "aws", "s3", "", "", "b/${aws:username}/x:y"])
        );
        assert_eq!(
            split_arn_pattern("arn:aws:iam::${aws:PrincipalAccount}:role/x", true),
            Some(["arn", "aws", "iam", "", "${aws:PrincipalAccount}", "role/x"])
        );
        assert_eq!(
            split_arn_pattern("arn:aws:s3:::${aws:username}", false),
            Some(["arn", "aws", "s3", "", "", "${aws"]).map(|mut p| {
                p[5] = "${aws:username}";
                p
            })
        );
        assert_eq!(split_arn_pattern("arn:aws:s3:${a:b}", true), None);
        assert_eq!(
            split_arn_pattern("arn:aws:s3:::${unterminated", true).map(|p| p[5]),
            Some("${unterminated")
        );
    }

    #[test]
    fn default_may_contain_brace() {
        assert_eq!(
            tokenize("${k,'a}b'}", FULL).unwrap(),
            vec![var("k", Some("a}b"))]
        );
    }

    #[test]
    fn bad_variables() {
        assert!(
            tokenize("${aws:username", FULL)
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(tokenize("${}", FULL).unwrap_err().contains("empty"));
        assert!(tokenize("${ , 'x'}", FULL).unwrap_err().contains("empty"));
        assert!(tokenize("${k, x}", FULL).unwrap_err().contains("default"));
        assert!(
            tokenize("${a*b}", FULL)
                .unwrap_err()
                .contains("invalid character")
        );
    }
}
