//! Blob storage: object bytes live in blobs named by a random id, never by the object key.
//!
//! Two backends behind one [`BlobStore`]: the local filesystem (the default) and an upstream
//! object store (`--blob-url s3://bucket/prefix`, see [`upstream`]), where blob `id` is the
//! object `<prefix>/<2 hex>/<id>` and commit is the upstream's acknowledgement of the PUT or
//! CompleteMultipartUpload.
//!
//! Filesystem layout under the data dir:
//! - `blobs/<2 hex>/<32 hex>` — blobs (sharded so no directory grows huge);
//! - `tmp/` — the readiness probe's scratch files (older versions wrote blobs here first).
//!
//! Durability protocol of [`BlobWriter::commit`]: a blob is written in place, at its final
//! path under a fresh random id, then the file and the shard directory are `fsync`ed. Only
//! after that may metadata reference the blob. No rename is needed for atomicity: nothing
//! reads a blob that no metadata row names, and its id is new, so a partial file is never
//! seen. Without the rename, the directory entry is created in the same journal transaction
//! as the data, and the directory `fsync` finds little left to write. A writer dropped
//! unfinished removes its file; a crash before the metadata commit leaves an unreferenced
//! (possibly partial) blob, which the start-up sweep ([`BlobStore::list_committed`] + the
//! metadata's reference set) deletes.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod early_flush;
pub mod sse;
pub mod upstream;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Opaque id of a stored blob: 32 lower-case hex characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(String);

