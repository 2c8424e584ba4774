//! Request bodies: streamed into a blob while hashing (MD5 for the ETag, SHA-256 when the
//! payload is signed, the requested flexible checksum), off the async runtime's threads, with
//! aws-chunked decoding and size limits. Nothing becomes visible unless every check passes.

use crate::checksum::{Algo, Hasher};
use crate::{S3Error, S3Result};
use bytes::{Bytes, BytesMut};
use cubby_auth::chunked::ChunkedDecoder;
use cubby_blob::{BlobId, FsBlobStore};
use http::StatusCode;
use http_body_util::BodyExt;
use md5::Digest as _;

/// Boxed error type of request bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The request body type the service accepts.
pub type ReqBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;
/// The response body type the service produces.
pub type RespBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::io::Error>;

/// How the payload is protected.
pub(crate) enum Payload {
    /// `x-amz-content-sha256` carries the body's hash: verify it.
    Sha256([u8; 32]),
    /// No payload signature.
    Unsigned,
    /// aws-chunked framing (signed or not, with or without trailers).
    Chunked(Box<ChunkedDecoder>),
}

/// What to check while ingesting.
pub(crate) struct IngestPlan {
    pub payload: Payload,
    /// Decoded length announced by the client (Content-Length or x-amz-decoded-content-length).
    pub declared_len: Option<u64>,
    pub max_len: u64,
    pub content_md5: Option<[u8; 16]>,
    /// Checksum to compute, and the value to compare against when sent as a header.
    pub checksum: Option<(Algo, Option<Vec<u8>>)>,
    /// The signed `x-amz-trailer` header promised this checksum as a trailer: it must arrive.
    pub trailer_required: bool,
    /// Plaintext or SSE-S3 encrypted blob.
    pub seal: crate::sse::Seal,
    /// Upload rules' content check, run on the first bytes before any is written.
    pub sniff: Option<crate::rules::ContentCheck>,
    /// The upload rule that set `max_len`, named when a body exceeds it.
    pub limit_rule: Option<String>,
    /// May a small unencrypted body be kept in the metadata row ([`INLINE_MAX`]) rather than
    /// a blob? Only where the caller stores an object row (PutObject), not parts.
    pub inline: bool,
}

/// Unencrypted PutObject bodies up to this size live in their object's metadata row (base64
/// in the layout JSON) instead of a blob file. A blob file costs a new inode, an fsync of the
/// file and one of its directory before the row's own commit; inline, the bytes are durable
/// with the row, in the same group-committed transaction. (A PUT of 4 KiB spent a third of its
/// server CPU allocating the inode.) Small enough that rows stay small; larger bodies, and
/// every SSE-S3 body (encryption at rest is for blob files), go to blobs.
pub const INLINE_MAX: u64 = 16 * 1024;

/// Where an ingested body was put.
pub(crate) enum Placed {
    /// A committed blob.
    Blob(BlobId),
    /// Kept in memory, to be stored in the object row.
    Inline(Bytes),
}

/// A verified body: in a committed blob, or in memory for the object row.
pub(crate) struct Ingested {
    pub placed: Placed,
    pub size: u64,
    pub md5: [u8; 16],
    pub checksum: Option<(Algo, Vec<u8>)>,
    /// Encryption parameters of an SSE-S3 blob.
    pub sse: Option<cubby_blob::sse::SealInfo>,
}

fn entity_too_large(max: u64, proposed: u64, rule: Option<&str>) -> S3Error {
    S3Error::new(
        "EntityTooLarge",
        StatusCode::BAD_REQUEST,
        match rule {
            Some(id) => format!(
                "Your proposed upload exceeds the maximum allowed size (upload rule '{id}')."
            ),
            None => "Your proposed upload exceeds the maximum allowed size".to_owned(),
        },
    )
    .with("ProposedSize", proposed.to_string())
    .with("MaxSizeAllowed", max.to_string())
}

fn incomplete() -> S3Error {
    S3Error::new(
        "IncompleteBody",
        StatusCode::BAD_REQUEST,
        "You did not provide the number of bytes specified by the Content-Length HTTP header.",
    )
}

impl Ingested {
    /// The blob, unless the body is inline.
    pub fn blob_id(&self) -> Option<&BlobId> {
        match &self.placed {
            Placed::Blob(id) => Some(id),
            Placed::Inline(_) => None,
        }
    }

    /// Blob ids to delete if the row that would reference them is not written.
    pub fn new_blobs(&self) -> Vec<String> {
        self.blob_id()
            .map(|id| id.to_string())
            .into_iter()
            .collect()
    }
}

struct WorkerResult {
    /// `None` for an inline body, which is in `inline`.
    writer: Option<cubby_blob::BlobWriter>,
    inline: BytesMut,
    size: u64,
    md5: [u8; 16],
    sha256: Option<[u8; 32]>,
    checksum: Option<(Algo, Vec<u8>)>,
    trailers: Vec<(String, String)>,
}

