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
    // A copy takes the ACL its request names, not the source's: a private object copied with
    // public-read is public, a public one copied without an ACL is private.
    for (src, dst, acl, status) in [
        (
            "priv",
            "priv-copied-public",
            Some(ObjectCannedAcl::PublicRead),
            200,
        ),
        ("pub", "pub-copied-private", None, 403),
    ] {
        c.copy_object()
            .bucket("legacy")
            .key(dst)
            .copy_source(format!("legacy/{src}"))
            .set_acl(acl)
            .send()
            .await
            .unwrap();
        assert_eq!(
            http.get(url(dst)).send().await.unwrap().status(),
            status,
            "{dst}"
        );
    }
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

mod idhelp;

/// An IAM user with no policy of its own, and its user id (its canonical id in ACL grants).
async fn user_and_id(server: &Server, name: &str) -> (idhelp::Keys, String) {
    let keys = idhelp::user_with_policy(server, name, None).await;
    let user = idhelp::iam(server)
        .get_user()
        .user_name(name)
        .send()
        .await
        .unwrap();
    (keys, user.user().unwrap().user_id().to_owned())
}

#[tokio::test]
async fn grant_lists_from_headers_and_bodies_decide_access() {
    use aws_sdk_s3::types::{
        AccessControlPolicy, Grant, Grantee, Owner, Permission, Type as GranteeType,
    };
    let server = Server::start_with(&[("CUBBY_S3_LEGACY_BUCKET_DEFAULTS", "1")]);
    let c = root(&server);
    let (alice_keys, alice_id) = user_and_id(&server, "alice").await;
    let (bob_keys, _) = user_and_id(&server, "bob").await;
    let (alice, bob) = (alice_keys.s3(&server), bob_keys.s3(&server));
    c.create_bucket().bucket("grants").send().await.unwrap();
    c.put_object()
        .bucket("grants")
        .key("doc")
        .body(ByteStream::from_static(b"granted"))
        .send()
        .await
        .unwrap();
    let list = |s3: &aws_sdk_s3::Client| s3.list_objects_v2().bucket("grants").send();
    assert_eq!(status(&list(&alice).await.unwrap_err()), 403);

    // A header grant of READ on the bucket lets alice list, and nobody else.
    c.put_bucket_acl()
        .bucket("grants")
        .grant_read(format!("id=\"{alice_id}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(list(&alice).await.unwrap().key_count(), Some(1));
    assert_eq!(status(&list(&bob).await.unwrap_err()), 403);
    let acl = c.get_bucket_acl().bucket("grants").send().await.unwrap();
    let grants: Vec<(Option<&str>, Option<&str>, &str)> = acl
        .grants()
        .iter()
        .map(|g| {
            let who = g.grantee().unwrap();
            (
                who.id(),
                who.display_name(),
                g.permission().unwrap().as_str(),
            )
        })
        .collect();
    // As on S3, header grants are the whole new ACL: the owner's grant is not implied.
    assert_eq!(
        grants,
        vec![(Some(alice_id.as_str()), Some("alice"), "READ")]
    );
    let owner_id = acl.owner().unwrap().id().unwrap().to_owned();
    // Bucket READ is no object READ.
    let get = |s3: &aws_sdk_s3::Client, key: &str| s3.get_object().bucket("grants").key(key).send();
    assert_eq!(status(&get(&alice, "doc").await.unwrap_err()), 403);

    // An AccessControlPolicy body on the object: alice may read it, not its ACL.
    let user_grant = |id: &str, p: Permission| {
        Grant::builder()
            .grantee(
                Grantee::builder()
                    .r#type(GranteeType::CanonicalUser)
                    .id(id)
                    .build()
                    .unwrap(),
            )
            .permission(p)
            .build()
    };
    let policy = |grants: Vec<Grant>, owner: &str| {
        AccessControlPolicy::builder()
            .owner(Owner::builder().id(owner).build())
            .set_grants(Some(grants))
            .build()
    };
    c.put_object_acl()
        .bucket("grants")
        .key("doc")
        .access_control_policy(policy(
            vec![
                user_grant(&owner_id, Permission::FullControl),
                user_grant(&alice_id, Permission::Read),
            ],
            &owner_id,
        ))
        .send()
        .await
        .unwrap();
    let body = get(&alice, "doc")
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap();
    assert_eq!(body.into_bytes().as_ref(), b"granted");
    assert_eq!(status(&get(&bob, "doc").await.unwrap_err()), 403);
    let acl_of = |s3: &aws_sdk_s3::Client| s3.get_object_acl().bucket("grants").key("doc").send();
    assert_eq!(status(&acl_of(&alice).await.unwrap_err()), 403);

    // READ_ACP to every signed requester: bob reads the ACL; the anonymous public does not.
    c.put_object_acl()
        .bucket("grants")
        .key("doc")
        .grant_read(format!("id={alice_id}"))
        .grant_read_acp("uri=\"http://acs.amazonaws.com/groups/global/AuthenticatedUsers\"")
        .send()
        .await
        .unwrap();
    let seen = acl_of(&bob).await.unwrap();
    assert_eq!(seen.grants().len(), 2);
    assert!(get(&alice, "doc").await.is_ok());
    let anon = reqwest::get(format!("{}/grants/doc?acl", server.endpoint))
        .await
        .unwrap();
    assert_eq!(anon.status(), 403);
    // WRITE_ACP was not granted: bob may not change it.
    let e = bob
        .put_object_acl()
        .bucket("grants")
        .key("doc")
        .grant_full_control(format!("id=\"{alice_id}\""))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 403);

    // Grants set on upload.
    c.put_object()
        .bucket("grants")
        .key("shared")
        .grant_read(format!("id=\"{alice_id}\""))
        .body(ByteStream::from_static(b"shared"))
        .send()
        .await
        .unwrap();
    assert!(get(&alice, "shared").await.is_ok());
    assert_eq!(status(&get(&bob, "shared").await.unwrap_err()), 403);

    // What S3 refuses.
    let e = c
        .put_bucket_acl()
        .bucket("grants")
        .acl(BucketCannedAcl::Private)
        .grant_read(format!("id=\"{alice_id}\""))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "InvalidRequest");
    let e = c
        .put_bucket_acl()
        .bucket("grants")
        .grant_read("id=\"no-such-user\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "InvalidArgument");
    let e = c
        .put_bucket_acl()
        .bucket("grants")
        .grant_write("emailAddress=\"someone@example.com\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e.into_service_error()),
        "UnresolvableGrantByEmailAddress"
    );
    let e = c
        .put_bucket_acl()
        .bucket("grants")
        .access_control_policy(policy(
            vec![user_grant(&alice_id, Permission::Read)],
            "someone-else",
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "AccessDenied");
    let e = c
        .put_bucket_acl()
        .bucket("grants")
        .access_control_policy(policy(
            vec![user_grant(&alice_id, Permission::from("EVERYTHING"))],
            &owner_id,
        ))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "MalformedACLError");
    // The failed puts changed nothing.
    assert_eq!(list(&alice).await.unwrap().key_count(), Some(2));

    // Under BucketOwnerEnforced only the owner's full control is accepted.
    c.create_bucket()
        .bucket("enforced")
        .object_ownership(aws_sdk_s3::types::ObjectOwnership::BucketOwnerEnforced)
        .send()
        .await
        .unwrap();
    let e = c
        .put_bucket_acl()
        .bucket("enforced")
        .grant_read(format!("id=\"{alice_id}\""))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e.into_service_error()),
        "AccessControlListNotSupported"
    );
    c.put_bucket_acl()
        .bucket("enforced")
        .grant_full_control(format!("id=\"{owner_id}\""))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn existing_object_tags_condition_object_access() {
    use serde_json::json;
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("tagged").send().await.unwrap();
    let put = |key: &'static str, tagging: Option<&'static str>| {
        c.put_object()
            .bucket("tagged")
            .key(key)
            .set_tagging(tagging.map(str::to_owned))
            .body(ByteStream::from_static(b"x"))
            .send()
    };
    put("open", Some("class=public&team=a")).await.unwrap();
    put("closed", Some("class=secret")).await.unwrap();
    put("plain", None).await.unwrap();
    let doc = idhelp::policy(json!([
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectTagging"],
         "Resource": "arn:aws:s3:::tagged/*",
         "Condition": {"StringEquals": {"s3:ExistingObjectTag/class": "public"}}}
    ]));
    let reader = idhelp::user_with_policy(&server, "reader", Some(&doc))
        .await
        .s3(&server);
    let get = |key: &'static str| reader.get_object().bucket("tagged").key(key).send();
    assert!(get("open").await.is_ok());
    assert_eq!(status(&get("closed").await.unwrap_err()), 403);
    assert_eq!(status(&get("plain").await.unwrap_err()), 403);
    assert!(
        reader
            .get_object_tagging()
            .bucket("tagged")
            .key("open")
            .send()
            .await
            .is_ok()
    );

    // Retagging moves the object in or out of reach.
    let retag = |key: &'static str, value: &'static str| {
        c.put_object_tagging()
            .bucket("tagged")
            .key(key)
            .tagging(
                aws_sdk_s3::types::Tagging::builder()
                    .tag_set(
                        aws_sdk_s3::types::Tag::builder()
                            .key("class")
                            .value(value)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
    };
    retag("closed", "public").await.unwrap();
    retag("open", "secret").await.unwrap();
    assert!(get("closed").await.is_ok());
    assert_eq!(status(&get("open").await.unwrap_err()), 403);

    // A bucket-policy Deny on a tag beats the identity policy's Allow.
    let deny = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::tagged/*",
         "Condition": {"StringEquals": {"s3:ExistingObjectTag/embargo": "yes"}}}
    ]});
    c.put_bucket_policy()
        .bucket("tagged")
        .policy(deny.to_string())
        .send()
        .await
        .unwrap();
    assert!(get("closed").await.is_ok());
    c.put_object_tagging()
        .bucket("tagged")
        .key("closed")
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("class")
                        .value("public")
                        .build()
                        .unwrap(),
                )
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("embargo")
                        .value("yes")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(status(&get("closed").await.unwrap_err()), 403);
    // A missing key is still 403 for a caller who may not list.
    assert_eq!(status(&get("never-written").await.unwrap_err()), 403);
}

#[tokio::test]
async fn the_root_keeps_its_bucket_policy_access_unless_it_confirmed_giving_it_up() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("locked").send().await.unwrap();
    let deny_all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::locked","arn:aws:s3:::locked/*"]}]}"#;
    c.put_bucket_policy()
        .bucket("locked")
        .policy(deny_all)
        .send()
        .await
        .unwrap();
    // The Deny binds the root for everything but the bucket policy itself.
    let e = c
        .list_objects_v2()
        .bucket("locked")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 403);
    let got = c.get_bucket_policy().bucket("locked").send().await.unwrap();
    assert_eq!(got.policy(), Some(deny_all));
    c.delete_bucket_policy()
        .bucket("locked")
        .send()
        .await
        .unwrap();
    c.list_objects_v2().bucket("locked").send().await.unwrap();

    // Put with x-amz-confirm-remove-self-bucket-access: the root gave that up too.
    c.put_bucket_policy()
        .bucket("locked")
        .policy(deny_all)
        .confirm_remove_self_bucket_access(true)
        .send()
        .await
        .unwrap();
    let e = c
        .get_bucket_policy()
        .bucket("locked")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 403);
    let e = c
        .delete_bucket_policy()
        .bucket("locked")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 403);
}

#[tokio::test]
async fn a_missing_key_is_404_only_where_a_list_grant_reaches_it() {
    let server = Server::start();
    let c = root(&server);
    let (keys, _) = user_and_id(&server, "lister").await;
    let lister = keys.s3(&server);
    c.create_bucket().bucket("prefixed").send().await.unwrap();
    // Listing is granted under `public/` only, through the policy's s3:prefix condition.
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/lister"},"Action":"s3:ListBucket","Resource":"arn:aws:s3:::prefixed","Condition":{"StringLike":{"s3:prefix":"public/*"}}}]}"#;
    c.put_bucket_policy()
        .bucket("prefixed")
        .policy(policy)
        .send()
        .await
        .unwrap();
    for (key, want) in [("public/missing", 404), ("private/missing", 403)] {
        let head = lister
            .head_object()
            .bucket("prefixed")
            .key(key)
            .send()
            .await;
        assert_eq!(status(&head.unwrap_err()), want, "HEAD {key}");
        let get = lister.get_object().bucket("prefixed").key(key).send().await;
        assert_eq!(status(&get.unwrap_err()), want, "GET {key}");
    }
}

#[tokio::test]
async fn legacy_buckets_start_without_ownership_controls() {
    use aws_sdk_s3::types::{ObjectOwnership, OwnershipControls, OwnershipControlsRule};
    let server = Server::start_with(&[("CUBBY_S3_LEGACY_BUCKET_DEFAULTS", "1")]);
    let c = root(&server);
    c.create_bucket()
        .bucket("legacy-own")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let e = c
        .get_bucket_ownership_controls()
        .bucket("legacy-own")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        (status(&e), code(e.as_service_error().unwrap())),
        (404, "OwnershipControlsNotFoundError".to_owned())
    );
    let enforced = OwnershipControls::builder()
        .rules(
            OwnershipControlsRule::builder()
                .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let put = || {
        c.put_bucket_ownership_controls()
            .bucket("legacy-own")
            .ownership_controls(enforced.clone())
            .send()
    };
    // The public-read ACL would silently stop counting: S3 refuses the switch until it is gone.
    let e = put().await.unwrap_err();
    assert_eq!(
        (status(&e), code(e.as_service_error().unwrap())),
        (400, "InvalidBucketAclWithObjectOwnership".to_owned())
    );
    c.put_bucket_acl()
        .bucket("legacy-own")
        .acl(BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    put().await.unwrap();
    let got = c
        .get_bucket_ownership_controls()
        .bucket("legacy-own")
        .send()
        .await
        .unwrap();
    let rule = &got.ownership_controls().unwrap().rules()[0];
    assert_eq!(
        rule.object_ownership(),
        &ObjectOwnership::BucketOwnerEnforced
    );
}
