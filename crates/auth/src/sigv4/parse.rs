//! Parsing the claimed signature from the `Authorization` header or the
//! presigned query string.

use http::request::Parts;

use super::{
    ALGORITHM, MAX_PRESIGNED_EXPIRES, PayloadMode, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER, SignedRequest, UNSIGNED_PAYLOAD,
};
use crate::encoding::{decode, split_query};
use crate::error::AuthError;
use crate::time::{format_amz_date, parse_amz_date, parse_http_date};

const CREDENTIAL_SHAPE: &str =
    "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".";
const QUERY_PARAMS_REQUIRED: &str = "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.";

/// Parse the request's authentication. `Ok(None)` means anonymous (no
/// `Authorization` header and no presigned query).
pub fn parse(parts: &Parts) -> Result<Option<SignedRequest>, AuthError> {
    let header = parts.headers.get(http::header::AUTHORIZATION);
    let query = PresignParams::collect(parts.uri.query().unwrap_or(""));
    match (header, query.is_presign()) {
        (None, false) => {
            if query.sigv2 {
                return Err(AuthError::UnsupportedAuthorization);
            }
            Ok(None)
        }
        (Some(h), true) => Err(AuthError::InvalidArgument {
            message: "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified".into(),
            name: "Authorization".into(),
            value: String::from_utf8_lossy(h.as_bytes()).into_owned(),
        }),
        (Some(h), false) => parse_header(parts, h.as_bytes()).map(Some),
        (None, true) => parse_query(parts, query).map(Some),
    }
}

/// The credential scope parts.
struct Credential {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
}

/// Split `AKID/date/region/service/aws4_request` from the right so the key
/// id itself is everything before the scope.
fn parse_credential(s: &str) -> Result<Credential, String> {
    let mut it = s.rsplitn(5, '/');
    let (Some(term), Some(service), Some(region), Some(date), Some(akid)) =
        (it.next(), it.next(), it.next(), it.next(), it.next())
    else {
        return Err(CREDENTIAL_SHAPE.into());
    };
    if akid.is_empty() || date.is_empty() || region.is_empty() || service.is_empty() {
        return Err(CREDENTIAL_SHAPE.into());
    }
    if term != "aws4_request" {
        return Err(format!(
            "incorrect terminal '{term}'. This endpoint uses 'aws4_request'."
        ));
    }
    Ok(Credential {
        access_key_id: akid.into(),
        date: date.into(),
        region: region.into(),
        service: service.into(),
    })
}

fn split_signed_headers(s: &str) -> Vec<String> {
    s.split(';')
        .filter(|h| !h.is_empty())
        .map(|h| h.trim().to_ascii_lowercase())
        .collect()
}

/// Interpret an `x-amz-content-sha256` value.
fn payload_mode(v: &str) -> Result<PayloadMode, AuthError> {
    Ok(match v {
        UNSIGNED_PAYLOAD => PayloadMode::Unsigned,
        STREAMING_SIGNED => PayloadMode::StreamingSigned,
        STREAMING_SIGNED_TRAILER => PayloadMode::StreamingSignedTrailer,
        STREAMING_UNSIGNED_TRAILER => PayloadMode::StreamingUnsignedTrailer,
        _ => {
            let mut h = [0u8; 32];
            match hex::decode_to_slice(v, &mut h) {
                Ok(()) => PayloadMode::Sha256(h),
                Err(_) => {
                    return Err(AuthError::InvalidArgument {
                        message: "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.".into(),
                        name: "x-amz-content-sha256".into(),
                        value: v.into(),
                    });
                }
            }
        }
    })
}

fn header_str<'a>(parts: &'a Parts, name: &str) -> Option<&'a [u8]> {
    parts.headers.get(name).map(|v| v.as_bytes())
}

