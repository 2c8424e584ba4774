//! STS and sealed session credentials on S3 (issues 4 and 5): AssumeRole with and without
//! session policies, role policy edits on live sessions, DurationSeconds and policy
//! validation, and tampered, mismatched and expired session tokens.
#![allow(clippy::unwrap_used)]

mod common;
mod idhelp;

use aws_sdk_s3::primitives::ByteStream;
use common::*;
use idhelp::*;
use serde_json::json;

/// A bucket `data` with `shared/a` and `other/b`, a user `dev` (no permissions of its own) and a
/// role `worker` that trusts `dev` and may Get/Put/List the bucket. Returns (user keys, role ARN).
async fn setup(server: &Server) -> (Keys, String) {
    let root = root(server);
    root.create_bucket().bucket("data").send().await.unwrap();
    for k in ["shared/a", "other/b"] {
        root.put_object()
            .bucket("data")
            .key(k)
            .body(ByteStream::from_static(b"v"))
            .send()
            .await
            .unwrap();
    }
    let user = user_with_policy(server, "dev", None).await;
    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/dev")},
        "Action": "sts:AssumeRole"
    }]});
    let perms = policy(json!([allow(
        &["s3:GetObject", "s3:PutObject", "s3:ListBucket"],
        &["arn:aws:s3:::data", "arn:aws:s3:::data/*"]
    )]));
    let arn = role(server, "worker", &trust, Some(&perms)).await;
    (user, arn)
}

async fn get_ok(c: &aws_sdk_s3::Client, key: &str) -> bool {
    c.get_object().bucket("data").key(key).send().await.is_ok()
}

async fn put_ok(c: &aws_sdk_s3::Client, key: &str) -> bool {
    c.put_object()
        .bucket("data")
        .key(key)
        .body(ByteStream::from_static(b"w"))
        .send()
        .await
        .is_ok()
}

async fn list_ok(c: &aws_sdk_s3::Client) -> bool {
    c.list_objects_v2().bucket("data").send().await.is_ok()
}

