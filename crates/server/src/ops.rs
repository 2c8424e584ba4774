//! Operator routes: `/_cubby/health` (the process answers), `/_cubby/ready` (metadata and
//! blob store reachable, start-up configuration applied) and `/_cubby/metrics` (Prometheus).

use crate::setup::SetupHandle;
use bytes::Bytes;
use cubby_blob::FsBlobStore;
use cubby_meta::Meta;
use cubby_s3::RespBody;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use std::time::Duration;

/// What the operator routes need.
pub(crate) struct Ops {
    pub meta: Meta,
    pub blobs: FsBlobStore,
    pub setup: SetupHandle,
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<RespBody> {
    let mut r = Response::new(
        http_body_util::Full::new(body.into())
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    r
}

/// A readiness check may not hang a load balancer's probe.
const CHECK_TIME: Duration = Duration::from_secs(5);

impl Ops {
    /// `/_cubby/health`: the process is alive and serving.
    pub fn health(&self) -> Response<RespBody> {
        text(StatusCode::OK, "ok\n")
    }

    /// `/_cubby/ready`: 200 when every dependency answers, else 503 with one line per check.
    pub async fn ready(&self) -> Response<RespBody> {
        let meta = tokio::time::timeout(CHECK_TIME, self.meta.ping()).await;
        let blobs = tokio::time::timeout(CHECK_TIME, self.blobs.probe()).await;
        let mut ok = true;
        let mut out = String::new();
        let mut line = |name: &str, result: Result<(), String>| match result {
            Ok(()) => out.push_str(&format!("{name}: ok\n")),
            Err(e) => {
                ok = false;
                out.push_str(&format!("{name}: {e}\n"));
            }
        };
        line(
            "metadata",
            match meta {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("timed out".into()),
            },
        );
        line(
            "blobs",
            match blobs {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("timed out".into()),
            },
        );
        line(
            "config",
            if self.setup.get().is_some() {
                Ok(())
            } else {
                Err("start-up configuration not applied yet".into())
            },
        );
        if !ok {
            tracing::warn!(checks = %out.trim_end().replace('\n', "; "), "not ready");
        }
        let status = if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        text(status, out)
    }

    /// `/_cubby/metrics`: every registered collector, Prometheus text format.
    pub async fn metrics(&self, upload_reservations: (u64, u64)) -> Response<RespBody> {
        crate::metrics::record_upload_rules(upload_reservations);
        // The outbox gauges are read from the metadata store at scrape time (cheap
        // aggregate queries; scrapes are rare compared with requests).
        let outbox = tokio::time::timeout(CHECK_TIME, async {
            let counts = self.meta.outbox_counts().await?;
            let oldest = self.meta.oldest_pending_ms().await?;
            Ok::<_, cubby_meta::MetaError>((counts, oldest))
        })
        .await;
        match outbox {
            Ok(Ok(((pending, dead), oldest))) => {
                crate::metrics::record_outbox(pending, dead, oldest, now_ms());
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "metrics: outbox counts unavailable"),
            Err(_) => tracing::warn!("metrics: outbox counts timed out"),
        }
        match crate::metrics::render() {
            Ok(body) => {
                let mut r = text(StatusCode::OK, body);
                r.headers_mut().insert(
                    "content-type",
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                r
            }
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
