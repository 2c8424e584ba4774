//! Verification of the `Logins` map against the identity pool's configured providers: the
//! pool's own tokens (`cognito-identity.amazonaws.com`), user pools (local issuers, or JWKS
//! over HTTPS), IAM OIDC providers, and JWT-based public providers (Google, Apple).

use super::CiError;
use crate::Identity;
use crate::jwt::{self, COGNITO_ISSUER, COGNITO_PROVIDER, Expect, JwtError};
use crate::model::{IdentityPool, OidcProvider};
use crate::store::NS_OIDC;
use jsonwebtoken::jwk::JwkSet;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Grace after `exp` for identity-pool logins (AWS allows 5 minutes of skew).
const EXP_GRACE: i64 = 300;

/// What kind of provider verified a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginKind {
    /// A user pool (ID token, `token_use: id`).
    UserPool,
    /// An IAM OIDC provider or a JWT public provider.
    Oidc,
    /// The identity pool's own token: proves an identity directly, is never linked.
    Cognito,
}

/// A login whose token verified.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedLogin {
    pub provider: String,
    pub subject: String,
    pub audience: String,
    pub kind: LoginKind,
    pub claims: Map<String, Value>,
}

impl VerifiedLogin {
    /// The `RoleMappings` key for this login.
    pub(crate) fn mapping_key(&self) -> String {
        match self.kind {
            LoginKind::UserPool => format!("{}:{}", self.provider, self.audience),
            _ => self.provider.clone(),
        }
    }

    /// The provider-specific `amr` entry.
    pub(crate) fn amr_entry(&self) -> String {
        match self.kind {
            LoginKind::UserPool => format!("{}:CognitoSignIn:{}", self.provider, self.subject),
            _ => format!("{}:{}:{}", self.provider, self.audience, self.subject),
        }
    }
}

fn unsupported() -> CiError {
    CiError::not_authorized("Token is not from a supported provider of this identity pool.")
}

fn jwt_error(e: JwtError) -> CiError {
    match e {
        JwtError::WrongAudience => unsupported(),
        JwtError::MissingClaim("aud") => {
            CiError::not_authorized("Invalid login token. Missing a required claim: aud")
        }
        other => CiError::not_authorized(other.to_string()),
    }
}

/// Validate the shape of a `Logins` map (≤10 entries, key 1–128, token 1–50000).
pub(crate) fn check_logins(logins: &[(String, String)]) -> Result<(), CiError> {
    if logins.len() > 10 {
        return Err(CiError::invalid(
            "1 validation error detected: Value at 'logins' failed to satisfy constraint: Member must have length less than or equal to 10",
        ));
    }
    for (k, v) in logins {
        if k.is_empty() || k.len() > 128 || v.is_empty() || v.len() > 50_000 {
            return Err(CiError::invalid(
                "1 validation error detected: Value at 'logins' failed to satisfy constraint: Map keys must have length between 1 and 128 and values between 1 and 50000",
            ));
        }
    }
    Ok(())
}

