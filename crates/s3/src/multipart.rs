//! Multipart uploads. Parts are blobs; completing writes a manifest of them (no data copy).

use crate::body::{ReqBody, RespBody, ingest, read_small};
use crate::checksum::{self, Algo, Stored};
use crate::list::prefix_end;
use crate::objects::{Layout, PartInfo, StoredHeaders, headers_from_request};
use crate::response::{self, set, xml};
use crate::service::{Ctx, S3Service};
use crate::xml::{elem, end, iso8601, start};
use crate::{S3Error, S3Result};
use base64::Engine as _;
use cubby_blob::BlobId;
use cubby_meta::{MetaError, ObjectRow, PartRow, UploadRow};
use http::{Response, StatusCode};
use md5::Digest as _;
use serde::{Deserialize, Serialize};

const MIN_PART: u64 = 5 * 1024 * 1024;

/// What an upload remembers until completion.
#[derive(Serialize, Deserialize)]
struct UploadInfo {
    headers: StoredHeaders,
    #[serde(default)]
    algo: Option<Algo>,
    /// COMPOSITE or FULL_OBJECT.
    #[serde(default)]
    checksum_type: Option<String>,
    initiator_arn: String,
    initiator_name: String,
    /// SSE-S3: the upload's wrapped data key, shared by its parts.
    #[serde(default)]
    sse: Option<cubby_blob::sse::SealInfo>,
}

impl UploadInfo {
    /// How this upload's part blobs are written.
    fn seal(&self, svc: &S3Service) -> S3Result<crate::sse::Seal> {
        match &self.sse {
            None => Ok(crate::sse::Seal::Plain),
            Some(info) => {
                let key = crate::sse::kek(svc)?
                    .unwrap_upload(info)
                    .map_err(|e| S3Error::internal(format!("upload data key: {e}")))?;
                Ok(crate::sse::Seal::Part(key, info.clone()))
            }
        }
    }
}

pub(crate) async fn create(svc: &S3Service, ctx: &Ctx) -> S3Result<Response<RespBody>> {
    let mut headers = headers_from_request(ctx)?;
    let algo = match ctx.header("x-amz-checksum-algorithm") {
        Some(a) => Some(Algo::parse(a).ok_or_else(|| {
            S3Error::invalid_request("Checksum algorithm provided is unsupported.")
        })?),
        None => None,
    };
    let checksum_type = match (ctx.header("x-amz-checksum-type"), algo) {
        (None, Some(Algo::Crc64Nvme)) => Some("FULL_OBJECT".to_owned()),
        (None, Some(_)) => Some("COMPOSITE".to_owned()),
        (None, None) => None,
        (Some(t), a) => {
            let t = t.to_ascii_uppercase();
            match (t.as_str(), a) {
                ("COMPOSITE", Some(a)) if a != Algo::Crc64Nvme => Some(t),
                ("FULL_OBJECT", Some(a)) if a.is_crc() => Some(t),
                _ => {
                    return Err(S3Error::invalid_request(format!(
                        "The {t} checksum type cannot be used with the {} checksum algorithm.",
                        a.map(Algo::name).unwrap_or("(none)")
                    )));
                }
            }
        }
    };
    let admission = svc
        .admit_upload(
            ctx,
            &crate::rules::Request {
                bucket: ctx.bucket()?,
                key: ctx.key()?,
                len: None,
                bound: None,
                content_type: headers.content_type.as_deref(),
                step: crate::rules::Step::CreateMultipart,
            },
        )
        .await?;
    let (owner, ticket) = match admission {
        Some(a) => (a.owner, a.ticket),
        None => (svc.upload_owner(ctx), None),
    };
    let upload_id = new_upload_id();
    let sse = if crate::sse::wanted(ctx)? {
        let (_, info) = crate::sse::kek(svc)?
            .new_upload_key(&upload_id)
            .map_err(|e| S3Error::internal(format!("upload data key: {e}")))?;
        Some(info)
    } else {
        None
    };
    headers.sse = sse.as_ref().map(|_| cubby_blob::sse::ALGORITHM.to_owned());
    let info = UploadInfo {
        sse,
        headers,
        algo,
        checksum_type: checksum_type.clone(),
        initiator_arn: ctx.caller.arn.clone(),
        initiator_name: ctx.caller.display_name.clone(),
    };
    let row = UploadRow {
        upload_id: upload_id.clone(),
        bucket: ctx.bucket()?.to_owned(),
        key: ctx.key()?.to_owned(),
        initiated_ms: ctx.now_ms(),
        info: serde_json::to_string(&info).map_err(S3Error::internal)?,
        completed: None,
        owner: Some(owner),
    };
    // The upload counts as an object of its owner from now on (until completed or aborted).
    match ticket {
        Some(t) => t.commit(svc.meta.create_upload(&row)).await?,
        None => svc.meta.create_upload(&row).await?,
    }
    let mut x = start("InitiateMultipartUploadResult");
    elem(&mut x, "Bucket", &row.bucket);
    elem(&mut x, "Key", &row.key);
    elem(&mut x, "UploadId", &upload_id);
    let mut r = xml(end(x, "InitiateMultipartUploadResult"));
    info.headers.respond_sse(&mut r);
    if let (Some(a), Some(t)) = (algo, &checksum_type) {
        set(&mut r, "x-amz-checksum-algorithm", a.name());
        set(&mut r, "x-amz-checksum-type", t);
    }
    Ok(r)
}

