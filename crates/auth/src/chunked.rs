//! Sans-IO decoder for `Content-Encoding: aws-chunked` request bodies.
//!
//! Framing: `hex-size[;chunk-signature=sig]\r\n<data>\r\n` repeated, then a
//! zero-size chunk, optional trailer lines `name:value\r\n` and a final
//! `\r\n`. Signed streams carry a chained signature per chunk and, with
//! trailers, an `x-amz-trailer-signature` over the canonical trailers.
//!
//! Memory is bounded: only header/trailer lines are buffered (4 KiB each);
//! chunk data is passed through and hashed incrementally, so chunk size is
//! limited only by [`ChunkedDecoder::with_max_chunk_size`].

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};

use crate::crypto::{EMPTY_SHA256_HEX, ct_eq, hmac_sha256, sha256_hex};
use crate::error::{AuthError, SignatureMismatch};

/// Longest chunk header or trailer line accepted.
pub const MAX_LINE: usize = 4096;
/// Most trailer lines accepted.
pub const MAX_TRAILERS: usize = 16;
/// Default chunk size limit: S3's largest single PUT. Data is streamed, not
/// buffered, so this bounds nothing in memory; SDKs (aws-sdk-rust) do send
/// a whole in-memory body as one chunk.
pub const DEFAULT_MAX_CHUNK: u64 = 5 * 1024 * 1024 * 1024;

const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";

/// Chain state for signed streams.
struct Signer {
    key: [u8; 32],
    prev: String,
    amz_date: String,
    scope: String,
}

impl Signer {
    fn sign(&self, kind: &str, hash_hex: &str, extra_empty: bool) -> String {
        let sts = if extra_empty {
            format!(
                "{kind}\n{}\n{}\n{}\n{EMPTY_SHA256_HEX}\n{hash_hex}",
                self.amz_date, self.scope, self.prev
            )
        } else {
            format!(
                "{kind}\n{}\n{}\n{}\n{hash_hex}",
                self.amz_date, self.scope, self.prev
            )
        };
        hex::encode(hmac_sha256(&self.key, sts.as_bytes()))
    }

    /// Check `claimed` against the signature computed over `hash_hex` and
    /// advance the chain.
    fn check(
        &mut self,
        kind: &str,
        hash_hex: &str,
        claimed: &str,
        chunk: bool,
    ) -> Result<(), AuthError> {
        let expected = self.sign(kind, hash_hex, chunk);
        if !ct_eq(expected.as_bytes(), claimed.as_bytes()) {
            return Err(AuthError::SignatureDoesNotMatch(Box::new(
                SignatureMismatch {
                    signature_provided: claimed.to_owned(),
                    ..SignatureMismatch::default()
                },
            )));
        }
        claimed.clone_into(&mut self.prev);
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a chunk header line.
    Header,
    /// Passing through chunk data.
    Data,
    /// Expecting the `\r` (0) or `\n` (1) after chunk data.
    DataCrlf(u8),
    /// After the zero-size chunk: trailer lines until an empty line.
    Trailers,
    /// Complete; only stray CR/LF may follow.
    Done,
    /// An error was returned; every later call fails.
    Failed,
}

/// Incremental aws-chunked decoder. Feed it the raw body in pieces of any
/// size; output does not depend on how the input was split.
pub struct ChunkedDecoder {
    signer: Option<Signer>,
    expect_trailer: bool,
    max_chunk: u64,
    state: State,
    line: Vec<u8>,
    remaining: u64,
    hasher: Sha256,
    chunk_sig: String,
    trailers: Vec<(String, String)>,
    trailer_sig: Option<String>,
    decoded: u64,
}

impl std::fmt::Debug for ChunkedDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkedDecoder")
            .field("signed", &self.signer.is_some())
            .field("state", &self.state)
            .field("decoded", &self.decoded)
            .finish_non_exhaustive()
    }
}

