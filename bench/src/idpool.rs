//! `--idpool`: the identity-pool credential broker under load (issue 5: "GetId +
//! GetCredentialsForIdentity for a returning guest ≥ 10,000 pairs/s on 2 cores").
//!
//! Set up through the APIs with the root keys, as an operator would: CreateIdentityPool with
//! guests allowed and a developer provider (JSON 1.1, SigV4 scope `cognito-identity`), IAM
//! CreateRole x2 with the seed's trust policies (amr `unauthenticated` / `authenticated`) and
//! PutRolePolicy (query API, scope `iam`), SetIdentityPoolRoles; then (untimed, 16 at a time)
//! [`GUESTS`] guest identities with GetId, each checked with one GetCredentialsForIdentity, and
//! [`USERS`] developer-authenticated users with GetOpenIdTokenForDeveloperIdentity.
//!
//! Cells, each at every `--concurrency` for `--duration` seconds:
//! - **returning guest**: `GetCredentialsForIdentity` alone. A returning guest's client already
//!   has its identity id (the SDKs keep it in local storage) and makes no GetId: this is the
//!   whole of its credential refresh. Workers cycle through the [`GUESTS`] identities (one
//!   database read each, no write).
//! - **new guest**: `GetId` + `GetCredentialsForIdentity` with the id it returned, counted as
//!   one pair. GetId without `Logins` creates a new identity on every call (AWS semantics: a
//!   guest is known only by the identity id it kept), so this pair writes to the database.
//! - **returning signed-in user**: `GetId` + `GetCredentialsForIdentity`, both with the
//!   identity pool token of a developer-authenticated user in `Logins` — the pair for a *known*
//!   identity (GetId finds it, writes nothing). Each call verifies the RS256 token.
//!
//! Per cell: successful ops (pairs) per second, p50/p99 latency per op (pair), errors, and the
//! CPU time per op of the server (from `/proc/<pid>/stat`, all threads) and of this load
//! generator: on a shared 2-core machine, `2 cores / (server + client CPU per op)` is the rate
//! the hardware would sustain, whatever else runs there.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::workload::percentile;

/// Guest identities the returning-guest cells cycle through.
pub const GUESTS: usize = 1024;
/// Developer-authenticated users the signed-in cells cycle through.
pub const USERS: usize = 64;
/// The pool's developer provider name.
const DEV_PROVIDER: &str = "login.bench.example";
/// No single call (or pair) may take longer than this.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const TARGET_PREFIX: &str = "AWSCognitoIdentityService.";
/// `sysconf(_SC_CLK_TCK)`: the unit of utime/stime in `/proc/<pid>/stat` (100 on Linux).
const CLOCK_TICKS_PER_S: f64 = 100.0;

/// What the identity-pool mode is told.
pub struct Params {
    pub endpoint: String,
    pub access_key: String,
    pub secret: String,
    pub region: String,
    pub duration: Duration,
    pub concurrency: Vec<usize>,
    /// Cells to run, by [`Kind::name`].
    pub cells: Vec<String>,
    pub pid: Option<u32>,
}

/// A keep-alive HTTP/1.1 client for the JSON 1.1 and query APIs.
#[derive(Clone)]
struct Api {
    http: Client<HttpConnector, Full<Bytes>>,
    endpoint: Arc<str>,
    access_key: Arc<str>,
    secret: Arc<str>,
    region: Arc<str>,
}

fn now_secs() -> Result<i64> {
    Ok(i64::try_from(
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs(),
    )?)
}

