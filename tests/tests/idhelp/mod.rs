//! Helpers for the IAM / STS / identity-pool tests: SDK clients pointed at a test server, role
//! and policy builders, and a tiny OIDC issuer (discovery + JWKS over HTTP on 127.0.0.1) with
//! a token factory that can also forge every kind of bad token.
#![allow(dead_code, clippy::unwrap_used)]

use crate::common::{ROOT_KEY, ROOT_SECRET, Server};
use aws_sdk_s3::config::Credentials;
use aws_smithy_types::retry::RetryConfig;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The account id of a default server.
pub const ACCOUNT: &str = "000000000000";

/// Region of every test client.
pub const REGION: &str = "us-east-1";

fn creds(ak: &str, sk: &str, token: Option<&str>) -> Credentials {
    Credentials::new(ak, sk, token.map(str::to_owned), None, "cubby-tests")
}

/// An IAM client signed with the given keys.
pub fn iam_as(endpoint: &str, ak: &str, sk: &str, token: Option<&str>) -> aws_sdk_iam::Client {
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_iam::config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(creds(ak, sk, token))
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_iam::Client::from_conf(conf)
}

/// A root IAM client.
pub fn iam(server: &Server) -> aws_sdk_iam::Client {
    iam_as(&server.endpoint, ROOT_KEY, ROOT_SECRET, None)
}

/// An STS client; `None` = no credentials (for the unsigned AssumeRoleWithWebIdentity).
pub fn sts_as(endpoint: &str, keys: Option<(&str, &str, Option<&str>)>) -> aws_sdk_sts::Client {
    let mut b = aws_sdk_sts::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_sts::config::Region::new(REGION))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled());
    if let Some((ak, sk, t)) = keys {
        b = b.credentials_provider(creds(ak, sk, t));
    }
    aws_sdk_sts::Client::from_conf(b.build())
}

/// A root STS client.
pub fn sts(server: &Server) -> aws_sdk_sts::Client {
    sts_as(&server.endpoint, Some((ROOT_KEY, ROOT_SECRET, None)))
}

/// An unsigned STS client.
pub fn sts_anon(server: &Server) -> aws_sdk_sts::Client {
    sts_as(&server.endpoint, None)
}

/// A Cognito Identity client; `None` = no credentials (GetId, GetCredentialsForIdentity, …).
pub fn cognito_as(
    endpoint: &str,
    keys: Option<(&str, &str, Option<&str>)>,
) -> aws_sdk_cognitoidentity::Client {
    let mut b = aws_sdk_cognitoidentity::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_cognitoidentity::config::Region::new(REGION))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled());
    if let Some((ak, sk, t)) = keys {
        b = b.credentials_provider(creds(ak, sk, t));
    }
    aws_sdk_cognitoidentity::Client::from_conf(b.build())
}

/// Call the user-pool JSON API (`AWSCognitoIdentityProviderService.<op>`), signed with the
/// root keys when `signed`; panics unless the answer is 200, and returns its JSON.
pub async fn idp(server: &Server, op: &str, body: Value, signed: bool) -> Value {
    let body = body.to_string();
    let url = format!("{}/", server.endpoint);
    let (mut parts, ()) = http::Request::builder()
        .method("POST")
        .uri(&url)
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "x-amz-target",
            format!("AWSCognitoIdentityProviderService.{op}"),
        )
        .body(())
        .unwrap()
        .into_parts();
    if signed {
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
        cubby_auth::sigv4::sign_request(
            &mut parts,
            ROOT_KEY,
            ROOT_SECRET,
            None,
            REGION,
            "cognito-idp",
            &hash,
            crate::common::now(),
        );
    }
    let mut req = reqwest::Client::new().post(&url).body(body);
    for (k, v) in &parts.headers {
        req = req.header(k.as_str(), v.as_bytes());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{op}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// A root (signed) Cognito Identity client: pool administration, developer identities.
pub fn cognito(server: &Server) -> aws_sdk_cognitoidentity::Client {
    cognito_as(&server.endpoint, Some((ROOT_KEY, ROOT_SECRET, None)))
}

/// An unsigned Cognito Identity client: what a web or mobile app uses.
pub fn cognito_anon(server: &Server) -> aws_sdk_cognitoidentity::Client {
    cognito_as(&server.endpoint, None)
}

/// A credential triple usable with `common::s3`.
#[derive(Clone, Debug)]
pub struct Keys {
    pub ak: String,
    pub sk: String,
    pub token: Option<String>,
}

impl Keys {
    /// Sign a request (SigV4 for S3, the payload's SHA-256 signed) with these keys.
    pub fn sign(&self, parts: &mut http::request::Parts, payload: &[u8]) {
        let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(payload));
        cubby_auth::sigv4::sign_request(
            parts,
            &self.ak,
            &self.sk,
            self.token.as_deref(),
            "us-east-1",
            "s3",
            &hash,
            crate::common::now(),
        );
    }

    /// An S3 client with these keys.
    pub fn s3(&self, server: &Server) -> aws_sdk_s3::Client {
        crate::common::s3(&server.endpoint, &self.ak, &self.sk, self.token.as_deref())
    }
    /// An STS client with these keys.
    pub fn sts(&self, server: &Server) -> aws_sdk_sts::Client {
        sts_as(
            &server.endpoint,
            Some((&self.ak, &self.sk, self.token.as_deref())),
        )
    }
    /// An IAM client with these keys.
    pub fn iam(&self, server: &Server) -> aws_sdk_iam::Client {
        iam_as(&server.endpoint, &self.ak, &self.sk, self.token.as_deref())
    }
}

