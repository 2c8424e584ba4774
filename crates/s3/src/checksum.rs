//! Flexible checksums (CRC32, CRC32C, CRC64NVME, SHA1, SHA256): computed while the body
//! streams, verified against the header or trailer value, stored and returned on request.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use sha1::Digest as _;

/// A checksum algorithm S3 supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum Algo {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl Algo {
    /// All algorithms, in the order S3 checks headers.
    pub const ALL: [Algo; 5] = [
        Algo::Crc32,
        Algo::Crc32c,
        Algo::Crc64Nvme,
        Algo::Sha1,
        Algo::Sha256,
    ];

    /// Parse `CRC32`, `crc32c`, … (the `x-amz-checksum-algorithm` / `x-amz-sdk-checksum-algorithm` value).
    pub fn parse(s: &str) -> Option<Algo> {
        Some(match s.to_ascii_uppercase().as_str() {
            "CRC32" => Algo::Crc32,
            "CRC32C" => Algo::Crc32c,
            "CRC64NVME" => Algo::Crc64Nvme,
            "SHA1" => Algo::Sha1,
            "SHA256" => Algo::Sha256,
            _ => return None,
        })
    }
    /// `CRC32`, … as S3 spells it in headers and XML values.
    pub fn name(self) -> &'static str {
        match self {
            Algo::Crc32 => "CRC32",
            Algo::Crc32c => "CRC32C",
            Algo::Crc64Nvme => "CRC64NVME",
            Algo::Sha1 => "SHA1",
            Algo::Sha256 => "SHA256",
        }
    }
    /// `x-amz-checksum-crc32`, …
    pub fn header(self) -> &'static str {
        match self {
            Algo::Crc32 => "x-amz-checksum-crc32",
            Algo::Crc32c => "x-amz-checksum-crc32c",
            Algo::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algo::Sha1 => "x-amz-checksum-sha1",
            Algo::Sha256 => "x-amz-checksum-sha256",
        }
    }
    /// `ChecksumCRC32`, … (XML element names).
    pub fn xml_name(self) -> &'static str {
        match self {
            Algo::Crc32 => "ChecksumCRC32",
            Algo::Crc32c => "ChecksumCRC32C",
            Algo::Crc64Nvme => "ChecksumCRC64NVME",
            Algo::Sha1 => "ChecksumSHA1",
            Algo::Sha256 => "ChecksumSHA256",
        }
    }
    /// Raw digest length in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Algo::Crc32 | Algo::Crc32c => 4,
            Algo::Crc64Nvme => 8,
            Algo::Sha1 => 20,
            Algo::Sha256 => 32,
        }
    }
    /// Whether the algorithm supports FULL_OBJECT multipart checksums (the CRCs combine).
    pub fn is_crc(self) -> bool {
        matches!(self, Algo::Crc32 | Algo::Crc32c | Algo::Crc64Nvme)
    }
}

/// Incremental hasher for one algorithm.
pub enum Hasher {
    /// CRC32 (IEEE).
    Crc32(crc32fast::Hasher),
    /// CRC32C (Castagnoli).
    Crc32c(u32),
    /// CRC64/NVME.
    Crc64(crc64fast_nvme::Digest),
    /// SHA-1.
    Sha1(sha1::Sha1),
    /// SHA-256.
    Sha256(sha2::Sha256),
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(algo: Algo) -> Self {
        match algo {
            Algo::Crc32 => Hasher::Crc32(crc32fast::Hasher::new()),
            Algo::Crc32c => Hasher::Crc32c(0),
            Algo::Crc64Nvme => Hasher::Crc64(crc64fast_nvme::Digest::new()),
            Algo::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Algo::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
        }
    }
    /// Feed bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc32(h) => h.update(data),
            Hasher::Crc32c(c) => *c = crc32c::crc32c_append(*c, data),
            Hasher::Crc64(h) => h.write(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }
    /// The raw digest.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            Hasher::Crc32c(c) => c.to_be_bytes().to_vec(),
            Hasher::Crc64(h) => h.sum64().to_be_bytes().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// Digest of `data` in one go.
pub fn digest(algo: Algo, data: &[u8]) -> Vec<u8> {
    let mut h = Hasher::new(algo);
    h.update(data);
    h.finish()
}

/// A checksum as stored with an object or part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// Algorithm.
    pub algo: Algo,
    /// Base64 value (composite multipart values carry the `-N` suffix).
    pub value: String,
    /// `FULL_OBJECT` or `COMPOSITE`.
    pub kind: String,
}

