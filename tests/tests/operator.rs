//! Operator experience (issue 9): the zero-config seed setup, `cubby.toml` + `cubby apply`
//! (plans, idempotence, coexistence with API-made resources, file:line errors), `cubby init`,
//! `cubby presign`, readiness.
#![allow(clippy::unwrap_used)]

mod common;
mod idhelp;

use aws_sdk_s3::primitives::ByteStream;
use common::*;
use idhelp::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(cubby_tests::binary())
        .args(args)
        .env("CUBBY_ROOT_ACCESS_KEY_ID", cubby_tests::ROOT_KEY)
        .env("CUBBY_ROOT_SECRET_ACCESS_KEY", cubby_tests::ROOT_SECRET)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A scratch directory, removed when dropped.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(tag: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("cubby-op-{tag}-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}

/// `cubby apply` against `server`; returns the plan lines (those naming a resource).
fn apply(server: &Server, config: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "apply",
        "--config",
        config.to_str().unwrap(),
        "--endpoint",
        &server.endpoint,
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "apply failed:\n{out}\n{err}");
    out.lines()
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with("create") || t.starts_with("update") || t.starts_with("unchanged")
        })
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The value of a banner row (`  identity pool id   us-east-1:…`), last banner printed.
fn banner_value(log: &str, row: &str) -> Option<String> {
    log.lines().rev().find_map(|l| {
        l.trim_start()
            .strip_prefix(row)
            .map(|v| v.trim().to_owned())
    })
}

#[tokio::test]
async fn seeded_server_serves_the_seed_setup_with_stable_ids() {
    let mut server = Server::start_seeded();
    let log = server.log();
    let pool = banner_value(&log, "identity pool id").expect(&log);
    let user_pool = banner_value(&log, "user pool id ").expect(&log);
    let client_id = banner_value(&log, "user pool client id").expect(&log);
    assert_eq!(banner_value(&log, "bucket").as_deref(), Some("uploads"));
    assert!(log.contains("/_cubby/console/"), "{log}");
    assert!(pool.starts_with("us-east-1:"), "{pool}");
    assert!(user_pool.starts_with("us-east-1_"), "{user_pool}");
    assert!(!client_id.is_empty());

    // The bucket has the seed's CORS and public-access block.
    let s3 = root(&server);
    let cors = s3.get_bucket_cors().bucket("uploads").send().await.unwrap();
    assert!(
        cors.cors_rules()[0]
            .allowed_origins()
            .contains(&"http://localhost:5173".to_owned())
    );
    let pab = s3
        .get_public_access_block()
        .bucket("uploads")
        .send()
        .await
        .unwrap();
    assert_eq!(
        pab.public_access_block_configuration()
            .unwrap()
            .block_public_policy(),
        Some(true)
    );

    // A guest of the identity pool may upload but not read (the seed's guest role).
    let ci = cognito_anon(&server);
    let id = ci
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_owned();
    let creds = ci
        .get_credentials_for_identity()
        .identity_id(&id)
        .send()
        .await
        .unwrap();
    let guest = Keys::from(creds.credentials().unwrap()).s3(&server);
    guest
        .put_object()
        .bucket("uploads")
        .key(format!("guest/{id}/a.txt"))
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    let denied = guest
        .get_object()
        .bucket("uploads")
        .key(format!("guest/{id}/a.txt"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&denied), 403);

    // The user pool answers discovery; the identity pool accepts its tokens' issuer.
    let disco = reqwest::get(format!(
        "{}/{user_pool}/.well-known/openid-configuration",
        server.endpoint
    ))
    .await
    .unwrap();
    assert_eq!(disco.status().as_u16(), 200);
    let desc = cognito(&server)
        .describe_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    let providers = desc.cognito_identity_providers();
    assert_eq!(providers.len(), 1);
    assert_eq!(providers[0].client_id(), Some(client_id.as_str()));
    assert!(
        providers[0]
            .provider_name()
            .unwrap()
            .ends_with(&format!("/{user_pool}")),
        "{providers:?}"
    );

    // Restart: the same ids, nothing created twice.
    server.restart();
    server.wait_ready();
    let log = server.log();
    assert_eq!(banner_value(&log, "identity pool id"), Some(pool.clone()));
    assert_eq!(banner_value(&log, "user pool id "), Some(user_pool));
    assert_eq!(banner_value(&log, "user pool client id"), Some(client_id));
    let pools = cognito(&server)
        .list_identity_pools()
        .max_results(60)
        .send()
        .await
        .unwrap();
    assert_eq!(pools.identity_pools().len(), 1);

    // `cubby init` writes the very setup the server applied: applying it changes nothing.
    let dir = temp_dir("init");
    let (code, out, err) = run(&["init", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let file = dir.join("cubby.toml");
    let plan = apply(&server, &file, &[]);
    assert_eq!(plan.len(), 7, "{plan:?}");
    assert!(plan.iter().all(|l| l.starts_with("unchanged")), "{plan:?}");
    // …and refuses to overwrite an existing file.
    let (code, _, err) = run(&["init", dir.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("--force"), "{err}");
}

const TRUST_OIDC: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
  "Principal":{"Federated":"arn:aws:iam::000000000000:oidc-provider/issuer.example.com"},
  "Action":"sts:AssumeRoleWithWebIdentity",
  "Condition":{"StringEquals":{"issuer.example.com:aud":"app"}}}]}"#;

