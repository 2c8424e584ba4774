//! The user pools behind the port: the `AWSCognitoIdentityProviderService.*` JSON API, the
//! `/{userPoolId}/.well-known/…` discovery documents, and the adapter through which the
//! identity pools and STS verify user-pool ID tokens locally.

use bytes::Bytes;
use cubby_s3::RespBody;
use cubby_userpool::{MAX_BODY_BYTES, UserPools};
use http::{Request, Response};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;

fn full(r: Response<Bytes>) -> Response<RespBody> {
    r.map(|b| {
        http_body_util::Full::new(b)
            .map_err(|never| match never {})
            .boxed_unsync()
    })
}

/// Answer one user-pool JSON request (body read up to [`MAX_BODY_BYTES`] here, handled on the
/// user pools' own idle-priority runtime).
pub(crate) async fn json_api(
    up: &Arc<UserPools>,
    req: Request<hyper::body::Incoming>,
    now: i64,
) -> Response<RespBody> {
    let (parts, body) = req.into_parts();
    let op = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("AWSCognitoIdentityProviderService."))
        .unwrap_or_default()
        .to_owned();
    if crate::dispatch::refuse_unread_over(&parts, MAX_BODY_BYTES) {
        return full(up.body_too_large());
    }
    // Over-limit bodies are drained before answering, so the client reads the error instead
    // of a broken pipe.
    let body = match crate::dispatch::read_limited(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => return full(up.body_too_large()),
    };
    full(up.handle_json_at_idle_priority(op, parts, body, now).await)
}

/// `GET /{userPoolId}/.well-known/{jwks.json,openid-configuration}`; `None` for other paths.
pub(crate) async fn well_known(up: &UserPools, path: &str, now: i64) -> Option<Response<RespBody>> {
    up.well_known(path, now).await.map(full)
}

/// The user pools as local token issuers of the identity pools and STS.
pub(crate) struct Issuers(pub Arc<UserPools>);

#[async_trait::async_trait]
impl cubby_identity::LocalIssuers for Issuers {
    async fn lookup(&self, provider_name: &str) -> Option<cubby_identity::LocalIssuer> {
        let li = self.0.local_issuer(provider_name).await?;
        Some(cubby_identity::LocalIssuer {
            issuer: li.issuer,
            jwks: li.jwks,
            client_ids: li.client_ids,
            user_pool: true,
        })
    }

    async fn is_revoked(&self, provider_name: &str, claims: &serde_json::Value) -> bool {
        let pool_id = provider_name.rsplit('/').next().unwrap_or_default();
        self.0.is_token_revoked(pool_id, claims).await
    }
}

/// Sweep expired single-use markers every ten minutes, for as long as the service lives.
pub(crate) fn spawn_sweeper(up: &Arc<UserPools>) {
    let weak = Arc::downgrade(up);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            let Some(up) = weak.upgrade() else { break };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            if let Err(e) = up.sweep(now).await {
                tracing::warn!(error = %e, "user-pool sweep failed");
            }
        }
    });
}
