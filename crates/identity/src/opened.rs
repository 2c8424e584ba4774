//! Opened session credentials, by access key id.
//!
//! A client sends the same session token with every request for up to an hour. Opening it
//! (AEAD and the claims' JSON) and deriving its secret cost more than the rest of a request's
//! authentication, so a repeat request takes them from here. The presented token is compared
//! with the one opened in constant time, and an entry is never used past the credentials'
//! expiry (the caller then opens the token again, which reports it expired).

use cubby_s3::Caller;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use subtle::ConstantTimeEq;

/// At most this many sessions are kept; a full cache is emptied (rebuilding an entry costs
/// one token open).
const MAX_SESSIONS: usize = 10_000;

/// One opened session.
pub(crate) struct OpenedSession {
    /// The token it was opened from.
    token: String,
    /// The session's secret access key.
    pub secret: String,
    /// The caller it authenticates (its `detail` holds the claims, `expires_at` the expiry).
    pub caller: Caller,
}

impl OpenedSession {
    /// Remember an opened token.
    pub fn new(token: &str, secret: String, caller: Caller) -> Self {
        OpenedSession {
            token: token.to_owned(),
            secret,
            caller,
        }
    }
}

/// Constant-time equality of two tokens: eight bytes at a time, folded with OR, and no
/// branch on the contents (subtle's per-byte `ct_eq` cost 7% of a request's authentication
/// for a 1 KB token).
fn same_token(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut diff, mut ca, mut cb) = (0u64, a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut ca).zip(&mut cb) {
        let word = |c: &[u8]| c.try_into().map(u64::from_ne_bytes).unwrap_or(0);
        diff |= word(x) ^ word(y);
    }
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        diff |= u64::from(x ^ y);
    }
    diff.ct_eq(&0).into()
}

/// The cache.
#[derive(Default)]
pub(crate) struct OpenedSessions {
    map: RwLock<HashMap<String, Arc<OpenedSession>>>,
}

impl OpenedSessions {
    /// The session opened from exactly `token` for `access_key_id`, if it is cached and not
    /// expired at `now`.
    pub fn get(&self, access_key_id: &str, token: &str, now: i64) -> Option<Arc<OpenedSession>> {
        let map = self.map.read().ok()?;
        let s = map.get(access_key_id)?;
        let live = s.caller.expires_at.is_some_and(|e| now < e);
        (same_token(s.token.as_bytes(), token.as_bytes()) && live).then(|| s.clone())
    }

    /// Remember a session opened for `access_key_id`.
    pub fn insert(&self, access_key_id: &str, session: Arc<OpenedSession>) {
        if let Ok(mut map) = self.map.write() {
            if map.len() >= MAX_SESSIONS {
                map.clear();
            }
            map.insert(access_key_id.to_owned(), session);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(token: &str, expires_at: i64) -> Arc<OpenedSession> {
        let caller = Caller {
            expires_at: Some(expires_at),
            ..Caller::anonymous()
        };
        Arc::new(OpenedSession::new(token, "secret".into(), caller))
    }

    #[test]
    fn token_comparison_sees_every_byte() {
        let a: Vec<u8> = (0..1037u32).map(|i| (i % 251) as u8).collect();
        assert!(same_token(&a, &a.clone()));
        for i in [0, 7, 8, 500, 1031, 1032, 1036] {
            let mut b = a.clone();
            b[i] ^= 1;
            assert!(!same_token(&a, &b), "byte {i}");
        }
        assert!(!same_token(&a, &a[..1036]));
        assert!(same_token(b"", b""));
    }

    #[test]
    fn only_the_same_token_before_expiry_is_served() {
        let c = OpenedSessions::default();
        c.insert("ASIAONE", session("token-a", 100));
        assert!(c.get("ASIAONE", "token-a", 99).is_some());
        assert!(c.get("ASIAONE", "token-b", 99).is_none());
        assert!(c.get("ASIAONE", "token-a", 100).is_none());
        assert!(c.get("ASIATWO", "token-a", 99).is_none());
    }
}
