//! An external OIDC issuer served by the test itself (discovery + JWKS on 127.0.0.1),
//! registered with IAM CreateOpenIDConnectProvider: its tokens through STS
//! AssumeRoleWithWebIdentity and as identity-pool logins. A valid token is accepted; expired,
//! wrong `aud`, wrong `iss`, `alg: none`, HS256 signed with the public key, unknown `kid`, a
//! foreign key and a tampered payload are each rejected.
#![allow(clippy::unwrap_used)]

mod common;
mod idhelp;

use aws_sdk_s3::primitives::ByteStream;
use common::*;
use idhelp::*;
use serde_json::json;

#[tokio::test]
async fn sts_web_identity_with_an_external_issuer() {
    let server = Server::start();
    let issuer = Issuer::start();
    let arn = issuer.register(&server, &["client-a"]).await;
    let got = iam(&server)
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(got.client_id_list(), ["client-a".to_owned()]);

    let root = root(&server);
    root.create_bucket().bucket("docs").send().await.unwrap();
    for k in ["oidc/alice/a.txt", "oidc/bob/b.txt"] {
        root.put_object()
            .bucket("docs")
            .key(k)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    let host = issuer.host.clone();
    let trust = |cond: serde_json::Value| {
        json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": arn.clone()},
            "Action": "sts:AssumeRoleWithWebIdentity", "Condition": cond
        }]})
    };
    let role_arn = role(
        &server,
        "OidcReader",
        &trust(json!({"StringEquals": {format!("{host}:aud"): "client-a"}})),
        Some(&policy(json!([allow(
            &["s3:GetObject"],
            &[&format!("arn:aws:s3:::docs/oidc/${{{host}:sub}}/*")]
        )]))),
    )
    .await;
    let bob_only = role(
        &server,
        "BobOnly",
        &trust(json!({"StringEquals": {format!("{host}:sub"): "bob"}})),
        None,
    )
    .await;
    let sts = sts_anon(&server);
    let assume = |role_arn: String, token: String| {
        let sts = sts.clone();
        async move {
            sts.assume_role_with_web_identity()
                .role_arn(role_arn)
                .role_session_name("oidc-session")
                .web_identity_token(token)
                .send()
                .await
        }
    };

    // A valid token.
    let claims = issuer.claims("alice", "client-a");
    let out = assume(role_arn.clone(), issuer.token(&claims))
        .await
        .unwrap();
    assert_eq!(out.subject_from_web_identity_token(), Some("alice"));
    assert_eq!(out.audience(), Some("client-a"));
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        "arn:aws:sts::000000000000:assumed-role/OidcReader/oidc-session"
    );
    // The session's `<provider>:sub` fills the policy variable.
    let s3 = Keys::from(out.credentials().unwrap().clone()).s3(&server);
    s3.get_object()
        .bucket("docs")
        .key("oidc/alice/a.txt")
        .send()
        .await
        .unwrap();
    let e = must_fail(s3.get_object().bucket("docs").key("oidc/bob/b.txt").send()).await;
    assert_eq!(code(&e), "AccessDenied");

    // The trust policy's `sub` condition.
    let e = must_fail(assume(bob_only.clone(), issuer.token(&claims))).await;
    assert_eq!(err_code(&e), "AccessDenied", "{e:?}");
    assume(
        bob_only.clone(),
        issuer.token(&issuer.claims("bob", "client-a")),
    )
    .await
    .unwrap();

    // Every bad token.
    for (what, token) in bad_tokens(&issuer, &claims, 60) {
        let e = must_fail(assume(role_arn.clone(), token)).await;
        let se = e
            .as_service_error()
            .unwrap_or_else(|| panic!("{what}: {e:?}"));
        if what == "expired" {
            assert!(se.is_expired_token_exception(), "{what}: {e:?}");
        } else {
            assert!(se.is_invalid_identity_token_exception(), "{what}: {e:?}");
        }
        assert_eq!(e.raw_response().unwrap().status().as_u16(), 400, "{what}");
    }

    // A client id added to the provider passes the provider's check, but the role's trust
    // policy still wants `client-a`.
    iam(&server)
        .add_client_id_to_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .client_id("client-b")
        .send()
        .await
        .unwrap();
    let e = must_fail(assume(
        role_arn.clone(),
        issuer.token(&issuer.claims("alice", "client-b")),
    ))
    .await;
    assert_eq!(err_code(&e), "AccessDenied", "{e:?}");

    // DurationSeconds beyond the role's maximum.
    let e = must_fail(
        sts.assume_role_with_web_identity()
            .role_arn(&role_arn)
            .role_session_name("long")
            .web_identity_token(issuer.token(&claims))
            .duration_seconds(7200)
            .send(),
    )
    .await;
    assert_eq!(err_code(&e), "ValidationError", "{e:?}");

    // Once the provider is deleted its tokens mean nothing.
    iam(&server)
        .delete_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .send()
        .await
        .unwrap();
    let e = must_fail(assume(role_arn.clone(), issuer.token(&claims))).await;
    assert!(
        e.as_service_error()
            .unwrap()
            .is_invalid_identity_token_exception(),
        "{e:?}"
    );
}

