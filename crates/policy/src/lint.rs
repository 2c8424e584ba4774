//! Warnings for valid but risky policies (backs `cubby policy check`).

use std::collections::HashSet;
use std::fmt;

use crate::actions;
use crate::condition::{Base, Qualifier};
use crate::glob::Glob;
use crate::json::Pos;
use crate::policy::{Effect, Policy, Statement, statement_is_public};
use crate::vars::{NoVars, Syntax, mentions_variable, tokenize};

/// What a [`LintWarning`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LintCode {
    /// `"Action": "*"` in an Allow statement.
    WildcardAction,
    /// `"<service>:*"` allowed on every resource (`"Resource": "*"`).
    ServiceWildcardOnAllResources,
    /// `Allow` with `NotAction`: grants every action not listed, including future ones.
    AllowWithNotAction,
    /// `Allow` with `NotResource`: grants on every resource not listed.
    AllowWithNotResource,
    /// An action name that the service (s3, iam, sts, cognito-identity) does not have.
    UnknownAction,
    /// A resource or `s3:prefix` that looks like a per-user folder (`private/*`, `home/*`) but
    /// has no policy variable, so every user reaches every user's folder.
    PerUserFolderWithoutVariable,
    /// `${…}` in a policy whose Version is not 2012-10-17, where it is literal text.
    LiteralVariable,
    /// An Allow to everyone without a restricting condition (a public policy).
    PublicGrant,
    /// A web-identity trust statement without an audience (`…:aud`) condition: it trusts
    /// every identity pool / client.
    TrustWithoutAudience,
    /// A multi-valued key (e.g. `cognito-identity.amazonaws.com:amr`) tested without
    /// `ForAnyValue:`/`ForAllValues:`.
    MultiValuedKeyWithoutQualifier,
    /// `ForAllValues:` in an Allow statement: true when the key is absent.
    ForAllValuesInAllow,
    /// The same `Sid` on two statements.
    DuplicateSid,
}

impl LintCode {
    /// A stable kebab-case name, e.g. `wildcard-action`.
    pub fn as_str(self) -> &'static str {
        match self {
            LintCode::WildcardAction => "wildcard-action",
            LintCode::ServiceWildcardOnAllResources => "service-wildcard-on-all-resources",
            LintCode::AllowWithNotAction => "allow-with-not-action",
            LintCode::AllowWithNotResource => "allow-with-not-resource",
            LintCode::UnknownAction => "unknown-action",
            LintCode::PerUserFolderWithoutVariable => "per-user-folder-without-variable",
            LintCode::LiteralVariable => "literal-variable",
            LintCode::PublicGrant => "public-grant",
            LintCode::TrustWithoutAudience => "trust-without-audience",
            LintCode::MultiValuedKeyWithoutQualifier => "multi-valued-key-without-qualifier",
            LintCode::ForAllValuesInAllow => "for-all-values-in-allow",
            LintCode::DuplicateSid => "duplicate-sid",
        }
    }
}

/// One warning, with the position of the element it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintWarning {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The kind of warning.
    pub code: LintCode,
    /// Human-readable explanation.
    pub message: String,
}

impl fmt::Display for LintWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {} [{}]",
            self.line,
            self.column,
            self.message,
            self.code.as_str()
        )
    }
}

/// Folder names that usually hold one sub-folder per user.
const FOLDER_WORDS: &[&str] = &[
    "private",
    "protected",
    "home",
    "homes",
    "users",
    "user",
    "personal",
    "members",
];

/// Condition keys that carry several values.
const MULTI_VALUED_KEYS: &[&str] = &[
    "cognito-identity.amazonaws.com:amr",
    "aws:tagkeys",
    "aws:calledvia",
    "aws:principalorgpaths",
    "aws:principalservicenameslist",
    "s3:requestobjecttagkeys",
];

struct Linter {
    out: Vec<LintWarning>,
}