impl From<aws_sdk_sts::types::Credentials> for Keys {
    fn from(c: aws_sdk_sts::types::Credentials) -> Self {
        Keys {
            ak: c.access_key_id().to_owned(),
            sk: c.secret_access_key().to_owned(),
            token: Some(c.session_token().to_owned()),
        }
    }
}

impl From<&aws_sdk_cognitoidentity::types::Credentials> for Keys {
    fn from(c: &aws_sdk_cognitoidentity::types::Credentials) -> Self {
        Keys {
            ak: c.access_key_id().unwrap().to_owned(),
            sk: c.secret_key().unwrap().to_owned(),
            token: Some(c.session_token().unwrap().to_owned()),
        }
    }
}

/// A new guest identity of identity pool `pool`, the way `fromCognitoIdentityPool` gets one
/// (unsigned GetId, then GetCredentialsForIdentity): its id and credentials.
pub async fn new_guest(server: &Server, pool: &str) -> (String, Keys) {
    let anon = cognito_anon(server);
    let id = anon
        .get_id()
        .identity_pool_id(pool)
        .send()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_owned();
    let out = anon
        .get_credentials_for_identity()
        .identity_id(&id)
        .send()
        .await
        .unwrap();
    (id, Keys::from(out.credentials().unwrap()))
}

/// A policy document with the given statements.
pub fn policy(statements: Value) -> String {
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

/// Allow `actions` on `resources`.
pub fn allow(actions: &[&str], resources: &[&str]) -> Value {
    json!({"Effect": "Allow", "Action": actions, "Resource": resources})
}

/// An IAM user with one inline policy and an access key.
pub async fn user_with_policy(server: &Server, name: &str, policy_doc: Option<&str>) -> Keys {
    let iam = iam(server);
    iam.create_user().user_name(name).send().await.unwrap();
    if let Some(doc) = policy_doc {
        iam.put_user_policy()
            .user_name(name)
            .policy_name("inline")
            .policy_document(doc)
            .send()
            .await
            .unwrap();
    }
    let k = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap();
    let k = k.access_key().unwrap();
    Keys {
        ak: k.access_key_id().to_owned(),
        sk: k.secret_access_key().to_owned(),
        token: None,
    }
}

/// Create a role with `trust` and (optionally) one inline permission policy; returns its ARN.
pub async fn role(server: &Server, name: &str, trust: &Value, permissions: Option<&str>) -> String {
    let iam = iam(server);
    let r = iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    if let Some(doc) = permissions {
        iam.put_role_policy()
            .role_name(name)
            .policy_name("perm")
            .policy_document(doc)
            .send()
            .await
            .unwrap();
    }
    r.role().unwrap().arn().to_owned()
}

/// A trust policy for an identity pool's `authenticated` / `unauthenticated` role.
pub fn cognito_trust(pool_id: &str, amr: &str) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": "cognito-identity.amazonaws.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {"cognito-identity.amazonaws.com:aud": pool_id},
            "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": amr}
        }
    }]})
}

