//! Event notifications at start-up (targets from `CUBBY_NOTIFY_*`, the dispatcher) and the
//! root-only `GET /_cubby/admin/events` report: outbox counts, this process's delivery
//! counters and the dead-lettered events.

use bytes::Bytes;
use cubby_meta::Meta;
use http::{HeaderValue, Request, Response, StatusCode};
use subtle::ConstantTimeEq;

/// What the admin route needs.
pub(crate) struct EventsAdmin {
    pub meta: Meta,
    pub root_access_key_id: String,
    pub root_secret: String,
    pub region: String,
}

fn json(status: StatusCode, body: serde_json::Value) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

fn denied(msg: &str) -> Response<Bytes> {
    json(
        StatusCode::FORBIDDEN,
        serde_json::json!({"__type": "AccessDeniedException", "message": msg}),
    )
}

impl EventsAdmin {
    /// Only the account root may look (SigV4, header or presigned, any service name).
    fn is_root<B>(&self, req: &Request<B>, now: i64) -> Result<(), &'static str> {
        let (parts, ()) = Request::builder()
            .method(req.method())
            .uri(req.uri())
            .body(())
            .map_err(|_| "bad request")?
            .into_parts();
        let mut parts = parts;
        parts.headers = req.headers().clone();
        let signed = match cubby_auth::sigv4::parse(&parts) {
            Ok(Some(s)) => s,
            _ => return Err("sign this request with the root keys"),
        };
        let is_root: bool = signed
            .access_key_id
            .as_bytes()
            .ct_eq(self.root_access_key_id.as_bytes())
            .into();
        if !is_root || self.root_access_key_id.is_empty() {
            return Err("only the account root may read the event outbox");
        }
        let payload = if signed.presigned_expires.is_some() {
            "UNSIGNED-PAYLOAD".to_owned()
        } else {
            parts
                .headers
                .get("x-amz-content-sha256")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("UNSIGNED-PAYLOAD")
                .to_owned()
        };
        cubby_auth::sigv4::verify(
            &signed,
            &parts,
            &self.root_secret,
            &payload,
            now,
            &self.region,
        )
        .map(|_| ())
        .map_err(|_| "signature does not match")
    }

    pub(crate) async fn handle<B>(&self, req: &Request<B>, now: i64) -> Response<Bytes> {
        if let Err(why) = self.is_root(req, now) {
            return denied(why);
        }
        let limit = 100;
        let result = async {
            let (pending, dead) = self.meta.outbox_counts().await?;
            let dead_events = self.meta.dead_events(limit).await?;
            let by_target = self.meta.pending_by_target().await?;
            Ok::<_, cubby_meta::MetaError>((pending, dead, dead_events, by_target))
        }
        .await;
        match result {
            Ok((pending, dead, dead_events, by_target)) => {
                let s = cubby_events::stats();
                use std::sync::atomic::Ordering::Relaxed;
                let list: Vec<serde_json::Value> = dead_events
                    .into_iter()
                    .map(|e| {
                        let body = cubby_events::model::delivery_body(&e.payload);
                        let event = serde_json::from_str::<serde_json::Value>(&body)
                            .unwrap_or_else(|_| serde_json::Value::String(body.into_owned()));
                        serde_json::json!({
                            "id": e.id,
                            "target": e.target,
                            "attempts": e.attempts,
                            "lastError": e.last_error,
                            "createdMs": e.created_ms,
                            "event": event,
                        })
                    })
                    .collect();
                json(
                    StatusCode::OK,
                    serde_json::json!({
                        "pending": pending,
                        "pendingByTarget": by_target.into_iter().map(|(t, n)| (t, serde_json::Value::from(n))).collect::<serde_json::Map<_, _>>(),
                        "deadLettered": dead,
                        "delivered": s.delivered.load(Relaxed),
                        "failedAttempts": s.failed_attempts.load(Relaxed),
                        "deadLetteredSinceStart": s.dead_lettered.load(Relaxed),
                        "deadLetters": list,
                    }),
                )
            }
            Err(e) => {
                tracing::error!(error = %e, "outbox report failed");
                json(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    serde_json::json!({"__type": "InternalFailure", "message": "outbox unavailable"}),
                )
            }
        }
    }
}
