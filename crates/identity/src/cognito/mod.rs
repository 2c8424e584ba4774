//! The Cognito Identity JSON 1.1 API (`X-Amz-Target: AWSCognitoIdentityService.<Op>`):
//! identity pools, identities, credentials. GetId, GetCredentialsForIdentity, GetOpenIdToken
//! and UnlinkIdentity are unsigned; every other operation is SigV4-signed (scope service
//! `cognito-identity`) and authorized as `cognito-identity:<Op>`.

mod identities;
mod logins;
mod pools;
pub(crate) mod roles;

pub(crate) use identities::identity_for_logins;
pub(crate) use logins::LoginKind;

use crate::Identity;
use crate::authority::Who;
use crate::query::AuthFailure;
use bytes::Bytes;
use http::request::Parts;
use http::{Response, StatusCode};
use serde_json::{Map, Value};
use std::net::SocketAddr;

/// A Cognito Identity error: `{"__type": code, "message": …}`.
#[derive(Debug, Clone)]
pub(crate) struct CiError {
    pub code: &'static str,
    pub message: String,
    pub status: StatusCode,
}

impl CiError {
    pub(crate) fn new(code: &'static str, message: impl Into<String>) -> Self {
        CiError {
            code,
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
        }
    }
    pub(crate) fn not_authorized(message: impl Into<String>) -> Self {
        Self::new("NotAuthorizedException", message)
    }
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterException", message)
    }
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", message)
    }
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new("ResourceConflictException", message)
    }
    pub(crate) fn bad_config() -> Self {
        Self::new(
            "InvalidIdentityPoolConfigurationException",
            "Invalid identity pool configuration. Check assigned IAM roles for this pool.",
        )
    }
    pub(crate) fn pool_not_found(id: &str) -> Self {
        Self::not_found(format!("IdentityPool '{id}' not found."))
    }
    pub(crate) fn forbidden(identity: &str) -> Self {
        Self::not_authorized(format!("Access to Identity '{identity}' is forbidden."))
    }
    pub(crate) fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        CiError {
            code: "InternalErrorException",
            message: "An internal error occurred.".into(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn from_auth(e: AuthFailure) -> Self {
        let (code, status, message) = match e {
            AuthFailure::Missing => (
                "MissingAuthenticationTokenException",
                StatusCode::FORBIDDEN,
                "Missing Authentication Token".to_owned(),
            ),
            AuthFailure::UnknownKey | AuthFailure::InvalidToken => (
                "UnrecognizedClientException",
                StatusCode::BAD_REQUEST,
                "The security token included in the request is invalid.".to_owned(),
            ),
            AuthFailure::Expired => (
                "ExpiredTokenException",
                StatusCode::BAD_REQUEST,
                "The security token included in the request is expired".to_owned(),
            ),
            AuthFailure::Signature => (
                "InvalidSignatureException",
                StatusCode::BAD_REQUEST,
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".to_owned(),
            ),
            AuthFailure::Malformed(m) => ("IncompleteSignatureException", StatusCode::BAD_REQUEST, m),
            AuthFailure::Internal(d) => return Self::internal(d),
        };
        CiError {
            code,
            message,
            status,
        }
    }
}

impl From<crate::store::StoreError> for CiError {
    fn from(e: crate::store::StoreError) -> Self {
        CiError::internal(e)
    }
}

/// Accessors over the JSON input object with AWS-style validation errors.
pub(crate) struct In<'a>(pub &'a Map<String, Value>);

fn type_error(name: &str) -> CiError {
    CiError::new(
        "SerializationException",
        format!("Unexpected value type for field {name}"),
    )
}

impl<'a> In<'a> {
    pub(crate) fn str(&self, name: &str) -> Result<Option<&'a str>, CiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(type_error(name)),
        }
    }
    pub(crate) fn req(&self, name: &str) -> Result<&'a str, CiError> {
        match self.str(name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(CiError::invalid(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_first(name)
            ))),
        }
    }
    pub(crate) fn bool(&self, name: &str) -> Result<Option<bool>, CiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(type_error(name)),
        }
    }
    pub(crate) fn int(&self, name: &str) -> Result<Option<i64>, CiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| type_error(name)),
            Some(_) => Err(type_error(name)),
        }
    }
    /// A map of strings (absent = empty).
    pub(crate) fn str_map(&self, name: &str) -> Result<Vec<(String, String)>, CiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    _ => Err(type_error(name)),
                })
                .collect(),
            Some(_) => Err(type_error(name)),
        }
    }
    /// A list of strings (absent = empty).
    pub(crate) fn str_list(&self, name: &str) -> Result<Vec<String>, CiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| type_error(name))
                })
                .collect(),
            Some(_) => Err(type_error(name)),
        }
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// An identity pool / identity id: `<region>:<uuid>` (`[\w-]+:[0-9a-f-]+`, ≤55).
pub(crate) fn valid_id(id: &str) -> bool {
    let Some((region, rest)) = id.split_once(':') else {
        return false;
    };
    id.len() <= 55
        && !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !rest.is_empty()
        && rest.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

pub(crate) fn check_id(field: &str, id: &str) -> Result<(), CiError> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(CiError::invalid(format!(
            "1 validation error detected: Value '{id}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w-]+:[0-9a-f-]+"
        )))
    }
}

/// Operations that need no signature.
const UNSIGNED: &[&str] = &[
    "GetId",
    "GetCredentialsForIdentity",
    "GetOpenIdToken",
    "UnlinkIdentity",
];

/// One signed operation's context.
pub(crate) struct Admin<'a> {
    pub id: &'a Identity,
    pub who: &'a Who,
    pub op: &'a str,
    pub keys: Vec<(&'static str, String)>,
    pub now: i64,
}

