//! The JSON 1.1 front: body parsing, dispatch by operation, admin authentication, rendering of
//! results and Cognito-shaped errors.

mod account;
mod auth;
mod pools;
mod users;

use crate::error::ApiError;
use crate::{MAX_BODY_BYTES, UserPools, admin};
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use serde_json::{Map, Value};

/// A handler's result: the response body object.
pub(crate) type ApiResult = Result<Value, ApiError>;

/// Operations that need SigV4 (IAM) authentication.
const ADMIN_OPS: &[&str] = &[
    "CreateUserPool",
    "DescribeUserPool",
    "UpdateUserPool",
    "DeleteUserPool",
    "ListUserPools",
    "CreateUserPoolClient",
    "DescribeUserPoolClient",
    "UpdateUserPoolClient",
    "DeleteUserPoolClient",
    "ListUserPoolClients",
    "AdminCreateUser",
    "AdminSetUserPassword",
    "AdminGetUser",
    "AdminDeleteUser",
    "AdminConfirmSignUp",
    "AdminDisableUser",
    "AdminEnableUser",
    "AdminUpdateUserAttributes",
    "AdminDeleteUserAttributes",
    "AdminResetUserPassword",
    "ListUsers",
    "AdminInitiateAuth",
    "AdminRespondToAuthChallenge",
    "AdminUserGlobalSignOut",
    "CreateGroup",
    "GetGroup",
    "UpdateGroup",
    "DeleteGroup",
    "ListGroups",
    "AdminAddUserToGroup",
    "AdminRemoveUserFromGroup",
    "AdminListGroupsForUser",
    "ListUsersInGroup",
    "GetSigningCertificate",
];

/// The JSON request body with typed accessors and AWS-worded validation errors.
pub(crate) struct Req {
    body: Map<String, Value>,
}

fn null_error(field: &str) -> ApiError {
    ApiError::invalid(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
        lower_first(field)
    ))
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn type_error(field: &str, want: &str) -> ApiError {
    ApiError::new(
        "SerializationException",
        format!("Value for '{field}' must be a {want}"),
    )
}

impl Req {
    pub(crate) fn new(body: Map<String, Value>) -> Self {
        Req { body }
    }

    /// The raw value.
    pub(crate) fn get(&self, field: &str) -> Option<&Value> {
        self.body.get(field).filter(|v| !v.is_null())
    }

    /// A required non-empty string.
    pub(crate) fn str(&self, field: &str) -> Result<&str, ApiError> {
        match self.opt_str(field)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(null_error(field)),
        }
    }

    /// An optional string.
    pub(crate) fn opt_str(&self, field: &str) -> Result<Option<&str>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(type_error(field, "string")),
        }
    }

    /// An optional integer.
    pub(crate) fn opt_i64(&self, field: &str) -> Result<Option<i64>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| type_error(field, "number")),
        }
    }

    /// An optional boolean.
    pub(crate) fn opt_bool(&self, field: &str) -> Result<Option<bool>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(type_error(field, "boolean")),
        }
    }

    /// An optional list of strings.
    pub(crate) fn opt_str_list(&self, field: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| type_error(field, "list of strings"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(type_error(field, "list")),
        }
    }

    /// An optional string map (`AuthParameters`, `ChallengeResponses`, `ClientMetadata`).
    pub(crate) fn str_map(&self, field: &str) -> Result<Map<String, Value>, ApiError> {
        match self.get(field) {
            None => Ok(Map::new()),
            Some(Value::Object(m)) => {
                if m.values().all(|v| v.is_string()) {
                    Ok(m.clone())
                } else {
                    Err(type_error(field, "map of strings"))
                }
            }
            Some(_) => Err(type_error(field, "map")),
        }
    }

    /// An optional object.
    pub(crate) fn opt_obj(&self, field: &str) -> Result<Option<&Map<String, Value>>, ApiError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(type_error(field, "structure")),
        }
    }

    /// `[{Name, Value}]` attribute lists.
    pub(crate) fn attributes(&self, field: &str) -> Result<Vec<(String, String)>, ApiError> {
        let Some(v) = self.get(field) else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = v else {
            return Err(type_error(field, "list"));
        };
        items
            .iter()
            .map(|it| {
                let name = it
                    .get("Name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| null_error(&format!("{field}.member.name")))?;
                let value = it.get("Value").and_then(Value::as_str).unwrap_or_default();
                Ok((name.to_owned(), value.to_owned()))
            })
            .collect()
    }

    /// The whole body (for echoing settings).
    pub(crate) fn body(&self) -> &Map<String, Value> {
        &self.body
    }
}

