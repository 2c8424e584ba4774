//! POST Object: browser form uploads (`POST /{bucket}`, `multipart/form-data`).
//!
//! The form is streamed: the fields before `file` are read (at most 20 KB, as S3), then the
//! signature and policy are checked and the caller is authorized for `s3:PutObject` on the
//! final key — all before a byte of the file is read. The file field then streams through the
//! same ingest (hashing, checksums, durable blob) and commit path as PutObject. Fields after
//! the file are ignored, as S3 does.

use crate::body::{BoxError, IngestPlan, Payload, ReqBody, RespBody, ingest};
use crate::post_policy::PostPolicy;
use crate::response::{self, set};
use crate::router::Route;
use crate::service::{Ctx, S3Service};
use crate::{S3Error, S3Result};
use bytes::Bytes;
use cubby_auth::post_policy;
use cubby_meta::{ObjectRow, Precondition};
use futures_util::{StreamExt, TryStreamExt};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// S3's bound on the form fields (names and values) that precede the file.
const MAX_PRE_DATA: usize = 20 * 1024;
/// Bound on raw bytes (fields plus part headers and boundaries) read before the file starts:
/// multer buffers part headers without a limit of its own.
const MAX_RAW_PRE_DATA: u64 = 64 * 1024;

/// Characters left as they are in query values and key paths of the URLs we build.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
const KEY_PATH: &AsciiSet = &QUERY_VALUE.remove(b'/');

fn pre_data_too_large() -> S3Error {
    S3Error::new(
        "MaxPostPreDataLengthExceeded",
        StatusCode::BAD_REQUEST,
        "Your POST request fields preceeding the upload file was too large.",
    )
    .with("MaxPostPreDataLength", MAX_PRE_DATA.to_string())
}

fn malformed() -> S3Error {
    S3Error::new(
        "MalformedPOSTRequest",
        StatusCode::BAD_REQUEST,
        "The body of your POST request is not well-formed multipart/form-data.",
    )
}

fn missing_field(name: &str) -> S3Error {
    S3Error::invalid_argument(format!(
        "Bucket POST must contain a field named '{name}'.  If it is specified, please check the order of the fields."
    ))
    .with("ArgumentName", name)
    .with("ArgumentValue", "")
}

/// How the form was signed.
enum FormAuth {
    Anonymous,
    /// SigV4: `x-amz-algorithm`, `x-amz-credential`, `x-amz-date`, `x-amz-signature`.
    V4,
    /// Legacy: `AWSAccessKeyId`, `signature` (base64 HMAC-SHA1 of the policy).
    V2,
}

/// The form fields read before the file, names lower-cased, in order.
struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn require(&self, name: &str, display: &str) -> S3Result<&str> {
        self.get(name).ok_or_else(|| missing_field(display))
    }
    fn auth(&self) -> FormAuth {
        let has = |n| self.get(n).is_some();
        if has("x-amz-signature") || has("x-amz-credential") || has("x-amz-algorithm") {
            FormAuth::V4
        } else if has("awsaccesskeyid") || has("signature") {
            FormAuth::V2
        } else {
            FormAuth::Anonymous
        }
    }
}

/// Counts raw bytes until the file starts, so a client cannot make us buffer an endless
/// run of fields or part headers.
#[derive(Default)]
struct PreDataBudget {
    file_started: AtomicBool,
    read: AtomicU64,
    exceeded: AtomicBool,
}

