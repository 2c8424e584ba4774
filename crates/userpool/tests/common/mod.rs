//! Shared harness: a user-pool service over a temporary SQLite database, requests built as the
//! SDKs send them (SigV4 for admin operations), and an SRP client.
#![allow(dead_code, clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use cubby_auth::session::MasterKey;
use cubby_userpool::{Argon2Params, CodeMessage, CodeSender, UserPoolConfig, UserPools, srp};
use num_bigint_dig::BigUint;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

pub const ROOT_AK: &str = "AKIAROOTEXAMPLE00001";
pub const ROOT_SK: &str = "rootsecretexamplerootsecretexample000001";
pub const NOW: i64 = 1_800_000_000;
pub const PUBLIC_URL: &str = "http://127.0.0.1:9300";

/// Collects every delivered code.
#[derive(Default)]
pub struct Captured(pub Mutex<Vec<CodeMessage>>);

#[async_trait::async_trait]
impl CodeSender for Captured {
    async fn send(&self, msg: &CodeMessage) -> Result<(), String> {
        self.0.lock().unwrap().push(msg.clone());
        Ok(())
    }
}

pub struct T {
    pub up: Arc<UserPools>,
    pub codes: Arc<Captured>,
}

pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub headers: http::HeaderMap,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["__type"].as_str().unwrap_or("")
    }
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or("")
    }
    #[track_caller]
    pub fn ok(self) -> Value {
        assert_eq!(self.status, 200, "{}", self.body);
        self.body
    }
    #[track_caller]
    pub fn err(&self, code: &str, message: &str) {
        assert_eq!(self.status, 400, "{}", self.body);
        assert_eq!(self.code(), code, "{}", self.body);
        assert!(
            self.message().contains(message),
            "message {:?} lacks {:?}",
            self.message(),
            message
        );
        assert_eq!(
            self.headers["x-amzn-errortype"].to_str().unwrap(),
            format!("{code}:")
        );
    }
}