/// `application/x-www-form-urlencoded` value encoding (unreserved bytes kept).
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Api {
    fn new(p: &Params) -> Result<Self> {
        let endpoint = p.endpoint.trim_end_matches('/');
        if !endpoint.starts_with("http://") {
            bail!("endpoint must look like http://127.0.0.1:PORT, got {endpoint}");
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(1024)
            .build(connector);
        Ok(Self {
            http,
            endpoint: endpoint.into(),
            access_key: p.access_key.as_str().into(),
            secret: p.secret.as_str().into(),
            region: p.region.as_str().into(),
        })
    }

    /// POST `body` to `/`; SigV4-signed for `service` with the root keys when given.
    async fn post(
        &self,
        headers: &[(&'static str, &str)],
        body: Bytes,
        sign_for: Option<&str>,
    ) -> Result<(StatusCode, Bytes)> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/", self.endpoint))
            .header(header::CONTENT_LENGTH, body.len());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let (mut parts, req_body) = req.body(Full::new(body.clone()))?.into_parts();
        if let Some(service) = sign_for {
            cubby_auth::sigv4::sign_request(
                &mut parts,
                &self.access_key,
                &self.secret,
                None,
                &self.region,
                service,
                &hex::encode(Sha256::digest(&body)),
                now_secs()?,
            );
        }
        let resp = self
            .http
            .request(Request::from_parts(parts, req_body))
            .await?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }

    /// A Cognito Identity call (`op` without the service prefix); the body on 200, else an
    /// error with the answer.
    async fn ci(&self, op: &str, body: Bytes, signed: bool) -> Result<Bytes> {
        let target = format!("{TARGET_PREFIX}{op}");
        let (status, bytes) = self
            .post(
                &[
                    ("content-type", "application/x-amz-json-1.1"),
                    ("x-amz-target", &target),
                ],
                body,
                signed.then_some("cognito-identity"),
            )
            .await?;
        if status != StatusCode::OK {
            bail!("{op}: HTTP {status}: {}", String::from_utf8_lossy(&bytes));
        }
        Ok(bytes)
    }

    async fn ci_json(&self, op: &str, input: &Value, signed: bool) -> Result<Value> {
        let bytes = self
            .ci(op, Bytes::from(serde_json::to_vec(input)?), signed)
            .await?;
        serde_json::from_slice(&bytes).with_context(|| format!("{op}: answer is not JSON"))
    }

    /// A root-signed IAM query call; the XML answer.
    async fn iam(&self, form: &[(&str, &str)]) -> Result<String> {
        let mut body: Vec<String> = form
            .iter()
            .map(|(k, v)| format!("{k}={}", form_encode(v)))
            .collect();
        body.push("Version=2010-05-08".into());
        let (status, bytes) = self
            .post(
                &[("content-type", "application/x-www-form-urlencoded")],
                Bytes::from(body.join("&")),
                Some("iam"),
            )
            .await?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if !status.is_success() {
            bail!("IAM {:?}: HTTP {status}: {text}", form.first());
        }
        Ok(text)
    }

    /// GetId for a new guest; its identity id.
    async fn get_id(&self, body: Bytes) -> Result<String> {
        let bytes = self.ci("GetId", body, false).await?;
        let v: Value = serde_json::from_slice(&bytes).context("GetId: answer is not JSON")?;
        v["IdentityId"]
            .as_str()
            .map(str::to_owned)
            .context("GetId: no IdentityId")
    }

    /// GetCredentialsForIdentity; checks that credentials came back (without parsing them:
    /// the load generator shares the cores with the server).
    async fn get_credentials(&self, body: Bytes) -> Result<()> {
        let bytes = self.ci("GetCredentialsForIdentity", body, false).await?;
        if !bytes.windows(14).any(|w| w == b"\"SessionToken\"") {
            bail!(
                "GetCredentialsForIdentity: no SessionToken in {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(())
    }
}

fn credentials_body(identity: &str) -> Bytes {
    Bytes::from(json!({ "IdentityId": identity }).to_string())
}

/// A signed-in user: its identity and the body of both calls (`Logins` = its pool token).
struct User {
    identity_id: String,
    get_id: Bytes,
    get_credentials: Bytes,
}

/// The pool, its roles, [`GUESTS`] guest identities and [`USERS`] signed-in users.
struct Setup {
    pool_id: String,
    guests: Vec<String>,
    users: Arc<Vec<User>>,
}

fn trust(pool_id: &str, amr: &str) -> String {
    json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Principal":{"Federated":"cognito-identity.amazonaws.com"},
        "Action":"sts:AssumeRoleWithWebIdentity",
        "Condition":{"StringEquals":{"cognito-identity.amazonaws.com:aud": pool_id},
                     "ForAnyValue:StringLike":{"cognito-identity.amazonaws.com:amr": amr}}}]})
    .to_string()
}

/// CreateRole + PutRolePolicy; the role ARN.
async fn role(api: &Api, name: &str, trust: &str, policy: &str) -> Result<String> {
    let xml = api
        .iam(&[
            ("Action", "CreateRole"),
            ("RoleName", name),
            ("AssumeRolePolicyDocument", trust),
        ])
        .await?;
    let arn = xml
        .split_once("<Arn>")
        .and_then(|(_, rest)| rest.split_once("</Arn>"))
        .map(|(arn, _)| arn.to_owned())
        .context("CreateRole: no <Arn> in the answer")?;
    api.iam(&[
        ("Action", "PutRolePolicy"),
        ("RoleName", name),
        ("PolicyName", "bench"),
        ("PolicyDocument", policy),
    ])
    .await?;
    Ok(arn)
}

