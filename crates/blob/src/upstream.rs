//! The upstream backend: blobs are objects `<prefix>/<2 hex>/<id>` in an `object_store` store
//! (today S3 and S3-compatible stores, another cubby included).
//!
//! The rest of cubby writes and reads blobs synchronously on blocking worker threads (hashing
//! and encryption run there). This backend bridges to `object_store`'s async API with the
//! runtime [`Handle`] captured when the store was opened: `Handle::block_on` is allowed on a
//! `spawn_blocking` thread (never on a runtime thread, so the synchronous methods here must
//! only be called from blocking threads, as the filesystem backend already requires).

use crate::{BlobError, BlobId};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;

/// Below this size a blob is one PUT; above it, a multipart upload of parts this size.
/// 8 MiB: above S3's 5 MiB minimum part size, and 10,000 parts (S3's cap) reach 80 GB.
pub const DEFAULT_PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts in flight per blob. Together with the part being filled this bounds the memory of
/// one upload at `(concurrency + 1) * part_size`.
pub const DEFAULT_CONCURRENCY: usize = 2;
/// Default sweep grace of a shared upstream: nodes sharing it commit blobs before their
/// metadata rows, so a young unreferenced blob may be another node's upload in progress.
pub const DEFAULT_SWEEP_GRACE: Duration = Duration::from_secs(3600);

/// Connection settings of an upstream S3-compatible store, parsed from a `--blob-url`.
/// (`Debug` leaves the secrets out.)
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Options {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix (without leading or trailing `/`); may be empty.
    pub prefix: String,
    /// Endpoint URL (`http://host:port`); default: AWS for the region.
    pub endpoint: Option<String>,
    /// Region (SigV4 scope).
    pub region: Option<String>,
    /// Access key id; default: the standard AWS environment/instance credential chain.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Session token for temporary credentials.
    pub session_token: Option<String>,
    /// Allow plain-HTTP endpoints (default: true when the endpoint is `http://…`).
    pub allow_http: Option<bool>,
    /// Virtual-hosted-style requests (`bucket.host`); default path-style (`host/bucket`).
    pub virtual_hosted: bool,
    /// Part size of multipart uploads to the upstream, and the single-PUT threshold.
    pub part_size: usize,
    /// Parts in flight per blob.
    pub concurrency: usize,
    /// The start-up sweep leaves unreferenced blobs younger than this alone.
    pub sweep_grace: Duration,
}

impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Options")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("virtual_hosted", &self.virtual_hosted)
            .field("part_size", &self.part_size)
            .field("concurrency", &self.concurrency)
            .field("sweep_grace", &self.sweep_grace)
            .finish_non_exhaustive()
    }
}