fn new_upload_id() -> String {
    let bytes: [u8; 24] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Load the unfinished upload named by `uploadId` and check it belongs to this bucket and key.
async fn load_upload(svc: &S3Service, ctx: &Ctx) -> S3Result<(UploadRow, UploadInfo)> {
    let (row, info) = load_any_upload(svc, ctx).await?;
    if row.completed.is_some() {
        return Err(S3Error::no_such_upload(&row.upload_id));
    }
    Ok((row, info))
}

/// Like [`load_upload`], but also returns completed uploads.
async fn load_any_upload(svc: &S3Service, ctx: &Ctx) -> S3Result<(UploadRow, UploadInfo)> {
    let id = ctx.route.q("uploadId").unwrap_or("");
    let row = svc
        .meta
        .get_upload(id)
        .await?
        .filter(|u| {
            Some(u.bucket.as_str()) == ctx.route.bucket.as_deref()
                && Some(u.key.as_str()) == ctx.route.key.as_deref()
        })
        .ok_or_else(|| S3Error::no_such_upload(id))?;
    let info: UploadInfo = serde_json::from_str(&row.info)
        .map_err(|e| S3Error::internal(format!("bad upload info: {e}")))?;
    Ok((row, info))
}

fn part_number(ctx: &Ctx) -> S3Result<i32> {
    ctx.route
        .q("partNumber")
        .and_then(|p| p.parse::<i32>().ok())
        .filter(|n| (1..=10000).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })
}

pub(crate) async fn upload_part(
    svc: &S3Service,
    ctx: &mut Ctx,
    body: ReqBody,
) -> S3Result<Response<RespBody>> {
    let pn = part_number(ctx)?;
    let (upload, info) = load_upload(svc, ctx).await?;
    let mut plan = svc.ingest_plan(ctx)?;
    if plan.checksum.is_none() {
        plan.checksum = info.algo.map(|a| (a, None));
    }
    if let (Some(want), Some((got, _))) = (info.algo, &plan.checksum)
        && want != *got
    {
        return Err(S3Error::invalid_request(format!(
            "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
            want.name().to_ascii_lowercase(),
            got.name().to_ascii_lowercase()
        )));
    }
    plan.seal = info.seal(svc)?;
    let mut ticket = None;
    if !ctx.upload_rules.is_empty() {
        let others = svc.meta.parts_size_except(&upload.upload_id, pn).await?;
        if let Some(mut a) = svc
            .admit_upload(
                ctx,
                &crate::rules::Request {
                    bucket: &upload.bucket,
                    key: &upload.key,
                    len: plan.declared_len,
                    bound: None,
                    content_type: info.headers.content_type.as_deref(),
                    step: crate::rules::Step::Part {
                        others: others.max(0) as u64,
                    },
                },
            )
            .await?
        {
            a.shape(&mut plan);
            ticket = a.ticket;
        }
        // Part 1 starts the object: its first bytes are judged now (and again, whatever
        // the parts, at Complete).
        if pn == 1 {
            plan.sniff =
                svc.content_check_for(ctx, &upload.key, info.headers.content_type.as_deref());
        }
    }
    let got = ingest(body, plan, &svc.blobs).await?;
    let etag = hex::encode(got.md5);
    let ck = got.checksum.as_ref().map(|(_, raw)| checksum::b64(raw));
    let store = store_part(
        svc,
        &upload,
        pn,
        got.size,
        &etag,
        got.blob_id()
            .ok_or_else(|| S3Error::internal("a part was stored inline"))?,
        ck.clone(),
        ctx.now_ms(),
    );
    match ticket {
        Some(t) => t.commit(store).await?,
        None => store.await?,
    }
    let mut r = response::status(StatusCode::OK);
    set(&mut r, "etag", &format!("\"{etag}\""));
    info.headers.respond_sse(&mut r);
    if let (Some((a, _)), Some(v)) = (&got.checksum, &ck) {
        set(&mut r, a.header(), v);
    }
    Ok(r)
}

