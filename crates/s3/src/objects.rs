//! Object operations: PUT, GET/HEAD (ranges, conditionals, part numbers), DELETE, multi-delete,
//! copy, attributes, tagging and ACL.

use crate::body::{ReqBody, RespBody, ingest, read_small};
use crate::checksum::{self, Algo, Stored};
use crate::response::{self, set, set_bytes, xml};
use crate::router::Op;
use crate::service::{Ctx, S3Service};
use crate::xml::{elem, end, http_date, iso8601, start};
use crate::{S3Error, S3Result};
use base64::Engine as _;
use cubby_blob::BlobId;
use cubby_meta::{DeleteCondition, MetaError, ObjectRow, Precondition};
use futures_util::{StreamExt, TryStreamExt};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};

/// Where an object's bytes are: blobs in order (one for a PUT, one per part after multipart),
/// or, for a small unencrypted PUT, the bytes themselves (`inline`, base64 in the JSON; then
/// `blobs` is empty and always serialized first, which the start-up sweep's query relies on).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Layout {
    pub blobs: Vec<BlobRef>,
    /// Per-part info for multipart objects (partNumber reads, attributes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartInfo>,
    /// The object's bytes, when they live in its metadata row (see `body::INLINE_MAX`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "inline_bytes"
    )]
    pub inline: Option<bytes::Bytes>,
}

/// `Layout::inline` as standard base64.
mod inline_bytes {
    use base64::Engine as _;
    use serde::{Deserialize as _, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<bytes::Bytes>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bytes::Bytes>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(|v| Some(bytes::Bytes::from(v)))
            .map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct BlobRef {
    pub id: String,
    /// Plaintext size.
    pub size: u64,
    /// Set when the blob is SSE-S3 encrypted: how to unwrap its data key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<cubby_blob::sse::SealInfo>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PartInfo {
    pub size: u64,
    pub etag: String,
    #[serde(default)]
    pub checksum: Option<String>,
}

impl Layout {
    /// How the JSON of a layout without blobs begins (`blobs` is serialized first).
    pub const BLOBLESS_PREFIX: &'static str = r#"{"blobs":[]"#;

    pub fn from_json(s: &str) -> S3Result<Layout> {
        serde_json::from_str(s).map_err(|e| S3Error::internal(format!("bad layout: {e}")))
    }
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
    pub fn single(id: &BlobId, size: u64, sse: Option<cubby_blob::sse::SealInfo>) -> Layout {
        Layout {
            blobs: vec![BlobRef {
                id: id.to_string(),
                size,
                sse,
            }],
            parts: Vec::new(),
            inline: None,
        }
    }
    /// Where an ingested body went.
    pub fn of(got: &crate::body::Ingested) -> Layout {
        match &got.placed {
            crate::body::Placed::Blob(id) => Layout::single(id, got.size, got.sse.clone()),
            crate::body::Placed::Inline(bytes) => Layout {
                inline: Some(bytes.clone()),
                ..Layout::default()
            },
        }
    }
    pub fn blob_ids(&self) -> Vec<String> {
        self.blobs.iter().map(|b| b.id.clone()).collect()
    }

    /// The blob ids a stored layout names, without decoding what else it holds (an inline
    /// object's bytes): for replaced and deleted objects and the start-up sweep.
    pub fn blob_ids_in(json: &str) -> S3Result<Vec<String>> {
        #[derive(Deserialize)]
        struct BlobsOnly {
            blobs: Vec<BlobRef>,
        }
        let only: BlobsOnly = serde_json::from_str(json)
            .map_err(|e| S3Error::internal(format!("bad layout: {e}")))?;
        Ok(only.blobs.into_iter().map(|b| b.id).collect())
    }
}

/// One user-metadata entry; `raw` marks a value stored as base64 because it was not UTF-8.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct MetaEntry {
    pub k: String,
    pub v: String,
    #[serde(default)]
    pub raw: bool,
}

/// Content headers, user metadata, tags and ACL stored with an object.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct StoredHeaders {
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default)]
    pub content_encoding: Option<String>,
    #[serde(default)]
    pub content_disposition: Option<String>,
    #[serde(default)]
    pub content_language: Option<String>,
    #[serde(default)]
    pub cache_control: Option<String>,
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(default)]
    pub meta: Vec<MetaEntry>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    #[serde(default)]
    pub acl: Option<String>,
    /// Explicit grants, when the ACL was set as a grant list rather than a canned name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<Vec<crate::acl::Grant>>,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub sse: Option<String>,
}

impl StoredHeaders {
    pub fn from_json(s: &str) -> StoredHeaders {
        serde_json::from_str(s).unwrap_or_default()
    }
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Record the encryption chosen for a new object (`AES256` or none).
    pub fn set_sse(&mut self, seal: &crate::sse::Seal) {
        self.sse = match seal {
            crate::sse::Seal::Plain => None,
            _ => Some(cubby_blob::sse::ALGORITHM.to_owned()),
        };
    }

    /// `x-amz-server-side-encryption` on a response about this object, as S3 sends it.
    pub fn respond_sse(&self, r: &mut Response<RespBody>) {
        if let Some(a) = &self.sse {
            set(r, crate::sse::HEADER, a);
        }
    }
}

