//! `cubby-userpool`: cubby's built-in user pools — the part of Amazon Cognito user pools that
//! web and mobile apps use, so Amplify, amazon-cognito-identity-js, the AWS SDKs and pycognito
//! sign in to it unchanged.
//!
//! - **API** ([`UserPools::handle_json`]): the Cognito IDP JSON 1.1 subset
//!   (`X-Amz-Target: AWSCognitoIdentityProviderService.<Op>`). Admin operations are SigV4-signed
//!   with scope `cognito-idp` and decided by an [`AdminAuthorizer`]; the end-user operations
//!   (SignUp, InitiateAuth, …) are unsigned, as on AWS.
//! - **SRP-6a** ([`srp`]) exactly as Cognito computes it; the server state of a challenge
//!   (`SECRET_BLOCK`) is sealed with the master key, short-lived and single-use.
//! - **Passwords** are kept only as an Argon2id hash (for `USER_PASSWORD_AUTH`) and the SRP
//!   salt + verifier (sealed); hashing runs on a bounded blocking pool. Repeated failures are
//!   throttled ("Password attempts exceeded").
//! - **Tokens**: RS256 ID and access tokens with Cognito's claims, signed by a per-pool RSA key
//!   that is generated once and stored wrapped by the master key; opaque sealed refresh tokens
//!   grouped in revocable families (`origin_jti`). JWKS and OIDC discovery at
//!   `/{poolId}/.well-known/…` ([`UserPools::well_known`]).
//! - **Identity-pool seam**: [`UserPools::local_issuer`] and [`UserPools::is_token_revoked`].
//!
//! Storage is the metadata store's namespaced document table (see [`store`](crate::store)),
//! so it works on SQLite and PostgreSQL and any node serves any request.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![warn(missing_docs)]

mod admin;
mod api;
mod codes;
mod core;
mod error;
mod idle;
mod model;
mod passwords;
mod seal;
pub mod srp;
mod store;
mod tokens;
mod wellknown;

pub use admin::{AdminAuthError, AdminAuthorizer, AdminCaller, ResolvedKey, RootOnly};
pub use codes::{CodeKind, CodeMessage, CodeSender, LogSender, WebhookSender};
pub use error::{ApiError, Error};
pub use passwords::Argon2Params;
pub use tokens::TokenSigner;

use cubby_auth::session::MasterKey;
use cubby_meta::Meta;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Largest JSON request body accepted (larger bodies get `RequestEntityTooLargeException`).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Static configuration.
#[derive(Clone)]
pub struct UserPoolConfig {
    /// Region (`us-east-1`): pool ids, ARNs, the SigV4 scope.
    pub region: String,
    /// 12-digit account id used in ARNs.
    pub account_id: String,
    /// Public base URL (`http://127.0.0.1:9000`); `iss` = `{public_url}/{poolId}`.
    pub public_url: String,
    /// Root access key id (admin operations, until an [`AdminAuthorizer`] is set).
    pub root_access_key_id: String,
    /// Root secret access key.
    pub root_secret: String,
    /// Argon2id cost.
    pub argon2: Argon2Params,
    /// Who decides admin operations; `None` = [`RootOnly`].
    pub authorizer: Option<Arc<dyn AdminAuthorizer>>,
    /// Where codes go; `None` = [`LogSender`].
    pub code_sender: Option<Arc<dyn CodeSender>>,
}

impl UserPoolConfig {
    /// A configuration with the defaults for everything but the essentials.
    pub fn new(
        region: impl Into<String>,
        account_id: impl Into<String>,
        public_url: impl Into<String>,
        root_access_key_id: impl Into<String>,
        root_secret: impl Into<String>,
    ) -> Self {
        UserPoolConfig {
            region: region.into(),
            account_id: account_id.into(),
            public_url: public_url.into(),
            root_access_key_id: root_access_key_id.into(),
            root_secret: root_secret.into(),
            argon2: Argon2Params::default(),
            authorizer: None,
            code_sender: None,
        }
    }
}

