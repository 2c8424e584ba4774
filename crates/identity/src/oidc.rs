//! JWKS of external OIDC issuers: discovered over HTTP(S)
//! (`{issuer}/.well-known/openid-configuration` → `jwks_uri`), cached, refetched when a token
//! names an unknown `kid` — at most once a minute per issuer.

use jsonwebtoken::jwk::JwkSet;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Cached key sets older than this are refetched.
const MAX_AGE_SECS: i64 = 3600;
/// Minimum interval between fetches of one issuer.
const REFETCH_SECS: i64 = 60;
/// Largest discovery / JWKS document read.
const MAX_DOC_BYTES: usize = 1024 * 1024;

/// Failure reaching an issuer.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub(crate) struct FetchError(pub String);

struct Cached {
    jwks: Arc<JwkSet>,
    fetched: i64,
}

/// Per-issuer JWKS cache.
#[derive(Default)]
pub(crate) struct JwksCache {
    map: Mutex<HashMap<String, Cached>>,
    client: OnceLock<reqwest::Client>,
}

impl JwksCache {
    /// Drop an issuer's keys (provider deleted); `key` is the issuer without scheme.
    pub(crate) fn forget(&self, key: &str) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(key);
        }
    }

    fn cached(&self, key: &str) -> Option<(Arc<JwkSet>, i64)> {
        let m = self.map.lock().ok()?;
        m.get(key).map(|c| (c.jwks.clone(), c.fetched))
    }

    /// The key set of `issuer` (full URL), fetching when missing, old, or lacking `kid`.
    pub(crate) async fn get(
        &self,
        issuer: &str,
        kid: Option<&str>,
        now: i64,
    ) -> Result<Arc<JwkSet>, FetchError> {
        let issuer = issuer.trim_end_matches('/');
        let key = crate::iam::provider_key(issuer);
        let key = key.as_str();
        if let Some((jwks, fetched)) = self.cached(key) {
            let has_kid = kid.is_none_or(|k| jwks.find(k).is_some());
            let age = now.saturating_sub(fetched);
            if (has_kid && age < MAX_AGE_SECS) || age < REFETCH_SECS {
                return Ok(jwks);
            }
        }
        let jwks = Arc::new(self.fetch(issuer).await?);
        if let Ok(mut m) = self.map.lock() {
            m.insert(
                key.to_owned(),
                Cached {
                    jwks: jwks.clone(),
                    fetched: now,
                },
            );
        }
        Ok(jwks)
    }

    fn client(&self) -> Result<&reqwest::Client, FetchError> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let c = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| FetchError(e.to_string()))?;
        Ok(self.client.get_or_init(|| c))
    }

    async fn get_json(&self, url: &str) -> Result<serde_json::Value, FetchError> {
        let mut resp = self
            .client()?
            .get(url)
            .send()
            .await
            .map_err(|e| FetchError(format!("{url}: {e}")))?;
        if !resp.status().is_success() {
            return Err(FetchError(format!("{url}: HTTP {}", resp.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| FetchError(format!("{url}: {e}")))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOC_BYTES {
                return Err(FetchError(format!("{url}: document too large")));
            }
        }
        serde_json::from_slice(&body).map_err(|e| FetchError(format!("{url}: {e}")))
    }

    async fn fetch(&self, issuer: &str) -> Result<JwkSet, FetchError> {
        let discovery = self
            .get_json(&format!("{issuer}/.well-known/openid-configuration"))
            .await?;
        let jwks_uri = discovery
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .ok_or_else(|| FetchError(format!("{issuer}: discovery document has no jwks_uri")))?
            .to_owned();
        let doc = self.get_json(&jwks_uri).await?;
        // Keep the keys this library understands; skip the rest (e.g. encryption keys).
        let keys = doc
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or_else(|| FetchError(format!("{jwks_uri}: no keys")))?
            .iter()
            .filter_map(|k| serde_json::from_value(k.clone()).ok())
            .collect();
        Ok(JwkSet { keys })
    }
}
