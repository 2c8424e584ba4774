//! SSE-S3 envelope encryption of blobs.
//!
//! Every encrypted object has its own random 256-bit data key, wrapped (AES-256-GCM) by a
//! key-encryption key derived from the master key; the wrapped key travels with the object's
//! metadata as a [`SealInfo`], bound to its context (the blob id, or the multipart upload id)
//! so it cannot be moved to another object. A multipart upload has one data key for all its
//! parts; each part blob gets its own nonce prefix, derived from its random blob id.
//!
//! The plaintext is cut into [`SEGMENT_LEN`]-byte segments, each sealed on its own with
//! AES-256-GCM, so a range read opens only the segments it touches. A sealed segment is the
//! ciphertext followed by the 16-byte tag; segment `i` starts at `i * (SEGMENT_LEN + TAG_LEN)`.
//! - nonce = 8-byte random per-blob prefix ‖ segment index (u32, big-endian): unique per key;
//! - AAD = segment index (u64, big-endian) ‖ final-segment flag: segments cannot be reordered
//!   or swapped, and a blob cut at a segment boundary fails on its (now wrong) last segment.
//!
//! There is always at least one segment: an empty plaintext is one empty final segment.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rand::RngCore;
use std::io::{self, Read, Seek, SeekFrom};

use crate::BlobId;

/// Plaintext bytes per segment.
pub const SEGMENT_LEN: u64 = 64 * 1024;
/// AES-GCM tag bytes appended to every segment.
pub const TAG_LEN: u64 = 16;
/// The only algorithm this module implements, as S3 names it.
pub const ALGORITHM: &str = "AES256";

const WRAP_AAD: &[u8] = b"cubby/sse-s3/data-key/v1";

/// Errors of encryption and decryption.
#[derive(Debug, thiserror::Error)]
pub enum SseError {
    /// The wrapped data key does not open with this key-encryption key (wrong master key, or
    /// the metadata was altered or belongs to another blob).
    #[error("data key does not unwrap")]
    Unwrap,
    /// A segment failed authentication: the stored bytes were altered, reordered or cut.
    #[error("segment {0} failed authentication")]
    Corrupt(u64),
    /// Fewer stored bytes than the metadata promises.
    #[error("sealed blob is truncated")]
    Truncated,
    /// More segments than the 32-bit nonce counter allows (256 TiB).
    #[error("object too large to encrypt")]
    TooLarge,
    /// Reading or writing the blob file failed.
    #[error("blob I/O: {0}")]
    Io(#[from] io::Error),
}

impl From<SseError> for io::Error {
    fn from(e: SseError) -> Self {
        match e {
            SseError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

/// Encryption parameters stored with a blob's metadata (JSON in the object's layout).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SealInfo {
    /// Base64 of nonce (12) ‖ wrapped data key (32) ‖ tag (16).
    pub key: String,
    /// Base64 of the 8-byte per-blob nonce prefix.
    pub prefix: String,
    /// What the wrapped key is bound to when it is not the blob id: `upload:<id>` for the
    /// parts of a multipart upload, which share one data key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// The key-encryption key: wraps and unwraps data keys.
#[derive(Clone)]
pub struct Kek(Aes256Gcm);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(..)")
    }
}

fn wrap_aad(context: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(WRAP_AAD.len() + 1 + context.len());
    aad.extend_from_slice(WRAP_AAD);
    aad.push(0);
    aad.extend_from_slice(context.as_bytes());
    aad
}

/// The nonce prefix of a part blob sharing its upload's data key: 8 bytes of the random blob
/// id (62 random bits), so parts of one upload never share a nonce.
pub fn part_prefix(blob: &BlobId) -> [u8; 8] {
    let mut p = [0u8; 8];
    let hex = blob.as_str().as_bytes();
    for (i, b) in p.iter_mut().enumerate() {
        let nib = |c: u8| match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => 0,
        };
        let at = 16 + 2 * i;
        *b = (nib(hex.get(at).copied().unwrap_or(b'0')) << 4)
            | nib(hex.get(at + 1).copied().unwrap_or(b'0'));
    }
    p
}

impl Kek {
    /// A key-encryption key from 32 secret bytes (a subkey of the master key).
    pub fn new(key: [u8; 32]) -> Self {
        Kek(Aes256Gcm::new(&key.into()))
    }

