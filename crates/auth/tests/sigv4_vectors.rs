//! SigV4 against the worked examples in the AWS S3 documentation
//! ("Signature Calculations for the Authorization Header" and "Query
//! String Authentication"), which real clients reproduce bit for bit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cubby_auth::sigv4::{self, PayloadMode};
use http::request::Parts;

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
/// 20130524T000000Z
const NOW: i64 = 1_369_353_600;
const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut b = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

fn auth(signed: &str, sig: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders={signed},Signature={sig}"
    )
}

fn check(p: &Parts) -> sigv4::Verified {
    let req = sigv4::parse(p).unwrap().expect("signed");
    let hash = req.canonical_payload_hash().unwrap().to_owned();
    sigv4::verify(&req, p, SECRET, &hash, NOW, "us-east-1").unwrap()
}

#[test]
fn get_object() {
    let sig = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    let a = auth("host;range;x-amz-content-sha256;x-amz-date", sig);
    let p = parts(
        "GET",
        "/test.txt",
        &[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY),
            ("x-amz-date", "20130524T000000Z"),
            ("authorization", &a),
        ],
    );
    let req = sigv4::parse(&p).unwrap().unwrap();
    assert_eq!(req.access_key_id, AKID);
    assert_eq!(req.scope(), "20130524/us-east-1/s3/aws4_request");
    assert_eq!(req.timestamp, NOW);
    assert!(matches!(req.payload, PayloadMode::Sha256(_)));
    let v = check(&p);
    assert_eq!(v.seed_signature, sig);
}

#[test]
fn put_object_with_date_and_dollar() {
    let sig = "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd";
    let a = auth(
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        sig,
    );
    let p = parts(
        "PUT",
        "/test%24file.text",
        &[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            (
                "x-amz-content-sha256",
                "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
            ),
            ("authorization", &a),
        ],
    );
    check(&p);
    // The unescaped form canonicalises identically.
    let mut p2 = p.clone();
    p2.uri = "/test$file.text".parse().unwrap();
    check(&p2);
}

#[test]
fn get_bucket_lifecycle() {
    let sig = "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543";
    let a = auth("host;x-amz-content-sha256;x-amz-date", sig);
    let p = parts(
        "GET",
        "/?lifecycle",
        &[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-content-sha256", EMPTY),
            ("authorization", &a),
        ],
    );
    check(&p);
}

#[test]
fn list_objects() {
    let sig = "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7";
    let a = auth("host;x-amz-content-sha256;x-amz-date", sig);
    let p = parts(
        "GET",
        "/?max-keys=2&prefix=J",
        &[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-content-sha256", EMPTY),
            ("authorization", &a),
        ],
    );
    check(&p);
    // Parameter order does not matter.
    let mut p2 = p.clone();
    p2.uri = "/?prefix=J&max-keys=2".parse().unwrap();
    check(&p2);
}

#[test]
fn chunked_upload_seed_signature() {
    let seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    let a = auth(
        "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class",
        seed,
    );
    let p = parts(
        "PUT",
        "/examplebucket/chunkObject.txt",
        &[
            ("host", "s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("content-length", "66824"),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("authorization", &a),
        ],
    );
    let req = sigv4::parse(&p).unwrap().unwrap();
    assert_eq!(req.payload, PayloadMode::StreamingSigned);
    let v = check(&p);
    assert_eq!(v.seed_signature, seed);
    assert_eq!(v.scope, "20130524/us-east-1/s3/aws4_request");
    assert_eq!(
        v.signing_key,
        sigv4::signing_key(SECRET, "20130524", "us-east-1", "s3")
    );
}

const PRESIGNED: &str = "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

#[test]
fn presigned_url_example_verifies() {
    let p = parts(
        "GET",
        PRESIGNED,
        &[("host", "examplebucket.s3.amazonaws.com")],
    );
    let req = sigv4::parse(&p).unwrap().unwrap();
    assert_eq!(req.presigned_expires, Some(86_400));
    assert_eq!(req.payload, PayloadMode::Unsigned);
    assert_eq!(req.canonical_payload_hash(), Some("UNSIGNED-PAYLOAD"));
    sigv4::verify(
        &req,
        &p,
        SECRET,
        "UNSIGNED-PAYLOAD",
        NOW + 3600,
        "us-east-1",
    )
    .unwrap();
    // Path-only URI with the host header behaves the same (HTTP/1.1 form).
    let (_, q) = PRESIGNED.split_once('?').unwrap();
    let p = parts(
        "GET",
        &format!("/test.txt?{q}"),
        &[("host", "examplebucket.s3.amazonaws.com")],
    );
    let req = sigv4::parse(&p).unwrap().unwrap();
    sigv4::verify(&req, &p, SECRET, "UNSIGNED-PAYLOAD", NOW, "us-east-1").unwrap();
}

#[test]
fn presign_url_reproduces_example() {
    let url = sigv4::presign_url(
        "GET",
        "https://examplebucket.s3.amazonaws.com/test.txt",
        AKID,
        SECRET,
        None,
        "us-east-1",
        86_400,
        NOW,
    );
    assert_eq!(url, PRESIGNED);
}

#[test]
fn http2_authority_stands_in_for_host() {
    // Same request as get_object, but the host only in the URI authority.
    let sig = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    let a = auth("host;range;x-amz-content-sha256;x-amz-date", sig);
    let p = parts(
        "GET",
        "https://examplebucket.s3.amazonaws.com/test.txt",
        &[
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY),
            ("x-amz-date", "20130524T000000Z"),
            ("authorization", &a),
        ],
    );
    check(&p);
}
