//! POST-object policies: parse the base64 JSON document and evaluate its conditions against
//! the form fields, as S3 does. Pure: the clock arrives as a parameter, no I/O.
//!
//! A policy is `{"expiration": "<ISO-8601>", "conditions": [...]}` (both names exactly so
//! cased). Conditions are `{"field": "value"}` (exact match), `["eq", "$field", "value"]`,
//! `["starts-with", "$field", "prefix"]` and `["content-length-range", min, max]`. Field names
//! compare case-insensitively; every form field except the signature, the policy, the file and
//! `x-ignore-*` must be named by some condition.

use crate::{S3Error, S3Result};
use base64::Engine as _;
use http::StatusCode;
use serde_json::Value;

/// Largest policy document accepted (S3 bounds the whole pre-file form at 20 KB anyway).
const MAX_POLICY_LEN: usize = 20 * 1024;

/// One policy condition. Field names are lower-cased and without the leading `$`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Condition {
    /// The field must equal `value`.
    Eq { field: String, value: String },
    /// The field must start with `prefix` (`""` allows anything).
    StartsWith { field: String, prefix: String },
    /// The file's size must be within `min..=max` bytes.
    ContentLengthRange { min: u64, max: u64 },
}

/// A parsed POST policy.
#[derive(Clone, Debug)]
pub(crate) struct PostPolicy {
    /// Expiry, epoch seconds.
    pub expiration: i64,
    pub conditions: Vec<Condition>,
}

/// Fields that need no condition: the signature itself, the policy, the file, (legacy
/// signatures) the access key id, and `x-amz-checksum-*` (they only constrain the file's
/// content, which is verified against them; S3 accepts them uncovered). `x-ignore-*` fields
/// are ignored altogether.
fn exempt(field: &str) -> bool {
    matches!(
        field,
        "x-amz-signature" | "signature" | "awsaccesskeyid" | "policy" | "file"
    ) || field.starts_with("x-ignore-")
        || field.starts_with("x-amz-checksum-")
}

/// Fields whose condition must be an exact match (S3 refuses `starts-with` on them).
fn exact_only(field: &str) -> bool {
    matches!(
        field,
        "bucket" | "x-amz-algorithm" | "x-amz-credential" | "x-amz-date" | "success_action_status"
    )
}

fn invalid_policy(detail: impl std::fmt::Display) -> S3Error {
    S3Error::new(
        "InvalidPolicyDocument",
        StatusCode::BAD_REQUEST,
        format!("Invalid Policy: {detail}"),
    )
}

/// 403 "Invalid according to Policy: …", S3's refusal of a form its policy does not allow.
pub(crate) fn policy_denied(detail: impl std::fmt::Display) -> S3Error {
    S3Error::new(
        "AccessDenied",
        StatusCode::FORBIDDEN,
        format!("Invalid according to Policy: {detail}"),
    )
}

/// Render a condition the way S3 quotes it in error messages: `["eq", "$key", "a/b"]`.
fn quote(op: &str, field: &str, value: &str) -> String {
    let s = |v: &str| serde_json::to_string(v).unwrap_or_default();
    format!("[{}, {}, {}]", s(op), s(&format!("${field}")), s(value))
}

impl Condition {
    fn field(&self) -> Option<&str> {
        match self {
            Condition::Eq { field, .. } | Condition::StartsWith { field, .. } => Some(field),
            Condition::ContentLengthRange { .. } => None,
        }
    }
}