    /// A fresh random data key for `blob`, and its wrapped form for the metadata.
    pub fn new_data_key(&self, blob: &BlobId) -> Result<(DataKey, SealInfo), SseError> {
        self.new_key_for(blob.as_str(), None)
    }

    /// A fresh random data key shared by the parts of multipart upload `upload_id`.
    pub fn new_upload_key(&self, upload_id: &str) -> Result<(DataKey, SealInfo), SseError> {
        let context = format!("upload:{upload_id}");
        self.new_key_for(&context, Some(context.clone()))
    }

    fn new_key_for(
        &self,
        context: &str,
        stored_context: Option<String>,
    ) -> Result<(DataKey, SealInfo), SseError> {
        let mut rng = rand::rngs::OsRng;
        let mut dk = [0u8; 32];
        let mut prefix = [0u8; 8];
        let mut nonce = [0u8; 12];
        rng.fill_bytes(&mut dk);
        rng.fill_bytes(&mut prefix);
        rng.fill_bytes(&mut nonce);
        let mut wrapped = dk.to_vec();
        self.0
            .encrypt_in_place(Nonce::from_slice(&nonce), &wrap_aad(context), &mut wrapped)
            .map_err(|_| SseError::Unwrap)?;
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&wrapped);
        let b64 = base64::engine::general_purpose::STANDARD;
        let info = SealInfo {
            key: b64.encode(stored),
            prefix: b64.encode(prefix),
            context: stored_context,
        };
        Ok((DataKey::new(dk, prefix), info))
    }

    /// Unwrap the data key of a multipart upload (`info` from [`Kek::new_upload_key`]).
    pub fn unwrap_upload(&self, info: &SealInfo) -> Result<DataKey, SseError> {
        match info.context.as_deref() {
            Some(c) if c.starts_with("upload:") => self.unwrap_in(info, c),
            _ => Err(SseError::Unwrap),
        }
    }

    /// Unwrap the data key of `blob` (bound to `info.context`, else to the blob id).
    pub fn unwrap(&self, info: &SealInfo, blob: &BlobId) -> Result<DataKey, SseError> {
        self.unwrap_in(info, info.context.as_deref().unwrap_or(blob.as_str()))
    }

    fn unwrap_in(&self, info: &SealInfo, context: &str) -> Result<DataKey, SseError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let stored = b64.decode(&info.key).map_err(|_| SseError::Unwrap)?;
        let prefix: [u8; 8] = b64
            .decode(&info.prefix)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or(SseError::Unwrap)?;
        if stored.len() != 12 + 32 + 16 {
            return Err(SseError::Unwrap);
        }
        let (nonce, wrapped) = stored.split_at(12);
        let mut dk = wrapped.to_vec();
        self.0
            .decrypt_in_place(Nonce::from_slice(nonce), &wrap_aad(context), &mut dk)
            .map_err(|_| SseError::Unwrap)?;
        let dk: [u8; 32] = dk.try_into().map_err(|_| SseError::Unwrap)?;
        Ok(DataKey::new(dk, prefix))
    }
}