impl ChunkedDecoder {
    fn new(signer: Option<Signer>, expect_trailer: bool) -> Self {
        Self {
            signer,
            expect_trailer,
            max_chunk: DEFAULT_MAX_CHUNK,
            state: State::Header,
            line: Vec::new(),
            remaining: 0,
            hasher: Sha256::new(),
            chunk_sig: String::new(),
            trailers: Vec::new(),
            trailer_sig: None,
            decoded: 0,
        }
    }

    /// Decoder for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` (`expect_trailer =
    /// false`) or `...-PAYLOAD-TRAILER` (`true`), seeded from
    /// [`crate::sigv4::Verified`] and the request's `amz_date`.
    pub fn signed(
        signing_key: [u8; 32],
        seed_signature: String,
        amz_date: String,
        scope: String,
        expect_trailer: bool,
    ) -> Self {
        Self::new(
            Some(Signer {
                key: signing_key,
                prev: seed_signature,
                amz_date,
                scope,
            }),
            expect_trailer,
        )
    }

    /// Decoder for `STREAMING-UNSIGNED-PAYLOAD-TRAILER` (or plain unsigned
    /// aws-chunked when `expect_trailer` is false).
    pub fn unsigned(expect_trailer: bool) -> Self {
        Self::new(None, expect_trailer)
    }

    /// Change the per-chunk size limit (default [`DEFAULT_MAX_CHUNK`]).
    pub fn with_max_chunk_size(mut self, max: u64) -> Self {
        self.max_chunk = max;
        self
    }