/// Collect content headers and `x-amz-meta-*` from a request (PutObject, CreateMultipartUpload,
/// CopyObject with REPLACE).
pub(crate) fn headers_from_request(ctx: &Ctx) -> S3Result<StoredHeaders> {
    let h = |n: &str| ctx.header(n).map(str::to_owned);
    let content_encoding = h("content-encoding").and_then(|v| {
        // aws-chunked is transport framing, not a property of the stored object.
        let rest: Vec<&str> = v
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty() && !p.eq_ignore_ascii_case("aws-chunked"))
            .collect();
        (!rest.is_empty()).then(|| rest.join(", "))
    });
    let mut meta = Vec::new();
    let mut meta_size = 0usize;
    for (name, value) in &ctx.parts.headers {
        if let Some(k) = name.as_str().strip_prefix("x-amz-meta-") {
            meta_size += k.len() + value.len();
            let entry = match value.to_str() {
                Ok(v) => MetaEntry {
                    k: k.to_owned(),
                    v: v.to_owned(),
                    raw: false,
                },
                Err(_) => match std::str::from_utf8(value.as_bytes()) {
                    Ok(v) => MetaEntry {
                        k: k.to_owned(),
                        v: v.to_owned(),
                        raw: false,
                    },
                    Err(_) => MetaEntry {
                        k: k.to_owned(),
                        v: base64::engine::general_purpose::STANDARD.encode(value.as_bytes()),
                        raw: true,
                    },
                },
            };
            meta.push(entry);
        }
    }
    if meta_size > 2048 {
        return Err(S3Error::new(
            "MetadataTooLarge",
            StatusCode::BAD_REQUEST,
            "Your metadata headers exceed the maximum allowed metadata size.",
        )
        .with("Size", meta_size.to_string())
        .with("MaxSizeAllowed", "2048"));
    }
    let tags = match ctx.header("x-amz-tagging") {
        Some(t) => parse_tagging_header(t)?,
        None => Vec::new(),
    };
    let (acl, grants) = match crate::acl::from_headers(&ctx.parts.headers)? {
        Some(spec) => spec.into_stored(),
        None => (None, None),
    };
    Ok(StoredHeaders {
        content_type: h("content-type"),
        content_encoding,
        content_disposition: h("content-disposition"),
        content_language: h("content-language"),
        cache_control: h("cache-control"),
        expires: h("expires"),
        meta,
        tags,
        acl,
        grants,
        owner: ctx.caller.principal_id.clone(),
        // Decided by the caller (request header or bucket default), see `set_sse`.
        sse: None,
    })
}

fn parse_tagging_header(t: &str) -> S3Result<Vec<(String, String)>> {
    let pairs = crate::router::parse_query(t);
    let tags: Vec<crate::buckets::TagXml> = pairs
        .into_iter()
        .map(|(key, value)| crate::buckets::TagXml { key, value })
        .collect();
    crate::buckets::validate_tags(&tags, 10)
}

/// Preconditions on writes: `If-None-Match: *` and `If-Match`.
pub(crate) fn write_precondition(ctx: &Ctx) -> Precondition {
    let list = |v: &str| -> Vec<String> { v.split(',').map(|s| s.trim().to_owned()).collect() };
    if let Some(v) = ctx.header("if-none-match") {
        if v.trim() == "*" {
            return Precondition::MustNotExist;
        }
        return Precondition::EtagNotMatches(list(v));
    }
    if let Some(v) = ctx.header("if-match") {
        return Precondition::EtagMatches(list(v));
    }
    Precondition::None
}

pub(crate) async fn put_object(
    svc: &S3Service,
    ctx: &mut Ctx,
    body: ReqBody,
) -> S3Result<Response<RespBody>> {
    let mut headers = headers_from_request(ctx)?;
    let seal = crate::sse::seal_for(svc, ctx)?;
    headers.set_sse(&seal);
    let pre = write_precondition(ctx);
    if ctx.header("content-length").is_none()
        && ctx.header("transfer-encoding").is_none()
        && ctx.header("x-amz-decoded-content-length").is_none()
    {
        return Err(S3Error::new(
            "MissingContentLength",
            StatusCode::LENGTH_REQUIRED,
            "You must provide the Content-Length HTTP header.",
        ));
    }
    let mut plan = svc.ingest_plan(ctx)?;
    plan.seal = seal;
    let admission = svc
        .admit_upload(
            ctx,
            &crate::rules::Request {
                bucket: ctx.bucket()?,
                key: ctx.key()?,
                len: plan.declared_len,
                bound: None,
                content_type: ctx.header("content-type"),
                step: crate::rules::Step::Put,
            },
        )
        .await?;
    let (owner, ticket) = match admission {
        Some(mut a) => {
            a.shape(&mut plan);
            (a.owner, a.ticket)
        }
        None => (svc.upload_owner(ctx), None),
    };
    plan.inline = true;
    let got = ingest(body, plan, &svc.blobs).await?;
    let etag = hex::encode(got.md5);
    let stored_ck = got.checksum.as_ref().map(|(a, raw)| Stored {
        algo: *a,
        value: checksum::b64(raw),
        kind: "FULL_OBJECT".into(),
    });
    let row = ObjectRow {
        bucket: ctx.bucket()?.to_owned(),
        key: ctx.key()?.to_owned(),
        version_id: None,
        size: got.size as i64,
        etag: etag.clone(),
        last_modified_ms: ctx.now_ms(),
        headers: headers.to_json(),
        checksum: stored_ck
            .as_ref()
            .and_then(|c| serde_json::to_string(c).ok()),
        layout: Layout::of(&got).to_json(),
        owner: Some(owner),
    };
    commit_object(
        svc,
        ctx,
        &row,
        &pre,
        &got.new_blobs(),
        "ObjectCreated:Put",
        ticket,
    )
    .await?;
    let mut r = response::status(StatusCode::OK);
    set(&mut r, "etag", &format!("\"{etag}\""));
    headers.respond_sse(&mut r);
    if let Some(c) = &stored_ck {
        set(&mut r, c.algo.header(), &c.value);
        set(&mut r, "x-amz-checksum-type", &c.kind);
    }
    Ok(r)
}

/// Write an object row together with the `event` (name without `s3:`, e.g.
/// `ObjectCreated:Post`) for every matching notification configuration of the bucket; on
/// failure the new blobs are deleted, on success the replaced ones are scheduled for deletion.
pub(crate) async fn commit_object(
    svc: &S3Service,
    ctx: &Ctx,
    row: &ObjectRow,
    pre: &Precondition,
    new_blobs: &[String],
    event: &str,
    ticket: Option<crate::rules::Ticket>,
) -> S3Result<()> {
    let events = crate::notify::events_for(
        svc,
        ctx,
        &crate::notify::Change {
            name: event,
            bucket: &row.bucket,
            key: &row.key,
            size: Some(row.size),
            etag: Some(&row.etag),
        },
    );
    let write = svc.meta.put_object_with_events(row, pre, events);
    let written = match ticket {
        Some(t) => t.commit(write).await,
        None => write.await,
    };
    match written {
        Ok(outcome) => {
            if let Some(old) = outcome.replaced_layout {
                svc.discard_blobs(&row.bucket, Layout::blob_ids_in(&old)?);
            }
            Ok(())
        }
        Err(e) => {
            for b in new_blobs {
                if let Some(id) = BlobId::parse(b) {
                    svc.discard_now(&id).await;
                }
            }
            match e {
                MetaError::PreconditionFailed => Err(precondition_error(pre)),
                MetaError::NotFound => Err(S3Error::no_such_key(&row.key)),
                e => Err(e.into()),
            }
        }
    }
}