impl std::fmt::Debug for UserPoolConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPoolConfig")
            .field("region", &self.region)
            .field("account_id", &self.account_id)
            .field("public_url", &self.public_url)
            .field("root_access_key_id", &self.root_access_key_id)
            .field("argon2", &self.argon2)
            .finish_non_exhaustive()
    }
}

/// One of cubby's user pools as a token issuer, for the identity pools and STS.
#[derive(Clone, Debug)]
pub struct LocalIssuer {
    /// The exact `iss` of its tokens (`http://127.0.0.1:9000/us-east-1_AbCdEf123`).
    pub issuer: String,
    /// Its published signing keys.
    pub jwks: jsonwebtoken::jwk::JwkSet,
    /// Its app client ids (valid `aud` of ID tokens).
    pub client_ids: Vec<String>,
}

/// The user-pool service.
pub struct UserPools {
    store: store::Store,
    keys: seal::Keys,
    region: String,
    account_id: String,
    public_url: String,
    authorizer: Arc<dyn AdminAuthorizer>,
    sender: Arc<dyn CodeSender>,
    hasher: passwords::Hasher,
    /// Unwrapped signing keys by `{pool}/{kid}` (immutable per kid, so safe to cache).
    signing_keys: Mutex<HashMap<String, Arc<tokens::TokenSigner>>>,
}

impl std::fmt::Debug for UserPools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPools")
            .field("region", &self.region)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