#[allow(clippy::too_many_arguments)]
async fn store_part(
    svc: &S3Service,
    upload: &UploadRow,
    pn: i32,
    size: u64,
    etag: &str,
    blob: &BlobId,
    checksum: Option<String>,
    now_ms: i64,
) -> S3Result<()> {
    let row = PartRow {
        upload_id: upload.upload_id.clone(),
        part_number: pn,
        size: size as i64,
        etag: etag.to_owned(),
        blob_id: blob.to_string(),
        checksum,
        last_modified_ms: now_ms,
    };
    match svc.meta.put_part(&row).await {
        Ok(old) => {
            if let Some(old) = old {
                svc.discard_blobs(&upload.bucket, vec![old]);
            }
            Ok(())
        }
        Err(e) => {
            svc.discard_now(blob).await;
            match e {
                MetaError::NotFound => Err(S3Error::no_such_upload(&upload.upload_id)),
                e => Err(e.into()),
            }
        }
    }
}

pub(crate) async fn upload_part_copy(svc: &S3Service, ctx: &Ctx) -> S3Result<Response<RespBody>> {
    let pn = part_number(ctx)?;
    let (upload, info) = load_upload(svc, ctx).await?;
    let src = crate::objects::load_copy_source(svc, ctx).await?;
    let size = src.size as u64;
    let (from, len) = match ctx.header("x-amz-copy-source-range") {
        None => (0, size),
        Some(r) => {
            let bad = || {
                S3Error::new(
                    "InvalidRange",
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "The requested range is not satisfiable",
                )
            };
            let spec = r.trim().strip_prefix("bytes=").ok_or_else(|| {
                S3Error::invalid_argument("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
            })?;
            let syntax = || {
                S3Error::invalid_argument(
                    "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
                )
            };
            let (a, b) = spec.split_once('-').ok_or_else(syntax)?;
            let a: u64 = a.parse().map_err(|_| syntax())?;
            let b: u64 = b.parse().map_err(|_| syntax())?;
            if a > b || b >= size {
                return Err(bad());
            }
            (a, b - a + 1)
        }
    };
    let layout = Layout::from_json(&src.layout)?;
    let seal = info.seal(svc)?;
    let mut ticket = None;
    if !ctx.upload_rules.is_empty() {
        let others = svc.meta.parts_size_except(&upload.upload_id, pn).await?;
        ticket = svc
            .admit_upload(
                ctx,
                &crate::rules::Request {
                    bucket: &upload.bucket,
                    key: &upload.key,
                    len: Some(len),
                    bound: None,
                    content_type: info.headers.content_type.as_deref(),
                    step: crate::rules::Step::Part {
                        others: others.max(0) as u64,
                    },
                },
            )
            .await?
            .and_then(|a| a.ticket);
    }
    let crate::objects::Copied {
        blob,
        md5,
        checksum: ck,
        ..
    } = crate::objects::copy_bytes(svc, &layout, from, len, info.algo, &seal).await?;
    let etag = hex::encode(md5);
    let ckv = ck.as_deref().map(checksum::b64);
    let store = store_part(
        svc,
        &upload,
        pn,
        len,
        &etag,
        &blob,
        ckv.clone(),
        ctx.now_ms(),
    );
    match ticket {
        Some(t) => t.commit(store).await?,
        None => store.await?,
    }
    let mut x = start("CopyPartResult");
    elem(&mut x, "LastModified", &iso8601(ctx.now_ms()));
    elem(&mut x, "ETag", &format!("\"{etag}\""));
    if let (Some(a), Some(v)) = (info.algo, &ckv) {
        elem(&mut x, a.xml_name(), v);
    }
    let mut r = xml(end(x, "CopyPartResult"));
    info.headers.respond_sse(&mut r);
    Ok(r)
}

#[derive(Deserialize)]
struct CompleteXml {
    #[serde(rename = "Part", default)]
    parts: Vec<CompletePartXml>,
}

#[derive(Deserialize)]
struct CompletePartXml {
    #[serde(rename = "PartNumber")]
    part_number: i32,
    #[serde(rename = "ETag")]
    etag: Option<String>,
    #[serde(rename = "ChecksumCRC32")]
    crc32: Option<String>,
    #[serde(rename = "ChecksumCRC32C")]
    crc32c: Option<String>,
    #[serde(rename = "ChecksumCRC64NVME")]
    crc64: Option<String>,
    #[serde(rename = "ChecksumSHA1")]
    sha1: Option<String>,
    #[serde(rename = "ChecksumSHA256")]
    sha256: Option<String>,
}

impl CompletePartXml {
    fn checksum(&self, algo: Algo) -> Option<&str> {
        match algo {
            Algo::Crc32 => self.crc32.as_deref(),
            Algo::Crc32c => self.crc32c.as_deref(),
            Algo::Crc64Nvme => self.crc64.as_deref(),
            Algo::Sha1 => self.sha1.as_deref(),
            Algo::Sha256 => self.sha256.as_deref(),
        }
    }
}

fn invalid_part() -> S3Error {
    S3Error::new(
        "InvalidPart",
        StatusCode::BAD_REQUEST,
        "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
    )
}

pub(crate) async fn complete(
    svc: &S3Service,
    ctx: &Ctx,
    body: ReqBody,
) -> S3Result<Response<RespBody>> {
    let (upload, info) = load_any_upload(svc, ctx).await?;
    let raw = read_small(body, 4 * 1024 * 1024).await?;
    if let Some(result) = upload.completed {
        // Completing again answers as the first Complete did (clients retry on timeouts).
        return Ok(xml(result));
    }
    let req: CompleteXml = crate::xml::parse(&raw)?;
    if req.parts.is_empty() {
        return Err(S3Error::new(
            "MalformedXML",
            StatusCode::BAD_REQUEST,
            "The XML you provided was not well-formed or did not validate against our published schema",
        ));
    }
    if req.parts.len() > 10000 {
        return Err(S3Error::malformed_xml());
    }
    if req
        .parts
        .windows(2)
        .any(|w| w[0].part_number > w[1].part_number)
    {
        return Err(S3Error::new(
            "InvalidPartOrder",
            StatusCode::BAD_REQUEST,
            "The list of parts was not in ascending order. Parts list must be specified in order by part number.",
        ));
    }
    // A part number listed twice (a client that re-sent a part) counts once: the last entry.
    let mut listed: Vec<&CompletePartXml> = Vec::with_capacity(req.parts.len());
    for p in &req.parts {
        if listed
            .last()
            .is_some_and(|l| l.part_number == p.part_number)
        {
            listed.pop();
        }
        listed.push(p);
    }
    let stored = svc.meta.list_parts(&upload.upload_id, 0, 10001).await?;
    let mut chosen: Vec<&PartRow> = Vec::with_capacity(listed.len());
    for p in listed {
        let part = stored
            .iter()
            .find(|s| s.part_number == p.part_number)
            .ok_or_else(invalid_part)?;
        if let Some(e) = &p.etag
            && e.trim().trim_matches('"') != part.etag
        {
            return Err(invalid_part());
        }
        if let Some(a) = info.algo
            && let Some(v) = p.checksum(a)
            && Some(v) != part.checksum.as_deref()
        {
            return Err(S3Error::new(
                "InvalidPart",
                StatusCode::BAD_REQUEST,
                format!(
                    "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag. Checksum{} mismatch",
                    a.name()
                ),
            ));
        }
        chosen.push(part);
    }
    let last = chosen.len() - 1;
    for (i, p) in chosen.iter().enumerate() {
        if i < last && (p.size as u64) < MIN_PART {
            return Err(S3Error::new(
                "EntityTooSmall",
                StatusCode::BAD_REQUEST,
                "Your proposed upload is smaller than the minimum allowed object size.",
            )
            .with("ProposedSize", p.size.to_string())
            .with("MinSizeAllowed", MIN_PART.to_string())
            .with("PartNumber", p.part_number.to_string())
            .with("ETag", format!("\"{}\"", p.etag)));
        }
    }
    // ETag: MD5 over the parts' binary MD5s, then "-N".
    let mut md5 = md5::Md5::new();
    for p in &chosen {
        md5.update(hex::decode(&p.etag).map_err(|_| S3Error::internal("bad part etag"))?);
    }
    let etag = format!("{}-{}", hex::encode(md5.finalize()), chosen.len());
    let size: u64 = chosen.iter().map(|p| p.size as u64).sum();
    let stored_ck = match (info.algo, info.checksum_type.as_deref()) {
        (Some(a), Some(kind)) => {
            let raws: Option<Vec<(Vec<u8>, u64)>> = chosen
                .iter()
                .map(|p| {
                    p.checksum
                        .as_deref()
                        .and_then(|c| checksum::decode(a, c))
                        .map(|r| (r, p.size as u64))
                })
                .collect();
            match raws {
                Some(raws) if kind == "FULL_OBJECT" => {
                    checksum::combine_crc(a, &raws).map(|v| Stored {
                        algo: a,
                        value: checksum::b64(&v),
                        kind: kind.to_owned(),
                    })
                }
                Some(raws) => {
                    let concat: Vec<u8> = raws.iter().flat_map(|(r, _)| r.clone()).collect();
                    Some(Stored {
                        algo: a,
                        value: format!(
                            "{}-{}",
                            checksum::b64(&checksum::digest(a, &concat)),
                            chosen.len()
                        ),
                        kind: kind.to_owned(),
                    })
                }
                None => None,
            }
        }
        _ => None,
    };
    if let (Some(c), Some(v)) = (
        &stored_ck,
        stored_ck.as_ref().and_then(|c| ctx.header(c.algo.header())),
    ) && c.value.split('-').next() != v.split('-').next()
    {
        return Err(S3Error::bad_digest());
    }
    let layout = Layout {
        blobs: chosen
            .iter()
            .map(|p| crate::objects::BlobRef {
                id: p.blob_id.clone(),
                size: p.size as u64,
                // Every part of an encrypted upload was sealed under the upload's data key.
                sse: info.sse.as_ref().and_then(|u| {
                    BlobId::parse(&p.blob_id).map(|id| cubby_blob::sse::part_info(u, &id))
                }),
            })
            .collect(),
        parts: chosen
            .iter()
            .map(|p| PartInfo {
                size: p.size as u64,
                etag: p.etag.clone(),
                checksum: p.checksum.clone(),
            })
            .collect(),
        inline: None,
    };
    let used: Vec<String> = layout.blob_ids();
    if !ctx.upload_rules.is_empty() {
        // The object as a whole: its size, and what its first bytes are (whichever parts
        // were chosen, the first is judged here).
        svc.admit_upload(
            ctx,
            &crate::rules::Request {
                bucket: &upload.bucket,
                key: &upload.key,
                len: Some(size),
                bound: None,
                content_type: info.headers.content_type.as_deref(),
                step: crate::rules::Step::Complete,
            },
        )
        .await?;
        if let Some(check) =
            svc.content_check_for(ctx, &upload.key, info.headers.content_type.as_deref())
        {
            let head =
                crate::objects::read_head(svc, &layout, size, cubby_rules::sniff::SNIFF_LEN as u64)
                    .await?;
            check.check(&head)?;
        }
    }
    let row = ObjectRow {
        bucket: upload.bucket.clone(),
        key: upload.key.clone(),
        version_id: None,
        size: size as i64,
        etag: etag.clone(),
        last_modified_ms: ctx.now_ms(),
        headers: info.headers.to_json(),
        checksum: stored_ck
            .as_ref()
            .and_then(|c| serde_json::to_string(c).ok()),
        layout: layout.to_json(),
        // The object counts against whoever started the upload.
        owner: upload.owner.clone(),
    };
    let mut x = start("CompleteMultipartUploadResult");
    elem(
        &mut x,
        "Location",
        &format!("/{}/{}", upload.bucket, upload.key),
    );
    elem(&mut x, "Bucket", &upload.bucket);
    elem(&mut x, "Key", &upload.key);
    elem(&mut x, "ETag", &format!("\"{etag}\""));
    if let Some(c) = &stored_ck {
        elem(&mut x, c.algo.xml_name(), &c.value);
        elem(&mut x, "ChecksumType", &c.kind);
    }
    let result = end(x, "CompleteMultipartUploadResult");
    let pre = crate::objects::write_precondition(ctx);
    let events = crate::notify::events_for(
        svc,
        ctx,
        &crate::notify::Change {
            name: "ObjectCreated:CompleteMultipartUpload",
            bucket: &row.bucket,
            key: &row.key,
            size: Some(row.size),
            etag: Some(&row.etag),
        },
    );
    match svc
        .meta
        .complete_upload(&upload.upload_id, &row, &pre, &used, &result, &events)
        .await
    {
        Ok((outcome, unused)) => {
            svc.discard_blobs(&row.bucket, unused);
            if let Some(old) = outcome.replaced_layout {
                svc.discard_blobs(&row.bucket, Layout::blob_ids_in(&old)?);
            }
        }
        Err(MetaError::NotFound) if matches!(pre, cubby_meta::Precondition::EtagMatches(_)) => {
            // Either the upload vanished or If-Match named a key that does not exist.
            return Err(match svc.meta.get_upload(&upload.upload_id).await? {
                Some(_) => S3Error::no_such_key(&upload.key),
                None => S3Error::no_such_upload(&upload.upload_id),
            });
        }
        Err(MetaError::NotFound) => return Err(S3Error::no_such_upload(&upload.upload_id)),
        Err(MetaError::PreconditionFailed) => return Err(crate::objects::precondition_error(&pre)),
        Err(e) => return Err(e.into()),
    }
    let mut r = xml(result);
    info.headers.respond_sse(&mut r);
    Ok(r)
}

pub(crate) async fn abort(svc: &S3Service, ctx: &Ctx) -> S3Result<Response<RespBody>> {
    let (upload, _) = load_upload(svc, ctx).await?;
    match svc.meta.abort_upload(&upload.upload_id).await {
        Ok(blobs) => {
            svc.discard_blobs(&upload.bucket, blobs);
            Ok(response::status(StatusCode::NO_CONTENT))
        }
        Err(MetaError::NotFound) => Err(S3Error::no_such_upload(&upload.upload_id)),
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn list_parts(svc: &S3Service, ctx: &Ctx) -> S3Result<Response<RespBody>> {
    let (upload, info) = load_upload(svc, ctx).await?;
    let marker: i32 = ctx
        .route
        .q("part-number-marker")
        .map(|v| {
            v.parse()
                .map_err(|_| S3Error::invalid_argument("Invalid part-number-marker"))
        })
        .transpose()?
        .unwrap_or(0);
    let max: i64 = ctx
        .route
        .q("max-parts")
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| S3Error::invalid_argument("Invalid max-parts"))
        })
        .transpose()?
        .unwrap_or(1000)
        .clamp(0, 1000);
    let mut parts = svc
        .meta
        .list_parts(&upload.upload_id, marker, max + 1)
        .await?;
    let truncated = parts.len() as i64 > max;
    parts.truncate(max as usize);
    let mut x = start("ListPartsResult");
    elem(&mut x, "Bucket", &upload.bucket);
    elem(&mut x, "Key", &upload.key);
    elem(&mut x, "UploadId", &upload.upload_id);
    elem(&mut x, "PartNumberMarker", &marker.to_string());
    if let Some(last) = parts.last() {
        elem(
            &mut x,
            "NextPartNumberMarker",
            &last.part_number.to_string(),
        );
    }
    elem(&mut x, "MaxParts", &max.to_string());
    elem(
        &mut x,
        "IsTruncated",
        if truncated { "true" } else { "false" },
    );
    owner_elems(svc, &mut x, &info);
    elem(&mut x, "StorageClass", "STANDARD");
    if let Some(a) = info.algo {
        elem(&mut x, "ChecksumAlgorithm", a.name());
    }
    if let Some(t) = &info.checksum_type {
        elem(&mut x, "ChecksumType", t);
    }
    for p in &parts {
        x.push_str("<Part>");
        elem(&mut x, "PartNumber", &p.part_number.to_string());
        elem(&mut x, "LastModified", &iso8601(p.last_modified_ms));
        elem(&mut x, "ETag", &format!("\"{}\"", p.etag));
        elem(&mut x, "Size", &p.size.to_string());
        if let (Some(a), Some(c)) = (info.algo, &p.checksum) {
            elem(&mut x, a.xml_name(), c);
        }
        x.push_str("</Part>");
    }
    Ok(xml(end(x, "ListPartsResult")))
}