/// The seeds' own-folder policy: read/write `private/<identity id>/…`, list only that prefix.
pub fn own_folder_policy(bucket: &str) -> String {
    policy(json!([
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
         "Resource": format!("arn:aws:s3:::{bucket}/private/${{cognito-identity.amazonaws.com:sub}}/*")},
        {"Effect": "Allow", "Action": "s3:ListBucket",
         "Resource": format!("arn:aws:s3:::{bucket}"),
         "Condition": {"StringLike": {"s3:prefix": [
             "private/${cognito-identity.amazonaws.com:sub}/",
             "private/${cognito-identity.amazonaws.com:sub}/*"
         ]}}}
    ]))
}

/// The error code of any SDK error (`""` if none).
pub fn err_code<E: aws_sdk_s3::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("").to_owned()
}

/// Await a call that must fail; returns the error (panics with the output on success).
pub async fn must_fail<T: std::fmt::Debug, E>(
    f: impl std::future::Future<Output = Result<T, E>>,
) -> E {
    match f.await {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------------------------------------
// A test OIDC issuer.

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// An RSA key pair: PKCS#1 DER of the private key and its public JWK (without `kid`).
pub struct RsaKey {
    der: Vec<u8>,
    n: String,
    e: String,
}

impl RsaKey {
    /// A fresh 2048-bit key.
    pub fn generate() -> RsaKey {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::traits::PublicKeyParts;
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        RsaKey {
            der: key.to_pkcs1_der().unwrap().as_bytes().to_vec(),
            n: b64(&key.n().to_bytes_be()),
            e: b64(&key.e().to_bytes_be()),
        }
    }

    /// The public JWK with `kid`.
    pub fn jwk(&self, kid: &str) -> Value {
        json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": self.n, "e": self.e})
    }

    /// Sign `claims` with RS256 and header `kid`.
    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = Some(kid.to_owned());
        jsonwebtoken::encode(
            &h,
            claims,
            &jsonwebtoken::EncodingKey::from_rsa_der(&self.der),
        )
        .unwrap()
    }
}

/// An OIDC issuer on `http://127.0.0.1:<port>` serving `/.well-known/openid-configuration` and
/// `/jwks.json` with one RSA key (`kid` = `k1`). Stops when dropped.
pub struct Issuer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The issuer without scheme: the Logins key and the IAM provider name.
    pub host: String,
    /// The signing key.
    pub key: RsaKey,
    stop: Arc<AtomicBool>,
}

