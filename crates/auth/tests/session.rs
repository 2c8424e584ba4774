//! Session credentials and POST-policy signatures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cubby_auth::AuthError;
use cubby_auth::post_policy;
use cubby_auth::session::{self, MasterKey};
use cubby_auth::sigv4;

fn master() -> MasterKey {
    MasterKey::from_bytes([7; 32])
}

#[test]
fn master_key_hex_and_debug() {
    let hex = format!("{}\n", "ab".repeat(32));
    let k = MasterKey::from_hex(&hex).unwrap();
    assert_eq!(k.as_bytes(), &[0xab; 32]);
    assert_eq!(k.to_hex(), "ab".repeat(32));
    assert!(!format!("{k:?}").contains("ab"));
    assert!(MasterKey::from_hex("abcd").is_err());
    assert!(MasterKey::from_hex(&"zz".repeat(32)).is_err());
}

#[test]
fn access_key_ids_look_like_aws() {
    let id = session::new_access_key_id([0; 10]);
    assert_eq!(id, "ASIAAAAAAAAAAAAAAAAA");
    let id = session::new_access_key_id([0xff; 10]);
    assert_eq!(id, "ASIA7777777777777777");
    let id = session::new_access_key_id([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert_eq!(id.len(), 20);
    assert!(
        id[4..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    );
}

#[test]
fn derived_secrets() {
    let s = session::derive_secret(&master(), "ASIAAAAAAAAAAAAAAAAA");
    assert_eq!(s.len(), 40);
    assert_eq!(s, session::derive_secret(&master(), "ASIAAAAAAAAAAAAAAAAA"));
    assert_ne!(s, session::derive_secret(&master(), "ASIAAAAAAAAAAAAAAAAB"));
    assert_ne!(
        s,
        session::derive_secret(&MasterKey::from_bytes([8; 32]), "ASIAAAAAAAAAAAAAAAAA")
    );
    // Domain separation: the secret subkey differs from the token subkey.
    assert_ne!(
        session::subkey(&master(), "cubby/session-secret/v1"),
        session::subkey(&master(), "cubby/session-token/v1")
    );
}

#[test]
fn seal_open_round_trip() {
    let akid = session::new_access_key_id([3; 10]);
    let claims = br#"{"role":"arn:aws:iam::000000000000:role/Upload","exp":1700000000}"#;
    let tok = session::seal(&master(), &akid, claims, [9; 24]);
    assert!(
        tok.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "URL-safe: {tok}"
    );
    assert_eq!(session::open(&master(), &akid, &tok).unwrap(), claims);
    // Deterministic for a given nonce, different for another.
    assert_eq!(tok, session::seal(&master(), &akid, claims, [9; 24]));
    assert_ne!(tok, session::seal(&master(), &akid, claims, [10; 24]));
}

#[test]
fn open_rejects_tampering() {
    let akid = "ASIAAAAAAAAAAAAAAAAA";
    let tok = session::seal(&master(), akid, b"claims", [1; 24]);
    assert_eq!(
        session::open(&master(), "ASIAAAAAAAAAAAAAAAAB", &tok),
        Err(AuthError::InvalidToken)
    );
    assert_eq!(
        session::open(&MasterKey::from_bytes([0; 32]), akid, &tok),
        Err(AuthError::InvalidToken)
    );
    for i in 0..tok.len() {
        let mut b = tok.clone().into_bytes();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        let t = String::from_utf8(b).unwrap();
        if t != tok {
            assert!(session::open(&master(), akid, &t).is_err(), "flip at {i}");
        }
    }
    for bad in ["", "!!!", "AQ", &"A".repeat(20_000)] {
        assert_eq!(
            session::open(&master(), akid, bad),
            Err(AuthError::InvalidToken)
        );
    }
    let e = session::open(&master(), akid, "x").unwrap_err();
    assert_eq!((e.code(), e.status()), ("InvalidToken", 400));
    assert_eq!(
        AuthError::ExpiredToken.message(),
        "The provided token has expired."
    );
}

#[test]
fn open_accepts_standard_base64() {
    use base64::Engine as _;
    let akid = "ASIAAAAAAAAAAAAAAAAA";
    let tok = session::seal(&master(), akid, b"c", [2; 24]);
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&tok)
        .unwrap();
    let std = base64::engine::general_purpose::STANDARD.encode(raw);
    assert_eq!(session::open(&master(), akid, &std).unwrap(), b"c");
}

/// The S3 docs' browser-upload example ("Example: Browser-Based Upload
/// using HTTP POST (Using AWS Signature Version 4)").
const DOC_POLICY: &str = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9";
const DOC_SIG: &str = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e";

#[test]
fn post_policy_signatures() {
    let key = sigv4::signing_key(
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "20151229",
        "us-east-1",
        "s3",
    );
    assert_eq!(post_policy::sign_v4(&key, DOC_POLICY), DOC_SIG);
    assert!(post_policy::verify_v4(&key, DOC_POLICY, DOC_SIG));
    assert!(post_policy::verify_v4(
        &key,
        DOC_POLICY,
        &DOC_SIG.to_uppercase()
    ));
    assert!(!post_policy::verify_v4(
        &key,
        &format!("{DOC_POLICY}x"),
        DOC_SIG
    ));
    assert!(!post_policy::verify_v4(&key, DOC_POLICY, "00"));
    let v2 = post_policy::sign_v2("secret", DOC_POLICY);
    assert!(post_policy::verify_v2("secret", DOC_POLICY, &v2));
    assert!(!post_policy::verify_v2("secret2", DOC_POLICY, &v2));
    assert!(!post_policy::verify_v2("secret", DOC_POLICY, ""));
}

#[test]
fn post_policy_v2_known_value() {
    // The well-known HMAC-SHA1 vector for key "key" and the quick brown fox.
    let sig = post_policy::sign_v2("key", "The quick brown fox jumps over the lazy dog");
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&sig)
        .unwrap();
    assert_eq!(hex::encode(raw), "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9");
}
