//! The web console (issue 7 item 4) over HTTP: a browser's `GET /` is redirected to it, its
//! assets are embedded and served with their types, a strict CSP, ETag revalidation and cache
//! headers; `config.json` carries the settings. API clients at `/` are never redirected. The
//! console's behaviour in a browser is checked by tests/browser (Chromium).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::header::{ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, ETAG, LOCATION};
use std::collections::BTreeSet;

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

const BROWSER_ACCEPT: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

#[tokio::test]
async fn browser_root_redirects_api_clients_do_not() {
    let server = Server::start();
    let c = http();
    let url = format!("{}/", server.endpoint);

    let r = c
        .get(&url)
        .header(ACCEPT, BROWSER_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()[LOCATION], "/_cubby/console/");

    // No HTML wanted: S3 (anonymous ListBuckets is refused with S3's XML error).
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<Code>AccessDenied</Code>")
    );

    // Signed or presigned requests are S3's even when they accept HTML.
    let r = c
        .get(&url)
        .header(ACCEPT, BROWSER_ACCEPT)
        .header(AUTHORIZATION, "AWS4-HMAC-SHA256 Credential=AKIAX/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00")
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 302);
    assert!(r.text().await.unwrap().contains("<Error>"));
    let r = c
        .get(format!(
            "{url}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00"
        ))
        .header(ACCEPT, BROWSER_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 302);

    // An STS/IAM query in the URL is that API's, whatever the browser accepts.
    let r = c
        .get(format!("{url}?Action=GetCallerIdentity&Version=2011-06-15"))
        .header(ACCEPT, BROWSER_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 302);
    assert!(r.text().await.unwrap().contains("ErrorResponse"));

    // The SDK's ListBuckets at `/` keeps working.
    let root = root(&server);
    root.create_bucket().bucket("site").send().await.unwrap();
    let out = root.list_buckets().send().await.unwrap();
    assert_eq!(out.buckets().len(), 1);

    // A HEAD of / is not a page visit.
    let r = c
        .head(&url)
        .header(ACCEPT, BROWSER_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 302);

    // The console without its trailing slash.
    let r = c
        .get(format!("{}/_cubby/console", server.endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()[LOCATION], "/_cubby/console/");
}

/// Every ES module the page loads, found by following `import … from './x.js'` from app.js.
fn imports(js: &str) -> Vec<String> {
    js.split("from './")
        .skip(1)
        .filter_map(|rest| rest.split('\'').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn assets_are_embedded_typed_and_under_a_strict_csp() {
    let server = Server::start();
    let c = http();
    let base = format!("{}/_cubby/console/", server.endpoint);

    let r = c.get(&base).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h[CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(h[CACHE_CONTROL], "no-cache");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    let csp = h["content-security-policy"].to_str().unwrap();
    for want in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(want), "CSP lacks {want}: {csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    let html = r.text().await.unwrap();
    assert!(html.contains(r#"<script type="module" src="app.js"></script>"#));
    assert!(
        !html.contains("<script>"),
        "inline scripts would be blocked by the CSP"
    );

    // Follow the module graph: every import must be served as JavaScript.
    let mut seen = BTreeSet::new();
    let mut todo = vec!["app.js".to_owned()];
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let r = c.get(format!("{base}{name}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(
            r.headers()[CONTENT_TYPE],
            "text/javascript; charset=utf-8",
            "{name}"
        );
        todo.extend(imports(&r.text().await.unwrap()));
    }
    assert!(seen.len() >= 5, "module graph unexpectedly small: {seen:?}");
    for (name, ty) in [
        ("console.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let r = c.get(format!("{base}{name}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{name}");
        assert_eq!(r.headers()[CONTENT_TYPE], ty);
    }

    // ETag revalidation, HEAD, unknown names, traversal, methods.
    let r = c.get(format!("{base}app.js")).send().await.unwrap();
    let tag = r.headers()[ETAG].clone();
    let len = r.bytes().await.unwrap().len();
    let r = c
        .get(format!("{base}app.js"))
        .header("if-none-match", tag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(r.headers()[ETAG], tag);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = c.head(format!("{base}app.js")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], len.to_string().as_str());
    for path in [
        "nope.js",
        "..%2F..%2Fmeta.db",
        "../../etc/passwd",
        "app.js/x",
    ] {
        let r = c.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = c.post(&base).body("x").send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, HEAD");
}

#[tokio::test]
async fn config_json_carries_the_settings() {
    let server = Server::start_full(&[], &["--region", "eu-west-2"]);
    let r = http()
        .get(format!("{}/_cubby/console/config.json", server.endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
    assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
    let v: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    // Nothing configured yet: the page asks; the region is the server's.
    assert_eq!(v["region"], "eu-west-2");
    for k in [
        "endpoint",
        "bucket",
        "identityPoolId",
        "userPoolId",
        "clientId",
    ] {
        assert_eq!(v[k], "", "{k}");
    }
}

#[tokio::test]
async fn virtual_hosted_bucket_root_is_not_redirected() {
    let server = Server::start_full(&[], &["--domain", "s3.test"]);
    let c = http();
    let url = format!("http://127.0.0.1:{}/", server.port);
    // The endpoint's own host: a browser is sent to the console.
    let r = c
        .get(&url)
        .header("host", "s3.test")
        .header(ACCEPT, BROWSER_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    // A bucket's host: `/` is that bucket's listing (S3 answers), even for a browser.
    let r = c
        .get(&url)
        .header("host", "photos.s3.test")
        .header(ACCEPT, BROWSER_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 302);
    assert!(r.text().await.unwrap().contains("<Error>"));
}
