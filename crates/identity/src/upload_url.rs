//! The identity side of the upload-URL endpoint (`POST /_cubby/upload-url`): who is asking
//! (their identity-pool identity id, derived by the server, never taken from the request) and
//! the single-purpose session that signs the URL.
//!
//! The URL is signed with a **service session**: sealed session credentials minted for this one
//! URL, whose sealed session policy allows exactly `s3:PutObject` on the one key and whose
//! expiry is the URL's. Such a session has no role (its policy is its whole permission set);
//! only the server can mint one, because the claims are sealed with the master key.

use crate::Identity;
use crate::authority::Who;
use crate::cognito::CiError;
use crate::session::{Minted, SessionClaims, mint};
use http::StatusCode;
use http::request::Parts;

/// `role_id` of service sessions. Real role ids are `AROA` + upper-case alphanumerics, so this
/// value (lower-case, with a colon) can never name a role.
pub(crate) const SERVICE_ROLE_ID: &str = "cubby:service";

/// Policy keys of identity-pool sessions.
const SUB_KEY: &str = "cognito-identity.amazonaws.com:sub";
const AMR_KEY: &str = "cognito-identity.amazonaws.com:amr";

/// The caller of the upload-URL endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadCaller {
    /// Identity-pool identity id (`us-east-1:<uuid>`).
    pub identity_id: String,
    /// The caller's credentials (session or ID token) are valid until then, epoch seconds;
    /// the URL must not outlive them.
    pub not_after: i64,
    /// The identity signed in (a login), rather than a guest: upload rules tell them apart.
    pub signed_in: bool,
}

/// Why the upload-URL endpoint refuses a caller, as a JSON error (`__type`, message, status).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct UploadAuthError {
    /// The `__type` of the JSON error.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// HTTP status.
    pub status: StatusCode,
}

impl UploadAuthError {
    fn new(code: &'static str, status: StatusCode, message: impl Into<String>) -> Self {
        UploadAuthError {
            code,
            message: message.into(),
            status,
        }
    }
    fn denied(message: impl Into<String>) -> Self {
        Self::new("AccessDeniedException", StatusCode::FORBIDDEN, message)
    }
    fn from_ci(e: CiError) -> Self {
        let status = if e.status.is_server_error() {
            e.status
        } else {
            StatusCode::FORBIDDEN
        };
        UploadAuthError {
            code: e.code,
            message: e.message,
            status,
        }
    }
}

impl Identity {
    /// The caller of a SigV4-signed request made with identity-pool session credentials (any
    /// service scope: clients sign such APIs as `execute-api`). The identity id comes from the
    /// sealed session; IAM users, root and sessions without an identity are refused.
    pub async fn upload_caller_sigv4(
        &self,
        parts: &Parts,
        body: &[u8],
        now: i64,
    ) -> Result<UploadCaller, UploadAuthError> {
        let signed = match cubby_auth::sigv4::parse(parts) {
            Ok(Some(s)) => s,
            Ok(None) => {
                return Err(UploadAuthError::denied(
                    "Missing Authentication Token: sign the request with identity-pool credentials or send a user-pool ID token as Bearer.",
                ));
            }
            Err(e) => return Err(UploadAuthError::denied(e.message())),
        };
        let (secret, caller) = self
            .resolve_key(&signed.access_key_id, signed.security_token.as_deref(), now)
            .await
            .map_err(|e| match crate::query::AuthFailure::from(e) {
                crate::query::AuthFailure::Expired => {
                    UploadAuthError::denied("The security token included in the request is expired")
                }
                crate::query::AuthFailure::Internal(d) => {
                    tracing::error!(detail = %d, "upload-url: key lookup failed");
                    UploadAuthError::new(
                        "InternalErrorException",
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "An internal error occurred.",
                    )
                }
                _ => UploadAuthError::denied(
                    "The security token included in the request is invalid.",
                ),
            })?;
        // The body is always covered by the signature (no UNSIGNED-PAYLOAD): it names the key.
        let hash = hex::encode(crate::util::sha256(body));
        let region = signed.region.clone();
        cubby_auth::sigv4::verify(&signed, parts, &secret, &hash, now, &region)
            .map_err(|e| UploadAuthError::denied(e.message()))?;
        match crate::authority::who_of(&caller).as_deref() {
            Some(Who::Session(c)) if c.role_id != SERVICE_ROLE_ID => match &c.identity_id {
                Some(id) => Ok(UploadCaller {
                    identity_id: id.clone(),
                    not_after: c.expires_at,
                    signed_in: c
                        .web_identity
                        .iter()
                        .any(|(k, vals)| k == AMR_KEY && vals.iter().any(|v| v == "authenticated")),
                }),
                None => Err(UploadAuthError::denied(
                    "Upload URLs are issued to identity-pool identities: these credentials carry none.",
                )),
            },
            _ => Err(UploadAuthError::denied(
                "Upload URLs are issued to identity-pool identities: sign with credentials from GetCredentialsForIdentity.",
            )),
        }
    }