/// Bodies declared at most this long are read whole before any blob work starts, then
/// hashed, written, verified and committed in one job on a blocking thread: one hand-off
/// between threads instead of a channel wake-up per chunk and a second job for the commit.
/// (Thread hand-offs, not hashing, dominate the CPU of a small PUT.) Larger bodies stream.
const SMALL_BODY: u64 = 64 * 1024;

/// What the body's hashes and size must match, checked once it has been read.
struct Expect {
    sha256: Option<[u8; 32]>,
    content_md5: Option<[u8; 16]>,
    declared_len: Option<u64>,
    checksum: Option<Vec<u8>>,
    trailer_required: bool,
}

/// The work done on each decoded piece of the body: limits, hashes, content check, write.
struct Worker {
    /// `None`: keep the body in memory (inline).
    writer: Option<cubby_blob::BlobWriter>,
    decoder: Option<Box<ChunkedDecoder>>,
    want_sha: bool,
    /// Large signed bodies: SHA-256 is computed on this side thread instead.
    side_tx: Option<std::sync::mpsc::SyncSender<Bytes>>,
    checksum_algo: Option<Algo>,
    sniff: Option<crate::rules::ContentCheck>,
    max_len: u64,
    declared_len: Option<u64>,
    limit_rule: Option<String>,
}

impl Worker {
    /// Consume the raw body `chunks`. Blocking when writing a blob: hashing and file writes.
    fn run(self, chunks: impl Iterator<Item = Bytes>) -> S3Result<WorkerResult> {
        let Worker {
            mut writer,
            mut decoder,
            want_sha,
            side_tx,
            checksum_algo,
            sniff,
            max_len,
            declared_len,
            limit_rule,
        } = self;
        let mut md5 = md5::Md5::new();
        let mut sha = (want_sha && side_tx.is_none()).then(sha2::Sha256::new);
        let mut ck = checksum_algo.map(Hasher::new);
        let mut size: u64 = 0;
        let mut decoded = BytesMut::new();
        let mut inline = BytesMut::new();
        let mut put = |b: &[u8]| -> S3Result<()> {
            match writer.as_mut() {
                Some(w) => w.write_all(b)?,
                None => inline.extend_from_slice(b),
            }
            Ok(())
        };
        // With a content check, the first bytes wait here until it has passed: a refused body
        // never reaches the blob writer.
        let mut head: Option<(crate::rules::ContentCheck, BytesMut)> =
            sniff.map(|c| (c, BytesMut::new()));
        let mut consume = |data: Bytes, size: &mut u64| -> S3Result<()> {
            *size += data.len() as u64;
            if *size > max_len {
                return Err(entity_too_large(max_len, *size, limit_rule.as_deref()));
            }
            if let Some(d) = declared_len
                && *size > d
            {
                return Err(incomplete());
            }
            md5.update(&data);
            if let Some(s) = sha.as_mut() {
                sha2::Digest::update(s, &data);
            }
            if let Some(c) = ck.as_mut() {
                c.update(&data);
            }
            // Every byte is hashed as it arrives, held back by the content check or not.
            if let Some(t) = &side_tx {
                // A clone of `Bytes` is a reference count, not a copy.
                t.send(data.clone())
                    .map_err(|_| S3Error::internal("sha-256 thread stopped"))?;
            }
            if let Some((check, buf)) = head.as_mut() {
                buf.extend_from_slice(&data);
                if buf.len() < cubby_rules::sniff::SNIFF_LEN {
                    return Ok(());
                }
                check.check(buf)?;
                put(buf)?;
                head = None;
            } else {
                put(&data)?;
            }
            Ok(())
        };
        for chunk in chunks {
            match decoder.as_mut() {
                Some(dec) => {
                    dec.feed(&chunk, &mut decoded)?;
                    if !decoded.is_empty() {
                        let piece = decoded.split().freeze();
                        consume(piece, &mut size)?;
                    }
                }
                None => consume(chunk, &mut size)?,
            }
        }
        let mut trailers = Vec::new();
        if let Some(dec) = decoder.as_mut() {
            dec.finish()?;
            trailers = dec.trailers().to_vec();
        }
        // A body shorter than the sniffing window is judged on all of it.
        if let Some((check, buf)) = head.take() {
            check.check(&buf)?;
            put(&buf)?;
        }
        let md5: [u8; 16] = md5.finalize().into();
        Ok(WorkerResult {
            writer,
            inline,
            size,
            md5,
            sha256: sha.map(|s| sha2::Digest::finalize(s).into()),
            checksum: match (checksum_algo, ck) {
                (Some(a), Some(h)) => Some((a, h.finish())),
                _ => None,
            },
            trailers,
        })
    }
}

