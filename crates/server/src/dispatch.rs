//! One port, many APIs: the dispatch table of DESIGN.md §2.

use bytes::Bytes;
use cubby_identity::{Identity, QueryService};
use cubby_s3::{ReqBody, RespBody, S3Service};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::sync::Arc;

/// Largest body read for the JSON and query APIs.
pub(crate) const MAX_API_BODY: usize = 1024 * 1024;

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// `X-Amz-Target: AWSCognitoIdentityService.*`
    CognitoIdentity,
    /// `X-Amz-Target: AWSCognitoIdentityProviderService.*`
    UserPools,
    /// `GET /{userPoolId}/.well-known/{jwks.json,openid-configuration}`
    UserPoolDiscovery,
    /// A browser preflight for one of the JSON / query APIs.
    ApiPreflight,
    /// `/_cubby/…`
    Own,
    /// A browser opening `/`: redirected to the console.
    BrowserRoot,
    /// `Action=…&Version=…` in the query string (STS/IAM via GET or POST).
    QueryInUrl,
    /// `POST /` with a form body: STS/IAM when the form names an Action+Version.
    MaybeQueryForm,
    /// Everything else.
    S3,
}

/// Classify a request by its head alone.
pub(crate) fn classify(req: &Request<hyper::body::Incoming>, domain: Option<&str>) -> Target {
    let h = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
    if let Some(t) = h("x-amz-target") {
        if t.starts_with("AWSCognitoIdentityService.") {
            return Target::CognitoIdentity;
        }
        if t.starts_with("AWSCognitoIdentityProviderService.") {
            return Target::UserPools;
        }
    }
    let path = req.uri().path();
    if path.starts_with("/_cubby/") {
        return Target::Own;
    }
    if req.method() == Method::GET && cubby_userpool::UserPools::is_well_known_path(path) {
        return Target::UserPoolDiscovery;
    }
    if path == "/" {
        // No bucket in the path; with --domain a virtual-hosted bucket may be in Host.
        let bucket_host = domain.is_some_and(|d| {
            h("host").is_some_and(|host| {
                let host = host.split(':').next().unwrap_or(host);
                host.len() > d.len() + 1
                    && host.ends_with(d)
                    && host[..host.len() - d.len()].ends_with('.')
            })
        });
        if req.method() == Method::OPTIONS && !bucket_host {
            return Target::ApiPreflight;
        }
        if let Some(q) = req.uri().query()
            && cubby_identity::query_service(&cubby_identity::parse_form(q.as_bytes())).is_some()
        {
            return Target::QueryInUrl;
        }
        // A browser opening the endpoint itself (not a virtual-hosted bucket's listing).
        if !bucket_host && crate::console::is_browser_root(req.method(), req.uri(), req.headers()) {
            return Target::BrowserRoot;
        }
        if req.method() == Method::POST
            && h("content-type").is_some_and(|c| {
                c.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            })
        {
            return Target::MaybeQueryForm;
        }
    }
    Target::S3
}

