//! Sign → parse → verify round trips, tampering, clock skew, presigned
//! expiry, the `Date` header form, non-S3 services, and parse errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cubby_auth::AuthError;
use cubby_auth::sigv4::{self, PayloadMode};
use hmac::{Hmac, Mac};
use http::request::Parts;
use sha2::{Digest, Sha256};

const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const NOW: i64 = 1_369_353_600; // 20130524T000000Z
const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

fn signed_s3(method: &str, uri: &str, headers: &[(&str, &str)], token: Option<&str>) -> Parts {
    let mut p = parts(method, uri, headers);
    sigv4::sign_request(
        &mut p,
        AK,
        SECRET,
        token,
        "us-east-1",
        "s3",
        "UNSIGNED-PAYLOAD",
        NOW,
    );
    p
}

fn verify_at(p: &Parts, now: i64) -> Result<sigv4::Verified, AuthError> {
    let req = sigv4::parse(p)?.expect("signed");
    let hash = req.canonical_payload_hash().unwrap_or(EMPTY).to_owned();
    sigv4::verify(&req, p, SECRET, &hash, now, "us-east-1")
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(data.as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// Independent reference signer (plain string formatting) used to build
/// requests the library's own signer would not produce.
fn reference_sig(creq: &str, amz_date: &str, scope: &str) -> String {
    let sts = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(creq))
    );
    let key = sigv4::signing_key(
        SECRET,
        &scope[..8],
        "us-east-1",
        scope.split('/').nth(2).unwrap(),
    );
    hex::encode(hmac(&key, &sts))
}

#[test]
fn round_trip_with_odd_keys_and_metadata() {
    let p = signed_s3(
        "PUT",
        "/bucket/us-east-1%3Aabc/a%2Bb%20c//d.txt?x-id=PutObject",
        &[
            ("host", "localhost:9000"),
            ("x-amz-meta-note", "  two   spaces  "),
            ("content-type", "text/plain"),
            ("user-agent", "test"),
        ],
        None,
    );
    let v = verify_at(&p, NOW).unwrap();
    assert_eq!(v.scope, "20130524/us-east-1/s3/aws4_request");
}

#[test]
fn non_ascii_header_values_are_signed_as_bytes() {
    let mut p = parts("PUT", "/b/k", &[("host", "h")]);
    p.headers.insert(
        "x-amz-meta-x",
        http::HeaderValue::from_bytes("héllo wörld".as_bytes()).unwrap(),
    );
    sigv4::sign_request(
        &mut p,
        AK,
        SECRET,
        None,
        "us-east-1",
        "s3",
        "UNSIGNED-PAYLOAD",
        NOW,
    );
    verify_at(&p, NOW).unwrap();
    p.headers.insert(
        "x-amz-meta-x",
        http::HeaderValue::from_bytes("hello wörld".as_bytes()).unwrap(),
    );
    assert_eq!(
        verify_at(&p, NOW).unwrap_err().code(),
        "SignatureDoesNotMatch"
    );
}

#[test]
fn tampering_is_detected() {
    let base = signed_s3(
        "GET",
        "/bucket/key?versionId=1",
        &[("host", "bucket.localhost:9000"), ("range", "bytes=0-9")],
        None,
    );
    verify_at(&base, NOW).unwrap();
    let mut cases = Vec::new();
    let mut p = base.clone();
    p.method = http::Method::DELETE;
    cases.push(p);
    let mut p = base.clone();
    p.uri = "/bucket/key2?versionId=1".parse().unwrap();
    cases.push(p);
    let mut p = base.clone();
    p.uri = "/bucket/key?versionId=2".parse().unwrap();
    cases.push(p);
    let mut p = base.clone();
    p.headers
        .insert("host", "other.localhost:9000".parse().unwrap());
    cases.push(p);
    let mut p = base.clone();
    p.headers.insert("range", "bytes=0-99".parse().unwrap());
    cases.push(p);
    for p in cases {
        let e = verify_at(&p, NOW).unwrap_err();
        assert_eq!(e.code(), "SignatureDoesNotMatch");
        assert_eq!(e.status(), 403);
        let fields = e.extra_fields();
        assert!(
            fields
                .iter()
                .any(|(k, v)| *k == "CanonicalRequest" && v.contains("\n/bucket/key"))
        );
        assert!(
            fields
                .iter()
                .any(|(k, v)| *k == "AWSAccessKeyId" && v == AK)
        );
    }
    // Wrong secret.
    let req = sigv4::parse(&base).unwrap().unwrap();
    let e = sigv4::verify(&req, &base, "wrong", "UNSIGNED-PAYLOAD", NOW, "us-east-1").unwrap_err();
    assert_eq!(
        e.message(),
        "The request signature we calculated does not match the signature you provided. Check your key and signing method."
    );
}