impl Admin<'_> {
    /// `arn:aws:cognito-identity:<region>:<acct>:identitypool/<id>`.
    pub(crate) fn pool_arn(&self, pool: &str) -> String {
        self.id.pool_arn(pool)
    }

    /// Authorize `cognito-identity:<Op>` on `resource`.
    pub(crate) async fn allow(&self, resource: &str) -> Result<(), CiError> {
        let action = format!("cognito-identity:{}", self.op);
        if self
            .id
            .decide(
                Some(self.who),
                &action,
                resource,
                &self.keys,
                None,
                self.now,
            )
            .await?
        {
            Ok(())
        } else {
            Err(CiError {
                code: "AccessDeniedException",
                message: format!(
                    "User: {} is not authorized to perform: {action} on resource: {resource}",
                    self.who.arn(&self.id.cfg.account_id)
                ),
                status: StatusCode::BAD_REQUEST,
            })
        }
    }

    /// Authorize `iam:PassRole` on a role being assigned.
    pub(crate) async fn allow_pass_role(&self, role_arn: &str) -> Result<(), CiError> {
        if self
            .id
            .decide(
                Some(self.who),
                "iam:PassRole",
                role_arn,
                &self.keys,
                None,
                self.now,
            )
            .await?
        {
            Ok(())
        } else {
            Err(CiError {
                code: "AccessDeniedException",
                message: format!(
                    "User: {} is not authorized to perform: iam:PassRole on resource: {role_arn}",
                    self.who.arn(&self.id.cfg.account_id)
                ),
                status: StatusCode::BAD_REQUEST,
            })
        }
    }
}

impl Identity {
    pub(crate) fn pool_arn(&self, pool: &str) -> String {
        format!(
            "arn:aws:cognito-identity:{}:{}:identitypool/{pool}",
            self.cfg.region, self.cfg.account_id
        )
    }

    /// Handle one Cognito Identity request (`body` is the JSON body, size-limited by the
    /// caller).
    pub async fn cognito_identity(
        &self,
        parts: &Parts,
        body: &[u8],
        peer: SocketAddr,
        now: i64,
    ) -> Response<Bytes> {
        let request_id = crate::util::uuid();
        let result = self.cognito_inner(parts, body, peer, now).await;
        match result {
            Ok(v) => json_response(StatusCode::OK, v.to_string(), &request_id, None),
            Err(e) => {
                let body = serde_json::json!({"__type": e.code, "message": e.message}).to_string();
                json_response(e.status, body, &request_id, Some(&e))
            }
        }
    }

    async fn cognito_inner(
        &self,
        parts: &Parts,
        body: &[u8],
        peer: SocketAddr,
        now: i64,
    ) -> Result<Value, CiError> {
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let op = target
            .strip_prefix("AWSCognitoIdentityService.")
            .unwrap_or_default()
            .to_owned();
        let input: Map<String, Value> = if body.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(m)) => m,
                _ => {
                    return Err(CiError::new(
                        "SerializationException",
                        "Start of structure or map found where not expected.",
                    ));
                }
            }
        };
        let inp = In(&input);
        if UNSIGNED.contains(&op.as_str()) {
            return identities::unsigned(self, &op, &inp, now).await;
        }
        let who = match self
            .authenticate(parts, body, "cognito-identity", now)
            .await
        {
            Ok(Some(w)) => w,
            Ok(None) => return Err(CiError::from_auth(AuthFailure::Missing)),
            Err(e) => return Err(CiError::from_auth(e)),
        };
        let admin = Admin {
            id: self,
            who: &who,
            op: &op,
            keys: crate::iam::base_keys(parts, peer, now),
            now,
        };
        match op.as_str() {
            "CreateIdentityPool"
            | "DescribeIdentityPool"
            | "UpdateIdentityPool"
            | "DeleteIdentityPool"
            | "ListIdentityPools"
            | "SetIdentityPoolRoles"
            | "GetIdentityPoolRoles"
            | "SetPrincipalTagAttributeMap"
            | "GetPrincipalTagAttributeMap"
            | "TagResource"
            | "UntagResource"
            | "ListTagsForResource" => pools::handle(&admin, &inp).await,
            "GetOpenIdTokenForDeveloperIdentity"
            | "LookupDeveloperIdentity"
            | "MergeDeveloperIdentities"
            | "UnlinkDeveloperIdentity"
            | "ListIdentities"
            | "DescribeIdentity"
            | "DeleteIdentities" => identities::admin(&admin, &inp).await,
            _ => Err(CiError::new(
                "UnknownOperationException",
                format!("Unknown operation {target}"),
            )),
        }
    }
}

fn json_response(
    status: StatusCode,
    body: String,
    request_id: &str,
    err: Option<&CiError>,
) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    if let Some(e) = err {
        if let Ok(v) = http::HeaderValue::from_str(&format!("{}:", e.code)) {
            h.insert("x-amzn-errortype", v);
        }
        let msg: String = e
            .message
            .chars()
            .filter(|c| c.is_ascii() && !c.is_ascii_control())
            .collect();
        if let Ok(v) = http::HeaderValue::from_str(&msg) {
            h.insert("x-amzn-errormessage", v);
        }
    }
    r
}

/// A JSON error answer for a request whose body could not be read (too large, broken).
pub fn cognito_error_response(code: &str, message: &str) -> Response<Bytes> {
    let body = serde_json::json!({"__type": code, "message": message}).to_string();
    let mut r = Response::new(Bytes::from(body));
    *r.status_mut() = StatusCode::BAD_REQUEST;
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&format!("{code}:")) {
        h.insert("x-amzn-errortype", v);
    }
    if let Ok(v) = http::HeaderValue::from_str(message) {
        h.insert("x-amzn-errormessage", v);
    }
    r
}
