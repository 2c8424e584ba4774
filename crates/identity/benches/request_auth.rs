//! The per-request authentication and authorization work of an S3 request made with
//! identity-pool session credentials, part by part, plus the in-process cost of the broker
//! calls.
//!
//! Setup goes through the public API exactly as an operator and a client would (no HTTP):
//! root-signed CreateIdentityPool / IAM CreateRole + PutRolePolicy (the seed's own-folder
//! policy with `${cognito-identity.amazonaws.com:sub}`) / SetIdentityPoolRoles, then a
//! developer-authenticated identity (GetOpenIdTokenForDeveloperIdentity →
//! GetCredentialsForIdentity with the pool token), so the session token carries the same claims
//! as the seed's signed-in users. A guest gets credentials too, for the broker benches.
//!
//! Parts of one S3 request (`GET /seed-bucket/private/<identity id>/photos/2024/cat.jpg`, header
//! auth with `x-amz-security-token`, as the JS SDK v3 sends it):
//!   1. `sigv4/parse+verify`: `cubby_auth::sigv4::parse` + `verify` with the secret known;
//!   2. `session/derive_secret`: the session key's secret from the master key;
//!   3. `session/open_session`: open and check the sealed session token;
//!   4. `policy/context+decide`: the S3 condition keys and the request context built as the
//!      server builds them, then `decide` with the role's compiled own-folder policy.
//!
//! Time is the **process CPU time** (`CLOCK_PROCESS_CPUTIME_ID`), not wall time: the machine
//! this runs on is shared, and CPU time is what the 10 µs budget is about and what other load
//! disturbs least. `CUBBY_BENCH_CLOCK=wall` measures wall time instead. Read the medians from
//! `target/criterion/<group>/<bench>/new/estimates.json` (criterion prints mean estimates).
//!
//! `detail/*` break 1 and 3 down (parse alone, the signing-key derivation alone, the AEAD
//! open without the claims' JSON).
//!
//! `sum` is not a bench: the report adds the medians of 1-4. For comparison,
//! `in_process/authority` runs the same request through the real `IamAuthority` (resolve,
//! verify, authorize with the role from the cache) inside `block_on`, whose own cost
//! `in_process/block_on_baseline` shows. `policy/parse_own_folder` is the cost of compiling the
//! policy, paid once per policy version (compiled policies are cached), not per request.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use cubby_auth::session::{MasterKey, derive_secret};
use cubby_auth::sigv4;
use cubby_identity::session::{SessionClaims, mint, open_session};
use cubby_identity::{Identity, IdentityConfig};
use cubby_policy::{Decision, Policy, PolicySet, Principal, RequestContext, decide};
use cubby_s3::{AccessRequest, Authority, CallerKind};
use http::request::Parts;
use serde_json::{Value, json};
use tokio::runtime::Runtime;

const ROOT_AK: &str = "AKIAROOTEXAMPLE";
const ROOT_SK: &str = "rootsecretexample";
const REGION: &str = "us-east-1";
const ACCOUNT: &str = "000000000000";
const BUCKET: &str = "seed-bucket";
const DEV_PROVIDER: &str = "login.example.app";
/// Setup time; requests are made 10 s later (credentials are valid for an hour).
const NOW: i64 = 1_800_000_000;
const REQ_NOW: i64 = NOW + 10;
const MASTER: [u8; 32] = [9; 32];
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn peer() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40000))
}

fn sha(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

fn post(headers: &[(&str, &str)]) -> Parts {
    let mut b = http::Request::builder()
        .method("POST")
        .uri("/")
        .header("host", "127.0.0.1:9000");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

async fn iam(id: &Identity, form: &[(&str, &str)]) {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().copied())
        .append_pair("Version", "2010-05-08")
        .finish();
    let mut p = post(&[("content-type", "application/x-www-form-urlencoded")]);
    sigv4::sign_request(
        &mut p,
        ROOT_AK,
        ROOT_SK,
        None,
        REGION,
        "iam",
        &sha(body.as_bytes()),
        NOW,
    );
    let params = cubby_identity::parse_form(body.as_bytes());
    let r = id.query_api(&p, params, body.as_bytes(), peer(), NOW).await;
    assert_eq!(
        r.status(),
        200,
        "{form:?}: {}",
        String::from_utf8_lossy(r.body())
    );
}

/// The parts of an unsigned (or root-signed) Cognito Identity call.
fn ci_parts(op: &str, body: &str, signed: bool) -> Parts {
    let target = format!("AWSCognitoIdentityService.{op}");
    let mut p = post(&[
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", &target),
    ]);
    if signed {
        sigv4::sign_request(
            &mut p,
            ROOT_AK,
            ROOT_SK,
            None,
            REGION,
            "cognito-identity",
            &sha(body.as_bytes()),
            NOW,
        );
    }
    p
}

async fn ci(id: &Identity, op: &str, input: Value, signed: bool) -> Value {
    let body = input.to_string();
    let r = id
        .cognito_identity(&ci_parts(op, &body, signed), body.as_bytes(), peer(), NOW)
        .await;
    let v: Value = serde_json::from_slice(r.body()).unwrap_or(Value::Null);
    assert_eq!(r.status(), 200, "{op}: {v}");
    v
}

fn trust(pool: &str, amr: &str) -> String {
    json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Principal":{"Federated":"cognito-identity.amazonaws.com"},
        "Action":"sts:AssumeRoleWithWebIdentity",
        "Condition":{"StringEquals":{"cognito-identity.amazonaws.com:aud":pool},
                     "ForAnyValue:StringLike":{"cognito-identity.amazonaws.com:amr":amr}}}]})
    .to_string()
}

