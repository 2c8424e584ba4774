//! Prometheus metrics (`/_cubby/metrics`) and the access log: one `tracing` event per request
//! (target `access`), built from the request head, the response, and what the S3 layer
//! reports in its [`cubby_s3::RequestInfo`] response extension.
//!
//! Labels are `&'static str` wherever the value set is fixed (APIs, S3 operations, decisions)
//! so the hot path allocates nothing for them; operation names of the JSON/query APIs come
//! from the client and pass through [`bounded`] so a client cannot mint unbounded series.
//!
//! Other subsystems register their own collectors in [`registry`] (e.g. the outbox's depth
//! and lag gauges); everything registered there is exported.

use cubby_s3::RequestInfo;
use http::{HeaderMap, StatusCode};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The collectors the front records into.
pub(crate) struct Metrics {
    requests: IntCounterVec,
    latency: HistogramVec,
    bytes_in: IntCounterVec,
    bytes_out: IntCounterVec,
    auth_failures: IntCounterVec,
    decisions: IntCounterVec,
    credentials: IntCounterVec,
}

/// The process-wide registry `/_cubby/metrics` exports. Register collectors here.
pub fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    // The prefix is a valid metric name, so `new_custom` cannot fail; fall back to no prefix.
    R.get_or_init(|| Registry::new_custom(Some("cubby".into()), None).unwrap_or_default())
}

fn counter(name: &str, help: &str, labels: &[&str]) -> Result<IntCounterVec, prometheus::Error> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry().register(Box::new(c.clone()))?;
    Ok(c)
}

fn build() -> Result<Metrics, prometheus::Error> {
    let latency = HistogramVec::new(
        HistogramOpts::new(
            "http_request_duration_seconds",
            "Time from request head to response head, by API and operation.",
        )
        .buckets(vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]),
        &["api", "operation"],
    )?;
    registry().register(Box::new(latency.clone()))?;
    Ok(Metrics {
        requests: counter(
            "http_requests_total",
            "Requests by API, operation and HTTP status.",
            &["api", "operation", "status"],
        )?,
        latency,
        bytes_in: counter(
            "http_request_bytes_total",
            "Request body bytes (as declared by Content-Length / x-amz-decoded-content-length), by API.",
            &["api"],
        )?,
        bytes_out: counter(
            "http_response_bytes_total",
            "Response body bytes (Content-Length, or the exact size of a buffered body), by API.",
            &["api"],
        )?,
        auth_failures: counter(
            "auth_failures_total",
            "Requests refused at authentication, by API and reason (the AWS error code).",
            &["api", "reason"],
        )?,
        decisions: counter(
            "policy_decisions_total",
            "S3 authorization decisions by the policy engine.",
            &["decision"],
        )?,
        credentials: counter(
            "credentials_issued_total",
            "Temporary AWS credentials minted, by operation.",
            &["operation"],
        )?,
    })
}

/// The front's collectors; `None` only if their (constant) definitions were rejected, in
/// which case requests are still served and logged, just not counted.
pub(crate) fn metrics() -> Option<&'static Metrics> {
    static M: OnceLock<Option<Metrics>> = OnceLock::new();
    M.get_or_init(|| match build() {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::error!(error = %e, "metrics unavailable");
            None
        }
    })
    .as_ref()
}

/// A client-supplied operation name as a label: known-shaped names, at most 256 distinct
/// values per process; anything else is `other`.
fn bounded(name: &str) -> &str {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return "other";
    }
    let Ok(mut seen) = SEEN.get_or_init(Default::default).lock() else {
        return "other";
    };
    if seen.contains(name) {
        return name;
    }
    if seen.len() < 256 {
        seen.insert(name.to_owned());
        return name;
    }
    "other"
}

