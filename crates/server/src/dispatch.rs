//! One port, many APIs: the dispatch table of DESIGN.md §2.

use bytes::Bytes;
use cubby_s3::{ReqBody, RespBody, S3Service};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use std::net::SocketAddr;

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// `X-Amz-Target: AWSCognitoIdentityService.*`
    CognitoIdentity,
    /// `X-Amz-Target: AWSCognitoIdentityProviderService.*`
    UserPools,
    /// A browser preflight for one of the JSON APIs.
    JsonPreflight,
    /// `/_cubby/…`
    Own,
    /// Everything else.
    S3,
}

/// Classify a request by its head alone.
pub(crate) fn classify(req: &Request<hyper::body::Incoming>) -> Target {
    let h = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
    if let Some(t) = h("x-amz-target") {
        if t.starts_with("AWSCognitoIdentityService.") {
            return Target::CognitoIdentity;
        }
        if t.starts_with("AWSCognitoIdentityProviderService.") {
            return Target::UserPools;
        }
    }
    if req.uri().path().starts_with("/_cubby/") {
        return Target::Own;
    }
    if req.method() == Method::OPTIONS && req.uri().path() == "/" {
        // A preflight names X-Amz-Target among the headers it wants to send.
        if h("access-control-request-headers")
            .is_some_and(|v| v.to_ascii_lowercase().contains("x-amz-target"))
        {
            return Target::JsonPreflight;
        }
    }
    Target::S3
}

/// The application: owns every service behind the port.
pub(crate) struct App {
    s3: S3Service,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn json_error(code: &str, message: &str, status: StatusCode) -> Response<RespBody> {
    let body = serde_json::json!({ "__type": code, "message": message }).to_string();
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    let hv = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""));
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    r.headers_mut()
        .insert("x-amzn-errortype", hv(&format!("{code}:")));
    r.headers_mut().insert("x-amzn-errormessage", hv(message));
    r
}

fn full(b: impl Into<Bytes>) -> RespBody {
    http_body_util::Full::new(b.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

impl App {
    pub(crate) fn new(s3: S3Service) -> Self {
        App { s3 }
    }

    pub(crate) async fn handle(
        &self,
        req: Request<hyper::body::Incoming>,
        peer: SocketAddr,
    ) -> Response<RespBody> {
        let target = classify(&req);
        let started = std::time::Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let resp = match target {
            Target::Own => self.own(&req),
            Target::CognitoIdentity | Target::UserPools => json_error(
                "UnknownOperationException",
                "This API is not available yet.",
                StatusCode::BAD_REQUEST,
            ),
            Target::JsonPreflight => preflight_any(&req),
            Target::S3 => {
                let req: Request<ReqBody> = req.map(|b| {
                    b.map_err(|e| Box::new(e) as cubby_s3::body_error::BoxError)
                        .boxed_unsync()
                });
                self.s3.handle(req, peer, now()).await
            }
        };
        tracing::info!(
            target: "access",
            %method,
            path,
            status = resp.status().as_u16(),
            ms = started.elapsed().as_millis() as u64,
            peer = %peer,
            "request"
        );
        resp
    }

    fn own(&self, req: &Request<hyper::body::Incoming>) -> Response<RespBody> {
        match req.uri().path() {
            "/_cubby/health" | "/_cubby/ready" => {
                let mut r = Response::new(full("ok\n"));
                r.headers_mut()
                    .insert("content-type", HeaderValue::from_static("text/plain"));
                r
            }
            _ => {
                let mut r = Response::new(full("not found\n"));
                *r.status_mut() = StatusCode::NOT_FOUND;
                r
            }
        }
    }
}

/// AWS's JSON API endpoints answer browser preflights for any origin.
fn preflight_any(req: &Request<hyper::body::Incoming>) -> Response<RespBody> {
    let mut r = Response::new(full(Bytes::new()));
    let h = r.headers_mut();
    let origin = req
        .headers()
        .get("origin")
        .cloned()
        .unwrap_or(HeaderValue::from_static("*"));
    h.insert("access-control-allow-origin", origin);
    if let Some(v) = req.headers().get("access-control-request-headers") {
        h.insert("access-control-allow-headers", v.clone());
    }
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date"),
    );
    h.insert("access-control-max-age", HeaderValue::from_static("86400"));
    r
}