impl Issuer {
    /// Start serving on a free port.
    pub fn start() -> Issuer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let key = RsaKey::generate();
        let discovery = json!({
            "issuer": url,
            "jwks_uri": format!("{url}/jwks.json"),
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
        })
        .to_string();
        let jwks = json!({"keys": [key.jwk("k1")]}).to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                        let mut buf = Vec::new();
                        let mut chunk = [0u8; 1024];
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            match conn.read(&mut chunk) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        let head = String::from_utf8_lossy(&buf);
                        let path = head.split_whitespace().nth(1).unwrap_or("");
                        let (status, body) = match path {
                            "/.well-known/openid-configuration" => ("200 OK", discovery.as_str()),
                            "/jwks.json" => ("200 OK", jwks.as_str()),
                            _ => ("404 Not Found", "{}"),
                        };
                        let _ = write!(
                            conn,
                            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    Err(_) => break,
                }
            }
        });
        Issuer {
            host: url.trim_start_matches("http://").to_owned(),
            url,
            key,
            stop,
        }
    }

    /// Standard claims for `sub` and `aud`, valid for 10 minutes.
    pub fn claims(&self, sub: &str, aud: &str) -> Value {
        let now = crate::common::now();
        json!({"iss": self.url, "sub": sub, "aud": aud, "iat": now, "exp": now + 600})
    }

    /// A valid RS256 token for `claims` (kid `k1`).
    pub fn token(&self, claims: &Value) -> String {
        self.key.sign("k1", claims)
    }

    /// The IAM OIDC provider ARN this issuer gets.
    pub fn arn(&self) -> String {
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/{}", self.host)
    }

    /// Register with IAM (client id list `client_ids`).
    pub async fn register(&self, server: &Server, client_ids: &[&str]) -> String {
        let mut b = iam(server)
            .create_open_id_connect_provider()
            .url(&self.url)
            .thumbprint_list("0".repeat(40));
        for c in client_ids {
            b = b.client_id_list(*c);
        }
        let arn = b
            .send()
            .await
            .unwrap()
            .open_id_connect_provider_arn()
            .unwrap()
            .to_owned();
        assert_eq!(arn, self.arn());
        arn
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The bad tokens every verifier must refuse, by name, for `claims` of `issuer`.
/// (`expired` is expired by `expired_by` seconds.)
pub fn bad_tokens(issuer: &Issuer, claims: &Value, expired_by: i64) -> Vec<(&'static str, String)> {
    let now = crate::common::now();
    let mut expired = claims.clone();
    expired["exp"] = json!(now - expired_by);
    expired["iat"] = json!(now - expired_by - 600);
    let mut wrong_aud = claims.clone();
    wrong_aud["aud"] = json!("client-other");
    let mut wrong_iss = claims.clone();
    wrong_iss["iss"] = json!(format!("{}/elsewhere", issuer.url));
    let body = b64(claims.to_string().as_bytes());
    let alg_none = format!("{}.{}.", b64(br#"{"alg":"none","kid":"k1"}"#), body);
    // HS256 "signed" with the issuer's public key (the classic key-confusion attack), both with
    // the JWK JSON and with the bare modulus as the HMAC secret.
    let hs_input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#),
        body
    );
    let hs = |secret: &[u8]| {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
        mac.update(hs_input.as_bytes());
        format!("{hs_input}.{}", b64(&mac.finalize().into_bytes()))
    };
    let hs_jwk = hs(issuer.key.jwk("k1").to_string().as_bytes());
    let hs_n = hs(issuer.key.n.as_bytes());
    let other = RsaKey::generate();
    let unknown_kid = other.sign("k9", claims);
    let wrong_key_same_kid = other.sign("k1", claims);
    let good = issuer.token(claims);
    let parts: Vec<&str> = good.split('.').collect();
    let mut forged = claims.clone();
    forged["sub"] = json!("mallory");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(forged.to_string().as_bytes()),
        parts[2]
    );
    vec![
        ("expired", issuer.token(&expired)),
        ("wrong aud", issuer.token(&wrong_aud)),
        ("wrong iss", issuer.token(&wrong_iss)),
        ("alg none", alg_none),
        ("HS256 with the public JWK", hs_jwk),
        ("HS256 with the modulus", hs_n),
        ("unknown kid", unknown_kid),
        ("other key, same kid", wrong_key_same_kid),
        ("tampered payload", tampered),
        ("garbage", "not.a.jwt".to_owned()),
    ]
}

/// An admin API answer.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Call the admin API signed with `keys` (root unless told otherwise).
pub async fn admin_as(server: &Server, keys: &Keys, method: &str, path: &str, body: &str) -> Reply {
    let url = format!("{}{path}", server.endpoint);
    let (mut parts, ()) = http::Request::builder()
        .method(method)
        .uri(&url)
        .body(())
        .unwrap()
        .into_parts();
    keys.sign(&mut parts, body.as_bytes());
    let mut req = reqwest::Client::new()
        .request(method.parse().unwrap(), &url)
        .body(body.to_owned());
    for (k, v) in &parts.headers {
        req = req.header(k.as_str(), v.as_bytes());
    }
    let r = req.send().await.unwrap();
    Reply {
        status: r.status().as_u16(),
        body: r.text().await.unwrap(),
    }
}

/// The root's keys.
pub fn root_keys() -> Keys {
    Keys {
        ak: ROOT_KEY.into(),
        sk: ROOT_SECRET.into(),
        token: None,
    }
}

/// A presigned PUT that sends half of its declared 2000-byte body and then waits: an upload
/// in flight, holding whatever the server holds for one. Dropped: the connection goes.
pub struct StalledPut {
    _more: tokio::sync::mpsc::Sender<Result<Vec<u8>, std::io::Error>>,
    _task: tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
}

impl StalledPut {
    /// Start one through `c` (whose credentials sign the URL).
    pub async fn start(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> StalledPut {
        let url = c
            .put_object()
            .bucket(bucket)
            .key(key)
            .presigned(
                aws_sdk_s3::presigning::PresigningConfig::expires_in(
                    std::time::Duration::from_secs(300),
                )
                .unwrap(),
            )
            .await
            .unwrap()
            .uri()
            .to_owned();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
        tx.send(Ok(vec![0u8; 1000])).await.unwrap();
        let body =
            reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|x| (x, rx))
            }));
        let req = reqwest::Client::new()
            .put(url)
            .header("content-length", "2000")
            .body(body);
        StalledPut {
            _more: tx,
            _task: tokio::spawn(async move { req.send().await }),
        }
    }
}
