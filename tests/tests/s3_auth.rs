//! Request authentication against the real server: presigned URLs, tampering, expiry, clock
//! skew, unknown keys.
#![allow(clippy::unwrap_used)]

mod common;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use common::*;
use std::time::Duration;

fn code_of(body: &str) -> String {
    body.split("<Code>")
        .nth(1)
        .and_then(|s| s.split("</Code>").next())
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn presigned_get_and_put() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("pre").send().await.unwrap();
    let http = reqwest::Client::new();
    let put = c
        .put_object()
        .bucket("pre")
        .key("up.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let r = http
        .put(put.uri())
        .body("presigned body")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let get = c
        .get_object()
        .bucket("pre")
        .key("up.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let r = http.get(get.uri()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "presigned body");

    // Tampered signature.
    let uri = get.uri().to_owned();
    let sig_at = uri.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut tampered = uri.clone();
    let flip = if &uri[sig_at..sig_at + 1] == "0" {
        "1"
    } else {
        "0"
    };
    tampered.replace_range(sig_at..sig_at + 1, flip);
    let r = http.get(&tampered).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(code_of(&r.text().await.unwrap()), "SignatureDoesNotMatch");

    // Tampered key in the path.
    let other = uri.replace("up.txt", "other.txt");
    let r = http.get(&other).send().await.unwrap();
    assert_eq!(r.status(), 403);

    // Expired: signed 2 minutes ago for 60 s.
    let url = format!("{}/pre/up.txt", server.endpoint);
    let expired = cubby_auth::sigv4::presign_url(
        "GET",
        &url,
        ROOT_KEY,
        ROOT_SECRET,
        None,
        "us-east-1",
        60,
        now() - 120,
    );
    let r = http.get(&expired).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let body = r.text().await.unwrap();
    assert_eq!(code_of(&body), "AccessDenied");
    assert!(body.contains("Request has expired"), "{body}");

    // Too long an expiry: refused like an expired URL (issue 7).
    let week = cubby_auth::sigv4::presign_url(
        "GET",
        &url,
        ROOT_KEY,
        ROOT_SECRET,
        None,
        "us-east-1",
        604_801,
        now(),
    );
    let r = http.get(&week).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let body = r.text().await.unwrap();
    assert_eq!(code_of(&body), "AccessDenied");
    assert!(body.contains("must be less than 604800 seconds"), "{body}");
}

fn signed(method: &str, url: &str, ak: &str, sk: &str, at: i64) -> reqwest::RequestBuilder {
    let uri: http::Uri = url.parse().unwrap();
    let host = uri.authority().unwrap().to_string();
    let (mut parts, ()) = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", host)
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        .body(())
        .unwrap()
        .into_parts();
    cubby_auth::sigv4::sign_request(
        &mut parts,
        ak,
        sk,
        None,
        "us-east-1",
        "s3",
        "UNSIGNED-PAYLOAD",
        at,
    );
    let mut rb = reqwest::Client::new().request(method.parse().unwrap(), url);
    for (k, v) in &parts.headers {
        if k != "host" {
            rb = rb.header(k.as_str(), v.as_bytes());
        }
    }
    rb
}

#[tokio::test]
async fn header_auth_errors() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("hdr").send().await.unwrap();
    c.put_object()
        .bucket("hdr")
        .key("k")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .unwrap();
    let url = format!("{}/hdr/k", server.endpoint);

    let r = signed("GET", &url, ROOT_KEY, ROOT_SECRET, now())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let r = signed("GET", &url, ROOT_KEY, ROOT_SECRET, now() - 3600)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body = r.text().await.unwrap();
    assert_eq!(code_of(&body), "RequestTimeTooSkewed");
    assert!(
        body.contains("<MaxAllowedSkewMilliseconds>900000"),
        "{body}"
    );

    let r = signed("GET", &url, "AKIAUNKNOWNKEY000000", ROOT_SECRET, now())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(code_of(&r.text().await.unwrap()), "InvalidAccessKeyId");

    let r = signed("GET", &url, ROOT_KEY, "wrong-secret", now())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(code_of(&r.text().await.unwrap()), "SignatureDoesNotMatch");

    // Anonymous requests are denied with an XML error whose RequestId matches the header.
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status(), 403);
    let rid = r
        .headers()
        .get("x-amz-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let body = r.text().await.unwrap();
    assert_eq!(code_of(&body), "AccessDenied");
    assert!(body.contains(&format!("<RequestId>{rid}</RequestId>")));
}