    /// The caller behind a user-pool ID token, verified as identity pool `pool_id` verifies
    /// logins; the identity id is the one GetId returns for that login (created on first use,
    /// as GetId does).
    pub async fn upload_caller_bearer(
        &self,
        pool_id: &str,
        token: &str,
        now: i64,
    ) -> Result<UploadCaller, UploadAuthError> {
        let bad_token = || UploadAuthError::denied("Invalid login token.");
        let claims = crate::jwt::peek(token).map_err(|_| bad_token())?;
        let issuer = claims
            .get("iss")
            .and_then(|v| v.as_str())
            .ok_or_else(bad_token)?;
        // The Logins-map key of a user pool is its issuer without the scheme.
        let provider = issuer
            .strip_prefix("https://")
            .or_else(|| issuer.strip_prefix("http://"))
            .ok_or_else(bad_token)?
            .to_owned();
        let pool = self
            .load_pool(pool_id, now)
            .await
            .map_err(UploadAuthError::from_ci)?;
        let logins = vec![(provider, token.to_owned())];
        let verified = self
            .verify_logins(&pool, &logins, now)
            .await
            .map_err(UploadAuthError::from_ci)?;
        if verified
            .iter()
            .any(|l| l.kind != crate::cognito::LoginKind::UserPool)
        {
            return Err(UploadAuthError::denied(
                "Bearer tokens must be user-pool ID tokens.",
            ));
        }
        let exp = claims
            .get("exp")
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(bad_token)?;
        if exp <= now {
            return Err(UploadAuthError::denied(
                "Invalid login token. Token expired.",
            ));
        }
        let identity_id = crate::cognito::identity_for_logins(self, &pool, &logins, now)
            .await
            .map_err(UploadAuthError::from_ci)?;
        Ok(UploadCaller {
            identity_id,
            not_after: exp,
            signed_in: true,
        })
    }

    /// Mint the service session that signs one upload URL: it may `s3:PutObject` exactly
    /// `bucket/key` and nothing else, until `expires_at`.
    pub fn mint_upload_session(
        &self,
        bucket: &str,
        key: &str,
        caller: &UploadCaller,
        now: i64,
        expires_at: i64,
    ) -> Minted {
        let mut claims = SessionClaims::new(
            &format!("arn:aws:iam::{}:role/cubby-upload-url", self.cfg.account_id),
            SERVICE_ROLE_ID,
            "upload-url",
            &self.cfg.account_id,
            now,
            expires_at,
        );
        claims.identity_id = Some(caller.identity_id.clone());
        // As on the identity's own credentials, so upload rules (guests / signed in, key
        // patterns with `${cognito-identity.amazonaws.com:sub}`) see the same subject.
        let amr = if caller.signed_in {
            "authenticated"
        } else {
            "unauthenticated"
        };
        claims.web_identity = vec![
            (SUB_KEY.to_owned(), vec![caller.identity_id.clone()]),
            (AMR_KEY.to_owned(), vec![amr.to_owned()]),
        ];
        // The key is built by the server from sanitized parts (no `*`, `?` or `$`), so the
        // resource is a literal ARN, not a pattern.
        claims.session_policy = Some(
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Action": "s3:PutObject",
                    "Resource": format!("arn:aws:s3:::{bucket}/{key}"),
                }]
            })
            .to_string(),
        );
        mint(&self.master, &claims, crate::util::random_bytes::<34>())
    }
}