pub(crate) fn precondition_error(pre: &Precondition) -> S3Error {
    match pre {
        Precondition::MustNotExist | Precondition::EtagNotMatches(_) => {
            S3Error::precondition_failed("If-None-Match")
        }
        _ => S3Error::precondition_failed("If-Match"),
    }
}

/// Fetch an object; a missing key is 404 only for callers who may list the bucket.
pub(crate) async fn load_visible(svc: &S3Service, ctx: &mut Ctx) -> S3Result<ObjectRow> {
    let row = match ctx.preloaded.take() {
        Some(row) => row,
        None => svc.meta.get_object(ctx.bucket()?, ctx.key()?).await?,
    };
    let ctx = &*ctx;
    let bucket = ctx.bucket()?;
    let key = ctx.key()?;
    match row {
        Some(o) => Ok(o),
        None => {
            let row = svc.meta.get_bucket(bucket).await?;
            if svc
                .may_learn_missing(ctx, bucket, key, row.as_ref())
                .await?
            {
                Err(S3Error::no_such_key(key))
            } else {
                Err(S3Error::access_denied())
            }
        }
    }
}

fn parse_http_date(s: &str) -> Option<i64> {
    httpdate::parse_http_date(s.trim())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
}

fn etag_in(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(|s| s.trim().trim_matches('"'))
        .any(|t| t == "*" || t == etag)
}

/// Evaluate GET/HEAD conditionals as S3 does. `Some(status)` = stop with that status.
fn read_conditionals(ctx: &Ctx, obj: &ObjectRow) -> Option<S3Error> {
    let last_modified = obj.last_modified_ms / 1000;
    let if_match = ctx.header("if-match");
    let if_none = ctx.header("if-none-match");
    if let Some(m) = if_match {
        if !etag_in(m, &obj.etag) {
            return Some(S3Error::precondition_failed("If-Match"));
        }
    } else if let Some(t) = ctx.header("if-unmodified-since").and_then(parse_http_date)
        && last_modified > t
    {
        return Some(S3Error::precondition_failed("If-Unmodified-Since"));
    }
    let not_modified = || S3Error::new("NotModified", StatusCode::NOT_MODIFIED, "Not Modified");
    if let Some(n) = if_none {
        if etag_in(n, &obj.etag) {
            return Some(not_modified());
        }
    } else if let Some(t) = ctx.header("if-modified-since").and_then(parse_http_date)
        && last_modified <= t
    {
        return Some(not_modified());
    }
    None
}

/// Parse a single `bytes=` range against `size`; `Ok(None)` = whole object.
fn parse_range(v: &str, size: u64) -> S3Result<Option<(u64, u64)>> {
    let invalid = || {
        S3Error::new(
            "InvalidRange",
            StatusCode::RANGE_NOT_SATISFIABLE,
            "The requested range is not satisfiable",
        )
        .with("RangeRequested", v)
        .with("ActualObjectSize", size.to_string())
    };
    let Some(spec) = v.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None); // multiple ranges: S3 serves the whole object
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 || size == 0 {
            return Err(invalid());
        }
        let n = n.min(size);
        return Ok(Some((size - n, size - 1)));
    }
    let Ok(start) = a.parse::<u64>() else {
        return Ok(None);
    };
    let end = if b.is_empty() {
        size.saturating_sub(1)
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e.min(size.saturating_sub(1)),
            _ => return Ok(None),
        }
    };
    if start >= size {
        return Err(invalid());
    }
    Ok(Some((start, end)))
}

/// Where a piece's bytes are.
enum Source {
    Blob(BlobId),
    /// Already the piece's bytes (an inline object).
    Inline(bytes::Bytes),
}

/// One blob's share of a byte range: the blob, its data key when encrypted, its plaintext
/// size, and the offset and length to read within it.
struct Piece {
    source: Source,
    key: Option<cubby_blob::sse::DataKey>,
    size: u64,
    from: u64,
    len: u64,
}