/// A string from a string map.
pub(crate) fn param<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    m.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Epoch seconds as JSON 1.1 timestamps travel.
pub(crate) fn ts(t: i64) -> Value {
    Value::from(t as f64)
}

pub(crate) fn too_large() -> ApiError {
    ApiError {
        code: "RequestEntityTooLargeException",
        message: format!("Request body is larger than {MAX_BODY_BYTES} bytes."),
        status: 413,
    }
}

fn base_response(status: u16, body: Bytes, cors: bool) -> Response<Bytes> {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let h = r.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    let rid = uuid::Uuid::new_v4().to_string();
    if let Ok(v) = HeaderValue::from_str(&rid) {
        h.insert("x-amzn-requestid", v);
    }
    if cors {
        h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
        h.insert(
            "access-control-expose-headers",
            HeaderValue::from_static("x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date"),
        );
    }
    r
}

/// Whether the response carries CORS headers: the request came from a browser page.
pub(crate) fn wants_cors(parts: &http::request::Parts) -> bool {
    parts.headers.contains_key("origin")
}

/// Render an error: `{"__type", "message"}`, `x-amzn-ErrorType: <Code>:`, `x-amzn-ErrorMessage`.
pub(crate) fn render_error(e: &ApiError, cors: bool) -> Response<Bytes> {
    let body = serde_json::json!({ "__type": e.code, "message": e.message }).to_string();
    let mut r = base_response(e.status, Bytes::from(body), cors);
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{}:", e.code)) {
        h.insert("x-amzn-errortype", v);
    }
    // Header values must be visible ASCII; drop anything else from the copy in the header.
    let msg: String = e
        .message
        .chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .collect();
    if let Ok(v) = HeaderValue::from_str(&msg) {
        h.insert("x-amzn-errormessage", v);
    }
    r
}

/// Entry point.
pub(crate) async fn handle(
    up: &UserPools,
    op: &str,
    parts: &http::request::Parts,
    body: Bytes,
    now: i64,
) -> Response<Bytes> {
    let cors = wants_cors(parts);
    let result = handle_inner(up, op, parts, &body, now).await;
    match result {
        Ok(v) => base_response(200, Bytes::from(v.to_string()), cors),
        Err(e) => {
            if e.status >= 500 {
                tracing::warn!(op, code = e.code, "user-pool request failed");
            } else {
                tracing::debug!(op, code = e.code, message = %e.message, "user-pool request refused");
            }
            render_error(&e, cors)
        }
    }
}