/// The seed's own-folder policy (shared/oracles/setup-seed.mjs, seed 003).
fn own_folder() -> String {
    json!({"Version":"2012-10-17","Statement":[
        {"Effect":"Allow",
         "Action":["s3:PutObject","s3:GetObject","s3:DeleteObject","s3:AbortMultipartUpload","s3:ListMultipartUploadParts"],
         "Resource":[format!("arn:aws:s3:::{BUCKET}/private/${{cognito-identity.amazonaws.com:sub}}/*")]},
        {"Effect":"Allow","Action":"s3:ListBucket","Resource":format!("arn:aws:s3:::{BUCKET}"),
         "Condition":{"StringLike":{"s3:prefix":["private/${cognito-identity.amazonaws.com:sub}/*"]}}}]})
    .to_string()
}

struct Creds {
    identity_id: String,
    access_key_id: String,
    secret: String,
    token: String,
}

fn creds_of(v: &Value) -> Creds {
    let c = &v["Credentials"];
    Creds {
        identity_id: v["IdentityId"].as_str().unwrap().to_owned(),
        access_key_id: c["AccessKeyId"].as_str().unwrap().to_owned(),
        secret: c["SecretKey"].as_str().unwrap().to_owned(),
        token: c["SessionToken"].as_str().unwrap().to_owned(),
    }
}

struct World {
    id: Arc<Identity>,
    dir: std::path::PathBuf,
    /// A signed-in (developer-authenticated) user with the own-folder role.
    user: Creds,
    /// A guest identity id (for GetCredentialsForIdentity).
    guest: String,
}

async fn setup() -> World {
    let dir = std::env::temp_dir().join(format!("cubby-bench-auth-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let meta = cubby_meta::Meta::connect(&format!("sqlite://{}", dir.join("meta.db").display()))
        .await
        .unwrap();
    let id = Identity::new(
        meta,
        MasterKey::from_bytes(MASTER),
        IdentityConfig {
            region: REGION.into(),
            account_id: ACCOUNT.into(),
            root_access_key_id: ROOT_AK.into(),
            root_secret_access_key: ROOT_SK.into(),
            public_url: "http://127.0.0.1:9000".into(),
            local_issuers: None,
        },
    )
    .unwrap();
    let pool = ci(
        &id,
        "CreateIdentityPool",
        json!({"IdentityPoolName":"seed","AllowUnauthenticatedIdentities":true,
               "DeveloperProviderName": DEV_PROVIDER}),
        true,
    )
    .await;
    let pool_id = pool["IdentityPoolId"].as_str().unwrap().to_owned();
    let upload_only = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Action":["s3:PutObject","s3:AbortMultipartUpload","s3:ListMultipartUploadParts"],
        "Resource":[format!("arn:aws:s3:::{BUCKET}/*")]}]})
    .to_string();
    for (role, amr, name, policy) in [
        ("SeedUnauth", "unauthenticated", "upload-only", &upload_only),
        ("SeedAuth", "authenticated", "own-folder", &own_folder()),
    ] {
        iam(
            &id,
            &[
                ("Action", "CreateRole"),
                ("RoleName", role),
                ("AssumeRolePolicyDocument", &trust(&pool_id, amr)),
            ],
        )
        .await;
        iam(
            &id,
            &[
                ("Action", "PutRolePolicy"),
                ("RoleName", role),
                ("PolicyName", name),
                ("PolicyDocument", policy),
            ],
        )
        .await;
    }
    ci(
        &id,
        "SetIdentityPoolRoles",
        json!({"IdentityPoolId": pool_id, "Roles": {
            "unauthenticated": format!("arn:aws:iam::{ACCOUNT}:role/SeedUnauth"),
            "authenticated": format!("arn:aws:iam::{ACCOUNT}:role/SeedAuth")}}),
        true,
    )
    .await;
    let dev = ci(
        &id,
        "GetOpenIdTokenForDeveloperIdentity",
        json!({"IdentityPoolId": pool_id, "Logins": {DEV_PROVIDER: "user-1"}}),
        true,
    )
    .await;
    let user = creds_of(
        &ci(
            &id,
            "GetCredentialsForIdentity",
            json!({"IdentityId": dev["IdentityId"],
                   "Logins": {"cognito-identity.amazonaws.com": dev["Token"]}}),
            false,
        )
        .await,
    );
    let guest = ci(&id, "GetId", json!({"IdentityPoolId": pool_id}), false).await;
    let guest = guest["IdentityId"].as_str().unwrap().to_owned();
    World {
        id,
        dir,
        user,
        guest,
    }
}

