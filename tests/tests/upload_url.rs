//! The upload-URL endpoint (issue 7): `POST /_cubby/upload-url` authenticated by the caller's
//! own identity-pool credentials (SigV4) or a user-pool ID token (Bearer), answering a 300 s
//! presigned PUT for `<identityId>/<collectionId>/<uuid>-<filename>` that can write only that
//! key with only that content type, signed by a single-purpose session.
#![allow(clippy::unwrap_used)]

mod common;
mod idhelp;

use common::*;
use idhelp::*;
use serde_json::{Value, json};

const BUCKET: &str = "uploads";

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

async fn send(req: reqwest::RequestBuilder) -> Reply {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    Reply {
        status,
        headers,
        body: r.text().await.unwrap(),
    }
}

/// `POST /_cubby/upload-url`, SigV4-signed (service `execute-api`, as API clients sign) with
/// `keys` when given, else with `extra` headers only.
async fn upload_url(
    server: &Server,
    keys: Option<&Keys>,
    extra: &[(&str, &str)],
    body: &Value,
) -> Reply {
    upload_url_as(server, keys, "execute-api", None, extra, body).await
}

/// [`upload_url`] signed for `service`, with `payload` as the signed payload hash (default:
/// the body's SHA-256).
async fn upload_url_as(
    server: &Server,
    keys: Option<&Keys>,
    service: &str,
    payload: Option<&str>,
    extra: &[(&str, &str)],
    body: &Value,
) -> Reply {
    let body = body.to_string();
    let url = format!("{}/_cubby/upload-url", server.endpoint);
    let mut b = http::Request::builder()
        .method("POST")
        .uri(&url)
        .header("content-type", "application/json");
    for (k, v) in extra {
        b = b.header(*k, *v);
    }
    let (mut parts, ()) = b.body(()).unwrap().into_parts();
    if let Some(k) = keys {
        let hash = match payload {
            Some(p) => p.to_owned(),
            None => hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes())),
        };
        cubby_auth::sigv4::sign_request(
            &mut parts,
            &k.ak,
            &k.sk,
            k.token.as_deref(),
            "us-east-1",
            service,
            &hash,
            now(),
        );
    }
    let mut req = reqwest::Client::new().post(&url).body(body);
    for (k, v) in &parts.headers {
        req = req.header(k.as_str(), v.as_bytes());
    }
    send(req).await
}

async fn put(url: &str, content_type: &str, data: &[u8]) -> Reply {
    send(
        reqwest::Client::new()
            .put(url)
            .header("content-type", content_type)
            .body(data.to_vec()),
    )
    .await
}

/// A pool with guests whose role may do nothing at all in S3: the upload URL's power must come
/// from the endpoint, not from the caller's role.
async fn guest_pool(server: &Server) -> String {
    let pool = cognito(server)
        .create_identity_pool()
        .identity_pool_name("uploads_app")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap()
        .identity_pool_id()
        .to_owned();
    let guest = role(
        server,
        "NoS3Guest",
        &cognito_trust(&pool, "unauthenticated"),
        None,
    )
    .await;
    cognito(server)
        .set_identity_pool_roles()
        .identity_pool_id(&pool)
        .roles("unauthenticated", guest)
        .send()
        .await
        .unwrap();
    pool
}

async fn guest(server: &Server, pool: &str) -> (String, Keys) {
    new_guest(server, pool).await
}

async fn setup(args: &[&str]) -> Server {
    let mut a = vec!["--upload-url-bucket", BUCKET];
    a.extend_from_slice(args);
    let server = Server::start_full(&[], &a);
    root(&server)
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    server
}

fn query_param(url: &str, name: &str) -> String {
    let q = url.split_once('?').unwrap().1;
    q.split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .map(|v| {
            v.replace("%2F", "/")
                .replace("%3A", ":")
                .replace("%2B", "+")
                .replace("%3D", "=")
        })
        .unwrap()
}

