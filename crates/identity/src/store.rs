//! Typed access to the namespaced JSON document table of `cubby-meta` (works on SQLite and
//! PostgreSQL). Every entity is one document; writes that read-modify-write use the document
//! version for optimistic concurrency.

use cubby_meta::{Meta, MetaError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// IAM roles, keyed by lower-cased role name (IAM names are case-insensitive).
pub(crate) const NS_ROLE: &str = "iam.role";
/// Customer managed policies, keyed by ARN.
pub(crate) const NS_POLICY: &str = "iam.policy";
/// IAM users, keyed by lower-cased user name.
pub(crate) const NS_USER: &str = "iam.user";
/// Long-term access keys, keyed by access key id.
pub(crate) const NS_ACCESS_KEY: &str = "iam.akey";
/// IAM OIDC providers, keyed by URL without scheme (`host/path`).
pub(crate) const NS_OIDC: &str = "iam.oidc";
/// Identity pools, keyed by pool id.
pub(crate) const NS_POOL: &str = "ci.pool";
/// Identities, keyed by identity id.
pub(crate) const NS_IDENTITY: &str = "ci.identity";
/// Login → identity index, keyed by `<pool id>|<provider>|<subject>`.
pub(crate) const NS_LOGIN: &str = "ci.login";
/// Pool → identity index, keyed by `<pool id>|<identity id>` (ListIdentities, pool deletion).
pub(crate) const NS_POOL_IDENTITY: &str = "ci.pool-identity";
/// Key material (the identity-pool token signing key, wrapped).
pub(crate) const NS_KEYS: &str = "id.keys";

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The metadata database failed.
    #[error("metadata: {0}")]
    Meta(#[from] MetaError),
    /// A stored document could not be read.
    #[error("corrupt document {ns}/{key}: {detail}")]
    Corrupt {
        /// Namespace.
        ns: &'static str,
        /// Key.
        key: String,
        /// Parser message.
        detail: String,
    },
    /// Optimistic concurrency kept failing.
    #[error("too much concurrent modification of {0}")]
    Contention(String),
}

/// The document store.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    meta: Meta,
}

fn decode<T: DeserializeOwned>(ns: &'static str, key: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        ns,
        key: key.to_owned(),
        detail: e.to_string(),
    })
}

fn encode<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Outcome of a read-modify-write closure.
pub(crate) enum Edit<R> {
    /// Write the modified document and return `R`.
    Write(R),
    /// Leave the document unchanged and return `R`.
    Keep(R),
}

impl Store {
    pub(crate) fn new(meta: Meta) -> Self {
        Store { meta }
    }

    /// Read a document and its version.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        ns: &'static str,
        key: &str,
    ) -> Result<Option<(T, i64)>, StoreError> {
        match self.meta.kv_get(ns, key).await? {
            Some((text, version)) => Ok(Some((decode(ns, key, &text)?, version))),
            None => Ok(None),
        }
    }

    /// Read a document's raw text and version.
    pub(crate) async fn get_raw(
        &self,
        ns: &'static str,
        key: &str,
    ) -> Result<Option<(String, i64)>, StoreError> {
        Ok(self.meta.kv_get(ns, key).await?)
    }

    /// Insert; `false` if the key is taken.
    pub(crate) async fn insert<T: Serialize>(
        &self,
        ns: &'static str,
        key: &str,
        v: &T,
    ) -> Result<bool, StoreError> {
        match self.meta.kv_insert(ns, key, &encode(v)).await {
            Ok(()) => Ok(true),
            Err(MetaError::AlreadyExists) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Replace if still at `version`; `false` on a concurrent change.
    pub(crate) async fn replace<T: Serialize>(
        &self,
        ns: &'static str,
        key: &str,
        v: &T,
        version: i64,
    ) -> Result<bool, StoreError> {
        match self.meta.kv_replace(ns, key, &encode(v), version).await {
            Ok(()) => Ok(true),
            Err(MetaError::PreconditionFailed) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Delete; whether it existed.
    pub(crate) async fn delete(&self, ns: &'static str, key: &str) -> Result<bool, StoreError> {
        Ok(self.meta.kv_delete(ns, key).await?)
    }

    /// Every document of a namespace whose key starts with `prefix`, in key order.
    pub(crate) async fn list_all<T: DeserializeOwned>(
        &self,
        ns: &'static str,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let page = self.meta.kv_list(ns, prefix, &after, 1000).await?;
            let n = page.len();
            for (k, text) in page {
                let v = decode(ns, &k, &text)?;
                after.clone_from(&k);
                out.push((k, v));
            }
            if n < 1000 {
                return Ok(out);
            }
        }
    }

    /// One page of documents after `after`.
    pub(crate) async fn list_page<T: DeserializeOwned>(
        &self,
        ns: &'static str,
        prefix: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let page = self.meta.kv_list(ns, prefix, after, limit).await?;
        page.into_iter()
            .map(|(k, text)| decode(ns, &k, &text).map(|v| (k, v)))
            .collect()
    }

    /// Read-modify-write with optimistic concurrency (retried). `Ok(None)`: no such document.
    pub(crate) async fn update<T, R, E>(
        &self,
        ns: &'static str,
        key: &str,
        mut f: impl FnMut(&mut T) -> Result<Edit<R>, E>,
    ) -> Result<Option<R>, E>
    where
        T: DeserializeOwned + Serialize,
        E: From<StoreError>,
    {
        for _ in 0..16 {
            let Some((mut doc, version)) = self.get::<T>(ns, key).await? else {
                return Ok(None);
            };
            match f(&mut doc)? {
                Edit::Keep(r) => return Ok(Some(r)),
                Edit::Write(r) => {
                    if self.replace(ns, key, &doc, version).await? {
                        return Ok(Some(r));
                    }
                }
            }
        }
        Err(StoreError::Contention(format!("{ns}/{key}")).into())
    }
}