/// Check a GetCredentialsForIdentity answer for `identity`.
fn check_credentials(v: &Value, identity: &str) -> Result<()> {
    let c = &v["Credentials"];
    let akid = c["AccessKeyId"].as_str().unwrap_or_default();
    if !akid.starts_with("ASIA")
        || c["SecretKey"].as_str().is_none()
        || c["SessionToken"].as_str().is_none()
        || c["Expiration"].as_i64().is_none()
        || v["IdentityId"].as_str() != Some(identity)
    {
        bail!("GetCredentialsForIdentity: unexpected answer {v}");
    }
    Ok(())
}

/// A new guest, checked with one GetCredentialsForIdentity.
async fn new_guest(api: &Api, get_id: Bytes) -> Result<String> {
    let id = api.get_id(get_id).await?;
    let v = api
        .ci_json(
            "GetCredentialsForIdentity",
            &json!({ "IdentityId": id }),
            false,
        )
        .await?;
    check_credentials(&v, &id)?;
    Ok(id)
}

/// A developer-authenticated user with a pool token valid for the whole run, checked with
/// one pair.
async fn new_user(api: &Api, pool_id: &str, n: usize) -> Result<User> {
    let v = api
        .ci_json(
            "GetOpenIdTokenForDeveloperIdentity",
            &json!({"IdentityPoolId": pool_id, "Logins": {DEV_PROVIDER: format!("user-{n}")},
                    "TokenDuration": 86_400}),
            true,
        )
        .await?;
    let (Some(identity_id), Some(token)) = (v["IdentityId"].as_str(), v["Token"].as_str()) else {
        bail!("GetOpenIdTokenForDeveloperIdentity: unexpected answer {v}");
    };
    let logins = json!({ "cognito-identity.amazonaws.com": token });
    let user = User {
        identity_id: identity_id.to_owned(),
        get_id: Bytes::from(json!({"IdentityPoolId": pool_id, "Logins": logins}).to_string()),
        get_credentials: Bytes::from(
            json!({"IdentityId": identity_id, "Logins": logins}).to_string(),
        ),
    };
    if api.get_id(user.get_id.clone()).await? != user.identity_id {
        bail!("GetId with the pool token returned another identity");
    }
    let bytes = api
        .ci(
            "GetCredentialsForIdentity",
            user.get_credentials.clone(),
            false,
        )
        .await?;
    check_credentials(&serde_json::from_slice(&bytes)?, &user.identity_id)?;
    Ok(user)
}

/// Run `f(0..n)` 16 at a time, in order.
async fn parallel<T, F, Fut>(n: usize, f: F) -> Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T>> + Send + 'static,
{
    let sem = Arc::new(tokio::sync::Semaphore::new(16));
    let mut set = JoinSet::new();
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await?;
        let fut = f(i);
        set.spawn(async move {
            let r = tokio::time::timeout(CALL_TIMEOUT, fut)
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("set-up call timed out")));
            drop(permit);
            r.map(|v| (i, v))
        });
    }
    let mut out = Vec::with_capacity(n);
    while let Some(r) = set.join_next().await {
        out.push(r??);
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

async fn setup(api: &Api) -> Result<Setup> {
    let tag = format!("{}{:04}", now_secs()?, rand::random::<u16>() % 10_000);
    let pool = api
        .ci_json(
            "CreateIdentityPool",
            &json!({"IdentityPoolName": format!("bench_{tag}"),
                    "AllowUnauthenticatedIdentities": true,
                    "DeveloperProviderName": DEV_PROVIDER}),
            true,
        )
        .await
        .context("CreateIdentityPool")?;
    let pool_id = pool["IdentityPoolId"]
        .as_str()
        .context("CreateIdentityPool: no IdentityPoolId")?
        .to_owned();
    // The seed's policies: guests upload only, signed-in users their own folder.
    let upload_only = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Action":["s3:PutObject","s3:AbortMultipartUpload","s3:ListMultipartUploadParts"],
        "Resource":["arn:aws:s3:::bench-bucket/*"]}]})
    .to_string();
    let own_folder = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Action":["s3:PutObject","s3:GetObject","s3:DeleteObject"],
        "Resource":["arn:aws:s3:::bench-bucket/private/${cognito-identity.amazonaws.com:sub}/*"]}]})
    .to_string();
    let unauth = role(
        api,
        &format!("BenchGuest{tag}"),
        &trust(&pool_id, "unauthenticated"),
        &upload_only,
    )
    .await?;
    let auth = role(
        api,
        &format!("BenchUser{tag}"),
        &trust(&pool_id, "authenticated"),
        &own_folder,
    )
    .await?;
    api.ci_json(
        "SetIdentityPoolRoles",
        &json!({"IdentityPoolId": pool_id,
                "Roles": {"unauthenticated": unauth, "authenticated": auth}}),
        true,
    )
    .await
    .context("SetIdentityPoolRoles")?;
    let get_id = Bytes::from(json!({ "IdentityPoolId": pool_id }).to_string());
    let guests = parallel(GUESTS, |_| {
        let (api, get_id) = (api.clone(), get_id.clone());
        async move { new_guest(&api, get_id).await }
    })
    .await
    .context("creating the guests")?;
    let users = parallel(USERS, |n| {
        let (api, pool_id) = (api.clone(), pool_id.clone());
        async move { new_user(&api, &pool_id, n).await }
    })
    .await
    .context("creating the signed-in users")?;
    Ok(Setup {
        pool_id,
        guests,
        users: Arc::new(users),
    })
}