#[tokio::test]
async fn guest_credentials_get_a_url_for_their_own_folder_only() {
    let server = setup(&[]).await;
    let pool = guest_pool(&server).await;
    let (identity_id, keys) = guest(&server, &pool).await;

    // The body names another identity (the seeds' frontend sends one): it is ignored.
    let victim = "us-east-1:00000000-0000-0000-0000-000000000000";
    let r = upload_url(
        &server,
        Some(&keys),
        &[],
        &json!({"collectionId": "trip", "filename": "x.png", "contentType": "image/png",
                "identityId": victim}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let key = r.json()["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with(&format!("{identity_id}/trip/")), "{key}");
    assert!(!key.contains(victim));

    let r = upload_url(
        &server,
        Some(&keys),
        &[],
        &json!({"collectionId": "trip-2026", "filename": "../../Beach Day*.png", "contentType": "image/png"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    let v = r.json();
    let key = v["key"].as_str().unwrap().to_owned();
    let url = v["url"].as_str().unwrap().to_owned();
    assert_eq!(v["expiresIn"], 300);
    let prefix = format!("{identity_id}/trip-2026/");
    assert!(key.starts_with(&prefix), "{key}");
    let rest = &key[prefix.len()..];
    // `<uuid>-<sanitized filename>`.
    assert_eq!(rest.len(), 36 + 1 + "Beach Day_.png".len(), "{rest}");
    assert!(rest.ends_with("-Beach Day_.png"), "{rest}");
    assert!(url.contains("X-Amz-Expires=300"), "{url}");
    assert!(
        url.contains("X-Amz-SignedHeaders=content-type%3Bhost"),
        "{url}"
    );

    // The URL writes that key with that content type.
    let data = data(70_000, 3);
    let r = put(&url, "image/png", &data).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let got = root(&server)
        .get_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("image/png"));
    assert_eq!(got.body.collect().await.unwrap().into_bytes(), data);

    // Another content type, or another key with the same signature: refused.
    let r = put(&url, "text/html", b"<script>").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("SignatureDoesNotMatch"), "{}", r.body);
    let query = url.split_once('?').unwrap().1;
    let other = format!(
        "{}/{BUCKET}/{}/trip-2026/evil.png?{query}",
        server.endpoint,
        identity_id.replace(':', "%3A")
    );
    let r = put(&other, "image/png", b"x").await;
    assert_eq!(r.status, 403, "{}", r.body);

    // The signing credentials themselves (the server derives session secrets from the master
    // key; a test can too) may write only that one key, and read nothing.
    let master = std::fs::read_to_string(server.data_dir.join("master.key")).unwrap();
    let master = cubby_auth::session::MasterKey::from_hex(master.trim()).unwrap();
    let akid = query_param(&url, "X-Amz-Credential")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let token = query_param(&url, "X-Amz-Security-Token");
    let secret = cubby_auth::session::derive_secret(&master, &akid);
    let signer = s3(&server.endpoint, &akid, &secret, Some(&token));
    signer
        .put_object()
        .bucket(BUCKET)
        .key(&key)
        .body(b"same key".to_vec().into())
        .send()
        .await
        .unwrap();
    for other_key in [format!("{identity_id}/trip-2026/other.png"), "x".to_owned()] {
        let e = signer
            .put_object()
            .bucket(BUCKET)
            .key(&other_key)
            .body(b"no".to_vec().into())
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(e.as_service_error().unwrap()), "AccessDenied");
    }
    let e = signer
        .get_object()
        .bucket(BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 403);
    // Nor does it unlock the endpoint itself.
    let url_keys = Keys {
        ak: akid,
        sk: secret,
        token: Some(token),
    };
    let r = upload_url(
        &server,
        Some(&url_keys),
        &[],
        &json!({"collectionId": "c", "filename": "f", "contentType": "image/png"}),
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
}

#[tokio::test]
async fn refusals_are_json_errors() {
    let server = setup(&["--upload-url-max-size", "1000"]).await;
    let body = json!({"collectionId": "c", "filename": "f.txt", "contentType": "text/plain", "contentLength": 10});
    // No credentials.
    let r = upload_url(&server, None, &[], &body).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["__type"], "AccessDeniedException");
    // Root and IAM users have no identity id.
    let root_keys = Keys {
        ak: ROOT_KEY.into(),
        sk: ROOT_SECRET.into(),
        token: None,
    };
    let r = upload_url(&server, Some(&root_keys), &[], &body).await;
    assert_eq!(
        (r.status, r.json()["__type"].as_str()),
        (403, Some("AccessDeniedException"))
    );
    // A bad signature.
    let pool = guest_pool(&server).await;
    let (_, keys) = guest(&server, &pool).await;
    let forged = Keys {
        sk: "wrong".into(),
        ..keys.clone()
    };
    let r = upload_url(&server, Some(&forged), &[], &body).await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Signed as S3 would be, the body's hash included: accepted; with an unsigned body: refused
    // (the body names the key, so the signature must cover it).
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        body.to_string().as_bytes(),
    ));
    let r = upload_url_as(&server, Some(&keys), "s3", Some(&hash), &[], &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = upload_url_as(
        &server,
        Some(&keys),
        "s3",
        Some("UNSIGNED-PAYLOAD"),
        &[],
        &body,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Bearer tokens without a configured pool.
    let r = upload_url(
        &server,
        None,
        &[("authorization", "Bearer abc.def.ghi")],
        &body,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Bad input.
    for bad in [
        json!({"collectionId": "a/b", "filename": "f", "contentType": "text/plain", "contentLength": 1}),
        json!({"collectionId": "..", "filename": "f", "contentType": "text/plain", "contentLength": 1}),
        json!({"collectionId": "c", "filename": "f", "contentType": "nonsense", "contentLength": 1}),
        json!({"collectionId": "c", "filename": "f", "contentType": "text/plain"}),
        json!({"filename": "f", "contentType": "text/plain", "contentLength": 1}),
    ] {
        let r = upload_url(&server, Some(&keys), &[], &bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(r.json()["__type"], "InvalidParameterException", "{bad}");
    }
    let too_big = json!({"collectionId": "c", "filename": "f", "contentType": "text/plain", "contentLength": 1001});
    let r = upload_url(&server, Some(&keys), &[], &too_big).await;
    assert_eq!(
        (r.status, r.json()["__type"].as_str()),
        (400, Some("EntityTooLarge"))
    );

    // With a maximum size, the URL binds the stated length.
    let r = upload_url(&server, Some(&keys), &[], &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let url = r.json()["url"].as_str().unwrap().to_owned();
    assert!(
        url.contains("content-length%3Bcontent-type%3Bhost"),
        "{url}"
    );
    assert_eq!(put(&url, "text/plain", &[1u8; 11]).await.status, 403);
    assert_eq!(put(&url, "text/plain", &[1u8; 10]).await.status, 200);

    // A browser preflight is answered for any origin.
    let r = send(
        reqwest::Client::new()
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/_cubby/upload-url", server.endpoint),
            )
            .header("origin", "http://app.example")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,x-amz-date,x-amz-security-token",
            ),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.headers["access-control-allow-origin"],
        "http://app.example"
    );
    assert_eq!(
        r.headers["access-control-allow-headers"],
        "authorization,content-type,x-amz-date,x-amz-security-token"
    );
}

#[tokio::test]
async fn bearer_id_token_maps_to_the_identity_getid_gives() {
    let mut server = setup(&[]).await;
    let up = idp(&server, "CreateUserPool", json!({"PoolName": "app"}), true).await;
    let up_id = up["UserPool"]["Id"].as_str().unwrap().to_owned();
    let client = idp(
        &server,
        "CreateUserPoolClient",
        json!({"UserPoolId": up_id, "ClientName": "web",
               "ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]}),
        true,
    )
    .await;
    let client_id = client["UserPoolClient"]["ClientId"]
        .as_str()
        .unwrap()
        .to_owned();
    idp(
        &server,
        "AdminCreateUser",
        json!({"UserPoolId": up_id, "Username": "alice", "MessageAction": "SUPPRESS",
               "TemporaryPassword": "Temp-passw0rd!"}),
        true,
    )
    .await;
    idp(
        &server,
        "AdminSetUserPassword",
        json!({"UserPoolId": up_id, "Username": "alice", "Password": "Corr3ct-horse!", "Permanent": true}),
        true,
    )
    .await;
    let provider = format!("127.0.0.1:{}/{up_id}", server.port);
    let pool = cognito(&server)
        .create_identity_pool()
        .identity_pool_name("members")
        .allow_unauthenticated_identities(false)
        .cognito_identity_providers(
            aws_sdk_cognitoidentity::types::CognitoIdentityProvider::builder()
                .provider_name(&provider)
                .client_id(&client_id)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .identity_pool_id()
        .to_owned();
    // The endpoint's identity pool is a deployment setting: restart with it (same port, so
    // the tokens' issuer stays the same).
    server.restart_with_args(&[
        "--upload-url-bucket",
        BUCKET,
        "--upload-url-identity-pool",
        &pool,
    ]);

    let auth = idp(
        &server,
        "InitiateAuth",
        json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id,
               "AuthParameters": {"USERNAME": "alice", "PASSWORD": "Corr3ct-horse!"}}),
        false,
    )
    .await;
    let id_token = auth["AuthenticationResult"]["IdToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let access_token = auth["AuthenticationResult"]["AccessToken"]
        .as_str()
        .unwrap()
        .to_owned();

    // The identity the pool gives this login.
    let identity_id = cognito_anon(&server)
        .get_id()
        .identity_pool_id(&pool)
        .logins(&provider, &id_token)
        .send()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_owned();

    let body = json!({"collectionId": "album", "filename": "me.jpg", "contentType": "image/jpeg"});
    let bearer = format!("Bearer {id_token}");
    let r = upload_url(&server, None, &[("authorization", &bearer)], &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let key = r.json()["key"].as_str().unwrap().to_owned();
    assert!(
        key.starts_with(&format!("{identity_id}/album/")),
        "{key} vs {identity_id}"
    );
    let r = put(
        r.json()["url"].as_str().unwrap(),
        "image/jpeg",
        b"jpeg bytes",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        root(&server)
            .head_object()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .is_ok()
    );

    // An access token, a tampered token and garbage are refused.
    for bad in [
        access_token.clone(),
        format!("{}x", &id_token[..id_token.len() - 1]),
        "not-a-jwt".to_owned(),
    ] {
        let h = format!("Bearer {bad}");
        let r = upload_url(&server, None, &[("authorization", &h)], &body).await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(r.json()["__type"].is_string(), "{}", r.body);
    }
}

/// Replace the bucket's upload rules through the admin API (root-signed).
async fn set_rules(server: &Server, rules: Value) {
    let path = format!("/_cubby/admin/upload-rules/{BUCKET}");
    let r = admin_as(server, &root_keys(), "PUT", &path, &rules.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.body);
}

/// A server whose bucket has these upload rules, and a guest of its pool: (server, identity
/// id, the guest's credentials).
async fn guest_under_rules(rules: Value) -> (Server, String, Keys) {
    let server = setup(&[]).await;
    let pool = guest_pool(&server).await;
    let (identity_id, keys) = guest(&server, &pool).await;
    set_rules(&server, rules).await;
    (server, identity_id, keys)
}

/// Upload URLs are held to the bucket's upload rules like any upload, as the identity that
/// asked for them: a guest's content check, key pattern and object quota apply to the PUT,
/// and a URL whose upload would be refused already is not issued.
#[tokio::test]
async fn upload_urls_obey_upload_rules_as_their_identity() {
    let (server, identity_id, keys) = guest_under_rules(json!({"rules": [{
        "id": "url-images", "applies_to": ["guests"], "content_types": ["image/png"],
        "key_pattern": "${cognito-identity.amazonaws.com:sub}/*", "max_objects": 1
    }]}))
    .await;

    let request = |content_type: &'static str| {
        let keys = keys.clone();
        let server = &server;
        async move {
            upload_url(
                server,
                Some(&keys),
                &[],
                &json!({"collectionId": "c", "filename": "cat.png", "contentType": content_type}),
            )
            .await
        }
    };
    let ask = || async {
        let r = request("image/png").await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()["url"].as_str().unwrap().to_owned()
    };
    // A declared type the rule does not allow: no URL.
    let r = request("image/gif").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["__type"], "AccessDenied", "{}", r.body);
    assert!(
        r.json()["message"].as_str().unwrap().contains("url-images"),
        "{}",
        r.body
    );

    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01".to_vec();
    // An executable declared image/png: refused by the rule at the PUT, nothing stored.
    let r = put(&ask().await, "image/png", b"MZ\x90\x00\x03\x00\x00\x00").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("url-images"), "{}", r.body);
    // Two URLs issued while the quota of one object is free: issuing reserves nothing, and
    // the PUTs are admitted for real — the first is stored, the second refused.
    let (first, second) = (ask().await, ask().await);
    assert_eq!(put(&first, "image/png", &png).await.status, 200);
    let r = put(&second, "image/png", &png).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("quota"), "{}", r.body);
    // The quota is used up: no further URL is issued.
    let r = request("image/png").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.json()["message"].as_str().unwrap().contains("quota"),
        "{}",
        r.body
    );
    let listed = root(&server)
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix(format!("{identity_id}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(1));
}

/// A stated length over a rule's maximum size and an exhausted upload rate refuse the URL
/// itself (EntityTooLarge; SlowDown with Retry-After), and issuing URLs uses up no rate.
#[tokio::test]
async fn upload_urls_are_refused_early_for_size_and_rate() {
    let (server, _, keys) = guest_under_rules(json!({"rules": [{
        "id": "small-and-slow", "applies_to": ["guests"],
        "max_size": 1000, "uploads_per_minute": 2
    }]}))
    .await;
    let request = |length: u64| {
        let keys = keys.clone();
        let server = &server;
        async move {
            upload_url(
                server,
                Some(&keys),
                &[],
                &json!({"collectionId": "c", "filename": "a.txt",
                        "contentType": "text/plain", "contentLength": length}),
            )
            .await
        }
    };
    let r = request(5000).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["__type"], "EntityTooLarge", "{}", r.body);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("small-and-slow"),
        "{}",
        r.body
    );

    // Three URLs under a rate of two uploads a minute: issuing counts nothing…
    let mut urls = Vec::new();
    for _ in 0..3 {
        let r = request(10).await;
        assert_eq!(r.status, 200, "{}", r.body);
        urls.push(r.json()["url"].as_str().unwrap().to_owned());
    }
    // …the uploads do: two pass, the third is slowed down.
    assert_eq!(put(&urls[0], "text/plain", b"0123456789").await.status, 200);
    assert_eq!(put(&urls[1], "text/plain", b"0123456789").await.status, 200);
    let r = put(&urls[2], "text/plain", b"0123456789").await;
    assert_eq!(r.status, 503, "{}", r.body);
    // And now no URL is issued until the window frees a place.
    let r = request(10).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["__type"], "SlowDown", "{}", r.body);
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
}