fn full_config(cors_origin: &str) -> String {
    format!(
        r#"
[[bucket]]
name = "photos"
public_access_block = {{ block_public_acls = true, ignore_public_acls = true, block_public_policy = false, restrict_public_buckets = false }}
policy_file = "bucket-policy.json"

[[bucket.cors]]
allowed_origins = ["{cors_origin}"]
allowed_methods = ["PUT", "GET"]
allowed_headers = ["*"]
expose_headers = ["ETag"]
max_age_seconds = 600

[[policy]]
name = "ReadPhotos"
description = "read everything in photos"
document = '{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}}]}}'

[[oidc_provider]]
url = "https://issuer.example.com"
client_ids = ["app"]

[[role]]
name = "Partner"
trust_policy = '''{TRUST_OIDC}'''
managed_policies = ["ReadPhotos"]
max_session_duration = 7200

[[role]]
name = "Member"
trust = {{ identity_pool = "app", amr = "authenticated" }}

[[role.inline_policy]]
name = "own"
file = "own.json"

[[role]]
name = "Admins"
trust = {{ identity_pool = "app", amr = "authenticated" }}
managed_policies = ["ReadPhotos"]

[[user_pool]]
name = "people"
username_attributes = ["email"]

[[user_pool.client]]
name = "spa"
explicit_auth_flows = ["ALLOW_USER_SRP_AUTH"]

[[identity_pool]]
name = "app"
allow_unauthenticated = false
allow_classic_flow = true
user_pools = [{{ user_pool = "people", client = "spa" }}]
openid_providers = ["https://issuer.example.com"]

[identity_pool.roles]
authenticated = "Member"

[[identity_pool.role_mapping]]
user_pool = {{ user_pool = "people", client = "spa" }}
type = "Rules"
ambiguous_role_resolution = "AuthenticatedRole"

[[identity_pool.role_mapping.rule]]
claim = "cognito:groups"
match_type = "Contains"
value = "admins"
role = "Admins"
"#
    )
}

