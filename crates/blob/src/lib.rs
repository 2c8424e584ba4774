//! Blob storage: object bytes live in files named by a random id, never by the object key.
//!
//! Layout under the data dir:
//! - `blobs/<2 hex>/<32 hex>` — committed blobs (sharded so no directory grows huge);
//! - `tmp/<32 hex>` — blobs being written; everything here is garbage after a restart.
//!
//! Durability protocol of [`BlobWriter::commit`]: write to `tmp/`, `fsync` the file, `rename`
//! into `blobs/xx/`, `fsync` the shard directory. Only after that may metadata reference the
//! blob. A crash before the metadata commit leaves an unreferenced blob, which the start-up
//! sweep ([`FsBlobStore::list_committed`] + the metadata's reference set) deletes.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod sse;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

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
}

/// A local-filesystem blob store.
#[derive(Clone, Debug)]
pub struct FsBlobStore {
    blobs: PathBuf,
    tmp: PathBuf,
    durable: bool,
}

impl FsBlobStore {
    /// Open (creating if needed) the store under `root`. `durable` turns on fsync of files and
    /// directories; only tests and benchmarks of the non-durable mode turn it off.
    pub fn open(root: &Path, durable: bool) -> Result<Self, BlobError> {
        let blobs = root.join("blobs");
        let tmp = root.join("tmp");
        fs::create_dir_all(&blobs)?;
        fs::create_dir_all(&tmp)?;
        Ok(FsBlobStore {
            blobs,
            tmp,
            durable,
        })
    }

    /// Is the store usable? Both directories exist and `tmp/` accepts a file (used by
    /// `/_cubby/ready`; a full or read-only disk fails here).
    pub async fn probe(&self) -> Result<(), BlobError> {
        if !tokio::fs::metadata(&self.blobs).await?.is_dir() {
            return Err(io::Error::other("blobs/ is not a directory").into());
        }
        let probe = self
            .tmp
            .join(format!("ready-{}", BlobId::random().as_str()));
        tokio::fs::write(&probe, b"").await?;
        tokio::fs::remove_file(&probe).await?;
        Ok(())
    }

    /// Start writing a new blob (synchronous: call from a blocking thread).
    pub fn writer(&self) -> Result<BlobWriter, BlobError> {
        let id = BlobId::random();
        let tmp_path = self.tmp.join(id.as_str());
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)?;
        Ok(BlobWriter {
            file: Some(file),
            tmp_path,
            final_dir: self.blobs.join(id.shard()),
            id,
            durable: self.durable,
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
    /// encrypted blob, whose plaintext is `plain_len` bytes long.
    pub fn read_range(
        &self,
        id: &BlobId,
        key: Option<&sse::DataKey>,
        plain_len: u64,
        from: u64,
        len: u64,
        sink: &mut impl FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<(), BlobError> {
        let mut f = match File::open(self.path(id)) {
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

    /// Path of a committed blob.
    pub fn path(&self, id: &BlobId) -> PathBuf {
        self.blobs.join(id.shard()).join(id.as_str())
    }

    /// Open a committed blob for reading.
    pub async fn open_read(&self, id: &BlobId) -> Result<tokio::fs::File, BlobError> {
        match tokio::fs::File::open(self.path(id)).await {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(BlobError::NotFound(id.clone())),
            Err(e) => Err(e.into()),
        }
    }

    /// Delete a committed blob; a missing blob is not an error (deletion is idempotent).
    pub async fn delete(&self, id: &BlobId) -> Result<(), BlobError> {
        match tokio::fs::remove_file(self.path(id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Remove every in-progress blob (start-up only: nothing in `tmp/` survives a restart).
    pub fn clear_tmp(&self) -> Result<usize, BlobError> {
        let mut n = 0;
        for entry in fs::read_dir(&self.tmp)? {
            let entry = entry?;
            if fs::remove_file(entry.path()).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Remove in-progress blobs not written to for `min_age` (start-up sweep of a store
    /// shared by several nodes: another node's upload in progress keeps its file's mtime
    /// fresh, so only abandoned files are old).
    pub fn clear_tmp_older_than(&self, min_age: std::time::Duration) -> Result<usize, BlobError> {
        let mut n = 0;
        for entry in fs::read_dir(&self.tmp)? {
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

    /// How long ago a committed blob was written (`None`: gone or unknown). The sweep of a
    /// shared store leaves young unreferenced blobs alone: another node may have committed
    /// the blob and not yet its metadata row.
    pub fn committed_age(&self, id: &BlobId) -> Option<std::time::Duration> {
        fs::metadata(self.path(id))
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
    }

    /// Every committed blob id (start-up sweep).
    pub fn list_committed(&self) -> Result<Vec<BlobId>, BlobError> {
        let mut out = Vec::new();
        for shard in fs::read_dir(&self.blobs)? {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(shard.path())? {
                let entry = entry?;
                if let Some(id) = entry.file_name().to_str().and_then(BlobId::parse) {
                    out.push(id);
                }
            }
        }
        Ok(out)
    }
}

/// A blob being written. Dropping it without [`BlobWriter::commit`] removes the partial file.
#[derive(Debug)]
pub struct BlobWriter {
    file: Option<File>,
    tmp_path: PathBuf,
    final_dir: PathBuf,
    id: BlobId,
    durable: bool,
    len: u64,
    /// Set for an encrypted blob: plaintext goes through it, sealed segments to the file.
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

    /// Append plaintext bytes (encrypted on the way to the file for a sealed writer).
    pub fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already finished"))?;
        match self.sealer.as_mut() {
            Some(s) => s.push(buf, &mut |b: &[u8]| file.write_all(b))?,
            None => file.write_all(buf)?,
        }
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Make the blob durable and visible under its id: fsync file, rename, fsync directory.
    pub fn commit(mut self) -> io::Result<BlobId> {
        let mut file = self
            .file
            .take()
            .ok_or_else(|| io::Error::other("blob writer already finished"))?;
        if let Some(s) = self.sealer.take() {
            s.finish(&mut |b: &[u8]| file.write_all(b))?;
        }
        if self.durable {
            file.sync_all()?;
        }
        drop(file);
        fs::create_dir_all(&self.final_dir)?;
        let final_path = self.final_dir.join(self.id.as_str());
        fs::rename(&self.tmp_path, &final_path)?;
        if self.durable {
            File::open(&self.final_dir)?.sync_all()?;
        }
        // Nothing left to clean up on drop.
        self.tmp_path = PathBuf::new();
        Ok(self.id.clone())
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.tmp_path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_commit_read_delete() {
        let dir = std::env::temp_dir().join(format!("cubby-blob-{}", BlobId::random()));
        let store = FsBlobStore::open(&dir, true).unwrap();
        let mut w = store.writer().unwrap();
        w.write_all(b"hello").unwrap();
        let id = w.commit().unwrap();
        assert_eq!(fs::read(store.path(&id)).unwrap(), b"hello");
        assert_eq!(store.list_committed().unwrap(), vec![id.clone()]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(store.delete(&id)).unwrap();
        assert!(store.list_committed().unwrap().is_empty());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn dropped_writer_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("cubby-blob-{}", BlobId::random()));
        let store = FsBlobStore::open(&dir, false).unwrap();
        let mut w = store.writer().unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert_eq!(fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
        assert!(store.list_committed().unwrap().is_empty());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn ids_cannot_escape() {
        assert!(BlobId::parse("../../etc/passwd").is_none());
        assert!(BlobId::parse("0123456789abcdef0123456789abcdeF").is_none());
        assert!(BlobId::parse("0123456789abcdef0123456789abcdef").is_some());
    }
}