fn header_u64(h: &HeaderMap, name: &str) -> u64 {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Bytes a request carries: the decoded length of aws-chunked uploads, else Content-Length.
pub(crate) fn request_bytes(h: &HeaderMap) -> u64 {
    match header_u64(h, "x-amz-decoded-content-length") {
        0 => header_u64(h, "content-length"),
        n => n,
    }
}

/// Bytes a response carries: Content-Length, else the body's exact size when known (hyper
/// adds Content-Length itself for buffered bodies).
pub(crate) fn response_bytes<B: hyper::body::Body>(resp: &http::Response<B>) -> u64 {
    match header_u64(resp.headers(), "content-length") {
        0 => resp.body().size_hint().exact().unwrap_or(0),
        n => n,
    }
}

/// Temporary-credential operations.
fn mints_credentials(op: &str) -> bool {
    matches!(
        op,
        "GetCredentialsForIdentity"
            | "AssumeRole"
            | "AssumeRoleWithWebIdentity"
            | "GetSessionToken"
            | "GetFederationToken"
    )
}

/// Set by the query-API path (STS/IAM), which learns its service and `Action` only from the
/// body: the API label and operation for [`finish`].
#[derive(Clone, Debug)]
pub(crate) struct ApiOperation {
    pub api: &'static str,
    pub operation: String,
}

/// Everything the access log and the metrics need about one finished request.
pub(crate) struct Finished<'a> {
    pub api: &'static str,
    /// The JSON/query API operation (`X-Amz-Target` suffix or `Action`), if any.
    pub operation: Option<&'a str>,
    pub method: &'a http::Method,
    pub path: &'a str,
    pub peer: std::net::SocketAddr,
    pub bytes_in: u64,
    pub status: StatusCode,
    /// Response body length (Content-Length, or the body's exact size).
    pub bytes_out: u64,
    pub headers: &'a HeaderMap,
    pub s3: Option<&'a RequestInfo>,
    pub elapsed: Duration,
}

/// Record a finished request: metrics, then one access-log event.
pub(crate) fn finish(f: Finished<'_>) {
    let operation = match (f.s3, f.operation) {
        (Some(i), _) if !i.operation.is_empty() => i.operation,
        (_, Some(op)) => bounded(op),
        _ => "",
    };
    let status = f.status.as_str();
    let bytes_out = f.bytes_out;
    let m = metrics();
    if let Some(m) = m {
        m.requests
            .with_label_values(&[f.api, operation, status])
            .inc();
        m.latency
            .with_label_values(&[f.api, operation])
            .observe(f.elapsed.as_secs_f64());
        m.bytes_in.with_label_values(&[f.api]).inc_by(f.bytes_in);
        m.bytes_out.with_label_values(&[f.api]).inc_by(bytes_out);
    }
    let auth_failure = match f.s3 {
        Some(i) => i.auth_failure,
        None => None,
    };
    let other_auth_failure =
        if f.s3.is_none() && matches!(f.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            let t = f
                .headers
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(':').next().unwrap_or(v))
                .unwrap_or("Forbidden");
            Some(bounded(t))
        } else {
            None
        };
    if let (Some(m), Some(reason)) = (m, auth_failure.or(other_auth_failure)) {
        m.auth_failures.with_label_values(&[f.api, reason]).inc();
    }
    let decision = f.s3.and_then(|i| i.decision).map(|d| d.as_str());
    if let (Some(m), Some(d)) = (m, decision) {
        m.decisions.with_label_values(&[d]).inc();
    }
    if let Some(m) = m
        && f.status.is_success()
        && mints_credentials(operation)
    {
        m.credentials.with_label_values(&[operation]).inc();
    }
    let request_id = f
        .headers
        .get("x-amz-request-id")
        .or_else(|| f.headers.get("x-amzn-requestid"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info!(
        target: "access",
        request_id,
        api = f.api,
        operation,
        method = %f.method,
        path = f.path,
        status = f.status.as_u16(),
        principal = f.s3.and_then(|i| i.principal.as_deref()).unwrap_or(""),
        identity_id = f.s3.and_then(|i| i.identity_id.as_deref()).unwrap_or(""),
        decision = decision.unwrap_or(""),
        auth_failure = auth_failure.or(other_auth_failure).unwrap_or(""),
        bytes_in = f.bytes_in,
        bytes_out,
        latency_ms = f.elapsed.as_secs_f64() * 1000.0,
        peer = %f.peer,
        "request"
    );
}

/// Gauges of the event outbox and counters of this process's deliveries, refreshed at scrape
/// time by [`record_outbox`].
struct OutboxMetrics {
    pending: prometheus::IntGauge,
    dead: prometheus::IntGauge,
    lag: prometheus::Gauge,
    delivered: prometheus::IntGauge,
    failed_attempts: prometheus::IntGauge,
    dead_lettered: prometheus::IntGauge,
}

fn outbox_metrics() -> Option<&'static OutboxMetrics> {
    static M: OnceLock<Option<OutboxMetrics>> = OnceLock::new();
    M.get_or_init(|| {
        let gauge = |name: &str, help: &str| -> Result<prometheus::IntGauge, prometheus::Error> {
            let g = prometheus::IntGauge::new(name, help)?;
            registry().register(Box::new(g.clone()))?;
            Ok(g)
        };
        let build = || -> Result<OutboxMetrics, prometheus::Error> {
            let lag = prometheus::Gauge::new(
                "outbox_lag_seconds",
                "Age of the oldest undelivered event (0 when the outbox is empty).",
            )?;
            registry().register(Box::new(lag.clone()))?;
            Ok(OutboxMetrics {
                pending: gauge(
                    "outbox_pending",
                    "Events waiting for delivery (all targets).",
                )?,
                dead: gauge("outbox_dead", "Events in the dead-letter state.")?,
                lag,
                // Process-local counts kept as atomics by cubby-events; exported as gauges
                // set at scrape time (they only grow, like counters, until a restart).
                delivered: gauge(
                    "events_delivered",
                    "Events acknowledged by their target since this process started.",
                )?,
                failed_attempts: gauge(
                    "events_failed_attempts",
                    "Failed delivery attempts since this process started.",
                )?,
                dead_lettered: gauge(
                    "events_dead_lettered",
                    "Events this process moved to the dead-letter state.",
                )?,
            })
        };
        build()
            .map_err(|e| tracing::error!(error = %e, "outbox metrics unavailable"))
            .ok()
    })
    .as_ref()
}

