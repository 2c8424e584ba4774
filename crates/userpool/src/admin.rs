//! Authentication and authorization of the IAM-signed (admin) operations.
//!
//! Requests are SigV4-signed with the credential scope service `cognito-idp`. The signature is
//! checked here; *who* a key belongs to and *what* it may do is asked of an [`AdminAuthorizer`]:
//! [`RootOnly`] until IAM provides one.

use crate::error::ApiError;
use cubby_auth::AuthError;
use cubby_auth::sigv4;
use http::request::Parts;
use sha2::{Digest, Sha256};
use std::any::Any;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The authenticated caller of an admin operation.
#[derive(Clone)]
pub struct AdminCaller {
    /// Its ARN (`arn:aws:iam::000000000000:root`, a user or an assumed role).
    pub arn: String,
    /// The access key id it signed with.
    pub access_key_id: String,
    /// Whatever the authorizer wants back in [`AdminAuthorizer::authorize`].
    pub context: Option<Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for AdminCaller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminCaller")
            .field("arn", &self.arn)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// A resolved access key: the secret to check the signature with, and who it is.
pub struct ResolvedKey {
    /// The secret access key.
    pub secret: String,
    /// The caller, once the signature verified.
    pub caller: AdminCaller,
}

/// Why a key could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminAuthError {
    /// Unknown access key id (or a session token that does not open).
    #[error("unknown access key")]
    UnknownKey,
    /// The session token has expired.
    #[error("expired token")]
    ExpiredToken,
    /// Internal failure.
    #[error("{0}")]
    Internal(String),
}

/// The seam to IAM: resolves access keys and decides `cognito-idp:<Operation>` actions.
#[async_trait::async_trait]
pub trait AdminAuthorizer: Send + Sync {
    /// The secret and principal of `access_key_id` (with its session token, if any).
    async fn resolve(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
        now: i64,
    ) -> Result<ResolvedKey, AdminAuthError>;

    /// May `caller` perform `action` (`cognito-idp:CreateUserPool`) on `resource`
    /// (`arn:aws:cognito-idp:{region}:{account}:userpool/{id}`, or `*` for CreateUserPool /
    /// ListUserPools)?
    async fn authorize(
        &self,
        caller: &AdminCaller,
        action: &str,
        resource: &str,
        now: i64,
    ) -> Result<bool, AdminAuthError>;
}

/// Only the account root's long-term keys, which may do everything.
pub struct RootOnly {
    access_key_id: String,
    secret: String,
    account_id: String,
}

impl RootOnly {
    /// The authorizer for one root key pair.
    pub fn new(access_key_id: String, secret: String, account_id: String) -> Self {
        RootOnly {
            access_key_id,
            secret,
            account_id,
        }
    }
}

#[async_trait::async_trait]
impl AdminAuthorizer for RootOnly {
    async fn resolve(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
        _now: i64,
    ) -> Result<ResolvedKey, AdminAuthError> {
        let known: bool = access_key_id
            .as_bytes()
            .ct_eq(self.access_key_id.as_bytes())
            .into();
        if !known || session_token.is_some() || self.access_key_id.is_empty() {
            return Err(AdminAuthError::UnknownKey);
        }
        Ok(ResolvedKey {
            secret: self.secret.clone(),
            caller: AdminCaller {
                arn: format!("arn:aws:iam::{}:root", self.account_id),
                access_key_id: access_key_id.to_owned(),
                context: None,
            },
        })
    }

    async fn authorize(
        &self,
        caller: &AdminCaller,
        _action: &str,
        _resource: &str,
        _now: i64,
    ) -> Result<bool, AdminAuthError> {
        Ok(caller.access_key_id == self.access_key_id)
    }
}

fn invalid_signature(message: impl Into<String>) -> ApiError {
    ApiError::new("InvalidSignatureException", message)
}

fn map_auth_error(e: &AuthError) -> ApiError {
    match e {
        AuthError::SignatureDoesNotMatch(_) => invalid_signature(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
        ),
        AuthError::RequestTimeTooSkewed {
            request_time,
            server_time,
        } => invalid_signature(format!(
            "Signature expired: {request_time} is now earlier or later than {server_time} (15 min skew allowed)."
        )),
        AuthError::AuthorizationHeaderMalformed {
            region: Some(_), ..
        }
        | AuthError::AuthorizationQueryParametersError {
            region: Some(_), ..
        } => invalid_signature("Credential should be scoped to a valid region."),
        AuthError::ExpiredToken => ApiError::new(
            "ExpiredTokenException",
            "The security token included in the request is expired",
        ),
        AuthError::InvalidToken | AuthError::InvalidAccessKeyId { .. } => ApiError::new(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
        other => ApiError::new("IncompleteSignatureException", other.message()),
    }
}

/// Verify the SigV4 signature of an admin request and authorize `cognito-idp:{op}` on `resource`.
pub(crate) async fn authenticate(
    authorizer: &dyn AdminAuthorizer,
    parts: &Parts,
    body: &[u8],
    region: &str,
    op: &str,
    resource: &str,
    now: i64,
) -> Result<AdminCaller, ApiError> {
    let req = match sigv4::parse(parts) {
        Ok(Some(r)) => r,
        Ok(None) => {
            return Err(ApiError::new(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ));
        }
        Err(e) => return Err(map_auth_error(&e)),
    };
    if req.service != "cognito-idp" {
        return Err(invalid_signature(
            "Credential should be scoped to correct service: 'cognito-idp'. ",
        ));
    }
    sigv4::check_scope(&req, region).map_err(|e| map_auth_error(&e))?;
    let resolved = authorizer
        .resolve(&req.access_key_id, req.security_token.as_deref(), now)
        .await
        .map_err(|e| match e {
            AdminAuthError::UnknownKey => ApiError::new(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
            AdminAuthError::ExpiredToken => ApiError::new(
                "ExpiredTokenException",
                "The security token included in the request is expired",
            ),
            AdminAuthError::Internal(m) => ApiError::internal(m),
        })?;
    let body_hash;
    let payload_hash = match req.canonical_payload_hash() {
        Some(h) => h,
        None => {
            body_hash = hex::encode(Sha256::digest(body));
            &body_hash
        }
    };
    sigv4::verify(&req, parts, &resolved.secret, payload_hash, now, region)
        .map_err(|e| map_auth_error(&e))?;
    let caller = resolved.caller;
    let action = format!("cognito-idp:{op}");
    let allowed = authorizer
        .authorize(&caller, &action, resource, now)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if !allowed {
        return Err(ApiError::new(
            "AccessDeniedException",
            format!(
                "User: {} is not authorized to perform: {action} on resource: {resource}",
                caller.arn
            ),
        ));
    }
    Ok(caller)
}