impl S3Options {
    /// Parse `s3://bucket/prefix?endpoint=…&region=…&allow_http=…&virtual_hosted=…&part_size=…&sweep_grace=…`;
    /// `env` supplies `CUBBY_BLOB_ENDPOINT`, `CUBBY_BLOB_REGION` (query parameters win) and the
    /// credentials `CUBBY_BLOB_ACCESS_KEY_ID`, `CUBBY_BLOB_SECRET_ACCESS_KEY`,
    /// `CUBBY_BLOB_SESSION_TOKEN` (environment only: a URL ends up in process lists and logs).
    pub fn parse(url: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, BlobError> {
        let bad = |m: String| BlobError::Config(m);
        let u = url::Url::parse(url).map_err(|e| bad(format!("blob URL {url:?}: {e}")))?;
        if u.scheme() != "s3" {
            return Err(bad(format!(
                "blob URL {url:?}: expected s3://bucket/prefix"
            )));
        }
        let bucket = u.host_str().unwrap_or_default().to_owned();
        if bucket.is_empty() {
            return Err(bad(format!("blob URL {url:?}: no bucket")));
        }
        let prefix = u.path().trim_matches('/').to_owned();
        let mut o = S3Options {
            bucket,
            prefix,
            endpoint: env("CUBBY_BLOB_ENDPOINT"),
            region: env("CUBBY_BLOB_REGION"),
            access_key_id: env("CUBBY_BLOB_ACCESS_KEY_ID"),
            secret_access_key: env("CUBBY_BLOB_SECRET_ACCESS_KEY"),
            session_token: env("CUBBY_BLOB_SESSION_TOKEN"),
            allow_http: None,
            virtual_hosted: false,
            part_size: DEFAULT_PART_SIZE,
            concurrency: DEFAULT_CONCURRENCY,
            sweep_grace: DEFAULT_SWEEP_GRACE,
        };
        let flag = |k: &str, v: &str| match v {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(bad(format!("blob URL: {k}={v:?} is not a boolean"))),
        };
        for (k, v) in u.query_pairs() {
            match &*k {
                "endpoint" => o.endpoint = Some(v.into_owned()),
                "region" => o.region = Some(v.into_owned()),
                "allow_http" => o.allow_http = Some(flag(&k, &v)?),
                "virtual_hosted" => o.virtual_hosted = flag(&k, &v)?,
                "part_size" => {
                    o.part_size = parse_size(&v)
                        .filter(|n| *n >= 5 * 1024 * 1024)
                        .ok_or_else(|| {
                            bad(format!("blob URL: part_size={v:?} (≥ 5 MiB, e.g. 16MiB)"))
                        })?;
                }
                "concurrency" => {
                    o.concurrency = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=64).contains(n))
                        .ok_or_else(|| bad(format!("blob URL: concurrency={v:?} (1–64)")))?;
                }
                "sweep_grace" => {
                    o.sweep_grace = Duration::from_secs(
                        v.trim_end_matches('s')
                            .parse()
                            .map_err(|_| bad(format!("blob URL: sweep_grace={v:?} (seconds)")))?,
                    );
                }
                "access_key_id" | "secret_access_key" | "session_token" => {
                    return Err(bad(format!(
                        "blob URL: pass {k} in the environment (CUBBY_BLOB_{}), not in the URL",
                        k.to_ascii_uppercase()
                    )));
                }
                _ => return Err(bad(format!("blob URL: unknown parameter {k:?}"))),
            }
        }
        Ok(o)
    }

    /// Build the `object_store` client.
    pub fn build(&self) -> Result<object_store::aws::AmazonS3, BlobError> {
        // `from_env` brings the standard AWS credential chain (env, web identity, instance
        // metadata) for deployments on AWS; explicit settings below override it.
        let mut b = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(&self.bucket)
            .with_virtual_hosted_style_request(self.virtual_hosted);
        if let Some(e) = &self.endpoint {
            b = b.with_endpoint(e);
        }
        let http = self.allow_http.unwrap_or_else(|| {
            self.endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://"))
        });
        b = b.with_allow_http(http);
        if let Some(r) = &self.region {
            b = b.with_region(r);
        }
        if let Some(k) = &self.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &self.secret_access_key {
            b = b.with_secret_access_key(s);
        }
        if let Some(t) = &self.session_token {
            b = b.with_token(t);
        }
        b.build()
            .map_err(|e| BlobError::Config(format!("upstream blob store: {e}")))
    }
}

/// `8388608`, `8MiB`, `8M`, `16mib`.
fn parse_size(s: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    let (num, mult) = if let Some(n) = lower.strip_suffix("mib").or(lower.strip_suffix('m')) {
        (n.to_owned(), 1024 * 1024)
    } else {
        (lower, 1)
    };
    num.trim().parse::<usize>().ok()?.checked_mul(mult)
}

/// An opened upstream store.
#[derive(Clone, Debug)]
pub(crate) struct Upstream {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    handle: Handle,
    part_size: usize,
    concurrency: usize,
}

fn upstream_err(id: &BlobId, e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound(id.clone()),
        e => BlobError::Upstream(Box::new(e)),
    }
}

