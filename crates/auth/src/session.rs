//! Session credentials derived from the cluster master key, so that any
//! node can authenticate a session without a database read:
//! the secret is `HMAC(subkey, access_key_id)` and the session token is an
//! AEAD-sealed claims blob bound to the access key id.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};

use crate::crypto::hmac_sha256;
use crate::error::AuthError;

/// Token format version; bump when the layout or key derivation changes.
const TOKEN_VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
/// Tokens larger than this are rejected before decoding (bounds work on
/// hostile input; real tokens are a few hundred bytes).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
const SECRET_LABEL: &str = "cubby/session-secret/v1";
const TOKEN_LABEL: &str = "cubby/session-token/v1";

/// The cluster master key (32 bytes). Its `Debug` never prints the key.
///
/// The two subkeys every S3 request with session credentials needs (the token key and the
/// secret key) are derived once, here, instead of with an HMAC per request.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    bytes: [u8; 32],
    /// `subkey(TOKEN_LABEL)`.
    token_key: [u8; 32],
    /// `subkey(SECRET_LABEL)`.
    secret_key: [u8; 32],
}

impl MasterKey {
    /// Wrap raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            bytes,
            token_key: hmac_sha256(&bytes, TOKEN_LABEL.as_bytes()),
            secret_key: hmac_sha256(&bytes, SECRET_LABEL.as_bytes()),
        }
    }

    /// Parse 64 hex characters (surrounding whitespace, such as the
    /// trailing newline of a key file, is ignored).
    pub fn from_hex(s: &str) -> Result<Self, AuthError> {
        let mut k = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut k).map_err(|_| AuthError::InvalidArgument {
            message: "The master key must be 64 hex characters.".into(),
            name: "master-key".into(),
            value: String::new(),
        })?;
        Ok(Self::from_bytes(k))
    }

    /// The raw key bytes (for persisting a freshly generated key).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Lower-case hex form, as stored in the key file.
    pub fn to_hex(&self) -> String {
        hex::encode(self.bytes)
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// Keyed derivation for any purpose: `HMAC-SHA256(master, label)`. Distinct
/// labels give independent keys (domain separation).
pub fn subkey(master: &MasterKey, label: &str) -> [u8; 32] {
    hmac_sha256(&master.bytes, label.as_bytes())
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A session access key id: `ASIA` + 16 base32 characters (80 random
/// bits), the shape AWS uses for temporary credentials.
pub fn new_access_key_id(random: [u8; 10]) -> String {
    let mut id = String::with_capacity(20);
    id.push_str("ASIA");
    let mut acc: u32 = 0;
    let mut bits = 0;
    for b in random {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            let idx = ((acc >> bits) & 31) as usize;
            id.push(char::from(BASE32.get(idx).copied().unwrap_or(b'A')));
        }
    }
    id
}

/// The secret access key of a session key id: 40 characters of base64 of
/// `HMAC-SHA256(subkey(master, "cubby/session-secret/v1"), access_key_id)`,
/// the length and alphabet of AWS secrets.
pub fn derive_secret(master: &MasterKey, access_key_id: &str) -> String {
    let mac = hmac_sha256(&master.secret_key, access_key_id.as_bytes());
    let mut s = STANDARD.encode(mac);
    s.truncate(40);
    s
}

fn cipher(master: &MasterKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(&master.token_key.into())
}

/// Seal `claims` into a session token: base64url (no padding) of
/// `version || nonce(24) || XChaCha20-Poly1305(claims)`, with the access key
/// id as associated data so a token only opens with its own key id.
/// URL-safe base64 needs no escaping in headers, query strings or form
/// fields. `nonce` must be random and never reused.
pub fn seal(master: &MasterKey, access_key_id: &str, claims: &[u8], nonce: [u8; 24]) -> String {
    let payload = Payload {
        msg: claims,
        aad: access_key_id.as_bytes(),
    };
    // Encryption only fails for plaintexts beyond ~256 GiB, which claims
    // never are; an empty ciphertext then yields a token that never opens.
    let ct = cipher(master)
        .encrypt(&nonce.into(), payload)
        .unwrap_or_default();
    let mut raw = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    raw.push(TOKEN_VERSION);
    raw.extend_from_slice(&nonce);
    raw.extend_from_slice(&ct);
    URL_SAFE_NO_PAD.encode(raw)
}

/// Open a session token sealed by [`seal`] for `access_key_id`. Any
/// tampering, a wrong key id or a wrong master key gives
/// [`AuthError::InvalidToken`]. Standard base64 is accepted too, in case a
/// client re-encoded the token.
pub fn open(master: &MasterKey, access_key_id: &str, token: &str) -> Result<Vec<u8>, AuthError> {
    let token = token.trim();
    if token.len() > MAX_TOKEN_LEN {
        return Err(AuthError::InvalidToken);
    }
    let raw = [URL_SAFE_NO_PAD, URL_SAFE, STANDARD_NO_PAD, STANDARD]
        .iter()
        .find_map(|e| e.decode(token).ok())
        .ok_or(AuthError::InvalidToken)?;
    let (Some(&TOKEN_VERSION), Some(nonce), Some(ct)) = (
        raw.first(),
        raw.get(1..1 + NONCE_LEN),
        raw.get(1 + NONCE_LEN..),
    ) else {
        return Err(AuthError::InvalidToken);
    };
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| AuthError::InvalidToken)?;
    cipher(master)
        .decrypt(
            &nonce.into(),
            Payload {
                msg: ct,
                aad: access_key_id.as_bytes(),
            },
        )
        .map_err(|_| AuthError::InvalidToken)
}
