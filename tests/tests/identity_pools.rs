//! Identity pools on S3 (issue 5): developer-authenticated identities confined to
//! `private/<identityId>/`, identities isolated from each other, the classic (basic) flow with
//! trust-policy checks, guests, the pool's token JWKS, and bad input answered with AWS JSON
//! errors — never a 500.
#![allow(clippy::unwrap_used)]

mod common;
mod idhelp;

use aws_sdk_s3::primitives::ByteStream;
use common::*;
use idhelp::*;
use serde_json::{Value, json};

const DEV: &str = "login.example.app";
const COGNITO: &str = "cognito-identity.amazonaws.com";

async fn create_pool(server: &Server, name: &str, guests: bool, classic: bool) -> String {
    cognito(server)
        .create_identity_pool()
        .identity_pool_name(name)
        .allow_unauthenticated_identities(guests)
        .allow_classic_flow(classic)
        .developer_provider_name(DEV)
        .send()
        .await
        .unwrap()
        .identity_pool_id()
        .to_owned()
}

async fn set_roles(server: &Server, pool: &str, auth: Option<&str>, unauth: Option<&str>) {
    let mut b = cognito(server)
        .set_identity_pool_roles()
        .identity_pool_id(pool);
    if let Some(a) = auth {
        b = b.roles("authenticated", a);
    }
    if let Some(u) = unauth {
        b = b.roles("unauthenticated", u);
    }
    b.send().await.unwrap();
}

/// A backend's call: its user id → (identity id, token).
async fn dev_token(server: &Server, pool: &str, user: &str) -> (String, String) {
    let out = cognito(server)
        .get_open_id_token_for_developer_identity()
        .identity_pool_id(pool)
        .logins(DEV, user)
        .send()
        .await
        .unwrap();
    (
        out.identity_id().unwrap().to_owned(),
        out.token().unwrap().to_owned(),
    )
}

/// The client's call: token → credentials (enhanced flow).
async fn dev_credentials(server: &Server, identity: &str, token: &str) -> Keys {
    let out = cognito_anon(server)
        .get_credentials_for_identity()
        .identity_id(identity)
        .logins(COGNITO, token)
        .send()
        .await
        .unwrap();
    assert_eq!(out.identity_id(), Some(identity));
    let c = out.credentials().unwrap();
    let exp = c.expiration().unwrap().secs();
    assert!((exp - now() - 3600).abs() < 60, "credentials live 1 h");
    Keys::from(c)
}

fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

async fn put(c: &aws_sdk_s3::Client, key: &str) -> Result<(), String> {
    c.put_object()
        .bucket("photos")
        .key(key)
        .body(ByteStream::from_static(b"img"))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(&e))
}

async fn get(c: &aws_sdk_s3::Client, key: &str) -> Result<(), String> {
    c.get_object()
        .bucket("photos")
        .key(key)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| code(&e))
}

async fn list(c: &aws_sdk_s3::Client, prefix: Option<&str>) -> Result<Vec<String>, String> {
    c.list_objects_v2()
        .bucket("photos")
        .set_prefix(prefix.map(str::to_owned))
        .send()
        .await
        .map(|o| {
            o.contents()
                .iter()
                .map(|c| c.key().unwrap().to_owned())
                .collect()
        })
        .map_err(|e| code(&e))
}

/// A pool whose authenticated role has the own-folder policy; returns the pool id.
async fn own_folder_pool(server: &Server) -> String {
    root(server)
        .create_bucket()
        .bucket("photos")
        .send()
        .await
        .unwrap();
    let pool = create_pool(server, "photos_app", false, false).await;
    let auth = role(
        server,
        "PhotosAuth",
        &cognito_trust(&pool, "authenticated"),
        Some(&own_folder_policy("photos")),
    )
    .await;
    set_roles(server, &pool, Some(&auth), None).await;
    pool
}