impl Piece {
    /// Read the piece's plaintext into `sink` (blocking).
    fn read(
        &self,
        blobs: &cubby_blob::BlobStore,
        sink: &mut impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<(), cubby_blob::BlobError> {
        match &self.source {
            Source::Blob(id) => {
                blobs.read_range(id, self.key.as_ref(), self.size, self.from, self.len, sink)
            }
            Source::Inline(bytes) => Ok(sink(bytes)?),
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Blob(id) => write!(f, "{id}"),
            Source::Inline(_) => f.write_str("inline"),
        }
    }
}

/// Split `[start, start+len)` of a layout into per-blob pieces, unwrapping data keys.
fn pieces(svc: &S3Service, layout: &Layout, start: u64, len: u64) -> S3Result<Vec<Piece>> {
    let mut out = Vec::new();
    let end = start + len;
    if let Some(data) = &layout.inline {
        let size = data.len() as u64;
        let (from, to) = (start.min(size), end.min(size));
        if from < to {
            out.push(Piece {
                source: Source::Inline(data.slice(from as usize..to as usize)),
                key: None,
                size,
                from: 0,
                len: to - from,
            });
        }
        return Ok(out);
    }
    let mut offset = 0u64;
    for b in &layout.blobs {
        let (bs, be) = (offset, offset + b.size);
        offset = be;
        if be <= start || bs >= end {
            continue;
        }
        let from = start.max(bs) - bs;
        let to = end.min(be) - bs;
        let id = BlobId::parse(&b.id).ok_or_else(|| S3Error::internal("bad blob id"))?;
        out.push(Piece {
            source: Source::Blob(id),
            key: crate::sse::open_key(svc, b)?,
            size: b.size,
            from,
            len: to - from,
        });
    }
    Ok(out)
}

/// Stream `[start, start+len)` of a layout.
pub(crate) async fn stream_range(
    svc: &S3Service,
    layout: &Layout,
    start: u64,
    len: u64,
) -> S3Result<RespBody> {
    let pieces = pieces(svc, layout, start, len)?;
    if pieces.iter().any(|p| p.key.is_some()) {
        return stream_decrypted(svc, pieces).await;
    }
    if let [
        Piece {
            source: Source::Inline(bytes),
            ..
        },
    ] = pieces.as_slice()
    {
        return Ok(crate::body::full(bytes.clone()));
    }
    let blobs = svc.blobs.clone();
    let stream = futures_util::stream::iter(pieces)
        .then(move |p| {
            let blobs = blobs.clone();
            async move {
                match p.source {
                    Source::Blob(id) => blobs
                        .read_stream(&id, p.from, p.len)
                        .await
                        .map_err(|e| std::io::Error::other(e.to_string())),
                    Source::Inline(bytes) => {
                        let once = futures_util::stream::once(async move { Ok(bytes) });
                        Ok(once.boxed())
                    }
                }
            }
        })
        .try_flatten()
        .map_ok(http_body::Frame::data);
    Ok(http_body_util::StreamBody::new(stream).boxed_unsync())
}

/// Reading and decrypting run on a blocking thread that feeds the response through a small
/// channel (back-pressure; a gone client stops the thread). The first segment is awaited
/// before answering, so an object whose first segment fails authentication is a clean 500;
/// a later failure cuts the connection — never are unauthenticated bytes sent.
async fn stream_decrypted(svc: &S3Service, pieces: Vec<Piece>) -> S3Result<RespBody> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    let blobs = svc.blobs.clone();
    tokio::task::spawn_blocking(move || {
        for p in pieces {
            let r = p.read(&blobs, &mut |b: &[u8]| {
                tx.blocking_send(Ok(bytes::Bytes::copy_from_slice(b)))
                    .map_err(|_| std::io::Error::other("response dropped"))
            });
            if let Err(e) = r {
                tracing::error!(blob = %p.source, error = %e, "encrypted blob read failed");
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                return;
            }
        }
    });
    let first = match rx.recv().await {
        Some(Err(e)) => return Err(S3Error::internal(e)),
        other => other,
    };
    let rest = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let stream = futures_util::stream::iter(first)
        .chain(rest)
        .map_ok(http_body::Frame::data);
    Ok(http_body_util::StreamBody::new(stream).boxed_unsync())
}

pub(crate) async fn get_object(svc: &S3Service, ctx: &mut Ctx) -> S3Result<Response<RespBody>> {
    // As S3: reads never name SSE-S3/KMS encryption (the object knows how it is stored).
    if ctx.header(crate::sse::HEADER).is_some() {
        return Err(S3Error::invalid_argument(
            "x-amz-server-side-encryption header is not supported for this operation.",
        )
        .with("ArgumentName", crate::sse::HEADER));
    }
    let obj = load_visible(svc, ctx).await?;
    let ctx = &*ctx;
    if let Some(e) = read_conditionals(ctx, &obj) {
        if e.status == StatusCode::NOT_MODIFIED {
            let mut r = response::status(StatusCode::NOT_MODIFIED);
            set(&mut r, "etag", &format!("\"{}\"", obj.etag));
            set(&mut r, "last-modified", &http_date(obj.last_modified_ms));
            return Ok(r);
        }
        return Err(e);
    }
    let layout = Layout::from_json(&obj.layout)?;
    let headers = StoredHeaders::from_json(&obj.headers);
    let size = obj.size as u64;
    let mut status = StatusCode::OK;
    let mut range: Option<(u64, u64)> = None;
    let mut part_count: Option<usize> = None;
    if let Some(pn) = ctx.route.q("partNumber") {
        let pn: usize = pn
            .parse()
            .ok()
            .filter(|n| (1..=10000).contains(n))
            .ok_or_else(|| {
                S3Error::invalid_argument(
                    "Part number must be an integer between 1 and 10000, inclusive",
                )
            })?;
        // A part number past the object's parts: 400 InvalidPart, as the S3 suites expect.
        let invalid_part = || {
            S3Error::new(
                "InvalidPart",
                StatusCode::BAD_REQUEST,
                "The requested partnumber is not satisfiable",
            )
        };
        if layout.parts.is_empty() {
            if pn != 1 {
                return Err(invalid_part());
            }
            part_count = Some(1);
        } else {
            let info = layout.parts.get(pn - 1).ok_or_else(invalid_part)?;
            let start: u64 = layout.parts.iter().take(pn - 1).map(|p| p.size).sum();
            if info.size > 0 {
                range = Some((start, start + info.size - 1));
            }
            status = StatusCode::PARTIAL_CONTENT;
            part_count = Some(layout.parts.len());
        }
    } else if let Some(rv) = ctx.header("range") {
        range = parse_range(rv, size)?;
        if range.is_some() {
            status = StatusCode::PARTIAL_CONTENT;
        }
    }
    let (start, len) = match range {
        Some((a, b)) => (a, b - a + 1),
        None => (0, size),
    };
    let is_head = ctx.route.op == Op::HeadObject;
    let body = if is_head || len == 0 {
        crate::body::empty()
    } else {
        stream_range(svc, &layout, start, len).await?
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    set(&mut r, "content-length", &len.to_string());
    if let Some((a, b)) = range {
        set(&mut r, "content-range", &format!("bytes {a}-{b}/{size}"));
    }
    set(&mut r, "accept-ranges", "bytes");
    set(&mut r, "etag", &format!("\"{}\"", obj.etag));
    set(&mut r, "last-modified", &http_date(obj.last_modified_ms));
    headers.respond_sse(&mut r);
    if let Some(n) = part_count {
        set(&mut r, "x-amz-mp-parts-count", &n.to_string());
    }
    let q = |n: &str| ctx.route.q(n);
    let ct = q("response-content-type")
        .or(headers.content_type.as_deref())
        .unwrap_or("binary/octet-stream");
    set(&mut r, "content-type", ct);
    for (hdr, over, stored) in [
        (
            "content-encoding",
            "response-content-encoding",
            &headers.content_encoding,
        ),
        (
            "content-disposition",
            "response-content-disposition",
            &headers.content_disposition,
        ),
        (
            "content-language",
            "response-content-language",
            &headers.content_language,
        ),
        (
            "cache-control",
            "response-cache-control",
            &headers.cache_control,
        ),
        ("expires", "response-expires", &headers.expires),
    ] {
        if let Some(v) = q(over).or(stored.as_deref()) {
            set(&mut r, hdr, v);
        }
    }
    for m in &headers.meta {
        let name = format!("x-amz-meta-{}", m.k);
        if m.raw {
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&m.v) {
                set_bytes(&mut r, &name, &bytes);
            }
        } else {
            set_bytes(&mut r, &name, m.v.as_bytes());
        }
    }
    if !headers.tags.is_empty() {
        set(
            &mut r,
            "x-amz-tagging-count",
            &headers.tags.len().to_string(),
        );
    }
    if ctx
        .header("x-amz-checksum-mode")
        .is_some_and(|v| v.eq_ignore_ascii_case("enabled"))
        && let Some(c) = obj
            .checksum
            .as_deref()
            .and_then(|c| serde_json::from_str::<Stored>(c).ok())
    {
        // Whole-object reads return the object's checksum; a part read returns the part's.
        if ctx.route.q("partNumber").is_some() && !layout.parts.is_empty() {
            let pn: usize = ctx
                .route
                .q("partNumber")
                .and_then(|p| p.parse().ok())
                .unwrap_or(1);
            if let Some(v) = layout.parts.get(pn - 1).and_then(|p| p.checksum.as_deref()) {
                set(&mut r, c.algo.header(), v);
                set(&mut r, "x-amz-checksum-type", &c.kind);
            }
        } else if range.is_none() {
            set(&mut r, c.algo.header(), &c.value);
            set(&mut r, "x-amz-checksum-type", &c.kind);
        }
    }
    Ok(r)
}