impl UserPools {
    /// The service over `meta`, with keys derived from `master`.
    pub async fn new(
        meta: Meta,
        master: &MasterKey,
        cfg: UserPoolConfig,
    ) -> Result<Arc<Self>, Error> {
        if cfg.region.is_empty() || cfg.region.contains('_') {
            return Err(Error::Config(format!("invalid region {:?}", cfg.region)));
        }
        let public_url = cfg.public_url.trim_end_matches('/').to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(Error::Config(format!(
                "public URL {public_url:?} must start with http:// or https://"
            )));
        }
        let authorizer = cfg.authorizer.clone().unwrap_or_else(|| {
            Arc::new(RootOnly::new(
                cfg.root_access_key_id.clone(),
                cfg.root_secret.clone(),
                cfg.account_id.clone(),
            ))
        });
        let sender = cfg
            .code_sender
            .clone()
            .unwrap_or_else(|| Arc::new(LogSender));
        let hasher = passwords::Hasher::new(cfg.argon2);
        hasher.argon2()?;
        Ok(Arc::new(UserPools {
            store: store::Store::new(meta),
            keys: seal::Keys::new(master),
            region: cfg.region,
            account_id: cfg.account_id,
            public_url,
            authorizer,
            sender,
            hasher,
            signing_keys: Mutex::new(HashMap::new()),
        }))
    }

    /// The `iss` of a pool's tokens.
    pub fn issuer(&self, pool_id: &str) -> String {
        format!("{}/{pool_id}", self.public_url)
    }

    /// Answer one `AWSCognitoIdentityProviderService.<op>` request (`op` without the prefix).
    /// Never fails: errors are Cognito-shaped JSON responses.
    pub async fn handle_json(
        &self,
        op: &str,
        parts: &http::request::Parts,
        body: bytes::Bytes,
        now: i64,
    ) -> http::Response<bytes::Bytes> {
        api::handle(self, op, parts, body, now).await
    }

    /// [`UserPools::handle_json`] on the user pools' own runtime, whose threads run in the
    /// kernel's idle scheduling class like the credential workers: what servers call, so that
    /// a sign-in's request handling (JSON, store reads, sealing; about 0.3 ms of CPU per
    /// request) never holds an async worker that an upload is waiting for.
    ///
    /// Measured with `bench/run.sh --userpool` (50 sign-ins/s, 4 KiB PUTs at one client; runs
    /// alternating with a build that served user-pool requests on the main runtime): the PUT
    /// p99 with sign-ins was 0.96–1.28× the p99 alone (median 1.06 of 18 runs), against
    /// 1.18–1.39× (median 1.25 of 8); the same bench at 0.1 sign-ins/s gave 0.89–1.04×
    /// (median 1.00 of 5). Sign-ins/s unchanged.
    ///
    /// Like the credential work, user-pool requests wait while uploads keep every core busy.
    pub async fn handle_json_at_idle_priority(
        self: &Arc<Self>,
        op: String,
        parts: http::request::Parts,
        body: bytes::Bytes,
        now: i64,
    ) -> http::Response<bytes::Bytes> {
        let Some(runtime) = idle::request_runtime() else {
            return self.handle_json(&op, &parts, body, now).await;
        };
        let cors = api::wants_cors(&parts);
        let up = Arc::clone(self);
        let served = runtime.spawn(async move { up.handle_json(&op, &parts, body, now).await });
        match served.await {
            Ok(response) => response,
            Err(e) => api::render_error(&ApiError::internal(e), cors),
        }
    }

    /// The response for a body over [`MAX_BODY_BYTES`] (for servers that stop reading early).
    pub fn body_too_large(&self) -> http::Response<bytes::Bytes> {
        api::render_error(&api::too_large(), false)
    }

    /// True for the discovery paths `/{userPoolId}/.well-known/{jwks.json,openid-configuration}`
    /// (cheap; for request routing).
    pub fn is_well_known_path(path: &str) -> bool {
        wellknown::parse_path(path).is_some()
    }

    /// Serve `GET /{userPoolId}/.well-known/jwks.json` and `…/openid-configuration`;
    /// `None` when `path` is not one of them.
    pub async fn well_known(&self, path: &str, now: i64) -> Option<http::Response<bytes::Bytes>> {
        wellknown::serve(self, path, now).await
    }

    /// The pool behind a Logins key / provider name (its issuer without the scheme, e.g.
    /// `127.0.0.1:9000/us-east-1_AbCdEf123`).
    pub async fn local_issuer(&self, provider_name: &str) -> Option<LocalIssuer> {
        self.local_issuer_at(provider_name, core::unix_now()).await
    }

    /// [`UserPools::local_issuer`] at a given time (retired keys drop out of the JWKS).
    pub async fn local_issuer_at(&self, provider_name: &str, now: i64) -> Option<LocalIssuer> {
        let base = self
            .public_url
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(&self.public_url);
        let pool_id = provider_name.strip_prefix(base)?.strip_prefix('/')?;
        if !core::valid_pool_id(pool_id) {
            return None;
        }
        let pool = self.pool(pool_id).await.ok()??;
        let jwks = serde_json::from_value(tokens::jwks(&pool, now)).ok()?;
        let client_ids = self.client_ids(pool_id).await.ok()?;
        Some(LocalIssuer {
            issuer: self.issuer(pool_id),
            jwks,
            client_ids,
        })
    }

    /// For identity pools with `ServerSideTokenCheck`: is this (already signature-checked) ID
    /// or access token of `pool_id` revoked — its user deleted or disabled, signed out
    /// globally after the token's family started, or its family revoked (RevokeToken)?
    pub async fn is_token_revoked(&self, pool_id: &str, claims: &serde_json::Value) -> bool {
        self.token_revoked(pool_id, claims).await.unwrap_or(true)
    }

    /// Make a new signing key the active one; the old key stays in the JWKS until every token
    /// it signed has expired (one day, the longest ID/access-token lifetime).
    pub async fn rotate_signing_key(&self, pool_id: &str, now: i64) -> Result<String, ApiError> {
        self.rotate_key(pool_id, now).await
    }

    /// Delete expired single-use markers (consumed SRP secret blocks, revoked families whose
    /// tokens have all expired). Safe to call from any node at any time.
    pub async fn sweep(&self, now: i64) -> Result<usize, Error> {
        self.sweep_expired(now).await
    }
}