#[tokio::test]
async fn developer_identity_reaches_its_own_folder_only() {
    let server = Server::start();
    let pool = own_folder_pool(&server).await;
    let root = root(&server);

    let (id1, token1) = dev_token(&server, &pool, "user-1").await;
    assert!(id1.starts_with("us-east-1:"), "{id1}");
    // The same backend user always maps to the same identity.
    let (again, _) = dev_token(&server, &pool, "user-1").await;
    assert_eq!(again, id1);
    let claims = jwt_claims(&token1);
    assert_eq!(claims["iss"], "https://cognito-identity.amazonaws.com");
    assert_eq!(claims["aud"], pool.as_str());
    assert_eq!(claims["sub"], id1.as_str());
    // Tokens default to 15 minutes.
    let ttl = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert_eq!(ttl, 900);

    let s3 = dev_credentials(&server, &id1, &token1).await.s3(&server);
    let mine = format!("private/{id1}/photo.jpg");
    put(&s3, &mine).await.unwrap();
    get(&s3, &mine).await.unwrap();
    assert_eq!(
        list(&s3, Some(&format!("private/{id1}/"))).await.unwrap(),
        vec![mine.clone()]
    );
    // Nothing else: not the bucket, not `private/`, not a sibling folder, not the bucket root.
    root.put_object()
        .bucket("photos")
        .key("private/us-east-1:00000000-0000-0000-0000-000000000000/x")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    root.put_object()
        .bucket("photos")
        .key("public/readme")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        list(&s3, Some("private/")).await.unwrap_err(),
        "AccessDenied"
    );
    assert_eq!(list(&s3, None).await.unwrap_err(), "AccessDenied");
    assert_eq!(
        list(&s3, Some("private/us-east-1:")).await.unwrap_err(),
        "AccessDenied"
    );
    assert_eq!(
        list(&s3, Some(&format!("private/{id1}")))
            .await
            .unwrap_err(),
        "AccessDenied"
    );
    assert_eq!(
        get(
            &s3,
            "private/us-east-1:00000000-0000-0000-0000-000000000000/x"
        )
        .await
        .unwrap_err(),
        "AccessDenied"
    );
    assert_eq!(
        put(
            &s3,
            "private/us-east-1:00000000-0000-0000-0000-000000000000/y"
        )
        .await
        .unwrap_err(),
        "AccessDenied"
    );
    assert_eq!(get(&s3, "public/readme").await.unwrap_err(), "AccessDenied");
    assert_eq!(put(&s3, "top-level.txt").await.unwrap_err(), "AccessDenied");
    assert_eq!(
        put(&s3, &format!("private/{id1}")).await.unwrap_err(),
        "AccessDenied"
    );
    // A prefix that merely starts with the id is another folder.
    assert_eq!(
        put(&s3, &format!("private/{id1}x/evil")).await.unwrap_err(),
        "AccessDenied"
    );
    let e = must_fail(s3.delete_object().bucket("photos").key(&mine).send()).await;
    assert_eq!(code(&e), "AccessDenied");
    let e = must_fail(s3.list_buckets().send()).await;
    assert_eq!(code(&e), "AccessDenied");

    // The session's identity is the role session Cognito names.
    let who = Keys::from(
        cognito_anon(&server)
            .get_credentials_for_identity()
            .identity_id(&id1)
            .logins(COGNITO, &token1)
            .send()
            .await
            .unwrap()
            .credentials()
            .unwrap(),
    )
    .sts(&server)
    .get_caller_identity()
    .send()
    .await
    .unwrap();
    assert_eq!(
        who.arn(),
        Some("arn:aws:sts::000000000000:assumed-role/PhotosAuth/CognitoIdentityCredentials")
    );

    // The backend can look its user up.
    let lk = cognito(&server)
        .lookup_developer_identity()
        .identity_pool_id(&pool)
        .developer_user_identifier("user-1")
        .send()
        .await
        .unwrap();
    assert_eq!(lk.identity_id(), Some(id1.as_str()));
    let d = cognito(&server)
        .describe_identity()
        .identity_id(&id1)
        .send()
        .await
        .unwrap();
    assert_eq!(d.logins(), [DEV.to_owned()]);
    // The developer-identity API needs the right to call it: an IAM user without it is refused.
    let nobody = user_with_policy(&server, "nobody", None).await;
    let e = must_fail(
        cognito_as(&server.endpoint, Some((&nobody.ak, &nobody.sk, None)))
            .get_open_id_token_for_developer_identity()
            .identity_pool_id(&pool)
            .logins(DEV, "user-1")
            .send(),
    )
    .await;
    assert_eq!(err_code(&e), "AccessDeniedException", "{e:?}");
}