pub(crate) async fn delete_object(svc: &S3Service, ctx: &Ctx) -> S3Result<Response<RespBody>> {
    let cond = DeleteCondition {
        etag: ctx.header("if-match").map(str::to_owned),
        size: ctx
            .header("x-amz-if-match-size")
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| S3Error::invalid_argument("Invalid x-amz-if-match-size"))
            })
            .transpose()?,
        last_modified_s: ctx
            .header("x-amz-if-match-last-modified-time")
            .map(|v| {
                parse_http_date(v).ok_or_else(|| {
                    S3Error::invalid_argument("Invalid x-amz-if-match-last-modified-time")
                })
            })
            .transpose()?,
    };
    let (bucket, key) = (ctx.bucket()?, ctx.key()?);
    let events = deleted_events(svc, ctx, bucket, key);
    match svc
        .meta
        .delete_object_with_events(bucket, key, &cond, &events)
        .await
    {
        Ok(Some(layout)) => svc.discard_blobs(bucket, Layout::blob_ids_in(&layout)?),
        Ok(None) => {}
        Err(MetaError::PreconditionFailed) => return Err(S3Error::precondition_failed("If-Match")),
        Err(e) => return Err(e.into()),
    }
    Ok(response::status(StatusCode::NO_CONTENT))
}

/// Events for a delete of `key` (committed only if an object was actually removed).
fn deleted_events(
    svc: &S3Service,
    ctx: &Ctx,
    bucket: &str,
    key: &str,
) -> Vec<cubby_meta::NewEvent> {
    crate::notify::events_for(
        svc,
        ctx,
        &crate::notify::Change {
            name: "ObjectRemoved:Delete",
            bucket,
            key,
            size: None,
            etag: None,
        },
    )
}

/// One entry of a DeleteObjects request.
struct DeleteEntry {
    key: String,
    version_id: Option<String>,
    cond: DeleteCondition,
}

/// Parse `<Delete><Quiet/><Object><Key/><VersionId/></Object>…</Delete>`, keeping keys verbatim.
fn parse_delete(raw: &[u8]) -> S3Result<(bool, Vec<DeleteEntry>)> {
    let doc = crate::xml::Node::parse(raw)?;
    if doc.name != "Delete" {
        return Err(S3Error::malformed_xml());
    }
    let quiet = doc
        .child("Quiet")
        .is_some_and(|q| q.text.trim().eq_ignore_ascii_case("true"));
    let mut entries = Vec::new();
    for o in doc.all("Object") {
        let key = o
            .child("Key")
            .ok_or_else(S3Error::malformed_xml)?
            .text
            .clone();
        let version_id = o.child("VersionId").map(|v| v.text.trim().to_owned());
        let cond = DeleteCondition {
            etag: o.child("ETag").map(|v| v.text.trim().to_owned()),
            size: o
                .child("Size")
                .map(|v| {
                    v.text
                        .trim()
                        .parse::<i64>()
                        .map_err(|_| S3Error::malformed_xml())
                })
                .transpose()?,
            last_modified_s: o
                .child("LastModifiedTime")
                .map(|v| {
                    // The SDKs send an HTTP date here (S3's model says so); ISO 8601 is
                    // accepted too.
                    let t = v.text.trim();
                    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                        .map(|t| t.unix_timestamp())
                        .ok()
                        .or_else(|| parse_http_date(t))
                        .ok_or_else(S3Error::malformed_xml)
                })
                .transpose()?,
        };
        entries.push(DeleteEntry {
            key,
            version_id,
            cond,
        });
    }
    Ok((quiet, entries))
}