/// Base64 of raw digest bytes.
pub fn b64(raw: &[u8]) -> String {
    B64.encode(raw)
}

/// Decode a base64 checksum header value and check its length.
pub fn decode(algo: Algo, value: &str) -> Option<Vec<u8>> {
    let raw = B64.decode(value.trim()).ok()?;
    (raw.len() == algo.digest_len()).then_some(raw)
}

/// Combine CRCs of consecutive byte ranges into the CRC of their concatenation: the FULL_OBJECT
/// checksum of a multipart upload, computed without reading the data again.
pub fn combine_crc(algo: Algo, parts: &[(Vec<u8>, u64)]) -> Option<Vec<u8>> {
    let (poly, width): (u64, u32) = match algo {
        Algo::Crc32 => (0xEDB8_8320, 32),
        Algo::Crc32c => (0x82F6_3B78, 32),
        Algo::Crc64Nvme => (0x9A6C_9329_AC4B_C9B5, 64),
        _ => return None,
    };
    let mut acc: Option<u64> = None;
    for (raw, len) in parts {
        let v = match width {
            32 => u64::from(u32::from_be_bytes(raw.as_slice().try_into().ok()?)),
            _ => u64::from_be_bytes(raw.as_slice().try_into().ok()?),
        };
        acc = Some(match acc {
            None => v,
            Some(a) => crc_combine(a, v, *len, poly, width),
        });
    }
    let acc = acc.unwrap_or(0);
    Some(match width {
        32 => (acc as u32).to_be_bytes().to_vec(),
        _ => acc.to_be_bytes().to_vec(),
    })
}

/// zlib's crc32_combine generalized to reflected CRCs of width 32 or 64 (GF(2) matrix
/// exponentiation: append `len2` zero bytes to crc1, then xor crc2).
fn crc_combine(crc1: u64, crc2: u64, mut len2: u64, poly: u64, width: u32) -> u64 {
    let w = width as usize;
    if len2 == 0 {
        return crc1;
    }
    let mut odd = vec![0u64; w];
    let mut even = vec![0u64; w];
    odd[0] = poly;
    let mut row = 1u64;
    for item in odd.iter_mut().skip(1) {
        *item = row;
        row <<= 1;
    }
    gf2_square(&mut even, &odd);
    gf2_square(&mut odd, &even);
    let mut crc1 = crc1;
    loop {
        gf2_square(&mut even, &odd);
        if len2 & 1 != 0 {
            crc1 = gf2_times(&even, crc1);
        }
        len2 >>= 1;
        if len2 == 0 {
            break;
        }
        gf2_square(&mut odd, &even);
        if len2 & 1 != 0 {
            crc1 = gf2_times(&odd, crc1);
        }
        len2 >>= 1;
        if len2 == 0 {
            break;
        }
    }
    crc1 ^ crc2
}

fn gf2_times(mat: &[u64], mut vec: u64) -> u64 {
    let mut sum = 0;
    let mut i = 0;
    while vec != 0 {
        if vec & 1 != 0 {
            sum ^= mat.get(i).copied().unwrap_or(0);
        }
        vec >>= 1;
        i += 1;
    }
    sum
}

fn gf2_square(square: &mut [u64], mat: &[u64]) {
    for n in 0..mat.len() {
        square[n] = gf2_times(mat, mat[n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(b64(&digest(Algo::Crc32, b"")), "AAAAAA==");
        assert_eq!(b64(&digest(Algo::Crc32, b"hello world")), "DUoRhQ==");
        assert_eq!(b64(&digest(Algo::Crc32c, b"hello world")), "yZRlqg==");
    }

    #[test]
    fn combine_matches_whole() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for algo in [Algo::Crc32, Algo::Crc32c, Algo::Crc64Nvme] {
            let whole = digest(algo, &data);
            let (a, b) = data.split_at(37_123);
            let (b, c) = b.split_at(50_000);
            let parts = vec![
                (digest(algo, a), a.len() as u64),
                (digest(algo, b), b.len() as u64),
                (digest(algo, c), c.len() as u64),
            ];
            assert_eq!(combine_crc(algo, &parts).unwrap(), whole, "{algo:?}");
        }
    }
}
