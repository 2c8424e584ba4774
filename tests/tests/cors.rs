//! CORS as S3 does it (issue 7): bucket CORS configuration and its validation, preflights
//! (wildcard origins, methods, case-insensitive headers, ExposeHeaders, MaxAge, Vary), actual
//! responses, presigned URLs (including out-of-range `X-Amz-Expires`), and the JSON/query API
//! routes that answer browser preflights for any origin.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use common::*;

const BUCKET: &str = "web";

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    fn h(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    fn code(&self) -> String {
        self.body
            .split_once("<Code>")
            .and_then(|(_, r)| r.split_once("</Code>"))
            .map(|(c, _)| c.to_owned())
            .unwrap_or_default()
    }
    /// No CORS header at all.
    fn no_cors(&self) -> bool {
        !self
            .headers
            .keys()
            .any(|k| k.as_str().starts_with("access-control-"))
    }
}

async fn send(req: reqwest::RequestBuilder) -> Reply {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    Reply {
        status,
        headers,
        body: r.text().await.unwrap(),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn preflight(
    url: &str,
    origin: Option<&str>,
    method: Option<&str>,
    headers: Option<&str>,
) -> Reply {
    let mut r = client().request(reqwest::Method::OPTIONS, url);
    if let Some(o) = origin {
        r = r.header("origin", o);
    }
    if let Some(m) = method {
        r = r.header("access-control-request-method", m);
    }
    if let Some(h) = headers {
        r = r.header("access-control-request-headers", h);
    }
    send(r).await
}

fn rule(
    origins: &[&str],
    methods: &[&str],
    headers: &[&str],
    expose: &[&str],
    max_age: Option<i32>,
) -> CorsRule {
    let mut b = CorsRule::builder();
    for o in origins {
        b = b.allowed_origins(*o);
    }
    for m in methods {
        b = b.allowed_methods(*m);
    }
    for h in headers {
        b = b.allowed_headers(*h);
    }
    for e in expose {
        b = b.expose_headers(*e);
    }
    if let Some(m) = max_age {
        b = b.max_age_seconds(m);
    }
    b.build().unwrap()
}

/// A bucket with the app's rule (wildcard origins, PUT/GET/HEAD, `x-amz-*` + Content-Type,
/// ExposeHeaders, MaxAge) followed by a public read-only rule for any origin.
async fn setup() -> Server {
    let server = Server::start();
    let s3 = root(&server);
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    s3.create_bucket().bucket("plain").send().await.unwrap();
    s3.put_bucket_cors()
        .bucket(BUCKET)
        .cors_configuration(
            CorsConfiguration::builder()
                .cors_rules(rule(
                    &["http://*.example.com", "http://start*end"],
                    &["PUT", "GET", "HEAD"],
                    &["x-amz-*", "Content-Type"],
                    &["ETag", "x-amz-request-id"],
                    Some(600),
                ))
                .cors_rules(rule(&["*"], &["GET"], &[], &[], None))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket(BUCKET)
        .key("index.html")
        .body(b"<h1>hi</h1>".to_vec().into())
        .send()
        .await
        .unwrap();
    server
}

#[tokio::test]
async fn cors_configuration_is_validated_and_round_trips() {
    let server = setup().await;
    let s3 = root(&server);
    let got = s3.get_bucket_cors().bucket(BUCKET).send().await.unwrap();
    let rules = got.cors_rules();
    assert_eq!(rules.len(), 2);
    assert_eq!(
        rules[0].allowed_origins(),
        ["http://*.example.com", "http://start*end"]
    );
    assert_eq!(rules[0].allowed_headers(), ["x-amz-*", "Content-Type"]);
    assert_eq!(rules[0].expose_headers(), ["ETag", "x-amz-request-id"]);
    assert_eq!(rules[0].max_age_seconds(), Some(600));

    let put = |r: CorsRule| {
        s3.put_bucket_cors()
            .bucket("plain")
            .cors_configuration(CorsConfiguration::builder().cors_rules(r).build().unwrap())
            .send()
    };
    for (bad, why) in [
        (
            rule(&["http://*.*.example.com"], &["GET"], &[], &[], None),
            "two wildcards in an origin",
        ),
        (
            rule(&["*"], &["PATCH"], &[], &[], None),
            "unsupported method",
        ),
        (
            rule(&["*"], &["get"], &[], &[], None),
            "methods are upper-case",
        ),
        (
            rule(&["*"], &["GET"], &["x-*-*"], &[], None),
            "two wildcards in a header",
        ),
        (
            rule(&["*"], &["GET"], &[], &["x-amz-*"], None),
            "wildcard in ExposeHeader",
        ),
    ] {
        let e = put(bad).await.unwrap_err();
        assert_eq!(status(&e), 400, "{why}");
        assert_eq!(
            code(e.as_service_error().unwrap()),
            "InvalidRequest",
            "{why}"
        );
    }
    let e = s3
        .get_bucket_cors()
        .bucket("plain")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(e.as_service_error().unwrap()),
        "NoSuchCORSConfiguration"
    );
    put(rule(&["*"], &["GET"], &[], &[], None)).await.unwrap();
    s3.delete_bucket_cors()
        .bucket("plain")
        .send()
        .await
        .unwrap();
    let e = s3
        .get_bucket_cors()
        .bucket("plain")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(e.as_service_error().unwrap()),
        "NoSuchCORSConfiguration"
    );
}

#[tokio::test]
async fn preflights_follow_the_first_matching_rule() {
    let server = setup().await;
    let url = format!("{}/{BUCKET}/photos/a.png", server.endpoint);

    // Wildcard subdomain; requested headers matched case-insensitively (x-amz-* and
    // Content-Type), echoed lower-cased.
    let r = preflight(
        &url,
        Some("http://app.example.com"),
        Some("PUT"),
        Some("Content-Type, X-Amz-Date,x-amz-security-token"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.h("access-control-allow-origin"),
        Some("http://app.example.com")
    );
    assert_eq!(r.h("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.h("access-control-allow-methods"), Some("PUT, GET, HEAD"));
    assert_eq!(
        r.h("access-control-allow-headers"),
        Some("content-type, x-amz-date, x-amz-security-token")
    );
    assert_eq!(
        r.h("access-control-expose-headers"),
        Some("ETag, x-amz-request-id")
    );
    assert_eq!(r.h("access-control-max-age"), Some("600"));
    assert_eq!(
        r.h("vary"),
        Some("Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
    );

    // The one `*` may sit in the middle of the origin.
    let r = preflight(&url, Some("http://start-anything-end"), Some("PUT"), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.h("access-control-allow-origin"),
        Some("http://start-anything-end")
    );

    // Any origin may GET (second rule): `*` without credentials.
    let r = preflight(&url, Some("https://elsewhere.test"), Some("GET"), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.h("access-control-allow-origin"), Some("*"));
    assert_eq!(r.h("access-control-allow-credentials"), None);
    assert_eq!(r.h("access-control-allow-methods"), Some("GET"));

    // Refusals: 403 AccessForbidden, and no CORS headers at all.
    for (origin, method, headers, why) in [
        (
            "http://example.com",
            "PUT",
            None,
            "the wildcard needs a subdomain",
        ),
        ("https://app.example.com", "PUT", None, "scheme differs"),
        ("http://start-end-no", "PUT", None, "suffix differs"),
        (
            "https://elsewhere.test",
            "PUT",
            None,
            "method not allowed for this origin",
        ),
        (
            "http://app.example.com",
            "DELETE",
            None,
            "method in no rule",
        ),
        (
            "http://app.example.com",
            "PUT",
            Some("content-type, x-custom"),
            "one header not allowed",
        ),
        (
            "https://elsewhere.test",
            "GET",
            Some("x-amz-date"),
            "the public rule allows no headers",
        ),
    ] {
        let r = preflight(&url, Some(origin), Some(method), headers).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "AccessForbidden"),
            "{why}: {}",
            r.body
        );
        assert!(
            r.body
                .contains("CORSResponse: This CORS request is not allowed"),
            "{why}"
        );
        assert!(r.no_cors(), "{why}: {:?}", r.headers);
    }

    // Missing Origin / Access-Control-Request-Method: 400.
    let r = preflight(&url, None, Some("PUT"), None).await;
    assert_eq!((r.status, r.code().as_str()), (400, "BadRequest"));
    assert!(r.body.contains("Origin request header needed"));
    assert!(r.no_cors());
    let r = preflight(&url, Some("http://app.example.com"), None, None).await;
    assert_eq!((r.status, r.code().as_str()), (400, "BadRequest"));
    assert!(r.no_cors());

    // No CORS configuration, no bucket.
    let r = preflight(
        &format!("{}/plain/x", server.endpoint),
        Some("http://app.example.com"),
        Some("GET"),
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(
        r.body.contains("CORS is not enabled for this bucket"),
        "{}",
        r.body
    );
    let r = preflight(
        &format!("{}/nope/x", server.endpoint),
        Some("http://app.example.com"),
        Some("GET"),
        None,
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("Bucket not found"), "{}", r.body);
}

#[tokio::test]
async fn actual_responses_carry_the_matching_rules_headers() {
    let server = setup().await;
    let url = format!("{}/{BUCKET}/index.html", server.endpoint);
    // An anonymous GET is refused (private bucket), but the browser may read the error.
    let r = send(
        client()
            .get(&url)
            .header("origin", "http://app.example.com"),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"));
    assert_eq!(
        r.h("access-control-allow-origin"),
        Some("http://app.example.com")
    );
    assert_eq!(
        r.h("access-control-expose-headers"),
        Some("ETag, x-amz-request-id")
    );
    assert_eq!(
        r.h("vary"),
        Some("Origin, Access-Control-Request-Headers, Access-Control-Request-Method")
    );
    // A method no rule allows for that origin: the request runs, without CORS headers.
    let r = send(
        client()
            .delete(&url)
            .header("origin", "https://elsewhere.test"),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r.no_cors(), "{:?}", r.headers);
    // No Origin, no CORS headers.
    let r = send(client().get(&url)).await;
    assert!(r.no_cors());
    // An actual request naming Access-Control-Request-Method is matched on that method.
    let r = send(
        client()
            .delete(&url)
            .header("origin", "https://elsewhere.test")
            .header("access-control-request-method", "GET"),
    )
    .await;
    assert_eq!(r.h("access-control-allow-origin"), Some("*"));
    assert_eq!(r.h("access-control-allow-methods"), Some("GET"));

    // A signed GET (presigned) from an allowed origin.
    let signed = cubby_auth::sigv4::presign_url(
        "GET",
        &url,
        ROOT_KEY,
        ROOT_SECRET,
        None,
        "us-east-1",
        60,
        now(),
    );
    let r = send(
        client()
            .get(&signed)
            .header("origin", "http://www.example.com"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "<h1>hi</h1>");
    assert_eq!(
        r.h("access-control-allow-origin"),
        Some("http://www.example.com")
    );
    assert_eq!(r.h("access-control-allow-methods"), Some("PUT, GET, HEAD"));
    assert_eq!(r.h("access-control-max-age"), Some("600"));
    // HEAD from any origin matches only the first rule's origins.
    let head = cubby_auth::sigv4::presign_url(
        "HEAD",
        &url,
        ROOT_KEY,
        ROOT_SECRET,
        None,
        "us-east-1",
        60,
        now(),
    );
    let r = send(
        client()
            .head(&head)
            .header("origin", "https://elsewhere.test"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.no_cors());
}

#[tokio::test]
async fn presigned_urls_follow_the_same_rules() {
    let server = setup().await;
    let url = format!("{}/{BUCKET}/up/file.txt", server.endpoint);
    let signed = cubby_auth::sigv4::presign_url(
        "PUT",
        &url,
        ROOT_KEY,
        ROOT_SECRET,
        None,
        "us-east-1",
        300,
        now(),
    );

    // Preflight on the presigned URL itself (its query included).
    let r = preflight(
        &signed,
        Some("http://app.example.com"),
        Some("PUT"),
        Some("content-type"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.h("access-control-allow-origin"),
        Some("http://app.example.com")
    );
    let r = preflight(
        &signed,
        Some("https://evil.test"),
        Some("PUT"),
        Some("content-type"),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r.no_cors());

    let r = send(
        client()
            .put(&signed)
            .header("origin", "http://app.example.com")
            .body("hello"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.h("access-control-allow-origin"),
        Some("http://app.example.com")
    );
    assert_eq!(
        r.h("access-control-expose-headers"),
        Some("ETag, x-amz-request-id")
    );
    assert!(r.h("etag").is_some());

    // X-Amz-Expires of 0, negative or over a week: 403, readable by the allowed origin.
    let zero = cubby_auth::sigv4::presign_url(
        "PUT",
        &url,
        ROOT_KEY,
        ROOT_SECRET,
        None,
        "us-east-1",
        0,
        now(),
    );
    let negative = signed.replace("X-Amz-Expires=300", "X-Amz-Expires=-1");
    let too_long = signed.replace("X-Amz-Expires=300", "X-Amz-Expires=604801");
    for (u, why) in [(&zero, "0"), (&negative, "-1"), (&too_long, "604801")] {
        assert_ne!(u, &signed, "{why}");
        let r = send(
            client()
                .put(u.as_str())
                .header("origin", "http://app.example.com")
                .body("x"),
        )
        .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "AccessDenied"),
            "{why}: {}",
            r.body
        );
        assert_eq!(
            r.h("access-control-allow-origin"),
            Some("http://app.example.com"),
            "{why}"
        );
    }
    // The longest allowed lifetime works.
    let week = cubby_auth::sigv4::presign_url(
        "GET",
        &url,
        ROOT_KEY,
        ROOT_SECRET,
        None,
        "us-east-1",
        604_800,
        now(),
    );
    assert_eq!(send(client().get(&week)).await.status, 200);
}

#[tokio::test]
async fn api_routes_answer_preflights_for_any_origin() {
    let server = Server::start();
    let root_url = format!("{}/", server.endpoint);
    // Cognito Identity, user pools and STS all live at `/`; the preflight names the target
    // header only in Access-Control-Request-Headers.
    for headers in [
        "content-type,x-amz-target,x-amz-user-agent",
        "amz-sdk-invocation-id,amz-sdk-request,content-type,x-amz-date,x-amz-security-token",
    ] {
        let r = preflight(
            &root_url,
            Some("https://any-app.test"),
            Some("POST"),
            Some(headers),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            r.h("access-control-allow-origin"),
            Some("https://any-app.test")
        );
        assert_eq!(r.h("access-control-allow-headers"), Some(headers));
        assert!(
            r.h("access-control-allow-methods")
                .unwrap()
                .contains("POST")
        );
        assert!(r.h("vary").unwrap().contains("Origin"));
    }
    // Actual answers (errors included) are readable from any origin.
    let target = |t: &str| {
        client()
            .post(&root_url)
            .header("origin", "https://any-app.test")
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", t.to_owned())
            .body("{}")
    };
    let r = send(target("AWSCognitoIdentityService.GetId")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.h("access-control-allow-origin"), Some("*"));
    let r = send(target("AWSCognitoIdentityProviderService.InitiateAuth")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.h("access-control-allow-origin"), Some("*"));
    let r = send(
        client()
            .post(&root_url)
            .header("origin", "https://any-app.test")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("Action=AssumeRoleWithWebIdentity&Version=2011-06-15"),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.h("access-control-allow-origin"), Some("*"));
}