async fn handle_inner(
    up: &UserPools,
    op: &str,
    parts: &http::request::Parts,
    body: &Bytes,
    now: i64,
) -> ApiResult {
    if body.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::new("SerializationException", format!("Invalid JSON body: {e}"))
        })?
    };
    let Value::Object(map) = value else {
        return Err(ApiError::new(
            "SerializationException",
            "The request body must be a JSON object.",
        ));
    };
    let req = Req::new(map);
    if ADMIN_OPS.contains(&op) {
        let resource = match req.opt_str("UserPoolId")? {
            Some(id) if !id.is_empty() => up.pool_arn(id),
            _ => "*".to_owned(),
        };
        admin::authenticate(
            up.authorizer(),
            parts,
            body,
            up.region(),
            op,
            &resource,
            now,
        )
        .await?;
    }
    match op {
        // pools, clients, groups
        "CreateUserPool" => pools::create_user_pool(up, &req, now).await,
        "DescribeUserPool" => pools::describe_user_pool(up, &req).await,
        "UpdateUserPool" => pools::update_user_pool(up, &req, now).await,
        "DeleteUserPool" => pools::delete_user_pool(up, &req).await,
        "ListUserPools" => pools::list_user_pools(up, &req).await,
        "CreateUserPoolClient" => pools::create_client(up, &req, now).await,
        "DescribeUserPoolClient" => pools::describe_client(up, &req).await,
        "UpdateUserPoolClient" => pools::update_client(up, &req, now).await,
        "DeleteUserPoolClient" => pools::delete_client(up, &req).await,
        "ListUserPoolClients" => pools::list_clients(up, &req).await,
        "CreateGroup" => pools::create_group(up, &req, now).await,
        "GetGroup" => pools::get_group(up, &req).await,
        "UpdateGroup" => pools::update_group(up, &req, now).await,
        "DeleteGroup" => pools::delete_group(up, &req).await,
        "ListGroups" => pools::list_groups(up, &req).await,
        "GetSigningCertificate" => Err(ApiError::new(
            "UnsupportedOperationException",
            "cubby signs with RSA keys published in the JWKS; there is no certificate.",
        )),
        // admin user operations
        "AdminCreateUser" => users::admin_create_user(up, &req, now).await,
        "AdminSetUserPassword" => users::admin_set_user_password(up, &req, now).await,
        "AdminGetUser" => users::admin_get_user(up, &req).await,
        "AdminDeleteUser" => users::admin_delete_user(up, &req).await,
        "AdminConfirmSignUp" => users::admin_confirm_sign_up(up, &req, now).await,
        "AdminDisableUser" => users::admin_set_enabled(up, &req, false, now).await,
        "AdminEnableUser" => users::admin_set_enabled(up, &req, true, now).await,
        "AdminUpdateUserAttributes" => users::admin_update_attributes(up, &req, now).await,
        "AdminDeleteUserAttributes" => users::admin_delete_attributes(up, &req, now).await,
        "AdminResetUserPassword" => users::admin_reset_password(up, &req, now).await,
        "AdminUserGlobalSignOut" => users::admin_global_sign_out(up, &req, now).await,
        "ListUsers" => users::list_users(up, &req).await,
        "AdminAddUserToGroup" => users::add_to_group(up, &req, now).await,
        "AdminRemoveUserFromGroup" => users::remove_from_group(up, &req, now).await,
        "AdminListGroupsForUser" => users::groups_for_user(up, &req).await,
        "ListUsersInGroup" => users::users_in_group(up, &req).await,
        // sign-in
        "InitiateAuth" => auth::initiate_auth(up, &req, false, now).await,
        "AdminInitiateAuth" => auth::initiate_auth(up, &req, true, now).await,
        "RespondToAuthChallenge" => auth::respond_to_auth_challenge(up, &req, false, now).await,
        "AdminRespondToAuthChallenge" => auth::respond_to_auth_challenge(up, &req, true, now).await,
        "GetTokensFromRefreshToken" => auth::get_tokens_from_refresh_token(up, &req, now).await,
        // end-user self service
        "SignUp" => account::sign_up(up, &req, now).await,
        "ConfirmSignUp" => account::confirm_sign_up(up, &req, now).await,
        "ResendConfirmationCode" => account::resend_confirmation_code(up, &req, now).await,
        "ForgotPassword" => account::forgot_password(up, &req, now).await,
        "ConfirmForgotPassword" => account::confirm_forgot_password(up, &req, now).await,
        "GetUser" => account::get_user(up, &req, now).await,
        "UpdateUserAttributes" => account::update_user_attributes(up, &req, now).await,
        "DeleteUser" => account::delete_user(up, &req, now).await,
        "ChangePassword" => account::change_password(up, &req, now).await,
        "GlobalSignOut" => account::global_sign_out(up, &req, now).await,
        "RevokeToken" => account::revoke_token(up, &req, now).await,
        _ => Err(ApiError::new(
            "UnknownOperationException",
            format!("The operation {op} is not supported by cubby's user pools."),
        )),
    }
}
