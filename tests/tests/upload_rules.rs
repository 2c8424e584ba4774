//! Upload rules and per-identity quotas (issue 11), through real clients: the root-only admin
//! API, and guests of an identity pool uploading with aws-sdk-rust, presigned URLs, POST forms
//! and multipart. One test per rule kind; a 20-way race on a 5-object quota; a multipart upload
//! refused at the part that crosses the size limit; `kill -9` with uploads in flight.
#![allow(clippy::unwrap_used)]

mod common;
mod idhelp;

use aws_sdk_s3::primitives::ByteStream;
use common::*;
use idhelp::*;
use serde_json::{Value, json};

const BUCKET: &str = "guarded";

/// A real (tiny) JPEG: SOI, APP0/JFIF, … — only the first bytes matter to the check.
const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xFF\xD9";
/// The head of a Windows executable.
const EXE: &[u8] = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xFF\xFF\x00\x00This program cannot be run in DOS mode.";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01";

async fn set_rules(server: &Server, rules: Value) {
    let r = admin_as(
        server,
        &root_keys(),
        "PUT",
        &format!("/_cubby/admin/upload-rules/{BUCKET}"),
        &json!({ "rules": rules }).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn usage(server: &Server) -> Value {
    let r = admin_as(
        server,
        &root_keys(),
        "GET",
        &format!("/_cubby/admin/usage/{BUCKET}"),
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// A guest of a fresh identity pool whose role may upload (and read back, and run multipart
/// uploads) anywhere in the bucket: whatever is refused below is refused by the rules.
struct Guests {
    pool: String,
}

impl Guests {
    async fn new(server: &Server) -> Guests {
        let pool = cognito(server)
            .create_identity_pool()
            .identity_pool_name("guarded_app")
            .allow_unauthenticated_identities(true)
            .send()
            .await
            .unwrap()
            .identity_pool_id()
            .to_owned();
        let guest = role(
            server,
            "GuardedGuest",
            &cognito_trust(&pool, "unauthenticated"),
            Some(&policy(json!([allow(
                &[
                    "s3:PutObject",
                    "s3:GetObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts"
                ],
                &[&format!("arn:aws:s3:::{BUCKET}/*")]
            )]))),
        )
        .await;
        cognito(server)
            .set_identity_pool_roles()
            .identity_pool_id(&pool)
            .roles("unauthenticated", guest)
            .send()
            .await
            .unwrap();
        Guests { pool }
    }

    /// A new guest identity: its id and credentials.
    async fn one(&self, server: &Server) -> (String, Keys) {
        new_guest(server, &self.pool).await
    }
}

/// An S3 client that does not retry (SlowDown would otherwise be retried by the SDK).
fn no_retry(server: &Server, k: &Keys) -> aws_sdk_s3::Client {
    let creds = aws_sdk_s3::config::Credentials::new(&k.ak, &k.sk, k.token.clone(), None, "t");
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(&server.endpoint)
        .credentials_provider(creds)
        .force_path_style(true)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

async fn put(
    c: &aws_sdk_s3::Client,
    key: &str,
    body: &[u8],
    content_type: Option<&str>,
) -> Result<(), (String, String, u16)> {
    let mut req = c
        .put_object()
        .bucket(BUCKET)
        .key(key)
        .body(ByteStream::from(body.to_vec()));
    if let Some(t) = content_type {
        req = req.content_type(t);
    }
    req.send().await.map(|_| ()).map_err(|e| {
        use aws_sdk_s3::error::ProvideErrorMetadata as _;
        (
            e.code().unwrap_or("").to_owned(),
            e.message().unwrap_or("").to_owned(),
            status(&e),
        )
    })
}

/// The bytes stored under `key`, read by the root.
async fn stored(server: &Server, key: &str) -> bytes::Bytes {
    root(server)
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
}

async fn exists(server: &Server, key: &str) -> bool {
    root(server)
        .head_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .is_ok()
}

async fn setup() -> (Server, Guests) {
    let server = Server::start();
    root(&server)
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    let guests = Guests::new(&server).await;
    (server, guests)
}

#[tokio::test]
async fn admin_api_validates_stores_and_is_root_only() {
    let (server, guests) = setup().await;
    let path = format!("/_cubby/admin/upload-rules/{BUCKET}");
    // Invalid documents are refused, naming the rule.
    let bad = admin_as(
        &server,
        &root_keys(),
        "PUT",
        &path,
        &json!({"rules": [{"id": "ok"}, {"id": "zero", "max_objects": 0}]}).to_string(),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.json()["__type"], "InvalidArgument");
    assert!(
        bad.body.contains("zero") && bad.body.contains("max_objects"),
        "{}",
        bad.body
    );
    let unknown = admin_as(
        &server,
        &root_keys(),
        "PUT",
        &path,
        r#"{"rules":[{"id":"x","max_sise":1}]}"#,
    )
    .await;
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    // A valid one round-trips (sizes given as text come back as bytes).
    let r = admin_as(
        &server,
        &root_keys(),
        "PUT",
        &path,
        &json!({"rules": [{"id": "images", "prefix": "in/", "applies_to": ["guests"], "max_size": "1 MiB", "content_types": ["image/*"]}]}).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = admin_as(&server, &root_keys(), "GET", &path, "").await;
    assert_eq!(got.json()["rules"][0]["max_size"], 1048576);
    assert_eq!(got.json()["rules"][0]["applies_to"][0], "guests");
    // Only the root may use it: a guest's valid signature is not enough, nor is none.
    let (_, keys) = guests.one(&server).await;
    let denied = admin_as(&server, &keys, "GET", &path, "").await;
    assert_eq!(denied.status, 403, "{}", denied.body);
    let unsigned = reqwest::get(format!("{}{path}", server.endpoint))
        .await
        .unwrap();
    assert_eq!(unsigned.status().as_u16(), 403);
    // A body that is not the signed one is refused.
    let tampered = {
        let url = format!("{}{path}", server.endpoint);
        let (mut parts, ()) = http::Request::builder()
            .method("PUT")
            .uri(&url)
            .body(())
            .unwrap()
            .into_parts();
        let signed_body = r#"{"rules":[]}"#;
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            signed_body.as_bytes(),
        ));
        cubby_auth::sigv4::sign_request(
            &mut parts,
            ROOT_KEY,
            ROOT_SECRET,
            None,
            "us-east-1",
            "s3",
            &hash,
            now(),
        );
        let mut req = reqwest::Client::new()
            .put(&url)
            .body(r#"{"rules":[{"id":"evil"}]}"#);
        for (k, v) in &parts.headers {
            req = req.header(k.as_str(), v.as_bytes());
        }
        req.send().await.unwrap().status().as_u16()
    };
    assert_eq!(tampered, 403);
    // Unknown bucket → 404; DELETE removes the rules.
    let missing = admin_as(
        &server,
        &root_keys(),
        "GET",
        "/_cubby/admin/upload-rules/nope",
        "",
    )
    .await;
    assert_eq!(missing.status, 404);
    let del = admin_as(&server, &root_keys(), "DELETE", &path, "").await;
    assert_eq!(del.status, 204, "{}", del.body);
    let got = admin_as(&server, &root_keys(), "GET", &path, "").await;
    assert_eq!(got.json()["rules"], json!([]));
}

#[tokio::test]
async fn max_size_refuses_before_the_body_and_on_every_path() {
    let (server, guests) = setup().await;
    set_rules(&server, json!([{"id": "small", "max_size": 1024}])).await;
    let (_, keys) = guests.one(&server).await;
    let c = keys.s3(&server);
    put(&c, "ok.txt", &[b'a'; 1024], Some("text/plain"))
        .await
        .unwrap();
    let (code, msg, st) = put(&c, "big.txt", &[b'a'; 1025], Some("text/plain"))
        .await
        .unwrap_err();
    assert_eq!((code.as_str(), st), ("EntityTooLarge", 400), "{msg}");
    assert!(msg.contains("small"), "the error names the rule: {msg}");
    assert!(!exists(&server, "big.txt").await);
    // A presigned PUT is held to the same limit.
    let presigned = c
        .put_object()
        .bucket(BUCKET)
        .key("presigned.bin")
        .presigned(
            aws_sdk_s3::presigning::PresigningConfig::expires_in(std::time::Duration::from_secs(
                300,
            ))
            .unwrap(),
        )
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .put(presigned.uri())
        .body(vec![7u8; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("EntityTooLarge"));
    assert!(!exists(&server, "presigned.bin").await);
    // The account root is not subject to upload rules.
    put(&root(&server), "root-big.bin", &[0u8; 4096], None)
        .await
        .unwrap();
}

#[tokio::test]
async fn content_types_are_judged_by_the_bytes() {
    let (server, guests) = setup().await;
    set_rules(
        &server,
        json!([{"id": "images-only", "content_types": ["image/jpeg", "image/png"]}]),
    )
    .await;
    let (_, keys) = guests.one(&server).await;
    let c = keys.s3(&server);
    // A Windows executable renamed cat.jpg, declared image/jpeg: refused, nothing stored.
    let (code, msg, _) = put(&c, "cat.jpg", EXE, Some("image/jpeg"))
        .await
        .unwrap_err();
    assert_eq!(code, "AccessDenied", "{msg}");
    assert!(
        msg.contains("images-only") && msg.contains("x-msdownload"),
        "{msg}"
    );
    assert!(!exists(&server, "cat.jpg").await);
    // A real JPEG is accepted.
    put(&c, "cat.jpg", JPEG, Some("image/jpeg")).await.unwrap();
    assert_eq!(stored(&server, "cat.jpg").await.as_ref(), JPEG);
    // PNG bytes declared as JPEG: the declaration must agree with the bytes.
    assert_eq!(
        put(&c, "lie.jpg", PNG, Some("image/jpeg"))
            .await
            .unwrap_err()
            .0,
        "AccessDenied"
    );
    // A type not on the list is refused before the body is read.
    let (code, msg, _) = put(&c, "page.html", JPEG, Some("text/html"))
        .await
        .unwrap_err();
    assert_eq!(code, "AccessDenied");
    assert!(msg.contains("text/html"), "{msg}");
    // A generic declared type defers to the bytes.
    put(&c, "photo.png", PNG, Some("binary/octet-stream"))
        .await
        .unwrap();
}

/// A large body signed with its SHA-256 whose first bytes arrive alone: the content check
/// holds them back until it has 512 bytes, and they must still count in the payload hash
/// (computed on a side thread for bodies over 1 MiB).
#[tokio::test]
async fn a_signed_body_whose_head_arrives_alone_is_hashed_whole() {
    use std::io::{Read as _, Write as _};
    let (server, guests) = setup().await;
    set_rules(
        &server,
        json!([{"id": "images-only", "content_types": ["image/jpeg"]}]),
    )
    .await;
    let (_, keys) = guests.one(&server).await;
    let mut body = JPEG[..JPEG.len() - 2].to_vec();
    body.extend(data(2 * 1024 * 1024, 7));
    let url = format!("{}/{BUCKET}/split.jpg", server.endpoint);
    let (mut parts, ()) = http::Request::put(url.as_str())
        .header("content-type", "image/jpeg")
        .header("content-length", body.len().to_string())
        .body(())
        .unwrap()
        .into_parts();
    keys.sign(&mut parts, &body);
    let mut head = format!("PUT /{BUCKET}/split.jpg HTTP/1.1\r\n");
    for (k, v) in &parts.headers {
        head.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
    }
    head.push_str("connection: close\r\n\r\n");
    let addr = server.endpoint.trim_start_matches("http://").to_owned();
    let sent = body.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&sent[..100]).unwrap();
        s.flush().unwrap();
        // Long enough for the server to take the first 100 bytes as a chunk of their own.
        std::thread::sleep(std::time::Duration::from_millis(300));
        s.write_all(&sent[100..]).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        stored(&server, "split.jpg").await.as_ref() == body.as_slice(),
        "stored bytes differ"
    );
}

#[tokio::test]
async fn key_pattern_resolves_policy_variables_per_caller() {
    let (server, guests) = setup().await;
    set_rules(
        &server,
        json!([{"id": "own-folder", "applies_to": ["guests"], "key_pattern": "${cognito-identity.amazonaws.com:sub}/*"}]),
    )
    .await;
    let (me, keys) = guests.one(&server).await;
    let (other, _) = guests.one(&server).await;
    let c = keys.s3(&server);
    put(&c, &format!("{me}/a.txt"), b"mine", Some("text/plain"))
        .await
        .unwrap();
    let (code, msg, _) = put(&c, &format!("{other}/a.txt"), b"theirs", Some("text/plain"))
        .await
        .unwrap_err();
    assert_eq!(code, "AccessDenied");
    assert!(msg.contains("own-folder"), "{msg}");
    assert_eq!(
        put(&c, "loose.txt", b"x", None).await.unwrap_err().0,
        "AccessDenied"
    );
}

#[tokio::test]
async fn upload_rates_per_identity_and_per_address() {
    let (server, guests) = setup().await;
    set_rules(&server, json!([{"id": "slow", "uploads_per_minute": 3}])).await;
    let (_, keys) = guests.one(&server).await;
    let c = no_retry(&server, &keys);
    for i in 0..3 {
        put(&c, &format!("r{i}"), b"x", None).await.unwrap();
    }
    let e = c
        .put_object()
        .bucket(BUCKET)
        .key("r3")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    let raw = e.raw_response().unwrap();
    assert_eq!(raw.status().as_u16(), 503);
    let retry_after: i64 = raw.headers().get("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(code(&e), "SlowDown");
    // Another identity has its own allowance.
    let (_, other) = guests.one(&server).await;
    put(&no_retry(&server, &other), "o1", b"x", None)
        .await
        .unwrap();

    // Per source address: all guests here share 127.0.0.1.
    set_rules(
        &server,
        json!([{"id": "per-ip", "uploads_per_minute_per_ip": 2}]),
    )
    .await;
    let (_, a) = guests.one(&server).await;
    let (_, b) = guests.one(&server).await;
    put(&no_retry(&server, &a), "ip1", b"x", None)
        .await
        .unwrap();
    put(&no_retry(&server, &b), "ip2", b"x", None)
        .await
        .unwrap();
    assert_eq!(
        put(&no_retry(&server, &a), "ip3", b"x", None)
            .await
            .unwrap_err()
            .0,
        "SlowDown"
    );
}

#[tokio::test]
async fn twenty_racing_uploads_on_a_five_object_quota() {
    let (server, guests) = setup().await;
    set_rules(&server, json!([{"id": "five", "max_objects": 5}])).await;
    let (id, keys) = guests.one(&server).await;
    let c = keys.s3(&server);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move { put(&c, &format!("race/{i}"), &data(2048, i), None).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err((code, msg, _)) => {
                assert_eq!(code, "AccessDenied", "{msg}");
                assert!(msg.contains("five"), "{msg}");
            }
        }
    }
    assert_eq!(ok, 5, "exactly the quota succeeds");
    let listed = root(&server)
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("race/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(5));
    let u = usage(&server).await;
    let mine = u["owners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["owner"] == id.as_str())
        .unwrap();
    assert_eq!(
        (mine["objects"].as_i64(), mine["bytes"].as_i64()),
        (Some(5), Some(5 * 2048))
    );
    assert_eq!(u["reservationsInFlight"]["objects"], 0);
    // Overwriting is still an upload; deleting frees a slot (usage is counted from storage).
    root(&server)
        .delete_object()
        .bucket(BUCKET)
        .key("race/0")
        .send()
        .await
        .ok();
    let listed = root(&server)
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("race/")
        .send()
        .await
        .unwrap();
    let first = listed.contents()[0].key().unwrap().to_owned();
    root(&server)
        .delete_object()
        .bucket(BUCKET)
        .key(&first)
        .send()
        .await
        .unwrap();
    put(&c, "race/again", b"x", None).await.unwrap();
}

#[tokio::test]
async fn byte_quota_counts_what_is_stored() {
    let (server, guests) = setup().await;
    set_rules(
        &server,
        json!([{"id": "tenk", "prefix": "q/", "max_bytes": 10000}]),
    )
    .await;
    let (_, keys) = guests.one(&server).await;
    let c = keys.s3(&server);
    put(&c, "q/1", &[1u8; 4000], None).await.unwrap();
    put(&c, "q/2", &[2u8; 4000], None).await.unwrap();
    let (code, msg, _) = put(&c, "q/3", &[3u8; 4000], None).await.unwrap_err();
    assert_eq!(code, "AccessDenied");
    assert!(msg.contains("tenk") && msg.contains("bytes"), "{msg}");
    put(&c, "q/3", &[3u8; 2000], None).await.unwrap();
    // Outside the rule's prefix the quota does not apply.
    put(&c, "elsewhere", &[4u8; 8000], None).await.unwrap();
}

#[tokio::test]
async fn multipart_is_refused_at_the_part_that_crosses_the_limit() {
    let (server, guests) = setup().await;
    set_rules(
        &server,
        json!([{"id": "twelve", "max_size": "12 MiB", "max_objects": 2}]),
    )
    .await;
    let (_, keys) = guests.one(&server).await;
    let c = keys.s3(&server);
    let mb5 = data(5 << 20, 9);
    let up = c
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("big.bin")
        .send()
        .await
        .unwrap();
    let uid = up.upload_id().unwrap().to_owned();
    for n in 1..=2 {
        c.upload_part()
            .bucket(BUCKET)
            .key("big.bin")
            .upload_id(&uid)
            .part_number(n)
            .body(ByteStream::from(mb5.clone()))
            .send()
            .await
            .unwrap();
    }
    let e = c
        .upload_part()
        .bucket(BUCKET)
        .key("big.bin")
        .upload_id(&uid)
        .part_number(3)
        .body(ByteStream::from(mb5.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "EntityTooLarge");
    // Re-sending part 2 replaces it: the object stays within the limit.
    c.upload_part()
        .bucket(BUCKET)
        .key("big.bin")
        .upload_id(&uid)
        .part_number(2)
        .body(ByteStream::from(mb5.clone()))
        .send()
        .await
        .unwrap();

    // In-progress uploads count towards the object quota: a second is allowed, a third not.
    let up2 = c
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("b2")
        .send()
        .await
        .unwrap();
    let e = c
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("b3")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
    c.abort_multipart_upload()
        .bucket(BUCKET)
        .key("b2")
        .upload_id(up2.upload_id().unwrap())
        .send()
        .await
        .unwrap();
    c.create_multipart_upload()
        .bucket(BUCKET)
        .key("b3")
        .send()
        .await
        .unwrap();

    // Part 1 is checked for content as it arrives.
    set_rules(
        &server,
        json!([{"id": "jpeg", "content_types": ["image/jpeg"]}]),
    )
    .await;
    let up = c
        .create_multipart_upload()
        .bucket(BUCKET)
        .key("x.jpg")
        .content_type("image/jpeg")
        .send()
        .await
        .unwrap();
    let e = c
        .upload_part()
        .bucket(BUCKET)
        .key("x.jpg")
        .upload_id(up.upload_id().unwrap())
        .part_number(1)
        .body(ByteStream::from_static(EXE))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "AccessDenied");
}

#[tokio::test]
async fn post_forms_follow_the_rules() {
    let (server, guests) = setup().await;
    set_rules(
        &server,
        json!([{"id": "form-images", "content_types": ["image/jpeg"], "max_size": 100}]),
    )
    .await;
    let (_, keys) = guests.one(&server).await;
    let post = |file: &'static [u8], key: &'static str| {
        let keys = keys.clone();
        let endpoint = server.endpoint.clone();
        async move {
            let amz_date = cubby_auth::format_amz_date(now());
            let date = amz_date[..8].to_owned();
            let credential = format!("{}/{date}/us-east-1/s3/aws4_request", keys.ak);
            let token = keys.token.clone().unwrap();
            let conds = json!([
                {"bucket": BUCKET}, {"key": key}, {"Content-Type": "image/jpeg"},
                {"x-amz-algorithm": "AWS4-HMAC-SHA256"}, {"x-amz-credential": credential},
                {"x-amz-date": amz_date}, {"x-amz-security-token": token},
            ]);
            use base64::Engine as _;
            let policy = base64::engine::general_purpose::STANDARD.encode(
                json!({"expiration": cubby_auth::format_iso8601(now() + 600), "conditions": conds})
                    .to_string(),
            );
            let sk = cubby_auth::sigv4::signing_key(&keys.sk, &date, "us-east-1", "s3");
            let signature = cubby_auth::post_policy::sign_v4(&sk, &policy);
            let form = reqwest::multipart::Form::new()
                .text("key", key)
                .text("Content-Type", "image/jpeg")
                .text("x-amz-algorithm", "AWS4-HMAC-SHA256")
                .text("x-amz-credential", credential)
                .text("x-amz-date", amz_date)
                .text("x-amz-security-token", token)
                .text("policy", policy)
                .text("x-amz-signature", signature)
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(file.to_vec()).file_name("f"),
                );
            let r = reqwest::Client::new()
                .post(format!("{endpoint}/{BUCKET}"))
                .multipart(form)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (st, body) = post(EXE, "form-cat.jpg").await;
    assert_eq!(st, 403, "{body}");
    assert!(body.contains("form-images"), "{body}");
    assert!(!exists(&server, "form-cat.jpg").await);
    let (st, body) = post(JPEG, "form-ok.jpg").await;
    assert_eq!(st, 204, "{body}");
    let big: &'static [u8] = Box::leak({
        let mut v = JPEG.to_vec();
        v.extend_from_slice(&[0u8; 200]);
        v.into_boxed_slice()
    });
    let (st, body) = post(big, "form-big.jpg").await;
    assert_eq!(st, 400, "{body}");
    assert!(body.contains("EntityTooLarge"), "{body}");
}

#[tokio::test]
async fn kill9_with_uploads_in_flight_leaks_no_reservation() {
    let (mut server, guests) = setup().await;
    set_rules(&server, json!([{"id": "ten", "max_objects": 10}])).await;
    let (id, keys) = guests.one(&server).await;
    let c = keys.s3(&server);
    for i in 0..3 {
        put(&c, &format!("k/{i}"), b"stored", None).await.unwrap();
    }
    // Five uploads that send half their body and then stall, holding reservations.
    let mut stalled = Vec::new();
    for i in 0..5 {
        stalled.push(StalledPut::start(&c, BUCKET, &format!("k/stalled{i}")).await);
    }
    // Wait until the server holds the five reservations.
    let mut held = 0;
    for _ in 0..100 {
        held = usage(&server).await["reservationsInFlight"]["objects"]
            .as_i64()
            .unwrap();
        if held == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(held, 5, "the stalled uploads hold reservations");
    server.kill9();
    drop(stalled);
    server.restart();
    // After restart: usage equals what is stored, no reservation survived.
    let u = usage(&server).await;
    let mine = u["owners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["owner"] == id.as_str())
        .unwrap()
        .clone();
    let listed = root(&server)
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("k/")
        .send()
        .await
        .unwrap();
    assert_eq!(
        mine["objects"].as_i64(),
        Some(listed.key_count().unwrap() as i64)
    );
    assert_eq!(mine["objects"].as_i64(), Some(3));
    assert_eq!(u["reservationsInFlight"]["objects"], 0);
    // So exactly seven more fit.
    let c = keys.s3(&server);
    for i in 0..7 {
        put(&c, &format!("k/after{i}"), b"x", None).await.unwrap();
    }
    assert_eq!(
        put(&c, "k/one-too-many", b"x", None).await.unwrap_err().0,
        "AccessDenied"
    );
}