impl Linter {
    fn warn(&mut self, pos: Pos, code: LintCode, message: String) {
        self.out.push(LintWarning {
            line: pos.line,
            column: pos.column,
            code,
            message,
        });
    }
}

/// Warnings for a valid policy, sorted by position.
pub fn lint(policy: &Policy) -> Vec<LintWarning> {
    let mut l = Linter { out: Vec::new() };
    let mut sids = HashSet::new();
    for st in &policy.statements {
        if let (Some(sid), Some(pos)) = (&st.sid, st.sid_pos)
            && !sid.is_empty()
            && !sids.insert(sid.clone())
        {
            l.warn(
                pos,
                LintCode::DuplicateSid,
                format!(
                    "Sid \"{sid}\" is used by more than one statement; IAM requires unique Sids"
                ),
            );
        }
        lint_actions(&mut l, st);
        if st.effect == Effect::Allow {
            lint_allow(&mut l, st);
        }
        lint_conditions(&mut l, st);
        if !policy.variables_enabled() {
            lint_literal_variables(&mut l, policy, st);
        }
    }
    l.out.sort_by_key(|w| (w.line, w.column));
    l.out
}

fn lint_actions(l: &mut Linter, st: &Statement) {
    for a in &st.action.entries {
        let Some((service, name)) = a.text.split_once(':') else {
            continue;
        };
        let Some(known) = actions::known(service) else {
            continue;
        };
        let ok = if name.contains(['*', '?']) {
            let tokens = tokenize(
                name,
                Syntax {
                    variables: false,
                    wildcards: true,
                },
            )
            .unwrap_or_default();
            let g = Glob::compile(tokens, true);
            known.iter().any(|k| g.matches(k, &NoVars))
        } else {
            known.iter().any(|k| k.eq_ignore_ascii_case(name))
        };
        if !ok {
            let hint = suggestion(name, known)
                .map(|s| format!("; did you mean \"{service}:{s}\"?"))
                .unwrap_or_default();
            let what = if name.contains(['*', '?']) {
                "matches no known action"
            } else {
                "is not a known action"
            };
            l.warn(
                a.pos,
                LintCode::UnknownAction,
                format!("\"{}\" {what} of {service}{hint}", a.text),
            );
        }
    }
}

fn lint_allow(l: &mut Linter, st: &Statement) {
    if st.action.negated {
        l.warn(
            st.action.pos,
            LintCode::AllowWithNotAction,
            "Allow with NotAction grants every action that is not listed (including actions added later); list the allowed actions instead".into(),
        );
    }
    if let Some(r) = &st.resource
        && r.negated
    {
        l.warn(
            r.pos,
            LintCode::AllowWithNotResource,
            "Allow with NotResource grants on every resource that is not listed; list the allowed resources instead".into(),
        );
    }
    let all_resources = st.resource.as_ref().is_some_and(|r| {
        !r.negated
            && r.entries
                .iter()
                .any(|e| e.text == "*" || crate::arn::split(&e.text).is_some_and(|p| p[5] == "*"))
    });
    if !st.action.negated {
        for a in &st.action.entries {
            if a.text == "*" {
                l.warn(
                    a.pos,
                    LintCode::WildcardAction,
                    "\"Action\": \"*\" allows every action of every service; list the actions needed".into(),
                );
            } else if all_resources && a.text.ends_with(":*") {
                l.warn(
                    a.pos,
                    LintCode::ServiceWildcardOnAllResources,
                    format!(
                        "\"{}\" on every resource grants full control of the service; narrow the actions or the resources",
                        a.text
                    ),
                );
            }
        }
    }
    if let Some(r) = &st.resource
        && !r.negated
    {
        for e in &r.entries {
            if e.pattern.has_variables() {
                continue;
            }
            let Some(parts) = crate::arn::split(&e.text) else {
                continue;
            };
            if parts[2] != "s3" {
                continue;
            }
            // Skip the bucket name: the key path starts after the first '/'.
            let key = parts[5].split_once('/').map_or("", |(_, k)| k);
            if let Some(word) = folder_without_variable(key) {
                l.warn(
                    e.pos,
                    LintCode::PerUserFolderWithoutVariable,
                    format!(
                        "\"{}\" looks like a per-user folder (\"{word}/…\") but has no policy variable, so every user reaches every user's folder; use e.g. {word}/${{cognito-identity.amazonaws.com:sub}}/* or {word}/${{aws:username}}/*",
                        e.text
                    ),
                );
            }
        }
    }
    if statement_is_public(st)
        && let Some(p) = &st.principal
    {
        l.warn(
            p.pos,
            LintCode::PublicGrant,
            "this statement allows everyone, including anonymous callers, with no condition restricting the caller or source; as a bucket policy it is public and BlockPublicPolicy rejects it".into(),
        );
    }
    lint_trust_audience(l, st);
}