/// Refresh the outbox gauges: `pending` and `dead` counts, the creation time of the oldest
/// pending event (ms) and the current time (ms).
pub(crate) fn record_outbox(pending: i64, dead: i64, oldest_pending_ms: Option<i64>, now_ms: i64) {
    use std::sync::atomic::Ordering::Relaxed;
    let Some(m) = outbox_metrics() else { return };
    m.pending.set(pending);
    m.dead.set(dead);
    m.lag
        .set(oldest_pending_ms.map_or(0.0, |t| (now_ms.saturating_sub(t)).max(0) as f64 / 1000.0));
    let s = cubby_events::stats();
    m.delivered.set(s.delivered.load(Relaxed) as i64);
    m.failed_attempts
        .set(s.failed_attempts.load(Relaxed) as i64);
    m.dead_lettered.set(s.dead_lettered.load(Relaxed) as i64);
}

/// The text exposition of every registered collector.
pub(crate) fn render() -> Result<Vec<u8>, prometheus::Error> {
    // Make sure the front's collectors exist even before the first request.
    let _ = metrics();
    let mut out = Vec::new();
    TextEncoder::new().encode(&registry().gather(), &mut out)?;
    Ok(out)
}

/// Upload-rule gauges, refreshed at scrape time by [`record_upload_rules`].
struct RuleMetrics {
    refusals: prometheus::IntGaugeVec,
    reserved_objects: prometheus::IntGauge,
    reserved_bytes: prometheus::IntGauge,
}

fn rule_metrics() -> Option<&'static RuleMetrics> {
    static M: OnceLock<Option<RuleMetrics>> = OnceLock::new();
    M.get_or_init(|| {
        let build = || -> Result<RuleMetrics, prometheus::Error> {
            // Process-local counts (they only grow until a restart), exported as gauges set
            // at scrape time, like the event counters.
            let refusals = prometheus::IntGaugeVec::new(
                prometheus::Opts::new(
                    "upload_rule_refusals",
                    "Uploads refused by an upload rule since this process started, by rule id and reason (key_pattern, max_size, content_type, rate, max_objects, max_bytes).",
                ),
                &["rule", "reason"],
            )?;
            registry().register(Box::new(refusals.clone()))?;
            let reserved_objects = prometheus::IntGauge::new(
                "upload_quota_reserved_objects",
                "Objects held by quota reservations of uploads in flight on this node.",
            )?;
            registry().register(Box::new(reserved_objects.clone()))?;
            let reserved_bytes = prometheus::IntGauge::new(
                "upload_quota_reserved_bytes",
                "Bytes held by quota reservations of uploads in flight on this node.",
            )?;
            registry().register(Box::new(reserved_bytes.clone()))?;
            Ok(RuleMetrics {
                refusals,
                reserved_objects,
                reserved_bytes,
            })
        };
        build()
            .map_err(|e| tracing::error!(error = %e, "upload-rule metrics unavailable"))
            .ok()
    })
    .as_ref()
}

/// Refresh the upload-rule gauges: refusals so far and this node's reservations in flight.
pub(crate) fn record_upload_rules(reserved: (u64, u64)) {
    let Some(m) = rule_metrics() else { return };
    // Rule ids are operator-chosen but bounded (at most 100 per bucket), and only rules that
    // refused something appear.
    for (rule, reason, n) in cubby_s3::upload_rule_refusals() {
        m.refusals
            .with_label_values(&[rule.as_str(), reason])
            .set(n as i64);
    }
    m.reserved_objects.set(reserved.0 as i64);
    m.reserved_bytes.set(reserved.1 as i64);
}