#[tokio::test]
async fn identity_pool_logins_from_an_external_issuer() {
    let server = Server::start();
    let issuer = Issuer::start();
    let arn = issuer.register(&server, &["client-a"]).await;
    root(&server)
        .create_bucket()
        .bucket("photos")
        .send()
        .await
        .unwrap();
    let pool = cognito(&server)
        .create_identity_pool()
        .identity_pool_name("oidc_app")
        .allow_unauthenticated_identities(false)
        .open_id_connect_provider_arns(&arn)
        .send()
        .await
        .unwrap()
        .identity_pool_id()
        .to_owned();
    let auth = role(
        &server,
        "OidcMember",
        &cognito_trust(&pool, "authenticated"),
        Some(&own_folder_policy("photos")),
    )
    .await;
    cognito(&server)
        .set_identity_pool_roles()
        .identity_pool_id(&pool)
        .roles("authenticated", &auth)
        .send()
        .await
        .unwrap();
    let anon = cognito_anon(&server);
    let host = issuer.host.clone();
    let claims = issuer.claims("alice", "client-a");

    // A valid token: an identity (the same one every time) and credentials for it.
    let id = anon
        .get_id()
        .identity_pool_id(&pool)
        .logins(&host, issuer.token(&claims))
        .send()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_owned();
    let again = anon
        .get_id()
        .identity_pool_id(&pool)
        .logins(&host, issuer.token(&claims))
        .send()
        .await
        .unwrap();
    assert_eq!(again.identity_id(), Some(id.as_str()));
    let out = anon
        .get_credentials_for_identity()
        .identity_id(&id)
        .logins(&host, issuer.token(&claims))
        .send()
        .await
        .unwrap();
    let s3 = Keys::from(out.credentials().unwrap()).s3(&server);
    s3.put_object()
        .bucket("photos")
        .key(format!("private/{id}/me.jpg"))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let e = must_fail(
        s3.put_object()
            .bucket("photos")
            .key("private/someone-else/me.jpg")
            .body(ByteStream::from_static(b"x"))
            .send(),
    )
    .await;
    assert_eq!(code(&e), "AccessDenied");

    // Within AWS's 5-minute skew allowance an expired token still counts.
    let mut recent = claims.clone();
    recent["exp"] = json!(now() - 100);
    anon.get_credentials_for_identity()
        .identity_id(&id)
        .logins(&host, issuer.token(&recent))
        .send()
        .await
        .unwrap();

    // Every bad token, on GetId and on GetCredentialsForIdentity.
    for (what, token) in bad_tokens(&issuer, &claims, 600) {
        let e = must_fail(
            anon.get_id()
                .identity_pool_id(&pool)
                .logins(&host, &token)
                .send(),
        )
        .await;
        assert!(
            e.as_service_error()
                .is_some_and(|s| s.is_not_authorized_exception()),
            "GetId, {what}: {e:?}"
        );
        let e = must_fail(
            anon.get_credentials_for_identity()
                .identity_id(&id)
                .logins(&host, &token)
                .send(),
        )
        .await;
        assert!(
            e.as_service_error()
                .is_some_and(|s| s.is_not_authorized_exception()),
            "GetCredentialsForIdentity, {what}: {e:?}"
        );
    }

    // Another user's valid token does not open alice's identity.
    let bob = issuer.token(&issuer.claims("bob", "client-a"));
    let e = must_fail(
        anon.get_credentials_for_identity()
            .identity_id(&id)
            .logins(&host, &bob)
            .send(),
    )
    .await;
    let se = e.as_service_error().unwrap();
    assert!(se.is_not_authorized_exception(), "{e:?}");
    // A provider the pool does not have.
    let e = must_fail(
        anon.get_id()
            .identity_pool_id(&pool)
            .logins("accounts.google.com", issuer.token(&claims))
            .send(),
    )
    .await;
    assert!(
        e.as_service_error().unwrap().is_not_authorized_exception(),
        "{e:?}"
    );
    // No login at all on an authenticated identity.
    let e = must_fail(anon.get_credentials_for_identity().identity_id(&id).send()).await;
    assert!(
        e.as_service_error().unwrap().is_not_authorized_exception(),
        "{e:?}"
    );
}

