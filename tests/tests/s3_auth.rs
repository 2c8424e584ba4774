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
    let mut rb = reqwest::Client::new().request(method.parse().unwrap(), url);
    for (k, v) in &signed_headers(method, url, ak, sk, at, "UNSIGNED-PAYLOAD") {
        if k != "host" {
            rb = rb.header(k.as_str(), v.as_bytes());
        }
    }
    rb
}

/// The headers of a request signed with `payload_hash` as its `x-amz-content-sha256`.
fn signed_headers(
    method: &str,
    url: &str,
    ak: &str,
    sk: &str,
    at: i64,
    payload_hash: &str,
) -> http::HeaderMap {
    let uri: http::Uri = url.parse().unwrap();
    let host = uri.authority().unwrap().to_string();
    let (mut parts, ()) = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", host)
        .header("x-amz-content-sha256", payload_hash)
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
        payload_hash,
        at,
    );
    parts.headers
}

/// Small bodies (read whole, then ingested in one job) and large ones (streamed) alike: a body
/// that is not what was signed, or shorter than declared, is refused and stores nothing.
#[tokio::test]
async fn bodies_unlike_what_was_signed_or_declared_store_nothing() {
    use sha2::Digest as _;
    use std::io::{Read as _, Write as _};
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("bodies").send().await.unwrap();
    for size in [4 * 1024, 200 * 1024] {
        let body = vec![7u8; size];
        let key = format!("k{size}");
        let url = format!("{}/bodies/{key}", server.endpoint);
        let stored = || async {
            c.head_object()
                .bucket("bodies")
                .key(&key)
                .send()
                .await
                .is_ok()
        };

        // Signed as the hash of other bytes.
        let other = hex::encode(sha2::Sha256::digest(b"something else"));
        let mut rb = reqwest::Client::new().put(&url).body(body.clone());
        for (k, v) in &signed_headers("PUT", &url, ROOT_KEY, ROOT_SECRET, now(), &other) {
            if k != "host" {
                rb = rb.header(k.as_str(), v.as_bytes());
            }
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 400, "{size}");
        assert_eq!(
            code_of(&r.text().await.unwrap()),
            "XAmzContentSHA256Mismatch",
            "{size}"
        );
        assert!(!stored().await, "{size}: stored despite the mismatch");

        // Half the declared bytes, then the client hangs up.
        let headers = signed_headers(
            "PUT",
            &url,
            ROOT_KEY,
            ROOT_SECRET,
            now(),
            "UNSIGNED-PAYLOAD",
        );
        let mut head = format!("PUT /bodies/{key} HTTP/1.1\r\ncontent-length: {size}\r\n");
        for (k, v) in &headers {
            head.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
        }
        head.push_str("\r\n");
        let port = server
            .endpoint
            .rsplit(':')
            .next()
            .unwrap()
            .parse::<u16>()
            .unwrap();
        let sent = tokio::task::spawn_blocking(move || {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(&body[..size / 2]).unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
            let mut answer = String::new();
            let _ = s.read_to_string(&mut answer);
            answer
        })
        .await
        .unwrap();
        assert!(
            sent.is_empty() || sent.starts_with("HTTP/1.1 400"),
            "{size}: {sent}"
        );
        assert!(!stored().await, "{size}: a cut-off body was stored");
    }
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