impl BlobId {
    /// A fresh random id.
    pub fn random() -> Self {
        BlobId(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Parse an id read back from metadata; rejects anything that could escape the blob dir.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| BlobId(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn shard(&self) -> &str {
        self.0.get(..2).unwrap_or("00")
    }
}

impl std::fmt::Display for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Errors of the blob layer.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The blob does not exist (deleted or never committed).
    #[error("blob {0} not found")]
    NotFound(BlobId),
    /// Any other I/O failure.
    #[error("blob I/O: {0}")]
    Io(#[from] io::Error),
    /// An encrypted blob failed to decrypt (tampered, truncated, wrong key).
    #[error("encrypted blob: {0}")]
    Sse(#[from] sse::SseError),
    /// The upstream object store failed (network, credentials, throttling…).
    #[error("upstream blob store: {0}")]
    Upstream(#[source] Box<object_store::Error>),
    /// A bad `--blob-url` or upstream setting.
    #[error("{0}")]
    Config(String),
}

/// A blob store: the local filesystem or an upstream object store.
#[derive(Clone, Debug)]
pub struct BlobStore {
    backend: Backend,
    /// The start-up sweep deletes unreferenced blobs only when older than this.
    sweep_grace: Duration,
}

/// The former name, kept while call sites move to [`BlobStore`].
pub type FsBlobStore = BlobStore;

#[derive(Clone, Debug)]
enum Backend {
    Fs(FsDirs),
    Upstream(upstream::Upstream),
}

#[derive(Clone, Debug)]
struct FsDirs {
    blobs: PathBuf,
    tmp: PathBuf,
    durable: bool,
}

/// What a stream read yields.
pub type BlobStream = BoxStream<'static, io::Result<Bytes>>;

impl BlobStore {
    /// Open (creating if needed) the filesystem store under `root`. `durable` turns on fsync
    /// of files and directories; only tests and benchmarks of the non-durable mode turn it off.
    pub fn open(root: &Path, durable: bool) -> Result<Self, BlobError> {
        let blobs = root.join("blobs");
        let tmp = root.join("tmp");
        fs::create_dir_all(&blobs)?;
        fs::create_dir_all(&tmp)?;
        Ok(BlobStore {
            backend: Backend::Fs(FsDirs {
                blobs,
                tmp,
                durable,
            }),
            // One process owns a local data dir: at start nothing is in flight.
            sweep_grace: Duration::ZERO,
        })
    }

    /// Open an upstream S3-compatible store from `s3://bucket/prefix?…` (see
    /// [`upstream::S3Options::parse`]); `env` looks up `CUBBY_BLOB_*` settings. Must be called
    /// inside a tokio runtime, whose handle the blocking writers and readers use.
    pub fn open_s3_url(url: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, BlobError> {
        let o = upstream::S3Options::parse(url, env)?;
        let store = Arc::new(o.build()?);
        Ok(BlobStore {
            backend: Backend::Upstream(upstream::Upstream::new(
                store,
                &o.prefix,
                o.part_size,
                o.concurrency,
            )?),
            sweep_grace: o.sweep_grace,
        })
    }

    /// A store over any `object_store` implementation (tests use the in-memory one; GCS and
    /// Azure plug in here). Blobs go under `prefix`; uploads above `part_size` are multipart.
    pub fn from_object_store(
        store: Arc<dyn object_store::ObjectStore>,
        prefix: &str,
        part_size: usize,
        sweep_grace: Duration,
    ) -> Result<Self, BlobError> {
        Ok(BlobStore {
            backend: Backend::Upstream(upstream::Upstream::new(
                store,
                prefix,
                part_size,
                upstream::DEFAULT_CONCURRENCY,
            )?),
            sweep_grace,
        })
    }

    /// Set the sweep grace: unreferenced blobs younger than this survive the start-up sweep
    /// (needed whenever several nodes share the store).
    pub fn with_sweep_grace(mut self, grace: Duration) -> Self {
        self.sweep_grace = grace;
        self
    }

    /// Is the store usable? Local: both directories exist and `tmp/` accepts a file (a full or
    /// read-only disk fails here). Upstream: a HEAD under the prefix answers. Used by
    /// `/_cubby/ready`.
    pub async fn probe(&self) -> Result<(), BlobError> {
        let d = match &self.backend {
            Backend::Fs(d) => d,
            Backend::Upstream(u) => return u.probe().await,
        };
        if !tokio::fs::metadata(&d.blobs).await?.is_dir() {
            return Err(io::Error::other("blobs/ is not a directory").into());
        }
        let probe = d.tmp.join(format!("ready-{}", BlobId::random().as_str()));
        tokio::fs::write(&probe, b"").await?;
        tokio::fs::remove_file(&probe).await?;
        Ok(())
    }

    /// Start writing a new blob. Creating the writer does no upstream I/O, so it may be called
    /// anywhere; writing and committing are synchronous: call them from a blocking thread.
    pub fn writer(&self) -> Result<BlobWriter, BlobError> {
        let id = BlobId::random();
        let sink = match &self.backend {
            Backend::Fs(d) => {
                let dir = d.blobs.join(id.shard());
                let path = dir.join(id.as_str());
                let open = || OpenOptions::new().write(true).create_new(true).open(&path);
                let file = match open() {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        // The shard's first blob.
                        fs::create_dir_all(&dir)?;
                        open()?
                    }
                    other => other?,
                };
                Sink::Fs {
                    file: Some(file),
                    path,
                    dir,
                    durable: d.durable,
                    early: early_flush::EarlyFlush::new(),
                }
            }
            Backend::Upstream(u) => Sink::Upstream(Some(u.writer(&id))),
        };
        Ok(BlobWriter {
            sink,
            id,
            len: 0,
            sealer: None,
        })
    }

    /// Start writing a new blob encrypted under a fresh data key (SSE-S3). The returned
    /// [`sse::SealInfo`] must be stored with the metadata that references the blob.
    pub fn sealed_writer(&self, kek: &sse::Kek) -> Result<(BlobWriter, sse::SealInfo), BlobError> {
        let mut w = self.writer()?;
        let (key, info) = kek.new_data_key(&w.id)?;
        w.sealer = Some(sse::Sealer::new(key));
        Ok((w, info))
    }

    /// Start writing a part blob of a multipart upload encrypted under the upload's data key
    /// `key` (unwrapped from `upload`); returns the part's [`sse::SealInfo`].
    pub fn part_writer(
        &self,
        key: &sse::DataKey,
        upload: &sse::SealInfo,
    ) -> Result<(BlobWriter, sse::SealInfo), BlobError> {
        let mut w = self.writer()?;
        let (key, info) = key.for_part(upload, &w.id);
        w.sealer = Some(sse::Sealer::new(key));
        Ok((w, info))
    }

    /// Read plaintext bytes `[from, from + len)` of a committed blob into `sink`
    /// (synchronous: call from a blocking thread). `key` is the unwrapped data key of an
    /// encrypted blob, whose plaintext is `plain_len` bytes long. Upstream, this is one ranged
    /// GET of exactly the bytes (or the sealed segments) the range needs.
    pub fn read_range(
        &self,
        id: &BlobId,
        key: Option<&sse::DataKey>,
        plain_len: u64,
        from: u64,
        len: u64,
        sink: &mut impl FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<(), BlobError> {
        let u = match &self.backend {
            Backend::Fs(d) => return fs_read_range(d, id, key, plain_len, from, len, sink),
            Backend::Upstream(u) => u,
        };
        if let Some(key) = key {
            let Some((first, last)) = sse::segment_span(plain_len, from, len) else {
                return Ok(());
            };
            let start = sse::sealed_offset(first);
            let end =
                sse::sealed_offset(last) + sse::segment_plain_len(plain_len, last) + sse::TAG_LEN;
            let mut r = u.reader(id, start, end)?;
            return Ok(sse::read_range(&mut r, key, plain_len, from, len, sink)?);
        }
        let mut r = u.reader(id, from, from + len)?;
        let mut buf = vec![0u8; (len as usize).min(256 * 1024)];
        let mut left = len;
        while left > 0 {
            let want = (left as usize).min(buf.len());
            let chunk = buf.get_mut(..want).unwrap_or_default();
            r.read_exact(chunk)?;
            sink(chunk)?;
            left -= want as u64;
        }
        Ok(())
    }

    /// Stream stored bytes `[from, from + len)` of a committed (unencrypted) blob. Opening
    /// fails with [`BlobError::NotFound`] for a missing blob; later failures are stream items.
    pub async fn read_stream(
        &self,
        id: &BlobId,
        from: u64,
        len: u64,
    ) -> Result<BlobStream, BlobError> {
        use futures_util::StreamExt as _;
        use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
        let d = match &self.backend {
            Backend::Fs(d) => d,
            Backend::Upstream(u) => return u.read_stream(id, from, len).await,
        };
        let mut f = match tokio::fs::File::open(fs_path(d, id)).await {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound(id.clone()));
            }
            Err(e) => return Err(e.into()),
        };
        f.seek(SeekFrom::Start(from)).await?;
        Ok(tokio_util::io::ReaderStream::with_capacity(f.take(len), 256 * 1024).boxed())
    }

    /// Path of a committed blob (filesystem backend only).
    pub fn path(&self, id: &BlobId) -> Option<PathBuf> {
        match &self.backend {
            Backend::Fs(d) => Some(fs_path(d, id)),
            Backend::Upstream(_) => None,
        }
    }

    /// Delete a committed blob; a missing blob is not an error (deletion is idempotent).
    pub async fn delete(&self, id: &BlobId) -> Result<(), BlobError> {
        let d = match &self.backend {
            Backend::Fs(d) => d,
            Backend::Upstream(u) => return u.delete(id).await,
        };
        match tokio::fs::remove_file(fs_path(d, id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Empty `tmp/` (start-up only): leftover probe files, and blobs that versions before
    /// in-place writes had in progress there. A blob unfinished at a crash now lies in
    /// `blobs/`, unreferenced, for [`BlobStore::list_committed`]'s sweep. Upstream there is nothing local; a multipart upload that a killed process
    /// left open is invisible and is for the upstream's own lifecycle rule to abort.
    pub fn clear_tmp(&self) -> Result<usize, BlobError> {
        let d = match &self.backend {
            Backend::Fs(d) => d,
            Backend::Upstream(_) => return Ok(0),
        };
        let mut n = 0;
        for entry in fs::read_dir(&d.tmp)? {
            let entry = entry?;
            if fs::remove_file(entry.path()).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// [`BlobStore::clear_tmp`] for a store shared by several nodes: only files not written
    /// to for `min_age`. Upstream stores have no local temp files.
    pub fn clear_tmp_older_than(&self, min_age: Duration) -> Result<usize, BlobError> {
        let d = match &self.backend {
            Backend::Fs(d) => d,
            Backend::Upstream(_) => return Ok(0),
        };
        let mut n = 0;
        for entry in fs::read_dir(&d.tmp)? {
            let entry = entry?;
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= min_age);
            if old && fs::remove_file(entry.path()).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Committed blob ids old enough to be swept: last modified before now minus the sweep
    /// grace (all of them for a local data dir, whose grace is zero). The start-up sweep
    /// deletes those that no metadata references.
    pub async fn list_committed(&self) -> Result<Vec<BlobId>, BlobError> {
        let before = SystemTime::now()
            .checked_sub(self.sweep_grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let d = match &self.backend {
            Backend::Fs(d) => d.clone(),
            Backend::Upstream(u) => {
                // No grace: everything, including blobs written this very millisecond.
                let ms = match self.sweep_grace.is_zero() {
                    true => i64::MAX,
                    false => before
                        .duration_since(SystemTime::UNIX_EPOCH)
                        .map(|d| d.as_millis() as i64)
                        .unwrap_or(0),
                };
                return u.list(ms).await;
            }
        };
        let check_age = !self.sweep_grace.is_zero();
        tokio::task::spawn_blocking(move || fs_list(&d, check_age.then_some(before)))
            .await
            .map_err(|e| io::Error::other(format!("blob listing: {e}")))?
    }
}

fn fs_path(d: &FsDirs, id: &BlobId) -> PathBuf {
    d.blobs.join(id.shard()).join(id.as_str())
}

fn fs_list(d: &FsDirs, before: Option<SystemTime>) -> Result<Vec<BlobId>, BlobError> {
    let mut out = Vec::new();
    for shard in fs::read_dir(&d.blobs)? {
        let shard = shard?;
        if !shard.file_type()?.is_dir() {
            continue;
        }
        for entry in fs::read_dir(shard.path())? {
            let entry = entry?;
            if let Some(before) = before
                && entry.metadata()?.modified()? >= before
            {
                continue;
            }
            if let Some(id) = entry.file_name().to_str().and_then(BlobId::parse) {
                out.push(id);
            }
        }
    }
    Ok(out)
}

fn fs_read_range(
    d: &FsDirs,
    id: &BlobId,
    key: Option<&sse::DataKey>,
    plain_len: u64,
    from: u64,
    len: u64,
    sink: &mut impl FnMut(&[u8]) -> io::Result<()>,
) -> Result<(), BlobError> {
    let mut f = match File::open(fs_path(d, id)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(BlobError::NotFound(id.clone()));
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(key) = key {
        return Ok(sse::read_range(&mut f, key, plain_len, from, len, sink)?);
    }
    f.seek(SeekFrom::Start(from))?;
    let mut buf = vec![0u8; (len as usize).min(256 * 1024)];
    let mut left = len;
    while left > 0 {
        let want = (left as usize).min(buf.len());
        let chunk = buf.get_mut(..want).unwrap_or_default();
        f.read_exact(chunk)?;
        sink(chunk)?;
        left -= want as u64;
    }
    Ok(())
}

/// Where a writer's (possibly encrypted) bytes go.
#[derive(Debug)]
enum Sink {
    Fs {
        /// `None` once finished.
        file: Option<File>,
        /// The blob's final path; emptied once committed (nothing to remove on drop).
        path: PathBuf,
        /// Its shard directory.
        dir: PathBuf,
        durable: bool,
        /// Writeback started while a large durable blob arrives.
        early: early_flush::EarlyFlush,
    },
    /// `None` once finished.
    Upstream(Option<upstream::UpstreamWriter>),
}

impl Sink {
    fn write(&mut self, b: &[u8]) -> io::Result<()> {
        let finished = || io::Error::other("blob writer already finished");
        match self {
            Sink::Fs {
                file,
                durable,
                early,
                ..
            } => {
                let file = file.as_mut().ok_or_else(finished)?;
                file.write_all(b)?;
                if *durable {
                    early.wrote(file, b.len());
                }
                Ok(())
            }
            Sink::Upstream(w) => w.as_mut().ok_or_else(finished)?.write(b),
        }
    }
}

/// A blob being written. Dropping it without [`BlobWriter::commit`] leaves nothing behind:
/// the partial file is removed, an upstream multipart upload is aborted.
#[derive(Debug)]
pub struct BlobWriter {
    sink: Sink,
    id: BlobId,
    len: u64,
    /// Set for an encrypted blob: plaintext goes through it, sealed segments to the sink.
    sealer: Option<sse::Sealer>,
}

impl BlobWriter {
    /// The id the blob will have once committed.
    pub fn id(&self) -> &BlobId {
        &self.id
    }

    /// Plaintext bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append plaintext bytes (encrypted on the way for a sealed writer). Blocking threads
    /// only: upstream, this may wait for part uploads.
    pub fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let sink = &mut self.sink;
        match self.sealer.as_mut() {
            Some(s) => s.push(buf, &mut |b: &[u8]| sink.write(b))?,
            None => sink.write(buf)?,
        }
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Make the blob durable under its id. Local: fsync the file, then its directory. Upstream: the PUT or CompleteMultipartUpload is acknowledged. Blocking
    /// threads only.
    pub fn commit(mut self) -> io::Result<BlobId> {
        if let Some(s) = self.sealer.take() {
            let sink = &mut self.sink;
            s.finish(&mut |b: &[u8]| sink.write(b))?;
        }
        match &mut self.sink {
            Sink::Fs {
                file,
                path,
                dir,
                durable,
                early,
            } => {
                let file = file
                    .take()
                    .ok_or_else(|| io::Error::other("blob writer already finished"))?;
                std::mem::replace(early, early_flush::EarlyFlush::new()).finish();
                if *durable {
                    file.sync_all()?;
                    drop(file);
                    File::open(&*dir)?.sync_all()?;
                }
                // Nothing left to clean up on drop.
                *path = PathBuf::new();
            }
            Sink::Upstream(w) => {
                w.take()
                    .ok_or_else(|| io::Error::other("blob writer already finished"))?
                    .finish()?;
            }
        }
        Ok(self.id.clone())
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // The upstream writer aborts its own multipart upload when dropped.
        if let Sink::Fs { path, .. } = &self.sink
            && !path.as_os_str().is_empty()
        {
            let _ = fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn write_commit_read_delete() {
        let dir = std::env::temp_dir().join(format!("cubby-blob-{}", BlobId::random()));
        let store = BlobStore::open(&dir, true).unwrap();
        let mut w = store.writer().unwrap();
        w.write_all(b"hello").unwrap();
        let id = w.commit().unwrap();
        assert_eq!(fs::read(store.path(&id).unwrap()).unwrap(), b"hello");
        let rt = rt();
        assert_eq!(
            rt.block_on(store.list_committed()).unwrap(),
            vec![id.clone()]
        );
        // With a grace, a blob written just now is not a sweep candidate.
        let shared = store.clone().with_sweep_grace(Duration::from_secs(3600));
        assert!(rt.block_on(shared.list_committed()).unwrap().is_empty());
        rt.block_on(store.delete(&id)).unwrap();
        assert!(rt.block_on(store.list_committed()).unwrap().is_empty());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn dropped_writer_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("cubby-blob-{}", BlobId::random()));
        let store = BlobStore::open(&dir, false).unwrap();
        let mut w = store.writer().unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert_eq!(fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
        assert!(rt().block_on(store.list_committed()).unwrap().is_empty());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unfinished_blob_is_a_sweep_candidate_only_once_old() {
        let dir = std::env::temp_dir().join(format!("cubby-blob-{}", BlobId::random()));
        let store = BlobStore::open(&dir, true).unwrap();
        let mut w = store.writer().unwrap();
        w.write_all(b"cut off by a crash").unwrap();
        let id = w.id().clone();
        // A crash: neither commit nor the writer's clean-up runs.
        std::mem::forget(w);
        let rt = rt();
        assert_eq!(rt.block_on(store.list_committed()).unwrap(), vec![id]);
        // A store shared with nodes that may still be writing leaves young files alone.
        let shared = store.with_sweep_grace(Duration::from_secs(3600));
        assert!(rt.block_on(shared.list_committed()).unwrap().is_empty());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn ids_cannot_escape() {
        assert!(BlobId::parse("../../etc/passwd").is_none());
        assert!(BlobId::parse("0123456789abcdef0123456789abcdeF").is_none());
        assert!(BlobId::parse("0123456789abcdef0123456789abcdef").is_some());
    }

    mod upstream_backend {
        use super::*;
        use futures_util::{StreamExt as _, TryStreamExt as _};
        use object_store::ObjectStore;
        use object_store::memory::InMemory;
        use object_store::path::Path as OsPath;

        const PART: usize = 1000;

        /// An in-memory upstream with tiny parts, so multipart paths run on small data.
        fn mem(rt: &tokio::runtime::Runtime) -> (Arc<InMemory>, BlobStore) {
            let mem = Arc::new(InMemory::new());
            let store = rt
                .block_on(async {
                    BlobStore::from_object_store(mem.clone(), "pre/fix", PART, Duration::ZERO)
                })
                .unwrap();
            (mem, store)
        }

        fn data(n: usize) -> Vec<u8> {
            (0..n).map(|i| (i * 31 % 251) as u8).collect()
        }

        /// Blocking-thread work, as the S3 layer runs it.
        fn blocking<T: Send + 'static>(
            rt: &tokio::runtime::Runtime,
            f: impl FnOnce() -> T + Send + 'static,
        ) -> T {
            rt.block_on(rt.spawn_blocking(f)).unwrap()
        }

        fn write(store: &BlobStore, bytes: &[u8], step: usize) -> BlobId {
            let mut w = store.writer().unwrap();
            for c in bytes.chunks(step) {
                w.write_all(c).unwrap();
            }
            w.commit().unwrap()
        }

        fn read(
            store: &BlobStore,
            id: &BlobId,
            key: Option<&sse::DataKey>,
            plain: u64,
            from: u64,
            len: u64,
        ) -> Result<Vec<u8>, BlobError> {
            let mut out = Vec::new();
            store.read_range(id, key, plain, from, len, &mut |b: &[u8]| {
                out.extend_from_slice(b);
                Ok(())
            })?;
            Ok(out)
        }

        async fn keys(mem: &InMemory) -> Vec<String> {
            mem.list(None)
                .map_ok(|m| m.location.to_string())
                .try_collect()
                .await
                .unwrap()
        }

        #[test]
        fn small_and_multipart_blobs_roundtrip() {
            let rt = rt();
            let (mem, store) = mem(&rt);
            let small = data(PART);
            let big = data(PART * 7 + 123);
            let (s2, small2, big2) = (store.clone(), small.clone(), big.clone());
            let (a, b) = blocking(&rt, move || {
                (write(&s2, &small2, 100), write(&s2, &big2, 333))
            });
            let ks = rt.block_on(keys(&mem));
            assert!(
                ks.contains(&format!("pre/fix/{}/{}", &a.as_str()[..2], a)),
                "{ks:?}"
            );
            assert_eq!(ks.len(), 2);
            let (s2, a2, b2) = (store.clone(), a.clone(), b.clone());
            let (ra, rb, rr) = blocking(&rt, move || {
                (
                    read(&s2, &a2, None, PART as u64, 0, PART as u64).unwrap(),
                    read(&s2, &b2, None, 7123, 0, 7123).unwrap(),
                    read(&s2, &b2, None, 7123, 999, 2002).unwrap(),
                )
            });
            assert_eq!(ra, small);
            assert_eq!(rb, big);
            assert_eq!(rr, &big[999..3001]);
            let streamed: Vec<u8> = rt.block_on(async {
                let s = store.read_stream(&b, 10, 5000).await.unwrap();
                s.map_ok(|b| b.to_vec()).try_concat().await.unwrap()
            });
            assert_eq!(streamed, &big[10..5010]);
            // Missing blobs are NotFound, reads and streams alike; deletes are idempotent.
            let gone = BlobId::random();
            let s2 = store.clone();
            let g2 = gone.clone();
            assert!(matches!(
                blocking(&rt, move || read(&s2, &g2, None, 10, 0, 10)),
                Err(BlobError::NotFound(_))
            ));
            assert!(matches!(
                rt.block_on(store.read_stream(&gone, 0, 1)),
                Err(BlobError::NotFound(_))
            ));
            rt.block_on(store.delete(&a)).unwrap();
            rt.block_on(store.delete(&a)).unwrap();
            assert_eq!(rt.block_on(store.list_committed()).unwrap(), vec![b]);
            rt.block_on(store.probe()).unwrap();
        }

        #[test]
        fn sealed_blobs_decrypt_from_ranges() {
            let rt = rt();
            let (mem, store) = mem(&rt);
            let kek = sse::Kek::new([9u8; 32]);
            let plain = data(3 * sse::SEGMENT_LEN as usize + 777);
            let (s2, p2) = (store.clone(), plain.clone());
            let (w, info) = store.sealed_writer(&kek).unwrap();
            let id = blocking(&rt, move || {
                let mut w = w;
                for c in p2.chunks(4096) {
                    w.write_all(c).unwrap();
                }
                w.commit().unwrap()
            });
            let stored = rt.block_on(async {
                let m = mem.list(None).next().await.unwrap().unwrap();
                mem.get(&m.location).await.unwrap().bytes().await.unwrap()
            });
            assert_eq!(stored.len() as u64, sse::sealed_len(plain.len() as u64));
            assert!(
                !stored.windows(64).any(|w| w == &plain[1000..1064]),
                "ciphertext at rest"
            );
            let key = kek.unwrap(&info, &id).unwrap();
            let n = plain.len() as u64;
            for (from, len) in [(0, n), (5, 10), (65_530, 20), (n - 3, 3), (70_000, 120_000)] {
                let (s, i, k) = (s2.clone(), id.clone(), key.clone());
                let got = blocking(&rt, move || read(&s, &i, Some(&k), n, from, len).unwrap());
                assert_eq!(
                    got,
                    &plain[from as usize..(from + len) as usize],
                    "{from}+{len}"
                );
            }
        }

        #[test]
        fn dropped_writer_aborts_the_upload() {
            let rt = rt();
            let (mem, store) = mem(&rt);
            let s2 = store.clone();
            blocking(&rt, move || {
                let mut w = s2.writer().unwrap();
                w.write_all(&data(PART * 5)).unwrap();
                drop(w);
            });
            // The abort is a spawned task: give it a moment.
            rt.block_on(async { tokio::time::sleep(Duration::from_millis(50)).await });
            assert!(rt.block_on(keys(&mem)).is_empty());
            assert!(rt.block_on(store.list_committed()).unwrap().is_empty());
        }

        #[test]
        fn sweep_spares_young_blobs_of_a_shared_store() {
            let rt = rt();
            let (mem, store) = mem(&rt);
            let s2 = store.clone();
            let id = blocking(&rt, move || write(&s2, b"young", 5));
            assert_eq!(rt.block_on(store.list_committed()).unwrap(), vec![id]);
            let shared = store.with_sweep_grace(Duration::from_secs(60));
            assert!(rt.block_on(shared.list_committed()).unwrap().is_empty());
            // Objects under the prefix that are not blobs are never listed as blobs.
            rt.block_on(mem.put(&OsPath::from("pre/fix/notes.txt"), "x".into()))
                .unwrap();
            rt.block_on(mem.put(
                &OsPath::from("other/00/0123456789abcdef0123456789abcdef"),
                "x".into(),
            ))
            .unwrap();
            let s3 = shared.with_sweep_grace(Duration::ZERO);
            assert_eq!(rt.block_on(s3.list_committed()).unwrap().len(), 1);
        }
    }
}
