//! OIDC discovery and JWKS: `GET /{userPoolId}/.well-known/{openid-configuration,jwks.json}`.

use crate::core::valid_pool_id;
use crate::{UserPools, tokens};
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use serde_json::json;

/// Which document a path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Doc {
    Jwks,
    Discovery,
}

/// `(pool id, document)` for a discovery path.
pub(crate) fn parse_path(path: &str) -> Option<(&str, Doc)> {
    let rest = path.strip_prefix('/')?;
    let (pool, doc) = rest.split_once("/.well-known/")?;
    if !valid_pool_id(pool) {
        return None;
    }
    let doc = match doc {
        "jwks.json" => Doc::Jwks,
        "openid-configuration" => Doc::Discovery,
        _ => return None,
    };
    Some((pool, doc))
}

fn respond(status: StatusCode, body: serde_json::Value) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(body.to_string()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert("cache-control", HeaderValue::from_static("max-age=300"));
    r
}

pub(crate) async fn serve(up: &UserPools, path: &str, now: i64) -> Option<Response<Bytes>> {
    let (pool_id, doc) = parse_path(path)?;
    let pool = match up.pool(pool_id).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Some(respond(
                StatusCode::NOT_FOUND,
                json!({"message": format!("User pool {pool_id} does not exist.")}),
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, "reading user pool for discovery");
            return Some(respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"message": "Internal server error."}),
            ));
        }
    };
    Some(match doc {
        Doc::Jwks => respond(StatusCode::OK, tokens::jwks(&pool, now)),
        Doc::Discovery => {
            let iss = up.issuer(pool_id);
            respond(
                StatusCode::OK,
                json!({
                    "issuer": iss,
                    "jwks_uri": format!("{iss}/.well-known/jwks.json"),
                    "authorization_endpoint": format!("{iss}/oauth2/authorize"),
                    "token_endpoint": format!("{iss}/oauth2/token"),
                    "userinfo_endpoint": format!("{iss}/oauth2/userInfo"),
                    "response_types_supported": ["code", "token"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "scopes_supported": ["openid", "email", "phone", "profile"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                    "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "email", "email_verified",
                        "phone_number", "phone_number_verified", "cognito:username", "cognito:groups", "token_use"],
                }),
            )
        }
    })
}
