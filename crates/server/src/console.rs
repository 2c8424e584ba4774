//! The web console at `/_cubby/console/`: static assets embedded in the binary, the page's
//! settings as `config.json`, and the redirect of a browser's `GET /` to the console.
//!
//! The assets are plain ES modules (no bundler, no third-party code); they speak the Cognito
//! and S3 wire protocols themselves with `fetch`, so the server only serves files here.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use serde::Serialize;
use std::sync::{Arc, RwLock};

/// The URL prefix of the console.
pub(crate) const PREFIX: &str = "/_cubby/console/";

/// What the console page starts with (served as `config.json`). Every field may be empty: the
/// page then asks the user (settings form, query parameters, localStorage). The endpoint
/// defaults to the page's own origin and the region to the server's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleSettings {
    /// Base URL of the AWS APIs as the browser reaches them (empty: the page's origin).
    pub endpoint: String,
    /// Region (empty: the server's `--region`).
    pub region: String,
    /// Bucket uploads go to.
    pub bucket: String,
    /// Identity pool that hands out guest and signed-in credentials.
    pub identity_pool_id: String,
    /// User pool for sign-up and sign-in.
    pub user_pool_id: String,
    /// App client id of that user pool (a client without a secret, SRP allowed).
    pub client_id: String,
}

/// A shared, updatable handle on the console's settings. Clone it before starting the server
/// and call [`ConsoleConfig::set`] once the resources exist (e.g. after a declarative set-up
/// ran); the next `config.json` request sees the new values.
#[derive(Clone, Debug, Default)]
pub struct ConsoleConfig(Arc<RwLock<ConsoleSettings>>);

impl ConsoleConfig {
    /// A handle starting with `settings`.
    pub fn new(settings: ConsoleSettings) -> Self {
        ConsoleConfig(Arc::new(RwLock::new(settings)))
    }

    /// Replace the settings.
    pub fn set(&self, settings: ConsoleSettings) {
        // A poisoned lock only means a writer panicked mid-assignment of plain strings;
        // overwrite the value either way.
        match self.0.write() {
            Ok(mut g) => *g = settings,
            Err(p) => *p.into_inner() = settings,
        }
    }

