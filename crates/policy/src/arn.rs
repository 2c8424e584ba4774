//! ARNs: splitting into segments and segment-wise patterns.
//!
//! `arn:partition:service:region:account:resource` is compared per segment; everything after the
//! fifth colon is one segment, because S3 keys and Cognito identity ids contain colons
//! (`arn:aws:s3:::bucket/us-east-1:1234…/photo.jpg`). Wildcards never cross a segment boundary
//! in the first five segments; in the resource segment `*` crosses `/` and `:`.

use crate::glob::Glob;
use crate::vars::{Resolver, Syntax, split_arn_pattern};

/// The six segments of an ARN, or `None` if `s` has fewer than five colons.
pub(crate) fn split(s: &str) -> Option<[&str; 6]> {
    let mut it = s.splitn(6, ':');
    Some([
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
        it.next()?,
    ])
}

/// A compiled resource pattern: `*`, or six segment patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArnPattern {
    /// `"*"`: every resource.
    Any,
    /// Segment-wise pattern.
    Segments(Box<[Glob; 6]>),
}

/// The message used when a resource is neither `*` nor ARN-shaped.
pub(crate) const EXPECTED_ARN: &str =
    "expected \"*\" or an ARN of the form arn:partition:service:region:account:resource";

impl ArnPattern {
    /// Compiles pattern text (`*`, or an ARN with wildcards and, per `syntax`, variables).
    pub fn compile(text: &str, syntax: Syntax) -> Result<ArnPattern, String> {
        if syntax.wildcards && !text.is_empty() && text.bytes().all(|b| b == b'*') {
            return Ok(ArnPattern::Any);
        }
        if !text.starts_with("arn:") {
            return Err(EXPECTED_ARN.to_string());
        }
        let [a, b, c, d, e, f] = split_arn_pattern(text, syntax.variables).ok_or(EXPECTED_ARN)?;
        let g = |part: &str| Glob::from_text(part, syntax, false);
        let arr = Box::new([g(a)?, g(b)?, g(c)?, g(d)?, g(e)?, g(f)?]);
        Ok(ArnPattern::Segments(arr))
    }

    /// Matches a pre-split ARN (`None` = the text was not ARN-shaped, matched only by `*`).
    pub fn matches<R: Resolver + ?Sized>(&self, arn: Option<&[&str; 6]>, r: &R) -> bool {
        match self {
            ArnPattern::Any => true,
            ArnPattern::Segments(globs) => match arn {
                Some(parts) => globs
                    .iter()
                    .zip(parts.iter())
                    .all(|(g, part)| g.matches(part, r)),
                None => false,
            },
        }
    }

    fn globs(&self) -> &[Glob] {
        match self {
            ArnPattern::Any => &[],
            ArnPattern::Segments(g) => &g[..],
        }
    }

    /// True if the pattern contains a policy variable.
    pub fn has_variables(&self) -> bool {
        self.globs().iter().any(Glob::has_variables)
    }

    /// True if the pattern contains a wildcard.
    pub fn has_wildcards(&self) -> bool {
        matches!(self, ArnPattern::Any) || self.globs().iter().any(Glob::has_wildcards)
    }

    /// True if every variable resolves.
    pub fn variables_resolve<R: Resolver + ?Sized>(&self, r: &R) -> bool {
        self.globs().iter().all(|g| g.variables_resolve(r))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::vars::NoVars;

    fn pat(s: &str) -> Result<ArnPattern, String> {
        ArnPattern::compile(
            s,
            Syntax {
                variables: true,
                wildcards: true,
            },
        )
    }

    fn m(p: &str, arn: &str) -> bool {
        pat(p).unwrap().matches(split(arn).as_ref(), &NoVars)
    }

    #[test]
    fn splits_after_five_colons() {
        assert_eq!(
            split("arn:aws:s3:::b/us-east-1:abc:def"),
            Some(["arn", "aws", "s3", "", "", "b/us-east-1:abc:def"])
        );
        assert_eq!(split("arn:aws:s3::"), None);
    }

    #[test]
    fn segment_wise_matching() {
        assert!(m("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b:c"));
        assert!(!m("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket2/a"));
        assert!(!m("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket"));
        assert!(m("arn:aws:s3:::bucket*", "arn:aws:s3:::bucket"));
        assert!(m(
            "arn:aws:iam::*:role/*",
            "arn:aws:iam::123456789012:role/x"
        ));
        // `*` in the region segment does not swallow the account segment's colon.
        assert!(!m("arn:aws:s3:*:*:bucket", "arn:aws:s3:a:b:c:bucket"));
        assert!(m("arn:aws:s3:*:*:*bucket", "arn:aws:s3:a:b:c:bucket"));
        assert!(m("arn:*:s3:::b", "arn:aws-cn:s3:::b"));
        // Case-sensitive.
        assert!(!m("arn:aws:s3:::Bucket", "arn:aws:s3:::bucket"));
        assert!(m("*", "anything at all"));
        assert!(!m("arn:aws:s3:::*", "not-an-arn"));
        assert!(m("arn:aws:s3:::*", "arn:aws:s3:::*"));
    }

    #[test]
    fn rejects_non_arns() {
        assert!(pat("bucket/*").is_err());
        assert!(pat("arn:aws:s3").is_err());
        assert!(pat("*/x").is_err());
        // A colon inside a variable does not count as a separator.
        assert!(pat("arn:aws:s3:::${aws:username}").is_ok());
        assert!(pat("arn:aws:s3:${aws:username}").is_err());
    }
}