#[tokio::test]
async fn two_identities_are_isolated() {
    let server = Server::start();
    let pool = own_folder_pool(&server).await;

    let (id1, t1) = dev_token(&server, &pool, "alice").await;
    let (id2, t2) = dev_token(&server, &pool, "bob").await;
    assert_ne!(id1, id2);
    let a = dev_credentials(&server, &id1, &t1).await.s3(&server);
    let b = dev_credentials(&server, &id2, &t2).await.s3(&server);
    let fa = format!("private/{id1}/a.txt");
    let fb = format!("private/{id2}/b.txt");
    put(&a, &fa).await.unwrap();
    put(&b, &fb).await.unwrap();

    assert_eq!(get(&a, &fb).await.unwrap_err(), "AccessDenied");
    assert_eq!(get(&b, &fa).await.unwrap_err(), "AccessDenied");
    assert_eq!(
        put(&a, &format!("private/{id2}/planted"))
            .await
            .unwrap_err(),
        "AccessDenied"
    );
    assert_eq!(
        put(&b, &format!("private/{id1}/planted"))
            .await
            .unwrap_err(),
        "AccessDenied"
    );
    assert_eq!(
        list(&a, Some(&format!("private/{id2}/")))
            .await
            .unwrap_err(),
        "AccessDenied"
    );
    assert_eq!(
        list(&b, Some(&format!("private/{id1}/")))
            .await
            .unwrap_err(),
        "AccessDenied"
    );
    assert_eq!(
        list(&a, Some(&format!("private/{id1}/"))).await.unwrap(),
        vec![fa.clone()]
    );
    assert_eq!(
        list(&b, Some(&format!("private/{id2}/"))).await.unwrap(),
        vec![fb.clone()]
    );
    // Overwrites and copies across the boundary are refused too.
    let e = must_fail(
        a.copy_object()
            .bucket("photos")
            .key(format!("private/{id1}/stolen"))
            .copy_source(format!("photos/{fb}"))
            .send(),
    )
    .await;
    assert_eq!(code(&e), "AccessDenied");

    // One identity's token does not open the other identity.
    let e = must_fail(
        cognito_anon(&server)
            .get_credentials_for_identity()
            .identity_id(&id2)
            .logins(COGNITO, &t1)
            .send(),
    )
    .await;
    assert!(
        e.as_service_error().unwrap().is_not_authorized_exception(),
        "{e:?}"
    );
    // Nor does the absence of a token: an authenticated identity needs its login.
    let e = must_fail(
        cognito_anon(&server)
            .get_credentials_for_identity()
            .identity_id(&id1)
            .send(),
    )
    .await;
    assert!(
        e.as_service_error().unwrap().is_not_authorized_exception(),
        "{e:?}"
    );
    // A token from another pool is not a login of this one.
    let other = create_pool(&server, "other_app", false, false).await;
    let (_, foreign) = dev_token(&server, &other, "alice").await;
    let e = must_fail(
        cognito_anon(&server)
            .get_credentials_for_identity()
            .identity_id(&id1)
            .logins(COGNITO, &foreign)
            .send(),
    )
    .await;
    assert!(
        e.as_service_error().unwrap().is_not_authorized_exception(),
        "{e:?}"
    );

    // A role whose trust policy names another pool is never assumed for this one.
    let foreign_role = role(
        &server,
        "OtherPoolRole",
        &cognito_trust(&other, "authenticated"),
        Some(&own_folder_policy("photos")),
    )
    .await;
    set_roles(&server, &pool, Some(&foreign_role), None).await;
    let e = must_fail(
        cognito_anon(&server)
            .get_credentials_for_identity()
            .identity_id(&id1)
            .logins(COGNITO, &t1)
            .send(),
    )
    .await;
    assert!(
        e.as_service_error()
            .unwrap()
            .is_invalid_identity_pool_configuration_exception(),
        "{e:?}"
    );
}

