//! POST Object (browser form uploads, issue 7): SigV4 and legacy signatures, policy conditions
//! and their S3 errors, session credentials, anonymous public writes, success statuses and
//! redirects, size limits, checksums — and a real client's form (boto3 `generate_presigned_post`).
#![allow(clippy::unwrap_used)]

mod common;
mod idhelp;

use common::*;
use idhelp::*;
use serde_json::{Value, json};

const BUCKET: &str = "forms";

/// A multipart/form-data body: `fields`, then the file (when given), then `after`.
fn form_body(
    fields: &[(String, String)],
    file: Option<(&str, &[u8])>,
    after: &[(&str, &str)],
) -> (String, Vec<u8>) {
    let boundary = "----cubbyFormBoundary7MA4YWxkTrZu0gW";
    let mut b = Vec::new();
    let mut field = |name: &str, value: &[u8], filename: Option<&str>| {
        b.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => b.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => b.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        b.extend_from_slice(value);
        b.extend_from_slice(b"\r\n");
    };
    for (k, v) in fields {
        field(k, v.as_bytes(), None);
    }
    if let Some((name, data)) = file {
        field("file", data, Some(name));
    }
    for (k, v) in after {
        field(k, v.as_bytes(), None);
    }
    b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), b)
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A SigV4-signed form: the credential fields, the policy (`conditions` plus the credential
/// conditions) and its signature, followed by `fields`.
fn signed_form(
    keys: &Keys,
    conditions: &[Value],
    fields: &[(&str, &str)],
    expiration: &str,
) -> Vec<(String, String)> {
    let now = now();
    let amz_date = cubby_auth::format_amz_date(now);
    let date = &amz_date[..8];
    let credential = format!("{}/{date}/us-east-1/s3/aws4_request", keys.ak);
    let mut conds: Vec<Value> = conditions.to_vec();
    conds.push(json!({"x-amz-algorithm": "AWS4-HMAC-SHA256"}));
    conds.push(json!({"x-amz-credential": credential}));
    conds.push(json!({"x-amz-date": amz_date}));
    let mut out: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(t) = &keys.token {
        conds.push(json!({"x-amz-security-token": t}));
        out.push(("x-amz-security-token".into(), t.clone()));
    }
    let policy = b64(&json!({"expiration": expiration, "conditions": conds}).to_string());
    let signing_key = cubby_auth::sigv4::signing_key(&keys.sk, date, "us-east-1", "s3");
    let signature = cubby_auth::post_policy::sign_v4(&signing_key, &policy);
    out.push(("x-amz-algorithm".into(), "AWS4-HMAC-SHA256".into()));
    out.push(("x-amz-credential".into(), credential));
    out.push(("x-amz-date".into(), amz_date));
    out.push(("policy".into(), policy));
    out.push(("x-amz-signature".into(), signature));
    out
}

fn in_an_hour() -> String {
    cubby_auth::format_iso8601(now() + 3600)
}

fn root_keys() -> Keys {
    Keys {
        ak: ROOT_KEY.into(),
        sk: ROOT_SECRET.into(),
        token: None,
    }
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    fn code(&self) -> String {
        tag(&self.body, "Code")
    }
    fn message(&self) -> String {
        tag(&self.body, "Message")
    }
}

fn tag(xml: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    xml.split_once(&open)
        .and_then(|(_, rest)| rest.split_once(&close))
        .map(|(v, _)| {
            v.replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        })
        .unwrap_or_default()
}

async fn post(url: &str, content_type: &str, body: Vec<u8>) -> Reply {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .post(url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    Reply {
        status,
        headers,
        body: r.text().await.unwrap(),
    }
}

async fn post_form(server: &Server, fields: &[(String, String)], file: (&str, &[u8])) -> Reply {
    let (ct, body) = form_body(fields, Some(file), &[]);
    post(&format!("{}/{BUCKET}", server.endpoint), &ct, body).await
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

async fn setup() -> Server {
    let server = Server::start();
    root(&server)
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    server
}

#[tokio::test]
async fn sigv4_form_with_filename_metadata_and_201() {
    let server = setup().await;
    let fields = signed_form(
        &root_keys(),
        &[
            json!({"bucket": BUCKET}),
            json!(["starts-with", "$key", "uploads/"]),
            json!(["starts-with", "$Content-Type", "image/"]),
            json!({"x-amz-meta-color": "blue"}),
            json!({"success_action_status": "201"}),
            json!(["content-length-range", 1, 1_000_000]),
        ],
        &[
            ("key", "uploads/${filename}"),
            ("bucket", BUCKET),
            ("Content-Type", "image/png"),
            ("X-Amz-Meta-Color", "blue"),
            ("success_action_status", "201"),
            ("x-ignore-tracking", "anything"),
        ],
        &in_an_hour(),
    );
    let data = data(100_000, 1);
    let r = post_form(&server, &fields, ("photo.png", &data)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let etag = format!(
        "\"{}\"",
        hex::encode(<md5::Md5 as md5::Digest>::digest(&data))
    );
    // As S3: no XML namespace on PostResponse.
    assert!(r.body.contains("\n<PostResponse><Location>"), "{}", r.body);
    assert_eq!(tag(&r.body, "Key"), "uploads/photo.png");
    assert_eq!(tag(&r.body, "Bucket"), BUCKET);
    assert_eq!(tag(&r.body, "ETag"), etag);
    assert_eq!(
        tag(&r.body, "Location"),
        format!("{}/{BUCKET}/uploads/photo.png", server.endpoint)
    );
    assert_eq!(r.headers["etag"], etag.as_str());

    let got = root(&server)
        .get_object()
        .bucket(BUCKET)
        .key("uploads/photo.png")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("image/png"));
    assert_eq!(
        got.metadata().unwrap().get("color").map(String::as_str),
        Some("blue")
    );
    assert_eq!(got.e_tag(), Some(etag.as_str()));
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), data);
}

#[tokio::test]
async fn success_statuses_and_redirect() {
    let server = setup().await;
    let form = |status: Option<&str>, redirect: Option<&str>| {
        let mut conds = vec![
            json!({"bucket": BUCKET}),
            json!(["starts-with", "$key", ""]),
        ];
        let mut fields = vec![("key", "s/${filename}")];
        if let Some(s) = status {
            conds.push(json!({"success_action_status": s}));
            fields.push(("success_action_status", s));
        }
        if let Some(u) = redirect {
            conds.push(json!([
                "starts-with",
                "$success_action_redirect",
                "http://app.example/"
            ]));
            fields.push(("success_action_redirect", u));
        }
        signed_form(&root_keys(), &conds, &fields, &in_an_hour())
    };
    let r = post_form(&server, &form(None, None), ("a.txt", b"a")).await;
    assert_eq!((r.status, r.body.as_str()), (204, ""));
    assert!(
        r.headers["location"]
            .to_str()
            .unwrap()
            .ends_with("/forms/s/a.txt")
    );
    let r = post_form(&server, &form(Some("200"), None), ("b.txt", b"b")).await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    // An invalid status falls back to 204.
    let r = post_form(&server, &form(Some("299"), None), ("c.txt", b"c")).await;
    assert_eq!(r.status, 204);
    let r = post_form(
        &server,
        &form(None, Some("http://app.example/done?x=1")),
        ("d e.txt", b"d"),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let etag = hex::encode(<md5::Md5 as md5::Digest>::digest(b"d"));
    assert_eq!(
        r.headers["location"].to_str().unwrap(),
        format!("http://app.example/done?x=1&bucket=forms&key=s%2Fd%20e.txt&etag=%22{etag}%22")
    );
    for k in ["s/a.txt", "s/b.txt", "s/c.txt", "s/d e.txt"] {
        assert!(exists(&server, k).await, "{k}");
    }
}

#[tokio::test]
async fn policy_violations_are_refused_as_s3_does() {
    let server = setup().await;
    let keys = root_keys();
    let base = [
        json!({"bucket": BUCKET}),
        json!(["starts-with", "$key", "ok/"]),
    ];
    let check = |r: Reply, status: u16, code: &str, msg: &str| {
        assert_eq!((r.status, r.code().as_str()), (status, code), "{}", r.body);
        assert!(r.message().contains(msg), "{} vs {msg}", r.message());
    };

    // Expired policy.
    let f = signed_form(&keys, &base, &[("key", "ok/1")], "2020-01-01T00:00:00.000Z");
    check(
        post_form(&server, &f, ("f", b"x")).await,
        403,
        "AccessDenied",
        "Invalid according to Policy: Policy expired.",
    );
    // A key outside the allowed prefix.
    let f = signed_form(&keys, &base, &[("key", "other/1")], &in_an_hour());
    check(
        post_form(&server, &f, ("f", b"x")).await,
        403,
        "AccessDenied",
        r#"Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "ok/"]"#,
    );
    // A field no condition covers (the SDKs' `bucket` field included).
    let f = signed_form(
        &keys,
        &base,
        &[("key", "ok/1"), ("acl", "private")],
        &in_an_hour(),
    );
    check(
        post_form(&server, &f, ("f", b"x")).await,
        403,
        "AccessDenied",
        "Invalid according to Policy: Extra input fields: acl",
    );
    // No key field.
    let f = signed_form(&keys, &base, &[], &in_an_hour());
    check(
        post_form(&server, &f, ("f", b"x")).await,
        400,
        "InvalidArgument",
        "Bucket POST must contain a field named 'key'.",
    );
    // A tampered signature.
    let mut f = signed_form(&keys, &base, &[("key", "ok/1")], &in_an_hour());
    f.last_mut().unwrap().1 = "0".repeat(64);
    check(
        post_form(&server, &f, ("f", b"x")).await,
        403,
        "SignatureDoesNotMatch",
        "does not match",
    );
    // An unknown access key.
    let other = Keys {
        ak: "AKIAUNKNOWN000000000".into(),
        sk: "x".into(),
        token: None,
    };
    let f = signed_form(&other, &base, &[("key", "ok/1")], &in_an_hour());
    check(
        post_form(&server, &f, ("f", b"x")).await,
        403,
        "InvalidAccessKeyId",
        "",
    );
    // The bucket condition names another bucket.
    let f = signed_form(
        &keys,
        &[
            json!({"bucket": "elsewhere"}),
            json!(["starts-with", "$key", ""]),
        ],
        &[("key", "ok/1")],
        &in_an_hour(),
    );
    check(
        post_form(&server, &f, ("f", b"x")).await,
        403,
        "AccessDenied",
        r#"Policy Condition failed: ["eq", "$bucket", "elsewhere"]"#,
    );
    // Malformed policy documents: 400.
    for doc in [
        json!({"conditions": [{"bucket": BUCKET}]}),
        json!({"expiration": "next week", "conditions": [{"bucket": BUCKET}]}),
        json!({"Expiration": in_an_hour(), "conditions": [{"bucket": BUCKET}]}),
        json!({"expiration": in_an_hour(), "conditions": []}),
    ] {
        let policy = b64(&doc.to_string());
        let amz_date = cubby_auth::format_amz_date(now());
        let key = cubby_auth::sigv4::signing_key(ROOT_SECRET, &amz_date[..8], "us-east-1", "s3");
        let f: Vec<(String, String)> = [
            ("key", "ok/1".to_string()),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256".into()),
            (
                "x-amz-credential",
                format!("{ROOT_KEY}/{}/us-east-1/s3/aws4_request", &amz_date[..8]),
            ),
            ("x-amz-date", amz_date.clone()),
            (
                "x-amz-signature",
                cubby_auth::post_policy::sign_v4(&key, &policy),
            ),
            ("policy", policy),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let r = post_form(&server, &f, ("f", b"x")).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidPolicyDocument"),
            "{doc}: {}",
            r.body
        );
    }
    // No file field at all.
    let f = signed_form(&keys, &base, &[("key", "ok/1")], &in_an_hour());
    let (ct, body) = form_body(&f, None, &[]);
    let r = post(&format!("{}/{BUCKET}", server.endpoint), &ct, body).await;
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"));
    // Not a form at all.
    let r = post(
        &format!("{}/{BUCKET}", server.endpoint),
        "text/plain",
        b"key=x".to_vec(),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (412, "PreconditionFailed"));
    // None of these wrote anything.
    let listed = root(&server)
        .list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(0));
}

#[tokio::test]
async fn content_length_range_and_checksums() {
    let server = setup().await;
    let keys = root_keys();
    let ranged = |key: &'static str| {
        signed_form(
            &keys,
            &[
                json!({"bucket": BUCKET}),
                json!({"key": key}),
                json!(["content-length-range", 10, 100]),
            ],
            &[("key", key)],
            &in_an_hour(),
        )
    };
    let r = post_form(&server, &ranged("big"), ("f", &[7u8; 101])).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "EntityTooLarge"),
        "{}",
        r.body
    );
    assert_eq!(tag(&r.body, "MaxSizeAllowed"), "100");
    let r = post_form(&server, &ranged("small"), ("f", &[7u8; 9])).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "EntityTooSmall"),
        "{}",
        r.body
    );
    assert_eq!(tag(&r.body, "MinSizeAllowed"), "10");
    assert_eq!(tag(&r.body, "ProposedSize"), "9");
    assert!(!exists(&server, "big").await && !exists(&server, "small").await);
    let r = post_form(&server, &ranged("fits"), ("f", &[7u8; 100])).await;
    assert_eq!(r.status, 204, "{}", r.body);

    // x-amz-checksum-* fields are verified against the file.
    use base64::Engine as _;
    let data = b"checksummed content";
    let good = base64::engine::general_purpose::STANDARD
        .encode(<sha2::Sha256 as sha2::Digest>::digest(data));
    let bad = base64::engine::general_purpose::STANDARD
        .encode(<sha2::Sha256 as sha2::Digest>::digest(b"other"));
    for (key, value, status) in [("ck-good", &good, 204), ("ck-bad", &bad, 400)] {
        let f = signed_form(
            &keys,
            &[
                json!({"bucket": BUCKET}),
                json!({"key": key}),
                json!({"x-amz-checksum-sha256": value}),
            ],
            &[("key", key), ("x-amz-checksum-sha256", value)],
            &in_an_hour(),
        );
        let r = post_form(&server, &f, ("f", data)).await;
        assert_eq!(r.status, status, "{}", r.body);
        if status == 400 {
            assert_eq!(r.code(), "BadDigest");
        }
    }
    assert!(exists(&server, "ck-good").await && !exists(&server, "ck-bad").await);
    let attrs = root(&server)
        .head_object()
        .bucket(BUCKET)
        .key("ck-good")
        .checksum_mode(aws_sdk_s3::types::ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(attrs.checksum_sha256(), Some(good.as_str()));
}