/// utime + stime of a process, all threads, in seconds.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: field 3 (state) is index 0; utime (14) index 11, stime (15) index 12.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / CLOCK_TICKS_PER_S)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// GetCredentialsForIdentity for a known guest.
    Returning,
    /// GetId (new guest) + GetCredentialsForIdentity.
    Pair,
    /// GetId + GetCredentialsForIdentity with a pool token in Logins (known identity).
    KnownUser,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Returning, Kind::Pair, Kind::KnownUser];

    /// The name `--idpool-cells` uses.
    fn name(self) -> &'static str {
        match self {
            Kind::Returning => "returning",
            Kind::Pair => "new-guest",
            Kind::KnownUser => "signed-in",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Returning => "GetCredentialsForIdentity, returning guest",
            Kind::Pair => "GetId + GetCredentialsForIdentity, new guest",
            Kind::KnownUser => "GetId + GetCredentialsForIdentity, signed-in",
        }
    }
}

struct CellResult {
    ops_per_s: f64,
    p50: Duration,
    p99: Duration,
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    server_cpu_us: Option<f64>,
    client_cpu_us: Option<f64>,
    load_before: String,
    load_after: String,
}

/// One op of `kind`; `guest` and `user` are the identities this op uses.
async fn one(api: &Api, kind: Kind, get_id: &Bytes, guest: &Bytes, user: &User) -> Result<()> {
    let fut = async {
        match kind {
            Kind::Returning => api.get_credentials(guest.clone()).await,
            Kind::Pair => {
                let id = api.get_id(get_id.clone()).await?;
                api.get_credentials(credentials_body(&id)).await
            }
            Kind::KnownUser => {
                let id = api.get_id(user.get_id.clone()).await?;
                if id != user.identity_id {
                    bail!("GetId returned {id}, not {}", user.identity_id);
                }
                api.get_credentials(user.get_credentials.clone()).await
            }
        }
    };
    tokio::time::timeout(CALL_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("call timed out")))
}