#[tokio::test]
async fn classic_flow_checks_the_trust_policy() {
    let server = Server::start();
    let root = root(&server);
    root.create_bucket().bucket("photos").send().await.unwrap();
    root.put_object()
        .bucket("photos")
        .key("public/readme")
        .body(ByteStream::from_static(b"hi"))
        .send()
        .await
        .unwrap();
    let pool = create_pool(&server, "classic_app", true, true).await;
    let other_pool = create_pool(&server, "unrelated_app", true, true).await;
    let guest_role = role(
        &server,
        "Guest",
        &cognito_trust(&pool, "unauthenticated"),
        Some(&policy(json!([allow(
            &["s3:GetObject"],
            &["arn:aws:s3:::photos/public/*"]
        )]))),
    )
    .await;
    let auth_role = role(
        &server,
        "Member",
        &cognito_trust(&pool, "authenticated"),
        Some(&own_folder_policy("photos")),
    )
    .await;
    let other_role = role(
        &server,
        "OtherMember",
        &cognito_trust(&other_pool, "authenticated"),
        None,
    )
    .await;
    let sts = sts_anon(&server);
    let assume = |role_arn: String, token: String| {
        let sts = sts.clone();
        async move {
            sts.assume_role_with_web_identity()
                .role_arn(role_arn)
                .role_session_name("web-identity")
                .web_identity_token(token)
                .send()
                .await
        }
    };

    // A guest: GetId → GetOpenIdToken → AssumeRoleWithWebIdentity on the guest role.
    let anon = cognito_anon(&server);
    let gid = anon
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_owned();
    let gtok = anon
        .get_open_id_token()
        .identity_id(&gid)
        .send()
        .await
        .unwrap()
        .token()
        .unwrap()
        .to_owned();
    let c = jwt_claims(&gtok);
    assert_eq!(c["amr"], json!(["unauthenticated"]));
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600);
    let out = assume(guest_role.clone(), gtok.clone()).await.unwrap();
    assert_eq!(out.subject_from_web_identity_token(), Some(gid.as_str()));
    assert_eq!(out.audience(), Some(pool.as_str()));
    assert_eq!(out.provider(), Some(COGNITO));
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        "arn:aws:sts::000000000000:assumed-role/Guest/web-identity"
    );
    let g = Keys::from(out.credentials().unwrap().clone()).s3(&server);
    get(&g, "public/readme").await.unwrap();
    assert_eq!(put(&g, "public/x").await, Err("AccessDenied".into()));

    // amr mismatch: a guest token for the authenticated role.
    let e = must_fail(assume(auth_role.clone(), gtok.clone())).await;
    assert_eq!(err_code(&e), "AccessDenied", "{e:?}");
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 403);

    // A developer identity (authenticated) gets the member role, whose policy sees its sub.
    let (did, dtok) = dev_token(&server, &pool, "user-9").await;
    let out = assume(auth_role.clone(), dtok.clone()).await.unwrap();
    let m = Keys::from(out.credentials().unwrap().clone()).s3(&server);
    put(&m, &format!("private/{did}/a")).await.unwrap();
    assert_eq!(
        put(
            &m,
            "private/us-east-1:00000000-0000-0000-0000-000000000000/a"
        )
        .await,
        Err("AccessDenied".into())
    );
    // amr mismatch the other way.
    let e = must_fail(assume(guest_role.clone(), dtok.clone())).await;
    assert_eq!(err_code(&e), "AccessDenied", "{e:?}");
    // aud mismatch: a role that trusts another pool.
    let e = must_fail(assume(other_role.clone(), dtok.clone())).await;
    assert_eq!(err_code(&e), "AccessDenied", "{e:?}");
    // GetOpenIdToken with the developer token works too (same identity, authenticated amr).
    let t2 = anon
        .get_open_id_token()
        .identity_id(&did)
        .logins(COGNITO, &dtok)
        .send()
        .await
        .unwrap();
    assert_eq!(t2.identity_id(), Some(did.as_str()));
    assert!(
        jwt_claims(t2.token().unwrap())["amr"]
            .as_array()
            .unwrap()
            .contains(&json!("authenticated"))
    );
    // A tampered token.
    let mut bad = dtok.clone();
    bad.truncate(bad.len() - 4);
    bad.push_str("AAAA");
    let e = must_fail(assume(auth_role.clone(), bad)).await;
    assert!(
        e.as_service_error()
            .unwrap()
            .is_invalid_identity_token_exception(),
        "{e:?}"
    );

    // With AllowClassicFlow false: no GetOpenIdToken, and STS refuses the pool's tokens.
    let closed = create_pool(&server, "enhanced_only", true, false).await;
    let closed_role = role(
        &server,
        "ClosedMember",
        &cognito_trust(&closed, "authenticated"),
        None,
    )
    .await;
    let cid = anon
        .get_id()
        .identity_pool_id(&closed)
        .send()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_owned();
    let e = must_fail(anon.get_open_id_token().identity_id(&cid).send()).await;
    assert!(
        e.as_service_error()
            .unwrap()
            .is_invalid_parameter_exception(),
        "{e:?}"
    );
    let (_, ctok) = dev_token(&server, &closed, "user-9").await;
    let e = must_fail(assume(closed_role, ctok)).await;
    assert!(
        e.as_service_error()
            .unwrap()
            .is_invalid_identity_token_exception(),
        "{e:?}"
    );

    // The pool's signing keys are public: a backend can verify these tokens itself.
    let jwks: Value = serde_json::from_str(
        &reqwest::get(format!("{}/_cubby/identity/jwks.json", server.endpoint))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let kid = jsonwebtoken::decode_header(&dtok).unwrap().kid.unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(set.find(&kid).unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[pool.as_str()]);
    v.set_issuer(&["https://cognito-identity.amazonaws.com"]);
    let data = jsonwebtoken::decode::<Value>(&dtok, &key, &v).unwrap();
    assert_eq!(data.claims["sub"], did.as_str());
}