impl Upstream {
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        part_size: usize,
        concurrency: usize,
    ) -> Result<Self, BlobError> {
        let handle = Handle::try_current().map_err(|_| {
            BlobError::Config("an upstream blob store must be opened inside a tokio runtime".into())
        })?;
        let prefix = Path::parse(prefix)
            .map_err(|e| BlobError::Config(format!("blob prefix {prefix:?}: {e}")))?;
        Ok(Upstream {
            store,
            prefix,
            handle,
            part_size: part_size.max(1),
            concurrency: concurrency.max(1),
        })
    }

    /// `<prefix>/<2 hex>/<id>`: hex shards spread keys, which some stores partition on.
    pub(crate) fn location(&self, id: &BlobId) -> Path {
        self.prefix.child(id.shard()).child(id.as_str())
    }

    pub(crate) fn writer(&self, id: &BlobId) -> UpstreamWriter {
        UpstreamWriter {
            up: self.clone(),
            location: self.location(id),
            buf: BytesMut::new(),
            multipart: None,
        }
    }

    /// A HEAD that must answer (found or not found): credentials, endpoint and bucket work.
    pub(crate) async fn probe(&self) -> Result<(), BlobError> {
        match self.store.head(&self.prefix.child(".cubby-ready")).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(BlobError::Upstream(Box::new(e))),
        }
    }

    pub(crate) async fn delete(&self, id: &BlobId) -> Result<(), BlobError> {
        match self.store.delete(&self.location(id)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(BlobError::Upstream(Box::new(e))),
        }
    }

    /// Blob ids under the prefix last modified before `before_ms` (Unix milliseconds).
    pub(crate) async fn list(&self, before_ms: i64) -> Result<Vec<BlobId>, BlobError> {
        let mut out = Vec::new();
        let mut s = self.store.list(Some(&self.prefix));
        while let Some(m) = s.next().await {
            let m = m.map_err(|e| BlobError::Upstream(Box::new(e)))?;
            if m.last_modified.timestamp_millis() >= before_ms {
                continue;
            }
            if let Some(id) = m.location.filename().and_then(BlobId::parse) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// A ranged GET of stored bytes `[from, from + len)` as a stream (`len` > 0).
    pub(crate) async fn get_range(
        &self,
        id: &BlobId,
        from: u64,
        len: u64,
    ) -> Result<BoxStream<'static, object_store::Result<Bytes>>, BlobError> {
        let opts = GetOptions {
            range: Some(GetRange::Bounded(from..from + len)),
            ..GetOptions::default()
        };
        let r = self
            .store
            .get_opts(&self.location(id), opts)
            .await
            .map_err(|e| upstream_err(id, e))?;
        Ok(r.into_stream())
    }

    /// Async stream of stored bytes `[from, from + len)`.
    pub(crate) async fn read_stream(
        &self,
        id: &BlobId,
        from: u64,
        len: u64,
    ) -> Result<BoxStream<'static, io::Result<Bytes>>, BlobError> {
        if len == 0 {
            return Ok(futures_util::stream::empty().boxed());
        }
        let s = self.get_range(id, from, len).await?;
        Ok(s.map(|r| r.map_err(io::Error::other)).boxed())
    }

    /// Synchronous reader of stored bytes `[from, end)` (blocking threads only).
    pub(crate) fn reader(
        &self,
        id: &BlobId,
        from: u64,
        end: u64,
    ) -> Result<RangeReader, BlobError> {
        let mut r = RangeReader {
            up: self.clone(),
            id: id.clone(),
            pos: from,
            end,
            stream: None,
            chunk: Bytes::new(),
        };
        // Open eagerly so that a missing blob is `NotFound`, not an I/O error mid-read.
        if end > from {
            r.stream = Some(self.handle.block_on(self.get_range(id, from, end - from))?);
        }
        Ok(r)
    }
}

/// Blocking `Read + Seek` over ranged GETs; the SSE segment reader seeks once and then reads
/// sequentially, so a seek just starts a new GET.
pub(crate) struct RangeReader {
    up: Upstream,
    id: BlobId,
    pos: u64,
    end: u64,
    stream: Option<BoxStream<'static, object_store::Result<Bytes>>>,
    chunk: Bytes,
}

impl io::Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.chunk.is_empty() {
                let n = buf.len().min(self.chunk.len());
                let head = self.chunk.split_to(n);
                if let Some(dst) = buf.get_mut(..n) {
                    dst.copy_from_slice(&head);
                }
                self.pos += n as u64;
                return Ok(n);
            }
            if self.pos >= self.end {
                return Ok(0);
            }
            if self.stream.is_none() {
                let s = self
                    .up
                    .handle
                    .block_on(self.up.get_range(&self.id, self.pos, self.end - self.pos))
                    .map_err(io::Error::other)?;
                self.stream = Some(s);
            }
            let next = match self.stream.as_mut() {
                Some(s) => self.up.handle.block_on(s.next()),
                None => None,
            };
            match next {
                Some(Ok(b)) => self.chunk = b,
                Some(Err(e)) => return Err(io::Error::other(e)),
                // The upstream sent less than asked: the stored blob is shorter than
                // metadata says. End of data here; callers that need the bytes report it.
                None => return Ok(0),
            }
        }
    }
}

impl io::Seek for RangeReader {
    fn seek(&mut self, to: io::SeekFrom) -> io::Result<u64> {
        let io::SeekFrom::Start(p) = to else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "upstream blob reader seeks from the start only",
            ));
        };
        if p != self.pos {
            self.pos = p;
            self.stream = None;
            self.chunk = Bytes::new();
        }
        Ok(p)
    }
}