#[tokio::test]
async fn assume_role_and_session_policies() {
    let server = Server::start();
    let (user, role_arn) = setup(&server).await;
    let sts = user.sts(&server);

    // The user itself may do nothing on S3.
    assert!(!get_ok(&user.s3(&server), "shared/a").await);

    // Plain AssumeRole: the role's permissions.
    let out = sts
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("full")
        .send()
        .await
        .unwrap();
    let who = out.assumed_role_user().unwrap();
    assert_eq!(
        who.arn(),
        "arn:aws:sts::000000000000:assumed-role/worker/full"
    );
    assert!(who.assumed_role_id().starts_with("AROA"));
    assert!(who.assumed_role_id().ends_with(":full"));
    let full: Keys = out.credentials().unwrap().clone().into();
    assert!(full.ak.starts_with("ASIA"));
    let exp = out.credentials().unwrap().expiration().secs();
    assert!((exp - now() - 3600).abs() < 60, "default duration is 1 h");
    let s3 = full.s3(&server);
    assert!(get_ok(&s3, "shared/a").await);
    assert!(get_ok(&s3, "other/b").await);
    assert!(put_ok(&s3, "shared/new").await);
    assert!(list_ok(&s3).await);
    let id = full
        .sts(&server)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(
        id.arn(),
        Some("arn:aws:sts::000000000000:assumed-role/worker/full")
    );

    // An inline session policy narrows: only GetObject on shared/*.
    let narrow = policy(json!([allow(
        &["s3:GetObject"],
        &["arn:aws:s3:::data/shared/*"]
    )]));
    let out = sts
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("narrow")
        .policy(&narrow)
        .duration_seconds(900)
        .send()
        .await
        .unwrap();
    let exp = out.credentials().unwrap().expiration().secs();
    assert!((exp - now() - 900).abs() < 60);
    let s3 = Keys::from(out.credentials().unwrap().clone()).s3(&server);
    assert!(get_ok(&s3, "shared/a").await);
    assert!(!get_ok(&s3, "other/b").await);
    assert!(!put_ok(&s3, "shared/c").await);
    assert!(!list_ok(&s3).await);

    // A session policy can never widen the role: DeleteObject is in the session policy but not
    // in the role's.
    let wide = policy(json!([allow(&["s3:*"], &["*"])]));
    let out = sts
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("wide")
        .policy(&wide)
        .send()
        .await
        .unwrap();
    let s3 = Keys::from(out.credentials().unwrap().clone()).s3(&server);
    assert!(get_ok(&s3, "other/b").await);
    let e = must_fail(s3.delete_object().bucket("data").key("other/b").send()).await;
    assert_eq!(code(&e), "AccessDenied");
    let e = must_fail(s3.create_bucket().bucket("newbucket").send()).await;
    assert_eq!(code(&e), "AccessDenied");

    // A managed policy passed as PolicyArns narrows as well.
    let iam = iam(&server);
    let listing = iam
        .create_policy()
        .policy_name("list-only")
        .policy_document(policy(json!([allow(
            &["s3:ListBucket"],
            &["arn:aws:s3:::data"]
        )])))
        .send()
        .await
        .unwrap()
        .policy()
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();
    let out = sts
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("arns")
        .policy_arns(
            aws_sdk_sts::types::PolicyDescriptorType::builder()
                .arn(&listing)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let s3 = Keys::from(out.credentials().unwrap().clone()).s3(&server);
    assert!(list_ok(&s3).await);
    assert!(!get_ok(&s3, "shared/a").await);

    // Role policy edits apply to live sessions.
    let s3 = full.s3(&server);
    iam.put_role_policy()
        .role_name("worker")
        .policy_name("deny-get")
        .policy_document(policy(json!([{
            "Effect": "Deny", "Action": "s3:GetObject", "Resource": "*"
        }])))
        .send()
        .await
        .unwrap();
    assert!(!get_ok(&s3, "shared/a").await);
    iam.delete_role_policy()
        .role_name("worker")
        .policy_name("deny-get")
        .send()
        .await
        .unwrap();
    assert!(get_ok(&s3, "shared/a").await);
}

#[tokio::test]
async fn assume_role_validation() {
    let server = Server::start();
    let (user, role_arn) = setup(&server).await;
    let sts = user.sts(&server);

    let e = must_fail(
        sts.assume_role()
            .role_arn(&role_arn)
            .role_session_name("long")
            .duration_seconds(7200)
            .send(),
    )
    .await;
    assert_eq!(err_code(&e), "ValidationError", "{e:?}");
    let e = must_fail(
        sts.assume_role()
            .role_arn(&role_arn)
            .role_session_name("short")
            .duration_seconds(899)
            .send(),
    )
    .await;
    assert_eq!(err_code(&e), "ValidationError", "{e:?}");
    let e = must_fail(
        sts.assume_role()
            .role_arn(&role_arn)
            .role_session_name("bad")
            .policy("{nope")
            .send(),
    )
    .await;
    assert!(
        e.as_service_error()
            .unwrap()
            .is_malformed_policy_document_exception(),
        "{e:?}"
    );
    let e = must_fail(
        sts.assume_role()
            .role_arn(&role_arn)
            .role_session_name("huge")
            .policy(policy(json!([allow(
                &["s3:GetObject"],
                &[&format!("arn:aws:s3:::data/{}", "x".repeat(2100))]
            )])))
            .send(),
    )
    .await;
    let c = err_code(&e);
    assert!(
        c == "PackedPolicyTooLarge" || c == "ValidationError",
        "{e:?}"
    );
    // A role that does not trust the caller.
    let other = user_with_policy(&server, "mallory", None).await;
    let e = must_fail(
        other
            .sts(&server)
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name("xx")
            .send(),
    )
    .await;
    assert_eq!(err_code(&e), "AccessDenied", "{e:?}");
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 403);
    // A role that does not exist.
    let e = must_fail(
        sts.assume_role()
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/ghost"))
            .role_session_name("xx")
            .send(),
    )
    .await;
    assert_eq!(err_code(&e), "AccessDenied", "{e:?}");
    // Unsigned STS calls that need a signature.
    let r = reqwest::Client::new()
        .post(format!("{}/", server.endpoint))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("Action=GetCallerIdentity&Version=2011-06-15")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("<Code>MissingAuthenticationToken</Code>"),
        "{body}"
    );
}

fn random34() -> [u8; 34] {
    let mut r = [0u8; 34];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut r);
    r
}

fn flip_at(s: &str, i: usize) -> String {
    let mut b = s.as_bytes().to_vec();
    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

#[tokio::test]
async fn tampered_and_mismatched_session_tokens_are_refused() {
    let server = Server::start();
    let (user, role_arn) = setup(&server).await;
    let sts = user.sts(&server);
    let mint = |name: &'static str| {
        let sts = sts.clone();
        let role_arn = role_arn.clone();
        async move {
            let out = sts
                .assume_role()
                .role_arn(role_arn)
                .role_session_name(name)
                .send()
                .await
                .unwrap();
            Keys::from(out.credentials().unwrap().clone())
        }
    };
    let a = mint("session-a").await;
    let b = mint("session-b").await;
    assert!(get_ok(&a.s3(&server), "shared/a").await);

    let token = a.token.clone().unwrap();
    for i in [0, 10, token.len() / 2, token.len() - 2] {
        let bad = Keys {
            token: Some(flip_at(&token, i)),
            ..a.clone()
        };
        let e = must_fail(
            bad.s3(&server)
                .get_object()
                .bucket("data")
                .key("shared/a")
                .send(),
        )
        .await;
        assert_eq!(status(&e), 403, "flip at {i}");
        assert_eq!(code(&e), "InvalidToken", "flip at {i}");
    }
    // Truncated, garbage, another session's token, a token on a long-term key.
    for bad in [
        Keys {
            token: Some(token[..token.len() / 2].to_owned()),
            ..a.clone()
        },
        Keys {
            token: Some("garbage".into()),
            ..a.clone()
        },
        Keys {
            token: b.token.clone(),
            ..a.clone()
        },
        Keys {
            ak: a.ak.clone(),
            sk: b.sk.clone(),
            token: b.token.clone(),
        },
        Keys {
            ak: user.ak.clone(),
            sk: user.sk.clone(),
            token: a.token.clone(),
        },
    ] {
        let e = must_fail(
            bad.s3(&server)
                .get_object()
                .bucket("data")
                .key("shared/a")
                .send(),
        )
        .await;
        assert_eq!(status(&e), 403, "{bad:?}");
    }
    // A session key without its token is unknown.
    let bare = Keys {
        token: None,
        ..a.clone()
    };
    let e = must_fail(
        bare.s3(&server)
            .get_object()
            .bucket("data")
            .key("shared/a")
            .send(),
    )
    .await;
    assert_eq!(code(&e), "InvalidAccessKeyId");
    // The tampered token on STS.
    let bad = Keys {
        token: Some(flip_at(&token, token.len() / 2)),
        ..a.clone()
    };
    let e = must_fail(bad.sts(&server).get_caller_identity().send()).await;
    assert_eq!(err_code(&e), "InvalidClientTokenId", "{e:?}");
}