impl Identity {
    async fn issuer_jwks(
        &self,
        provider: &str,
        issuer: &str,
        token: &str,
        now: i64,
    ) -> Result<(Arc<JwkSet>, Option<Vec<String>>, bool), CiError> {
        if let Some(local) = self.issuers.lookup(provider).await {
            return Ok((
                Arc::new(local.jwks),
                Some(local.client_ids),
                local.user_pool,
            ));
        }
        let kid = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid);
        let jwks = self
            .jwks
            .get(issuer, kid.as_deref(), now)
            .await
            .map_err(|e| CiError::new("ExternalServiceException", e.0))?;
        Ok((jwks, None, false))
    }

    /// Verify one login token for `pool`.
    async fn verify_login(
        &self,
        pool: &IdentityPool,
        provider: &str,
        token: &str,
        now: i64,
    ) -> Result<VerifiedLogin, CiError> {
        if provider == COGNITO_PROVIDER {
            let signer = self.signer().await.map_err(CiError::internal)?;
            let claims = jwt::verify(
                token,
                signer.jwks(),
                &Expect {
                    issuer: COGNITO_ISSUER,
                    audiences: Some(std::slice::from_ref(&pool.id)),
                    exp_grace: EXP_GRACE,
                    id_token: false,
                },
                now,
            )
            .map_err(jwt_error)?;
            return Ok(VerifiedLogin {
                provider: provider.to_owned(),
                subject: claims
                    .get("sub")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                audience: pool.id.clone(),
                kind: LoginKind::Cognito,
                claims,
            });
        }
        if pool.developer_provider_name.as_deref() == Some(provider) {
            return Err(unsupported());
        }
        let iss = jwt::peek(token)
            .map_err(jwt_error)?
            .get("iss")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                CiError::not_authorized("Invalid login token. Missing a required claim: iss")
            })?;
        let scheme_less = iss
            .strip_prefix("https://")
            .or_else(|| iss.strip_prefix("http://"))
            .unwrap_or(&iss);
        let user_pool_clients: Vec<String> = pool
            .cognito_identity_providers
            .iter()
            .filter(|c| c.provider_name.as_deref() == Some(provider))
            .filter_map(|c| c.client_id.clone())
            .collect();
        let is_user_pool = pool
            .cognito_identity_providers
            .iter()
            .any(|c| c.provider_name.as_deref() == Some(provider));
        let oidc_arn = format!(
            "arn:aws:iam::{}:oidc-provider/{provider}",
            self.cfg.account_id
        );
        let (audiences, kind) = if is_user_pool {
            (Some(user_pool_clients), LoginKind::UserPool)
        } else if pool.open_id_connect_provider_arns.contains(&oidc_arn) {
            let p = self
                .store
                .get::<OidcProvider>(NS_OIDC, provider)
                .await?
                .map(|(p, _)| p)
                .ok_or_else(unsupported)?;
            (Some(p.client_ids), LoginKind::Oidc)
        } else if let Some(app) = pool.supported_login_providers.get(provider) {
            if matches!(
                provider,
                "graph.facebook.com" | "www.amazon.com" | "api.twitter.com"
            ) {
                // OAuth access tokens validated by calling the provider: not supported offline.
                return Err(CiError::not_authorized(format!(
                    "Logins for {provider} are not supported by this server."
                )));
            }
            (Some(vec![app.clone()]), LoginKind::Oidc)
        } else {
            return Err(unsupported());
        };
        if scheme_less != provider {
            return Err(CiError::not_authorized(
                "Invalid login token. Issuer doesn't match providerName",
            ));
        }
        let (jwks, local_clients, local_user_pool) =
            self.issuer_jwks(provider, &iss, token, now).await?;
        let mut audiences = audiences.unwrap_or_default();
        if audiences.is_empty() {
            audiences = local_clients.unwrap_or_default();
        }
        let claims = jwt::verify(
            token,
            &jwks,
            &Expect {
                issuer: &iss,
                audiences: Some(&audiences),
                exp_grace: EXP_GRACE,
                id_token: kind == LoginKind::UserPool || local_user_pool,
            },
            now,
        )
        .map_err(jwt_error)?;
        let azp = jwt::claim_strings(&claims, "azp");
        let sstc = kind == LoginKind::UserPool
            && pool.cognito_identity_providers.iter().any(|c| {
                c.provider_name.as_deref() == Some(provider)
                    && c.server_side_token_check == Some(true)
            });
        if sstc
            && self
                .issuers
                .is_revoked(provider, &Value::Object(claims.clone()))
                .await
        {
            return Err(CiError::not_authorized(
                "Invalid login token. Token is revoked.",
            ));
        }
        let aud = azp
            .into_iter()
            .chain(jwt::claim_strings(&claims, "aud"))
            .find(|a| audiences.contains(a))
            .unwrap_or_default();
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                CiError::not_authorized("Invalid login token. Missing a required claim: sub")
            })?
            .to_owned();
        Ok(VerifiedLogin {
            provider: provider.to_owned(),
            subject,
            audience: aud,
            kind,
            claims,
        })
    }

    /// Verify every login of a `Logins` map.
    pub(crate) async fn verify_logins(
        &self,
        pool: &IdentityPool,
        logins: &[(String, String)],
        now: i64,
    ) -> Result<Vec<VerifiedLogin>, CiError> {
        check_logins(logins)?;
        let mut out = Vec::with_capacity(logins.len());
        for (provider, token) in logins {
            out.push(self.verify_login(pool, provider, token, now).await?);
        }
        Ok(out)
    }
}