/// One cell: `conc` workers each make one untimed warm-up op (so the pool holds `conc`
/// connections), then ops back to back for `duration`.
async fn cell(
    api: &Api,
    s: &Setup,
    kind: Kind,
    conc: usize,
    duration: Duration,
    pid: Option<u32>,
) -> Result<CellResult> {
    let barrier = Arc::new(Barrier::new(conc + 1));
    let get_id = Bytes::from(json!({ "IdentityPoolId": s.pool_id }).to_string());
    let bodies: Arc<Vec<Bytes>> = Arc::new(s.guests.iter().map(|g| credentials_body(g)).collect());
    let mut set = JoinSet::new();
    for w in 0..conc {
        let (api, barrier, get_id, bodies, users) = (
            api.clone(),
            barrier.clone(),
            get_id.clone(),
            bodies.clone(),
            s.users.clone(),
        );
        set.spawn(async move {
            let body = |i: usize| bodies[(w * 7919 + i) % bodies.len()].clone();
            let user = |i: usize| &users[(w * 7919 + i) % users.len()];
            let warm = one(
                &api,
                kind,
                &get_id,
                &body(usize::MAX / 2),
                user(usize::MAX / 2),
            )
            .await;
            barrier.wait().await;
            warm.context("warm-up")?;
            let deadline = Instant::now() + duration;
            let (mut lat, mut errors, mut first_error) = (Vec::new(), 0u64, None);
            let mut i = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                match one(&api, kind, &get_id, &body(i), user(i)).await {
                    Ok(()) => lat.push(t.elapsed()),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
                i += 1;
            }
            anyhow::Ok((lat, errors, first_error))
        });
    }
    barrier.wait().await;
    let load_before = loadavg();
    let server_pid = pid.map(|p| p.to_string());
    let server0 = server_pid.as_deref().and_then(cpu_seconds);
    let client0 = cpu_seconds("self");
    let start = Instant::now();
    let (mut lat, mut errors, mut first_error) = (Vec::new(), 0, None);
    while let Some(r) = set.join_next().await {
        let (l, e, f) = r??;
        lat.extend(l);
        errors += e;
        first_error = first_error.or(f);
    }
    let elapsed = start.elapsed();
    let server1 = server_pid.as_deref().and_then(cpu_seconds);
    let client1 = cpu_seconds("self");
    lat.sort_unstable();
    let ok = lat.len() as u64;
    let per_op = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if ok > 0 => Some((b - a) * 1e6 / ok as f64),
        _ => None,
    };
    Ok(CellResult {
        ops_per_s: ok as f64 / elapsed.as_secs_f64(),
        p50: percentile(&lat, 0.50),
        p99: percentile(&lat, 0.99),
        ok,
        errors,
        first_error,
        server_cpu_us: per_op(server0, server1),
        client_cpu_us: per_op(client0, client1),
        load_before,
        load_after: loadavg(),
    })
}

fn us(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0}"))
}

/// Set up, run every cell, print the table.
pub async fn run(p: Params) -> Result<()> {
    let kinds: Vec<Kind> = p
        .cells
        .iter()
        .map(|c| {
            Kind::ALL
                .into_iter()
                .find(|k| k.name() == c)
                .with_context(|| format!("unknown --idpool-cells entry {c:?}"))
        })
        .collect::<Result<_>>()?;
    let api = Api::new(&p)?;
    let s = setup(&api).await.context("setting up the identity pool")?;
    eprintln!(
        "  identity pool {} with {} guest identities and {} signed-in users; load average {}",
        s.pool_id,
        s.guests.len(),
        s.users.len(),
        loadavg()
    );
    let mut lines = Vec::new();
    for kind in kinds {
        for &conc in &p.concurrency {
            let r = cell(&api, &s, kind, conc, p.duration, p.pid)
                .await
                .with_context(|| format!("{} c={conc}", kind.label()))?;
            eprintln!(
                "  {} c={conc}: {:.0}/s ({} ok, {} errors) p50 {:.2} p99 {:.2} ms; CPU/op server {} µs, bench {} µs; load {} -> {}",
                kind.label(),
                r.ops_per_s,
                r.ok,
                r.errors,
                r.p50.as_secs_f64() * 1e3,
                r.p99.as_secs_f64() * 1e3,
                us(r.server_cpu_us),
                us(r.client_cpu_us),
                r.load_before,
                r.load_after
            );
            if let Some(e) = &r.first_error {
                eprintln!("  first error: {e}");
            }
            lines.push((kind, conc, r));
        }
    }
    println!();
    println!(
        "{:<46} {:>4} {:>9} {:>8} {:>8} {:>10} {:>10} {:>6}",
        "line", "c", "per s", "p50 ms", "p99 ms", "srv µs/op", "gen µs/op", "errors"
    );
    println!("{}", "-".repeat(108));
    for (kind, conc, r) in &lines {
        println!(
            "{:<46} {:>4} {:>9.0} {:>8.2} {:>8.2} {:>10} {:>10} {:>6}",
            kind.label(),
            conc,
            r.ops_per_s,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            us(r.server_cpu_us),
            us(r.client_cpu_us),
            r.errors
        );
    }
    println!(
        "{} s per cell. A returning guest kept its identity id and calls only \
         GetCredentialsForIdentity; GetId without Logins creates an identity (two database \
         writes) on every call, as on AWS; signed-in: developer-authenticated users presenting \
         their identity pool token (RS256) to both calls, a known identity. per s: successful calls (pairs) per second; latency \
         per call (pair), nearest rank. µs/op: CPU time (user+sys, 10 ms ticks) of the server \
         (srv) and of this load generator (gen) per successful call (pair), both on the same \
         cores.",
        p.duration.as_secs()
    );
    Ok(())
}
