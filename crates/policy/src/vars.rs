//! Policy variables: `${key}`, `${key, 'default'}` and the escapes `${*}`, `${?}`, `${$}`.
//!
//! Text that may contain variables and wildcards is split into [`Token`]s once, at parse time.
//! Substituted values are always *literal*: a claim such as `*` can never act as a wildcard,
//! because wildcards only come from [`Token::Star`]/[`Token::Quest`] written in the policy itself.

/// A reference to a request-context key, resolved at evaluation time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VarRef {
    /// The key name, ASCII-lowercased (key names are case-insensitive).
    pub key: Box<str>,
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

fn push_lit(tokens: &mut Vec<Token>, s: &str) {
    if let Some(Token::Lit(prev)) = tokens.last_mut() {
        prev.push_str(s);
    } else {
        tokens.push(Token::Lit(s.to_string()));
    }
}

/// Splits `s` into tokens. Errors describe the offending variable.
pub(crate) fn tokenize(s: &str, syntax: Syntax) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if syntax.variables && rest.starts_with("${") {
            let inner_and_more = rest.get(2..).unwrap_or_default();
            let end = find_close(inner_and_more).ok_or_else(|| {
                format!("unterminated policy variable in \"{s}\" (expected '}}' after \"${{\")")
            })?;
            let inner = inner_and_more.get(..end).unwrap_or_default();
            rest = inner_and_more.get(end + 1..).unwrap_or_default();
            match inner {
                "*" | "?" | "$" => push_lit(&mut tokens, inner),
                _ => tokens.push(Token::Var(parse_var(inner)?)),
            }
            continue;
        }
        match c {
            '*' if syntax.wildcards => {
                if tokens.last() != Some(&Token::Star) {
                    tokens.push(Token::Star);
                }
            }
            '?' if syntax.wildcards => tokens.push(Token::Quest),
            _ => {
                let mut buf = [0u8; 4];
                push_lit(&mut tokens, c.encode_utf8(&mut buf));
            }
        }
        rest = rest.get(c.len_utf8()..).unwrap_or_default();
    }
    Ok(tokens)
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
        key: key.to_ascii_lowercase().into(),
        default,
    })
}

/// True if `s` mentions `${` (used by lints to spot variables that would be literal text).
pub(crate) fn mentions_variable(s: &str) -> bool {
    s.contains("${")
}

#[cfg(test)]
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
            key: k.into(),
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
            vec![var("aws:principaltag/team", Some("company-wide")), Token::Quest]
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
    fn default_may_contain_brace() {
        assert_eq!(
            tokenize("${k,'a}b'}", FULL).unwrap(),
            vec![var("k", Some("a}b"))]
        );
    }

    #[test]
    fn bad_variables() {
        assert!(tokenize("${aws:username", FULL).unwrap_err().contains("unterminated"));
        assert!(tokenize("${}", FULL).unwrap_err().contains("empty"));
        assert!(tokenize("${ , 'x'}", FULL).unwrap_err().contains("empty"));
        assert!(tokenize("${k, x}", FULL).unwrap_err().contains("default"));
        assert!(tokenize("${a*b}", FULL).unwrap_err().contains("invalid character"));
    }
}
