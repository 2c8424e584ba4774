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
}

/// A body written to a committed blob.
pub(crate) struct Ingested {
    pub blob: BlobId,
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

struct WorkerResult {
    writer: cubby_blob::BlobWriter,
    size: u64,
    md5: [u8; 16],
    sha256: Option<[u8; 32]>,
    checksum: Option<(Algo, Vec<u8>)>,
    trailers: Vec<(String, String)>,
}

/// Stream `body` into a new blob, verify, and commit the blob durably.
pub(crate) async fn ingest(
    body: ReqBody,
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
    } = plan;
    let want_sha = matches!(payload, Payload::Sha256(_));
    let expected_sha = match &payload {
        Payload::Sha256(h) => Some(*h),
        _ => None,
    };
    let mut decoder = match payload {
        Payload::Chunked(d) => Some(d),
        _ => None,
    };
    let checksum_algo = checksum.as_ref().map(|(a, _)| *a);
    let checksum_expected = checksum.and_then(|(_, v)| v);

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
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    // The worker owns hashing, chunk decoding and file writes: CPU and blocking I/O stay off
    // the async runtime's threads, and the network read of the next chunk overlaps them.
    let worker = tokio::task::spawn_blocking(move || -> S3Result<WorkerResult> {
        let mut writer = writer;
        let mut md5 = md5::Md5::new();
        let mut sha = (want_sha && side_tx.is_none()).then(sha2::Sha256::new);
        let mut ck = checksum_algo.map(Hasher::new);
        let mut size: u64 = 0;
        let mut decoded = BytesMut::new();
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
            if let Some((check, buf)) = head.as_mut() {
                buf.extend_from_slice(&data);
                if buf.len() < cubby_rules::sniff::SNIFF_LEN {
                    return Ok(());
                }
                check.check(buf)?;
                writer.write_all(buf)?;
                head = None;
            } else {
                writer.write_all(&data)?;
            }
            if let Some(t) = &side_tx {
                // A clone of `Bytes` is a reference count, not a copy.
                t.send(data)
                    .map_err(|_| S3Error::internal("sha-256 thread stopped"))?;
            }
            Ok(())
        };
        while let Some(chunk) = rx.blocking_recv() {
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
            writer.write_all(&buf)?;
        }
        let md5: [u8; 16] = md5.finalize().into();
        Ok(WorkerResult {
            writer,
            size,
            md5,
            sha256: sha.map(|s| sha2::Digest::finalize(s).into()),
            checksum: match (checksum_algo, ck) {
                (Some(a), Some(h)) => Some((a, h.finish())),
                _ => None,
            },
            trailers,
        })
    });

    let mut body = body;
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
    if let Some(d) = declared_len
        && result.size != d
    {
        return Err(incomplete());
    }
    if let (Some(exp), Some(got)) = (expected_sha, result.sha256)
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
    if let Some(md5) = content_md5
        && md5 != result.md5
    {
        return Err(S3Error::bad_digest());
    }
    if let Some((algo, got)) = &result.checksum {
        let expected = match &checksum_expected {
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
        if expected.is_none() && trailer_required {
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
    let WorkerResult {
        writer,
        size,
        md5,
        checksum,
        ..
    } = result;
    let blob = tokio::task::spawn_blocking(move || writer.commit())
        .await
        .map_err(|e| S3Error::internal(format!("blob commit: {e}")))??;
    Ok(Ingested {
        blob,
        size,
        md5,
        checksum,
        sse,
    })
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