pub(crate) async fn delete_objects(
    svc: &S3Service,
    ctx: &Ctx,
    body: ReqBody,
) -> S3Result<Response<RespBody>> {
    let raw = read_small(body, 2 * 1024 * 1024).await?;
    if let Some(md5) = ctx.header("content-md5") {
        use md5::Digest as _;
        let got = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&raw));
        if got != md5.trim() {
            return Err(S3Error::bad_digest());
        }
    }
    if let Some((algo, Some(expected))) =
        crate::service::requested_checksum(&ctx.parts.headers, None)?
        && checksum::digest(algo, &raw) != expected
    {
        return Err(S3Error::bad_digest());
    }
    let (quiet, objects) = parse_delete(&raw)?;
    if objects.len() > 1000 || objects.is_empty() {
        return Err(S3Error::malformed_xml());
    }
    let bucket = ctx.bucket()?.to_owned();
    let bucket_row = svc.meta.get_bucket(&bucket).await?;
    let mut x = start("DeleteResult");
    for o in objects {
        let arn = format!("arn:aws:s3:::{bucket}/{}", o.key);
        let allowed = svc
            .allowed(ctx, "s3:DeleteObject", &arn, bucket_row.as_ref())
            .await?;
        if !allowed {
            x.push_str("<Error>");
            elem(&mut x, "Key", &o.key);
            elem(&mut x, "Code", "AccessDenied");
            elem(&mut x, "Message", "Access Denied");
            x.push_str("</Error>");
            continue;
        }
        if let Some(v) = &o.version_id
            && v != "null"
        {
            x.push_str("<Error>");
            elem(&mut x, "Key", &o.key);
            elem(&mut x, "VersionId", v);
            elem(&mut x, "Code", "NoSuchVersion");
            elem(&mut x, "Message", "The specified version does not exist.");
            x.push_str("</Error>");
            continue;
        }
        let events = deleted_events(svc, ctx, &bucket, &o.key);
        match svc
            .meta
            .delete_object_with_events(&bucket, &o.key, &o.cond, &events)
            .await
        {
            Ok(layout) => {
                if let Some(l) = layout {
                    svc.discard_blobs(&bucket, Layout::blob_ids_in(&l)?);
                }
                if !quiet {
                    x.push_str("<Deleted>");
                    elem(&mut x, "Key", &o.key);
                    if let Some(v) = &o.version_id {
                        elem(&mut x, "VersionId", v);
                    }
                    x.push_str("</Deleted>");
                }
            }
            Err(MetaError::PreconditionFailed) => {
                x.push_str("<Error>");
                elem(&mut x, "Key", &o.key);
                elem(&mut x, "Code", "PreconditionFailed");
                elem(
                    &mut x,
                    "Message",
                    "At least one of the pre-conditions you specified did not hold",
                );
                x.push_str("</Error>");
            }
            Err(e) => {
                tracing::error!(error = %e, "delete failed");
                x.push_str("<Error>");
                elem(&mut x, "Key", &o.key);
                elem(&mut x, "Code", "InternalError");
                elem(
                    &mut x,
                    "Message",
                    "We encountered an internal error. Please try again.",
                );
                x.push_str("</Error>");
            }
        }
    }
    Ok(xml(end(x, "DeleteResult")))
}

/// Parse `x-amz-copy-source` → (bucket, key).
pub(crate) fn copy_source(ctx: &Ctx) -> S3Result<(String, String)> {
    let raw = ctx.header("x-amz-copy-source").ok_or_else(|| {
        S3Error::invalid_argument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )
    })?;
    let (path, query) = raw.split_once('?').unwrap_or((raw, ""));
    if let Some(v) = crate::router::parse_query(query)
        .into_iter()
        .find(|(k, _)| k == "versionId")
        && v.1 != "null"
    {
        return Err(S3Error::new(
            "NoSuchVersion",
            StatusCode::NOT_FOUND,
            "The specified version does not exist.",
        ));
    }
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| S3Error::invalid_argument("Invalid copy source encoding"))?;
    let decoded = decoded.strip_prefix('/').unwrap_or(&decoded);
    match decoded.split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => Ok((b.to_owned(), k.to_owned())),
        _ => Err(S3Error::invalid_argument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )),
    }
}

/// Load a copy source after authorizing s3:GetObject on it and checking copy conditionals.
pub(crate) async fn load_copy_source(svc: &S3Service, ctx: &Ctx) -> S3Result<ObjectRow> {
    let (sb, sk) = copy_source(ctx)?;
    let src_bucket = svc.meta.get_bucket(&sb).await?;
    if !svc
        .allowed(
            ctx,
            "s3:GetObject",
            &format!("arn:aws:s3:::{sb}/{sk}"),
            src_bucket.as_ref(),
        )
        .await?
    {
        return Err(S3Error::access_denied());
    }
    if src_bucket.is_none() {
        return Err(S3Error::no_such_bucket(&sb));
    }
    let obj = svc
        .meta
        .get_object(&sb, &sk)
        .await?
        .ok_or_else(|| S3Error::no_such_key(&sk))?;
    let lm = obj.last_modified_ms / 1000;
    let fail = || S3Error::precondition_failed("x-amz-copy-source-If-Match");
    if let Some(m) = ctx.header("x-amz-copy-source-if-match") {
        if !etag_in(m, &obj.etag) {
            return Err(fail());
        }
    } else if let Some(t) = ctx
        .header("x-amz-copy-source-if-unmodified-since")
        .and_then(parse_http_date)
        && lm > t
    {
        return Err(fail());
    }
    if let Some(n) = ctx.header("x-amz-copy-source-if-none-match") {
        if etag_in(n, &obj.etag) {
            return Err(fail());
        }
    } else if let Some(t) = ctx
        .header("x-amz-copy-source-if-modified-since")
        .and_then(parse_http_date)
        && lm <= t
    {
        return Err(fail());
    }
    Ok(obj)
}

/// A blob written by [`copy_bytes`].
pub(crate) struct Copied {
    pub blob: BlobId,
    pub md5: [u8; 16],
    pub checksum: Option<Vec<u8>>,
    pub sse: Option<cubby_blob::sse::SealInfo>,
}

/// The first `n` plaintext bytes of a layout (fewer if it is shorter), for content checks.
pub(crate) async fn read_head(
    svc: &S3Service,
    layout: &Layout,
    size: u64,
    n: u64,
) -> S3Result<Vec<u8>> {
    let len = size.min(n);
    if len == 0 {
        return Ok(Vec::new());
    }
    let sources = pieces(svc, layout, 0, len)?;
    let blobs = svc.blobs.clone();
    tokio::task::spawn_blocking(move || -> Result<Vec<u8>, cubby_blob::BlobError> {
        let mut out = Vec::with_capacity(len as usize);
        for p in sources {
            p.read(&blobs, &mut |c: &[u8]| {
                out.extend_from_slice(c);
                Ok(())
            })?;
        }
        Ok(out)
    })
    .await
    .map_err(|e| S3Error::internal(format!("read worker: {e}")))?
    .map_err(S3Error::from)
}

