//! The root-only admin API for upload rules and quota usage (JSON, SigV4-signed with the root
//! keys, any service name; a body must be covered by the signature):
//!
//! - `GET|PUT|DELETE /_cubby/admin/upload-rules/{bucket}` — `{"bucket": …, "rules": [...]}`;
//!   PUT takes `{"rules": [...]}` and validates it (400 `InvalidArgument` naming the rule).
//! - `GET /_cubby/admin/usage/{bucket}[?prefix=…&limit=…]` — usage per owner (identity id or
//!   principal ARN), with each quota rule's limits, and this node's reservations in flight.

use bytes::Bytes;
use cubby_s3::{RulesAdminError, S3Service};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use subtle::ConstantTimeEq;

/// Largest rules document accepted.
const MAX_BODY: usize = 256 * 1024;

/// Path prefixes served here.
pub(crate) const RULES_PREFIX: &str = "/_cubby/admin/upload-rules/";
pub(crate) const USAGE_PREFIX: &str = "/_cubby/admin/usage/";

/// The root keys that may call the admin API.
#[derive(Clone)]
pub(crate) struct RootKeys {
    pub access_key_id: String,
    pub secret: String,
    pub region: String,
}

fn json(status: StatusCode, body: serde_json::Value) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response<Bytes> {
    json(
        status,
        serde_json::json!({"__type": kind, "message": message}),
    )
}

impl RootKeys {
    /// Verify a SigV4 signature (header or presigned) by the root keys over `parts` and a
    /// body whose SHA-256 is `body_sha256`. A signed `x-amz-content-sha256` must match the
    /// body; `UNSIGNED-PAYLOAD` is accepted only for requests without a body.
    pub(crate) fn verify(
        &self,
        parts: &http::request::Parts,
        body_sha256: &str,
        body_empty: bool,
        now: i64,
    ) -> Result<(), &'static str> {
        let signed = match cubby_auth::sigv4::parse(parts) {
            Ok(Some(s)) => s,
            _ => return Err("sign this request with the root keys"),
        };
        let is_root: bool = signed
            .access_key_id
            .as_bytes()
            .ct_eq(self.access_key_id.as_bytes())
            .into();
        if !is_root || self.access_key_id.is_empty() {
            return Err("only the account root may use the admin API");
        }
        let declared = parts
            .headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok());
        let payload = match (signed.presigned_expires.is_some(), declared) {
            (true, _) | (false, Some("UNSIGNED-PAYLOAD")) if body_empty => "UNSIGNED-PAYLOAD",
            (true, _) | (false, Some("UNSIGNED-PAYLOAD")) => {
                return Err("the request body must be signed (x-amz-content-sha256)");
            }
            (false, Some(h)) if !h.eq_ignore_ascii_case(body_sha256) => {
                return Err("x-amz-content-sha256 does not match the body");
            }
            (false, _) => body_sha256,
        };
        cubby_auth::sigv4::verify(&signed, parts, &self.secret, payload, now, &self.region)
            .map(|_| ())
            .map_err(|_| "signature does not match")
    }
}

/// Serve one admin request.
pub(crate) async fn handle(
    s3: &S3Service,
    keys: &RootKeys,
    req: Request<hyper::body::Incoming>,
    now: i64,
) -> Response<Bytes> {
    let (parts, body) = req.into_parts();
    let body = match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "InvalidArgument",
                "the request body is larger than 256 KiB",
            );
        }
    };
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body));
    if let Err(why) = keys.verify(&parts, &hash, body.is_empty(), now) {
        return error(StatusCode::FORBIDDEN, "AccessDeniedException", why);
    }
    let path = parts.uri.path();
    let result = if let Some(bucket) = path.strip_prefix(RULES_PREFIX) {
        rules(s3, &parts.method, bucket, &body).await
    } else if let Some(bucket) = path.strip_prefix(USAGE_PREFIX)
        && parts.method == Method::GET
    {
        usage(s3, bucket, parts.uri.query().unwrap_or("")).await
    } else {
        return error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "no such admin route",
        );
    };
    match result {
        Ok(r) => r,
        Err(RulesAdminError::NoSuchBucket) => error(
            StatusCode::NOT_FOUND,
            "NoSuchBucket",
            "The specified bucket does not exist",
        ),
        Err(RulesAdminError::Invalid(m)) => error(StatusCode::BAD_REQUEST, "InvalidArgument", &m),
        Err(RulesAdminError::Meta(e)) => {
            tracing::error!(error = %e, "upload-rules admin failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                "metadata unavailable",
            )
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesDocument {
    rules: Vec<cubby_rules::UploadRule>,
}

async fn rules(
    s3: &S3Service,
    method: &Method,
    bucket: &str,
    body: &[u8],
) -> Result<Response<Bytes>, RulesAdminError> {
    match *method {
        Method::GET => {
            let rules = s3.upload_rules(bucket).await?.unwrap_or_default();
            Ok(json(
                StatusCode::OK,
                serde_json::json!({"bucket": bucket, "rules": rules}),
            ))
        }
        Method::PUT => {
            let doc: RulesDocument = serde_json::from_slice(body).map_err(|e| {
                RulesAdminError::Invalid(format!(
                    "not a rules document ({{\"rules\": [...]}}): {e}"
                ))
            })?;
            s3.set_upload_rules(bucket, Some(doc.rules)).await?;
            let rules = s3.upload_rules(bucket).await?.unwrap_or_default();
            Ok(json(
                StatusCode::OK,
                serde_json::json!({"bucket": bucket, "rules": rules}),
            ))
        }
        Method::DELETE => {
            s3.set_upload_rules(bucket, None).await?;
            let mut r = Response::new(Bytes::new());
            *r.status_mut() = StatusCode::NO_CONTENT;
            Ok(r)
        }
        _ => Ok(error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "use GET, PUT or DELETE",
        )),
    }
}

async fn usage(
    s3: &S3Service,
    bucket: &str,
    query: &str,
) -> Result<Response<Bytes>, RulesAdminError> {
    let mut prefix = String::new();
    let mut limit: i64 = 100;
    for (k, v) in url_pairs(query) {
        match k.as_str() {
            "prefix" => prefix = v,
            "limit" => limit = v.parse().unwrap_or(100).clamp(1, 10_000),
            _ => {}
        }
    }
    let owners = s3.upload_usage(bucket, &prefix, limit).await?;
    let rules = s3.upload_rules(bucket).await?.unwrap_or_default();
    let quotas: Vec<serde_json::Value> = rules
        .iter()
        .filter(|r| r.max_objects.is_some() || r.max_bytes.is_some())
        .map(|r| {
            serde_json::json!({
                "rule": r.id, "prefix": r.prefix,
                "maxObjects": r.max_objects, "maxBytes": r.max_bytes,
            })
        })
        .collect();
    let (res_objects, res_bytes) = s3.upload_reservations();
    Ok(json(
        StatusCode::OK,
        serde_json::json!({
            "bucket": bucket,
            "prefix": prefix,
            "owners": owners.iter().map(|o| serde_json::json!({
                "owner": o.owner, "objects": o.usage.objects, "bytes": o.usage.bytes,
            })).collect::<Vec<_>>(),
            "quotaRules": quotas,
            "reservationsInFlight": {"objects": res_objects, "bytes": res_bytes},
        }),
    ))
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}
