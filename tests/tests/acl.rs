//! Canned ACLs, object ownership and anonymous access (the pre-2023 bucket defaults that older
//! tools and suites use, and today's BucketOwnerEnforced default).
#![allow(clippy::unwrap_used)]

mod common;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketCannedAcl, ObjectCannedAcl};
use common::*;

#[tokio::test]
async fn canned_acls_grant_anonymous_access_under_legacy_defaults() {
    let server = Server::start_with(&[("CUBBY_S3_LEGACY_BUCKET_DEFAULTS", "1")]);
    let c = root(&server);
    let http = reqwest::Client::new();
    c.create_bucket().bucket("legacy").send().await.unwrap();
    c.put_object()
        .bucket("legacy")
        .key("pub")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    c.put_object()
        .bucket("legacy")
        .key("priv")
        .body(ByteStream::from_static(b"secret"))
        .send()
        .await
        .unwrap();
    let url = |k: &str| format!("{}/legacy/{k}", server.endpoint);

    let r = http.get(url("pub")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "hello");
    assert_eq!(http.get(url("priv")).send().await.unwrap().status(), 403);
    // A missing key in a bucket the public may not list: 403, no existence oracle.
    assert_eq!(http.get(url("nope")).send().await.unwrap().status(), 403);
    assert_eq!(
        http.get(format!("{}/legacy", server.endpoint))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        http.put(url("anon"))
            .body("x")
            .send()
            .await
            .unwrap()
            .status(),
        403
    );

    c.put_bucket_acl()
        .bucket("legacy")
        .acl(BucketCannedAcl::PublicReadWrite)
        .send()
        .await
        .unwrap();
    assert_eq!(
        http.get(format!("{}/legacy", server.endpoint))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(http.get(url("nope")).send().await.unwrap().status(), 404);
    assert_eq!(
        http.put(url("anon"))
            .body("anonymous write")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let got = c
        .get_object()
        .bucket("legacy")
        .key("anon")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"anonymous write"
    );

    // An explicit Deny in the bucket policy beats the ACL grant.
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::legacy/pub"}]}"#;
    c.put_bucket_policy()
        .bucket("legacy")
        .policy(deny)
        .send()
        .await
        .unwrap();
    assert_eq!(http.get(url("pub")).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn bucket_owner_enforced_refuses_acls_by_default() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("modern").send().await.unwrap();
    let e = c
        .put_object()
        .bucket("modern")
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e.into_service_error()),
        "AccessControlListNotSupported"
    );
    c.put_object()
        .bucket("modern")
        .key("k")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let e = c
        .create_bucket()
        .bucket("modern2")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e.into_service_error()),
        "InvalidBucketAclWithObjectOwnership"
    );
    let r = reqwest::get(format!("{}/modern/k", server.endpoint))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}
