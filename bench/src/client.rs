//! A minimal S3 client: a hyper 1 keep-alive connection pool (HTTP/1.1) and
//! SigV4 header signing with `cubby_auth`. Payload hashes are computed by the
//! caller once, up front, so nothing is hashed inside a timed loop.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};

/// A request body together with the `x-amz-content-sha256` value it is
/// signed with.
#[derive(Clone)]
pub struct Payload {
    pub body: Bytes,
    pub sha256: String,
}

impl Payload {
    /// Hash `body` now (or use `UNSIGNED-PAYLOAD` when `unsigned`).
    pub fn new(body: Bytes, unsigned: bool) -> Self {
        let sha256 = if unsigned {
            cubby_auth::sigv4::UNSIGNED_PAYLOAD.to_owned()
        } else {
            hex::encode(Sha256::digest(&body))
        };
        Self { body, sha256 }
    }

    /// The empty body of a GET, signed with the hash of no bytes.
    pub fn empty() -> Self {
        Self::new(Bytes::new(), false)
    }
}

/// One S3 endpoint with its credentials. Cheap to clone: the pool is shared.
#[derive(Clone)]
pub struct S3Client {
    http: Client<HttpConnector, Full<Bytes>>,
    endpoint: String,
    access_key: String,
    secret: String,
    region: String,
    empty: Payload,
}

impl S3Client {
    pub fn new(endpoint: &str, access_key: &str, secret: &str, region: &str) -> Result<Self> {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let uri: Uri = endpoint.parse().context("parsing the endpoint URL")?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            bail!("endpoint must look like http://127.0.0.1:PORT, got {endpoint}");
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(1024)
            .build(connector);
        Ok(Self {
            http,
            endpoint,
            access_key: access_key.to_owned(),
            secret: secret.to_owned(),
            region: region.to_owned(),
            empty: Payload::empty(),
        })
    }

    /// The same client with a connection pool of its own: its connections are opened (and
    /// their tasks spawned) on whichever runtime first uses it.
    pub fn with_own_connections(&self) -> Result<Self> {
        Self::new(&self.endpoint, &self.access_key, &self.secret, &self.region)
    }

    /// The endpoint URL (`http://127.0.0.1:PORT`, no trailing slash).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// POST a JSON 1.1 request (`X-Amz-Target: {target}`) to `/`, SigV4-signed for `service`
    /// with these keys when `sign` (the admin APIs), unsigned otherwise (the end-user
    /// Cognito operations). The parsed answer on 2xx; else an error `__type: message`.
    pub async fn json(
        &self,
        service: &str,
        target: &str,
        body: &serde_json::Value,
        sign: bool,
    ) -> Result<serde_json::Value> {
        let body = Bytes::from(serde_json::to_vec(body)?);
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/", self.endpoint))
            .header(header::CONTENT_TYPE, "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .header(header::CONTENT_LENGTH, body.len())
            .body(Full::new(body.clone()))?;
        let (mut parts, req_body) = req.into_parts();
        if sign {
            let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
            cubby_auth::sigv4::sign_request(
                &mut parts,
                &self.access_key,
                &self.secret,
                None,
                &self.region,
                service,
                &hex::encode(Sha256::digest(&body)),
                now,
            );
        }
        let resp = self
            .http
            .request(Request::from_parts(parts, req_body))
            .await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{target}: HTTP {status}: not JSON"))?;
        if !status.is_success() {
            let field = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or_default();
            let message = match field("message") {
                "" => field("Message"),
                m => m,
            };
            bail!("{target}: HTTP {status}: {}: {message}", field("__type"));
        }
        Ok(v)
    }

    /// An unsigned GET of `/{path}` (discovery documents); the body on 2xx.
    pub async fn get_unsigned(&self, path: &str) -> Result<Bytes> {
        let req = Request::builder()
            .uri(format!("{}/{path}", self.endpoint))
            .body(Full::new(Bytes::new()))?;
        let resp = self.http.request(req).await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            bail!("GET /{path}: HTTP {status}");
        }
        Ok(bytes)
    }

    /// Send a signed request for `/{path}` and return the response with its
    /// body still unread.
    async fn send(
        &self,
        method: Method,
        path: &str,
        payload: &Payload,
    ) -> Result<http::Response<Incoming>> {
        self.send_as(method, path, payload, "s3").await
    }

    /// [`Self::send`] signed for another service (`iam` for the query API).
    async fn send_as(
        &self,
        method: Method,
        path: &str,
        payload: &Payload,
        service: &str,
    ) -> Result<http::Response<Incoming>> {
        let mut req = Request::builder()
            .method(method.clone())
            .uri(format!("{}/{path}", self.endpoint));
        if method == Method::PUT {
            req = req.header(header::CONTENT_LENGTH, payload.body.len());
        }
        let req = req.body(Full::new(payload.body.clone()))?;
        let (mut parts, body) = req.into_parts();
        let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
        cubby_auth::sigv4::sign_request(
            &mut parts,
            &self.access_key,
            &self.secret,
            None,
            &self.region,
            service,
            &payload.sha256,
            now,
        );
        Ok(self.http.request(Request::from_parts(parts, body)).await?)
    }

    /// Read the whole body, counting bytes without keeping them; fail on a
    /// status other than `ok` (an S3 error's XML goes into the message).
    async fn finish(resp: http::Response<Incoming>, what: &str) -> Result<u64> {
        let status = resp.status();
        let mut body = resp.into_body();
        let mut n = 0u64;
        let mut head = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                n += data.len() as u64;
                if !status.is_success() && head.len() < 512 {
                    head.extend_from_slice(&data);
                }
            }
        }
        if !status.is_success() {
            bail!("{what}: HTTP {status}: {}", String::from_utf8_lossy(&head));
        }
        Ok(n)
    }

    /// Create `bucket`; one that already exists and is ours is fine.
    pub async fn create_bucket(&self, bucket: &str) -> Result<()> {
        let resp = self.send(Method::PUT, bucket, &self.empty).await?;
        if resp.status() == StatusCode::CONFLICT {
            return Ok(());
        }
        Self::finish(resp, "CreateBucket").await.map(drop)
    }

    pub async fn put(&self, bucket: &str, key: &str, payload: &Payload) -> Result<()> {
        let resp = self
            .send(Method::PUT, &format!("{bucket}/{key}"), payload)
            .await?;
        Self::finish(resp, "PutObject").await.map(drop)
    }

    /// A signed request whose answer must be 2xx; returns the body (bucket subresources such
    /// as `bucket?notification`, cubby's own `/_cubby/admin/events`).
    pub async fn request(&self, method: Method, path: &str, body: Bytes) -> Result<Bytes> {
        self.request_as(method, path, body, "s3").await
    }

    /// [`Self::request`] signed for `service` (e.g. `iam` for `?Action=…` query calls).
    pub async fn request_as(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        service: &str,
    ) -> Result<Bytes> {
        let payload = Payload::new(body, false);
        let resp = self
            .send_as(method.clone(), path, &payload, service)
            .await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            bail!(
                "{method} /{path}: HTTP {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(bytes)
    }

    /// GET an object and return how many bytes its body had.
    pub async fn get(&self, bucket: &str, key: &str) -> Result<u64> {
        let resp = self
            .send(Method::GET, &format!("{bucket}/{key}"), &self.empty)
            .await?;
        Self::finish(resp, "GetObject").await
    }
}
