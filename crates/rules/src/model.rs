//! The rule document (JSON through the admin API, TOML in `cubby.toml`) and its compiled form.

use cubby_policy::Pattern;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::sniff;

/// Most rules one bucket may carry.
pub const MAX_RULES: usize = 100;

/// Who a rule applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Every caller except the account root.
    Everyone,
    /// Identity-pool identities without a login (unauthenticated role).
    Guests,
    /// Identity-pool identities with a login (authenticated role).
    SignedIn,
    /// Sessions of the named IAM role.
    Role(String),
}

impl Audience {
    fn parse(s: &str) -> Option<Audience> {
        match s {
            "everyone" | "*" => Some(Audience::Everyone),
            "guests" | "guest" => Some(Audience::Guests),
            "signed-in" | "authenticated" => Some(Audience::SignedIn),
            _ => {
                let name = s.strip_prefix("role/")?;
                (!name.is_empty()).then(|| Audience::Role(name.to_owned()))
            }
        }
    }

    fn as_text(&self) -> String {
        match self {
            Audience::Everyone => "everyone".into(),
            Audience::Guests => "guests".into(),
            Audience::SignedIn => "signed-in".into(),
            Audience::Role(r) => format!("role/{r}"),
        }
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_text())
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Audience::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown audience \"{s}\" (expected everyone, guests, signed-in or role/NAME)"
            ))
        })
    }
}

/// One upload rule, as written.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRule {
    /// Names the rule in errors, metrics and usage reports.
    pub id: String,
    /// Key prefix the rule covers (empty: the whole bucket).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// Who it applies to (empty: everyone but the root).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applies_to: Vec<Audience>,
    /// Largest object, in bytes (`"10 MiB"` is accepted on input).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "size_opt"
    )]
    pub max_size: Option<u64>,
    /// Allowed media types (`image/jpeg`, `image/*`), checked against the body's first bytes
    /// and the declared `Content-Type` (empty: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content_types: Vec<String>,
    /// Keys must match this pattern (policy variables allowed, e.g.
    /// `${cognito-identity.amazonaws.com:sub}/*`), relative to the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_pattern: Option<String>,
    /// Per identity: most objects under the prefix (in-progress multipart uploads count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_objects: Option<u64>,
    /// Per identity: most bytes under the prefix (`"1 GiB"` is accepted on input).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "size_opt"
    )]
    pub max_bytes: Option<u64>,
    /// Per identity: uploads started per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploads_per_minute: Option<u32>,
    /// Per source IP address: uploads started per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploads_per_minute_per_ip: Option<u32>,
}

fn size_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Number(u64),
        Text(String),
    }
    match Option::<Size>::deserialize(d)? {
        None => Ok(None),
        Some(Size::Number(n)) => Ok(Some(n)),
        Some(Size::Text(t)) => parse_size(&t).map(Some).map_err(serde::de::Error::custom),
    }
}

/// Parse a size such as `1048576`, `512 KiB`, `10MiB`, `5 GB`, `1.5 GiB`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("\"{text}\" is not a size (e.g. 10 MiB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        "t" | "tb" => 1_000_000_000_000,
        "tib" => 1 << 40,
        other => return Err(format!("unknown size unit \"{other}\" in \"{text}\"")),
    };
    let bytes = value * mult as f64;
    if !(0.0..=(u64::MAX as f64)).contains(&bytes) {
        return Err(format!("\"{text}\" is out of range"));
    }
    Ok(bytes as u64)
}

/// A rule set that failed validation: which rule and why.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("upload rule {index} ({id}): {message}")]
pub struct RuleError {
    /// Position in the list (0-based).
    pub index: usize,
    /// The rule's id as written.
    pub id: String,
    /// What is wrong.
    pub message: String,
}

/// A validated rule, ready to evaluate.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// The rule as written.
    pub rule: UploadRule,
    /// Its key pattern, compiled.
    pub key_pattern: Option<Pattern>,
    /// Allowed media types, normalised.
    content_types: Vec<String>,
}

/// Who is uploading, as far as rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectKind {
    /// An identity-pool identity without a login.
    Guest,
    /// An identity-pool identity with a login.
    SignedIn,
    /// Any other caller (IAM user, other role sessions, anonymous).
    Other,
}

/// The uploader.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Guest, signed in, or neither.
    pub kind: SubjectKind,
    /// The role of a role session.
    pub role_name: Option<&'a str>,
}

impl CompiledRule {
    /// Does the rule cover this key and uploader?
    pub fn applies(&self, key: &str, subject: Subject<'_>) -> bool {
        if !key.starts_with(&self.rule.prefix) {
            return false;
        }
        self.rule.applies_to.is_empty()
            || self.rule.applies_to.iter().any(|a| match a {
                Audience::Everyone => true,
                Audience::Guests => subject.kind == SubjectKind::Guest,
                Audience::SignedIn => subject.kind == SubjectKind::SignedIn,
                Audience::Role(r) => subject.role_name == Some(r.as_str()),
            })
    }