    /// The current settings.
    pub fn get(&self) -> ConsoleSettings {
        match self.0.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $ct:expr) => {
        Asset {
            name: $name,
            content_type: $ct,
            body: include_bytes!(concat!("../console/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the console; `index.html` answers `/_cubby/console/`.
static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("aws.js", JS),
    asset!("sigv4.js", JS),
    asset!("srp.js", JS),
    asset!("crypto.js", JS),
    asset!("favicon.svg", "image/svg+xml"),
];

/// The page may talk to any endpoint the user configures (`connect-src http: https:`) and show
/// thumbnails from `blob:` URLs; nothing else leaves 'self', and no inline script runs.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' blob: data:; connect-src 'self' http: https:; manifest-src 'self'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// An ETag per asset: the files are fixed for the life of the binary, so a content hash
/// computed once is exact (SipHash with fixed keys is deterministic within a build).
fn etag(body: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    format!("\"{:016x}\"", h.finish())
}

fn base(status: StatusCode, body: Bytes) -> Response<Bytes> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    r
}

fn plain(status: StatusCode, text: &'static str) -> Response<Bytes> {
    let mut r = base(status, Bytes::from_static(text.as_bytes()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Answer a request under `/_cubby/console` (the caller checked the prefix).
pub(crate) fn serve(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    config: &ConsoleConfig,
    server_region: &str,
) -> Response<Bytes> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    if path == "/_cubby/console" {
        return redirect(PREFIX);
    }
    let Some(name) = path.strip_prefix(PREFIX) else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    let head = method == Method::HEAD;
    if name == "config.json" {
        let mut s = config.get();
        if s.region.is_empty() {
            s.region = server_region.to_owned();
        }
        let body = serde_json::to_vec(&s).unwrap_or_else(|_| b"{}".to_vec());
        let mut r = base(
            StatusCode::OK,
            if head {
                Bytes::new()
            } else {
                Bytes::from(body)
            },
        );
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        // Settings may change at run time (ConsoleConfig::set): never cache.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return r;
    }
    let name = if name.is_empty() { "index.html" } else { name };
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    let tag = etag(asset.body);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let (status, body) = if fresh {
        (StatusCode::NOT_MODIFIED, Bytes::new())
    } else if head {
        (StatusCode::OK, Bytes::new())
    } else {
        (StatusCode::OK, Bytes::from_static(asset.body))
    };
    let mut r = base(status, body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    if head {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(asset.body.len()));
    }
    // File names carry no content hash, so browsers revalidate every time (a 304 via the
    // ETag is cheap) and never run a stale module next to a new one after an upgrade.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    r
}

/// `302 Found` to `location`.
pub(crate) fn redirect(location: &'static str) -> Response<Bytes> {
    let mut r = base(StatusCode::FOUND, Bytes::new());
    r.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(location));
    r
}

/// A browser opening the endpoint's root: `GET /` that accepts HTML and carries no S3
/// authentication (header or presigned query). API clients never send `Accept: text/html`.
pub(crate) fn is_browser_root(method: &Method, uri: &http::Uri, headers: &HeaderMap) -> bool {
    if method != Method::GET || uri.path() != "/" {
        return false;
    }
    if headers.contains_key(header::AUTHORIZATION) {
        return false;
    }
    if let Some(q) = uri.query()
        && (q.contains("X-Amz-") || q.contains("x-amz-") || q.contains("AWSAccessKeyId"))
    {
        return false;
    }
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|t| t.trim().starts_with("text/html")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, h: &HeaderMap) -> Response<Bytes> {
        serve(
            &Method::GET,
            path,
            h,
            &ConsoleConfig::default(),
            "us-east-1",
        )
    }

    #[test]
    fn every_asset_is_served_with_its_type() {
        for a in ASSETS {
            let r = get(&format!("{PREFIX}{}", a.name), &HeaderMap::new());
            assert_eq!(r.status(), StatusCode::OK, "{}", a.name);
            assert_eq!(r.headers()[header::CONTENT_TYPE], a.content_type);
            assert!(!r.body().is_empty(), "{} is empty", a.name);
        }
    }

    #[test]
    fn etag_revalidation() {
        let r = get(PREFIX, &HeaderMap::new());
        let tag = r.headers()[header::ETAG].clone();
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, tag);
        assert_eq!(get(PREFIX, &h).status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn settings_update_live() {
        let c = ConsoleConfig::default();
        let body = |c: &ConsoleConfig| {
            let r = serve(
                &Method::GET,
                "/_cubby/console/config.json",
                &HeaderMap::new(),
                c,
                "eu-west-1",
            );
            serde_json::from_slice::<serde_json::Value>(r.body()).unwrap_or_default()
        };
        assert_eq!(body(&c)["region"], "eu-west-1");
        assert_eq!(body(&c)["bucket"], "");
        c.set(ConsoleSettings {
            bucket: "uploads".into(),
            identity_pool_id: "us-east-1:x".into(),
            ..Default::default()
        });
        assert_eq!(body(&c)["bucket"], "uploads");
        assert_eq!(body(&c)["identityPoolId"], "us-east-1:x");
    }

    #[test]
    fn browser_root_detection() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static("text/html,*/*"));
        let root: http::Uri = "/".parse().unwrap_or_default();
        assert!(is_browser_root(&Method::GET, &root, &h));
        assert!(!is_browser_root(&Method::HEAD, &root, &h));
        let presigned: http::Uri = "/?X-Amz-Signature=ab".parse().unwrap_or_default();
        assert!(!is_browser_root(&Method::GET, &presigned, &h));
        let mut signed = h.clone();
        signed.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("AWS4-HMAC-SHA256 x"),
        );
        assert!(!is_browser_root(&Method::GET, &root, &signed));
        assert!(!is_browser_root(&Method::GET, &root, &HeaderMap::new()));
    }
}
