//! `cubby-identity`: the credential broker and the IAM authority.
//!
//! - **Sealed session credentials** ([`session`]): `ASIA…` keys whose secret is derived from the
//!   key id with the master key and whose session token is the AEAD-sealed claims — any node
//!   verifies them without a database read.
//! - **The IAM authority** ([`Identity::authority`]): implements `cubby_s3::Authority` — resolves
//!   root, IAM-user and session keys and decides every S3 request with the policy engine
//!   (role/user policies ∩ session policy, plus the bucket policy).
//! - **IAM** (`Version=2010-05-08`) and **STS** (`Version=2011-06-15`) query APIs
//!   ([`Identity::query_api`]).
//! - **Cognito Identity** JSON 1.1 API ([`Identity::cognito_identity`]): identity pools,
//!   identities, role resolution, the pool's own OIDC tokens.
//!
//! Storage goes through the namespaced document table of `cubby-meta`; compiled policies and
//! documents are cached per version (re-validated against the store every 0.5 s, invalidated at
//! once by local writes). Time comes in as a parameter (`now`, epoch seconds).
//!
//! Decisions where cubby deliberately differs from (or pins down) AWS behaviour:
//! - A pool created without `AllowClassicFlow` has the basic flow *disabled* (AWS enables it).
//! - Logins from several providers that each have a role mapping → `InvalidParameterException`
//!   (AWS leaves this undefined).
//! - AWS's guest scope-down session policy is not replicated (cubby only serves S3).
//! - `graph.facebook.com`, `www.amazon.com`, `api.twitter.com` logins (opaque OAuth tokens that
//!   need a call to the provider) are refused; JWT providers (Google, Apple, any OIDC issuer,
//!   user pools) are verified against their JWKS.
//! - IAM `CreateOpenIDConnectProvider` also accepts `http://` issuers (local test issuers).
//! - An expired session token answers S3 `ExpiredToken` with HTTP 403 (AWS uses 400).
//! - `amr` entries: `<provider>:CognitoSignIn:<sub>` for user pools, `<provider>:<aud>:<sub>`
//!   for OIDC providers, `<developer provider>:<pool>:<user id>` for developer identities.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod assume;
mod authority;
mod cache;
mod cognito;
mod entities;
mod iam;
mod issuers;
pub mod jwt;
mod model;
mod oidc;
mod opened;
mod query;
pub mod session;
mod signing;
mod store;
mod sts;
mod upload_url;
mod util;
mod xml;

pub use authority::IamAuthority;
pub use cognito::cognito_error_response;
pub use issuers::{LocalIssuer, LocalIssuers, NoLocalIssuers};
pub use query::{QueryService, parse_form, query_error_response, query_service};
pub use store::StoreError;
pub use upload_url::{UploadAuthError, UploadCaller};

use cubby_auth::session::MasterKey;
use cubby_meta::Meta;
use std::sync::Arc;

/// Static configuration.
#[derive(Clone)]
pub struct IdentityConfig {
    /// Region (`us-east-1`): identity ids, pool ids, ARNs, the SigV4 scope.
    pub region: String,
    /// 12-digit account id used in ARNs.
    pub account_id: String,
    /// Root access key id (may do everything).
    pub root_access_key_id: String,
    /// Root secret access key.
    pub root_secret_access_key: String,
    /// Public base URL of this server (`http://127.0.0.1:9000`).
    pub public_url: String,
    /// cubby's own token issuers (user pools); `None` = none.
    pub local_issuers: Option<Arc<dyn LocalIssuers>>,
}

impl std::fmt::Debug for IdentityConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityConfig")
            .field("region", &self.region)
            .field("account_id", &self.account_id)
            .field("root_access_key_id", &self.root_access_key_id)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

/// Errors constructing the service.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// Invalid configuration.
    #[error("identity configuration: {0}")]
    Config(String),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The identity service: IAM, STS, identity pools and the S3 authority.
pub struct Identity {
    pub(crate) cfg: IdentityConfig,
    pub(crate) store: store::Store,
    pub(crate) master: MasterKey,
    pub(crate) compiled: cache::CompiledPolicies,
    pub(crate) roles: cache::Versioned<entities::RoleEntry>,
    pub(crate) users: cache::Versioned<entities::UserEntry>,
    pub(crate) managed: cache::Versioned<entities::ManagedEntry>,
    pub(crate) keys: cache::Versioned<entities::KeyEntry>,
    pub(crate) pools: cache::Versioned<model::IdentityPool>,
    pub(crate) signer: tokio::sync::OnceCell<Arc<jwt::Signer>>,
    pub(crate) issuers: Arc<dyn LocalIssuers>,
    pub(crate) jwks: oidc::JwksCache,
    /// Session tokens already opened, by access key id.
    pub(crate) opened: opened::OpenedSessions,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Build the service over the metadata store and the cluster master key.
    pub fn new(
        meta: Meta,
        master: MasterKey,
        cfg: IdentityConfig,
    ) -> Result<Arc<Self>, IdentityError> {
        if cfg.account_id.len() != 12 || !cfg.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdentityError::Config(format!(
                "account id must be 12 digits, got {:?}",
                cfg.account_id
            )));
        }
        if cfg.region.is_empty() || cfg.region.contains(':') {
            return Err(IdentityError::Config(format!(
                "invalid region {:?}",
                cfg.region
            )));
        }
        // Select the JWT backend explicitly (should a second one ever be enabled): aws-lc, whose
        // RSA verification is several times faster than the pure-Rust `rsa` crate's, and
        // every signed-in GetId / GetCredentialsForIdentity verifies a token.
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        let issuers = cfg
            .local_issuers
            .clone()
            .unwrap_or_else(|| Arc::new(NoLocalIssuers));
        Ok(Arc::new(Identity {
            store: store::Store::new(meta),
            master,
            compiled: cache::CompiledPolicies::default(),
            roles: cache::Versioned::default(),
            users: cache::Versioned::default(),
            managed: cache::Versioned::default(),
            keys: cache::Versioned::default(),
            pools: cache::Versioned::default(),
            signer: tokio::sync::OnceCell::new(),
            issuers,
            jwks: oidc::JwksCache::default(),
            opened: opened::OpenedSessions::default(),
            cfg,
        }))
    }

    /// The `cubby_s3::Authority` backed by IAM.
    pub fn authority(self: &Arc<Self>) -> Arc<dyn cubby_s3::Authority> {
        Arc::new(IamAuthority::new(self.clone()))
    }

    /// Region.
    pub fn region(&self) -> &str {
        &self.cfg.region
    }

    /// Account id.
    pub fn account_id(&self) -> &str {
        &self.cfg.account_id
    }
}