    /// Does the rule restrict content types?
    pub fn restricts_types(&self) -> bool {
        !self.content_types.is_empty()
    }

    /// Is this (normalised) media type on the allowed list?
    pub fn allows_type(&self, media_type: &str) -> bool {
        !self.restricts_types()
            || self.content_types.iter().any(|allowed| {
                allowed == "*/*"
                    || allowed == media_type
                    || allowed
                        .strip_suffix("/*")
                        .is_some_and(|top| media_type.split('/').next() == Some(top))
            })
    }

    /// May a body whose first bytes say `detected` (see [`sniff::detect`]) be stored under the
    /// declared `Content-Type`? The bytes must be an allowed type, and a declared type must
    /// agree with them (so a JPEG cannot be stored as `text/html`). A generic declared type
    /// (`application/octet-stream`, `binary/octet-stream`) defers to the bytes. Unidentified
    /// bytes pass only where `application/octet-stream` is allowed.
    pub fn allows_content(&self, declared: Option<&str>, detected: Option<&str>) -> bool {
        if !self.restricts_types() {
            return true;
        }
        let declared = declared.map(sniff::normalize).filter(|d| !is_generic(d));
        match (detected, declared) {
            (None, None) => self.allows_type("application/octet-stream"),
            (None, Some(_)) => false,
            (Some(found), None) => self.allows_type(found),
            (Some(found), Some(decl)) => {
                sniff::declared_matches(&decl, found) && self.allows_type(&decl)
            }
        }
    }

    /// May an upload declaring this `Content-Type` start (before any byte is read)?
    pub fn allows_declared(&self, declared: Option<&str>) -> bool {
        match declared.map(sniff::normalize) {
            Some(d) if !is_generic(&d) => self.allows_type(&d),
            _ => true,
        }
    }

    /// The allowed types, for messages.
    pub fn allowed_types(&self) -> &[String] {
        &self.content_types
    }

    /// Does the rule keep per-identity usage (objects or bytes)?
    pub fn has_quota(&self) -> bool {
        self.rule.max_objects.is_some() || self.rule.max_bytes.is_some()
    }
}

/// Types that say nothing about the content.
fn is_generic(media_type: &str) -> bool {
    matches!(
        media_type,
        "" | "application/octet-stream" | "binary/octet-stream"
    )
}