impl PostPolicy {
    /// Decode and validate the `policy` form field (base64 of the JSON document).
    pub fn parse(base64_policy: &str) -> S3Result<PostPolicy> {
        if base64_policy.len() > MAX_POLICY_LEN {
            return Err(invalid_policy("Policy is too large."));
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(base64_policy.trim())
            .map_err(|_| invalid_policy("Invalid Simple-Policy, not BASE64 encoded."))?;
        let doc: Value =
            serde_json::from_slice(&raw).map_err(|_| invalid_policy("Invalid JSON."))?;
        let Value::Object(top) = doc else {
            return Err(invalid_policy("Invalid JSON."));
        };
        // Names are case-sensitive: `EXPIRATION` or `Conditions` are unknown fields.
        if let Some(k) = top
            .keys()
            .find(|k| !matches!(k.as_str(), "expiration" | "conditions"))
        {
            return Err(invalid_policy(format!("Unexpected field: '{k}'.")));
        }
        let expiration = match top.get("expiration") {
            None => return Err(invalid_policy("Policy missing expiration.")),
            Some(Value::String(s)) => parse_expiration(s)
                .ok_or_else(|| invalid_policy(format!("Invalid 'expiration' value: '{s}'")))?,
            Some(other) => {
                return Err(invalid_policy(format!(
                    "Invalid 'expiration' value: '{other}'"
                )));
            }
        };
        let list = match top.get("conditions") {
            None => return Err(invalid_policy("Policy missing conditions.")),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(invalid_policy("Invalid 'conditions' value: not a list.")),
        };
        if list.is_empty() {
            return Err(invalid_policy("Policy has no conditions."));
        }
        let conditions = list
            .iter()
            .map(parse_condition)
            .collect::<S3Result<Vec<_>>>()?;
        Ok(PostPolicy {
            expiration,
            conditions,
        })
    }

    /// The allowed file sizes, when the policy bounds them (the tightest of all ranges).
    pub fn length_range(&self) -> Option<(u64, u64)> {
        self.conditions.iter().fold(None, |acc, c| match c {
            Condition::ContentLengthRange { min, max } => Some(match acc {
                None => (*min, *max),
                Some((a, b)) => (a.max(*min), b.min(*max)),
            }),
            _ => acc,
        })
    }

    /// Check expiry, every condition, and that every form field is covered by one.
    ///
    /// `fields` are the form fields with lower-cased names, the key already expanded
    /// (`${filename}`); `bucket` is the bucket the request targets.
    pub fn check(&self, fields: &[(String, String)], bucket: &str, now: i64) -> S3Result<()> {
        if now >= self.expiration {
            return Err(policy_denied("Policy expired."));
        }
        let value_of = |field: &str| -> &str {
            if field == "bucket" {
                return bucket;
            }
            fields
                .iter()
                .find(|(k, _)| k == field)
                .map_or("", |(_, v)| v.as_str())
        };
        // S3 insists that the policy pins the bucket.
        if !self.conditions.iter().any(|c| c.field() == Some("bucket")) {
            return Err(policy_denied(format!(
                "Policy Condition failed: {}",
                quote("eq", "bucket", bucket)
            )));
        }
        for c in &self.conditions {
            let ok = match c {
                Condition::Eq { field, value } => value_of(field) == value,
                Condition::StartsWith { field, prefix } => {
                    let v = value_of(field);
                    if field == "content-type" {
                        // A list of types: each must carry the prefix.
                        v.split(',').all(|t| t.trim().starts_with(prefix.as_str()))
                    } else {
                        v.starts_with(prefix.as_str())
                    }
                }
                // Checked against the file's size while it streams.
                Condition::ContentLengthRange { .. } => true,
            };
            if !ok {
                let text = match c {
                    Condition::Eq { field, value } => quote("eq", field, value),
                    Condition::StartsWith { field, prefix } => quote("starts-with", field, prefix),
                    Condition::ContentLengthRange { .. } => String::new(),
                };
                return Err(policy_denied(format!("Policy Condition failed: {text}")));
            }
        }
        for (name, _) in fields {
            if exempt(name) {
                continue;
            }
            if !self.conditions.iter().any(|c| c.field() == Some(name)) {
                return Err(policy_denied(format!("Extra input fields: {name}")));
            }
        }
        Ok(())
    }
}

/// ISO-8601 with a zone (`2026-01-01T12:00:00Z`, `…:00.000Z`, `…+00:00`) → epoch seconds.
/// RFC 3339 also allows a space for the `T`; ISO 8601 (and S3) do not.
fn parse_expiration(s: &str) -> Option<i64> {
    if s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

fn field_name(v: &Value) -> S3Result<String> {
    match v.as_str().and_then(|s| s.strip_prefix('$')) {
        Some(name) if !name.is_empty() => Ok(name.to_ascii_lowercase()),
        _ => Err(invalid_policy(format!(
            "Invalid Condition: field name '{v}' must start with '$'."
        ))),
    }
}

fn length_bound(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
}

fn parse_condition(c: &Value) -> S3Result<Condition> {
    match c {
        Value::Object(map) => {
            let mut it = map.iter();
            match (it.next(), it.next()) {
                (Some((k, Value::String(v))), None) => Ok(Condition::Eq {
                    field: k.trim_start_matches('$').to_ascii_lowercase(),
                    value: v.clone(),
                }),
                _ => Err(invalid_policy(format!(
                    "Invalid Simple-Condition: Simple-Conditions must have exactly one property specified: {c}"
                ))),
            }
        }
        Value::Array(items) => {
            let op = items
                .first()
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .ok_or_else(|| invalid_policy(format!("Invalid Condition: {c}")))?;
            if items.len() != 3 {
                return Err(invalid_policy(format!(
                    "Invalid Condition: wrong number of arguments: {c}"
                )));
            }
            let (a, b) = (&items[1], &items[2]);
            match op.as_str() {
                "eq" | "starts-with" => {
                    let field = field_name(a)?;
                    let value = b
                        .as_str()
                        .ok_or_else(|| {
                            invalid_policy(format!(
                                "Invalid Condition: value must be a string: {c}"
                            ))
                        })?
                        .to_owned();
                    if op == "eq" {
                        Ok(Condition::Eq { field, value })
                    } else if exact_only(&field) {
                        Err(invalid_policy(format!(
                            "Invalid Condition: 'starts-with' is not supported for '${field}'."
                        )))
                    } else {
                        Ok(Condition::StartsWith {
                            field,
                            prefix: value,
                        })
                    }
                }
                "content-length-range" => match (length_bound(a), length_bound(b)) {
                    (Some(min), Some(max)) if min <= max => {
                        Ok(Condition::ContentLengthRange { min, max })
                    }
                    _ => Err(invalid_policy(format!(
                        "Invalid content-length-range: bounds must be integers with 0 <= min <= max: {c}"
                    ))),
                },
                _ => Err(invalid_policy(format!(
                    "Invalid Condition: unknown operation '{op}'."
                ))),
            }
        }
        _ => Err(invalid_policy(format!("Invalid Condition: {c}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_767_268_800; // 2026-01-01T12:00:00Z

    fn enc(v: &Value) -> String {
        base64::engine::general_purpose::STANDARD.encode(v.to_string())
    }

    fn policy(conditions: Value) -> PostPolicy {
        PostPolicy::parse(&enc(
            &json!({"expiration": "2026-01-01T13:00:00.000Z", "conditions": conditions}),
        ))
        .unwrap()
    }

    fn fields(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn err(e: S3Error) -> (u16, &'static str, String) {
        (e.status.as_u16(), e.code, e.message)
    }

    #[test]
    fn document_shape_errors_are_400() {
        let cases = [
            json!({"conditions": [{"bucket": "b"}]}),
            json!({"expiration": "tomorrow", "conditions": [{"bucket": "b"}]}),
            json!({"expiration": "2026-01-01", "conditions": [{"bucket": "b"}]}),
            json!({"expiration": "2026-01-01 13:00:00+00:00", "conditions": [{"bucket": "b"}]}),
            json!({"EXPIRATION": "2026-01-01T13:00:00Z", "conditions": [{"bucket": "b"}]}),
            json!({"expiration": "2026-01-01T13:00:00Z", "CONDITIONS": [{"bucket": "b"}]}),
            json!({"expiration": "2026-01-01T13:00:00Z"}),
            json!({"expiration": "2026-01-01T13:00:00Z", "conditions": []}),
            json!({"expiration": "2026-01-01T13:00:00Z", "conditions": [{}]}),
            json!({"expiration": "2026-01-01T13:00:00Z", "conditions": [["content-length-range", 10]]}),
            json!({"expiration": "2026-01-01T13:00:00Z", "conditions": [["content-length-range", -1, 10]]}),
            json!({"expiration": "2026-01-01T13:00:00Z", "conditions": [["content-length-range", 10, 1]]}),
            json!({"expiration": "2026-01-01T13:00:00Z", "conditions": [["starts-with", "$bucket", "b"]]}),
            json!({"expiration": "2026-01-01T13:00:00Z", "conditions": [["eq", "key", "k"]]}),
            json!({"expiration": "2026-01-01T13:00:00Z", "conditions": [["matches", "$key", "k"]]}),
            json!(["not", "an", "object"]),
        ];
        for c in cases {
            let e = PostPolicy::parse(&enc(&c)).unwrap_err();
            assert_eq!(
                (e.status.as_u16(), e.code),
                (400, "InvalidPolicyDocument"),
                "{c}"
            );
        }
        let e = PostPolicy::parse("%%%").unwrap_err();
        assert_eq!(e.code, "InvalidPolicyDocument");
        let e =
            PostPolicy::parse(&base64::engine::general_purpose::STANDARD.encode("{")).unwrap_err();
        assert_eq!(e.message, "Invalid Policy: Invalid JSON.");
    }

    #[test]
    fn expiration_with_and_without_millis() {
        for s in [
            "2026-01-01T13:00:00Z",
            "2026-01-01T13:00:00.000Z",
            "2026-01-01T14:00:00+01:00",
        ] {
            let p = PostPolicy::parse(&enc(
                &json!({"expiration": s, "conditions": [{"bucket": "b"}]}),
            ))
            .unwrap();
            assert_eq!(p.expiration, NOW + 3600, "{s}");
        }
    }

    #[test]
    fn expired_policy_is_denied() {
        let p = policy(json!([{"bucket": "b"}]));
        assert!(p.check(&[], "b", NOW + 3599).is_ok());
        assert_eq!(
            err(p.check(&[], "b", NOW + 3600).unwrap_err()),
            (
                403,
                "AccessDenied",
                "Invalid according to Policy: Policy expired.".into()
            )
        );
    }

    #[test]
    fn eq_and_starts_with() {
        let p = policy(json!([
            {"bucket": "b"},
            ["starts-with", "$key", "user/eric/"],
            {"acl": "public-read"},
            ["eq", "$x-amz-meta-tag", "t"],
            ["starts-with", "$Content-Type", "image/"],
        ]));
        let good = fields(&[
            ("key", "user/eric/a.png"),
            ("acl", "public-read"),
            ("x-amz-meta-tag", "t"),
            ("content-type", "image/png, image/jpeg"),
        ]);
        p.check(&good, "b", NOW).unwrap();

        let mut bad = good.clone();
        bad[0].1 = "user/bob/a.png".into();
        assert_eq!(
            err(p.check(&bad, "b", NOW).unwrap_err()).2,
            r#"Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "user/eric/"]"#
        );
        let mut bad = good.clone();
        bad[3].1 = "image/png, text/html".into();
        assert!(
            p.check(&bad, "b", NOW).is_err(),
            "each listed type must match"
        );
        let mut bad = good.clone();
        bad[1].1 = "private".into();
        assert_eq!(
            err(p.check(&bad, "b", NOW).unwrap_err()).2,
            r#"Invalid according to Policy: Policy Condition failed: ["eq", "$acl", "public-read"]"#
        );
        // The bucket condition is checked against the bucket the request targets.
        assert_eq!(
            err(p.check(&good, "other", NOW).unwrap_err()).2,
            r#"Invalid according to Policy: Policy Condition failed: ["eq", "$bucket", "b"]"#
        );
    }

    #[test]
    fn starts_with_empty_allows_anything_even_a_missing_field() {
        let p = policy(
            json!([{"bucket": "b"}, ["starts-with", "$key", ""], ["starts-with", "$content-type", ""]]),
        );
        p.check(&fields(&[("key", "anything")]), "b", NOW).unwrap();
    }

    #[test]
    fn every_field_must_be_covered() {
        let p = policy(json!([{"bucket": "b"}, ["starts-with", "$key", ""]]));
        let f = fields(&[
            ("key", "k"),
            ("bucket", "b"),
            ("policy", "…"),
            ("x-amz-signature", "…"),
            ("x-ignore-me", "1"),
            ("x-amz-checksum-sha256", "verified against the file instead"),
            ("file", ""),
        ]);
        p.check(&f, "b", NOW).unwrap();
        let mut extra = f.clone();
        extra.push(("x-amz-meta-color".into(), "red".into()));
        assert_eq!(
            err(p.check(&extra, "b", NOW).unwrap_err()),
            (
                403,
                "AccessDenied",
                "Invalid according to Policy: Extra input fields: x-amz-meta-color".into()
            )
        );
    }

    #[test]
    fn condition_names_are_case_insensitive() {
        // JS v3 createPresignedPost: `{"X-Amz-Algorithm": …}` conditions for mixed-case fields.
        let p = policy(
            json!([{"Bucket": "b"}, {"X-Amz-Date": "20260101T120000Z"}, ["eq", "$KEY", "k"]]),
        );
        p.check(
            &fields(&[("x-amz-date", "20260101T120000Z"), ("key", "k")]),
            "b",
            NOW,
        )
        .unwrap();
    }

    #[test]
    fn bucket_condition_is_required() {
        let p = policy(json!([["starts-with", "$key", ""]]));
        let e = p.check(&fields(&[("key", "k")]), "b", NOW).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (403, "AccessDenied"));
    }

    #[test]
    fn length_range_takes_the_tightest_bounds() {
        assert_eq!(policy(json!([{"bucket": "b"}])).length_range(), None);
        let p = policy(json!([
            {"bucket": "b"},
            ["content-length-range", 1, "100"],
            ["content-length-range", 10, 1000]
        ]));
        assert_eq!(p.length_range(), Some((10, 100)));
    }
}
