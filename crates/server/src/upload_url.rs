//! `POST /_cubby/upload-url`: the seeds' "getUploadUrl" Lambda, built in (DESIGN.md §7).
//!
//! Request: JSON `{collectionId, filename, contentType[, contentLength]}`, authenticated by
//! the caller's own identity-pool credentials (SigV4) or a user-pool ID token
//! (`Authorization: Bearer …`). Answer: `{url, key, expiresIn}` — a presigned PUT for
//! `<identityId>/<collectionId>/<uuid>-<filename>` with the content type (and, when a maximum
//! size is configured, the length) bound as signed headers. The identity id is derived by the
//! server; the body cannot name one. How the URL is signed: see `cubby_identity::upload_url`.

use crate::dispatch::{BodyError, read_limited};
use bytes::Bytes;
use cubby_identity::{Identity, UploadAuthError, UploadCaller};
use cubby_s3::{RespBody, S3Error, S3Service};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;

/// Lifetime of an upload URL (the seeds' Lambda used 300 s).
pub const UPLOAD_URL_SECONDS: i64 = 300;
/// Largest request body.
const MAX_BODY: usize = 16 * 1024;
/// Longest sanitized file name, in bytes.
const MAX_FILENAME: usize = 200;
/// Longest collection id.
const MAX_COLLECTION: usize = 128;

/// Deployment settings of the upload-URL endpoint (`serve` flags / environment; a config file
/// can fill the same struct).
#[derive(Clone, Debug, Default)]
pub struct UploadUrlSettings {
    /// Bucket the URLs write to; `None` disables the endpoint.
    pub bucket: Option<String>,
    /// Identity pool whose configuration verifies Bearer ID tokens (and whose identities
    /// they map to); `None` disables the Bearer path.
    pub identity_pool: Option<String>,
    /// Largest upload a URL allows, bytes. When set, the client must state `contentLength`
    /// and the URL binds it.
    pub max_size: Option<u64>,
}

/// The request body. Other fields are ignored — notably `identityId`, which the seeds'
/// frontend sends and their Lambda trusted: here the identity comes from the credentials.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadRequest {
    collection_id: String,
    filename: String,
    content_type: String,
    #[serde(default)]
    content_length: Option<u64>,
}

/// Path-safe characters of the key: everything else is percent-encoded in the URL.
const KEY_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

fn json(status: StatusCode, body: String) -> Response<RespBody> {
    let mut r = Response::new(
        http_body_util::Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<RespBody> {
    json(
        status,
        serde_json::json!({"__type": code, "message": message}).to_string(),
    )
}

fn invalid(message: &str) -> Response<RespBody> {
    error(
        StatusCode::BAD_REQUEST,
        "InvalidParameterException",
        message,
    )
}

fn auth_error(e: UploadAuthError) -> Response<RespBody> {
    error(e.status, e.code, &e.message)
}

/// A refusal by the object store, in this endpoint's JSON shape (`Retry-After` kept).
fn rule_error(e: S3Error) -> Response<RespBody> {
    let mut r = error(e.status, e.code, &e.message);
    for (name, value) in &e.headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            r.headers_mut().insert(*name, v);
        }
    }
    r
}