/// Copy a byte range of a layout into a new committed blob (decrypting the source and
/// encrypting the copy as `seal` says), computing MD5 and an optional checksum of the
/// plaintext. Runs on a blocking thread.
pub(crate) async fn copy_bytes(
    svc: &S3Service,
    layout: &Layout,
    start: u64,
    len: u64,
    algo: Option<Algo>,
    seal: &crate::sse::Seal,
) -> S3Result<Copied> {
    let sources = pieces(svc, layout, start, len)?;
    let (writer, sse) = seal.writer(&svc.blobs)?;
    let blobs = svc.blobs.clone();
    let (blob, md5, checksum) =
        tokio::task::spawn_blocking(move || -> Result<_, cubby_blob::BlobError> {
            use md5::Digest as _;
            let mut writer = writer;
            let mut md5 = md5::Md5::new();
            let mut ck = algo.map(checksum::Hasher::new);
            for p in sources {
                p.read(&blobs, &mut |chunk: &[u8]| {
                    md5.update(chunk);
                    if let Some(c) = ck.as_mut() {
                        c.update(chunk);
                    }
                    writer.write_all(chunk)
                })?;
            }
            let id = writer.commit()?;
            Ok((id, md5.finalize().into(), ck.map(checksum::Hasher::finish)))
        })
        .await
        .map_err(|e| S3Error::internal(format!("copy worker: {e}")))??;
    Ok(Copied {
        blob,
        md5,
        checksum,
        sse,
    })
}

pub(crate) async fn copy_object(svc: &S3Service, ctx: &Ctx) -> S3Result<Response<RespBody>> {
    let src = load_copy_source(svc, ctx).await?;
    let replace = match ctx.header("x-amz-metadata-directive") {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(_) => return Err(S3Error::invalid_argument("Unknown metadata directive.")),
    };
    let (db, dk) = (ctx.bucket()?.to_owned(), ctx.key()?.to_owned());
    // Copying onto itself is allowed when it changes something, such as the encryption.
    if src.bucket == db && src.key == dk && !replace && ctx.header(crate::sse::HEADER).is_none() {
        return Err(S3Error::invalid_request(
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    let mut headers = if replace {
        headers_from_request(ctx)?
    } else {
        let mut h = StoredHeaders::from_json(&src.headers);
        h.owner = ctx.caller.principal_id.clone();
        // The metadata directive covers metadata, never the ACL: as S3 does, the copy gets the
        // ACL this request names (private when it names none), not the source's.
        (h.acl, h.grants) = match crate::acl::from_headers(&ctx.parts.headers)? {
            Some(spec) => spec.into_stored(),
            None => (None, None),
        };
        h
    };
    match ctx.header("x-amz-tagging-directive") {
        Some("REPLACE") => {
            headers.tags = match ctx.header("x-amz-tagging") {
                Some(t) => parse_tagging_header(t)?,
                None => Vec::new(),
            }
        }
        _ => headers.tags = StoredHeaders::from_json(&src.headers).tags,
    }
    let src_ck: Option<Stored> = src
        .checksum
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok());
    let algo = ctx
        .header("x-amz-checksum-algorithm")
        .and_then(Algo::parse)
        .or(src_ck.as_ref().map(|c| c.algo));
    // The copy is encrypted as this request (or the destination bucket) says, not as the
    // source was.
    let seal = crate::sse::seal_for(svc, ctx)?;
    headers.set_sse(&seal);
    let layout = Layout::from_json(&src.layout)?;
    // Upload rules judge a copy like an upload of the source's bytes under the new key.
    let admission = svc
        .admit_upload(
            ctx,
            &crate::rules::Request {
                bucket: &db,
                key: &dk,
                len: Some(src.size as u64),
                bound: None,
                content_type: headers.content_type.as_deref(),
                step: crate::rules::Step::Copy,
            },
        )
        .await?;
    let (owner, ticket) = match admission {
        Some(a) => (a.owner, a.ticket),
        None => (svc.upload_owner(ctx), None),
    };
    if let Some(check) = svc.content_check_for(ctx, &dk, headers.content_type.as_deref()) {
        let head = read_head(
            svc,
            &layout,
            src.size as u64,
            cubby_rules::sniff::SNIFF_LEN as u64,
        )
        .await?;
        check.check(&head)?;
    }
    let Copied {
        blob,
        md5,
        checksum: ck,
        sse,
    } = copy_bytes(svc, &layout, 0, src.size as u64, algo, &seal).await?;
    let etag = hex::encode(md5);
    let stored = match (algo, ck) {
        (Some(a), Some(raw)) => Some(Stored {
            algo: a,
            value: checksum::b64(&raw),
            kind: "FULL_OBJECT".into(),
        }),
        _ => None,
    };
    let row = ObjectRow {
        bucket: db,
        key: dk,
        version_id: None,
        size: src.size,
        etag: etag.clone(),
        last_modified_ms: ctx.now_ms(),
        headers: headers.to_json(),
        checksum: stored.as_ref().and_then(|c| serde_json::to_string(c).ok()),
        layout: Layout::single(&blob, src.size as u64, sse).to_json(),
        owner: Some(owner),
    };
    let pre = write_precondition(ctx);
    commit_object(
        svc,
        ctx,
        &row,
        &pre,
        &[blob.to_string()],
        "ObjectCreated:Copy",
        ticket,
    )
    .await?;
    let mut x = start("CopyObjectResult");
    elem(&mut x, "LastModified", &iso8601(row.last_modified_ms));
    elem(&mut x, "ETag", &format!("\"{etag}\""));
    if let Some(c) = &stored {
        elem(&mut x, c.algo.xml_name(), &c.value);
    }
    let mut r = xml(end(x, "CopyObjectResult"));
    headers.respond_sse(&mut r);
    Ok(r)
}

pub(crate) async fn get_attributes(svc: &S3Service, ctx: &mut Ctx) -> S3Result<Response<RespBody>> {
    let obj = load_visible(svc, ctx).await?;
    let ctx = &*ctx;
    let wanted: Vec<String> = ctx
        .parts
        .headers
        .get_all("x-amz-object-attributes")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_owned())
        .collect();
    if wanted.is_empty() {
        return Err(S3Error::invalid_argument(
            "Missing required header for this request: x-amz-object-attributes",
        ));
    }
    let layout = Layout::from_json(&obj.layout)?;
    let ck: Option<Stored> = obj
        .checksum
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok());
    let mut x = start("GetObjectAttributesResponse");
    let has = |n: &str| wanted.iter().any(|w| w == n);
    if has("ETag") {
        elem(&mut x, "ETag", &obj.etag);
    }
    if has("Checksum")
        && let Some(c) = &ck
    {
        x.push_str("<Checksum>");
        elem(&mut x, c.algo.xml_name(), &c.value);
        elem(&mut x, "ChecksumType", &c.kind);
        x.push_str("</Checksum>");
    }
    if has("ObjectParts") && !layout.parts.is_empty() {
        let marker: usize = ctx
            .header("x-amz-part-number-marker")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let max: usize = ctx
            .header("x-amz-max-parts")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        let total = layout.parts.len();
        x.push_str("<ObjectParts>");
        // The SDK models TotalPartsCount with the XML name PartsCount.
        elem(&mut x, "PartsCount", &total.to_string());
        elem(&mut x, "PartNumberMarker", &marker.to_string());
        let shown: Vec<(usize, &PartInfo)> = layout
            .parts
            .iter()
            .enumerate()
            .map(|(i, p)| (i + 1, p))
            .filter(|(n, _)| *n > marker)
            .take(max)
            .collect();
        let next = shown.last().map(|(n, _)| *n).unwrap_or(marker);
        elem(&mut x, "NextPartNumberMarker", &next.to_string());
        elem(&mut x, "MaxParts", &max.to_string());
        elem(
            &mut x,
            "IsTruncated",
            if next < total { "true" } else { "false" },
        );
        for (n, p) in shown {
            x.push_str("<Part>");
            elem(&mut x, "PartNumber", &n.to_string());
            elem(&mut x, "Size", &p.size.to_string());
            if let (Some(c), Some(v)) = (&ck, &p.checksum) {
                elem(&mut x, c.algo.xml_name(), v);
            }
            x.push_str("</Part>");
        }
        x.push_str("</ObjectParts>");
    }
    if has("StorageClass") {
        elem(&mut x, "StorageClass", "STANDARD");
    }
    if has("ObjectSize") {
        elem(&mut x, "ObjectSize", &obj.size.to_string());
    }
    let mut r = xml(end(x, "GetObjectAttributesResponse"));
    set(&mut r, "last-modified", &http_date(obj.last_modified_ms));
    Ok(r)
}