/// Handle `POST /{bucket}` with a form.
pub(crate) async fn post_object(
    svc: &S3Service,
    mut route: Route,
    mut parts: Parts,
    body: ReqBody,
    peer: SocketAddr,
    now: i64,
    request_id: &str,
) -> S3Result<Response<RespBody>> {
    let bucket = route
        .bucket
        .clone()
        .ok_or_else(|| S3Error::invalid_request("missing bucket"))?;
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        S3Error::new(
            "PreconditionFailed",
            StatusCode::PRECONDITION_FAILED,
            "At least one of the pre-conditions you specified did not hold",
        )
        .with(
            "Condition",
            "Bucket POST must be of the enclosure-type multipart/form-data",
        )
    })?;
    let bucket_row = svc
        .meta
        .get_bucket(&bucket)
        .await?
        .ok_or_else(|| S3Error::no_such_bucket(&bucket))?;

    // Read the fields up to the file.
    let budget = Arc::new(PreDataBudget::default());
    let counter = budget.clone();
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk?;
        if !counter.file_started.load(Ordering::Relaxed) {
            // Checked before adding this chunk: the chunk carrying the file's first bytes
            // may be large, and that is fine.
            let before = counter
                .read
                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
            if before > MAX_RAW_PRE_DATA {
                counter.exceeded.store(true, Ordering::Relaxed);
                return Err(BoxError::from("POST form fields too large"));
            }
        }
        Ok::<Bytes, BoxError>(chunk)
    });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let multer_error = |budget: &PreDataBudget| {
        if budget.exceeded.load(Ordering::Relaxed) {
            pre_data_too_large()
        } else {
            malformed()
        }
    };
    let mut form = Form { fields: Vec::new() };
    let mut pre_data = 0usize;
    let file = loop {
        let Some(mut field) = multipart
            .next_field()
            .await
            .map_err(|_| multer_error(&budget))?
        else {
            break None;
        };
        let name = field.name().unwrap_or("").to_ascii_lowercase();
        if name == "file" {
            budget.file_started.store(true, Ordering::Relaxed);
            break Some(field);
        }
        pre_data += name.len();
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|_| multer_error(&budget))? {
            pre_data += chunk.len();
            if pre_data > MAX_PRE_DATA {
                return Err(pre_data_too_large());
            }
            value.extend_from_slice(&chunk);
        }
        let value = String::from_utf8(value).map_err(|_| {
            S3Error::invalid_argument(format!(
                "The value of the form field '{name}' is not UTF-8."
            ))
        })?;
        // The first occurrence counts; it is also the one the policy was checked against.
        if form.get(&name).is_none() {
            form.fields.push((name, value));
        }
    };
    let Some(file) = file else {
        return Err(S3Error::invalid_argument(
            "POST requires exactly one file upload per request.",
        )
        .with("ArgumentName", "file")
        .with("ArgumentValue", "0"));
    };

    // The key, with `${filename}` replaced by the file's base name.
    let filename = file.file_name().unwrap_or("").to_owned();
    let base_name = filename.rsplit(['/', '\\']).next().unwrap_or("").to_owned();
    let key = form
        .get("key")
        .ok_or_else(|| missing_field("key"))?
        .replace("${filename}", &base_name);
    if key.is_empty() {
        return Err(
            S3Error::invalid_argument("User key must have a length greater than 0.")
                .with("ArgumentName", "key")
                .with("ArgumentValue", ""),
        );
    }
    crate::service::validate_key(&key)?;
    if let Some(v) = form.fields.iter_mut().find(|(k, _)| k == "key") {
        v.1.clone_from(&key);
    }

    // Signature and policy.
    let caller = match form.auth() {
        FormAuth::Anonymous => crate::auth::Caller::anonymous(),
        FormAuth::V4 => verify_v4(svc, &form, now).await?,
        FormAuth::V2 => verify_v2(svc, &form, now).await?,
    };
    let policy = match form.get("policy") {
        Some(p) => {
            let policy = PostPolicy::parse(p)?;
            policy.check(&form.fields, &bucket, now)?;
            Some(policy)
        }
        None => None,
    };

    // Authorize s3:PutObject on the final key, as the form's caller.
    route.key = Some(key.clone());
    parts.headers = form_headers(&form, &parts.headers)?;
    let ctx = Ctx {
        route,
        parts,
        caller,
        signed: None,
        verified: None,
        peer,
        now,
        request_id: request_id.to_owned(),
        events: svc.bucket_view(&bucket_row).events.clone(),
        sse_default: crate::sse::bucket_default(&crate::config::BucketConfig::from_json(
            &bucket_row.config,
        )),
        upload_rules: svc.bucket_view(&bucket_row).upload_rules.clone(),
        preloaded: None,
    };
    let arn = format!("arn:aws:s3:::{bucket}/{key}");
    if !svc
        .allowed(&ctx, "s3:PutObject", &arn, Some(&bucket_row))
        .await?
    {
        return Err(crate::auth::deny());
    }
    let cfg = crate::config::BucketConfig::from_json(&bucket_row.config);
    let form_acl = crate::acl::from_headers(&ctx.parts.headers)?;
    crate::acl::check_request_acl(&cfg, form_acl.as_ref(), &crate::buckets::owner_id(svc))?;
    let mut headers = crate::objects::headers_from_request(&ctx)?;
    // The form's x-amz-server-side-encryption field, else the bucket default.
    let seal = crate::sse::seal_for(svc, &ctx)?;
    headers.set_sse(&seal);
    if let Some(t) = form.get("tagging") {
        let t: crate::buckets::TaggingXml = crate::xml::parse(t.as_bytes())?;
        headers.tags = crate::buckets::validate_tags(&t.tag_set.tags, 10)?;
    }

    // Stream the file into a blob.
    let (min_len, max_len) = match policy.as_ref().and_then(PostPolicy::length_range) {
        Some((min, max)) => (min, max.min(svc.cfg.max_object_size)),
        None => (0, svc.cfg.max_object_size),
    };
    let mut plan = IngestPlan {
        payload: Payload::Unsigned,
        declared_len: None,
        max_len,
        content_md5: None,
        checksum: crate::service::requested_checksum(&ctx.parts.headers, None)?,
        trailer_required: false,
        seal,
        sniff: None,
        limit_rule: None,
        inline: false,
    };
    // The file's length is not known before it is read; the request's is an upper bound.
    let request_len = ctx
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    let admission = svc
        .admit_upload(
            &ctx,
            &crate::rules::Request {
                bucket: &bucket,
                key: &key,
                len: None,
                bound: Some(request_len.map_or(max_len, |l| l.min(max_len))),
                content_type: headers.content_type.as_deref(),
                step: crate::rules::Step::Post,
            },
        )
        .await?;
    let (owner, ticket) = match admission {
        Some(mut a) => {
            a.shape(&mut plan);
            (a.owner, a.ticket)
        }
        None => (svc.upload_owner(&ctx), None),
    };
    let file_body: ReqBody = http_body_util::StreamBody::new(
        file.map_ok(http_body::Frame::data)
            .map_err(|e| -> BoxError { Box::new(e) }),
    )
    .boxed_unsync();
    let got = ingest(file_body, plan, &svc.blobs).await?;
    if got.size < min_len {
        if let Some(id) = got.blob_id() {
            svc.discard_now(id).await;
        }
        return Err(S3Error::new(
            "EntityTooSmall",
            StatusCode::BAD_REQUEST,
            "Your proposed upload is smaller than the minimum allowed size",
        )
        .with("ProposedSize", got.size.to_string())
        .with("MinSizeAllowed", min_len.to_string()));
    }
    let etag = hex::encode(got.md5);
    let stored_ck = got
        .checksum
        .as_ref()
        .map(|(a, raw)| crate::checksum::Stored {
            algo: *a,
            value: crate::checksum::b64(raw),
            kind: "FULL_OBJECT".into(),
        });
    let row = ObjectRow {
        bucket: bucket.clone(),
        key: key.clone(),
        version_id: None,
        size: got.size as i64,
        etag: etag.clone(),
        last_modified_ms: ctx.now_ms(),
        headers: headers.to_json(),
        checksum: stored_ck
            .as_ref()
            .and_then(|c| serde_json::to_string(c).ok()),
        layout: crate::objects::Layout::of(&got).to_json(),
        owner: Some(owner),
    };
    // The same commit point as PutObject (durable row, replaced blobs collected).
    crate::objects::commit_object(
        svc,
        &ctx,
        &row,
        &Precondition::None,
        &got.new_blobs(),
        "ObjectCreated:Post",
        ticket,
    )
    .await?;
    let mut r = success_response(&form, &ctx, &bucket, &key, &etag);
    headers.respond_sse(&mut r);
    Ok(r)
}