#[tokio::test]
async fn guests_only_when_the_pool_allows_them() {
    let server = Server::start();
    let root = root(&server);
    root.create_bucket().bucket("photos").send().await.unwrap();
    let pool = create_pool(&server, "guests_app", true, false).await;
    let guest_role = role(
        &server,
        "GuestRole",
        &cognito_trust(&pool, "unauthenticated"),
        Some(&policy(json!([allow(
            &["s3:PutObject"],
            &["arn:aws:s3:::photos/uploads/*"]
        )]))),
    )
    .await;
    let anon = cognito_anon(&server);

    // No unauthenticated role yet: a configuration error, not credentials.
    let gid = anon
        .get_id()
        .identity_pool_id(&pool)
        .set_logins(Some(Default::default()))
        .send()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_owned();
    let e = must_fail(anon.get_credentials_for_identity().identity_id(&gid).send()).await;
    assert!(
        e.as_service_error()
            .unwrap()
            .is_invalid_identity_pool_configuration_exception(),
        "{e:?}"
    );
    set_roles(&server, &pool, None, Some(&guest_role)).await;
    let out = anon
        .get_credentials_for_identity()
        .identity_id(&gid)
        .send()
        .await
        .unwrap();
    let g = Keys::from(out.credentials().unwrap()).s3(&server);
    put(&g, "uploads/x").await.unwrap();
    assert_eq!(get(&g, "uploads/x").await, Err("AccessDenied".into()));
    // GetId without logins always creates a new guest identity.
    let gid2 = anon
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_owned();
    assert_ne!(gid, gid2);

    // Guests disabled: GetId and GetCredentialsForIdentity both say NotAuthorized.
    let desc = cognito(&server)
        .describe_identity_pool()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap();
    cognito(&server)
        .update_identity_pool()
        .identity_pool_id(&pool)
        .identity_pool_name(desc.identity_pool_name())
        .allow_unauthenticated_identities(false)
        .developer_provider_name(DEV)
        .send()
        .await
        .unwrap();
    let e = must_fail(anon.get_id().identity_pool_id(&pool).send()).await;
    let se = e.as_service_error().unwrap();
    assert!(se.is_not_authorized_exception(), "{e:?}");
    assert_eq!(
        se.meta().message(),
        Some("Unauthenticated access is not supported for this identity pool.")
    );
    let e = must_fail(anon.get_credentials_for_identity().identity_id(&gid).send()).await;
    assert!(
        e.as_service_error().unwrap().is_not_authorized_exception(),
        "{e:?}"
    );
    let e = must_fail(anon.get_open_id_token().identity_id(&gid).send()).await;
    assert!(
        e.as_service_error()
            .is_some_and(|s| s.is_not_authorized_exception() || s.is_invalid_parameter_exception()),
        "{e:?}"
    );

    // A pool created without guests.
    let closed = create_pool(&server, "members_only", false, false).await;
    let e = must_fail(anon.get_id().identity_pool_id(&closed).send()).await;
    assert!(
        e.as_service_error().unwrap().is_not_authorized_exception(),
        "{e:?}"
    );
    // Unknown pool.
    let e = must_fail(
        anon.get_id()
            .identity_pool_id("us-east-1:00000000-0000-0000-0000-00000000dead")
            .send(),
    )
    .await;
    assert!(
        e.as_service_error()
            .unwrap()
            .is_resource_not_found_exception(),
        "{e:?}"
    );
    // Unknown identity.
    let e = must_fail(
        anon.get_credentials_for_identity()
            .identity_id("us-east-1:00000000-0000-0000-0000-00000000beef")
            .send(),
    )
    .await;
    assert!(
        e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()
            || s.is_not_authorized_exception()),
        "{e:?}"
    );
}

