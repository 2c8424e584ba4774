//! Signature verification and the scope / time checks around it.

use http::request::Parts;

use super::canonical::{
    CanonicalInput, canonical_request, normalize_signed_headers, string_to_sign,
};
use super::{SignedRequest, Verified};
use crate::crypto::{ct_eq, hex32, hmac_sha256};
use crate::error::{AuthError, MAX_SKEW_SECONDS, SignatureMismatch};
use crate::time::format_iso8601;

/// The SigV4 signing key: `HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")`.
///
/// A key is the same for every request of one credential on one day, so each thread keeps
/// the last few it derived (four HMACs are about a tenth of a request's authentication).
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (secret, date, region, service).hash(&mut h);
    let slot = (h.finish() % KEY_SLOTS as u64) as usize;
    KEYS.with_borrow_mut(|slots| {
        if slots.is_empty() {
            slots.resize_with(KEY_SLOTS, || None);
        }
        if let Some(Some(c)) = slots.get(slot)
            && c.secret == secret
            && c.date == date
            && c.region == region
            && c.service == service
        {
            return c.key;
        }
        let key = derive_signing_key(secret, date, region, service);
        if let Some(s) = slots.get_mut(slot) {
            *s = Some(CachedKey {
                secret: secret.to_owned(),
                date: date.to_owned(),
                region: region.to_owned(),
                service: service.to_owned(),
                key,
            });
        }
        key
    })
}

/// Signing keys kept per thread (a direct-mapped cache).
const KEY_SLOTS: usize = 64;

struct CachedKey {
    secret: String,
    date: String,
    region: String,
    service: String,
    key: [u8; 32],
}

thread_local! {
    static KEYS: std::cell::RefCell<Vec<Option<CachedKey>>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn derive_signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_secret = format!("AWS4{secret}");
    let k_date = hmac_sha256(k_secret.as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// Check the credential scope against the request date and the server's
/// region. Cheap and secret-free, so a server may call it before looking
/// the access key up; [`verify`] calls it too.
pub fn check_scope(req: &SignedRequest, expected_region: &str) -> Result<(), AuthError> {
    let presigned = req.is_presigned();
    if req.amz_date.get(..8) != Some(req.date.as_str()) {
        return Err(if presigned {
            AuthError::query_error(format!(
                "Invalid credential date \"{}\". This date is not the same as X-Amz-Date: \"{}\".",
                req.date,
                req.amz_date.get(..8).unwrap_or_default()
            ))
        } else {
            AuthError::header_malformed(
                "Invalid credential date. Date is not the same as X-Amz-Date.",
            )
        });
    }
    if req.region != expected_region {
        let region = Some(expected_region.to_owned());
        return Err(if presigned {
            AuthError::AuthorizationQueryParametersError {
                message: format!(
                    "Error parsing the X-Amz-Credential parameter; the region '{}' is wrong; expecting '{expected_region}'",
                    req.region
                ),
                region,
            }
        } else {
            AuthError::AuthorizationHeaderMalformed {
                message: format!(
                    "The authorization header is malformed; the region '{}' is wrong; expecting '{expected_region}'",
                    req.region
                ),
                region,
            }
        });
    }
    Ok(())
}

/// Check the request time: ±15 min skew for header auth; for presigned URLs
/// the validity window `[X-Amz-Date - 15 min, X-Amz-Date + X-Amz-Expires]`.
pub fn check_time(req: &SignedRequest, now: i64) -> Result<(), AuthError> {
    match req.presigned_expires {
        None => {
            if req.timestamp.abs_diff(now) > MAX_SKEW_SECONDS.unsigned_abs() {
                return Err(AuthError::RequestTimeTooSkewed {
                    request_time: req.amz_date.clone(),
                    server_time: format_iso8601(now),
                });
            }
        }
        Some(expires) => {
            if req.timestamp.saturating_sub(now) > MAX_SKEW_SECONDS {
                return Err(AuthError::RequestNotYetValid {
                    request_time: format_iso8601(req.timestamp),
                    server_time: format_iso8601(now),
                });
            }
            let end = req.timestamp.saturating_add(i64::from(expires));
            // X-Amz-Expires=0 yields a URL that is already expired, as on AWS.
            if expires == 0 || now > end {
                return Err(AuthError::RequestExpired {
                    x_amz_expires: expires,
                    expires: format_iso8601(end),
                    server_time: format_iso8601(now),
                });
            }
        }
    }
    Ok(())
}

/// Headers that must be covered: `host` always (virtual-hosted bucket names
/// live there), and for presigned URLs every `x-amz-*` header present.
fn check_signed_headers(
    req: &SignedRequest,
    parts: &Parts,
    signed: &[&str],
) -> Result<(), AuthError> {
    let mut missing: Vec<&str> = Vec::new();
    if signed.binary_search(&"host").is_err() {
        missing.push("host");
    }
    if req.is_presigned() {
        for name in parts.headers.keys() {
            let n = name.as_str();
            if n.starts_with("x-amz-") && signed.binary_search(&n).is_err() {
                missing.push(n);
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    missing.sort_unstable();
    missing.dedup();
    Err(AuthError::HeadersNotSigned {
        headers: missing.join(", "),
    })
}

/// Verify the request's signature with `secret`.
///
/// `payload_sha256_hex` is the payload hash for the canonical request: the
/// value of [`SignedRequest::canonical_payload_hash`] when it is `Some`,
/// else the hex SHA-256 of the body. Checks, in order: scope, time, signed
/// headers, signature (constant time).
pub fn verify(
    req: &SignedRequest,
    parts: &Parts,
    secret: &str,
    payload_sha256_hex: &str,
    now: i64,
    expected_region: &str,
) -> Result<Verified, AuthError> {
    check_scope(req, expected_region)?;
    check_time(req, now)?;
    let signed = normalize_signed_headers(&req.signed_headers);
    check_signed_headers(req, parts, &signed)?;
    let input = CanonicalInput {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        service: &req.service,
        presigned: req.is_presigned(),
        headers: &parts.headers,
        authority: parts.uri.authority().map(|a| a.as_str()),
        payload_hash: payload_sha256_hex,
    };
    let creq = canonical_request(&input, &signed);
    let scope = req.scope();
    let sts = string_to_sign(&req.amz_date, &scope, &creq);
    let key = signing_key(secret, &req.date, &req.region, &req.service);
    let expected = hex32(&hmac_sha256(&key, sts.as_bytes()));
    if !ct_eq(expected.as_bytes(), req.signature.as_bytes()) {
        return Err(AuthError::SignatureDoesNotMatch(Box::new(
            SignatureMismatch {
                access_key_id: req.access_key_id.clone(),
                string_to_sign: sts,
                signature_provided: req.signature.clone(),
                canonical_request: String::from_utf8_lossy(&creq).into_owned(),
            },
        )));
    }
    Ok(Verified {
        signing_key: key,
        seed_signature: req.signature.clone(),
        scope,
    })
}