/// The response S3 gives a successful form: a 303 to `success_action_redirect`, or the
/// `success_action_status` (200, 201 with an XML body, otherwise 204).
fn success_response(
    form: &Form,
    ctx: &Ctx,
    bucket: &str,
    key: &str,
    etag: &str,
) -> Response<RespBody> {
    let quoted_etag = format!("\"{etag}\"");
    let location = object_location(ctx, bucket, key);
    let redirect = form
        .get("success_action_redirect")
        .or_else(|| form.get("redirect"))
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"));
    let mut r = if let Some(url) = redirect {
        let sep = if url.contains('?') { '&' } else { '?' };
        let q = |v: &str| utf8_percent_encode(v, QUERY_VALUE).to_string();
        let target = format!(
            "{url}{sep}bucket={}&key={}&etag={}",
            q(bucket),
            q(key),
            q(&quoted_etag)
        );
        let mut r = response::status(StatusCode::SEE_OTHER);
        set(&mut r, "location", &target);
        return with_etag(r, &quoted_etag);
    } else {
        match form.get("success_action_status") {
            Some("200") => response::status(StatusCode::OK),
            Some("201") => {
                // S3's PostResponse carries no XML namespace (clients look up bare `Key`).
                let mut x =
                    String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<PostResponse>");
                crate::xml::elem(&mut x, "Location", &location);
                crate::xml::elem(&mut x, "Bucket", bucket);
                crate::xml::elem(&mut x, "Key", key);
                crate::xml::elem(&mut x, "ETag", &quoted_etag);
                response::xml_status(StatusCode::CREATED, crate::xml::end(x, "PostResponse"))
            }
            // Anything else (absent, invalid) falls back to 204, as S3 does.
            _ => response::status(StatusCode::NO_CONTENT),
        }
    };
    set(&mut r, "location", &location);
    with_etag(r, &quoted_etag)
}

