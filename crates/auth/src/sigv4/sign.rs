//! Client-side signing: header auth in place, and presigned URLs. Used by
//! tests, the bench load generator and `cubby presign`; it shares the
//! canonicalisation code with the verifier so both sides agree by design
//! (the AWS test vectors pin that code to what real clients do).

use http::request::Parts;
use http::{HeaderMap, HeaderValue};

use super::canonical::{
    CanonicalInput, canonical_request, normalize_signed_headers, string_to_sign,
};
use super::{ALGORITHM, UNSIGNED_PAYLOAD, signing_key};
use crate::crypto::hmac_sha256;
use crate::encoding::encode_into;
use crate::time::format_amz_date;

/// Headers a proxy may rewrite or drop; botocore does not sign them either.
const UNSIGNED_HEADERS: &[&str] = &[
    "authorization",
    "user-agent",
    "expect",
    "x-amzn-trace-id",
    "connection",
    "transfer-encoding",
];

fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    // A value with bytes invalid in a header cannot be sent anyway; leaving
    // it out makes verification fail instead of panicking here.
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// Sign `parts` in place with header auth: sets `x-amz-date`,
/// `x-amz-content-sha256` (S3 only), `x-amz-security-token` (when given),
/// `host` (from the URI when absent) and `Authorization`. Every header
/// present is signed except hop-by-hop ones and `user-agent`.
#[allow(clippy::too_many_arguments)] // mirrors the SigV4 inputs one to one
pub fn sign_request(
    parts: &mut Parts,
    access_key: &str,
    secret: &str,
    session_token: Option<&str>,
    region: &str,
    service: &str,
    payload_sha256_hex: &str,
    now: i64,
) {
    let amz_date = format_amz_date(now);
    let date = amz_date.get(..8).unwrap_or_default().to_owned();
    parts.headers.remove(http::header::AUTHORIZATION);
    set(&mut parts.headers, "x-amz-date", &amz_date);
    if service == "s3" {
        set(
            &mut parts.headers,
            "x-amz-content-sha256",
            payload_sha256_hex,
        );
    }
    if let Some(t) = session_token {
        set(&mut parts.headers, "x-amz-security-token", t);
    }
    if !parts.headers.contains_key(http::header::HOST)
        && let Some(a) = parts.uri.authority()
    {
        set(&mut parts.headers, "host", a.as_str());
    }
    let names: Vec<&str> = parts
        .headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| !UNSIGNED_HEADERS.contains(k))
        .collect();
    let signed = normalize_signed_headers(&names);
    let input = CanonicalInput {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        service,
        presigned: false,
        headers: &parts.headers,
        authority: parts.uri.authority().map(|a| a.as_str()),
        payload_hash: payload_sha256_hex,
    };
    let creq = canonical_request(&input, &signed);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let sts = string_to_sign(&amz_date, &scope, &creq);
    let key = signing_key(secret, &date, region, service);
    let sig = hex::encode(hmac_sha256(&key, sts.as_bytes()));
    let auth = format!(
        "{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={}, Signature={sig}",
        signed.join(";")
    );
    set(&mut parts.headers, "authorization", &auth);
}

/// Strictly encode a query component.
fn enc(s: &str) -> String {
    let mut v = Vec::with_capacity(s.len());
    encode_into(&mut v, s.as_bytes(), false);
    String::from_utf8_lossy(&v).into_owned()
}

/// Build a presigned S3 URL (signed header: `host`; payload
/// `UNSIGNED-PAYLOAD`). `url` is absolute (`http://host:port/bucket/key?q`),
/// with the path already percent-encoded as it will be sent. The returned
/// URL carries the query in canonical form plus `X-Amz-Signature`.
#[allow(clippy::too_many_arguments)] // mirrors the SigV4 inputs one to one
pub fn presign_url(
    method: &str,
    url: &str,
    access_key: &str,
    secret: &str,
    session_token: Option<&str>,
    region: &str,
    expires: u32,
    now: i64,
) -> String {
    presign_url_with_headers(
        method,
        url,
        access_key,
        secret,
        session_token,
        region,
        expires,
        now,
        &[],
    )
}

/// [`presign_url`] that also signs `headers` (name, value): the request made
/// with the URL must then carry exactly these values (e.g. `content-type`, so
/// an upload URL accepts only the type it was issued for).
#[allow(clippy::too_many_arguments)] // mirrors the SigV4 inputs one to one
pub fn presign_url_with_headers(
    method: &str,
    url: &str,
    access_key: &str,
    secret: &str,
    session_token: Option<&str>,
    region: &str,
    expires: u32,
    now: i64,
    headers: &[(&str, &str)],
) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at_checked(auth_end).unwrap_or((rest, ""));
    let rest = rest.split('#').next().unwrap_or_default();
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = if path.is_empty() { "/" } else { path };

    let amz_date = format_amz_date(now);
    let date = amz_date.get(..8).unwrap_or_default();
    let service = "s3";
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let mut q = String::from(query);
    let mut add = |k: &str, v: &str| {
        if !q.is_empty() {
            q.push('&');
        }
        q.push_str(k);
        q.push('=');
        q.push_str(&enc(v));
    };
    add("X-Amz-Algorithm", ALGORITHM);
    add("X-Amz-Credential", &format!("{access_key}/{scope}"));
    add("X-Amz-Date", &amz_date);
    add("X-Amz-Expires", &expires.to_string());
    let mut signed: Vec<String> = std::iter::once("host".to_owned())
        .chain(headers.iter().map(|(n, _)| n.to_ascii_lowercase()))
        .collect();
    signed.sort();
    signed.dedup();
    add("X-Amz-SignedHeaders", &signed.join(";"));
    if let Some(t) = session_token {
        add("X-Amz-Security-Token", t);
    }
    let mut header_map = HeaderMap::new();
    set(&mut header_map, "host", authority);
    for (n, v) in headers {
        if let (Ok(n), Ok(v)) = (
            http::header::HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes()),
            HeaderValue::from_str(v),
        ) {
            header_map.append(n, v);
        }
    }
    let input = CanonicalInput {
        method,
        path,
        query: &q,
        service,
        presigned: true,
        headers: &header_map,
        authority: Some(authority),
        payload_hash: UNSIGNED_PAYLOAD,
    };
    let signed: Vec<&str> = signed.iter().map(String::as_str).collect();
    let creq = canonical_request(&input, &signed);
    let sts = string_to_sign(&amz_date, &scope, &creq);
    let key = signing_key(secret, date, region, service);
    let sig = hex::encode(hmac_sha256(&key, sts.as_bytes()));
    // The canonical query is itself a correctly encoded query string.
    let mut canon = Vec::new();
    crate::encoding::canonical_query(&q, None, &mut canon);
    format!(
        "{scheme}://{authority}{path}?{}&X-Amz-Signature={sig}",
        String::from_utf8_lossy(&canon)
    )
}