#[test]
fn clock_skew() {
    let p = signed_s3("GET", "/b/k", &[("host", "h")], None);
    verify_at(&p, NOW + 900).unwrap();
    verify_at(&p, NOW - 900).unwrap();
    for now in [NOW + 901, NOW - 901] {
        let e = verify_at(&p, now).unwrap_err();
        assert_eq!(e.code(), "RequestTimeTooSkewed");
        assert_eq!(e.status(), 403);
        let f = e.extra_fields();
        assert_eq!(f[0], ("RequestTime", "20130524T000000Z".to_owned()));
        assert_eq!(f[2], ("MaxAllowedSkewMilliseconds", "900000".to_owned()));
    }
}

#[test]
fn date_header_instead_of_x_amz_date() {
    let date = "Fri, 24 May 2013 00:00:00 GMT";
    let creq = format!(
        "GET\n/bucket/key\n\ndate:{date}\nhost:localhost:9000\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n\ndate;host;x-amz-content-sha256\nUNSIGNED-PAYLOAD"
    );
    let sig = reference_sig(
        &creq,
        "20130524T000000Z",
        "20130524/us-east-1/s3/aws4_request",
    );
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request, SignedHeaders=date;host;x-amz-content-sha256, Signature={sig}"
    );
    let p = parts(
        "GET",
        "/bucket/key",
        &[
            ("host", "localhost:9000"),
            ("date", date),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ("authorization", &auth),
        ],
    );
    let req = sigv4::parse(&p).unwrap().unwrap();
    assert_eq!(req.amz_date, "20130524T000000Z");
    assert_eq!(req.timestamp, NOW);
    verify_at(&p, NOW + 60).unwrap();
    // No date at all.
    let p = parts(
        "GET",
        "/bucket/key",
        &[
            ("host", "h"),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ("authorization", &auth),
        ],
    );
    let e = sigv4::parse(&p).unwrap_err();
    assert_eq!((e.code(), e.status()), ("AccessDenied", 403));
    // Malformed x-amz-date.
    let p = parts(
        "GET",
        "/",
        &[
            ("x-amz-date", "2013-05-24"),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ("authorization", &auth),
        ],
    );
    assert_eq!(sigv4::parse(&p).unwrap_err(), AuthError::MissingDate);
}

#[test]
fn scope_checks() {
    let mut p = parts("GET", "/b/k", &[("host", "h")]);
    sigv4::sign_request(
        &mut p,
        AK,
        SECRET,
        None,
        "eu-west-1",
        "s3",
        "UNSIGNED-PAYLOAD",
        NOW,
    );
    let e = verify_at(&p, NOW).unwrap_err();
    assert_eq!(e.code(), "AuthorizationHeaderMalformed");
    assert_eq!(e.status(), 400);
    assert_eq!(
        e.message(),
        "The authorization header is malformed; the region 'eu-west-1' is wrong; expecting 'us-east-1'"
    );
    assert_eq!(e.extra_fields(), vec![("Region", "us-east-1".to_owned())]);
    // Scope date differs from the request date.
    let mut p = signed_s3("GET", "/b/k", &[("host", "h")], None);
    p.headers
        .insert("x-amz-date", "20130525T000000Z".parse().unwrap());
    assert_eq!(
        verify_at(&p, NOW + 86_400).unwrap_err().code(),
        "AuthorizationHeaderMalformed"
    );
}

#[test]
fn session_token_is_parsed_and_signed() {
    let tok = "AQoDYXdzEJr+/token==";
    let p = signed_s3("GET", "/b/k", &[("host", "h")], Some(tok));
    let req = sigv4::parse(&p).unwrap().unwrap();
    assert_eq!(req.security_token.as_deref(), Some(tok));
    assert!(
        req.signed_headers
            .iter()
            .any(|h| h == "x-amz-security-token")
    );
    verify_at(&p, NOW).unwrap();
}

