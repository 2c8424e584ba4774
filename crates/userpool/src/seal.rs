//! AEAD sealing with purpose-bound subkeys of the master key.
//!
//! Every purpose (SRP secret blocks, refresh tokens, challenge sessions, wrapped signing keys,
//! stored verifiers, client secrets) gets its own key `subkey(master, label)`, so a blob made
//! for one purpose never opens as another. Layout: `version(1) ‖ nonce(24) ‖ ciphertext`.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use cubby_auth::session::{MasterKey, subkey};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
/// Sealed blobs longer than this (encoded) are refused before decoding.
pub const MAX_SEALED_LEN: usize = 16 * 1024;

/// One purpose's AEAD key.
#[derive(Clone)]
pub(crate) struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    /// The sealer for `label` (domain-separated subkey of the master key).
    pub(crate) fn new(master: &MasterKey, label: &str) -> Self {
        Sealer {
            cipher: XChaCha20Poly1305::new(&subkey(master, label).into()),
        }
    }

    /// Seal `msg` bound to `aad`; a fresh random nonce each time.
    pub(crate) fn seal(&self, aad: &[u8], msg: &[u8]) -> Vec<u8> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        // Encryption fails only for plaintexts beyond ~256 GiB; an empty ciphertext then never opens.
        let ct = self
            .cipher
            .encrypt(&nonce.into(), Payload { msg, aad })
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Open a blob made by [`Sealer::seal`] with the same `aad`.
    pub(crate) fn open(&self, aad: &[u8], blob: &[u8]) -> Option<Vec<u8>> {
        let (Some(&VERSION), Some(nonce), Some(ct)) = (
            blob.first(),
            blob.get(1..1 + NONCE_LEN),
            blob.get(1 + NONCE_LEN..),
        ) else {
            return None;
        };
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        self.cipher
            .decrypt(&nonce.into(), Payload { msg: ct, aad })
            .ok()
    }

    /// Seal to standard base64 (SECRET_BLOCK: clients base64-decode it for the signature).
    pub(crate) fn seal_b64(&self, aad: &[u8], msg: &[u8]) -> String {
        STANDARD.encode(self.seal(aad, msg))
    }

    /// Open standard base64.
    pub(crate) fn open_b64(&self, aad: &[u8], text: &str) -> Option<Vec<u8>> {
        if text.len() > MAX_SEALED_LEN {
            return None;
        }
        self.open(aad, &STANDARD.decode(text.trim()).ok()?)
    }

    /// Seal to URL-safe base64 without padding (tokens, sessions, stored blobs).
    pub(crate) fn seal_url(&self, aad: &[u8], msg: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.seal(aad, msg))
    }

    /// Open URL-safe base64.
    pub(crate) fn open_url(&self, aad: &[u8], text: &str) -> Option<Vec<u8>> {
        if text.len() > MAX_SEALED_LEN {
            return None;
        }
        self.open(aad, &URL_SAFE_NO_PAD.decode(text.trim()).ok()?)
    }
}

/// All the purpose keys of the user-pool service.
pub(crate) struct Keys {
    /// SRP `SECRET_BLOCK` state.
    pub secret_block: Sealer,
    /// Opaque refresh tokens.
    pub refresh: Sealer,
    /// Challenge `Session` strings (NEW_PASSWORD_REQUIRED).
    pub session: Sealer,
    /// RSA signing keys at rest.
    pub signing_key: Sealer,
    /// SRP verifiers at rest (password-equivalent for offline guessing).
    pub verifier: Sealer,
    /// App client secrets at rest.
    pub client_secret: Sealer,
    /// MAC key for confirmation codes at rest and for decoy SRP salts.
    pub mac: [u8; 32],
}

impl Keys {
    pub(crate) fn new(master: &MasterKey) -> Self {
        Keys {
            secret_block: Sealer::new(master, "cubby/userpool/secret-block/v1"),
            refresh: Sealer::new(master, "cubby/userpool/refresh-token/v1"),
            session: Sealer::new(master, "cubby/userpool/session/v1"),
            signing_key: Sealer::new(master, "cubby/userpool/signing-key/v1"),
            verifier: Sealer::new(master, "cubby/userpool/verifier/v1"),
            client_secret: Sealer::new(master, "cubby/userpool/client-secret/v1"),
            mac: subkey(master, "cubby/userpool/mac/v1"),
        }
    }
}
