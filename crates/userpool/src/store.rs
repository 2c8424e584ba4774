//! Typed access to the metadata store's namespaced document table.
//!
//! | namespace | key | value |
//! |---|---|---|
//! | `userpool.pool` | pool id | [`PoolDoc`](crate::model::PoolDoc) |
//! | `userpool.client` | client id | [`ClientDoc`](crate::model::ClientDoc) |
//! | `userpool.pool_client` | `{pool}/{client}` | `{}` (index for listing) |
//! | `userpool.user` | `{pool}/{username}` (lower-cased unless case-sensitive) | [`UserDoc`](crate::model::UserDoc) |
//! | `userpool.alias` | `{pool}/{attribute}/{value}` | internal username |
//! | `userpool.group` | `{pool}/{group}` | [`GroupDoc`](crate::model::GroupDoc) |
//! | `userpool.fail` | `{pool}/{username}` | [`FailDoc`](crate::model::FailDoc) |
//! | `userpool.srp_used` | secret-block id | `{"exp":…}` (single use) |
//! | `userpool.revoked` | `{pool}/{origin_jti}` | `{"exp":…}` (revoked token families) |

use crate::error::{ApiError, Error};
use cubby_meta::{Meta, MetaError};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Pools.
pub const NS_POOL: &str = "userpool.pool";
/// App clients by id.
pub const NS_CLIENT: &str = "userpool.client";
/// App clients by pool (index).
pub const NS_POOL_CLIENT: &str = "userpool.pool_client";
/// Users.
pub const NS_USER: &str = "userpool.user";
/// Sign-in aliases (email, phone number, preferred username).
pub const NS_ALIAS: &str = "userpool.alias";
/// Groups.
pub const NS_GROUP: &str = "userpool.group";
/// Failed sign-in counters.
pub const NS_FAIL: &str = "userpool.fail";
/// Consumed SRP secret blocks.
pub const NS_SRP_USED: &str = "userpool.srp_used";
/// Revoked refresh-token families.
pub const NS_REVOKED: &str = "userpool.revoked";

/// How many times an optimistic update is retried before giving up.
const UPDATE_RETRIES: usize = 8;

/// The typed store.
#[derive(Clone)]
pub(crate) struct Store {
    meta: Meta,
}

fn decode<T: DeserializeOwned>(ns: &str, key: &str, text: &str) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("{ns}/{key}: {e}")))
}

fn encode<T: Serialize>(v: &T) -> Result<String, Error> {
    serde_json::to_string(v).map_err(|e| Error::Corrupt(e.to_string()))
}

impl Store {
    pub(crate) fn new(meta: Meta) -> Self {
        Store { meta }
    }

    /// Read a document and its version.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        ns: &str,
        key: &str,
    ) -> Result<Option<(T, i64)>, Error> {
        match self.meta.kv_get(ns, key).await? {
            Some((text, version)) => Ok(Some((decode(ns, key, &text)?, version))),
            None => Ok(None),
        }
    }

    /// Insert; `false` when the key is taken.
    pub(crate) async fn insert<T: Serialize>(
        &self,
        ns: &str,
        key: &str,
        v: &T,
    ) -> Result<bool, Error> {
        inserted(self.meta.kv_insert(ns, key, &encode(v)?).await)
    }

    /// [`Store::insert`] of a single-use mark, which need not survive a power cut (see
    /// `Meta::kv_insert_mark`).
    pub(crate) async fn insert_mark<T: Serialize>(
        &self,
        ns: &str,
        key: &str,
        v: &T,
    ) -> Result<bool, Error> {
        inserted(self.meta.kv_insert_mark(ns, key, &encode(v)?).await)
    }

    /// Insert or replace.
    pub(crate) async fn put<T: Serialize>(&self, ns: &str, key: &str, v: &T) -> Result<(), Error> {
        Ok(self.meta.kv_put(ns, key, &encode(v)?).await?)
    }

    /// Replace if still at `version`; `false` when someone else wrote first.
    pub(crate) async fn replace<T: Serialize>(
        &self,
        ns: &str,
        key: &str,
        v: &T,
        version: i64,
    ) -> Result<bool, Error> {
        match self.meta.kv_replace(ns, key, &encode(v)?, version).await {
            Ok(()) => Ok(true),
            Err(MetaError::PreconditionFailed | MetaError::NotFound) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Delete; whether it existed.
    pub(crate) async fn delete(&self, ns: &str, key: &str) -> Result<bool, Error> {
        Ok(self.meta.kv_delete(ns, key).await?)
    }

    /// Documents whose key starts with `prefix`, after `after`, in key order.
    pub(crate) async fn list<T: DeserializeOwned>(
        &self,
        ns: &str,
        prefix: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, T)>, Error> {
        self.meta
            .kv_list(ns, prefix, after, limit)
            .await?
            .into_iter()
            .map(|(k, v)| {
                let doc = decode(ns, &k, &v)?;
                Ok((k, doc))
            })
            .collect()
    }

    /// Every key with `prefix` (paged internally).
    pub(crate) async fn keys(&self, ns: &str, prefix: &str) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let page = self.meta.kv_list(ns, prefix, &after, 500).await?;
            let Some((last, _)) = page.last() else { break };
            after = last.clone();
            let full = page.len() == 500;
            out.extend(page.into_iter().map(|(k, _)| k));
            if !full {
                break;
            }
        }
        Ok(out)
    }

    /// Read-modify-write with optimistic concurrency: `f` mutates the document (or refuses with
    /// an [`ApiError`]); retried when another writer got there first. `Ok(None)` when the
    /// document does not exist.
    pub(crate) async fn update<T, R>(
        &self,
        ns: &str,
        key: &str,
        mut f: impl FnMut(&mut T) -> Result<R, ApiError>,
    ) -> Result<Option<(T, R)>, ApiError>
    where
        T: Serialize + DeserializeOwned,
    {
        for _ in 0..UPDATE_RETRIES {
            let Some((mut doc, version)) = self.get::<T>(ns, key).await? else {
                return Ok(None);
            };
            let r = f(&mut doc)?;
            if self.replace(ns, key, &doc, version).await? {
                return Ok(Some((doc, r)));
            }
        }
        Err(ApiError::new(
            "ConcurrentModificationException",
            "The resource was modified concurrently; retry.",
        ))
    }
}

/// An insert's outcome: `false` when the key was taken.
fn inserted(r: Result<(), MetaError>) -> Result<bool, Error> {
    match r {
        Ok(()) => Ok(true),
        Err(MetaError::AlreadyExists) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
