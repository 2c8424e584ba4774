//! Cached, compiled views of stored IAM entities (roles, users, managed policies, access keys)
//! and identity pools, re-validated against the store version.

use crate::Identity;
use crate::cache::{Probe, Versioned};
use crate::model::{AccessKey, IdentityPool, ManagedPolicy, Role, User};
use crate::store::{NS_ACCESS_KEY, NS_POLICY, NS_POOL, NS_ROLE, NS_USER, StoreError};
use cubby_policy::{Policy, PolicyKind};
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// A role with its compiled trust and inline policies.
pub(crate) struct RoleEntry {
    pub role: Role,
    /// `None` if the stored trust policy no longer compiles (then nothing may assume it).
    pub trust: Option<Arc<Policy>>,
    pub inline: Vec<Arc<Policy>>,
}

/// A user with its compiled inline policies.
pub(crate) struct UserEntry {
    pub user: User,
    pub inline: Vec<Arc<Policy>>,
}

/// A managed policy's compiled default version.
pub(crate) struct ManagedEntry {
    pub compiled: Option<Arc<Policy>>,
}

/// An access key with its unsealed secret.
pub(crate) struct KeyEntry {
    pub key: AccessKey,
    pub secret: String,
}

/// Additional authenticated data for sealing long-term secrets.
pub(crate) fn secret_aad(access_key_id: &str) -> String {
    format!("cubby/iam-secret/{access_key_id}")
}

fn parse<T: DeserializeOwned>(ns: &'static str, key: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        ns,
        key: key.to_owned(),
        detail: e.to_string(),
    })
}

/// Lower-cased store key of a role or user name.
pub(crate) fn name_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// The role name of a role ARN.
pub(crate) fn role_key_of_arn(arn: &str) -> Option<String> {
    let res = arn.splitn(6, ':').nth(5)?;
    let rest = res.strip_prefix("role/")?;
    Some(name_key(rest.rsplit('/').next().unwrap_or(rest)))
}

impl Identity {
    async fn cached<T>(
        &self,
        cache: &Versioned<T>,
        ns: &'static str,
        key: &str,
        build: impl FnOnce(&str) -> Result<T, StoreError>,
    ) -> Result<Option<Arc<T>>, StoreError> {
        let known = match cache.probe(key) {
            Probe::Fresh(v) => return Ok(Some(v)),
            Probe::Stale(v) => Some(v),
            Probe::Missing => None,
        };
        let Some((text, version)) = self.store.get_raw(ns, key).await? else {
            cache.remove(key);
            return Ok(None);
        };
        if known == Some(version)
            && let Some(v) = cache.touch(key)
        {
            return Ok(Some(v));
        }
        let value = Arc::new(build(&text)?);
        cache.put(key, version, value.clone());
        Ok(Some(value))
    }

    fn compile_logged(&self, text: &str, kind: PolicyKind, what: &str) -> Option<Arc<Policy>> {
        match self.compiled.get(text, kind) {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::error!(error = %e, what, "stored policy does not compile; ignored");
                None
            }
        }
    }

    /// A role by name (case-insensitive).
    pub(crate) async fn role_entry(
        &self,
        name: &str,
        _now: i64,
    ) -> Result<Option<Arc<RoleEntry>>, StoreError> {
        let key = name_key(name);
        self.cached(&self.roles, NS_ROLE, &key, |text| {
            let role: Role = parse(NS_ROLE, &key, text)?;
            let trust = self.compile_logged(&role.trust, PolicyKind::Trust, "trust policy");
            let inline = role
                .inline
                .values()
                .filter_map(|d| self.compile_logged(d, PolicyKind::Identity, "role policy"))
                .collect();
            Ok(RoleEntry {
                role,
                trust,
                inline,
            })
        })
        .await
    }

    /// A role by ARN (the ARN must match exactly, path included).
    pub(crate) async fn role_by_arn(
        &self,
        arn: &str,
        now: i64,
    ) -> Result<Option<Arc<RoleEntry>>, StoreError> {
        let Some(key) = role_key_of_arn(arn) else {
            return Ok(None);
        };
        Ok(self
            .role_entry(&key, now)
            .await?
            .filter(|r| r.role.arn == arn))
    }

    /// A user by name (case-insensitive).
    pub(crate) async fn user_entry(
        &self,
        name: &str,
        _now: i64,
    ) -> Result<Option<Arc<UserEntry>>, StoreError> {
        let key = name_key(name);
        self.cached(&self.users, NS_USER, &key, |text| {
            let user: User = parse(NS_USER, &key, text)?;
            let inline = user
                .inline
                .values()
                .filter_map(|d| self.compile_logged(d, PolicyKind::Identity, "user policy"))
                .collect();
            Ok(UserEntry { user, inline })
        })
        .await
    }

    /// A managed policy by ARN.
    pub(crate) async fn managed_entry(
        &self,
        arn: &str,
        _now: i64,
    ) -> Result<Option<Arc<ManagedEntry>>, StoreError> {
        self.cached(&self.managed, NS_POLICY, arn, |text| {
            let policy: ManagedPolicy = parse(NS_POLICY, arn, text)?;
            let compiled = policy
                .default_document()
                .and_then(|d| self.compile_logged(d, PolicyKind::Identity, "managed policy"));
            Ok(ManagedEntry { compiled })
        })
        .await
    }

    /// A long-term access key with its secret.
    pub(crate) async fn key_entry(
        &self,
        access_key_id: &str,
        _now: i64,
    ) -> Result<Option<Arc<KeyEntry>>, StoreError> {
        self.cached(&self.keys, NS_ACCESS_KEY, access_key_id, |text| {
            let key: AccessKey = parse(NS_ACCESS_KEY, access_key_id, text)?;
            let secret = self.unseal_secret(&key)?;
            Ok(KeyEntry { key, secret })
        })
        .await
    }

    fn unseal_secret(&self, key: &AccessKey) -> Result<String, StoreError> {
        let raw = cubby_auth::session::open(&self.master, &secret_aad(&key.id), &key.secret_sealed)
            .map_err(|_| StoreError::Corrupt {
                ns: NS_ACCESS_KEY,
                key: key.id.clone(),
                detail: "secret does not unseal with this master key".into(),
            })?;
        String::from_utf8(raw).map_err(|_| StoreError::Corrupt {
            ns: NS_ACCESS_KEY,
            key: key.id.clone(),
            detail: "secret is not UTF-8".into(),
        })
    }

    /// Seal a long-term secret for storage.
    pub(crate) fn seal_secret(&self, access_key_id: &str, secret: &str) -> String {
        cubby_auth::session::seal(
            &self.master,
            &secret_aad(access_key_id),
            secret.as_bytes(),
            crate::util::random_bytes::<24>(),
        )
    }

    /// An identity pool by id.
    pub(crate) async fn pool(
        &self,
        id: &str,
        _now: i64,
    ) -> Result<Option<Arc<IdentityPool>>, StoreError> {
        self.cached(&self.pools, NS_POOL, id, |text| parse(NS_POOL, id, text))
            .await
    }
}
