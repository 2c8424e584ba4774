//! The simplest [`Authority`]: the account root's keys, which may do everything. Until IAM is
//! wired in, every other key is unknown and anonymous callers are denied.

use crate::keys::RootKeys;
use cubby_s3::{AccessRequest, Authority, Caller, CallerKind, ResolvedKey, S3Error, S3Result};
use http::StatusCode;
use subtle::ConstantTimeEq;

/// Authority that knows only the root keys.
pub struct RootAuthority {
    keys: RootKeys,
    account_id: String,
}

impl RootAuthority {
    /// New authority for `keys`.
    pub fn new(keys: RootKeys, account_id: String) -> Self {
        RootAuthority { keys, account_id }
    }

    /// The root caller.
    pub fn root_caller(&self) -> Caller {
        Caller {
            kind: CallerKind::Root,
            arn: format!("arn:aws:iam::{}:root", self.account_id),
            principal_id: self.account_id.clone(),
            display_name: "root".into(),
            access_key_id: Some(self.keys.access_key_id.clone()),
            expires_at: None,
            detail: None,
        }
    }
}

/// InvalidAccessKeyId, as S3 words it.
pub fn invalid_access_key() -> S3Error {
    S3Error::new(
        "InvalidAccessKeyId",
        StatusCode::FORBIDDEN,
        "The AWS Access Key Id you provided does not exist in our records.",
    )
}

#[async_trait::async_trait]
impl Authority for RootAuthority {
    async fn resolve(&self, akid: &str, token: Option<&str>, _now: i64) -> S3Result<ResolvedKey> {
        let known: bool = akid
            .as_bytes()
            .ct_eq(self.keys.access_key_id.as_bytes())
            .into();
        if !known || token.is_some() {
            return Err(invalid_access_key().with("AWSAccessKeyId", akid));
        }
        Ok(ResolvedKey {
            secret: self.keys.secret_access_key.clone(),
            caller: self.root_caller(),
        })
    }

    async fn authorize(&self, caller: &Caller, _req: &AccessRequest<'_>) -> S3Result<bool> {
        Ok(caller.kind == CallerKind::Root)
    }

    fn check_bucket_policy(&self, _bucket: &str, policy: &str) -> S3Result<bool> {
        serde_json::from_str::<serde_json::Value>(policy).map_err(|e| {
            S3Error::new(
                "MalformedPolicy",
                StatusCode::BAD_REQUEST,
                format!("Policies must be valid JSON: {e}"),
            )
        })?;
        Ok(false)
    }
}