    /// Feed raw body bytes; decoded payload is appended to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut BytesMut) -> Result<(), AuthError> {
        self.run(input, &mut |r| {
            if let Some(s) = input.get(r) {
                out.extend_from_slice(s);
            }
        })
    }

    /// Zero-copy variant of [`Self::feed`]: decoded payload is pushed as
    /// slices of `input`.
    pub fn feed_bytes(&mut self, input: &Bytes, out: &mut Vec<Bytes>) -> Result<(), AuthError> {
        self.run(input, &mut |r| out.push(input.slice(r)))
    }

    /// Call at end of input: fails unless the final chunk (and the trailers
    /// when expected) were seen. A missing blank line after the last
    /// trailer is tolerated.
    pub fn finish(&mut self) -> Result<(), AuthError> {
        match self.state {
            State::Done => Ok(()),
            State::Trailers
                if self.line.is_empty()
                    && (!self.trailers.is_empty() || self.trailer_sig.is_some()) =>
            {
                let r = self.end_trailers();
                self.state = if r.is_ok() {
                    State::Done
                } else {
                    State::Failed
                };
                r
            }
            State::Failed => Err(AuthError::chunk("The chunked body was already rejected.")),
            _ => {
                self.state = State::Failed;
                Err(AuthError::IncompleteBody)
            }
        }
    }

    /// Trailer headers seen (lower-case names, trimmed values), without the
    /// trailer signature.
    pub fn trailers(&self) -> &[(String, String)] {
        &self.trailers
    }

    /// Decoded payload bytes so far (compare with
    /// `x-amz-decoded-content-length`).
    pub fn decoded_len(&self) -> u64 {
        self.decoded
    }

    /// True once the final chunk and trailers were seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    fn run(&mut self, input: &[u8], emit: &mut dyn FnMut(Range<usize>)) -> Result<(), AuthError> {
        if self.state == State::Failed {
            return Err(AuthError::chunk("The chunked body was already rejected."));
        }
        let r = self.step_all(input, emit);
        if r.is_err() {
            self.state = State::Failed;
        }
        r
    }

    fn step_all(
        &mut self,
        input: &[u8],
        emit: &mut dyn FnMut(Range<usize>),
    ) -> Result<(), AuthError> {
        let mut pos = 0;
        while pos < input.len() {
            let rest = input.get(pos..).unwrap_or_default();
            match self.state {
                State::Header | State::Trailers => {
                    let Some(line) = self.take_line(rest, &mut pos)? else {
                        continue;
                    };
                    if self.state == State::Header {
                        self.on_header(&line)?;
                    } else {
                        self.on_trailer(&line)?;
                    }
                }
                State::Data => {
                    let n = usize::try_from(self.remaining)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    let data = rest.get(..n).unwrap_or_default();
                    if self.signer.is_some() {
                        self.hasher.update(data);
                    }
                    emit(pos..pos + n);
                    pos += n;
                    self.remaining -= n as u64;
                    self.decoded += n as u64;
                    if self.remaining == 0 {
                        self.state = State::DataCrlf(0);
                    }
                }
                State::DataCrlf(i) => {
                    let want = if i == 0 { b'\r' } else { b'\n' };
                    if rest.first() != Some(&want) {
                        return Err(AuthError::chunk("Chunk data is not followed by CRLF."));
                    }
                    pos += 1;
                    if i == 0 {
                        self.state = State::DataCrlf(1);
                    } else {
                        self.end_chunk()?;
                        self.state = State::Header;
                    }
                }
                State::Done => {
                    // Tolerate stray line ends some clients append.
                    if !rest.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                        return Err(AuthError::chunk("Data after the final chunk."));
                    }
                    pos = input.len();
                }
                State::Failed => {
                    return Err(AuthError::chunk("The chunked body was already rejected."));
                }
            }
        }
        Ok(())
    }

    /// Accumulate up to the next `\n`; return the line without CRLF once
    /// complete. Lines must end in CRLF.
    fn take_line(&mut self, rest: &[u8], pos: &mut usize) -> Result<Option<Vec<u8>>, AuthError> {
        let found = rest.iter().position(|&b| b == b'\n');
        let take = found.map_or(rest.len(), |i| i + 1);
        if self.line.len() + take > MAX_LINE {
            return Err(AuthError::chunk("Chunk header or trailer line too long."));
        }
        self.line
            .extend_from_slice(rest.get(..take).unwrap_or_default());
        *pos += take;
        if found.is_none() {
            return Ok(None);
        }
        let mut line = std::mem::take(&mut self.line);
        line.pop(); // '\n'
        if line.pop() != Some(b'\r') {
            return Err(AuthError::chunk("Chunk line is not terminated by CRLF."));
        }
        Ok(Some(line))
    }

    fn on_header(&mut self, line: &[u8]) -> Result<(), AuthError> {
        let line =
            std::str::from_utf8(line).map_err(|_| AuthError::chunk("Invalid chunk header."))?;
        let mut parts = line.split(';');
        let size_str = parts.next().unwrap_or_default().trim();
        if size_str.is_empty() || size_str.len() > 16 {
            return Err(AuthError::chunk("Invalid chunk size."));
        }
        let size = u64::from_str_radix(size_str, 16)
            .map_err(|_| AuthError::chunk("Invalid chunk size."))?;
        if size > self.max_chunk {
            return Err(AuthError::chunk("Chunk size exceeds the maximum allowed."));
        }
        if self.signer.is_some() {
            let sig = parts
                .filter_map(|ext| ext.trim().split_once('='))
                .find(|(k, _)| k.trim() == "chunk-signature")
                .map(|(_, v)| v.trim())
                .ok_or_else(|| AuthError::chunk("Chunk header is missing chunk-signature."))?;
            sig.clone_into(&mut self.chunk_sig);
        }
        self.remaining = size;
        if size == 0 {
            // The zero-size chunk is signed like any other (over empty data).
            self.end_chunk()?;
            self.state = State::Trailers;
        } else {
            self.state = State::Data;
        }
        Ok(())
    }

    /// Verify the signature of the chunk that just ended (signed mode).
    fn end_chunk(&mut self) -> Result<(), AuthError> {
        let digest = std::mem::replace(&mut self.hasher, Sha256::new()).finalize();
        if let Some(signer) = &mut self.signer {
            signer.check(
                "AWS4-HMAC-SHA256-PAYLOAD",
                &hex::encode(digest),
                &self.chunk_sig,
                true,
            )?;
        }
        Ok(())
    }

    fn on_trailer(&mut self, line: &[u8]) -> Result<(), AuthError> {
        if line.is_empty() {
            self.end_trailers()?;
            self.state = State::Done;
            return Ok(());
        }
        if !self.expect_trailer {
            return Err(AuthError::chunk(
                "Unexpected trailer after the final chunk.",
            ));
        }
        let line = std::str::from_utf8(line).map_err(|_| AuthError::chunk("Invalid trailer."))?;
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| AuthError::chunk("Invalid trailer."))?;
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim().to_owned();
        if name.is_empty() {
            return Err(AuthError::chunk("Invalid trailer."));
        }
        if name == TRAILER_SIGNATURE {
            self.trailer_sig = Some(value);
        } else {
            if self.trailers.len() >= MAX_TRAILERS {
                return Err(AuthError::chunk("Too many trailers."));
            }
            self.trailers.push((name, value));
        }
        Ok(())
    }

    /// Trailers complete: verify the trailer signature in signed mode.
    ///
    /// A stream with no trailer at all is accepted: whether one was required
    /// is declared by the (signed) `x-amz-trailer` header, which the server
    /// checks against [`Self::trailers`].
    fn end_trailers(&mut self) -> Result<(), AuthError> {
        let Some(signer) = &mut self.signer else {
            return Ok(());
        };
        if self.trailers.is_empty() && self.trailer_sig.is_none() {
            return Ok(());
        }
        let claimed = self
            .trailer_sig
            .as_deref()
            .ok_or_else(|| AuthError::chunk("The trailer signature is missing."))?;
        signer.check(
            "AWS4-HMAC-SHA256-TRAILER",
            &sha256_hex(canonical_trailers(&self.trailers).as_bytes()),
            claimed,
            false,
        )
    }
}