fn owner_elems(svc: &S3Service, x: &mut String, info: &UploadInfo) {
    x.push_str("<Initiator>");
    elem(x, "ID", &info.initiator_arn);
    elem(x, "DisplayName", &info.initiator_name);
    x.push_str("</Initiator><Owner>");
    elem(x, "ID", &crate::buckets::owner_id(svc));
    elem(x, "DisplayName", "cubby");
    x.push_str("</Owner>");
}

pub(crate) async fn list_uploads(svc: &S3Service, ctx: &Ctx) -> S3Result<Response<RespBody>> {
    let bucket = ctx.bucket()?;
    let prefix = ctx.route.q("prefix").unwrap_or("");
    let delimiter = ctx.route.q("delimiter").unwrap_or("");
    let key_marker = ctx.route.q("key-marker").unwrap_or("");
    let id_marker = ctx.route.q("upload-id-marker").unwrap_or("");
    let max: usize = ctx
        .route
        .q("max-uploads")
        .map(|v| {
            v.parse::<usize>()
                .map_err(|_| S3Error::invalid_argument("Invalid max-uploads"))
        })
        .transpose()?
        .unwrap_or(1000)
        .min(1000);
    let upper = prefix_end(prefix.as_bytes());
    let from = if key_marker.as_bytes() > prefix.as_bytes() {
        key_marker.as_bytes().to_vec()
    } else {
        prefix.as_bytes().to_vec()
    };
    // Unfinished uploads are few; one bounded query and filtering here keeps this simple.
    let rows = svc
        .meta
        .list_uploads(bucket, &from, upper.as_deref(), 100_000)
        .await?;
    let mut uploads = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut truncated = false;
    let mut last: Option<(String, String)> = None;
    for u in rows {
        if !key_marker.is_empty() {
            let after = if id_marker.is_empty() {
                u.key.as_str() > key_marker
            } else {
                (u.key.as_str(), u.upload_id.as_str()) > (key_marker, id_marker)
            };
            if !after {
                continue;
            }
        }
        let rest = u.key.get(prefix.len()..).unwrap_or("");
        let cp = (!delimiter.is_empty())
            .then(|| rest.find(delimiter))
            .flatten()
            .map(|i| format!("{prefix}{}", &rest[..i + delimiter.len()]));
        if let Some(cp) = &cp
            && prefixes.last() == Some(cp)
        {
            continue;
        }
        if uploads.len() + prefixes.len() == max {
            truncated = true;
            break;
        }
        match cp {
            Some(cp) => {
                last = Some((cp.clone(), String::new()));
                prefixes.push(cp);
            }
            None => {
                last = Some((u.key.clone(), u.upload_id.clone()));
                uploads.push(u);
            }
        }
    }
    let mut x = start("ListMultipartUploadsResult");
    elem(&mut x, "Bucket", bucket);
    elem(&mut x, "KeyMarker", key_marker);
    elem(&mut x, "UploadIdMarker", id_marker);
    if truncated && let Some((k, id)) = &last {
        elem(&mut x, "NextKeyMarker", k);
        elem(&mut x, "NextUploadIdMarker", id);
    }
    elem(&mut x, "Prefix", prefix);
    if !delimiter.is_empty() {
        elem(&mut x, "Delimiter", delimiter);
    }
    elem(&mut x, "MaxUploads", &max.to_string());
    elem(
        &mut x,
        "IsTruncated",
        if truncated { "true" } else { "false" },
    );
    for u in &uploads {
        let info: Option<UploadInfo> = serde_json::from_str(&u.info).ok();
        x.push_str("<Upload>");
        elem(&mut x, "Key", &u.key);
        elem(&mut x, "UploadId", &u.upload_id);
        if let Some(info) = &info {
            owner_elems(svc, &mut x, info);
            if let Some(a) = info.algo {
                elem(&mut x, "ChecksumAlgorithm", a.name());
            }
        }
        elem(&mut x, "StorageClass", "STANDARD");
        elem(&mut x, "Initiated", &iso8601(u.initiated_ms));
        x.push_str("</Upload>");
    }
    for p in &prefixes {
        x.push_str("<CommonPrefixes>");
        elem(&mut x, "Prefix", p);
        x.push_str("</CommonPrefixes>");
    }
    Ok(xml(end(x, "ListMultipartUploadsResult")))
}