#[test]
fn payload_modes() {
    let cases = [
        ("UNSIGNED-PAYLOAD", PayloadMode::Unsigned),
        (
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            PayloadMode::StreamingSigned,
        ),
        (
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
            PayloadMode::StreamingSignedTrailer,
        ),
        (
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            PayloadMode::StreamingUnsignedTrailer,
        ),
        (EMPTY, PayloadMode::Sha256(Sha256::digest(b"").into())),
    ];
    for (h, mode) in cases {
        let mut p = parts("PUT", "/b/k", &[("host", "h")]);
        sigv4::sign_request(&mut p, AK, SECRET, None, "us-east-1", "s3", h, NOW);
        let req = sigv4::parse(&p).unwrap().unwrap();
        assert_eq!(req.payload, mode);
        assert_eq!(req.canonical_payload_hash(), Some(h));
        verify_at(&p, NOW).unwrap();
    }
    let mut p = parts("PUT", "/b/k", &[("host", "h")]);
    sigv4::sign_request(&mut p, AK, SECRET, None, "us-east-1", "s3", "nonsense", NOW);
    let e = sigv4::parse(&p).unwrap_err();
    assert_eq!(e.code(), "InvalidArgument");
    // S3 header auth requires x-amz-content-sha256.
    p.headers.remove("x-amz-content-sha256");
    assert_eq!(
        sigv4::parse(&p).unwrap_err(),
        AuthError::MissingContentSha256
    );
}

#[test]
fn sts_query_protocol_hashes_the_body() {
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    let body_hash = hex::encode(Sha256::digest(body));
    let mut p = parts(
        "POST",
        "/",
        &[
            ("host", "localhost:9000"),
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
        ],
    );
    sigv4::sign_request(
        &mut p,
        AK,
        SECRET,
        None,
        "us-east-1",
        "sts",
        &body_hash,
        NOW,
    );
    assert!(!p.headers.contains_key("x-amz-content-sha256"));
    let req = sigv4::parse(&p).unwrap().unwrap();
    assert_eq!(req.payload, PayloadMode::ComputeFromBody);
    assert_eq!(req.canonical_payload_hash(), None);
    sigv4::verify(&req, &p, SECRET, &body_hash, NOW, "us-east-1").unwrap();
    let other = hex::encode(Sha256::digest(b"Action=Other"));
    assert_eq!(
        sigv4::verify(&req, &p, SECRET, &other, NOW, "us-east-1")
            .unwrap_err()
            .code(),
        "SignatureDoesNotMatch"
    );
}