/// The S3 request: a GetObject in the user's own folder, header-signed with the session
/// credentials, with the headers the JS SDK v3 sends.
fn s3_request(c: &Creds) -> Parts {
    let id_enc = c.identity_id.replace(':', "%3A");
    let mut p = http::Request::builder()
        .method("GET")
        .uri(format!(
            "/{BUCKET}/private/{id_enc}/photos/2024/cat.jpg?x-id=GetObject"
        ))
        .header("host", "127.0.0.1:9000")
        .header("accept", "*/*")
        .header(
            "amz-sdk-invocation-id",
            "5e3b54a1-0e2b-4c5d-9f3a-1c2d3e4f5a6b",
        )
        .header("amz-sdk-request", "attempt=1; max=3")
        .header("x-amz-user-agent", "aws-sdk-js/3.700.0")
        .header(
            "user-agent",
            "aws-sdk-js/3.700.0 ua/2.1 os/linux lang/js md/nodejs#22.11.0 api/s3#3.700.0",
        )
        .body(())
        .unwrap()
        .into_parts()
        .0;
    sigv4::sign_request(
        &mut p,
        &c.access_key_id,
        &c.secret,
        Some(&c.token),
        REGION,
        "s3",
        EMPTY_SHA256,
        REQ_NOW,
    );
    p
}