/// Make a client's file name safe as the last segment of a key: no path separators, no control
/// characters, none of the policy-pattern characters `* ? $`, no leading dots, bounded length.
/// Letters of any script, digits and `. _ - ( ) + , = @ ~ space` are kept; the rest become `_`.
pub fn sanitize_filename(name: &str) -> String {
    // Browsers send base names, old ones full paths: keep the last segment.
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let mut out = String::with_capacity(base.len().min(MAX_FILENAME));
    for c in base.chars() {
        let c = if c.is_alphanumeric() || "._-()+,=@~ ".contains(c) {
            c
        } else {
            '_'
        };
        if out.len() + c.len_utf8() > MAX_FILENAME {
            break;
        }
        out.push(c);
    }
    let trimmed = out.trim_start_matches(['.', ' ']).trim_end();
    if trimmed.is_empty() {
        "file".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// A collection id is a single key segment: 1–128 of `A–Z a–z 0–9 . _ -`, not `.` or `..`.
fn valid_collection(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_COLLECTION
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// A content type as a single header value: `type/subtype` with optional parameters, visible
/// ASCII only.
fn valid_content_type(ct: &str) -> bool {
    ct.len() <= 256
        && ct.split(';').next().is_some_and(|t| {
            let mut it = t.trim().splitn(2, '/');
            matches!((it.next(), it.next()), (Some(a), Some(b)) if !a.is_empty() && !b.is_empty())
        })
        && ct.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// Everything the handler needs.
pub(crate) struct UploadUrl<'a> {
    pub identity: &'a Identity,
    /// The object store, whose upload rules a URL is checked against before it is issued.
    pub s3: &'a S3Service,
    /// The caller's address (rules may limit uploads per address).
    pub peer: std::net::IpAddr,
    pub settings: &'a UploadUrlSettings,
    pub region: &'a str,
    pub public_url: Option<&'a str>,
}

impl UploadUrl<'_> {
    /// Answer one request to `/_cubby/upload-url`.
    pub(crate) async fn handle(
        &self,
        req: Request<hyper::body::Incoming>,
        now: i64,
    ) -> Response<RespBody> {
        if req.method() == Method::OPTIONS {
            return preflight(&req);
        }
        let mut resp = self.handle_post(req, now).await;
        // Credentials travel in headers, not cookies: any origin may call, as AWS's APIs allow.
        resp.headers_mut()
            .insert("access-control-allow-origin", HeaderValue::from_static("*"));
        resp
    }

    async fn handle_post(
        &self,
        req: Request<hyper::body::Incoming>,
        now: i64,
    ) -> Response<RespBody> {
        if req.method() != Method::POST {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowedException",
                "Use POST.",
            );
        }
        let Some(bucket) = self.settings.bucket.as_deref() else {
            return error(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                "The upload-URL endpoint is not configured (serve --upload-url-bucket).",
            );
        };
        let (parts, body) = req.into_parts();
        if crate::dispatch::refuse_unread_over(&parts, MAX_BODY) {
            return invalid("Request body must be at most 16384 bytes.");
        }
        let body = match read_limited(body, MAX_BODY).await {
            Ok(b) => b,
            Err(BodyError::TooLarge) => {
                return invalid("Request body must be at most 16384 bytes.");
            }
            Err(BodyError::Broken) => return invalid("The request body could not be read."),
        };

        // Who is asking: derived from their credentials, never from the body.
        let bearer = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim);
        let caller: UploadCaller = match bearer {
            Some(token) => {
                let Some(pool) = self.settings.identity_pool.as_deref() else {
                    return error(
                        StatusCode::FORBIDDEN,
                        "AccessDeniedException",
                        "Bearer ID tokens are not enabled (serve --upload-url-identity-pool).",
                    );
                };
                match self.identity.upload_caller_bearer(pool, token, now).await {
                    Ok(c) => c,
                    Err(e) => return auth_error(e),
                }
            }
            None => match self.identity.upload_caller_sigv4(&parts, &body, now).await {
                Ok(c) => c,
                Err(e) => return auth_error(e),
            },
        };

        let input: UploadRequest = match serde_json::from_slice(&body) {
            Ok(i) => i,
            Err(e) => {
                return invalid(&format!(
                    "Expected JSON {{collectionId, filename, contentType[, contentLength]}}: {e}"
                ));
            }
        };
        if !valid_collection(&input.collection_id) {
            return invalid(
                "collectionId must be 1-128 characters of A-Z a-z 0-9 . _ - (and not . or ..).",
            );
        }
        if !valid_content_type(&input.content_type) {
            return invalid("contentType must be a media type such as image/png.");
        }
        if let Some(max) = self.settings.max_size {
            match input.content_length {
                None => {
                    return invalid(&format!(
                        "contentLength is required: uploads are limited to {max} bytes."
                    ));
                }
                Some(n) if n > max => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "EntityTooLarge",
                        &format!("contentLength {n} exceeds the maximum of {max} bytes."),
                    );
                }
                Some(_) => {}
            }
        }
        let filename = sanitize_filename(&input.filename);
        let key = format!(
            "{}/{}/{}-{}",
            caller.identity_id,
            input.collection_id,
            uuid::Uuid::new_v4(),
            filename
        );

        // Valid 300 s, never longer than the caller's own credentials.
        let expires_at = (now + UPLOAD_URL_SECONDS).min(caller.not_after);
        let expires_in = expires_at - now;
        if expires_in <= 0 {
            return error(
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                "The credentials expire too soon to issue an upload URL.",
            );
        }
        let session = self
            .identity
            .mint_upload_session(bucket, &key, &caller, now, expires_at);
        // A URL whose upload the bucket's rules would refuse (too large, a type not allowed,
        // quota used up, rate exceeded) is not issued: the client learns why now, not after
        // sending the body.
        if let Err(e) = self
            .s3
            .check_upload(
                &session.access_key_id,
                Some(&session.session_token),
                bucket,
                &key,
                &input.content_type,
                input.content_length,
                self.peer,
                now,
            )
            .await
        {
            return rule_error(e);
        }
        let base = match self.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => {
                let host = parts
                    .headers
                    .get(http::header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("localhost");
                format!("http://{host}")
            }
        };
        let object_url = format!("{base}/{bucket}/{}", utf8_percent_encode(&key, KEY_PATH));
        let length = input.content_length.map(|n| n.to_string());
        let mut signed: Vec<(&str, &str)> = vec![("content-type", input.content_type.as_str())];
        if let Some(l) = &length {
            signed.push(("content-length", l));
        }
        let url = cubby_auth::sigv4::presign_url_with_headers(
            "PUT",
            &object_url,
            &session.access_key_id,
            &session.secret_access_key,
            Some(&session.session_token),
            self.region,
            u32::try_from(expires_in).unwrap_or(0),
            now,
            &signed,
        );
        tracing::info!(identity = %caller.identity_id, key, "upload URL issued");
        json(
            StatusCode::OK,
            serde_json::json!({"url": url, "key": key, "expiresIn": expires_in}).to_string(),
        )
    }
}