/// An unwrapped per-blob data key with its nonce prefix.
#[derive(Clone)]
pub struct DataKey {
    cipher: Aes256Gcm,
    prefix: [u8; 8],
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// Number of segments of a plaintext of `plain_len` bytes (at least one).
pub fn segment_count(plain_len: u64) -> u64 {
    plain_len.div_ceil(SEGMENT_LEN).max(1)
}

/// Stored size of a sealed plaintext of `plain_len` bytes.
pub fn sealed_len(plain_len: u64) -> u64 {
    plain_len + segment_count(plain_len) * TAG_LEN
}

/// Offset in the sealed blob where segment `index` starts.
pub fn sealed_offset(index: u64) -> u64 {
    index * (SEGMENT_LEN + TAG_LEN)
}

/// Plaintext length of segment `index` of a `plain_len`-byte plaintext.
pub fn segment_plain_len(plain_len: u64, index: u64) -> u64 {
    plain_len
        .saturating_sub(index * SEGMENT_LEN)
        .min(SEGMENT_LEN)
}

/// First and last segment holding plaintext bytes `[from, from + len)`; `None` when `len`
/// is 0 or the range lies outside the plaintext.
pub fn segment_span(plain_len: u64, from: u64, len: u64) -> Option<(u64, u64)> {
    let end = from.checked_add(len)?;
    if len == 0 || end > plain_len {
        return None;
    }
    Some((from / SEGMENT_LEN, (end - 1) / SEGMENT_LEN))
}

/// The metadata that opens part blob `blob` of the upload whose key is `upload`.
pub fn part_info(upload: &SealInfo, blob: &BlobId) -> SealInfo {
    SealInfo {
        key: upload.key.clone(),
        prefix: base64::engine::general_purpose::STANDARD.encode(part_prefix(blob)),
        context: upload.context.clone(),
    }
}

impl DataKey {
    /// The same key with the nonce prefix of part blob `blob`, and the metadata that opens
    /// it: `upload` is the upload's [`SealInfo`].
    pub fn for_part(&self, upload: &SealInfo, blob: &BlobId) -> (DataKey, SealInfo) {
        (
            DataKey {
                cipher: self.cipher.clone(),
                prefix: part_prefix(blob),
            },
            part_info(upload, blob),
        )
    }

    fn new(key: [u8; 32], prefix: [u8; 8]) -> Self {
        DataKey {
            cipher: Aes256Gcm::new(&key.into()),
            prefix,
        }
    }

    fn nonce(&self, index: u64) -> Result<[u8; 12], SseError> {
        let i = u32::try_from(index).map_err(|_| SseError::TooLarge)?;
        let mut n = [0u8; 12];
        n[..8].copy_from_slice(&self.prefix);
        n[8..].copy_from_slice(&i.to_be_bytes());
        Ok(n)
    }

    fn aad(index: u64, last: bool) -> [u8; 9] {
        let mut a = [0u8; 9];
        a[..8].copy_from_slice(&index.to_be_bytes());
        a[8] = u8::from(last);
        a
    }

    /// Seal one segment in place: `buf` holds the plaintext and gets the tag appended.
    pub fn seal_segment(&self, index: u64, last: bool, buf: &mut Vec<u8>) -> Result<(), SseError> {
        let nonce = self.nonce(index)?;
        self.cipher
            .encrypt_in_place(Nonce::from_slice(&nonce), &Self::aad(index, last), buf)
            .map_err(|_| SseError::TooLarge)
    }

    /// Open one sealed segment in place: `buf` holds ciphertext ‖ tag and is left with the
    /// plaintext.
    pub fn open_segment(&self, index: u64, last: bool, buf: &mut Vec<u8>) -> Result<(), SseError> {
        let nonce = self.nonce(index)?;
        self.cipher
            .decrypt_in_place(Nonce::from_slice(&nonce), &Self::aad(index, last), buf)
            .map_err(|_| SseError::Corrupt(index))
    }
}

/// Streaming encryption: buffers up to one segment and emits sealed segments. The last
/// segment is known only at [`Sealer::finish`], so a full segment is held back until more
/// plaintext arrives.
#[derive(Debug)]
pub struct Sealer {
    key: DataKey,
    buf: Vec<u8>,
    next: u64,
}

impl Sealer {
    /// A sealer writing segments under `key`.
    pub fn new(key: DataKey) -> Self {
        Sealer {
            key,
            buf: Vec::with_capacity(SEGMENT_LEN as usize + TAG_LEN as usize),
            next: 0,
        }
    }

