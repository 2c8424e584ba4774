//! IAM enforced on S3 (issue 4): IAM users' own keys under their own policies, bucket policies
//! against identity policies, the public-access block, 403-vs-404 for missing keys, and the IAM
//! API's typed errors — all through aws-sdk-rust against the real binary.
#![allow(clippy::unwrap_used)]

mod common;
mod idhelp;

use aws_sdk_s3::primitives::ByteStream;
use common::*;
use idhelp::*;
use serde_json::json;

async fn put(c: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &'static [u8]) {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(body))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn put_only_user_can_put_but_not_get_list_or_delete() {
    let server = Server::start();
    let root = root(&server);
    root.create_bucket().bucket("drop").send().await.unwrap();
    root.create_bucket().bucket("other").send().await.unwrap();
    let doc = policy(json!([allow(&["s3:PutObject"], &["arn:aws:s3:::drop/*"])]));
    let user = user_with_policy(&server, "uploader", Some(&doc)).await;
    let s3 = user.s3(&server);

    // Put: single PUT and the whole multipart flow (s3:PutObject covers all three calls).
    put(&s3, "drop", "a.txt", b"hello").await;
    let up = s3
        .create_multipart_upload()
        .bucket("drop")
        .key("big.bin")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = s3
        .upload_part()
        .bucket("drop")
        .key("big.bin")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"part one"))
        .send()
        .await
        .unwrap();
    s3.complete_multipart_upload()
        .bucket("drop")
        .key("big.bin")
        .upload_id(id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    // Not get, head, list, delete.
    let e = must_fail(s3.get_object().bucket("drop").key("a.txt").send()).await;
    assert_eq!(status(&e), 403);
    assert_eq!(code(&e), "AccessDenied");
    let e = must_fail(s3.head_object().bucket("drop").key("a.txt").send()).await;
    assert_eq!(status(&e), 403);
    let e = must_fail(s3.list_objects_v2().bucket("drop").send()).await;
    assert_eq!(code(&e), "AccessDenied");
    let e = must_fail(s3.list_objects().bucket("drop").send()).await;
    assert_eq!(code(&e), "AccessDenied");
    let e = must_fail(s3.delete_object().bucket("drop").key("a.txt").send()).await;
    assert_eq!(status(&e), 403);
    assert_eq!(code(&e), "AccessDenied");
    // DeleteObjects answers per key.
    let del = s3
        .delete_objects()
        .bucket("drop")
        .delete(
            aws_sdk_s3::types::Delete::builder()
                .objects(
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key("a.txt")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await;
    match del {
        Ok(d) => {
            assert!(d.deleted().is_empty(), "{d:?}");
            assert_eq!(d.errors()[0].code(), Some("AccessDenied"));
        }
        Err(e) => assert_eq!(code(&e), "AccessDenied"),
    }
    // Not another bucket, not bucket-level operations.
    let e = must_fail(
        s3.put_object()
            .bucket("other")
            .key("x")
            .body(ByteStream::from_static(b"x"))
            .send(),
    )
    .await;
    assert_eq!(code(&e), "AccessDenied");
    let e = must_fail(s3.list_buckets().send()).await;
    assert_eq!(code(&e), "AccessDenied");
    let e = must_fail(s3.delete_bucket().bucket("drop").send()).await;
    assert_eq!(code(&e), "AccessDenied");
    // Everything the user wrote is there, untouched.
    let got = root
        .get_object()
        .bucket("drop")
        .key("a.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &got.body.collect().await.unwrap().into_bytes()[..],
        b"hello"
    );
    let got = root
        .get_object()
        .bucket("drop")
        .key("big.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        &got.body.collect().await.unwrap().into_bytes()[..],
        b"part one"
    );

    // The user is who it says, and has no IAM rights.
    let me = user
        .sts(&server)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(me.arn(), Some("arn:aws:iam::000000000000:user/uploader"));
    assert!(me.user_id().unwrap().starts_with("AIDA"), "{me:?}");
    let e = must_fail(user.iam(&server).list_users().send()).await;
    assert_eq!(err_code(&e), "AccessDenied");

    // An inactive key stops working at once; so does a deleted one.
    let iam = iam(&server);
    iam.update_access_key()
        .user_name("uploader")
        .access_key_id(&user.ak)
        .status(aws_sdk_iam::types::StatusType::Inactive)
        .send()
        .await
        .unwrap();
    let e = must_fail(
        s3.put_object()
            .bucket("drop")
            .key("b.txt")
            .body(ByteStream::from_static(b"x"))
            .send(),
    )
    .await;
    assert_eq!(code(&e), "InvalidAccessKeyId");
    iam.delete_access_key()
        .user_name("uploader")
        .access_key_id(&user.ak)
        .send()
        .await
        .unwrap();
    let e = must_fail(
        s3.put_object()
            .bucket("drop")
            .key("b.txt")
            .body(ByteStream::from_static(b"x"))
            .send(),
    )
    .await;
    assert_eq!(code(&e), "InvalidAccessKeyId");
}

/// The account root obeys an explicit Deny in a bucket policy (as on AWS), but may always
/// read, replace and delete the bucket policy, so a lock-out can be repaired.
#[tokio::test]
async fn bucket_policy_explicit_deny_binds_root_except_policy_management() {
    let server = Server::start();
    let root = root(&server);
    root.create_bucket().bucket("locked").send().await.unwrap();
    put(&root, "locked", "a", b"a").await;
    let bp = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "NoReads", "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::locked/*"},
        {"Sid": "NoPolicyEdits", "Effect": "Deny", "Principal": "*", "Action": "s3:*BucketPolicy",
         "Resource": "arn:aws:s3:::locked"}]});
    root.put_bucket_policy()
        .bucket("locked")
        .policy(bp.to_string())
        .send()
        .await
        .unwrap();
    let denied = root.get_object().bucket("locked").key("a").send().await;
    let e = denied.expect_err("root read despite an explicit Deny");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(403));
    // Not denied: still allowed to root without any Allow.
    put(&root, "locked", "b", b"b").await;
    root.get_bucket_policy()
        .bucket("locked")
        .send()
        .await
        .unwrap();
    root.delete_bucket_policy()
        .bucket("locked")
        .send()
        .await
        .unwrap();
    root.get_object()
        .bucket("locked")
        .key("a")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn bucket_policy_deny_beats_identity_allow() {
    let server = Server::start();
    let root = root(&server);
    root.create_bucket().bucket("vault").send().await.unwrap();
    put(&root, "vault", "open/a", b"a").await;
    put(&root, "vault", "secret/b", b"b").await;
    let doc = policy(json!([allow(
        &["s3:*"],
        &["arn:aws:s3:::vault", "arn:aws:s3:::vault/*"]
    )]));
    let user = user_with_policy(&server, "alice", Some(&doc)).await;
    let s3 = user.s3(&server);
    s3.get_object()
        .bucket("vault")
        .key("secret/b")
        .send()
        .await
        .unwrap();

    let bp = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "NoSecrets",
        "Effect": "Deny",
        "Principal": {"AWS": "arn:aws:iam::000000000000:user/alice"},
        "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
        "Resource": "arn:aws:s3:::vault/secret/*"
    }]});
    root.put_bucket_policy()
        .bucket("vault")
        .policy(bp.to_string())
        .send()
        .await
        .unwrap();
    let e = must_fail(s3.get_object().bucket("vault").key("secret/b").send()).await;
    assert_eq!(status(&e), 403);
    assert_eq!(code(&e), "AccessDenied");
    let e = must_fail(
        s3.put_object()
            .bucket("vault")
            .key("secret/c")
            .body(ByteStream::from_static(b"c"))
            .send(),
    )
    .await;
    assert_eq!(code(&e), "AccessDenied");
    let e = must_fail(s3.delete_object().bucket("vault").key("secret/b").send()).await;
    assert_eq!(code(&e), "AccessDenied");
    // Outside the denied prefix the identity policy still allows.
    s3.get_object()
        .bucket("vault")
        .key("open/a")
        .send()
        .await
        .unwrap();
    put(&s3, "vault", "open/new", b"n").await;
    // A Deny for everyone ("*") applies to the user too, and is not a public grant.
    let bp = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::vault/open/*"
    }]});
    root.put_bucket_policy()
        .bucket("vault")
        .policy(bp.to_string())
        .send()
        .await
        .unwrap();
    let e = must_fail(s3.get_object().bucket("vault").key("open/a").send()).await;
    assert_eq!(code(&e), "AccessDenied");
    s3.get_object()
        .bucket("vault")
        .key("secret/b")
        .send()
        .await
        .unwrap();
    // A bucket-policy Allow grants a user with no identity policy at all.
    let bob = user_with_policy(&server, "bob", None).await;
    let bs3 = bob.s3(&server);
    let e = must_fail(bs3.get_object().bucket("vault").key("secret/b").send()).await;
    assert_eq!(code(&e), "AccessDenied");
    let bp = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/bob"},
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::vault/*"
    }]});
    root.put_bucket_policy()
        .bucket("vault")
        .policy(bp.to_string())
        .send()
        .await
        .unwrap();
    bs3.get_object()
        .bucket("vault")
        .key("secret/b")
        .send()
        .await
        .unwrap();
    // A bucket policy without Principal is refused.
    let e = must_fail(
        root.put_bucket_policy()
            .bucket("vault")
            .policy(
                json!({"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::vault/*"
                }]})
                .to_string(),
            )
            .send(),
    )
    .await;
    assert_eq!(code(&e), "MalformedPolicy");
}

async fn anon_get(server: &Server, path: &str) -> (u16, String) {
    let r = reqwest::get(format!("{}{path}", server.endpoint))
        .await
        .unwrap();
    let s = r.status().as_u16();
    (s, r.text().await.unwrap())
}

#[tokio::test]
async fn public_access_block_holds() {
    let server = Server::start();
    let root = root(&server);
    root.create_bucket().bucket("site").send().await.unwrap();
    put(&root, "site", "index.html", b"<h1>hi</h1>").await;
    let public = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*"
    }]})
    .to_string();

    // New buckets block public access, as AWS does.
    let pab = root
        .get_public_access_block()
        .bucket("site")
        .send()
        .await
        .unwrap();
    let cfg = pab.public_access_block_configuration().unwrap();
    assert_eq!(cfg.block_public_policy(), Some(true));
    assert_eq!(cfg.restrict_public_buckets(), Some(true));
    // A public policy is rejected while BlockPublicPolicy is on.
    let e = must_fail(
        root.put_bucket_policy()
            .bucket("site")
            .policy(&public)
            .send(),
    )
    .await;
    assert_eq!(status(&e), 403);
    assert_eq!(code(&e), "AccessDenied");
    let e = must_fail(root.get_bucket_policy().bucket("site").send()).await;
    assert_eq!(code(&e), "NoSuchBucketPolicy");
    let (s, body) = anon_get(&server, "/site/index.html").await;
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");

    // A non-public policy is fine with the block on.
    let private = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"},
        "Action": "s3:GetObject", "Resource": "arn:aws:s3:::site/*"
    }]})
    .to_string();
    root.put_bucket_policy()
        .bucket("site")
        .policy(&private)
        .send()
        .await
        .unwrap();

    // Block off: the public policy is accepted, and anonymous readers get in — for what it
    // grants only.
    root.put_public_access_block()
        .bucket("site")
        .public_access_block_configuration(
            aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                .block_public_acls(false)
                .ignore_public_acls(false)
                .block_public_policy(false)
                .restrict_public_buckets(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    root.put_bucket_policy()
        .bucket("site")
        .policy(&public)
        .send()
        .await
        .unwrap();
    let st = root
        .get_bucket_policy_status()
        .bucket("site")
        .send()
        .await
        .unwrap();
    assert_eq!(st.policy_status().unwrap().is_public(), Some(true));
    let (s, body) = anon_get(&server, "/site/index.html").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body, "<h1>hi</h1>");
    // Not listing, not writing.
    let (s, _) = anon_get(&server, "/site").await;
    assert_eq!(s, 403);
    let r = reqwest::Client::new()
        .put(format!("{}/site/evil.html", server.endpoint))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A missing key is 403 for an anonymous reader who may not list.
    let (s, _) = anon_get(&server, "/site/missing.html").await;
    assert_eq!(s, 403);

    // RestrictPublicBuckets makes the public grant ineffective again.
    root.put_public_access_block()
        .bucket("site")
        .public_access_block_configuration(
            aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                .block_public_acls(false)
                .ignore_public_acls(false)
                .block_public_policy(false)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (s, _) = anon_get(&server, "/site/index.html").await;
    assert_eq!(s, 403);

    // Back on fully: anonymous access ends, and the public policy cannot be put again.
    root.delete_bucket_policy()
        .bucket("site")
        .send()
        .await
        .unwrap();
    root.put_public_access_block()
        .bucket("site")
        .public_access_block_configuration(
            aws_sdk_s3::types::PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let e = must_fail(
        root.put_bucket_policy()
            .bucket("site")
            .policy(&public)
            .send(),
    )
    .await;
    assert_eq!(code(&e), "AccessDenied");
    let (s, _) = anon_get(&server, "/site/index.html").await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn missing_key_is_403_unless_the_caller_may_list() {
    let server = Server::start();
    let root = root(&server);
    root.create_bucket().bucket("bkt").send().await.unwrap();
    put(&root, "bkt", "there", b"x").await;

    let reader = user_with_policy(
        &server,
        "reader",
        Some(&policy(json!([allow(
            &["s3:GetObject"],
            &["arn:aws:s3:::bkt/*"]
        )]))),
    )
    .await;
    let lister = user_with_policy(
        &server,
        "lister",
        Some(&policy(json!([
            allow(&["s3:GetObject"], &["arn:aws:s3:::bkt/*"]),
            allow(&["s3:ListBucket"], &["arn:aws:s3:::bkt"])
        ]))),
    )
    .await;

    // Reader: existing key 200; missing key 403 (no listing right: existence is not revealed).
    let r = reader.s3(&server);
    r.get_object()
        .bucket("bkt")
        .key("there")
        .send()
        .await
        .unwrap();
    let e = must_fail(r.get_object().bucket("bkt").key("nope").send()).await;
    assert_eq!(status(&e), 403);
    assert_eq!(code(&e), "AccessDenied");
    let e = must_fail(r.head_object().bucket("bkt").key("nope").send()).await;
    assert_eq!(status(&e), 403);

    // Lister: 404 NoSuchKey.
    let l = lister.s3(&server);
    let e = must_fail(l.get_object().bucket("bkt").key("nope").send()).await;
    assert_eq!(status(&e), 404);
    assert_eq!(code(&e), "NoSuchKey");
    assert!(e.as_service_error().unwrap().is_no_such_key());
    let e = must_fail(l.head_object().bucket("bkt").key("nope").send()).await;
    assert_eq!(status(&e), 404);
    assert!(e.as_service_error().unwrap().is_not_found());

    // Root: 404.
    let e = must_fail(root.get_object().bucket("bkt").key("nope").send()).await;
    assert_eq!(status(&e), 404);

    // ListBucket granted by the bucket policy counts too.
    root.put_bucket_policy()
        .bucket("bkt")
        .policy(
            json!({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/reader"},
                "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::bkt"
            }]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let e = must_fail(r.get_object().bucket("bkt").key("nope").send()).await;
    assert_eq!(status(&e), 404);

    // A user who may not even get: 403 for present and missing keys alike.
    let nobody = user_with_policy(&server, "nobody", None).await;
    let n = nobody.s3(&server);
    let e1 = must_fail(n.get_object().bucket("bkt").key("there").send()).await;
    let e2 = must_fail(n.get_object().bucket("bkt").key("nope").send()).await;
    assert_eq!((status(&e1), status(&e2)), (403, 403));

    // A missing bucket is 404 for everyone (bucket names are public in S3).
    let e = must_fail(r.get_object().bucket("no-such-bucket").key("k").send()).await;
    assert_eq!(status(&e), 404);
    assert_eq!(code(&e), "NoSuchBucket");
}

#[tokio::test]
async fn iam_errors_are_typed() {
    let server = Server::start();
    let iam = iam(&server);

    // NoSuchEntity (404).
    let e = must_fail(iam.get_user().user_name("ghost").send()).await;
    assert!(
        e.as_service_error().unwrap().is_no_such_entity_exception(),
        "{e:?}"
    );
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 404);
    let e = must_fail(iam.get_role().role_name("ghost").send()).await;
    assert!(
        e.as_service_error().unwrap().is_no_such_entity_exception(),
        "{e:?}"
    );
    let e = must_fail(
        iam.get_user_policy()
            .user_name("ghost")
            .policy_name("p")
            .send(),
    )
    .await;
    assert!(
        e.as_service_error().unwrap().is_no_such_entity_exception(),
        "{e:?}"
    );
    let e = must_fail(
        iam.get_policy()
            .policy_arn("arn:aws:iam::000000000000:policy/ghost")
            .send(),
    )
    .await;
    assert!(
        e.as_service_error().unwrap().is_no_such_entity_exception(),
        "{e:?}"
    );
    let e = must_fail(iam.delete_user().user_name("ghost").send()).await;
    assert!(
        e.as_service_error().unwrap().is_no_such_entity_exception(),
        "{e:?}"
    );

    // EntityAlreadyExists (409).
    iam.create_user().user_name("carol").send().await.unwrap();
    let e = must_fail(iam.create_user().user_name("carol").send()).await;
    assert!(
        e.as_service_error()
            .unwrap()
            .is_entity_already_exists_exception(),
        "{e:?}"
    );
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 409);
    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/carol"},
        "Action": "sts:AssumeRole"
    }]})
    .to_string();
    iam.create_role()
        .role_name("r1")
        .assume_role_policy_document(&trust)
        .send()
        .await
        .unwrap();
    let e = must_fail(
        iam.create_role()
            .role_name("r1")
            .assume_role_policy_document(&trust)
            .send(),
    )
    .await;
    assert!(
        e.as_service_error()
            .unwrap()
            .is_entity_already_exists_exception(),
        "{e:?}"
    );
    let pol = policy(json!([allow(&["s3:GetObject"], &["*"])]));
    iam.create_policy()
        .policy_name("p1")
        .policy_document(&pol)
        .send()
        .await
        .unwrap();
    let e = must_fail(
        iam.create_policy()
            .policy_name("p1")
            .policy_document(&pol)
            .send(),
    )
    .await;
    assert!(
        e.as_service_error()
            .unwrap()
            .is_entity_already_exists_exception(),
        "{e:?}"
    );

    // MalformedPolicyDocument (400), with a useful message.
    for bad in [
        "{not json".to_owned(),
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]})
            .to_string(),
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}]})
            .to_string(),
        json!({"Version": "1999-01-01", "Statement": []}).to_string(),
    ] {
        let e = must_fail(
            iam.put_user_policy()
                .user_name("carol")
                .policy_name("bad")
                .policy_document(&bad)
                .send(),
        )
        .await;
        let se = e.as_service_error().unwrap();
        assert!(se.is_malformed_policy_document_exception(), "{bad}: {e:?}");
        assert!(!se.meta().message().unwrap_or("").is_empty(), "{e:?}");
        assert_eq!(e.raw_response().unwrap().status().as_u16(), 400);
        let e = must_fail(
            iam.put_role_policy()
                .role_name("r1")
                .policy_name("bad")
                .policy_document(&bad)
                .send(),
        )
        .await;
        assert!(
            e.as_service_error()
                .unwrap()
                .is_malformed_policy_document_exception(),
            "{bad}: {e:?}"
        );
        let e = must_fail(
            iam.create_policy()
                .policy_name("bad")
                .policy_document(&bad)
                .send(),
        )
        .await;
        assert!(
            e.as_service_error()
                .unwrap()
                .is_malformed_policy_document_exception(),
            "{bad}: {e:?}"
        );
    }
    let e = must_fail(
        iam.create_role()
            .role_name("r2")
            .assume_role_policy_document("{nope")
            .send(),
    )
    .await;
    assert!(
        e.as_service_error()
            .unwrap()
            .is_malformed_policy_document_exception(),
        "{e:?}"
    );

    // DeleteConflict: a user with keys / a policy still attached.
    iam.create_access_key()
        .user_name("carol")
        .send()
        .await
        .unwrap();
    let e = must_fail(iam.delete_user().user_name("carol").send()).await;
    assert!(
        e.as_service_error().unwrap().is_delete_conflict_exception(),
        "{e:?}"
    );
    let parn = format!("arn:aws:iam::{ACCOUNT}:policy/p1");
    iam.attach_role_policy()
        .role_name("r1")
        .policy_arn(&parn)
        .send()
        .await
        .unwrap();
    let e = must_fail(iam.delete_policy().policy_arn(&parn).send()).await;
    assert!(
        e.as_service_error().unwrap().is_delete_conflict_exception(),
        "{e:?}"
    );

    // Round trips: the document comes back as put, ids have AWS's prefixes.
    let got = iam
        .get_user_policy()
        .user_name("carol")
        .policy_name("p")
        .send()
        .await;
    assert!(got.is_err());
    iam.put_user_policy()
        .user_name("carol")
        .policy_name("p")
        .policy_document(&pol)
        .send()
        .await
        .unwrap();
    let got = iam
        .get_user_policy()
        .user_name("carol")
        .policy_name("p")
        .send()
        .await
        .unwrap();
    let doc = got.policy_document();
    let doc = percent_decode(doc);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&doc).unwrap(),
        serde_json::from_str::<serde_json::Value>(&pol).unwrap()
    );
    let u = iam.get_user().user_name("carol").send().await.unwrap();
    assert!(u.user().unwrap().user_id().starts_with("AIDA"));
    let me = iam.get_user().send().await.unwrap();
    assert_eq!(me.user().unwrap().arn(), "arn:aws:iam::000000000000:root");
}

#[tokio::test]
async fn iam_api_round_trips() {
    let server = Server::start();
    let iam = iam(&server);
    // Managed policies with versions.
    let v1 = policy(json!([allow(&["s3:GetObject"], &["*"])]));
    let v2 = policy(json!([allow(&["s3:ListBucket"], &["*"])]));
    let p = iam
        .create_policy()
        .policy_name("readers")
        .policy_document(&v1)
        .send()
        .await
        .unwrap();
    let parn = p.policy().unwrap().arn().unwrap().to_owned();
    assert_eq!(parn, format!("arn:aws:iam::{ACCOUNT}:policy/readers"));
    iam.create_policy_version()
        .policy_arn(&parn)
        .policy_document(&v2)
        .set_as_default(false)
        .send()
        .await
        .unwrap();
    let vs = iam
        .list_policy_versions()
        .policy_arn(&parn)
        .send()
        .await
        .unwrap();
    assert_eq!(vs.versions().len(), 2);
    assert_eq!(
        vs.versions()
            .iter()
            .filter(|v| v.is_default_version())
            .count(),
        1
    );
    iam.set_default_policy_version()
        .policy_arn(&parn)
        .version_id("v2")
        .send()
        .await
        .unwrap();
    let got = iam.get_policy().policy_arn(&parn).send().await.unwrap();
    assert_eq!(got.policy().unwrap().default_version_id(), Some("v2"));
    let doc = iam
        .get_policy_version()
        .policy_arn(&parn)
        .version_id("v2")
        .send()
        .await
        .unwrap();
    let text = percent_decode(doc.policy_version().unwrap().document().unwrap());
    assert!(text.contains("s3:ListBucket"), "{text}");

    // Roles: ids, path, trust document, MaxSessionDuration, PathPrefix listing, attachments.
    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
        "Action": "sts:AssumeRole"
    }]});
    let r = iam
        .create_role()
        .role_name("Builder")
        .path("/ci/")
        .max_session_duration(7200)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    let r = r.role().unwrap();
    assert!(r.role_id().starts_with("AROA"));
    assert_eq!(r.arn(), format!("arn:aws:iam::{ACCOUNT}:role/ci/Builder"));
    let got = iam.get_role().role_name("Builder").send().await.unwrap();
    let got = got.role().unwrap();
    assert_eq!(got.max_session_duration(), Some(7200));
    let doc = percent_decode(got.assume_role_policy_document().unwrap());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&doc).unwrap(),
        trust
    );
    let listed = iam.list_roles().path_prefix("/ci/").send().await.unwrap();
    assert_eq!(listed.roles().len(), 1);
    let listed = iam
        .list_roles()
        .path_prefix("/other/")
        .send()
        .await
        .unwrap();
    assert!(listed.roles().is_empty());
    iam.attach_role_policy()
        .role_name("Builder")
        .policy_arn(&parn)
        .send()
        .await
        .unwrap();
    let att = iam
        .list_attached_role_policies()
        .role_name("Builder")
        .send()
        .await
        .unwrap();
    assert_eq!(att.attached_policies()[0].policy_arn(), Some(parn.as_str()));
    iam.detach_role_policy()
        .role_name("Builder")
        .policy_arn(&parn)
        .send()
        .await
        .unwrap();
    // Non-default versions go first, as in AWS.
    let e = must_fail(iam.delete_policy().policy_arn(&parn).send()).await;
    assert!(e.as_service_error().unwrap().is_delete_conflict_exception());
    iam.delete_policy_version()
        .policy_arn(&parn)
        .version_id("v1")
        .send()
        .await
        .unwrap();
    iam.delete_policy().policy_arn(&parn).send().await.unwrap();
    iam.delete_role().role_name("Builder").send().await.unwrap();
    let e = must_fail(iam.get_role().role_name("Builder").send()).await;
    assert!(e.as_service_error().unwrap().is_no_such_entity_exception());

    // Users and keys.
    iam.create_user().user_name("dana").send().await.unwrap();
    let k = iam
        .create_access_key()
        .user_name("dana")
        .send()
        .await
        .unwrap();
    let akid = k.access_key().unwrap().access_key_id().to_owned();
    assert!(akid.starts_with("AKIA"), "{akid}");
    let ks = iam
        .list_access_keys()
        .user_name("dana")
        .send()
        .await
        .unwrap();
    assert_eq!(
        ks.access_key_metadata()[0].access_key_id(),
        Some(akid.as_str())
    );
    let users = iam.list_users().send().await.unwrap();
    assert!(users.users().iter().any(|u| u.user_name() == "dana"));
}

/// IAM returns policy documents URL-encoded (RFC 3986), as AWS does; the SDK leaves them so.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}