#[tokio::test]
async fn apply_creates_then_reports_unchanged_and_updates_only_what_changed() {
    let server = Server::start();
    let dir = temp_dir("apply");
    std::fs::write(
        dir.join("bucket-policy.json"),
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::photos/*"}]}"#,
    )
    .unwrap();
    std::fs::write(dir.join("own.json"), own_folder_policy("photos")).unwrap();
    let file = dir.join("cubby.toml");
    std::fs::write(&file, full_config("http://localhost:5173")).unwrap();

    // Something made through the API beforehand: apply leaves it alone.
    root(&server)
        .create_bucket()
        .bucket("made-by-api")
        .send()
        .await
        .unwrap();

    // A dry run changes nothing.
    let plan = apply(&server, &file, &["--dry-run"]);
    assert!(plan.iter().all(|l| l.starts_with("create")), "{plan:?}");
    let missing = root(&server).head_bucket().bucket("photos").send().await;
    assert!(missing.is_err(), "dry run created the bucket");

    let first = apply(&server, &file, &[]);
    let kinds: Vec<&str> = first.iter().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "bucket",
            "user_pool",
            "user_pool_client",
            "oidc_provider",
            "identity_pool",
            "policy",
            "role",
            "role",
            "role",
            "identity_pool_roles"
        ],
        "{first:?}"
    );
    assert!(first.iter().all(|l| l.starts_with("create")), "{first:?}");

    let second = apply(&server, &file, &[]);
    assert_eq!(second.len(), first.len());
    assert!(
        second.iter().all(|l| l.starts_with("unchanged")),
        "second apply is not a no-op: {second:?}"
    );

    // What the file says is what the APIs report.
    let s3 = root(&server);
    let cors = s3.get_bucket_cors().bucket("photos").send().await.unwrap();
    assert_eq!(cors.cors_rules()[0].max_age_seconds(), Some(600));
    assert!(s3.head_bucket().bucket("made-by-api").send().await.is_ok());
    let iam = iam(&server);
    let partner = iam.get_role().role_name("Partner").send().await.unwrap();
    assert_eq!(partner.role().unwrap().max_session_duration(), Some(7200));
    let attached = iam
        .list_attached_role_policies()
        .role_name("Partner")
        .send()
        .await
        .unwrap();
    assert_eq!(
        attached.attached_policies()[0].policy_name(),
        Some("ReadPhotos")
    );
    let pools = cognito(&server)
        .list_identity_pools()
        .max_results(10)
        .send()
        .await
        .unwrap();
    let pool_id = pools.identity_pools()[0]
        .identity_pool_id()
        .unwrap()
        .to_owned();
    let member = iam.get_role().role_name("Member").send().await.unwrap();
    let trust = percent_decode(
        member
            .role()
            .unwrap()
            .assume_role_policy_document()
            .unwrap(),
    );
    assert!(trust.contains(&pool_id), "trust names the pool: {trust}");
    let roles = cognito(&server)
        .get_identity_pool_roles()
        .identity_pool_id(&pool_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        roles
            .roles()
            .unwrap()
            .get("authenticated")
            .map(String::as_str),
        Some(member.role().unwrap().arn())
    );
    let mappings = roles.role_mappings().unwrap();
    assert_eq!(mappings.len(), 1);
    let (key, mapping) = mappings.iter().next().unwrap();
    assert!(key.contains("/us-east-1_"), "user-pool provider key: {key}");
    assert_eq!(
        mapping.rules_configuration().unwrap().rules()[0].value(),
        "admins"
    );

    // Change one thing: only that resource is updated.
    std::fs::write(&file, full_config("https://app.example.com")).unwrap();
    let third = apply(&server, &file, &[]);
    let changed: Vec<&String> = third
        .iter()
        .filter(|l| !l.starts_with("unchanged"))
        .collect();
    assert_eq!(changed.len(), 1, "{third:?}");
    assert!(changed[0].starts_with("update bucket photos"), "{third:?}");
    assert!(changed[0].contains("cors"), "{third:?}");
    let cors = s3.get_bucket_cors().bucket("photos").send().await.unwrap();
    assert_eq!(
        cors.cors_rules()[0].allowed_origins(),
        ["https://app.example.com".to_owned()]
    );

    // A change made through the API is put back by the next apply.
    iam.put_role_policy()
        .role_name("Member")
        .policy_name("own")
        .policy_document(policy(serde_json::json!([allow(&["s3:*"], &["*"])])))
        .send()
        .await
        .unwrap();
    let fourth = apply(&server, &file, &[]);
    let changed: Vec<&String> = fourth
        .iter()
        .filter(|l| !l.starts_with("unchanged"))
        .collect();
    assert_eq!(changed.len(), 1, "{fourth:?}");
    assert!(changed[0].contains("inline policy own"), "{fourth:?}");
}

/// Bucket encryption and event notifications declared in the file: applied, then unchanged;
/// a changed filter is an update; the target must be one the server knows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_declares_bucket_encryption_and_notifications() {
    // The target is declared but down: configuring needs only that the server knows it.
    let server = Server::start_with(&[("CUBBY_NOTIFY_WEBHOOK_THUMBS", "http://127.0.0.1:9/")]);
    let dir = temp_dir("apply-events");
    let file = dir.join("cubby.toml");
    let config = |prefix: &str| {
        format!(
            r#"
[[bucket]]
name = "photos"
encryption = "AES256"

[[bucket.notification]]
target = "thumbs"
events = ["s3:ObjectCreated:*"]
prefix = "{prefix}"
suffix = ".jpg"
"#
        )
    };
    std::fs::write(&file, config("private/")).unwrap();
    let first = apply(&server, &file, &[]);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].starts_with("create"), "{first:?}");
    let second = apply(&server, &file, &[]);
    assert!(second[0].starts_with("unchanged"), "{second:?}");

    let s3 = root(&server);
    let enc = s3
        .get_bucket_encryption()
        .bucket("photos")
        .send()
        .await
        .unwrap();
    let alg = enc.server_side_encryption_configuration().unwrap().rules()[0]
        .apply_server_side_encryption_by_default()
        .unwrap()
        .sse_algorithm()
        .as_str()
        .to_owned();
    assert_eq!(alg, "AES256");
    let n = s3
        .get_bucket_notification_configuration()
        .bucket("photos")
        .send()
        .await
        .unwrap();
    let q = &n.queue_configurations()[0];
    assert!(q.queue_arn().ends_with(":thumbs"), "{}", q.queue_arn());
    assert_eq!(q.id(), Some("thumbs"));
    // An object is now stored encrypted by the bucket default.
    let put = s3
        .put_object()
        .bucket("photos")
        .key("private/a.jpg")
        .body(b"jpeg".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.server_side_encryption().map(|e| e.as_str()),
        Some("AES256")
    );

    std::fs::write(&file, config("public/")).unwrap();
    let third = apply(&server, &file, &[]);
    assert!(
        third[0].starts_with("update") && third[0].contains("notifications"),
        "{third:?}"
    );
    let n = s3
        .get_bucket_notification_configuration()
        .bucket("photos")
        .send()
        .await
        .unwrap();
    let rules = n.queue_configurations()[0]
        .filter()
        .unwrap()
        .key()
        .unwrap()
        .filter_rules();
    assert!(
        rules.iter().any(|r| r.value() == Some("public/")),
        "{rules:?}"
    );

    // A target the server does not know fails the apply (S3 answers InvalidArgument).
    std::fs::write(
        &file,
        config("public/").replace("target = \"thumbs\"", "target = \"nowhere\""),
    )
    .unwrap();
    let (code, _out, err) = run(&[
        "apply",
        "--config",
        file.to_str().unwrap(),
        "--endpoint",
        &server.endpoint,
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("InvalidArgument"), "{err}");
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let hex = s
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (s.as_bytes()[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn config_errors_name_file_and_line() {
    let dir = temp_dir("errors");
    let cases: &[(&str, usize, &str)] = &[
        // TOML syntax.
        (
            "[[bucket]]\nname = \"ok-bucket\"\ncors = [\n",
            3,
            "unclosed array",
        ),
        // Unknown key.
        (
            "[[bucket]]\nname = \"ok-bucket\"\n\nencryptoin = 1\n",
            4,
            "encryptoin",
        ),
        // A reference to a role that does not exist.
        (
            "[[identity_pool]]\nname = \"p\"\n\n[identity_pool.roles]\nauthenticated = \"Ghost\"\n",
            5,
            "Ghost",
        ),
        // A policy document the policy engine rejects.
        (
            "[[role]]\nname = \"R\"\ntrust_policy = '{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"sts:AssumeRole\"}]}'\n",
            3,
            "",
        ),
    ];
    for (i, (text, line, word)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let p = path.to_str().unwrap();
        let (code, out, err) = run(&["validate", p]);
        assert_ne!(code, 0, "case {i} accepted: {out}");
        assert!(
            err.contains(&format!("{p}:{line}:")),
            "case {i}: expected {p}:{line}: in {err}"
        );
        assert!(err.contains(word), "case {i}: {err}");
    }
    // `serve` refuses to start on a bad file, with the same message.
    let bad = dir.join("bad2.toml");
    let port = cubby_tests::free_port().to_string();
    let data = dir.join("data");
    let (code, _, err) = run(&[
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--data-dir",
        data.to_str().unwrap(),
        "--config",
        bad.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains(&format!("{}:5:", bad.display())), "{err}");
}

#[tokio::test]
async fn presigned_urls_from_the_cli_work() {
    let server = Server::start();
    root(&server)
        .create_bucket()
        .bucket("docs")
        .send()
        .await
        .unwrap();
    let (code, put_url, err) = run(&[
        "presign",
        "s3://docs/a b/ü.txt",
        "--method",
        "put",
        "--expires-in",
        "300",
        "--endpoint",
        &server.endpoint,
    ]);
    assert_eq!(code, 0, "{err}");
    let client = reqwest::Client::new();
    let r = client
        .put(put_url.trim())
        .body("presigned body")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let (code, get_url, err) = run(&[
        "presign",
        "s3://docs/a b/ü.txt",
        "--endpoint",
        &server.endpoint,
    ]);
    assert_eq!(code, 0, "{err}");
    let r = client.get(get_url.trim()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "presigned body");
    // A tampered URL is refused.
    let tampered = get_url
        .trim()
        .replace("X-Amz-Expires=3600", "X-Amz-Expires=3601");
    let r = client.get(tampered).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
}

#[test]
fn help_reads_like_a_manual_and_completions_generate() {
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    for word in [
        "serve",
        "init",
        "apply",
        "presign",
        "admin",
        "completions",
        "GETTING STARTED",
    ] {
        assert!(out.contains(word), "--help lacks {word}:\n{out}");
    }
    let (code, out, _) = run(&["completions", "bash"]);
    assert_eq!(code, 0);
    assert!(out.contains("_cubby()"), "{out}");
}

/// The value of one sample line of a Prometheus exposition (`name{labels} value`).
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|x| l.contains(x)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .reduce(|a, b| a + b)
}

#[tokio::test]
async fn metrics_and_access_log_after_traffic() {
    let server = Server::start_seeded_with(
        &[("CUBBY_LOG", "warn,access=info")],
        &["--log-format", "json"],
    );
    let pool = banner_value(&server.log(), "identity pool id").unwrap();

    // A guest mints credentials, uploads (allowed) and reads (denied by policy).
    let ci = cognito_anon(&server);
    let id = ci
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_owned();
    let creds = ci
        .get_credentials_for_identity()
        .identity_id(&id)
        .send()
        .await
        .unwrap();
    let guest = Keys::from(creds.credentials().unwrap()).s3(&server);
    guest
        .put_object()
        .bucket("uploads")
        .key("m/a.bin")
        .body(ByteStream::from(vec![7u8; 1000]))
        .send()
        .await
        .unwrap();
    assert!(
        guest
            .get_object()
            .bucket("uploads")
            .key("m/a.bin")
            .send()
            .await
            .is_err()
    );
    // A wrong secret fails authentication.
    let bad = s3(
        &server.endpoint,
        cubby_tests::ROOT_KEY,
        "not-the-secret",
        None,
    );
    assert!(bad.list_buckets().send().await.is_err());

    let text = reqwest::get(format!("{}/_cubby/metrics", server.endpoint))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let has = |name: &str, labels: &[&str]| {
        let v = sample(&text, name, labels);
        assert!(
            v.is_some_and(|v| v > 0.0),
            "{name} {labels:?} missing:\n{text}"
        );
    };
    has(
        "cubby_http_requests_total",
        &["api=\"s3\"", "operation=\"PutObject\"", "status=\"200\""],
    );
    has(
        "cubby_http_requests_total",
        &["api=\"cognito-identity\"", "operation=\"GetId\""],
    );
    has(
        "cubby_http_request_duration_seconds_count",
        &["operation=\"PutObject\""],
    );
    has("cubby_http_request_bytes_total", &["api=\"s3\""]);
    assert!(sample(&text, "cubby_http_request_bytes_total", &["api=\"s3\""]).unwrap() >= 1000.0);
    has(
        "cubby_http_response_bytes_total",
        &["api=\"cognito-identity\""],
    );
    has(
        "cubby_auth_failures_total",
        &["api=\"s3\"", "reason=\"SignatureDoesNotMatch\""],
    );
    has("cubby_policy_decisions_total", &["decision=\"allow\""]);
    has("cubby_policy_decisions_total", &["decision=\"deny\""]);
    has(
        "cubby_credentials_issued_total",
        &["operation=\"GetCredentialsForIdentity\""],
    );

    // One JSON access-log line per request, with who, what and the outcome.
    let log = server.log();
    let put: serde_json::Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["target"] == "access" && v["fields"]["operation"] == "PutObject")
        .unwrap_or_else(|| panic!("no access line for PutObject:\n{log}"));
    let f = &put["fields"];
    assert_eq!(f["status"], 200);
    assert_eq!(f["decision"], "allow");
    assert_eq!(f["identity_id"], id.as_str());
    assert!(
        f["principal"]
            .as_str()
            .unwrap()
            .contains(":assumed-role/CubbyGuestUpload/"),
        "{f}"
    );
    assert_eq!(f["bytes_in"], 1000);
    assert!(!f["request_id"].as_str().unwrap().is_empty());
    assert!(f["latency_ms"].as_f64().is_some());
}

#[tokio::test]
async fn admin_helpers_manage_users_and_identities() {
    let server = Server::start_seeded();
    let ep = server.endpoint.as_str();
    let admin = |args: &[&str]| {
        let mut all = vec!["admin"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--endpoint", ep]);
        run(&all)
    };
    let (code, out, err) = admin(&["pools"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("identity_pool") && out.contains(" uploads"),
        "{out}"
    );
    assert!(out.contains("user_pool") && out.contains(" users"), "{out}");

    // Users, by pool name.
    let (code, _, err) = run(&[
        "admin",
        "create-user",
        "users",
        "ann@example.com",
        "--password",
        "Correct-Horse-9",
        "--endpoint",
        ep,
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = admin(&["users", "users"]);
    assert_eq!(code, 0, "{err}");
    let line = out.lines().find(|l| l.contains("CONFIRMED")).expect(&out);
    assert!(line.ends_with("enabled"), "{out}");
    let (code, _, err) = admin(&["disable-user", "users", "ann@example.com"]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = admin(&["users", "users"]);
    assert!(out.contains("disabled"), "{out}");
    let (code, _, err) = admin(&["sign-out-user", "users", "ann@example.com"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = admin(&["delete-user", "users", "ann@example.com"]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = admin(&["users", "users"]);
    assert!(!out.contains("CONFIRMED"), "{out}");

    // Identities: a guest appears, and is gone once deleted.
    let pool = banner_value(&server.log(), "identity pool id").unwrap();
    let id = cognito_anon(&server)
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_owned();
    let (code, out, err) = admin(&["identities", "uploads"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&id) && out.contains("(guest)"), "{out}");
    let (code, _, err) = admin(&["delete-identity", &id]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = admin(&["identities", &pool]);
    assert!(!out.contains(&id), "{out}");
    // Unknown pool names are errors, not empty lists.
    let (code, _, err) = admin(&["users", "nope"]);
    assert_ne!(code, 0);
    assert!(err.contains("no user pool named nope"), "{err}");
}

#[tokio::test]
async fn rotating_an_access_key_cuts_off_the_old_one() {
    let server = Server::start();
    let old = user_with_policy(
        &server,
        "uploader",
        Some(&policy(serde_json::json!([allow(
            &["s3:ListAllMyBuckets"],
            &["*"]
        )]))),
    )
    .await;
    old.s3(&server).list_buckets().send().await.unwrap();
    let (code, out, err) = run(&[
        "admin",
        "rotate-access-key",
        "uploader",
        "--endpoint",
        &server.endpoint,
    ]);
    assert_eq!(code, 0, "{err}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap()
    };
    let (id, secret) = (field("access key id:"), field("secret access key:"));
    assert!(err.contains("deactivated"), "{err}");
    let denied = old.s3(&server).list_buckets().send().await.unwrap_err();
    assert_eq!(status(&denied), 403);
    s3(&server.endpoint, &id, &secret, None)
        .list_buckets()
        .send()
        .await
        .unwrap();
}

/// One Cognito user-pool JSON call (unsigned, as browsers make it).
async fn idp(server: &Server, op: &str, body: serde_json::Value) -> serde_json::Value {
    let r = reqwest::Client::new()
        .post(&server.endpoint)
        .header(
            "x-amz-target",
            format!("AWSCognitoIdentityProviderService.{op}"),
        )
        .header("content-type", "application/x-amz-json-1.1")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{op}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

/// Linux's number for the idle scheduling class.
const SCHED_IDLE: i64 = 5;

/// The scheduling policy of each of the server's credential-worker threads (from /proc).
fn credential_worker_policies(pid: u32) -> Vec<i64> {
    let mut policies = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = task.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        // Thread names are cut to 15 bytes: "cubby-credentia".
        if !comm.starts_with("cubby-credentia") {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
        // Fields after the parenthesised name: state is field 3, policy is field 41.
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        policies.push(after_name.split(' ').nth(38).unwrap().parse().unwrap());
    }
    policies
}

#[tokio::test]
async fn seed_setup_signed_in_users_get_their_own_folder() {
    let server = Server::start_seeded();
    let log = server.log();
    let pool = banner_value(&log, "identity pool id").unwrap();
    let user_pool = banner_value(&log, "user pool id ").unwrap();
    let client_id = banner_value(&log, "user pool client id").unwrap();
    let (code, _, err) = run(&[
        "admin",
        "create-user",
        &user_pool,
        "bea@example.com",
        "--password",
        "Another-Secret-7",
        "--endpoint",
        &server.endpoint,
    ]);
    assert_eq!(code, 0, "{err}");
    let auth = idp(
        &server,
        "InitiateAuth",
        serde_json::json!({
            "AuthFlow": "USER_PASSWORD_AUTH",
            "ClientId": client_id,
            "AuthParameters": {"USERNAME": "bea@example.com", "PASSWORD": "Another-Secret-7"},
        }),
    )
    .await;
    let id_token = auth["AuthenticationResult"]["IdToken"].as_str().unwrap();
    // The sign-in's Argon2id and RS256 work ran on the credential workers, which run below
    // the upload path: one thread per core, each in the idle scheduling class.
    assert_eq!(
        credential_worker_policies(server.pid().unwrap()),
        vec![SCHED_IDLE; std::thread::available_parallelism().unwrap().get()]
    );
    // The Logins key is the token's issuer without the scheme, as with Cognito.
    let provider = format!("127.0.0.1:{}/{user_pool}", server.port);
    let ci = cognito_anon(&server);
    let id = ci
        .get_id()
        .identity_pool_id(&pool)
        .logins(&provider, id_token)
        .send()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_owned();
    let creds = ci
        .get_credentials_for_identity()
        .identity_id(&id)
        .logins(&provider, id_token)
        .send()
        .await
        .unwrap();
    let me = Keys::from(creds.credentials().unwrap()).s3(&server);
    let mine = format!("private/{id}/photo.jpg");
    me.put_object()
        .bucket("uploads")
        .key(&mine)
        .body(ByteStream::from_static(b"jpeg"))
        .send()
        .await
        .unwrap();
    let got = me
        .get_object()
        .bucket("uploads")
        .key(&mine)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"jpeg"
    );
    let listed = me
        .list_objects_v2()
        .bucket("uploads")
        .prefix(format!("private/{id}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(1));
    // Someone else's folder, and the whole bucket, are out of reach.
    let other = me
        .put_object()
        .bucket("uploads")
        .key("private/us-east-1:00000000-0000-0000-0000-000000000000/x")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&other), 403);
    let all = me
        .list_objects_v2()
        .bucket("uploads")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&all), 403);
}

#[test]
fn apply_failures_name_the_resource_and_its_line() {
    let server = Server::start();
    let dir = temp_dir("applyerr");
    let file = dir.join("cubby.toml");
    // A public bucket policy while the public-access block forbids one: the server refuses.
    std::fs::write(
        &file,
        r#"# comment

[[bucket]]
name = "pub-bucket"
public_access_block = {}
policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pub-bucket/*"}]}'
"#,
    )
    .unwrap();
    let (code, _, err) = run(&[
        "apply",
        "--config",
        file.to_str().unwrap(),
        "--endpoint",
        &server.endpoint,
    ]);
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("{}:4: bucket pub-bucket", file.display())),
        "{err}"
    );
    assert!(err.contains("PutBucketPolicy: AccessDenied"), "{err}");
}

#[tokio::test]
async fn revoke_sessions_cuts_off_the_roles_older_sessions_only() {
    let server = Server::start_seeded();
    let pool = banner_value(&server.log(), "identity pool id").unwrap();
    let put = |keys: Keys, id: String| {
        let c = keys.s3(&server);
        async move {
            c.put_object()
                .bucket("uploads")
                .key(format!("guest/{id}/note.txt"))
                .body(ByteStream::from_static(b"hello"))
                .send()
                .await
        }
    };
    let (id, before) = new_guest(&server, &pool).await;
    put(before.clone(), id.clone()).await.unwrap();

    let (code, out, err) = run(&[
        "admin",
        "revoke-sessions",
        "CubbyGuestUpload",
        "--endpoint",
        &server.endpoint,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("CubbyGuestUpload: sessions issued before"),
        "{out}"
    );
    let e = put(before, id.clone()).await.unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");

    // Credentials the same identity gets afterwards work (the cut-off is the next whole
    // second after the command; issue times are whole seconds).
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let creds = cognito_anon(&server)
        .get_credentials_for_identity()
        .identity_id(&id)
        .send()
        .await
        .unwrap();
    put(Keys::from(creds.credentials().unwrap()), id)
        .await
        .unwrap();
}