impl Expect {
    /// Every check a complete body must pass before its blob may be committed.
    fn verify(&self, result: &WorkerResult) -> S3Result<()> {
        if let Some(d) = self.declared_len
            && result.size != d
        {
            return Err(incomplete());
        }
        if let (Some(exp), Some(got)) = (self.sha256, result.sha256)
            && exp != got
        {
            return Err(S3Error::new(
                "XAmzContentSHA256Mismatch",
                StatusCode::BAD_REQUEST,
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
            .with("ClientComputedContentSHA256", hex::encode(exp))
            .with("S3ComputedContentSHA256", hex::encode(got)));
        }
        if let Some(md5) = self.content_md5
            && md5 != result.md5
        {
            return Err(S3Error::bad_digest());
        }
        if let Some((algo, got)) = &result.checksum {
            let expected = match &self.checksum {
                Some(v) => Some(v.clone()),
                None => result
                    .trailers
                    .iter()
                    .find(|(k, _)| k == algo.header())
                    .map(|(_, v)| {
                        crate::checksum::decode(*algo, v).ok_or_else(|| invalid_checksum(*algo))
                    })
                    .transpose()?,
            };
            if expected.is_none() && self.trailer_required {
                return Err(S3Error::new(
                    "MalformedTrailerError",
                    StatusCode::BAD_REQUEST,
                    "The request contained trailing data that was not well-formed or did not conform to our published schema.",
                ));
            }
            if let Some(exp) = expected
                && &exp != got
            {
                return Err(S3Error::new(
                    "BadDigest",
                    StatusCode::BAD_REQUEST,
                    format!(
                        "The {} you specified did not match the calculated checksum.",
                        algo.name()
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Read `body` whole if it ends within `limit` raw bytes. `Err(prefix)`: it is longer (or
/// failed to read); the frames read so far, for the streaming path to start with, and the
/// read error if that was why.
async fn read_whole(
    body: &mut ReqBody,
    limit: u64,
) -> Result<Vec<Bytes>, (Vec<Bytes>, Option<BoxError>)> {
    let mut chunks = Vec::new();
    let mut total = 0u64;
    while total <= limit {
        match body.frame().await {
            None => return Ok(chunks),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    total += data.len() as u64;
                    chunks.push(data);
                }
            }
            Some(Err(e)) => return Err((chunks, Some(e))),
        }
    }
    Err((chunks, None))
}

/// Stream `body` into a new blob, verify, and commit the blob durably.
pub(crate) async fn ingest(
    mut body: ReqBody,
    plan: IngestPlan,
    blobs: &FsBlobStore,
) -> S3Result<Ingested> {
    if let Some(len) = plan.declared_len
        && len > plan.max_len
    {
        return Err(entity_too_large(
            plan.max_len,
            len,
            plan.limit_rule.as_deref(),
        ));
    }
    let IngestPlan {
        payload,
        declared_len,
        max_len,
        content_md5,
        checksum,
        trailer_required,
        seal,
        sniff,
        limit_rule,
        inline,
    } = plan;
    let want_sha = matches!(payload, Payload::Sha256(_));
    let expect = Expect {
        sha256: match &payload {
            Payload::Sha256(h) => Some(*h),
            _ => None,
        },
        content_md5,
        declared_len,
        checksum: checksum.as_ref().and_then(|(_, v)| v.clone()),
        trailer_required,
    };
    let decoder = match payload {
        Payload::Chunked(d) => Some(d),
        _ => None,
    };
    let checksum_algo = checksum.as_ref().map(|(a, _)| *a);

    // No writer yet: one is made below unless the body ends up inline.
    let worker = Worker {
        writer: None,
        decoder,
        want_sha,
        side_tx: None,
        checksum_algo,
        sniff,
        max_len,
        declared_len,
        limit_rule,
    };

    // A small body: read it all here, then one blocking job does the rest — or, when it may
    // be inline, nothing more than hashing it, here.
    let mut prefix = Vec::new();
    if let Some(len) = declared_len.filter(|l| *l <= SMALL_BODY) {
        // aws-chunked framing adds a few hundred bytes per chunk to the decoded length.
        let raw_limit = if worker.decoder.is_some() {
            2 * len + 4096
        } else {
            len
        };
        let in_row = inline && len <= INLINE_MAX && matches!(seal, crate::sse::Seal::Plain);
        match read_whole(&mut body, raw_limit).await {
            Ok(chunks) if in_row => {
                // At most INLINE_MAX bytes to hash: cheaper here than a hand-off to a thread.
                let result = worker.run(chunks.into_iter())?;
                expect.verify(&result)?;
                return Ok(Ingested {
                    placed: Placed::Inline(result.inline.freeze()),
                    size: result.size,
                    md5: result.md5,
                    checksum: result.checksum,
                    sse: None,
                });
            }
            Ok(chunks) => {
                let blobs = blobs.clone();
                return tokio::task::spawn_blocking(move || -> S3Result<Ingested> {
                    let (writer, sse) = seal.writer(&blobs)?;
                    let worker = Worker {
                        writer: Some(writer),
                        ..worker
                    };
                    let result = worker.run(chunks.into_iter())?;
                    expect.verify(&result)?;
                    Ok(Ingested {
                        placed: Placed::Blob(commit(result.writer)?),
                        size: result.size,
                        md5: result.md5,
                        checksum: result.checksum,
                        sse,
                    })
                })
                .await
                .map_err(|e| S3Error::internal(format!("ingest worker: {e}")))?;
            }
            Err((_, Some(e))) => {
                tracing::debug!(error = %e, "request body read failed");
                return Err(incomplete());
            }
            // Longer than declared: the streaming path finds out where, as for any body.
            Err((chunks, None)) => prefix = chunks,
        }
    }

    // Encryption, when asked for, happens inside the writer, on the worker thread below.
    let (writer, sse) = seal.writer(blobs)?;
    // Large signed bodies hash SHA-256 on a second thread, in parallel with MD5 and the write:
    // one core cannot do both at disk speed.
    let sha_side = (want_sha && declared_len.is_none_or(|l| l > 1024 * 1024)).then(|| {
        let (side_tx, side_rx) = std::sync::mpsc::sync_channel::<Bytes>(16);
        let handle = tokio::task::spawn_blocking(move || {
            let mut h = sha2::Sha256::new();
            while let Ok(b) = side_rx.recv() {
                sha2::Digest::update(&mut h, &b);
            }
            <[u8; 32]>::from(sha2::Digest::finalize(h))
        });
        (side_tx, handle)
    });
    let (side_tx, side_handle) = match sha_side {
        Some((t, h)) => (Some(t), Some(h)),
        None => (None, None),
    };
    let worker = Worker {
        writer: Some(writer),
        side_tx,
        ..worker
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    // The worker owns hashing, chunk decoding and file writes: CPU and blocking I/O stay off
    // the async runtime's threads, and the network read of the next chunk overlaps them.
    let worker = tokio::task::spawn_blocking(move || {
        worker.run(
            prefix
                .into_iter()
                .chain(std::iter::from_fn(|| rx.blocking_recv())),
        )
    });

    let mut read_err = None;
    loop {
        match body.frame().await {
            None => break,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data()
                    && tx.send(data).await.is_err()
                {
                    break; // worker failed; its error is reported below
                }
            }
            Some(Err(e)) => {
                read_err = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let mut result = worker
        .await
        .map_err(|e| S3Error::internal(format!("ingest worker: {e}")))??;
    if let Some(h) = side_handle {
        // The worker dropped its sender when it finished, which ends the side thread.
        result.sha256 = Some(
            h.await
                .map_err(|e| S3Error::internal(format!("sha-256 thread: {e}")))?,
        );
    }
    if let Some(e) = read_err {
        tracing::debug!(error = %e, "request body read failed");
        return Err(incomplete());
    }
    expect.verify(&result)?;
    let WorkerResult {
        writer,
        size,
        md5,
        checksum,
        ..
    } = result;
    let blob = tokio::task::spawn_blocking(move || commit(writer))
        .await
        .map_err(|e| S3Error::internal(format!("blob commit: {e}")))??;
    Ok(Ingested {
        placed: Placed::Blob(blob),
        size,
        md5,
        checksum,
        sse,
    })
}

/// Commit a worker's blob (blocking).
fn commit(writer: Option<cubby_blob::BlobWriter>) -> S3Result<BlobId> {
    let writer = writer.ok_or_else(|| S3Error::internal("no blob writer"))?;
    Ok(writer.commit()?)
}

/// A checksum value that is not valid base64 of the right length cannot match: BadDigest.
pub(crate) fn invalid_checksum(algo: Algo) -> S3Error {
    S3Error::new(
        "BadDigest",
        StatusCode::BAD_REQUEST,
        format!(
            "The {} you specified did not match the calculated checksum.",
            algo.name()
        ),
    )
}

/// Read a small request body (XML configuration, DeleteObjects) fully, up to `limit` bytes.
pub(crate) async fn read_small(mut body: ReqBody, limit: usize) -> S3Result<Bytes> {
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| incomplete())?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(S3Error::new(
                    "MaxMessageLengthExceeded",
                    StatusCode::BAD_REQUEST,
                    "Your request was too big.",
                ));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// A response body from bytes.
pub(crate) fn full(b: impl Into<Bytes>) -> RespBody {
    http_body_util::Full::new(b.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty response body.
pub(crate) fn empty() -> RespBody {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}