/// Request time from `X-Amz-Date`, falling back to the RFC 1123 `Date`
/// header (ceph s3-tests sign with `Date` only).
fn header_time(parts: &Parts) -> Result<(i64, String), AuthError> {
    if let Some(v) = header_str(parts, "x-amz-date") {
        let s = std::str::from_utf8(v).map_err(|_| AuthError::MissingDate)?;
        let t = parse_amz_date(s.trim()).ok_or(AuthError::MissingDate)?;
        return Ok((t, s.trim().to_owned()));
    }
    let v = header_str(parts, "date").ok_or(AuthError::MissingDate)?;
    let s = std::str::from_utf8(v).map_err(|_| AuthError::MissingDate)?;
    let t = parse_http_date(s.trim()).ok_or(AuthError::MissingDate)?;
    Ok((t, format_amz_date(t)))
}

fn parse_header(parts: &Parts, value: &[u8]) -> Result<SignedRequest, AuthError> {
    let value = std::str::from_utf8(value)
        .map_err(|_| AuthError::header_malformed("the header is not valid ASCII."))?
        .trim();
    let Some(rest) = value
        .strip_prefix(ALGORITHM)
        .filter(|r| r.is_empty() || r.starts_with([' ', '\t']))
    else {
        // SigV2 ("AWS ak:sig") and SigV4a are recognisable: say which
        // mechanism to use. Anything else is not an AWS scheme at all.
        if value.starts_with("AWS ") || value.starts_with("AWS4-") {
            return Err(AuthError::UnsupportedAuthorization);
        }
        return Err(AuthError::InvalidArgument {
            message: "Unsupported Authorization Type".into(),
            name: "Authorization".into(),
            value: value.into(),
        });
    };
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for comp in rest.split(',') {
        let comp = comp.trim();
        if comp.is_empty() {
            continue;
        }
        let Some((k, v)) = comp.split_once('=') else {
            return Err(AuthError::header_malformed(&format!(
                "the authorization component \"{comp}\" is malformed."
            )));
        };
        match k.trim() {
            "Credential" => cred = Some(v.trim()),
            "SignedHeaders" => signed = Some(v.trim()),
            "Signature" => sig = Some(v.trim()),
            // Unknown components are ignored, as S3 does.
            _ => {}
        }
    }
    let (Some(cred), Some(signed), Some(sig)) = (cred, signed, sig) else {
        let mut missing = String::new();
        for (name, v) in [
            ("Credential", cred),
            ("Signature", sig),
            ("SignedHeaders", signed),
        ] {
            if v.is_none() {
                missing.push_str(&format!(
                    "Authorization header requires '{name}' parameter. "
                ));
            }
        }
        return Err(AuthError::header_malformed(missing.trim_end()));
    };
    let c = parse_credential(cred).map_err(|m| AuthError::header_malformed(&m))?;
    let signed_headers = split_signed_headers(signed);
    if signed_headers.is_empty() {
        return Err(AuthError::header_malformed("the SignedHeaders are empty."));
    }
    let (timestamp, amz_date) = header_time(parts)?;
    let security_token = match header_str(parts, "x-amz-security-token") {
        Some(v) => Some(String::from_utf8(v.to_vec()).map_err(|_| AuthError::InvalidToken)?),
        None => None,
    };
    let content_sha256 = match header_str(parts, "x-amz-content-sha256") {
        Some(v) => Some(
            std::str::from_utf8(v)
                .map_err(|_| AuthError::InvalidArgument {
                    message: "x-amz-content-sha256 is not valid.".into(),
                    name: "x-amz-content-sha256".into(),
                    value: String::from_utf8_lossy(v).into_owned(),
                })?
                .to_owned(),
        ),
        None => None,
    };
    let payload = match &content_sha256 {
        Some(v) => payload_mode(v)?,
        // S3 insists on the header; the query-protocol services (STS, IAM,
        // Cognito) sign a hash of the body the client never sends.
        None if c.service == "s3" => return Err(AuthError::MissingContentSha256),
        None => PayloadMode::ComputeFromBody,
    };
    Ok(SignedRequest {
        access_key_id: c.access_key_id,
        date: c.date,
        region: c.region,
        service: c.service,
        signed_headers,
        signature: sig.to_owned(),
        timestamp,
        amz_date,
        presigned_expires: None,
        security_token,
        payload,
        content_sha256,
    })
}