/// The application: owns every service behind the port.
pub(crate) struct App {
    s3: S3Service,
    identity: Arc<Identity>,
    user_pools: Arc<cubby_userpool::UserPools>,
    domain: Option<String>,
    region: String,
    public_url: Option<String>,
    upload_url: crate::upload_url::UploadUrlSettings,
    console: crate::console::ConsoleConfig,
    events_admin: Option<crate::events::EventsAdmin>,
    /// Keys of the admin API for upload rules and usage.
    root_keys: Option<crate::rules_admin::RootKeys>,
    ops: crate::ops::Ops,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn full(b: impl Into<Bytes>) -> RespBody {
    http_body_util::Full::new(b.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn boxed(r: Response<Bytes>) -> Response<RespBody> {
    r.map(full)
}

/// Why a body could not be read.
pub(crate) enum BodyError {
    TooLarge,
    Broken,
}

/// A body over the API limit is still read, and thrown away, up to this many bytes: a client
/// that is still writing its body when the server answers and closes gets a broken pipe instead
/// of the error answer. Larger bodies are cut off.
const MAX_DRAIN: usize = 16 * 1024 * 1024;
/// How long draining an over-limit body may take.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Read a whole body, at most `limit` bytes (an over-limit body is drained, see [`MAX_DRAIN`]).
pub(crate) async fn read_limited(
    mut body: hyper::body::Incoming,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let mut buf = bytes::BytesMut::new();
    loop {
        match body.frame().await {
            None => return Ok(buf.freeze()),
            Some(Err(_)) => return Err(BodyError::Broken),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    let seen = buf.len() + data.len();
                    if seen > limit {
                        drain(body, seen).await;
                        return Err(BodyError::TooLarge);
                    }
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
}

/// Read and discard the rest of a body (bounded in size and time).
async fn drain(mut body: hyper::body::Incoming, mut seen: usize) {
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while seen <= MAX_DRAIN {
            match body.frame().await {
                Some(Ok(f)) => seen += f.data_ref().map_or(0, |d| d.len()),
                _ => break,
            }
        }
    })
    .await;
}

/// An over-limit body to refuse without reading any of it: the client waits for
/// `100 Continue` (so it has sent nothing), or the body is too large to be worth draining.
fn refuse_unread(parts: &http::request::Parts) -> bool {
    refuse_unread_over(parts, MAX_API_BODY)
}

/// [`refuse_unread`] for an API whose body limit is `limit`.
pub(crate) fn refuse_unread_over(parts: &http::request::Parts, limit: usize) -> bool {
    let Some(len) = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    else {
        return false;
    };
    let expects_continue = parts
        .headers
        .get(http::header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    len > limit as u64 && (expects_continue || len > MAX_DRAIN as u64)
}

fn query_body_error(e: BodyError) -> Response<RespBody> {
    boxed(match e {
        BodyError::TooLarge => cubby_identity::query_error_response(
            "RequestEntityTooLarge",
            "Request body must be at most 1048576 bytes.",
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        BodyError::Broken => cubby_identity::query_error_response(
            "IncompleteBody",
            "The request body could not be read.",
            StatusCode::BAD_REQUEST,
        ),
    })
}

impl App {
    pub(crate) fn new(
        s3: S3Service,
        identity: Arc<Identity>,
        user_pools: Arc<cubby_userpool::UserPools>,
        cfg: &crate::ServerConfig,
        ops: crate::ops::Ops,
    ) -> Self {
        App {
            s3,
            identity,
            user_pools,
            domain: cfg.domain.clone(),
            region: cfg.region.clone(),
            public_url: cfg.public_url.clone(),
            upload_url: cfg.upload_url.clone(),
            console: cfg.console.clone(),
            events_admin: None,
            root_keys: None,
            ops,
        }
    }

    /// Serve `/_cubby/admin/upload-rules/…` and `/_cubby/admin/usage/…` (root only).
    pub(crate) fn with_root_keys(mut self, keys: crate::rules_admin::RootKeys) -> Self {
        self.root_keys = Some(keys);
        self
    }

    /// Serve `/_cubby/admin/events` (root only).
    pub(crate) fn with_events_admin(mut self, admin: crate::events::EventsAdmin) -> Self {
        self.events_admin = Some(admin);
        self
    }

    pub(crate) async fn handle(
        &self,
        req: Request<hyper::body::Incoming>,
        peer: SocketAddr,
    ) -> Response<RespBody> {
        let target = classify(&req, self.domain.as_deref());
        let started = std::time::Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let bytes_in = crate::metrics::request_bytes(req.headers());
        let json_op = match target {
            Target::CognitoIdentity | Target::UserPools => req
                .headers()
                .get("x-amz-target")
                .and_then(|v| v.to_str().ok())
                .and_then(|t| t.split_once('.'))
                .map(|(_, op)| op.to_owned()),
            _ => None,
        };
        let mut resp = match target {
            Target::Own if path == "/_cubby/upload-url" => {
                let settings = self.upload_url_settings();
                crate::upload_url::UploadUrl {
                    identity: &self.identity,
                    s3: &self.s3,
                    peer: peer.ip(),
                    settings: &settings,
                    region: &self.region,
                    public_url: self.public_url.as_deref(),
                }
                .handle(req, now())
                .await
            }
            Target::Own
                if path.starts_with(crate::rules_admin::RULES_PREFIX)
                    || path.starts_with(crate::rules_admin::USAGE_PREFIX) =>
            {
                match &self.root_keys {
                    Some(keys) => {
                        boxed(crate::rules_admin::handle(&self.s3, keys, req, now()).await)
                    }
                    None => self.own(&req).await,
                }
            }
            Target::Own => self.own(&req).await,
            Target::BrowserRoot => boxed(crate::console::redirect(crate::console::PREFIX)),
            Target::CognitoIdentity => self.cognito(req, peer).await,
            Target::UserPools => crate::userpools::json_api(&self.user_pools, req, now()).await,
            Target::UserPoolDiscovery => {
                match crate::userpools::well_known(&self.user_pools, &path, now()).await {
                    Some(r) => r,
                    None => {
                        self.s3
                            .handle(
                                req.map(|b| {
                                    b.map_err(|e| Box::new(e) as cubby_s3::body_error::BoxError)
                                        .boxed_unsync()
                                }),
                                peer,
                                now(),
                            )
                            .await
                    }
                }
            }
            Target::ApiPreflight => preflight_any(&req),
            Target::QueryInUrl | Target::MaybeQueryForm => self.query(req, peer).await,
            Target::S3 => {
                let req: Request<ReqBody> = req.map(|b| {
                    b.map_err(|e| Box::new(e) as cubby_s3::body_error::BoxError)
                        .boxed_unsync()
                });
                self.s3.handle(req, peer, now()).await
            }
        };
        if matches!(
            target,
            Target::CognitoIdentity | Target::QueryInUrl | Target::MaybeQueryForm
        ) {
            // AWS's JSON and query endpoints answer browsers from any origin.
            let h = resp.headers_mut();
            h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
            h.insert(
                "access-control-expose-headers",
                HeaderValue::from_static(
                    "x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,Date",
                ),
            );
        }
        let query_op = resp
            .extensions()
            .get::<crate::metrics::ApiOperation>()
            .cloned();
        let api = match (&target, &query_op) {
            (_, Some(q)) => q.api,
            (Target::CognitoIdentity, _) => "cognito-identity",
            (Target::UserPools | Target::UserPoolDiscovery, _) => "cognito-idp",
            (Target::ApiPreflight, _) => "preflight",
            (Target::Own | Target::BrowserRoot, _) => "cubby",
            (Target::QueryInUrl | Target::MaybeQueryForm | Target::S3, _) => "s3",
        };
        crate::metrics::finish(crate::metrics::Finished {
            api,
            operation: query_op
                .as_ref()
                .map(|q| q.operation.as_str())
                .or(json_op.as_deref()),
            method: &method,
            path: &path,
            peer,
            bytes_in,
            status: resp.status(),
            bytes_out: crate::metrics::response_bytes(&resp),
            headers: resp.headers(),
            s3: resp.extensions().get::<cubby_s3::RequestInfo>(),
            elapsed: started.elapsed(),
        });
        resp
    }

    async fn cognito(
        &self,
        req: Request<hyper::body::Incoming>,
        peer: SocketAddr,
    ) -> Response<RespBody> {
        let (parts, body) = req.into_parts();
        if refuse_unread(&parts) {
            return boxed(cubby_identity::cognito_error_response(
                "InvalidParameterException",
                "Request body must be at most 1048576 bytes.",
            ));
        }
        match read_limited(body, MAX_API_BODY).await {
            Ok(b) => boxed(
                self.identity
                    .cognito_identity(&parts, &b, peer, now())
                    .await,
            ),
            Err(BodyError::TooLarge) => boxed(cubby_identity::cognito_error_response(
                "InvalidParameterException",
                "Request body must be at most 1048576 bytes.",
            )),
            Err(BodyError::Broken) => boxed(cubby_identity::cognito_error_response(
                "SerializationException",
                "The request body could not be read.",
            )),
        }
    }

    /// STS / IAM over GET or form POST; a form POST that names no such Action goes to S3.
    async fn query(
        &self,
        req: Request<hyper::body::Incoming>,
        peer: SocketAddr,
    ) -> Response<RespBody> {
        let (parts, body) = req.into_parts();
        if refuse_unread(&parts) {
            return query_body_error(BodyError::TooLarge);
        }
        let body = match read_limited(body, MAX_API_BODY).await {
            Ok(b) => b,
            Err(e) => return query_body_error(e),
        };
        let mut params = cubby_identity::parse_form(parts.uri.query().unwrap_or("").as_bytes());
        let is_form = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| {
                c.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        if is_form {
            params.extend(cubby_identity::parse_form(&body));
        }
        match cubby_identity::query_service(&params) {
            Some(service @ (QueryService::Sts | QueryService::Iam)) => {
                let operation = crate::metrics::ApiOperation {
                    api: if service == QueryService::Sts {
                        "sts"
                    } else {
                        "iam"
                    },
                    operation: params
                        .iter()
                        .find(|(k, _)| k == "Action")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default(),
                };
                let mut resp = boxed(
                    self.identity
                        .query_api(&parts, params, &body, peer, now())
                        .await,
                );
                resp.extensions_mut().insert(operation);
                resp
            }
            None => {
                let body: ReqBody = http_body_util::Full::new(body)
                    .map_err(|never| match never {})
                    .boxed_unsync();
                self.s3
                    .handle(Request::from_parts(parts, body), peer, now())
                    .await
            }
        }
    }

    /// The upload-URL settings, where the flags leave them unset falling back to the applied
    /// configuration's first bucket and identity pool (the zero-config seed setup).
    fn upload_url_settings(&self) -> crate::upload_url::UploadUrlSettings {
        let mut s = self.upload_url.clone();
        if let Some(info) = self.ops.setup.get() {
            if s.bucket.is_none() {
                s.bucket.clone_from(&info.bucket);
            }
            if s.identity_pool.is_none() {
                s.identity_pool.clone_from(&info.identity_pool_id);
            }
        }
        s
    }

    async fn own(&self, req: &Request<hyper::body::Incoming>) -> Response<RespBody> {
        match req.uri().path() {
            p if p == "/_cubby/console" || p.starts_with(crate::console::PREFIX) => boxed(
                crate::console::serve(req.method(), p, req.headers(), &self.console, &self.region),
            ),
            "/_cubby/admin/events" if req.method() == Method::GET => match &self.events_admin {
                Some(a) => boxed(a.handle(req, now()).await),
                None => {
                    let mut r = Response::new(full("not found\n"));
                    *r.status_mut() = StatusCode::NOT_FOUND;
                    r
                }
            },
            "/_cubby/health" => self.ops.health(),
            "/_cubby/ready" => self.ops.ready().await,
            "/_cubby/metrics" => self.ops.metrics(self.s3.upload_reservations()).await,
            // The identity pools' token-signing keys (public), for backends that verify
            // GetOpenIdToken / developer-identity tokens themselves.
            "/_cubby/identity/jwks.json"
                if req.method() == Method::GET || req.method() == Method::HEAD =>
            {
                match self.identity.pool_token_jwks().await {
                    Ok(jwks) => {
                        let mut r = Response::new(full(jwks));
                        let h = r.headers_mut();
                        h.insert("content-type", HeaderValue::from_static("application/json"));
                        h.insert(
                            "cache-control",
                            HeaderValue::from_static("public, max-age=300"),
                        );
                        h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
                        r
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "identity-pool signing key unavailable");
                        let mut r = Response::new(full("signing key unavailable\n"));
                        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                        r
                    }
                }
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
    // The answer echoes the origin and requested headers: caches must key on them.
    h.insert(
        "vary",
        HeaderValue::from_static(
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        ),
    );
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