fn with_etag(mut r: Response<RespBody>, etag: &str) -> Response<RespBody> {
    set(&mut r, "etag", etag);
    r
}

/// The object's URL as the client addressed the bucket (virtual-host or path style).
fn object_location(ctx: &Ctx, bucket: &str, key: &str) -> String {
    let host = ctx.header("host").unwrap_or("localhost");
    let scheme = match ctx.header("x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    let key = utf8_percent_encode(key, KEY_PATH);
    if host.starts_with(&format!("{bucket}.")) {
        format!("{scheme}://{host}/{key}")
    } else {
        format!("{scheme}://{host}/{bucket}/{key}")
    }
}

/// The request headers a PutObject would have carried, built from the form: content headers,
/// `x-amz-meta-*`, `acl` → `x-amz-acl`, encryption, storage class and checksums. The original
/// request's host (and forwarding) headers are kept for the Location URL and condition keys.
fn form_headers(form: &Form, request: &HeaderMap) -> S3Result<HeaderMap> {
    let mut h = HeaderMap::new();
    for name in [
        "host",
        "user-agent",
        "referer",
        "origin",
        "x-forwarded-proto",
    ] {
        if let Some(v) = request.get(name) {
            h.insert(name, v.clone());
        }
    }
    for (name, value) in &form.fields {
        let target = match name.as_str() {
            "acl" => "x-amz-acl",
            "content-type"
            | "cache-control"
            | "content-disposition"
            | "content-encoding"
            | "content-language"
            | "expires" => name.as_str(),
            n if n.starts_with("x-amz-meta-")
                || n.starts_with("x-amz-server-side-encryption")
                || n.starts_with("x-amz-checksum-")
                || n == "x-amz-storage-class" =>
            {
                n
            }
            _ => continue,
        };
        let bad = || {
            S3Error::invalid_argument(format!("Invalid value for the form field '{name}'."))
                .with("ArgumentName", name.clone())
                .with("ArgumentValue", value.clone())
        };
        let n = HeaderName::from_bytes(target.as_bytes()).map_err(|_| bad())?;
        let v = HeaderValue::from_str(value).map_err(|_| bad())?;
        h.insert(n, v);
    }
    Ok(h)
}

/// Check a SigV4-signed form and resolve its credentials.
async fn verify_v4(svc: &S3Service, form: &Form, now: i64) -> S3Result<crate::auth::Caller> {
    let algorithm = form.require("x-amz-algorithm", "x-amz-algorithm")?;
    let credential = form.require("x-amz-credential", "x-amz-credential")?;
    let date = form.require("x-amz-date", "x-amz-date")?;
    let signature = form.require("x-amz-signature", "x-amz-signature")?;
    let policy = form.require("policy", "policy")?;
    if algorithm != "AWS4-HMAC-SHA256" {
        return Err(S3Error::invalid_argument(
            "POST form x-amz-algorithm only supports \"AWS4-HMAC-SHA256\"",
        )
        .with("ArgumentName", "x-amz-algorithm")
        .with("ArgumentValue", algorithm));
    }
    let bad_credential = |why: &str| {
        S3Error::invalid_argument(format!(
            "Error parsing the X-Amz-Credential parameter; {why}"
        ))
        .with("ArgumentName", "x-amz-credential")
        .with("ArgumentValue", credential)
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [akid, scope_date, region, service, terminal] = scope.as_slice() else {
        return Err(bad_credential(
            "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
        ));
    };
    if *terminal != "aws4_request" || *service != "s3" {
        return Err(bad_credential(
            "incorrect service or terminal; expecting 's3' and 'aws4_request'.",
        ));
    }
    if *region != svc.cfg.region {
        return Err(bad_credential(&format!(
            "the region '{region}' is wrong; expecting '{}'",
            svc.cfg.region
        )));
    }
    if cubby_auth::parse_amz_date(date).is_none() || !date.starts_with(scope_date) {
        return Err(S3Error::invalid_argument(
            "x-amz-date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\" and match the credential date",
        )
        .with("ArgumentName", "x-amz-date")
        .with("ArgumentValue", date));
    }
    let resolved = svc
        .authority
        .resolve(akid, form.get("x-amz-security-token"), now)
        .await?;
    let key = cubby_auth::sigv4::signing_key(&resolved.secret, scope_date, region, "s3");
    if !post_policy::verify_v4(&key, policy, signature) {
        return Err(signature_mismatch(akid, policy, signature));
    }
    Ok(resolved.caller)
}

/// Check a legacy (HMAC-SHA1) signed form and resolve its credentials.
async fn verify_v2(svc: &S3Service, form: &Form, now: i64) -> S3Result<crate::auth::Caller> {
    let akid = form.require("awsaccesskeyid", "AWSAccessKeyId")?;
    let signature = form.require("signature", "Signature")?;
    let policy = form.require("policy", "Policy")?;
    let resolved = svc
        .authority
        .resolve(akid, form.get("x-amz-security-token"), now)
        .await?;
    if !post_policy::verify_v2(&resolved.secret, policy, signature) {
        return Err(signature_mismatch(akid, policy, signature));
    }
    Ok(resolved.caller)
}

fn signature_mismatch(akid: &str, policy: &str, signature: &str) -> S3Error {
    S3Error::new(
        "SignatureDoesNotMatch",
        StatusCode::FORBIDDEN,
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    )
    .with("AWSAccessKeyId", akid)
    .with("StringToSign", policy)
    .with("SignatureProvided", signature)
}