/// Object tagging and ACL.
pub(crate) async fn object_subresource(
    svc: &S3Service,
    ctx: &mut Ctx,
    body: ReqBody,
) -> S3Result<Response<RespBody>> {
    let mut obj = load_visible(svc, ctx).await?;
    let ctx = &*ctx;
    let mut headers = StoredHeaders::from_json(&obj.headers);
    let resp = match ctx.route.op {
        Op::GetObjectTagging => return Ok(xml(crate::buckets::tagging_xml(&headers.tags))),
        Op::GetObjectAcl => {
            let acl =
                crate::acl::AclSpec::stored(headers.acl.as_deref(), headers.grants.as_deref());
            return Ok(xml(crate::acl::to_xml(
                &acl,
                &crate::buckets::owner_id(svc),
            )));
        }
        Op::PutObjectTagging => {
            let raw = read_small(body, 64 * 1024).await?;
            let t: crate::buckets::TaggingXml = crate::xml::parse(&raw)?;
            headers.tags = crate::buckets::validate_tags(&t.tag_set.tags, 10)?;
            response::status(StatusCode::OK)
        }
        Op::DeleteObjectTagging => {
            headers.tags.clear();
            response::status(StatusCode::NO_CONTENT)
        }
        Op::PutObjectAcl => {
            let raw = read_small(body, 64 * 1024).await?;
            let bucket = svc.meta.get_bucket(ctx.bucket()?).await?;
            let cfg = bucket
                .map(|b| crate::config::BucketConfig::from_json(&b.config))
                .unwrap_or_default();
            let acl = svc.request_acl(ctx, &raw, &cfg).await?;
            (headers.acl, headers.grants) = acl.into_stored();
            response::status(StatusCode::OK)
        }
        _ => return Err(S3Error::not_implemented("object subresource")),
    };
    obj.headers = headers.to_json();
    // Only this row's headers change; the etag precondition guards against a concurrent
    // overwrite (which would otherwise be silently reverted).
    svc.meta
        .put_object(&obj, &Precondition::EtagMatches(vec![obj.etag.clone()]))
        .await
        .map_err(|e| match e {
            MetaError::PreconditionFailed => S3Error::new(
                "OperationAborted",
                StatusCode::CONFLICT,
                "A conflicting conditional operation is currently in progress against this resource. Please try again.",
            ),
            e => e.into(),
        })?;
    Ok(resp)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_inline_layout_round_trips_and_starts_with_the_blobless_prefix() {
        let inline = Layout {
            inline: Some(bytes::Bytes::from_static(b"\x00hello\xff")),
            ..Layout::default()
        };
        let json = inline.to_json();
        assert!(json.starts_with(Layout::BLOBLESS_PREFIX), "{json}");
        let back = Layout::from_json(&json).unwrap();
        assert_eq!(back.inline.as_deref(), Some(&b"\x00hello\xff"[..]));
        assert!(Layout::blob_ids_in(&json).unwrap().is_empty());

        let id = BlobId::random();
        let blob = Layout::single(&id, 5, None).to_json();
        assert!(!blob.starts_with(Layout::BLOBLESS_PREFIX), "{blob}");
        assert_eq!(Layout::blob_ids_in(&blob).unwrap(), [id.to_string()]);
        // Layouts written before inline objects existed still parse.
        let old = format!(r#"{{"blobs":[{{"id":"{id}","size":5}}]}}"#);
        assert!(Layout::from_json(&old).unwrap().inline.is_none());
    }
}