#[tokio::test]
async fn guest_upgrades_in_place_and_a_second_guest_merges() {
    let server = Server::start();
    let issuer = Issuer::start();
    let arn = issuer.register(&server, &["client-a"]).await;
    let pool = cognito(&server)
        .create_identity_pool()
        .identity_pool_name("upgrade_app")
        .allow_unauthenticated_identities(true)
        .open_id_connect_provider_arns(&arn)
        .send()
        .await
        .unwrap()
        .identity_pool_id()
        .to_owned();
    let auth = role(
        &server,
        "Member",
        &cognito_trust(&pool, "authenticated"),
        None,
    )
    .await;
    let guest = role(
        &server,
        "Guest",
        &cognito_trust(&pool, "unauthenticated"),
        None,
    )
    .await;
    cognito(&server)
        .set_identity_pool_roles()
        .identity_pool_id(&pool)
        .roles("authenticated", &auth)
        .roles("unauthenticated", &guest)
        .send()
        .await
        .unwrap();
    let anon = cognito_anon(&server);
    let host = issuer.host.clone();
    let alice = || issuer.token(&issuer.claims("alice", "client-a"));
    let new_guest = || async {
        anon.get_id()
            .identity_pool_id(&pool)
            .send()
            .await
            .unwrap()
            .identity_id()
            .unwrap()
            .to_owned()
    };

    // A guest who signs in keeps the identity id (unauth → auth upgrade).
    let g1 = new_guest().await;
    anon.get_credentials_for_identity()
        .identity_id(&g1)
        .send()
        .await
        .unwrap();
    let out = anon
        .get_credentials_for_identity()
        .identity_id(&g1)
        .logins(&host, alice())
        .send()
        .await
        .unwrap();
    assert_eq!(out.identity_id(), Some(g1.as_str()));
    let who = Keys::from(out.credentials().unwrap())
        .sts(&server)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert!(
        who.arn().unwrap().contains("assumed-role/Member/"),
        "{who:?}"
    );
    // From now on the identity needs its login.
    let e = must_fail(anon.get_credentials_for_identity().identity_id(&g1).send()).await;
    assert!(e.as_service_error().unwrap().is_not_authorized_exception());
    let again = anon
        .get_id()
        .identity_pool_id(&pool)
        .logins(&host, alice())
        .send()
        .await
        .unwrap();
    assert_eq!(again.identity_id(), Some(g1.as_str()));

    // A fresh guest id presented with alice's login: merged into alice's identity, which the
    // answer names; the guest id is disabled.
    let g2 = new_guest().await;
    let out = anon
        .get_credentials_for_identity()
        .identity_id(&g2)
        .logins(&host, alice())
        .send()
        .await
        .unwrap();
    assert_eq!(out.identity_id(), Some(g1.as_str()));
    let e = must_fail(anon.get_credentials_for_identity().identity_id(&g2).send()).await;
    let se = e.as_service_error().unwrap();
    assert!(se.is_not_authorized_exception(), "{e:?}");
    assert!(se.meta().message().unwrap().contains("forbidden"), "{e:?}");
}