pub async fn setup() -> T {
    let dir = std::env::temp_dir().join(format!("cubby-userpool-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let meta = cubby_meta::Meta::connect(&cubby_meta::pgtest::test_url(&dir).await.unwrap())
        .await
        .unwrap();
    let codes = Arc::new(Captured::default());
    let mut cfg = UserPoolConfig::new("us-east-1", "000000000000", PUBLIC_URL, ROOT_AK, ROOT_SK);
    cfg.argon2 = Argon2Params::insecure_fast();
    cfg.code_sender = Some(codes.clone());
    let up = UserPools::new(meta, &MasterKey::from_bytes([7; 32]), cfg)
        .await
        .unwrap();
    T { up, codes }
}

fn parts(
    op: &str,
    body: &[u8],
    sign: Option<(&str, &str, &str)>,
    now: i64,
) -> http::request::Parts {
    let (mut parts, ()) = http::Request::builder()
        .method("POST")
        .uri("/")
        .header("host", "127.0.0.1:9300")
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "x-amz-target",
            format!("AWSCognitoIdentityProviderService.{op}"),
        )
        .body(())
        .unwrap()
        .into_parts();
    if let Some((ak, sk, service)) = sign {
        let h = hex::encode(Sha256::digest(body));
        cubby_auth::sigv4::sign_request(&mut parts, ak, sk, None, "us-east-1", service, &h, now);
    }
    parts
}

impl T {
    pub async fn raw(
        &self,
        op: &str,
        body: &[u8],
        sign: Option<(&str, &str, &str)>,
        now: i64,
    ) -> Resp {
        let p = parts(op, body, sign, now);
        let r = self
            .up
            .handle_json(op, &p, Bytes::copy_from_slice(body), now)
            .await;
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = serde_json::from_slice(r.body()).unwrap_or(Value::Null);
        Resp {
            status,
            body,
            headers,
        }
    }

    /// An admin call signed with the root keys.
    pub async fn admin(&self, op: &str, body: Value) -> Resp {
        self.admin_at(op, body, NOW).await
    }

    pub async fn admin_at(&self, op: &str, body: Value, now: i64) -> Resp {
        let b = body.to_string();
        self.raw(
            op,
            b.as_bytes(),
            Some((ROOT_AK, ROOT_SK, "cognito-idp")),
            now,
        )
        .await
    }

    /// An unsigned call.
    pub async fn call(&self, op: &str, body: Value) -> Resp {
        self.call_at(op, body, NOW).await
    }

    pub async fn call_at(&self, op: &str, body: Value, now: i64) -> Resp {
        let b = body.to_string();
        self.raw(op, b.as_bytes(), None, now).await
    }

    pub fn last_code(&self) -> CodeMessage {
        self.codes.0.lock().unwrap().last().cloned().unwrap()
    }

    /// A pool and a client; returns (pool id, client id).
    pub async fn pool_and_client(
        &self,
        pool_extra: Value,
        client_extra: Value,
    ) -> (String, String) {
        let mut body = json!({"PoolName": "test", "AutoVerifiedAttributes": ["email"]});
        merge(&mut body, pool_extra);
        let pool = self.admin("CreateUserPool", body).await.ok();
        let pool_id = pool["UserPool"]["Id"].as_str().unwrap().to_owned();
        let mut cb = json!({"UserPoolId": pool_id, "ClientName": "web"});
        merge(&mut cb, client_extra);
        let c = self.admin("CreateUserPoolClient", cb).await.ok();
        (
            pool_id,
            c["UserPoolClient"]["ClientId"].as_str().unwrap().to_owned(),
        )
    }

    /// A confirmed user with a permanent password.
    pub async fn user(&self, pool: &str, name: &str, password: &str, attrs: Value) {
        self.admin(
            "AdminCreateUser",
            json!({"UserPoolId": pool, "Username": name, "MessageAction": "SUPPRESS",
                   "UserAttributes": attrs}),
        )
        .await
        .ok();
        self.admin(
            "AdminSetUserPassword",
            json!({"UserPoolId": pool, "Username": name, "Password": password, "Permanent": true}),
        )
        .await
        .ok();
    }

    /// Full SRP sign-in as Amplify does it; returns the final response.
    pub async fn srp_sign_in(
        &self,
        pool: &str,
        client: &str,
        username: &str,
        password: &str,
        secret_hash: Option<&dyn Fn(&str) -> String>,
        now: i64,
    ) -> Resp {
        let a = BigUint::from_bytes_be(&rand::random::<[u8; 32]>());
        let big_a = srp::GROUP.g.modpow(&a, &srp::GROUP.n);
        let mut params = json!({"USERNAME": username, "SRP_A": srp::to_hex(&big_a)});
        if let Some(h) = secret_hash {
            params["SECRET_HASH"] = json!(h(username));
        }
        let r = self
            .call_at(
                "InitiateAuth",
                json!({"AuthFlow": "USER_SRP_AUTH", "ClientId": client, "AuthParameters": params}),
                now,
            )
            .await;
        if r.status != 200 {
            return r;
        }
        let ch = r.body["ChallengeParameters"].clone();
        assert_eq!(r.body["ChallengeName"], "PASSWORD_VERIFIER");
        let user_id = ch["USER_ID_FOR_SRP"].as_str().unwrap();
        let b_pub = srp::parse_hex(ch["SRP_B"].as_str().unwrap()).unwrap();
        let key = srp::client_key(
            srp::pool_name(pool),
            user_id,
            password,
            ch["SALT"].as_str().unwrap(),
            &a,
            &b_pub,
        )
        .unwrap();
        let ts = srp::format_timestamp(now);
        let block = ch["SECRET_BLOCK"].as_str().unwrap();
        let sig = srp::claim_signature(
            &key,
            srp::pool_name(pool),
            user_id,
            &STANDARD.decode(block).unwrap(),
            &ts,
        );
        let mut responses = json!({
            "USERNAME": ch["USERNAME"], "PASSWORD_CLAIM_SECRET_BLOCK": block,
            "TIMESTAMP": ts, "PASSWORD_CLAIM_SIGNATURE": STANDARD.encode(sig)});
        if let Some(h) = secret_hash {
            responses["SECRET_HASH"] = json!(h(ch["USERNAME"].as_str().unwrap()));
        }
        self.call_at(
            "RespondToAuthChallenge",
            json!({"ChallengeName": "PASSWORD_VERIFIER", "ClientId": client,
                   "ChallengeResponses": responses}),
            now,
        )
        .await
    }

    pub async fn password_sign_in(
        &self,
        client: &str,
        username: &str,
        password: &str,
        now: i64,
    ) -> Resp {
        self.call_at(
            "InitiateAuth",
            json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client,
                   "AuthParameters": {"USERNAME": username, "PASSWORD": password}}),
            now,
        )
        .await
    }
}

pub fn merge(a: &mut Value, b: Value) {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        for (k, v) in b {
            a.insert(k, v);
        }
    }
}

/// The claims of a JWT, unverified.
pub fn claims(jwt: &str) -> Value {
    let p = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap(),
    )
    .unwrap()
}

/// `SECRET_HASH` as clients compute it.
pub fn secret_hash(secret: &str, username: &str, client_id: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(format!("{username}{client_id}").as_bytes());
    STANDARD.encode(m.finalize().into_bytes())
}