/// `Some(word)` if `key` has `<word>/*` (or ends in `<word>/`) for a per-user folder word.
fn folder_without_variable(key: &str) -> Option<&'static str> {
    let segs: Vec<&str> = key.split('/').collect();
    for (i, seg) in segs.iter().enumerate() {
        let Some(word) = FOLDER_WORDS.iter().find(|w| w.eq_ignore_ascii_case(seg)) else {
            continue;
        };
        match segs.get(i + 1) {
            Some(next) if next.starts_with('*') => return Some(word),
            _ => {}
        }
    }
    None
}

fn lint_trust_audience(l: &mut Linter, st: &Statement) {
    let Some(p) = &st.principal else {
        return;
    };
    for f in p.federated() {
        let provider = f.text.as_str();
        let host = if provider == "cognito-identity.amazonaws.com" {
            provider.to_string()
        } else if let Some(parts) = crate::arn::split(provider)
            && let Some(h) = parts[5].strip_prefix("oidc-provider/")
        {
            h.to_string()
        } else {
            continue;
        };
        let aud = format!("{}:aud", host.to_ascii_lowercase());
        let has_aud = st.conditions.iter().any(|b| {
            !b.op.base.negated()
                && !b.op.if_exists
                && b.op.qualifier != Qualifier::ForAllValues
                && b.entries.iter().any(|e| *e.key_lower == *aud)
        });
        if !has_aud {
            l.warn(
                f.pos,
                LintCode::TrustWithoutAudience,
                format!(
                    "trust for \"{provider}\" has no condition on \"{host}:aud\", so tokens for any identity pool or client can assume this role; add \"StringEquals\": {{\"{host}:aud\": \"…\"}}"
                ),
            );
        }
    }
}

fn lint_conditions(l: &mut Linter, st: &Statement) {
    for b in &st.conditions {
        if b.op.qualifier == Qualifier::ForAllValues && st.effect == Effect::Allow {
            l.warn(
                b.op_pos,
                LintCode::ForAllValuesInAllow,
                format!(
                    "{} in an Allow statement is also true when the key is absent; add a Null condition (\"Null\": {{\"<key>\": \"false\"}}) or use ForAnyValue:",
                    b.op.name()
                ),
            );
        }
        for e in &b.entries {
            if b.op.qualifier == Qualifier::None
                && b.op.base != Base::Null
                && MULTI_VALUED_KEYS.contains(&&*e.key_lower)
            {
                l.warn(
                    e.key_pos,
                    LintCode::MultiValuedKeyWithoutQualifier,
                    format!(
                        "\"{}\" is multi-valued; test it with ForAnyValue:{} (or ForAllValues:)",
                        e.key,
                        b.op.name()
                    ),
                );
            }
            if st.effect == Effect::Allow
                && &*e.key_lower == "s3:prefix"
                && matches!(b.op.base, Base::StringLike | Base::StringEquals)
                && !e.has_variables()
            {
                for v in &e.values {
                    if let Some(word) = folder_without_variable(&v.text) {
                        l.warn(
                            v.pos,
                            LintCode::PerUserFolderWithoutVariable,
                            format!(
                                "s3:prefix \"{}\" looks like a per-user folder (\"{word}/…\") but has no policy variable; use e.g. {word}/${{cognito-identity.amazonaws.com:sub}}/*",
                                v.text
                            ),
                        );
                    }
                }
            }
        }
    }
}