/// The upstream half of a [`crate::BlobWriter`]: bytes are buffered up to one part; a blob
/// that stays below it is a single PUT at commit, a larger one becomes a multipart upload
/// whose parts go out while the body is still arriving.
pub(crate) struct UpstreamWriter {
    up: Upstream,
    location: Path,
    buf: BytesMut,
    multipart: Option<WriteMultipart>,
}

impl std::fmt::Debug for UpstreamWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamWriter")
            .field("location", &self.location)
            .field("buffered", &self.buf.len())
            .field("multipart", &self.multipart.is_some())
            .finish()
    }
}

impl UpstreamWriter {
    /// Append stored bytes (blocking threads only).
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let h = self.up.handle.clone();
        if self.multipart.is_none() {
            if self.buf.len() + data.len() <= self.up.part_size {
                self.buf.extend_from_slice(data);
                return Ok(());
            }
            let upload = h
                .block_on(self.up.store.put_multipart(&self.location))
                .map_err(io::Error::other)?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, self.up.part_size);
            let first = std::mem::take(&mut self.buf).freeze();
            // Part uploads are spawned as tasks: they need the runtime's context.
            let _rt = h.enter();
            w.put(first);
            self.multipart = Some(w);
        }
        let Some(w) = self.multipart.as_mut() else {
            return Err(io::Error::other("multipart upload missing"));
        };
        // Back-pressure: at most `concurrency` parts in flight, so memory stays bounded and
        // a slow upstream slows the client down instead of filling RAM.
        h.block_on(w.wait_for_capacity(self.up.concurrency))
            .map_err(io::Error::other)?;
        let _rt = h.enter();
        w.write(data);
        Ok(())
    }

    /// Finish: the single PUT, or the last part and CompleteMultipartUpload. Returns once the
    /// upstream acknowledged, which is what makes the blob committed.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        let h = self.up.handle.clone();
        match self.multipart.take() {
            Some(w) => {
                // On failure `finish` aborts the upload itself.
                h.block_on(w.finish()).map_err(io::Error::other)?;
            }
            None => {
                let body = PutPayload::from(std::mem::take(&mut self.buf).freeze());
                h.block_on(self.up.store.put(&self.location, body))
                    .map_err(io::Error::other)?;
            }
        }
        Ok(())
    }
}

impl Drop for UpstreamWriter {
    /// An abandoned writer aborts its multipart upload so the upstream keeps no parts. Drop
    /// may run on a runtime thread (a failed checksum drops the writer in async code), so the
    /// abort is a spawned task, never a `block_on`.
    fn drop(&mut self) {
        if let Some(w) = self.multipart.take() {
            let location = self.location.clone();
            self.up.handle.spawn(async move {
                if let Err(e) = w.abort().await {
                    tracing::warn!(%location, error = %e, "aborting an upstream multipart upload failed");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_url_and_env() {
        let env = |k: &str| match k {
            "CUBBY_BLOB_ACCESS_KEY_ID" => Some("AK".to_owned()),
            "CUBBY_BLOB_SECRET_ACCESS_KEY" => Some("SK".to_owned()),
            "CUBBY_BLOB_REGION" => Some("eu-west-1".to_owned()),
            _ => None,
        };
        let o = S3Options::parse(
            "s3://bkt/some/prefix/?endpoint=http://127.0.0.1:9100&part_size=16MiB&sweep_grace=60",
            env,
        )
        .unwrap();
        assert_eq!(o.bucket, "bkt");
        assert_eq!(o.prefix, "some/prefix");
        assert_eq!(o.endpoint.as_deref(), Some("http://127.0.0.1:9100"));
        assert_eq!(o.region.as_deref(), Some("eu-west-1"));
        assert_eq!(o.access_key_id.as_deref(), Some("AK"));
        assert_eq!(o.part_size, 16 * 1024 * 1024);
        assert_eq!(o.sweep_grace, Duration::from_secs(60));
        o.build().unwrap();

        let none = |_: &str| None;
        assert!(S3Options::parse("s3:///p", none).is_err());
        assert!(S3Options::parse("file:///p", none).is_err());
        assert!(S3Options::parse("s3://b/p?part_size=1M", none).is_err());
        assert!(S3Options::parse("s3://b/p?secret_access_key=x", none).is_err());
        assert!(S3Options::parse("s3://b/p?bogus=1", none).is_err());
        let o = S3Options::parse("s3://b", none).unwrap();
        assert_eq!(o.prefix, "");
        assert_eq!(o.sweep_grace, DEFAULT_SWEEP_GRACE);
    }
}