#[tokio::test]
async fn large_file_streams_and_later_fields_are_ignored() {
    let server = setup().await;
    let f = signed_form(
        &root_keys(),
        &[json!({"bucket": BUCKET}), json!({"key": "big.bin"})],
        &[("key", "big.bin")],
        &in_an_hour(),
    );
    let data = data(24 * 1024 * 1024 + 17, 9);
    // Fields after the file are ignored (not even checked against the policy).
    let (ct, body) = form_body(&f, Some(("big.bin", &data)), &[("x-amz-meta-late", "1")]);
    let r = post(&format!("{}/{BUCKET}", server.endpoint), &ct, body).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let got = root(&server)
        .get_object()
        .bucket(BUCKET)
        .key("big.bin")
        .send()
        .await
        .unwrap();
    assert!(got.metadata().is_none_or(|m| m.is_empty()));
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), data);

    // More than 20 KB of fields before the file: refused before the file is read.
    let mut f = signed_form(
        &root_keys(),
        &[
            json!({"bucket": BUCKET}),
            json!({"key": "x"}),
            json!(["starts-with", "$x-amz-meta-pad", ""]),
        ],
        &[("key", "x")],
        &in_an_hour(),
    );
    f.push(("x-amz-meta-pad".into(), "p".repeat(21 * 1024)));
    let r = post_form(&server, &f, ("x", b"x")).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "MaxPostPreDataLengthExceeded"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn legacy_v2_signature() {
    let server = setup().await;
    let policy = b64(&json!({
        "expiration": in_an_hour(),
        "conditions": [{"bucket": BUCKET}, ["starts-with", "$key", "v2/"]]
    })
    .to_string());
    let sig = cubby_auth::post_policy::sign_v2(ROOT_SECRET, &policy);
    let fields = |sig: &str| -> Vec<(String, String)> {
        [
            ("key", "v2/${filename}"),
            ("AWSAccessKeyId", ROOT_KEY),
            ("policy", policy.as_str()),
            ("signature", sig),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let r = post_form(&server, &fields(&sig), ("legacy.txt", b"v2")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(exists(&server, "v2/legacy.txt").await);
    let r = post_form(&server, &fields("bm90IGl0"), ("legacy2.txt", b"v2")).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "SignatureDoesNotMatch")
    );
    // A signature field without the policy it signs.
    let mut f = fields(&sig);
    f.retain(|(k, _)| k != "policy");
    let r = post_form(&server, &f, ("legacy3.txt", b"v2")).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "InvalidArgument"),
        "{}",
        r.body
    );
}

