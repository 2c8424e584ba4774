//! Browser POST-object policy signatures (the policy conditions themselves
//! are evaluated by the S3 crate).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::crypto::{ct_eq, hmac_sha256};

/// SigV4 POST signature: `hex(HMAC-SHA256(signing_key, base64_policy))`;
/// the string to sign is the base64 policy text itself.
pub fn sign_v4(signing_key: &[u8; 32], base64_policy: &str) -> String {
    hex::encode(hmac_sha256(signing_key, base64_policy.as_bytes()))
}

/// Verify a SigV4 POST signature in constant time (hex compared
/// case-insensitively).
pub fn verify_v4(signing_key: &[u8; 32], base64_policy: &str, signature_hex: &str) -> bool {
    let expected = sign_v4(signing_key, base64_policy);
    ct_eq(
        expected.as_bytes(),
        signature_hex.trim().to_ascii_lowercase().as_bytes(),
    )
}

/// Legacy (SigV2) POST signature: `base64(HMAC-SHA1(secret, base64_policy))`.
pub fn sign_v2(secret: &str, base64_policy: &str) -> String {
    match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(base64_policy.as_bytes());
            STANDARD.encode(mac.finalize().into_bytes())
        }
        // HMAC takes keys of any length; unreachable, kept total.
        Err(_) => String::new(),
    }
}

/// Verify a legacy POST signature in constant time.
pub fn verify_v2(secret: &str, base64_policy: &str, signature_b64: &str) -> bool {
    let expected = sign_v2(secret, base64_policy);
    !expected.is_empty() && ct_eq(expected.as_bytes(), signature_b64.trim().as_bytes())
}