/// Validate and compile a bucket's rules.
pub fn compile(rules: &[UploadRule]) -> Result<Vec<CompiledRule>, RuleError> {
    if rules.len() > MAX_RULES {
        return Err(RuleError {
            index: MAX_RULES,
            id: String::new(),
            message: format!("a bucket may have at most {MAX_RULES} upload rules"),
        });
    }
    let mut out: Vec<CompiledRule> = Vec::with_capacity(rules.len());
    for (index, rule) in rules.iter().enumerate() {
        let fail = |message: String| RuleError {
            index,
            id: rule.id.clone(),
            message,
        };
        let id_ok = !rule.id.is_empty()
            && rule.id.len() <= 64
            && rule
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !id_ok {
            return Err(fail(
                "id must be 1-64 characters of letters, digits, '-', '_' or '.'".into(),
            ));
        }
        if out.iter().any(|c| c.rule.id == rule.id) {
            return Err(fail("duplicate id".into()));
        }
        if rule.prefix.len() > 1024 {
            return Err(fail("prefix is longer than 1024 bytes".into()));
        }
        for (name, v) in [
            ("max_size", rule.max_size),
            ("max_objects", rule.max_objects),
            ("max_bytes", rule.max_bytes),
            ("uploads_per_minute", rule.uploads_per_minute.map(u64::from)),
            (
                "uploads_per_minute_per_ip",
                rule.uploads_per_minute_per_ip.map(u64::from),
            ),
        ] {
            if v == Some(0) {
                return Err(fail(format!("{name} must be at least 1")));
            }
        }
        let mut content_types = Vec::new();
        for t in &rule.content_types {
            let n = sniff::normalize(t);
            let mut parts = n.split('/');
            let well_formed = matches!((parts.next(), parts.next(), parts.next()),
                (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty());
            if !well_formed {
                return Err(fail(format!(
                    "\"{t}\" is not a media type (e.g. image/jpeg or image/*)"
                )));
            }
            content_types.push(n);
        }
        let key_pattern = match &rule.key_pattern {
            Some(p) if p.is_empty() => return Err(fail("key_pattern is empty".into())),
            Some(p) => Some(Pattern::parse(p).map_err(|e| fail(format!("key_pattern: {e}")))?),
            None => None,
        };
        out.push(CompiledRule {
            rule: rule.clone(),
            key_pattern,
            content_types,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: &str) -> UploadRule {
        serde_json::from_str(json).expect("rule json")
    }

    #[test]
    fn sizes_accept_numbers_and_units() {
        assert_eq!(parse_size("10 MiB"), Ok(10 << 20));
        assert_eq!(parse_size("5GB"), Ok(5_000_000_000));
        assert_eq!(parse_size("1.5 KiB"), Ok(1536));
        assert_eq!(parse_size("42"), Ok(42));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("3 parsecs").is_err());
        let r = rule(r#"{"id":"a","max_size":"1 MiB","max_bytes":2048}"#);
        assert_eq!((r.max_size, r.max_bytes), (Some(1 << 20), Some(2048)));
    }

    #[test]
    fn unknown_fields_and_audiences_are_refused() {
        assert!(serde_json::from_str::<UploadRule>(r#"{"id":"a","max_sise":1}"#).is_err());
        assert!(
            serde_json::from_str::<UploadRule>(r#"{"id":"a","applies_to":["admins"]}"#).is_err()
        );
    }

    #[test]
    fn validation_names_the_rule() {
        let e = compile(&[
            rule(r#"{"id":"ok"}"#),
            rule(r#"{"id":"bad","max_objects":0}"#),
        ])
        .expect_err("invalid");
        assert_eq!((e.index, e.id.as_str()), (1, "bad"));
        assert!(compile(&[rule(r#"{"id":"a"}"#), rule(r#"{"id":"a"}"#)]).is_err());
        assert!(compile(&[rule(r#"{"id":"a","content_types":["jpeg"]}"#)]).is_err());
        assert!(compile(&[rule(r#"{"id":"a","key_pattern":"${oops/*"}"#)]).is_err());
        assert!(compile(&[rule(r#"{"id":"has space"}"#)]).is_err());
    }

    #[test]
    fn audience_and_prefix_select_rules() {
        let rules = compile(&[rule(
            r#"{"id":"g","prefix":"in/","applies_to":["guests","role/Uploader"]}"#,
        )])
        .expect("compile");
        let r = &rules[0];
        let guest = Subject {
            kind: SubjectKind::Guest,
            role_name: Some("Other"),
        };
        let member = Subject {
            kind: SubjectKind::SignedIn,
            role_name: Some("Uploader"),
        };
        let other = Subject {
            kind: SubjectKind::SignedIn,
            role_name: Some("Other"),
        };
        assert!(r.applies("in/x", guest));
        assert!(!r.applies("out/x", guest));
        assert!(r.applies("in/x", member));
        assert!(!r.applies("in/x", other));
    }

    #[test]
    fn type_lists_allow_wildcards() {
        let rules = compile(&[rule(
            r#"{"id":"t","content_types":["image/*","application/pdf"]}"#,
        )])
        .expect("compile");
        let r = &rules[0];
        assert!(r.allows_type("image/png"));
        assert!(r.allows_type("application/pdf"));
        assert!(!r.allows_type("application/x-msdownload"));
        assert!(!r.allows_type("imagex/png"));
        // Bytes decide; a declared type must agree with them.
        assert!(r.allows_content(Some("image/jpeg"), Some("image/jpeg")));
        assert!(r.allows_content(None, Some("image/png")));
        assert!(r.allows_content(Some("binary/octet-stream"), Some("image/png")));
        assert!(!r.allows_content(Some("image/jpeg"), Some("application/x-msdownload")));
        assert!(!r.allows_content(Some("text/html"), Some("image/jpeg")));
        assert!(!r.allows_content(Some("image/png"), Some("image/jpeg")));
        assert!(!r.allows_content(None, None));
        assert!(r.allows_declared(Some("image/webp")));
        assert!(!r.allows_declared(Some("text/html")));
        let csv = compile(&[rule(r#"{"id":"c","content_types":["text/csv"]}"#)]).expect("csv");
        assert!(csv[0].allows_content(Some("text/csv"), Some("text/plain")));
        assert!(!csv[0].allows_content(Some("text/html"), Some("text/plain")));
        let any = compile(&[rule(
            r#"{"id":"o","content_types":["application/octet-stream"]}"#,
        )])
        .expect("any");
        assert!(any[0].allows_content(None, None));
    }

    #[test]
    fn documents_round_trip() {
        let r = rule(
            r#"{"id":"all","prefix":"p/","applies_to":["signed-in"],"max_size":5,"content_types":["image/jpeg"],"key_pattern":"${aws:username}/*","max_objects":3,"max_bytes":10,"uploads_per_minute":2,"uploads_per_minute_per_ip":4}"#,
        );
        let again: UploadRule =
            serde_json::from_str(&serde_json::to_string(&r).expect("ser")).expect("de");
        assert_eq!(r, again);
    }
}