/// Guest credentials from an identity pool whose role may write `uploads/*` only.
async fn guest_keys(server: &Server) -> Keys {
    let pool = cognito(server)
        .create_identity_pool()
        .identity_pool_name("forms_app")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap()
        .identity_pool_id()
        .to_owned();
    let guest = role(
        server,
        "FormGuest",
        &cognito_trust(&pool, "unauthenticated"),
        Some(&policy(json!([allow(
            &["s3:PutObject"],
            &[&format!("arn:aws:s3:::{BUCKET}/uploads/*")]
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
    let anon = cognito_anon(server);
    let id = anon
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_owned();
    let out = anon
        .get_credentials_for_identity()
        .identity_id(id)
        .send()
        .await
        .unwrap();
    Keys::from(out.credentials().unwrap())
}

#[tokio::test]
async fn session_credentials_sign_forms_within_their_role() {
    let server = setup().await;
    let guest = guest_keys(&server).await;
    let form = |key: &str| {
        signed_form(
            &guest,
            &[
                json!({"bucket": BUCKET}),
                json!(["starts-with", "$key", ""]),
            ],
            &[("key", key)],
            &in_an_hour(),
        )
    };
    let r = post_form(&server, &form("uploads/guest.txt"), ("g", b"guest")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(exists(&server, "uploads/guest.txt").await);
    // The role does not allow this key: IAM's AccessDenied.
    let r = post_form(&server, &form("private/guest.txt"), ("g", b"guest")).await;
    assert_eq!(
        (r.status, r.code().as_str(), r.message().as_str()),
        (403, "AccessDenied", "Access Denied")
    );
    // The token must be covered by the policy like every other field.
    let mut f = form("uploads/t.txt");
    let token = guest.token.clone().unwrap();
    let without = signed_form(
        &Keys {
            token: None,
            ..guest.clone()
        },
        &[
            json!({"bucket": BUCKET}),
            json!(["starts-with", "$key", ""]),
        ],
        &[("key", "uploads/t.txt"), ("x-amz-security-token", &token)],
        &in_an_hour(),
    );
    let r = post_form(&server, &without, ("g", b"guest")).await;
    assert_eq!(r.code(), "AccessDenied");
    assert!(
        r.message()
            .contains("Extra input fields: x-amz-security-token"),
        "{}",
        r.body
    );
    // Without the token the session key id is unknown.
    f.retain(|(k, _)| k != "x-amz-security-token");
    let r = post_form(&server, &f, ("g", b"guest")).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(!exists(&server, "uploads/t.txt").await);
}

#[tokio::test]
async fn anonymous_post_only_where_the_bucket_allows_public_writes() {
    let server = Server::start_with(&[("CUBBY_S3_LEGACY_BUCKET_DEFAULTS", "1")]);
    let s3 = root(&server);
    for b in ["open", "closed"] {
        s3.create_bucket().bucket(b).send().await.unwrap();
    }
    s3.put_bucket_acl()
        .bucket("open")
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicReadWrite)
        .send()
        .await
        .unwrap();
    let fields = vec![("key".to_string(), "anon/${filename}".to_string())];
    let (ct, body) = form_body(&fields, Some(("hi.txt", b"anonymous")), &[]);
    let r = post(&format!("{}/open", server.endpoint), &ct, body.clone()).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let got = s3
        .get_object()
        .bucket("open")
        .key("anon/hi.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"anonymous"
    );
    let r = post(&format!("{}/closed", server.endpoint), &ct, body).await;
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"));

    // A bucket policy granting public PutObject works the same way.
    s3.put_bucket_policy()
        .bucket("closed")
        .policy(policy(
            json!([{"Effect": "Allow", "Principal": "*", "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::closed/drop/*"}]),
        ))
        .send()
        .await
        .unwrap();
    let fields = vec![("key".to_string(), "drop/${filename}".to_string())];
    let (ct, body) = form_body(&fields, Some(("hi.txt", b"anonymous")), &[]);
    let r = post(&format!("{}/closed", server.endpoint), &ct, body).await;
    assert_eq!(r.status, 204, "{}", r.body);
}

/// A real client's form: boto3's `generate_presigned_post`, posted with urllib3, with root keys
/// and with guest session credentials (`x-amz-security-token`).
#[tokio::test]
async fn boto3_generate_presigned_post() {
    let server = setup().await;
    let guest = guest_keys(&server).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/py/post_object_boto3.py");
    let run = |prefix: &str, keys: &Keys| {
        let mut cmd = std::process::Command::new("python3");
        cmd.arg(script)
            .arg(&server.endpoint)
            .arg(BUCKET)
            .arg(prefix)
            .arg(&keys.ak)
            .arg(&keys.sk);
        if let Some(t) = &keys.token {
            cmd.arg(t);
        }
        let out = cmd.output().expect("python3 with boto3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    for (prefix, keys) in [("boto3/", root_keys()), ("uploads/", guest.clone())] {
        let results = run(prefix, &keys);
        assert_eq!(results[0]["status"], 204, "{:?}", results[0]);
        assert_eq!(results[1]["status"], 201, "{:?}", results[1]);
        let body = results[1]["body"].as_str().unwrap();
        assert_eq!(tag(body, "Key"), format!("{prefix}hello.txt"));
        assert_eq!(results[2]["status"], 400);
        assert_eq!(
            tag(results[2]["body"].as_str().unwrap(), "Code"),
            "EntityTooLarge"
        );
        let got = root(&server)
            .get_object()
            .bucket(BUCKET)
            .key(format!("{prefix}hello.txt"))
            .send()
            .await
            .unwrap();
        assert_eq!(got.content_type(), Some("text/plain"));
        assert_eq!(got.metadata().unwrap()["origin"], "boto3");
        assert!(exists(&server, &format!("{prefix}plain.txt")).await);
        assert!(!exists(&server, &format!("{prefix}big.bin")).await);
    }
    // Guest session credentials outside the role's uploads/*: refused by IAM.
    let results = run("boto3-guest/", &guest);
    assert_eq!(results[0]["status"], 403, "{:?}", results[0]);
    assert_eq!(
        tag(results[0]["body"].as_str().unwrap(), "Message"),
        "Access Denied"
    );
}

#[tokio::test]
async fn sse_from_the_form_field_and_the_bucket_default() {
    let server = setup().await;
    let c = root(&server);
    // The form field asks for AES256: the response and the object say so.
    let fields = signed_form(
        &root_keys(),
        &[
            json!({"bucket": BUCKET}),
            json!({"key": "enc"}),
            json!({"x-amz-server-side-encryption": "AES256"}),
        ],
        &[("key", "enc"), ("x-amz-server-side-encryption", "AES256")],
        &in_an_hour(),
    );
    let r = post_form(&server, &fields, ("f.bin", b"secret form bytes")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(r.headers["x-amz-server-side-encryption"], "AES256");
    let h = c
        .head_object()
        .bucket(BUCKET)
        .key("enc")
        .send()
        .await
        .unwrap();
    assert_eq!(
        h.server_side_encryption().map(|s| s.as_str()),
        Some("AES256")
    );
    // aws:kms is not available here.
    let fields = signed_form(
        &root_keys(),
        &[
            json!({"bucket": BUCKET}),
            json!({"key": "kms"}),
            json!({"x-amz-server-side-encryption": "aws:kms"}),
        ],
        &[("key", "kms"), ("x-amz-server-side-encryption", "aws:kms")],
        &in_an_hour(),
    );
    let r = post_form(&server, &fields, ("f.bin", b"x")).await;
    assert_eq!((r.status, r.code()), (501, "NotImplemented".to_owned()));
    assert!(!exists(&server, "kms").await);

    // Without the field, a plain bucket stores plaintext; with a default, it encrypts.
    let plain = |key: &'static str| {
        signed_form(
            &root_keys(),
            &[json!({"bucket": BUCKET}), json!({"key": key})],
            &[("key", key)],
            &in_an_hour(),
        )
    };
    let r = post_form(&server, &plain("p1"), ("f.bin", b"x")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert!(!r.headers.contains_key("x-amz-server-side-encryption"));
    c.put_bucket_encryption()
        .bucket(BUCKET)
        .server_side_encryption_configuration(
            aws_sdk_s3::types::ServerSideEncryptionConfiguration::builder()
                .rules(
                    aws_sdk_s3::types::ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            aws_sdk_s3::types::ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(aws_sdk_s3::types::ServerSideEncryption::Aes256)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let r = post_form(&server, &plain("p2"), ("f.bin", b"by default")).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(r.headers["x-amz-server-side-encryption"], "AES256");
    let got = c
        .get_object()
        .bucket(BUCKET)
        .key("p2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.server_side_encryption().map(|s| s.as_str()),
        Some("AES256")
    );
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"by default"
    );
}
