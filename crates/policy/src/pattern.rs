//! A stand-alone wildcard pattern with policy variables, matched with exactly the semantics of
//! a policy `Resource` (Version 2012-10-17): `*`/`?` wildcards, `${key}` variables resolved
//! from a [`RequestContext`] and compared literally, `${key, 'default'}`, the escapes.
//! Upload rules use it for key patterns such as `${cognito-identity.amazonaws.com:sub}/*`.

use crate::context::RequestContext;
use crate::glob::Glob;
use crate::vars::Syntax;

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    glob: Glob,
    text: String,
}

impl Pattern {
    /// Compile `text`; the error describes a malformed variable.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let syntax = Syntax {
            variables: true,
            wildcards: true,
        };
        Ok(Pattern {
            glob: Glob::from_text(text, syntax, false)?,
            text: text.to_owned(),
        })
    }

    /// Does `subject` match, with variables taken from `ctx`? A variable whose key is absent
    /// (and has no default) makes the pattern match nothing, as in a policy statement.
    pub fn matches(&self, subject: &str, ctx: &RequestContext) -> bool {
        self.glob.matches(subject, ctx)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Principal;

    fn ctx(sub: Option<&str>) -> RequestContext {
        let mut c = RequestContext::new("s3:PutObject", "arn:aws:s3:::b/k", Principal::Anonymous);
        if let Some(s) = sub {
            c.set("cognito-identity.amazonaws.com:sub", s);
        }
        c
    }

    #[test]
    fn variables_are_literal_and_required() {
        let p = Pattern::parse("${cognito-identity.amazonaws.com:sub}/*").expect("parse");
        assert!(p.matches("us-east-1:abc/photo.jpg", &ctx(Some("us-east-1:abc"))));
        assert!(!p.matches("us-east-1:abd/photo.jpg", &ctx(Some("us-east-1:abc"))));
        // A value holding a wildcard matches only itself.
        assert!(!p.matches("anything/x", &ctx(Some("*"))));
        assert!(p.matches("*/x", &ctx(Some("*"))));
        // Absent key: nothing matches.
        assert!(!p.matches("us-east-1:abc/photo.jpg", &ctx(None)));
    }

    #[test]
    fn malformed_variable_is_an_error() {
        assert!(Pattern::parse("${unterminated/*").is_err());
    }
}