/// Vectors from the AWS SigV4 test suite (service "service", normalised
/// paths, payload = SHA-256 of the empty body).
#[test]
fn aws_sigv4_test_suite() {
    const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    let cases = [
        (
            "/",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        (
            "/?Param2=value2&Param1=value1",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
    ];
    for (uri, sig) in cases {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature={sig}"
        );
        let p = parts(
            "GET",
            uri,
            &[
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
                ("authorization", &auth),
            ],
        );
        let req = sigv4::parse(&p).unwrap().unwrap();
        assert_eq!(req.payload, PayloadMode::ComputeFromBody);
        sigv4::verify(&req, &p, SUITE_SECRET, EMPTY, req.timestamp, "us-east-1")
            .unwrap_or_else(|e| panic!("{uri}: {e:?} {:?}", e.extra_fields()));
    }
}

#[test]
fn parse_errors() {
    let anon = parts("GET", "/b/k", &[("host", "h")]);
    assert_eq!(sigv4::parse(&anon).unwrap(), None);
    let e = sigv4::parse(&parts("GET", "/", &[("authorization", "AWS AKID:c2ln")])).unwrap_err();
    assert_eq!((e.code(), e.status()), ("InvalidRequest", 400));
    let e = sigv4::parse(&parts("GET", "/", &[("authorization", "Bearer x")])).unwrap_err();
    assert_eq!(e.code(), "InvalidArgument");
    for bad in [
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws5_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
        "AWS4-HMAC-SHA256 garbage",
        "AWS4-HMAC-SHA256",
    ] {
        let p = parts(
            "GET",
            "/",
            &[
                ("authorization", bad),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-content-sha256", EMPTY),
            ],
        );
        let e = sigv4::parse(&p).unwrap_err();
        assert_eq!(e.code(), "AuthorizationHeaderMalformed", "{bad}: {e:?}");
    }
    // Header and query auth together.
    let p = parts(
        "GET",
        "/?X-Amz-Algorithm=AWS4-HMAC-SHA256",
        &[("authorization", "AWS4-HMAC-SHA256 x")],
    );
    assert_eq!(sigv4::parse(&p).unwrap_err().code(), "InvalidArgument");
    // SigV2 presigned URL.
    let p = parts("GET", "/b/k?AWSAccessKeyId=AK&Expires=1&Signature=x", &[]);
    assert_eq!(
        sigv4::parse(&p).unwrap_err(),
        AuthError::UnsupportedAuthorization
    );
    // Host must be signed.
    let creq = "GET\n/\n\nx-amz-date:20130524T000000Z\n\nx-amz-date\nUNSIGNED-PAYLOAD";
    let sig = reference_sig(
        creq,
        "20130524T000000Z",
        "20130524/us-east-1/s3/aws4_request",
    );
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request, SignedHeaders=x-amz-date, Signature={sig}"
    );
    let p = parts(
        "GET",
        "/",
        &[
            ("host", "h"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ("authorization", &auth),
        ],
    );
    assert_eq!(
        verify_at(&p, NOW).unwrap_err(),
        AuthError::HeadersNotSigned {
            headers: "host".into()
        }
    );
}

fn presigned_parts(url: &str, extra: &[(&str, &str)]) -> Parts {
    let (_, rest) = url.split_once("://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut h = vec![("host", host)];
    h.extend_from_slice(extra);
    parts("PUT", path, &h)
}

#[test]
fn presigned_round_trip_with_session_token() {
    let tok = "AbC+/def==_-x";
    let url = sigv4::presign_url(
        "PUT",
        "http://localhost:9000/bucket/us-east-1%3Aid/file%20name.txt?x-id=PutObject",
        AK,
        SECRET,
        Some(tok),
        "us-east-1",
        3600,
        NOW,
    );
    let p = presigned_parts(&url, &[("content-type", "image/png")]);
    let req = sigv4::parse(&p).unwrap().unwrap();
    assert_eq!(req.security_token.as_deref(), Some(tok));
    assert_eq!(req.presigned_expires, Some(3600));
    sigv4::verify(
        &req,
        &p,
        SECRET,
        "UNSIGNED-PAYLOAD",
        NOW + 3600,
        "us-east-1",
    )
    .unwrap();
    // Expired one second later.
    let e = sigv4::verify(
        &req,
        &p,
        SECRET,
        "UNSIGNED-PAYLOAD",
        NOW + 3601,
        "us-east-1",
    )
    .unwrap_err();
    assert_eq!(
        (e.code(), e.message().as_str(), e.status()),
        ("AccessDenied", "Request has expired", 403)
    );
    assert_eq!(e.extra_fields()[0], ("X-Amz-Expires", "3600".to_owned()));
    assert_eq!(
        e.extra_fields()[1],
        ("Expires", "2013-05-24T01:00:00Z".to_owned())
    );
    // Not yet valid.
    let e =
        sigv4::verify(&req, &p, SECRET, "UNSIGNED-PAYLOAD", NOW - 901, "us-east-1").unwrap_err();
    assert_eq!(e.message(), "Request is not yet valid");
    // Signature tampered.
    let bad = url.replace("X-Amz-Expires=3600", "X-Amz-Expires=7200");
    let p2 = presigned_parts(&bad, &[]);
    let req2 = sigv4::parse(&p2).unwrap().unwrap();
    assert_eq!(
        sigv4::verify(&req2, &p2, SECRET, "UNSIGNED-PAYLOAD", NOW, "us-east-1")
            .unwrap_err()
            .code(),
        "SignatureDoesNotMatch"
    );
}

#[test]
fn presigned_unsigned_amz_headers_are_refused() {
    let url = sigv4::presign_url(
        "PUT",
        "http://localhost:9000/b/k",
        AK,
        SECRET,
        None,
        "us-east-1",
        60,
        NOW,
    );
    let p = presigned_parts(
        &url,
        &[
            ("x-amz-checksum-crc32", "AAAAAA=="),
            ("x-amz-sdk-checksum-algorithm", "CRC32"),
        ],
    );
    let req = sigv4::parse(&p).unwrap().unwrap();
    let e = sigv4::verify(&req, &p, SECRET, "UNSIGNED-PAYLOAD", NOW, "us-east-1").unwrap_err();
    assert_eq!(
        e.message(),
        "There were headers present in the request which were not signed"
    );
    assert_eq!(
        e.extra_fields(),
        vec![(
            "HeadersNotSigned",
            "x-amz-checksum-crc32, x-amz-sdk-checksum-algorithm".to_owned()
        )]
    );
}

#[test]
fn presigned_http2_without_host_header() {
    let url = sigv4::presign_url(
        "GET",
        "https://bucket.localhost:9000/k",
        AK,
        SECRET,
        None,
        "us-east-1",
        60,
        NOW,
    );
    let p = parts("GET", &url, &[]);
    assert!(p.headers.get("host").is_none());
    let req = sigv4::parse(&p).unwrap().unwrap();
    sigv4::verify(&req, &p, SECRET, "UNSIGNED-PAYLOAD", NOW, "us-east-1").unwrap();
}

#[test]
fn presigned_parameter_errors() {
    let url = sigv4::presign_url(
        "GET",
        "http://h/b/k",
        AK,
        SECRET,
        None,
        "us-east-1",
        60,
        NOW,
    );
    let check = |from: &str, to: &str, msg: &str| {
        let u = url.replace(from, to);
        let p = presigned_parts(&u, &[]);
        let e = sigv4::parse(&p).unwrap_err();
        assert_eq!(
            (e.code(), e.status()),
            ("AuthorizationQueryParametersError", 400),
            "{to}"
        );
        assert!(e.message().contains(msg), "{}", e.message());
    };
    // Out-of-range lifetimes are refused like an expired URL: 403 AccessDenied.
    for (to, msg) in [
        ("X-Amz-Expires=604801", "must be less than 604800 seconds"),
        ("X-Amz-Expires=-1", "X-Amz-Expires must be non-negative"),
    ] {
        let e =
            sigv4::parse(&presigned_parts(&url.replace("X-Amz-Expires=60", to), &[])).unwrap_err();
        assert_eq!((e.code(), e.status()), ("AccessDenied", 403), "{to}");
        assert!(e.message().contains(msg), "{}", e.message());
    }
    check(
        "X-Amz-Expires=60",
        "X-Amz-Expires=soon",
        "X-Amz-Expires should be a number",
    );
    check("X-Amz-Expires=60&", "", "requires the X-Amz-Algorithm");
    check(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256",
        "X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256",
        "only supports",
    );
    check("X-Amz-Date=20130524T000000Z", "X-Amz-Date=2013", "ISO8601");
    // 604800 itself is fine; 0 parses but is always expired.
    let u = url.replace("X-Amz-Expires=60", "X-Amz-Expires=604800");
    assert_eq!(
        sigv4::parse(&presigned_parts(&u, &[]))
            .unwrap()
            .unwrap()
            .presigned_expires,
        Some(604_800)
    );
    let u = url.replace("X-Amz-Expires=60", "X-Amz-Expires=0");
    let p = presigned_parts(&u, &[]);
    let req = sigv4::parse(&p).unwrap().unwrap();
    assert_eq!(
        sigv4::verify(&req, &p, SECRET, "UNSIGNED-PAYLOAD", NOW, "us-east-1")
            .unwrap_err()
            .message(),
        "Request has expired"
    );
    // Wrong region in a presigned URL.
    let u = sigv4::presign_url(
        "GET",
        "http://h/b/k",
        AK,
        SECRET,
        None,
        "eu-west-1",
        60,
        NOW,
    );
    let p = presigned_parts(&u, &[]);
    let req = sigv4::parse(&p).unwrap().unwrap();
    let e = sigv4::verify(&req, &p, SECRET, "UNSIGNED-PAYLOAD", NOW, "us-east-1").unwrap_err();
    assert_eq!(e.code(), "AuthorizationQueryParametersError");
    assert_eq!(e.extra_fields(), vec![("Region", "us-east-1".to_owned())]);
}

#[test]
fn presigned_url_binds_extra_signed_headers() {
    let url = sigv4::presign_url_with_headers(
        "PUT",
        "http://localhost:9000/bucket/key.png",
        AK,
        SECRET,
        None,
        "us-east-1",
        300,
        NOW,
        &[("Content-Type", "image/png")],
    );
    assert!(
        url.contains("X-Amz-SignedHeaders=content-type%3Bhost"),
        "{url}"
    );
    let verify = |extra: &[(&str, &str)]| {
        let p = presigned_parts(&url, extra);
        let req = sigv4::parse(&p).unwrap().unwrap();
        sigv4::verify(&req, &p, SECRET, "UNSIGNED-PAYLOAD", NOW + 10, "us-east-1")
    };
    verify(&[("content-type", "image/png")]).unwrap();
    assert_eq!(
        verify(&[("content-type", "text/html")]).unwrap_err().code(),
        "SignatureDoesNotMatch"
    );
    assert_eq!(verify(&[]).unwrap_err().code(), "SignatureDoesNotMatch");
}
