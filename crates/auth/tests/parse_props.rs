//! Property tests: parse/verify never panic on hostile input, and any
//! request the signer produces verifies (sign → verify for arbitrary keys,
//! paths, query parameters and header values).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cubby_auth::sigv4;
use proptest::prelude::*;

const NOW: i64 = 1_700_000_000;

proptest! {
    #[test]
    fn hostile_auth_never_panics(
        auth in "(AWS4-HMAC-SHA256 )?(Credential=[ -~]{0,60})?(, ?SignedHeaders=[a-z;-]{0,30})?(, ?Signature=[0-9a-f]{0,70})?[ -~]{0,10}",
        date in "[0-9TZ]{0,18}|[ -~]{0,40}",
        query in "[ -~&=%]{0,120}",
    ) {
        let uri = format!("/b/k?{}", query.replace(['#', ' ', '"', '<', '>', '\\', '^', '`', '{', '|', '}'], ""));
        let Ok(req) = http::Request::builder().uri(uri.as_str()).header("authorization", auth.as_str())
            .header("x-amz-date", date.as_str()).header("x-amz-content-sha256", "UNSIGNED-PAYLOAD").body(()) else { return Ok(()) };
        let (p, ()) = req.into_parts();
        if let Ok(Some(r)) = sigv4::parse(&p) {
            let _ = sigv4::verify(&r, &p, "s", "UNSIGNED-PAYLOAD", NOW, "us-east-1");
        }
        // Same with the query alone (presigned path).
        let Ok(req) = http::Request::builder().uri(uri.as_str()).body(()) else { return Ok(()) };
        let (p, ()) = req.into_parts();
        if let Ok(Some(r)) = sigv4::parse(&p) {
            let _ = sigv4::verify(&r, &p, "s", "UNSIGNED-PAYLOAD", NOW, "us-east-1");
        }
    }

    #[test]
    fn presigned_query_never_panics(expires in "-?[0-9]{0,12}", date in "[0-9]{8}T[0-9]{6}Z|[ -~]{0,20}", cred in "[ -~]{0,60}") {
        let enc = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
        let uri = format!("/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&X-Amz-Date={}&X-Amz-Expires={}&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
            enc(&cred), enc(&date), enc(&expires));
        let (p, ()) = http::Request::builder().uri(uri.as_str()).header("host", "h").body(()).unwrap().into_parts();
        if let Ok(Some(r)) = sigv4::parse(&p) {
            let _ = sigv4::verify(&r, &p, "s", "UNSIGNED-PAYLOAD", NOW, "us-east-1");
        }
    }

    #[test]
    fn sign_then_verify(
        segs in prop::collection::vec("[a-zA-Z0-9 !$&'()*+,;=:@._~/-]{0,12}", 1..4),
        params in prop::collection::vec(("[a-zA-Z0-9 +/=_.-]{1,8}", "[ -~]{0,10}"), 0..4),
        meta in "[ -~]{0,30}",
        secret in "[ -~]{1,40}",
        service in prop::sample::select(vec!["s3", "sts", "iam", "cognito-identity"]),
    ) {
        let enc = |s: &str, keep_slash: bool| s.bytes().map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') { (b as char).to_string() } else { format!("%{b:02X}") }
        }).collect::<String>();
        let path: String = segs.iter().map(|s| format!("/{}", enc(s, true))).collect();
        let query: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", enc(k, false), enc(v, false))).collect();
        let uri = if query.is_empty() { path.clone() } else { format!("{path}?{}", query.join("&")) };
        let (mut p, ()) = http::Request::builder().method("PUT").uri(uri.as_str())
            .header("host", "bucket.localhost:9000").header("x-amz-meta-m", meta.trim()).body(()).unwrap().into_parts();
        let hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        sigv4::sign_request(&mut p, "AKID", &secret, Some("tok"), "us-east-1", service, hash, NOW);
        let r = sigv4::parse(&p).unwrap().unwrap();
        sigv4::verify(&r, &p, &secret, hash, NOW, "us-east-1").unwrap();

        if service == "s3" {
            let url = sigv4::presign_url("GET", &format!("http://bucket.localhost:9000{uri}"), "AKID", &secret, Some("t+/="), "us-east-1", 60, NOW);
            let target = url.strip_prefix("http://bucket.localhost:9000").unwrap();
            let (p, ()) = http::Request::builder().uri(target).header("host", "bucket.localhost:9000").body(()).unwrap().into_parts();
            let r = sigv4::parse(&p).unwrap().unwrap();
            sigv4::verify(&r, &p, &secret, "UNSIGNED-PAYLOAD", NOW, "us-east-1").unwrap();
        }
    }
}