/// The `X-Amz-*` query parameters (decoded; first occurrence wins).
#[derive(Default)]
struct PresignParams {
    algorithm: Option<String>,
    credential: Option<String>,
    date: Option<String>,
    expires: Option<String>,
    signed_headers: Option<String>,
    signature: Option<String>,
    security_token: Option<String>,
    content_sha256: Option<String>,
    /// SigV2 presigned query (`AWSAccessKeyId` + `Signature`).
    sigv2: bool,
}

impl PresignParams {
    fn collect(raw: &str) -> Self {
        let mut p = Self::default();
        let (mut v2_key, mut v2_sig) = (false, false);
        for param in split_query(raw) {
            let name = decode(param.name);
            // Names compare case-insensitively: harmless, and tolerant of
            // hand-written URLs.
            let slot = match name.to_ascii_lowercase().as_slice() {
                b"x-amz-algorithm" => &mut p.algorithm,
                b"x-amz-credential" => &mut p.credential,
                b"x-amz-date" => &mut p.date,
                b"x-amz-expires" => &mut p.expires,
                b"x-amz-signedheaders" => &mut p.signed_headers,
                b"x-amz-signature" => &mut p.signature,
                b"x-amz-security-token" => &mut p.security_token,
                b"x-amz-content-sha256" => &mut p.content_sha256,
                _ => {
                    v2_key |= &*name == b"AWSAccessKeyId";
                    v2_sig |= &*name == b"Signature";
                    continue;
                }
            };
            if slot.is_none() {
                *slot = Some(String::from_utf8_lossy(&decode(param.value)).into_owned());
            }
        }
        p.sigv2 = v2_key && v2_sig;
        p
    }

    fn is_presign(&self) -> bool {
        self.algorithm.is_some() || self.credential.is_some() || self.signature.is_some()
    }
}

fn parse_query(parts: &Parts, q: PresignParams) -> Result<SignedRequest, AuthError> {
    let (Some(alg), Some(cred), Some(date), Some(expires), Some(signed), Some(sig)) = (
        q.algorithm,
        q.credential,
        q.date,
        q.expires,
        q.signed_headers,
        q.signature,
    ) else {
        return Err(AuthError::query_error(QUERY_PARAMS_REQUIRED));
    };
    if alg != ALGORITHM {
        return Err(AuthError::query_error(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
        ));
    }
    let c = parse_credential(&cred).map_err(|m| {
        AuthError::query_error(format!("Error parsing the X-Amz-Credential parameter; {m}"))
    })?;
    let timestamp = parse_amz_date(&date).ok_or_else(|| {
        AuthError::query_error(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
        )
    })?;
    let expires: i64 = expires
        .trim()
        .parse()
        .map_err(|_| AuthError::query_error("X-Amz-Expires should be a number"))?;
    if expires < 0 {
        return Err(AuthError::ExpiresOutOfRange {
            message: "X-Amz-Expires must be non-negative".into(),
        });
    }
    let expires = u32::try_from(expires)
        .ok()
        .filter(|e| *e <= MAX_PRESIGNED_EXPIRES)
        .ok_or_else(|| AuthError::ExpiresOutOfRange {
            message: "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than 604800 seconds".into(),
        })?;
    let signed_headers = split_signed_headers(&signed);
    if signed_headers.is_empty() {
        return Err(AuthError::query_error(QUERY_PARAMS_REQUIRED));
    }
    let payload = match &q.content_sha256 {
        Some(v) => payload_mode(v)?,
        None => PayloadMode::Unsigned,
    };
    // The token may come as a header even on a presigned request.
    let security_token = match q.security_token {
        Some(t) => Some(t),
        None => match header_str(parts, "x-amz-security-token") {
            Some(v) => Some(String::from_utf8(v.to_vec()).map_err(|_| AuthError::InvalidToken)?),
            None => None,
        },
    };
    Ok(SignedRequest {
        access_key_id: c.access_key_id,
        date: c.date,
        region: c.region,
        service: c.service,
        signed_headers,
        signature: sig,
        timestamp,
        amz_date: date,
        presigned_expires: Some(expires),
        security_token,
        payload,
        content_sha256: q.content_sha256,
    })
}
