#![allow(clippy::unwrap_used)]
//! End to end through the public API, without HTTP: IAM and Cognito admin calls signed with the
//! root keys, the unsigned guest flow, and the resulting credentials decided by the authority.

use bytes::Bytes;
use cubby_auth::session::MasterKey;
use cubby_identity::{Identity, IdentityConfig};
use cubby_s3::{AccessRequest, Authority};
use http::request::Parts;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;

const ROOT_AK: &str = "AKIAROOTEXAMPLE";
const ROOT_SK: &str = "rootsecretexample";
const NOW: i64 = 1_800_000_000;

fn peer() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40000))
}

async fn setup() -> Arc<Identity> {
    let dir = std::env::temp_dir().join(format!("cubby-identity-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let meta = cubby_meta::Meta::connect(&cubby_meta::pgtest::test_url(&dir).await.unwrap())
        .await
        .unwrap();
    Identity::new(
        meta,
        MasterKey::from_bytes([9; 32]),
        IdentityConfig {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            root_access_key_id: ROOT_AK.into(),
            root_secret_access_key: ROOT_SK.into(),
            public_url: "http://127.0.0.1:9000".into(),
            local_issuers: None,
        },
    )
    .unwrap()
}

fn parts(headers: &[(&str, &str)], uri: &str) -> Parts {
    let mut b = http::Request::builder()
        .method("POST")
        .uri(uri)
        .header("host", "127.0.0.1:9000");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

fn sha(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

/// A root-signed IAM query call; returns (status, body).
async fn iam(id: &Identity, form: &[(&str, &str)]) -> (u16, String) {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().copied())
        .append_pair("Version", "2010-05-08")
        .finish();
    let mut p = parts(
        &[("content-type", "application/x-www-form-urlencoded")],
        "/",
    );
    cubby_auth::sigv4::sign_request(
        &mut p,
        ROOT_AK,
        ROOT_SK,
        None,
        "us-east-1",
        "iam",
        &sha(body.as_bytes()),
        NOW,
    );
    let params = cubby_identity::parse_form(body.as_bytes());
    let r = id.query_api(&p, params, body.as_bytes(), peer(), NOW).await;
    (
        r.status().as_u16(),
        String::from_utf8_lossy(r.body()).into_owned(),
    )
}

/// A Cognito Identity call, root-signed when `signed`.
async fn ci(id: &Identity, op: &str, input: Value, signed: bool, now: i64) -> (u16, Value) {
    let body = input.to_string();
    let target = format!("AWSCognitoIdentityService.{op}");
    let mut p = parts(
        &[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", &target),
        ],
        "/",
    );
    if signed {
        cubby_auth::sigv4::sign_request(
            &mut p,
            ROOT_AK,
            ROOT_SK,
            None,
            "us-east-1",
            "cognito-identity",
            &sha(body.as_bytes()),
            now,
        );
    }
    let r = id.cognito_identity(&p, body.as_bytes(), peer(), now).await;
    let v: Value = serde_json::from_slice(r.body()).unwrap_or(Value::Null);
    (r.status().as_u16(), v)
}

fn trust(pool: &str, amr: &str) -> String {
    json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Principal":{"Federated":"cognito-identity.amazonaws.com"},
        "Action":"sts:AssumeRoleWithWebIdentity",
        "Condition":{"StringEquals":{"cognito-identity.amazonaws.com:aud":pool},
                     "ForAnyValue:StringLike":{"cognito-identity.amazonaws.com:amr":amr}}}]})
    .to_string()
}

