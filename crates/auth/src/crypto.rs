//! Small wrappers over the RustCrypto primitives used throughout the crate.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this never takes the error path;
    // the fallback keeps the function total without a panic.
    match HmacSha256::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0; 32],
    }
}

/// Lower-case hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    String::from(&*hex32(&Sha256::digest(data).into()))
}

/// Lower-case hex of a 32-byte digest, without allocating.
pub fn hex32(bytes: &[u8; 32]) -> Hex32 {
    let mut out = [0u8; 64];
    // The buffer is exactly twice the input: encoding cannot fail.
    let _ = hex::encode_to_slice(bytes, &mut out);
    Hex32(out)
}

/// The 64 lower-case hex digits of a digest ([`hex32`]).
#[derive(Clone, Copy)]
pub struct Hex32([u8; 64]);

impl std::ops::Deref for Hex32 {
    type Target = str;
    fn deref(&self) -> &str {
        // Hex digits are ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Constant-time equality (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Hex SHA-256 of the empty string, used in chunk string-to-sign.
pub const EMPTY_SHA256_HEX: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