/// POST a raw Cognito Identity request; returns (status, headers, parsed JSON body).
async fn raw_ci(
    server: &Server,
    op: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/", server.endpoint))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", format!("AWSCognitoIdentityService.{op}"))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {status} {text}"));
    (status, headers, v)
}

fn assert_json_error(what: &str, got: &(u16, reqwest::header::HeaderMap, Value), codes: &[&str]) {
    let (status, headers, v) = got;
    assert!((400..500).contains(status), "{what}: status {status}: {v}");
    let t = v["__type"].as_str().unwrap_or("");
    assert!(codes.contains(&t), "{what}: {v}");
    assert!(v["message"].is_string(), "{what}: {v}");
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/x-amz-json-1.1",
        "{what}"
    );
    assert_eq!(
        headers.get("x-amzn-errortype").unwrap().to_str().unwrap(),
        format!("{t}:"),
        "{what}"
    );
}

#[tokio::test]
async fn bad_input_gets_aws_json_errors_never_a_500() {
    let server = Server::start();
    let pool = create_pool(&server, "input_app", true, true).await;
    const SER: &[&str] = &["SerializationException"];
    const INV: &[&str] = &["InvalidParameterException"];

    assert_json_error(
        "malformed JSON",
        &raw_ci(&server, "GetId", "{not json").await,
        SER,
    );
    assert_json_error("array body", &raw_ci(&server, "GetId", "[]").await, SER);
    assert_json_error(
        "deep nesting",
        &raw_ci(&server, "GetId", "[".repeat(100_000)).await,
        SER,
    );
    assert_json_error(
        "invalid UTF-8",
        &raw_ci(&server, "GetId", vec![b'{', 0xff, 0xfe, b'}']).await,
        SER,
    );
    assert_json_error(
        "wrong type",
        &raw_ci(&server, "GetId", r#"{"IdentityPoolId": 5}"#).await,
        SER,
    );
    assert_json_error(
        "Logins not a map",
        &raw_ci(
            &server,
            "GetId",
            json!({"IdentityPoolId": pool, "Logins": ["x"]}).to_string(),
        )
        .await,
        SER,
    );
    for op in ["GetId", "GetCredentialsForIdentity", "GetOpenIdToken"] {
        assert_json_error(
            &format!("{op} missing fields"),
            &raw_ci(&server, op, "{}").await,
            INV,
        );
        assert_json_error(
            &format!("{op} empty body"),
            &raw_ci(&server, op, "").await,
            INV,
        );
    }
    assert_json_error(
        "bad id format",
        &raw_ci(
            &server,
            "GetCredentialsForIdentity",
            r#"{"IdentityId": "../../etc/passwd"}"#,
        )
        .await,
        &["InvalidParameterException", "ResourceNotFoundException"],
    );
    assert_json_error(
        "unknown operation",
        &raw_ci(&server, "FlyToTheMoon", "{}").await,
        &[
            "UnknownOperationException",
            "MissingAuthenticationTokenException",
        ],
    );

    // Oversized Logins: too many entries, too long a key, too long a token.
    let many: serde_json::Map<String, Value> = (0..11)
        .map(|i| (format!("p{i}.example.com"), json!("t")))
        .collect();
    let long_key: serde_json::Map<String, Value> =
        [("k".repeat(129), json!("t"))].into_iter().collect();
    let long_tok: serde_json::Map<String, Value> =
        [("accounts.google.com".to_owned(), json!("t".repeat(50_001)))]
            .into_iter()
            .collect();
    for (what, logins) in [
        ("11 logins", many),
        ("129-char provider", long_key),
        ("50001-char token", long_tok),
    ] {
        assert_json_error(
            what,
            &raw_ci(
                &server,
                "GetId",
                json!({"IdentityPoolId": pool, "Logins": logins}).to_string(),
            )
            .await,
            INV,
        );
    }
    // Garbage tokens are NotAuthorized, not a crash.
    for tok in ["x", "a.b.c", "....", &"A".repeat(40_000)] {
        assert_json_error(
            "garbage token",
            &raw_ci(
                &server,
                "GetId",
                json!({"IdentityPoolId": pool, "Logins": {COGNITO: tok}}).to_string(),
            )
            .await,
            &["NotAuthorizedException"],
        );
    }

    // 10 MB bodies: with a Content-Length, and streamed without one.
    let big = vec![b' '; 10 * 1024 * 1024];
    let got = raw_ci(&server, "GetId", big.clone()).await;
    assert_json_error(
        "10 MB body",
        &got,
        &["InvalidParameterException", "SerializationException"],
    );
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..160).map(|_| Ok(vec![b' '; 64 * 1024])).collect();
    let got = raw_ci(
        &server,
        "GetId",
        reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)),
    )
    .await;
    assert_json_error(
        "10 MB streamed body",
        &got,
        &["InvalidParameterException", "SerializationException"],
    );

    // Signed operations without a signature.
    let got = raw_ci(
        &server,
        "CreateIdentityPool",
        r#"{"IdentityPoolName":"x","AllowUnauthenticatedIdentities":true}"#,
    )
    .await;
    assert!(got.0 == 403 || got.0 == 400, "{got:?}");
    assert!(
        got.2["__type"].as_str().unwrap().contains("Missing"),
        "{got:?}"
    );

    // STS bad input: XML errors, never a 500.
    let form = |pairs: &[(&str, &str)]| {
        let body: String = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        reqwest::Client::new()
            .post(format!("{}/", server.endpoint))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    for (what, pairs, want) in [
        (
            "missing RoleArn",
            vec![
                ("Action", "AssumeRoleWithWebIdentity"),
                ("Version", "2011-06-15"),
                ("RoleSessionName", "sess"),
                ("WebIdentityToken", "a.b.c"),
            ],
            vec!["ValidationError", "MissingParameter"],
        ),
        (
            "garbage token",
            vec![
                ("Action", "AssumeRoleWithWebIdentity"),
                ("Version", "2011-06-15"),
                ("RoleArn", "arn:aws:iam::000000000000:role/x"),
                ("RoleSessionName", "sess"),
                ("WebIdentityToken", "a.b.c"),
            ],
            vec!["InvalidIdentityToken"],
        ),
        (
            "bad session name",
            vec![
                ("Action", "AssumeRoleWithWebIdentity"),
                ("Version", "2011-06-15"),
                ("RoleArn", "arn:aws:iam::000000000000:role/x"),
                ("RoleSessionName", "no spaces allowed"),
                ("WebIdentityToken", "a.b.c"),
            ],
            vec!["ValidationError", "InvalidIdentityToken"],
        ),
        (
            "unknown action",
            vec![("Action", "FlyToTheMoon"), ("Version", "2011-06-15")],
            vec!["InvalidAction", "MissingAuthenticationToken"],
        ),
    ] {
        let r = form(&pairs).await.unwrap();
        let s = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert!((400..500).contains(&s), "{what}: {s} {body}");
        assert!(
            want.iter()
                .any(|c| body.contains(&format!("<Code>{c}</Code>"))),
            "{what}: {body}"
        );
    }
    let r = reqwest::Client::new()
        .post(format!("{}/", server.endpoint))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&Policy={}",
            "x".repeat(10 * 1024 * 1024)
        ))
        .send()
        .await
        .unwrap();
    let s = r.status().as_u16();
    assert!((400..500).contains(&s), "10 MB STS form: {s}");
    assert!(r.text().await.unwrap().contains("<Code>"));

    // The server is still fine.
    let r = reqwest::get(format!("{}/_cubby/health", server.endpoint))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