/// Browser preflight: any origin may POST with `Authorization` and the SigV4 headers.
fn preflight(req: &Request<hyper::body::Incoming>) -> Response<RespBody> {
    let mut r = json(StatusCode::OK, String::new());
    let h = r.headers_mut();
    h.remove("content-type");
    let origin = req
        .headers()
        .get("origin")
        .cloned()
        .unwrap_or(HeaderValue::from_static("*"));
    h.insert("access-control-allow-origin", origin);
    h.insert(
        "vary",
        HeaderValue::from_static(
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        ),
    );
    if let Some(v) = req.headers().get("access-control-request-headers") {
        h.insert("access-control-allow-headers", v.clone());
    }
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("POST, OPTIONS"),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("86400"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_sanitized() {
        assert_eq!(sanitize_filename("photo.png"), "photo.png");
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("C:\\Users\\me\\cat.jpg"), "cat.jpg");
        assert_eq!(sanitize_filename("a*b?c$d{e}.txt"), "a_b_c_d_e_.txt");
        assert_eq!(sanitize_filename("bell\u{7}\nname.txt"), "bell__name.txt");
        assert_eq!(sanitize_filename("...hidden"), "hidden");
        assert_eq!(sanitize_filename("café ünï.jpg"), "café ünï.jpg");
        assert_eq!(sanitize_filename(""), "file");
        assert_eq!(sanitize_filename("dir/"), "file");
        let long = sanitize_filename(&"é".repeat(300));
        assert!(long.len() <= MAX_FILENAME && long.chars().all(|c| c == 'é'));
    }

    #[test]
    fn collections_and_content_types() {
        assert!(valid_collection("holiday-2026_v1.2"));
        for bad in ["", ".", "..", "a/b", "a b", "x*", &"c".repeat(129)] {
            assert!(!valid_collection(bad), "{bad}");
        }
        assert!(valid_content_type("image/png"));
        assert!(valid_content_type("text/plain; charset=utf-8"));
        for bad in [
            "png",
            "/png",
            "image/",
            "image/png\r\nx-evil: 1",
            "ïmage/png",
        ] {
            assert!(!valid_content_type(bad), "{bad}");
        }
    }
}