/// `name:value\n` per trailer, the form the trailer signature covers.
pub fn canonical_trailers(trailers: &[(String, String)]) -> String {
    trailers.iter().map(|(n, v)| format!("{n}:{v}\n")).collect()
}

/// Client-side encoder, for tests, the bench and fuzz seeds: frame
/// `chunks` as aws-chunked, signing when `signer` is
/// `Some((signing_key, seed_signature, amz_date, scope))`, appending
/// `trailers` (signed too in signed mode).
pub fn encode(
    chunks: &[&[u8]],
    signer: Option<([u8; 32], &str, &str, &str)>,
    trailers: &[(&str, &str)],
) -> Vec<u8> {
    let mut s = signer.map(|(key, seed, amz_date, scope)| Signer {
        key,
        prev: seed.to_owned(),
        amz_date: amz_date.to_owned(),
        scope: scope.to_owned(),
    });
    let mut out = Vec::new();
    let empty: &[u8] = &[];
    for data in chunks
        .iter()
        .copied()
        .filter(|c| !c.is_empty())
        .chain(std::iter::once(empty))
    {
        out.extend_from_slice(format!("{:x}", data.len()).as_bytes());
        if let Some(s) = &mut s {
            let sig = s.sign("AWS4-HMAC-SHA256-PAYLOAD", &sha256_hex(data), true);
            out.extend_from_slice(format!(";chunk-signature={sig}").as_bytes());
            s.prev = sig;
        }
        out.extend_from_slice(b"\r\n");
        if !data.is_empty() {
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
    }
    let owned: Vec<(String, String)> = trailers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    for (n, v) in &owned {
        out.extend_from_slice(format!("{n}:{v}\r\n").as_bytes());
    }
    if let (Some(s), false) = (&s, owned.is_empty()) {
        let sig = s.sign(
            "AWS4-HMAC-SHA256-TRAILER",
            &sha256_hex(canonical_trailers(&owned).as_bytes()),
            false,
        );
        out.extend_from_slice(format!("{TRAILER_SIGNATURE}:{sig}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}