/// `2027-01-15T08:00:10Z` from epoch seconds (what S3 puts in `aws:CurrentTime`).
fn iso8601(secs: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// The condition keys cubby's S3 service computes for a header-signed GetObject
/// (`crates/s3/src/service.rs`, `condition_keys`).
fn s3_keys(p: &Parts, signed: &sigv4::SignedRequest) -> Vec<(&'static str, String)> {
    let h = |n: &str| p.headers.get(n).and_then(|v| v.to_str().ok());
    let mut keys: Vec<(&'static str, String)> = Vec::with_capacity(12);
    keys.push(("aws:SourceIp", peer().ip().to_string()));
    keys.push(("aws:SecureTransport", "false".into()));
    keys.push(("aws:CurrentTime", iso8601(REQ_NOW)));
    keys.push(("aws:EpochTime", REQ_NOW.to_string()));
    if let Some(ua) = h("user-agent") {
        keys.push(("aws:UserAgent", ua.to_owned()));
    }
    keys.push(("s3:signatureversion", "AWS4-HMAC-SHA256".into()));
    keys.push(("s3:authType", "REST-HEADER".into()));
    keys.push((
        "s3:signatureAge",
        ((REQ_NOW - signed.timestamp).max(0) * 1000).to_string(),
    ));
    if let Some(v) = h("x-amz-content-sha256") {
        keys.push(("s3:x-amz-content-sha256", v.to_owned()));
    }
    keys
}

/// The request context as the IAM authority builds it for a session
/// (`crates/identity/src/authority.rs`, `request_context`).
fn session_context(
    c: &SessionClaims,
    action: &str,
    resource: &str,
    keys: &[(&str, String)],
) -> RequestContext {
    let principal = Principal::AssumedRole {
        role_arn: c.role_arn.clone(),
        session_arn: c.session_arn(),
        account: c.account.clone(),
        role_id: c.role_id.clone(),
        session_name: c.session_name.clone(),
    };
    let mut ctx = RequestContext::new(action, resource, principal);
    ctx.set("aws:RequestedRegion", REGION);
    for (k, v) in keys {
        ctx.set(k, v.clone());
    }
    ctx.set("aws:TokenIssueTime", iso8601(c.issued_at));
    if let Some(p) = &c.provider {
        ctx.set("aws:FederatedProvider", p.clone());
    }
    if let Some(s) = &c.source_identity {
        ctx.set("aws:SourceIdentity", s.clone());
    }
    for (k, v) in &c.tags {
        ctx.set(&format!("aws:PrincipalTag/{k}"), v.clone());
    }
    for (k, vals) in &c.web_identity {
        if vals.len() == 1 && !k.ends_with(":amr") {
            ctx.set(k, vals[0].clone());
        } else {
            for v in vals {
                ctx.add(k, v.clone());
            }
        }
    }
    ctx
}

/// One S3 request through the real authority: parse, resolve the session key (open the token,
/// derive the secret), verify, the S3 condition keys, authorize (role policies from the
/// authority's cache).
async fn through_authority(auth: &Arc<dyn Authority>, p: &Parts, resource: &str) -> bool {
    let req = sigv4::parse(p).unwrap().unwrap();
    let resolved = auth
        .resolve(&req.access_key_id, req.security_token.as_deref(), REQ_NOW)
        .await
        .unwrap();
    let hash = req.canonical_payload_hash().unwrap_or(EMPTY_SHA256);
    sigv4::verify(&req, p, &resolved.secret, hash, REQ_NOW, REGION).unwrap();
    assert_eq!(resolved.caller.kind, CallerKind::Session);
    let keys = s3_keys(p, &req);
    auth.authorize(
        &resolved.caller,
        &AccessRequest {
            action: "s3:GetObject",
            resource,
            keys: &keys,
            bucket_policy: None,
            restrict_public: true,
            acl_grant: false,
            policy_binds_root: false,
        },
    )
    .await
    .unwrap()
}

/// CPU time of the whole process (every thread: the sqlite worker threads too).
struct ProcessCpuTime(WallTime);

fn process_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

impl Measurement for ProcessCpuTime {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        process_cpu()
    }
    fn end(&self, start: Duration) -> Duration {
        process_cpu().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        // Nanoseconds, like wall time.
        self.0.formatter()
    }
}

fn bench<M: Measurement>(c: &mut Criterion<M>, rt: &Runtime, w: &World) {
    let master = MasterKey::from_bytes(MASTER);
    let user = &w.user;
    let p = s3_request(user);
    let resource = format!(
        "arn:aws:s3:::{BUCKET}/private/{}/photos/2024/cat.jpg",
        user.identity_id
    );
    let policy = Policy::parse(&own_folder()).unwrap();
    let claims = open_session(&master, &user.access_key_id, &user.token, REQ_NOW).unwrap();
    eprintln!(
        "session token: {} bytes; claims: {} web-identity keys, amr {:?}",
        user.token.len(),
        claims.web_identity.len(),
        claims
            .web_identity
            .iter()
            .find(|(k, _)| k.ends_with(":amr"))
            .map(|(_, v)| v)
    );
    // Sanity: every part succeeds, and the decision is the right one.
    {
        let req = sigv4::parse(&p).unwrap().unwrap();
        assert_eq!(req.security_token.as_deref(), Some(user.token.as_str()));
        assert_eq!(derive_secret(&master, &user.access_key_id), user.secret);
        sigv4::verify(&req, &p, &user.secret, EMPTY_SHA256, REQ_NOW, REGION).unwrap();
        let keys = s3_keys(&p, &req);
        let set = PolicySet {
            identity: &[&policy],
            ..PolicySet::default()
        };
        let ctx = session_context(&claims, "s3:GetObject", &resource, &keys);
        assert_eq!(decide(&set, &ctx), Decision::Allowed);
        let other = resource.replace(&user.identity_id, "us-east-1:someone-else");
        let ctx = session_context(&claims, "s3:GetObject", &other, &keys);
        assert_ne!(decide(&set, &ctx), Decision::Allowed);
    }

    let mut g = c.benchmark_group("s3_request");
    g.bench_function("sigv4/parse+verify", |b| {
        b.iter(|| {
            let req = sigv4::parse(black_box(&p)).unwrap().unwrap();
            let hash = req.canonical_payload_hash().unwrap_or(EMPTY_SHA256);
            let v = sigv4::verify(&req, &p, &user.secret, hash, REQ_NOW, REGION).unwrap();
            black_box(v);
        })
    });
    // Breakdown of 1 and 3 (not added to the sum).
    g.bench_function("detail/sigv4_parse_only", |b| {
        b.iter(|| sigv4::parse(black_box(&p)).unwrap().unwrap())
    });
    g.bench_function("detail/sigv4_signing_key", |b| {
        b.iter(|| sigv4::signing_key(black_box(&user.secret), "20270115", REGION, "s3"))
    });
    g.bench_function("detail/session_open_aead_only", |b| {
        b.iter(|| {
            cubby_auth::session::open(
                &master,
                black_box(&user.access_key_id),
                black_box(&user.token),
            )
            .unwrap()
        })
    });
    g.bench_function("session/derive_secret", |b| {
        b.iter(|| derive_secret(&master, black_box(&user.access_key_id)))
    });
    g.bench_function("session/open_session", |b| {
        b.iter(|| {
            open_session(
                &master,
                black_box(&user.access_key_id),
                black_box(&user.token),
                REQ_NOW,
            )
            .unwrap()
        })
    });
    let req = sigv4::parse(&p).unwrap().unwrap();
    g.bench_function("policy/context+decide", |b| {
        let ids = [&policy];
        let set = PolicySet {
            identity: &ids,
            ..PolicySet::default()
        };
        b.iter(|| {
            let keys = s3_keys(&p, black_box(&req));
            let ctx = session_context(black_box(&claims), "s3:GetObject", &resource, &keys);
            decide(&set, &ctx)
        })
    });
    g.bench_function("policy/decide_only", |b| {
        let ids = [&policy];
        let set = PolicySet {
            identity: &ids,
            ..PolicySet::default()
        };
        let keys = s3_keys(&p, &req);
        let ctx = session_context(&claims, "s3:GetObject", &resource, &keys);
        b.iter(|| decide(black_box(&set), black_box(&ctx)))
    });
    g.bench_function("policy/parse_own_folder", |b| {
        let doc = own_folder();
        b.iter(|| Policy::parse(black_box(&doc)).unwrap())
    });

    // The same request through the real authority (role policy from its cache).
    let auth = w.id.authority();
    assert!(
        rt.block_on(through_authority(&auth, &p, &resource)),
        "the authority allows the request"
    );
    g.bench_function("in_process/authority", |b| {
        b.iter(|| rt.block_on(through_authority(&auth, black_box(&p), &resource)))
    });
    g.bench_function("in_process/block_on_baseline", |b| {
        b.iter(|| rt.block_on(async { black_box(1) }))
    });
    g.finish();

    // The broker, in process (no HTTP): the guest's GetCredentialsForIdentity, including its
    // JSON in and out and the identity read; and minting alone.
    let mut g = c.benchmark_group("broker");
    let body = json!({"IdentityId": w.guest}).to_string();
    let gc = ci_parts("GetCredentialsForIdentity", &body, false);
    g.bench_function("in_process/GetCredentialsForIdentity_guest", |b| {
        b.iter(|| {
            let r = rt.block_on(w.id.cognito_identity(
                black_box(&gc),
                body.as_bytes(),
                peer(),
                REQ_NOW,
            ));
            assert_eq!(r.status(), 200);
            black_box(r)
        })
    });
    let guest_claims = {
        let r = rt.block_on(w.id.cognito_identity(&gc, body.as_bytes(), peer(), REQ_NOW));
        let v: Value = serde_json::from_slice(r.body()).unwrap();
        let cr = creds_of(&v);
        open_session(&master, &cr.access_key_id, &cr.token, REQ_NOW).unwrap()
    };
    g.bench_function("mint_guest_session", |b| {
        b.iter(|| mint(&master, black_box(&guest_claims), [7; 34]))
    });
    g.finish();
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let world = rt.block_on(setup());
    let wall = std::env::var("CUBBY_BENCH_CLOCK").is_ok_and(|v| v == "wall");
    eprintln!(
        "measuring {}",
        if wall {
            "wall time"
        } else {
            "process CPU time"
        }
    );
    if wall {
        let mut c = Criterion::default()
            .warm_up_time(Duration::from_secs(2))
            .measurement_time(Duration::from_secs(4))
            .configure_from_args();
        bench(&mut c, &rt, &world);
        c.final_summary();
    } else {
        let mut c = Criterion::default()
            .with_measurement(ProcessCpuTime(WallTime))
            .warm_up_time(Duration::from_secs(2))
            .measurement_time(Duration::from_secs(4))
            .configure_from_args();
        bench(&mut c, &rt, &world);
        c.final_summary();
    }
    let World { id, dir, .. } = world;
    drop(id);
    let _ = std::fs::remove_dir_all(dir);
}
