//! The seam to cubby's own token issuers (user pools, built in another crate): the identity
//! pools and STS verify their ID tokens locally, never over the network.

use jsonwebtoken::jwk::JwkSet;

/// One local issuer, as the Logins key / provider name names it.
#[derive(Clone, Debug)]
pub struct LocalIssuer {
    /// The exact `iss` claim its tokens carry.
    pub issuer: String,
    /// Its current signing keys.
    pub jwks: JwkSet,
    /// Its app client ids (valid `aud` values).
    pub client_ids: Vec<String>,
    /// True for user pools: ID tokens must carry `token_use: id`.
    pub user_pool: bool,
}

/// Looks up local issuers by provider name (the issuer without its scheme, e.g.
/// `cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC` or `127.0.0.1:9000/us-east-1_AbC`).
#[async_trait::async_trait]
pub trait LocalIssuers: Send + Sync {
    /// The issuer registered under `provider_name`, if any.
    async fn lookup(&self, provider_name: &str) -> Option<LocalIssuer>;

    /// For identity-pool providers with `ServerSideTokenCheck: true`: is this (signature-checked)
    /// ID token revoked — user deleted or disabled, globally signed out? Default: never.
    async fn is_revoked(&self, _provider_name: &str, _claims: &serde_json::Value) -> bool {
        false
    }
}

/// No local issuers (user pools not wired in).
pub struct NoLocalIssuers;

#[async_trait::async_trait]
impl LocalIssuers for NoLocalIssuers {
    async fn lookup(&self, _provider_name: &str) -> Option<LocalIssuer> {
        None
    }
}