async fn decide(
    auth: &Arc<dyn Authority>,
    caller: &cubby_s3::Caller,
    action: &str,
    resource: &str,
) -> bool {
    let keys = [("aws:EpochTime", NOW.to_string())];
    auth.authorize(
        caller,
        &AccessRequest {
            action,
            resource,
            keys: &keys,
            bucket_policy: None,
            restrict_public: false,
            acl_grant: false,
            policy_binds_root: false,
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn guest_flow_end_to_end() {
    let id = setup().await;
    let (s, pool) = ci(
        &id,
        "CreateIdentityPool",
        json!({"IdentityPoolName":"seed","AllowUnauthenticatedIdentities":true}),
        true,
        NOW,
    )
    .await;
    assert_eq!(s, 200, "{pool}");
    let pool_id = pool["IdentityPoolId"].as_str().unwrap().to_owned();
    assert!(pool_id.starts_with("us-east-1:"));

    let (s, body) = iam(
        &id,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "Guest"),
            (
                "AssumeRolePolicyDocument",
                &trust(&pool_id, "unauthenticated"),
            ),
        ],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("<RoleId>AROA"));
    let policy = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/${cognito-identity.amazonaws.com:sub}/*"}]}).to_string();
    let (s, body) = iam(
        &id,
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", "Guest"),
            ("PolicyName", "p"),
            ("PolicyDocument", &policy),
        ],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = iam(
        &id,
        &[
            ("Action", "GetRolePolicy"),
            ("RoleName", "Guest"),
            ("PolicyName", "p"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        body.contains("<PolicyDocument>%7B%22"),
        "documents come back URL-encoded: {body}"
    );
    // A role trusting another pool.
    let (s, _) = iam(
        &id,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "Other"),
            (
                "AssumeRolePolicyDocument",
                &trust(
                    "us-east-1:00000000-0000-0000-0000-000000000000",
                    "unauthenticated",
                ),
            ),
        ],
    )
    .await;
    assert_eq!(s, 200);

    let (s, v) = ci(&id, "SetIdentityPoolRoles", json!({"IdentityPoolId": pool_id, "Roles": {"unauthenticated": "arn:aws:iam::000000000000:role/Guest"}}), true, NOW).await;
    assert_eq!(s, 200, "{v}");
    // Unsigned admin call refused.
    let (s, v) = ci(
        &id,
        "DescribeIdentityPool",
        json!({"IdentityPoolId": pool_id}),
        false,
        NOW,
    )
    .await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (403, Some("MissingAuthenticationTokenException"))
    );

    let (s, v) = ci(
        &id,
        "GetId",
        json!({"IdentityPoolId": pool_id, "Logins": {}}),
        false,
        NOW,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let identity = v["IdentityId"].as_str().unwrap().to_owned();
    let (s, v) = ci(
        &id,
        "GetCredentialsForIdentity",
        json!({"IdentityId": identity}),
        false,
        NOW,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let c = &v["Credentials"];
    assert_eq!(c["Expiration"].as_i64(), Some(NOW + 3600));
    let akid = c["AccessKeyId"].as_str().unwrap();
    let token = c["SessionToken"].as_str().unwrap();
    assert!(akid.starts_with("ASIA"));

    let auth = id.authority();
    let resolved = auth.resolve(akid, Some(token), NOW + 10).await.unwrap();
    assert_eq!(resolved.secret, c["SecretKey"].as_str().unwrap());
    assert_eq!(resolved.caller.expires_at, Some(NOW + 3600));
    assert_eq!(
        resolved.caller.arn,
        "arn:aws:sts::000000000000:assumed-role/Guest/CognitoIdentityCredentials"
    );
    let own = format!("arn:aws:s3:::b/{identity}/x");
    assert!(decide(&auth, &resolved.caller, "s3:PutObject", &own).await);
    assert!(!decide(&auth, &resolved.caller, "s3:GetObject", &own).await);
    assert!(
        !decide(
            &auth,
            &resolved.caller,
            "s3:PutObject",
            "arn:aws:s3:::b/someone-else/x"
        )
        .await
    );

    // Expired and tampered tokens.
    let e = auth
        .resolve(akid, Some(token), NOW + 3600)
        .await
        .err()
        .unwrap();
    assert_eq!((e.code, e.status.as_u16()), ("ExpiredToken", 403));
    let mut t = token.to_owned();
    let flip = if t.ends_with('A') { "B" } else { "A" };
    t.replace_range(t.len() - 1.., flip);
    let e = auth.resolve(akid, Some(&t), NOW).await.err().unwrap();
    assert_eq!((e.code, e.status.as_u16()), ("InvalidToken", 403));
    let e = auth
        .resolve("ASIAAAAAAAAAAAAAAAAA", Some(token), NOW)
        .await
        .err()
        .unwrap();
    assert_eq!(e.code, "InvalidToken");

    // Role policy edits apply to live sessions.
    let deny = json!({"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}).to_string();
    let (s, _) = iam(
        &id,
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", "Guest"),
            ("PolicyName", "deny"),
            ("PolicyDocument", &deny),
        ],
    )
    .await;
    assert_eq!(s, 200);
    assert!(!decide(&auth, &resolved.caller, "s3:PutObject", &own).await);

    // A role that does not trust this pool.
    let (s, _) = ci(&id, "SetIdentityPoolRoles", json!({"IdentityPoolId": pool_id, "Roles": {"unauthenticated": "arn:aws:iam::000000000000:role/Other"}}), true, NOW).await;
    assert_eq!(s, 200);
    let (s, v) = ci(
        &id,
        "GetCredentialsForIdentity",
        json!({"IdentityId": identity}),
        false,
        NOW + 5,
    )
    .await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (400, Some("InvalidIdentityPoolConfigurationException")),
        "{v}"
    );

    // Guests disabled.
    let (s, _) = ci(&id, "UpdateIdentityPool", json!({"IdentityPoolId": pool_id, "IdentityPoolName": "seed", "AllowUnauthenticatedIdentities": false}), true, NOW).await;
    assert_eq!(s, 200);
    let (s, v) = ci(
        &id,
        "GetId",
        json!({"IdentityPoolId": pool_id}),
        false,
        NOW + 10,
    )
    .await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (400, Some("NotAuthorizedException"))
    );
}

#[tokio::test]
async fn trust_policy_is_evaluated_with_amr() {
    let id = setup().await;
    let (_, pool) = ci(
        &id,
        "CreateIdentityPool",
        json!({"IdentityPoolName":"p2","AllowUnauthenticatedIdentities":true}),
        true,
        NOW,
    )
    .await;
    let pool_id = pool["IdentityPoolId"].as_str().unwrap().to_owned();
    // The guest role is configured with the *authenticated* trust policy: amr mismatch.
    let (s, _) = iam(
        &id,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "AuthOnly"),
            (
                "AssumeRolePolicyDocument",
                &trust(&pool_id, "authenticated"),
            ),
        ],
    )
    .await;
    assert_eq!(s, 200);
    ci(&id, "SetIdentityPoolRoles", json!({"IdentityPoolId": pool_id, "Roles": {"unauthenticated": "arn:aws:iam::000000000000:role/AuthOnly"}}), true, NOW).await;
    let (_, v) = ci(&id, "GetId", json!({"IdentityPoolId": pool_id}), false, NOW).await;
    let identity = v["IdentityId"].as_str().unwrap().to_owned();
    let (s, v) = ci(
        &id,
        "GetCredentialsForIdentity",
        json!({"IdentityId": identity}),
        false,
        NOW,
    )
    .await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (400, Some("InvalidIdentityPoolConfigurationException"))
    );
    // Malformed input never gives a 500.
    let target = "AWSCognitoIdentityService.GetId";
    let p = parts(
        &[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target),
        ],
        "/",
    );
    for body in [
        &b"{"[..],
        b"[]",
        b"{\"IdentityPoolId\": 5}",
        b"{\"IdentityPoolId\": \"nope\"}",
    ] {
        let r = id.cognito_identity(&p, body, peer(), NOW).await;
        assert_eq!(
            r.status().as_u16(),
            400,
            "{}",
            String::from_utf8_lossy(r.body())
        );
    }
    let _ = Bytes::new();
}

struct FakePools {
    jwks: jsonwebtoken::jwk::JwkSet,
}

const UP: &str = "127.0.0.1:9000/us-east-1_Test";

#[async_trait::async_trait]
impl cubby_identity::LocalIssuers for FakePools {
    async fn lookup(&self, provider_name: &str) -> Option<cubby_identity::LocalIssuer> {
        (provider_name == UP).then(|| cubby_identity::LocalIssuer {
            issuer: format!("http://{UP}"),
            jwks: self.jwks.clone(),
            client_ids: vec!["client1".into()],
            user_pool: true,
        })
    }
    async fn is_revoked(&self, _provider: &str, claims: &Value) -> bool {
        claims["sub"] == "revoked-user"
    }
}

#[tokio::test]
async fn user_pool_logins_and_role_mappings() {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let signer = cubby_identity::jwt::Signer::generate("up1").unwrap().0;
    let dir = std::env::temp_dir().join(format!("cubby-identity-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let meta = cubby_meta::Meta::connect(&cubby_meta::pgtest::test_url(&dir).await.unwrap())
        .await
        .unwrap();
    let id = Identity::new(
        meta,
        MasterKey::from_bytes([9; 32]),
        IdentityConfig {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            root_access_key_id: ROOT_AK.into(),
            root_secret_access_key: ROOT_SK.into(),
            public_url: "http://127.0.0.1:9000".into(),
            local_issuers: Some(Arc::new(FakePools {
                jwks: signer.jwks().clone(),
            })),
        },
    )
    .unwrap();
    let (s, pool) = ci(&id, "CreateIdentityPool", json!({"IdentityPoolName":"up","AllowUnauthenticatedIdentities":true,
        "CognitoIdentityProviders":[{"ProviderName": UP, "ClientId": "client1", "ServerSideTokenCheck": true}]}), true, NOW).await;
    assert_eq!(s, 200, "{pool}");
    let pool_id = pool["IdentityPoolId"].as_str().unwrap().to_owned();
    for (name, amr) in [
        ("Auth", "authenticated"),
        ("Sales", "authenticated"),
        ("Guest", "unauthenticated"),
    ] {
        let (s, b) = iam(
            &id,
            &[
                ("Action", "CreateRole"),
                ("RoleName", name),
                ("AssumeRolePolicyDocument", &trust(&pool_id, amr)),
            ],
        )
        .await;
        assert_eq!(s, 200, "{b}");
    }
    let (s, v) = ci(&id, "SetIdentityPoolRoles", json!({"IdentityPoolId": pool_id,
        "Roles": {"authenticated": "arn:aws:iam::000000000000:role/Auth", "unauthenticated": "arn:aws:iam::000000000000:role/Guest"},
        "RoleMappings": {format!("{UP}:client1"): {"Type": "Rules", "AmbiguousRoleResolution": "AuthenticatedRole",
            "RulesConfiguration": {"Rules": [{"Claim": "custom:dept", "MatchType": "Equals", "Value": "Sales", "RoleARN": "arn:aws:iam::000000000000:role/Sales"}]}}}}), true, NOW).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = ci(
        &id,
        "SetIdentityPoolRoles",
        json!({"IdentityPoolId": pool_id, "Roles": {},
        "RoleMappings": {"unknown.example": {"Type": "Token", "AmbiguousRoleResolution": "Deny"}}}),
        true,
        NOW,
    )
    .await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (400, Some("InvalidParameterException"))
    );

    let token = |sub: &str, extra: Value| {
        let mut c = json!({"iss": format!("http://{UP}"), "sub": sub, "aud": "client1", "token_use": "id", "exp": NOW + 3600, "iat": NOW});
        if let (Value::Object(m), Value::Object(e)) = (&mut c, extra) {
            m.extend(e);
        }
        signer.sign(&c).unwrap()
    };
    // A guest signs in: same identity id, upgraded.
    let (_, v) = ci(&id, "GetId", json!({"IdentityPoolId": pool_id}), false, NOW).await;
    let guest = v["IdentityId"].as_str().unwrap().to_owned();
    let logins = json!({ UP: token("alice", json!({"custom:dept": "Sales"})) });
    let (s, v) = ci(
        &id,
        "GetCredentialsForIdentity",
        json!({"IdentityId": guest, "Logins": logins}),
        false,
        NOW,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["IdentityId"].as_str(), Some(guest.as_str()));
    let auth = id.authority();
    let c = auth
        .resolve(
            v["Credentials"]["AccessKeyId"].as_str().unwrap(),
            v["Credentials"]["SessionToken"].as_str(),
            NOW,
        )
        .await
        .unwrap();
    assert!(
        c.caller.arn.contains("assumed-role/Sales/"),
        "rules mapping picks Sales: {}",
        c.caller.arn
    );
    // No matching rule → AuthenticatedRole.
    let (s, v) = ci(
        &id,
        "GetId",
        json!({"IdentityPoolId": pool_id, "Logins": {UP: token("bob", json!({}))}}),
        false,
        NOW,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let bob = v["IdentityId"].as_str().unwrap().to_owned();
    assert_ne!(bob, guest);
    let (s, v) = ci(
        &id,
        "GetCredentialsForIdentity",
        json!({"IdentityId": bob, "Logins": {UP: token("bob", json!({}))}}),
        false,
        NOW,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let c = auth
        .resolve(
            v["Credentials"]["AccessKeyId"].as_str().unwrap(),
            v["Credentials"]["SessionToken"].as_str(),
            NOW,
        )
        .await
        .unwrap();
    assert!(
        c.caller.arn.contains("assumed-role/Auth/"),
        "{}",
        c.caller.arn
    );
    // Another user's token on alice's identity.
    let (s, v) = ci(
        &id,
        "GetCredentialsForIdentity",
        json!({"IdentityId": guest, "Logins": {UP: token("bob", json!({}))}}),
        false,
        NOW,
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .starts_with("Logins don't match"),
        "{v}"
    );
    // Access tokens, wrong clients, bad issuers, expired and revoked tokens are refused.
    let bad = [
        token("alice", json!({"token_use": "access"})),
        token("alice", json!({"aud": "client2"})),
        token(
            "alice",
            json!({"iss": "http://127.0.0.1:9000/us-east-1_Other"}),
        ),
        token("alice", json!({"exp": NOW - 301})),
        token("revoked-user", json!({})),
    ];
    for t in bad {
        let (s, v) = ci(
            &id,
            "GetId",
            json!({"IdentityPoolId": pool_id, "Logins": {UP: t}}),
            false,
            NOW,
        )
        .await;
        assert_eq!(
            (s, v["__type"].as_str()),
            (400, Some("NotAuthorizedException")),
            "{v}"
        );
    }
    // Within the 5-minute grace an expired token still works.
    let (s, v) = ci(&id, "GetId", json!({"IdentityPoolId": pool_id, "Logins": {UP: token("alice", json!({"exp": NOW - 200}))}}), false, NOW).await;
    assert_eq!((s, v["IdentityId"].as_str()), (200, Some(guest.as_str())));
}