/// Mint a session the way any cubby node does (`cubby-identity`'s `session::mint`): key id from
/// 10 random bytes, secret derived from it with the master key, token = the claims sealed to the
/// key id. The claims use the sealed format's short field names; a still-valid session minted
/// here must work on S3 (the test's control), so a format change cannot make the test vacuous.
fn mint_session(
    master: &cubby_auth::session::MasterKey,
    role_arn: &str,
    role_id: &str,
    issued: i64,
    expires: i64,
) -> Keys {
    let r = random34();
    let mut id = [0u8; 10];
    id.copy_from_slice(&r[..10]);
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(&r[10..]);
    let ak = cubby_auth::session::new_access_key_id(id);
    let claims = json!({
        "v": 1, "ra": role_arn, "ri": role_id, "sn": "minted", "ac": ACCOUNT,
        "ia": issued, "ex": expires
    });
    Keys {
        sk: cubby_auth::session::derive_secret(master, &ak),
        token: Some(cubby_auth::session::seal(
            master,
            &ak,
            claims.to_string().as_bytes(),
            nonce,
        )),
        ak,
    }
}

/// Expired sessions, end to end. cubby has no clock override (and must not have one), and a
/// real session lives at least 15 minutes, so the test plays a second cluster node: it reads
/// the cluster master key from the data dir and mints a session for the real role whose expiry
/// is in the past — exactly what any node holding the master key can do. A second session
/// minted the same way but still valid proves the minting itself is right.
#[tokio::test]
async fn expired_session_tokens_are_refused() {
    let server = Server::start();
    let (_user, role_arn) = setup(&server).await;
    let role_id = iam(&server)
        .get_role()
        .role_name("worker")
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .role_id()
        .to_owned();
    let hex = std::fs::read_to_string(server.data_dir.join("master.key")).unwrap();
    let master = cubby_auth::session::MasterKey::from_hex(hex.trim()).unwrap();
    let session =
        |issued: i64, expires: i64| mint_session(&master, &role_arn, &role_id, issued, expires);
    let t = now();
    let live = session(t - 60, t + 900);
    assert!(get_ok(&live.s3(&server), "shared/a").await, "control");
    let dead = session(t - 3700, t - 100);
    let e = must_fail(
        dead.s3(&server)
            .get_object()
            .bucket("data")
            .key("shared/a")
            .send(),
    )
    .await;
    assert_eq!(status(&e), 403);
    assert_eq!(code(&e), "ExpiredToken");
    let e = must_fail(dead.sts(&server).get_caller_identity().send()).await;
    assert_eq!(err_code(&e), "ExpiredToken", "{e:?}");

    // A presigned URL never outlives the credentials that signed it: signed 200 s ago, while
    // the session was still valid, for an hour — but the session ended 100 s ago.
    let url = format!("{}/data/shared/a", server.endpoint);
    let presign = |k: &Keys, at: i64| {
        cubby_auth::sigv4::presign_url(
            "GET",
            &url,
            &k.ak,
            &k.sk,
            k.token.as_deref(),
            "us-east-1",
            3600,
            at,
        )
    };
    let r = reqwest::get(presign(&live, t - 30)).await.unwrap();
    assert_eq!(r.status(), 200, "control");
    let r = reqwest::get(presign(&dead, t - 200)).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let body = r.text().await.unwrap();
    assert!(body.contains("<Code>ExpiredToken</Code>"), "{body}");

    // A session sealed with another master key is not one of this cluster's.
    let foreign = cubby_auth::session::MasterKey::from_bytes([9; 32]);
    let f = mint_session(&foreign, &role_arn, &role_id, t, t + 900);
    let e = must_fail(
        f.s3(&server)
            .get_object()
            .bucket("data")
            .key("shared/a")
            .send(),
    )
    .await;
    assert_eq!(status(&e), 403);
    assert_eq!(code(&e), "InvalidToken");
}