fn lint_literal_variables(l: &mut Linter, policy: &Policy, st: &Statement) {
    let version = match policy.version {
        Some(v) => format!("\"Version\": \"{}\"", v.as_str()),
        None => "a policy without \"Version\"".to_string(),
    };
    let message = |text: &str| {
        format!(
            "\"{text}\" is literal text under {version}; policy variables need \"Version\": \"2012-10-17\""
        )
    };
    let resources = st.resource.iter().flat_map(|r| r.entries.iter());
    for e in resources {
        if mentions_variable(&e.text) {
            l.warn(e.pos, LintCode::LiteralVariable, message(&e.text));
        }
    }
    for b in &st.conditions {
        for e in &b.entries {
            for v in &e.values {
                if mentions_variable(&v.text) {
                    l.warn(v.pos, LintCode::LiteralVariable, message(&v.text));
                }
            }
        }
    }
}

/// Suggestions are names within this edit distance.
const MAX_SUGGESTION_DISTANCE: usize = 3;

/// The closest known name (case-insensitive edit distance ≤ 3), if any.
fn suggestion(name: &str, known: &[&'static str]) -> Option<&'static str> {
    let lower: Vec<char> = name.to_ascii_lowercase().chars().collect();
    let mut best: Option<(usize, &'static str)> = None;
    for k in known {
        let limit = best.map_or(MAX_SUGGESTION_DISTANCE, |(d, _)| d.saturating_sub(1));
        let candidate: Vec<char> = k.to_ascii_lowercase().chars().collect();
        if let Some(d) = edit_distance_within(&lower, &candidate, limit) {
            best = Some((d, *k));
        }
    }
    best.map(|(_, k)| k)
}

/// The edit distance of `a` and `b` if it is at most `limit`. Names whose lengths differ by
/// more are skipped at once, and a row whose best cell exceeds `limit` ends the search, so
/// a policy full of long unknown names costs linear time per name, not quadratic.
fn edit_distance_within(a: &[char], b: &[char], limit: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        if let Some(first) = cur.first_mut() {
            *first = i + 1;
        }
        let mut row_min = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            let d = sub.min(del).min(ins);
            if let Some(c) = cur.get_mut(j + 1) {
                *c = d;
            }
            row_min = row_min.min(d);
        }
        if row_min > limit {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().filter(|d| *d <= limit)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances() {
        let d = |a: &str, b: &str, limit| {
            let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
            edit_distance_within(&a, &b, limit)
        };
        assert_eq!(d("getobject", "getobject", 3), Some(0));
        assert_eq!(d("getobjects", "getobject", 3), Some(1));
        assert_eq!(d("", "abc", 3), Some(3));
        assert_eq!(d("", "abcd", 3), None);
        assert_eq!(d("kitten", "sitting", 3), Some(3));
        assert_eq!(d("kitten", "sitting", 2), None);
        assert_eq!(d("abcdef", "uvwxyz", 3), None);
        assert_eq!(suggestion("GetObjects", actions::S3), Some("GetObject"));
        assert_eq!(suggestion("Frobnicate", actions::S3), None);
    }

    #[test]
    fn folder_words() {
        assert_eq!(folder_without_variable("private/*"), Some("private"));
        assert_eq!(folder_without_variable("a/home/*/x"), Some("home"));
        assert_eq!(folder_without_variable("private/alice/*"), None);
        assert_eq!(folder_without_variable("public/*"), None);
    }
}