    /// Add plaintext; every completed non-final segment is passed to `out`.
    pub fn push(
        &mut self,
        mut data: &[u8],
        out: &mut impl FnMut(&[u8]) -> io::Result<()>,
    ) -> Result<(), SseError> {
        let seg = SEGMENT_LEN as usize;
        while !data.is_empty() {
            if self.buf.len() == seg {
                // More plaintext follows, so the buffered segment is not the last one.
                self.key.seal_segment(self.next, false, &mut self.buf)?;
                out(&self.buf)?;
                self.buf.clear();
                self.next += 1;
            }
            let take = (seg - self.buf.len()).min(data.len());
            let (head, rest) = data.split_at(take);
            self.buf.extend_from_slice(head);
            data = rest;
        }
        Ok(())
    }

    /// Seal and emit the final segment (possibly empty).
    pub fn finish(mut self, out: &mut impl FnMut(&[u8]) -> io::Result<()>) -> Result<(), SseError> {
        self.key.seal_segment(self.next, true, &mut self.buf)?;
        out(&self.buf)?;
        Ok(())
    }
}

/// Decrypt plaintext bytes `[from, from + len)` of a sealed blob holding `plain_len` bytes,
/// reading only the segments that cover the range; each decrypted piece goes to `sink`.
/// Nothing unauthenticated ever reaches `sink`.
pub fn read_range<R: Read + Seek>(
    file: &mut R,
    key: &DataKey,
    plain_len: u64,
    from: u64,
    len: u64,
    sink: &mut impl FnMut(&[u8]) -> io::Result<()>,
) -> Result<(), SseError> {
    let Some((first, last)) = segment_span(plain_len, from, len) else {
        return Ok(());
    };
    let final_index = segment_count(plain_len) - 1;
    file.seek(SeekFrom::Start(sealed_offset(first)))?;
    let mut buf = Vec::with_capacity((SEGMENT_LEN + TAG_LEN) as usize);
    for index in first..=last {
        let stored = segment_plain_len(plain_len, index) + TAG_LEN;
        buf.resize(stored as usize, 0);
        file.read_exact(&mut buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => SseError::Truncated,
            _ => SseError::Io(e),
        })?;
        key.open_segment(index, index == final_index, &mut buf)?;
        let seg_start = index * SEGMENT_LEN;
        let lo = from.saturating_sub(seg_start) as usize;
        let hi = ((from + len - seg_start) as usize).min(buf.len());
        if let Some(piece) = buf.get(lo..hi) {
            sink(piece)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Cursor;

    fn kek() -> Kek {
        Kek::new([7u8; 32])
    }

    fn seal(key: &DataKey, plain: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut sink = |b: &[u8]| {
            out.extend_from_slice(b);
            Ok(())
        };
        let mut s = Sealer::new(key.clone());
        for c in plain.chunks(chunk.max(1)) {
            s.push(c, &mut sink).unwrap();
        }
        s.finish(&mut sink).unwrap();
        out
    }

    fn open(
        key: &DataKey,
        sealed: &[u8],
        plain_len: u64,
        from: u64,
        len: u64,
    ) -> Result<Vec<u8>, SseError> {
        let mut out = Vec::new();
        read_range(
            &mut Cursor::new(sealed),
            key,
            plain_len,
            from,
            len,
            &mut |b: &[u8]| {
                out.extend_from_slice(b);
                Ok(())
            },
        )?;
        Ok(out)
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn wrap_binds_the_blob_id() {
        let a = BlobId::random();
        let (_, info) = kek().new_data_key(&a).unwrap();
        assert!(kek().unwrap(&info, &a).is_ok());
        assert!(matches!(
            kek().unwrap(&info, &BlobId::random()),
            Err(SseError::Unwrap)
        ));
        assert!(matches!(
            Kek::new([8u8; 32]).unwrap(&info, &a),
            Err(SseError::Unwrap)
        ));
    }

    #[test]
    fn parts_share_the_upload_key_with_distinct_prefixes() {
        let (key, upload) = kek().new_upload_key("u1").unwrap();
        let (p1, b1) = (BlobId::random(), BlobId::random());
        let (k1, i1) = key.for_part(&upload, &p1);
        let (_, i2) = key.for_part(&upload, &b1);
        assert_ne!(i1.prefix, i2.prefix);
        let sealed = seal(&k1, b"part one", 3);
        let opened = kek().unwrap(&i1, &p1).unwrap();
        assert_eq!(part_info(&upload, &p1), i1);
        assert!(kek().unwrap_upload(&upload).is_ok());
        assert_eq!(open(&opened, &sealed, 8, 0, 8).unwrap(), b"part one");
        // Bound to the upload: another upload's context does not open it.
        let mut moved = i1.clone();
        moved.context = Some("upload:u2".into());
        assert!(kek().unwrap(&moved, &p1).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(sealed_len(0), 16);
        assert_eq!(sealed_len(SEGMENT_LEN), SEGMENT_LEN + 16);
        assert_eq!(sealed_len(SEGMENT_LEN + 1), SEGMENT_LEN + 1 + 32);
        assert_eq!(segment_span(10, 0, 0), None);
        assert_eq!(
            segment_span(SEGMENT_LEN * 3, SEGMENT_LEN - 1, 2),
            Some((0, 1))
        );
    }

    #[test]
    fn tamper_truncate_reorder_fail() {
        let (key, _) = kek().new_data_key(&BlobId::random()).unwrap();
        let plain = pattern(3 * SEGMENT_LEN as usize);
        let n = plain.len() as u64;
        let sealed = seal(&key, &plain, 10_000);
        assert_eq!(sealed.len() as u64, sealed_len(n));
        assert_eq!(open(&key, &sealed, n, 0, n).unwrap(), plain);
        // One flipped bit.
        let mut bad = sealed.clone();
        bad[100] ^= 1;
        assert!(matches!(
            open(&key, &bad, n, 0, n),
            Err(SseError::Corrupt(0))
        ));
        // Swapped segments.
        let seg = (SEGMENT_LEN + TAG_LEN) as usize;
        let mut swapped = sealed[seg..2 * seg].to_vec();
        swapped.extend_from_slice(&sealed[..seg]);
        swapped.extend_from_slice(&sealed[2 * seg..]);
        assert!(open(&key, &swapped, n, 0, 10).is_err());
        // Cut at a segment boundary, metadata claiming the shorter length: the new last
        // segment was sealed as non-final.
        let cut = &sealed[..2 * seg];
        assert!(matches!(
            open(&key, cut, 2 * SEGMENT_LEN, 0, 2 * SEGMENT_LEN),
            Err(SseError::Corrupt(1))
        ));
        // Cut, metadata unchanged.
        assert!(matches!(open(&key, cut, n, 0, n), Err(SseError::Truncated)));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_length_any_range(
            len in prop_oneof![0usize..300, 0usize..(3 * SEGMENT_LEN as usize + 100)],
            chunk in 1usize..100_000,
            a in any::<u64>(),
            b in any::<u64>(),
        ) {
            let (key, _) = kek().new_data_key(&BlobId::random()).unwrap();
            let plain = pattern(len);
            let sealed = seal(&key, &plain, chunk);
            prop_assert_eq!(sealed.len() as u64, sealed_len(len as u64));
            prop_assert_eq!(open(&key, &sealed, len as u64, 0, len as u64).unwrap(), plain.clone());
            if len > 0 {
                let from = a % len as u64;
                let n = 1 + b % (len as u64 - from);
                let got = open(&key, &sealed, len as u64, from, n).unwrap();
                prop_assert_eq!(&got[..], &plain[from as usize..(from + n) as usize]);
            }
        }
    }
}
