//! CORS rule matching (S3 semantics: first matching rule wins; one `*` per origin/header
//! pattern; header names case-insensitive).

use crate::body::RespBody;
use crate::config::CorsRule;
use crate::response::set;
use http::Response;

/// Match `value` against a pattern with at most one `*`.
pub(crate) fn wildcard_match(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((pre, suf)) => {
            value.len() >= pre.len() + suf.len() && value.starts_with(pre) && value.ends_with(suf)
        }
    }
}

/// The first rule allowing this origin, method and every requested header.
pub(crate) fn find_rule<'a>(
    rules: &'a [CorsRule],
    origin: &str,
    method: &str,
    req_headers: &[String],
) -> Option<&'a CorsRule> {
    rules.iter().find(|r| {
        r.allowed_origins.iter().any(|o| wildcard_match(o, origin))
            && r.allowed_methods.iter().any(|m| m == method)
            && req_headers.iter().all(|h| {
                r.allowed_headers
                    .iter()
                    .any(|p| wildcard_match(&p.to_ascii_lowercase(), h))
            })
    })
}

/// Add the headers of a matched rule, as S3 sends them on preflights and actual responses
/// alike: allow-origin (plus credentials unless the rule allows any origin), allow-methods,
/// expose-headers, max-age and `Vary`.
pub(crate) fn apply(r: &mut Response<RespBody>, rule: &CorsRule, origin: &str) {
    if rule.allowed_origins.iter().any(|o| o == "*") {
        set(r, "access-control-allow-origin", "*");
    } else {
        set(r, "access-control-allow-origin", origin);
        set(r, "access-control-allow-credentials", "true");
    }
    set(
        r,
        "access-control-allow-methods",
        &rule.allowed_methods.join(", "),
    );
    if !rule.expose_headers.is_empty() {
        set(
            r,
            "access-control-expose-headers",
            &rule.expose_headers.join(", "),
        );
    }
    if let Some(m) = rule.max_age_seconds {
        set(r, "access-control-max-age", &m.to_string());
    }
    // Responses differ by origin (and, for preflights, by what was requested): caches must
    // not serve one origin's answer to another.
    set(
        r,
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn wildcards() {
        assert!(wildcard_match(
            "http://*.example.com",
            "http://a.example.com"
        ));
        assert!(!wildcard_match(
            "http://*.example.com",
            "http://example.com"
        ));
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("http://start*end", "http://start-x-end"));
        assert!(!wildcard_match("http://start*end", "http://startend-no"));
    }
}
