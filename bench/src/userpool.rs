//! `--userpool`: the user pools under load. SRP sign-ins per second (InitiateAuth
//! USER_SRP_AUTH + RespondToAuthChallenge PASSWORD_VERIFIER, the client side of SPEC.md §6.4
//! computed here), ID-token verifications per second (in process with `jsonwebtoken` against
//! the pool's JWKS, and by the server: identity-pool GetId with the token in Logins), and the
//! latency of 4 KiB PUTs with and without a steady background rate of sign-ins, and which
//! step of a sign-in the slow PUTs of the loaded cell overlapped.
//!
//! Everything is set up through the APIs with the root keys: a user pool, an app client,
//! `--users` users (SignUp + AdminConfirmSignUp), an identity pool listing the client.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cubby_userpool::srp;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use num_bigint_dig::BigUint;
use rand::RngCore;
use serde_json::{Value, json};
use tokio::sync::{Barrier, Semaphore, oneshot};
use tokio::task::JoinSet;

use crate::client::{Payload, S3Client};
use crate::report::{self, Cell, Row};
use crate::workload::{self, Op};

const IDP: &str = "AWSCognitoIdentityProviderService.";
const CI: &str = "AWSCognitoIdentityService.";
const GET_ID: &str = "AWSCognitoIdentityService.GetId";
/// No single sign-in may take longer than this.
const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(30);
/// Client ephemerals `(a, A)` made up front and reused round-robin (see [`Ephemeral`]).
const EPHEMERALS: usize = 16;

/// What the user-pool mode is told.
pub struct Params {
    pub duration: Duration,
    pub signin_concurrency: Vec<usize>,
    pub put_concurrency: Vec<usize>,
    pub signin_rate: f64,
    /// CPU ms per second of the idle-class control burner during the PUT cells with
    /// sign-ins (see [`Burner`]); 0 for none.
    pub burn_ms_per_s: f64,
    pub users: usize,
    pub small: Payload,
    pub pid: Option<u32>,
}

/// A client SRP ephemeral: secret `a` and public `A = g^a mod N`.
///
/// Real clients draw a fresh 128-byte `a` per sign-in. The bench draws 256-bit ones, once,
/// and reuses them: the server cannot tell (it sees a valid `A`), and the load generator,
/// which shares the machine with the server, then spends one modular exponentiation per
/// sign-in instead of three, so the figures measure the server rather than the client.
#[derive(Clone)]
struct Ephemeral {
    a: BigUint,
    a_pub: BigUint,
    a_hex: String,
}

impl Ephemeral {
    fn new() -> Self {
        let mut r = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut r);
        let a = BigUint::from_bytes_be(&r);
        let a_pub = srp::GROUP.g.modpow(&a, &srp::GROUP.n);
        let a_hex = srp::to_hex(&a_pub);
        Self { a, a_pub, a_hex }
    }
}

/// The client's `PASSWORD_CLAIM_SIGNATURE` (SPEC.md §6.4): `S = (B − k·g^x)^(a + u·x) mod N`,
/// `K = HKDF(u, S)`, signature = `HMAC(K, poolName ‖ userId ‖ SECRET_BLOCK ‖ TIMESTAMP)`.
/// The third argument is `(x, g^x mod N)`: fixed per user, so the caller caches it.
fn claim(
    eph: &Ephemeral,
    b_pub: &BigUint,
    (x, gx): &(BigUint, BigUint),
    pool_name: &str,
    user_id: &str,
    secret_block: &[u8],
    timestamp: &str,
) -> Result<[u8; 32]> {
    let grp = &*srp::GROUP;
    let n = &grp.n;
    let u = srp::compute_u(&eph.a_pub, b_pub);
    if u == BigUint::default() || (b_pub % n) == BigUint::default() {
        bail!("SRP: u or B is zero");
    }
    let kgx = (&grp.k * gx) % n;
    let base = ((b_pub % n) + n - kgx) % n;
    let s = base.modpow(&(&eph.a + &u * x), n);
    let k = srp::hkdf(&u, &s);
    Ok(srp::claim_signature(
        &k,
        pool_name,
        user_id,
        secret_block,
        timestamp,
    ))
}

/// What a sign-in needs, shared by every worker.
struct SignIn {
    c: S3Client,
    pool_id: String,
    client_id: String,
    users: Vec<String>,
    password: String,
    eph: Vec<Ephemeral>,
    /// `(x, g^x mod N)` by user id, learnt from the first challenge (the salt is per user).
    gx: Mutex<HashMap<String, (BigUint, BigUint)>>,
    /// When each sign-in's steps ran (see [`slow_put_report`]).
    phases: Mutex<Vec<(Phase, Instant, Instant)>>,
}

/// A request of a sign-in, as the load generator sees it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// InitiateAuth on its way and in the server.
    Initiate,
    /// RespondToAuthChallenge on its way and in the server (SRP check, tokens).
    Respond,
}

/// A challenge the server issued (InitiateAuth USER_SRP_AUTH), not yet answered.
struct Challenge {
    eph_i: usize,
    salt: String,
    block: String,
    b_hex: String,
    user_id: String,
    username: String,
    /// When it arrived: the server honours it for the client's `AuthSessionValidity`.
    issued: Instant,
}

/// Challenges older than this are not answered (the default `AuthSessionValidity` is 3 min).
const CHALLENGE_MAX_AGE: Duration = Duration::from_secs(120);

fn str_field<'a>(v: &'a Value, path: &[&str]) -> Result<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur
            .get(p)
            .ok_or_else(|| anyhow!("answer lacks {}", path.join(".")))?;
    }
    cur.as_str()
        .ok_or_else(|| anyhow!("{} is not a string", path.join(".")))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl SignIn {
    /// The same users and client state, signing in through `c`.
    fn with_client(&self, c: S3Client) -> SignIn {
        SignIn {
            c,
            pool_id: self.pool_id.clone(),
            client_id: self.client_id.clone(),
            users: self.users.clone(),
            password: self.password.clone(),
            eph: self.eph.clone(),
            gx: Mutex::new(self.gx.lock().map(|m| m.clone()).unwrap_or_default()),
            phases: Mutex::new(Vec::new()),
        }
    }

    fn phase(&self, phase: Phase, start: Instant) {
        if let Ok(mut p) = self.phases.lock() {
            p.push((phase, start, Instant::now()));
        }
    }

    /// InitiateAuth (USER_SRP_AUTH) for user `i % users`: the challenge to answer.
    async fn initiate(&self, i: usize) -> Result<Challenge> {
        let user = &self.users[i % self.users.len()];
        let eph_i = i % self.eph.len();
        let challenge = self
            .c
            .json(
                "cognito-idp",
                &format!("{IDP}InitiateAuth"),
                &json!({
                    "AuthFlow": "USER_SRP_AUTH",
                    "ClientId": self.client_id,
                    "AuthParameters": { "USERNAME": user, "SRP_A": self.eph[eph_i].a_hex },
                }),
                false,
            )
            .await?;
        let p = |k: &str| str_field(&challenge, &["ChallengeParameters", k]).map(str::to_owned);
        Ok(Challenge {
            eph_i,
            salt: p("SALT")?,
            block: p("SECRET_BLOCK")?,
            b_hex: p("SRP_B")?,
            user_id: p("USER_ID_FOR_SRP")?,
            username: p("USERNAME")?,
            issued: Instant::now(),
        })
    }

    /// The client's side of a challenge: its SRP math (blocking: one exponentiation mod the
    /// 3072-bit prime, plus `g^x` the first time a user is seen), as the body of
    /// RespondToAuthChallenge (PASSWORD_VERIFIER).
    fn answer(&self, ch: &Challenge) -> Result<Value> {
        let pool_name = srp::pool_name(&self.pool_id);
        let b_pub = srp::parse_hex(&ch.b_hex).context("SRP_B is not hex")?;
        let cached = self
            .gx
            .lock()
            .map_err(|_| anyhow!("poisoned"))?
            .get(&ch.user_id)
            .cloned();
        let xs = match cached {
            Some(c) => c,
            None => {
                let x = srp::compute_x(pool_name, &ch.user_id, &self.password, &ch.salt);
                let gx = srp::GROUP.g.modpow(&x, &srp::GROUP.n);
                self.gx
                    .lock()
                    .map_err(|_| anyhow!("poisoned"))?
                    .insert(ch.user_id.clone(), (x.clone(), gx.clone()));
                (x, gx)
            }
        };
        let timestamp = srp::format_timestamp(unix_now());
        let block_bytes = B64.decode(ch.block.trim())?;
        let sig = claim(
            &self.eph[ch.eph_i],
            &b_pub,
            &xs,
            pool_name,
            &ch.user_id,
            &block_bytes,
            &timestamp,
        )?;
        Ok(json!({
            "ChallengeName": "PASSWORD_VERIFIER",
            "ClientId": self.client_id,
            "ChallengeResponses": {
                "USERNAME": ch.username,
                "PASSWORD_CLAIM_SECRET_BLOCK": ch.block,
                "TIMESTAMP": timestamp,
                "PASSWORD_CLAIM_SIGNATURE": B64.encode(sig),
            },
        }))
    }

    /// RespondToAuthChallenge with an [`SignIn::answer`]; the ID token.
    async fn respond(&self, answer: &Value) -> Result<String> {
        let r = self
            .c
            .json(
                "cognito-idp",
                &format!("{IDP}RespondToAuthChallenge"),
                answer,
                false,
            )
            .await?;
        Ok(str_field(&r, &["AuthenticationResult", "IdToken"])?.to_owned())
    }

    /// One whole SRP sign-in of user `i % users`; the ID token.
    async fn sign_in(self: &Arc<Self>, i: usize) -> Result<String> {
        let challenge = self.initiate(i).await?;
        // The big-number work runs on a thread of its own at the lowest priority: real clients
        // do it on their own devices, so here it must not compete with the server for the
        // shared cores.
        let this = self.clone();
        let answer = off_thread_low_priority(move || this.answer(&challenge)).await??;
        self.respond(&answer).await
    }

    async fn sign_in_timed(self: &Arc<Self>, i: usize) -> Result<String> {
        tokio::time::timeout(SIGN_IN_TIMEOUT, self.sign_in(i))
            .await
            .unwrap_or_else(|_| Err(anyhow!("sign-in timed out")))
    }
}

/// Latencies and errors of a run.
#[derive(Default)]
struct Samples {
    lat: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

impl Samples {
    fn record<T>(&mut self, t: Instant, r: Result<T>) {
        match r {
            Ok(_) => self.lat.push(t.elapsed()),
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }

    fn merge(&mut self, o: Samples) {
        self.lat.extend(o.lat);
        self.errors += o.errors;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }

    fn cell(mut self, elapsed: Duration) -> (Cell, Option<String>) {
        self.lat.sort_unstable();
        let cell = Cell {
            value: self.lat.len() as f64 / elapsed.as_secs_f64(),
            latency: Some((
                workload::percentile(&self.lat, 0.50),
                workload::percentile(&self.lat, 0.99),
            )),
            errors: self.errors,
        };
        (cell, self.first_error)
    }
}

/// CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`
/// (clock ticks of 1/100 s, the Linux default `USER_HZ`).
fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// CPU time of the server and of this load generator over a run.
struct CpuMeter {
    server: Option<String>,
    at: (Option<f64>, Option<f64>),
}

impl CpuMeter {
    fn start(pid: Option<u32>) -> Self {
        let server = pid.map(|p| p.to_string());
        let at = (server.as_deref().and_then(cpu_secs), cpu_secs("self"));
        Self { server, at }
    }

    /// `(server, client)` CPU milliseconds per operation.
    fn per_op(&self, ops: usize) -> (Option<f64>, Option<f64>) {
        let d = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if ops > 0 => Some((b - a) * 1e3 / ops as f64),
            _ => None,
        };
        (
            d(self.at.0, self.server.as_deref().and_then(cpu_secs)),
            d(self.at.1, cpu_secs("self")),
        )
    }
}

fn cpu_note(label: &str, (server, client): (Option<f64>, Option<f64>)) -> String {
    let f = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.2} ms"));
    format!(
        "  {label}: CPU per op: server {}, load generator {}",
        f(server),
        f(client)
    )
}

/// `conc` workers sign in back to back for `duration`.
async fn signin_cell(si: &Arc<SignIn>, conc: usize, duration: Duration) -> (Samples, Duration) {
    let barrier = Arc::new(Barrier::new(conc + 1));
    let mut set = JoinSet::new();
    for w in 0..conc {
        let (si, barrier) = (si.clone(), barrier.clone());
        set.spawn(async move {
            barrier.wait().await;
            let deadline = Instant::now() + duration;
            let mut s = Samples::default();
            let mut i = w;
            while Instant::now() < deadline {
                let t = Instant::now();
                s.record(t, si.sign_in_timed(i).await);
                i += conc;
            }
            s
        });
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut all = Samples::default();
    while let Some(r) = set.join_next().await {
        if let Ok(s) = r {
            all.merge(s);
        }
    }
    (all, start.elapsed())
}

/// `conc` workers call identity-pool GetId with an ID token in Logins for `duration`.
async fn getid_cell(
    c: &S3Client,
    pool: &str,
    provider: &str,
    tokens: &[String],
    conc: usize,
    duration: Duration,
) -> (Samples, Duration) {
    let barrier = Arc::new(Barrier::new(conc + 1));
    let mut set = JoinSet::new();
    let tokens = Arc::new(tokens.to_vec());
    for w in 0..conc {
        let (c, barrier, tokens) = (c.clone(), barrier.clone(), tokens.clone());
        let (pool, provider) = (pool.to_owned(), provider.to_owned());
        set.spawn(async move {
            barrier.wait().await;
            let deadline = Instant::now() + duration;
            let mut s = Samples::default();
            let mut i = w;
            while Instant::now() < deadline {
                let body = json!({
                    "IdentityPoolId": pool,
                    "Logins": { &provider: tokens[i % tokens.len()] },
                });
                let t = Instant::now();
                let r = c.json("cognito-identity", GET_ID, &body, false).await;
                s.record(t, r);
                i += conc;
            }
            s
        });
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut all = Samples::default();
    while let Some(r) = set.join_next().await {
        if let Ok(s) = r {
            all.merge(s);
        }
    }
    (all, start.elapsed())
}

/// In-process verifications per second on `threads` threads for `duration`: signature
/// (RS256 against the JWKS key), `iss`, `aud` and `exp`, with a prepared key.
fn verify_rate(
    jwks: &JwkSet,
    iss: &str,
    aud: &str,
    tokens: &[String],
    threads: usize,
    duration: Duration,
) -> Result<f64> {
    let mut keys = HashMap::new();
    for jwk in &jwks.keys {
        let kid = jwk.common.key_id.clone().unwrap_or_default();
        keys.insert(kid, DecodingKey::from_jwk(jwk)?);
    }
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[iss]);
    v.set_audience(&[aud]);
    let verify = |t: &str| -> Result<()> {
        let kid = jsonwebtoken::decode_header(t)?.kid.unwrap_or_default();
        let key = keys
            .get(&kid)
            .ok_or_else(|| anyhow!("kid {kid} not in JWKS"))?;
        let claims = jsonwebtoken::decode::<Value>(t, key, &v)?.claims;
        if claims.get("token_use").and_then(Value::as_str) != Some("id") {
            bail!("not an ID token");
        }
        Ok(())
    };
    // One pass first: a token that does not verify is a failure, not a figure.
    for t in tokens {
        verify(t).context("verifying an ID token")?;
    }
    let start = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|w| {
                let verify = &verify;
                s.spawn(move || {
                    let mut n = 0u64;
                    let mut i = w;
                    while start.elapsed() < duration {
                        if verify(&tokens[i % tokens.len()]).is_ok() {
                            n += 1;
                        }
                        i += threads;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// Sign-ins started at a fixed rate (open loop, whatever the answers' latency) until stopped.
///
/// They stand in for users on their own devices, so their client side must not take CPU
/// from the server or from the PUTs being timed. Each one is an InitiateAuth and a
/// RespondToAuthChallenge, as a real sign-in makes them, but the response answers an
/// earlier challenge with an answer computed before the slice ([`prepare`]): the client's
/// SRP math (~40% of the CPU a sign-in costs this machine when the load generator does it
/// in the slice), which real clients spend on their own devices, stays out of the timed
/// slices. The challenge each InitiateAuth returns is answered before
/// the next slice. What runs here is HTTP and JSON, on a runtime of its own whose thread is
/// in the idle scheduling class, over connections of its own. What the figures show is then
/// the server's own cost.
struct Background {
    stop: oneshot::Sender<()>,
    done: oneshot::Receiver<Steady>,
    si: Arc<SignIn>,
}

/// What [`sign_in_steadily`] did: the samples, the time it ran, and the challenges its
/// InitiateAuths returned.
#[derive(Default)]
struct Steady {
    samples: Samples,
    elapsed: Duration,
    issued: Vec<Challenge>,
}

impl Steady {
    /// A sign-in started at `t` ended with `r`: its InitiateAuth's challenge, or an error.
    fn record(&mut self, t: Instant, r: Result<Challenge>) {
        match r {
            Ok(challenge) => {
                self.issued.push(challenge);
                self.samples.record(t, Ok(()));
            }
            Err(e) => self.samples.record::<()>(t, Err(e)),
        }
    }
}

impl Background {
    /// Start `rate` sign-ins per second, their responses taken from `answers`.
    fn start(si: &SignIn, rate: f64, answers: VecDeque<Value>) -> Result<Self> {
        let si = Arc::new(si.with_client(si.c.with_own_connections()?));
        let kept = si.clone();
        let (stop, stopped) = oneshot::channel();
        let (finished, done) = oneshot::channel();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bench-bg-signin")
            .on_thread_start(idle_class)
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("bench-bg-signin".into())
            .spawn(move || {
                idle_class();
                let out = rt.block_on(rt.spawn(sign_in_steadily(si, rate, answers, stopped)));
                let _ = finished.send(out.unwrap_or_default());
            })?;
        Ok(Self {
            stop,
            done,
            si: kept,
        })
    }

    /// Stop; what the sign-ins did, and when each one's requests ran.
    async fn stop(self) -> (Steady, Vec<(Phase, Instant, Instant)>) {
        let _ = self.stop.send(());
        let steady = self.done.await.unwrap_or_default();
        let phases = self
            .si
            .phases
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        (steady, phases)
    }
}

/// Answers for `need` sign-ins of [`Background`], computed before a slice: `carried`
/// challenges (those the previous slice's InitiateAuths returned) while they are fresh, then
/// new ones. Untimed, between PUT slices; the SRP math runs on every core.
async fn prepare(
    si: &Arc<SignIn>,
    carried: Vec<Challenge>,
    need: usize,
    next_user: &mut usize,
) -> Result<VecDeque<Value>> {
    let mut challenges: Vec<Challenge> = carried
        .into_iter()
        .filter(|c| c.issued.elapsed() < CHALLENGE_MAX_AGE)
        .take(need)
        .collect();
    while challenges.len() < need {
        challenges.push(si.initiate(*next_user).await?);
        *next_user += 1;
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = need.div_ceil(threads).max(1);
    let mut set = JoinSet::new();
    let mut rest = challenges;
    while !rest.is_empty() {
        let chunk: Vec<Challenge> = rest.drain(..per_thread.min(rest.len())).collect();
        let si = si.clone();
        set.spawn_blocking(move || -> Result<Vec<Value>> {
            chunk.iter().map(|c| si.answer(c)).collect()
        });
    }
    let mut answers = VecDeque::with_capacity(need);
    while let Some(r) = set.join_next().await {
        answers.extend(r??);
    }
    Ok(answers)
}

/// Start a sign-in every `1/rate` s until `stopped`, each answering with the next of
/// `answers` (see [`Background`]).
async fn sign_in_steadily(
    si: Arc<SignIn>,
    rate: f64,
    mut answers: VecDeque<Value>,
    mut stopped: oneshot::Receiver<()>,
) -> Steady {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Bounded, so a stalled server cannot make the bench pile up requests.
    let inflight = Arc::new(Semaphore::new(256));
    let mut set = JoinSet::new();
    let start = Instant::now();
    let mut out = Steady::default();
    let mut i = 0usize;
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = tick.tick() => {
                let Ok(permit) = inflight.clone().try_acquire_owned() else {
                    out.samples.record::<()>(Instant::now(), Err(anyhow!("256 sign-ins in flight")));
                    continue;
                };
                let Some(answer) = answers.pop_front() else {
                    out.samples.record::<()>(Instant::now(), Err(anyhow!("no prepared answer left")));
                    continue;
                };
                let (si, n) = (si.clone(), i);
                i += 1;
                set.spawn(async move {
                    let t = Instant::now();
                    let r = async {
                        let challenge = si.initiate(n).await?;
                        si.phase(Phase::Initiate, t);
                        let responding = Instant::now();
                        si.respond(&answer).await?;
                        si.phase(Phase::Respond, responding);
                        Ok(challenge)
                    };
                    let r = tokio::time::timeout(SIGN_IN_TIMEOUT, r)
                        .await
                        .unwrap_or_else(|_| Err(anyhow!("sign-in timed out")));
                    drop(permit);
                    (t, r)
                });
            }
            Some(done) = set.join_next(), if !set.is_empty() => {
                if let Ok((t, r)) = done {
                    out.record(t, r);
                }
            }
        }
    }
    out.elapsed = start.elapsed();
    while let Some(done) = set.join_next().await {
        if let Ok((t, r)) = done {
            out.record(t, r);
        }
    }
    out
}

/// Put the calling thread in the idle scheduling class (best effort: at normal priority the
/// figures only get more pessimistic).
fn idle_class() {
    let _ = thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        thread_priority::ThreadPriority::Min,
        thread_priority::ThreadSchedulePolicy::Normal(
            thread_priority::NormalThreadSchedulePolicy::Idle,
        ),
    );
}

/// A control for the PUT cells with sign-ins: a thread of the load generator, in the idle
/// scheduling class like the server's sign-in work, that spends about `ms_per_s` of CPU per
/// second on modular exponentiations in the SRP group and never talks to the server. Run
/// with a negligible --signin-rate and the server's CPU per sign-in (printed by the sign-in
/// cell) × the usual rate, it shows
/// what the same amount of idle-class CPU work costs the PUTs on this machine when no
/// sign-in runs: how much of the PUTs' change under sign-ins the CPU alone explains.
struct Burner {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Work is handed out in periods this long, so that the burn is spread like sign-ins at
/// tens per second rather than in one block per second.
const BURN_PERIOD: Duration = Duration::from_millis(20);

impl Burner {
    /// Start burning `ms_per_s` (> 0), in operations of `per_op` (from [`Burner::calibrate`]).
    fn start(ms_per_s: f64, per_op: Duration) -> Result<Self> {
        // Fixed work per period, as the server's is per sign-in: when the thread is preempted
        // the work waits, it is not cut short.
        let ops = (ms_per_s / 1e3 * BURN_PERIOD.as_secs_f64() / per_op.as_secs_f64())
            .round()
            .max(1.0) as u64;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("bench-burner".into())
            .spawn(move || {
                idle_class();
                let mut e = burn_exponent();
                let mut next = Instant::now();
                while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                    for _ in 0..ops {
                        burn_once(&mut e);
                    }
                    next += BURN_PERIOD;
                    match next.checked_duration_since(Instant::now()) {
                        Some(d) => std::thread::sleep(d),
                        None => next = Instant::now(),
                    }
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// The CPU time of one burn operation, by the calling thread's CPU clock (wall time
    /// would count whatever else this machine does meanwhile). Runs before the PUT cells;
    /// it blocks the caller ~25 ms, and dropping a [`Burner`] up to one period: both fall
    /// outside the timed PUT slices.
    fn calibrate() -> Duration {
        let cpu = || {
            let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
            Duration::new(
                t.tv_sec.max(0) as u64,
                t.tv_nsec.clamp(0, 999_999_999) as u32,
            )
        };
        let mut e = burn_exponent();
        let n = 50u32;
        let start = cpu();
        for _ in 0..n {
            burn_once(&mut e);
        }
        cpu().saturating_sub(start) / n
    }
}

impl Drop for Burner {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One burn operation: `g^e mod N`, then the next exponent.
fn burn_once(e: &mut BigUint) {
    std::hint::black_box(srp::GROUP.g.modpow(e, &srp::GROUP.n));
    *e += 1u32;
}

/// A 64-bit exponent: one operation is a fraction of a millisecond, so a period's work
/// comes in small pieces like a sign-in's steps.
fn burn_exponent() -> BigUint {
    BigUint::from(rand::random::<u64>() | 1 << 63)
}

/// Run `f` on a new thread in the idle scheduling class and await its result.
async fn off_thread_low_priority<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Result<R> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("bench-client-srp".into())
        .spawn(move || {
            idle_class();
            let _ = tx.send(f());
        })?;
    rx.await.map_err(|_| anyhow!("client SRP thread failed"))
}

/// Sign up and confirm `n` users, 8 at a time (SignUp hashes the password: Argon2id).
async fn make_users(
    c: &S3Client,
    pool_id: &str,
    client_id: &str,
    n: usize,
    password: &str,
) -> Result<Vec<String>> {
    let users: Vec<String> = (0..n).map(|i| format!("bench-user-{i:04}")).collect();
    for chunk in users.chunks(8) {
        let mut set = JoinSet::new();
        for u in chunk {
            let (c, u, pool_id, client_id, password) = (
                c.clone(),
                u.clone(),
                pool_id.to_owned(),
                client_id.to_owned(),
                password.to_owned(),
            );
            set.spawn(async move {
                c.json(
                    "cognito-idp",
                    &format!("{IDP}SignUp"),
                    &json!({ "ClientId": client_id, "Username": u, "Password": password }),
                    false,
                )
                .await?;
                c.json(
                    "cognito-idp",
                    &format!("{IDP}AdminConfirmSignUp"),
                    &json!({ "UserPoolId": pool_id, "Username": u }),
                    true,
                )
                .await
            });
        }
        while let Some(r) = set.join_next().await {
            r??;
        }
    }
    Ok(users)
}

/// Where the slow PUTs of a cell with background sign-ins fell: for each sign-in request, the
/// share of the PUTs that overlapped that request alone which were slower than `slow` (the
/// p99 of the PUTs alone, so about 1% of them if sign-ins changed nothing), and the same for
/// PUTs that overlapped none. Tells which of the server's steps delays uploads.
fn slow_put_report(
    label: &str,
    slow: Duration,
    puts: &[(Instant, Duration)],
    phases: &[(Phase, Instant, Instant)],
) -> String {
    // Indexed by `Phase as usize`, then the PUTs that overlapped no step.
    let steps = [
        "InitiateAuth",
        "RespondToAuthChallenge",
        "no sign-in request",
    ];
    // Per step: PUTs that overlapped it alone (or none), and how many of those were slow.
    let mut counts = [(0u64, 0u64); 3];
    for &(start, took) in puts {
        let end = start + took;
        let mut hit = [false; 2];
        for &(phase, from, to) in phases {
            if from < end && to > start {
                hit[phase as usize] = true;
            }
        }
        let slot = match hit {
            [false, false] => Some(2),
            [true, false] => Some(0),
            [false, true] => Some(1),
            [true, true] => None,
        };
        if let Some(c) = slot.and_then(|i| counts.get_mut(i)) {
            c.0 += 1;
            c.1 += u64::from(took > slow);
        }
    }
    let parts: Vec<String> = steps
        .iter()
        .zip(counts)
        .map(|(name, (n, slow))| {
            let share = if n == 0 {
                0.0
            } else {
                slow as f64 * 100.0 / n as f64
            };
            format!("{name} {share:.2}% of {n}")
        })
        .collect();
    format!(
        "  {label} with sign-ins: PUTs over {:.2} ms (the p99 alone), by the sign-in request \
         they overlapped alone: {}",
        slow.as_secs_f64() * 1e3,
        parts.join(", ")
    )
}

fn progress(label: &str, cell: &Cell, first_error: Option<&str>) {
    let (p50, p99) = cell.latency.unwrap_or_default();
    eprintln!(
        "  {label}: {:.1}/s ({} errors) p50 {:.2} p99 {:.2} ms",
        cell.value,
        cell.errors,
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
    if let Some(e) = first_error {
        eprintln!("  {label}: first error: {e}");
    }
}

/// Set up, measure, print both tables.
pub async fn run(c: &S3Client, bucket: &str, p: Params) -> Result<()> {
    let suffix = unix_now();
    let password = "Bench-Passw0rd!".to_owned();
    let pool = c
        .json(
            "cognito-idp",
            &format!("{IDP}CreateUserPool"),
            &json!({ "PoolName": format!("bench-{suffix}") }),
            true,
        )
        .await
        .context("CreateUserPool")?;
    let pool_id = str_field(&pool, &["UserPool", "Id"])?.to_owned();
    let client = c
        .json(
            "cognito-idp",
            &format!("{IDP}CreateUserPoolClient"),
            &json!({
                "UserPoolId": pool_id,
                "ClientName": "bench",
                "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            }),
            true,
        )
        .await
        .context("CreateUserPoolClient")?;
    let client_id = str_field(&client, &["UserPoolClient", "ClientId"])?.to_owned();
    let users = make_users(c, &pool_id, &client_id, p.users.max(1), &password)
        .await
        .context("creating the users")?;
    eprintln!("  user pool {pool_id}: {} users signed up", users.len());

    let si = Arc::new(SignIn {
        c: c.clone(),
        pool_id: pool_id.clone(),
        client_id: client_id.clone(),
        users,
        password,
        eph: (0..EPHEMERALS).map(|_| Ephemeral::new()).collect(),
        gx: Mutex::new(HashMap::new()),
        phases: Mutex::new(Vec::new()),
    });
    // Every user signs in once, untimed: checks the SRP client, fills the g^x cache and
    // yields the ID tokens the verification figures use.
    let mut tokens = Vec::new();
    for i in 0..si.users.len() {
        tokens.push(
            si.sign_in_timed(i)
                .await
                .with_context(|| format!("warm-up sign-in of {}", si.users[i]))?,
        );
    }

    let disc: Value = serde_json::from_slice(
        &c.get_unsigned(&format!("{pool_id}/.well-known/openid-configuration"))
            .await?,
    )?;
    let issuer = str_field(&disc, &["issuer"])?.to_owned();
    let jwks_path = str_field(&disc, &["jwks_uri"])?
        .strip_prefix(c.endpoint())
        .and_then(|p| p.strip_prefix('/'))
        .ok_or_else(|| anyhow!("jwks_uri is not on the endpoint under test"))?
        .to_owned();
    let jwks: JwkSet = serde_json::from_slice(&c.get_unsigned(&jwks_path).await?)?;
    let provider = issuer
        .split_once("://")
        .map_or(issuer.as_str(), |(_, r)| r)
        .to_owned();
    let ip = c
        .json(
            "cognito-identity",
            &format!("{CI}CreateIdentityPool"),
            &json!({
                "IdentityPoolName": format!("bench_{suffix}"),
                "AllowUnauthenticatedIdentities": false,
                "CognitoIdentityProviders": [{ "ProviderName": provider, "ClientId": client_id }],
            }),
            true,
        )
        .await
        .context("CreateIdentityPool")?;
    let identity_pool = str_field(&ip, &["IdentityPoolId"])?.to_owned();

    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for &conc in &p.signin_concurrency {
        let label = format!("SRP sign-in c={conc}");
        let cpu = CpuMeter::start(p.pid);
        let (s, elapsed) = signin_cell(&si, conc, p.duration).await;
        let ops = s.lat.len();
        let (cell, err) = s.cell(elapsed);
        progress(&label, &cell, err.as_deref());
        notes.push(cpu_note(&label, cpu.per_op(ops)));
        rows.push(Row {
            label,
            unit: "/s",
            cells: vec![Some(cell)],
        });
    }

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let vdur = (p.duration / 2).max(Duration::from_secs(1));
    for t in [1, threads] {
        let (jwks, iss, aud, tokens) = (
            jwks.clone(),
            issuer.clone(),
            client_id.clone(),
            tokens.clone(),
        );
        let rate =
            tokio::task::spawn_blocking(move || verify_rate(&jwks, &iss, &aud, &tokens, t, vdur))
                .await??;
        eprintln!("  jsonwebtoken verify, {t} thread(s): {rate:.0}/s");
        rows.push(Row {
            label: format!("ID token verify, {t} thr"),
            unit: "/s",
            cells: vec![Some(Cell {
                value: rate,
                ..Cell::default()
            })],
        });
        if threads == 1 {
            break;
        }
    }
    let getid_conc = 16;
    let label = format!("GetId(ID token) c={getid_conc}");
    let cpu = CpuMeter::start(p.pid);
    let (s, elapsed) = getid_cell(
        c,
        &identity_pool,
        &provider,
        &tokens,
        getid_conc,
        p.duration,
    )
    .await;
    let ops = s.lat.len();
    let (cell, err) = s.cell(elapsed);
    progress(&label, &cell, err.as_deref());
    notes.push(cpu_note(&label, cpu.per_op(ops)));
    rows.push(Row {
        label,
        unit: "/s",
        cells: vec![Some(cell)],
    });

    let burn_op = (p.burn_ms_per_s > 0.0).then(Burner::calibrate);
    if let Some(op) = burn_op {
        notes.push(format!(
            "control burner: {:.0} ms of idle-class CPU per s during the PUT cells with sign-ins \
             (one operation {:.3} ms)",
            p.burn_ms_per_s,
            op.as_secs_f64() * 1e3
        ));
    }
    let mut put_rows = Vec::new();
    let mut next_user = 0usize;
    for &conc in &p.put_concurrency {
        let label = format!("PUT {} KiB c={conc}", p.small.body.len() >> 10);
        // Each kind runs `p.duration` in all, as four slices in the order A B B A A B B A
        // (A alone, B with sign-ins): this machine's noise (other tenants' CPU, lasting
        // seconds) then falls on both kinds alike, where one cell of each in turn could
        // catch it in one only, and a drift over the run cancels out.
        let slice = p.duration / 4;
        let (mut alone, mut loaded) = (Vec::new(), Vec::new());
        let (mut bs, mut belapsed, mut phases) = (Samples::default(), Duration::ZERO, Vec::new());
        // Enough prepared answers for a slice of sign-ins, with a margin.
        let need = (p.signin_rate * slice.as_secs_f64() * 1.2).ceil() as usize + 4;
        let mut carried = Vec::new();
        for (i, with_signins) in [false, true, true, false, false, true, true, false]
            .into_iter()
            .enumerate()
        {
            let what = if with_signins { "signins" } else { "alone" };
            let tag = format!("{what}-c{conc}-{i}");
            if !with_signins {
                let cell = workload::small_cell(c, bucket, Op::Put, conc, slice, &p.small, 1, &tag)
                    .await
                    .with_context(|| format!("{label} alone"))?;
                alone.push(cell);
                continue;
            }
            let answers = prepare(&si, std::mem::take(&mut carried), need, &mut next_user)
                .await
                .context("preparing the sign-ins' answers")?;
            let bg = Background::start(&si, p.signin_rate, answers)?;
            let burner = burn_op
                .map(|op| Burner::start(p.burn_ms_per_s, op))
                .transpose()?;
            let cell =
                workload::small_cell(c, bucket, Op::Put, conc, slice, &p.small, 1, &tag).await;
            drop(burner);
            let (steady, steps) = bg.stop().await;
            loaded.push(cell.with_context(|| format!("{label} with sign-ins"))?);
            bs.merge(steady.samples);
            belapsed += steady.elapsed;
            carried = steady.issued;
            phases.extend(steps);
        }
        let (base, loaded) = (
            workload::CellStats::pooled(alone),
            workload::CellStats::pooled(loaded),
        );
        notes.push(slow_put_report(&label, base.p99, &loaded.timeline, &phases));
        let (bcell, berr) = bs.cell(belapsed);
        let bg_label = format!("  sign-ins during c={conc}");
        progress(&bg_label, &bcell, berr.as_deref());
        rows.push(Row {
            label: format!("bg sign-ins, PUT c={conc}"),
            unit: "/s",
            cells: vec![Some(bcell)],
        });
        let cell = |s: &workload::CellStats| {
            Some(Cell {
                value: s.ops_per_s,
                latency: Some((s.p50, s.p99)),
                errors: s.errors,
            })
        };
        for (what, s) in [("alone", &base), ("with sign-ins", &loaded)] {
            eprintln!(
                "  {label} {what}: {:.0} ops/s p50 {:.2} p99 {:.2} ms ({} errors)",
                s.ops_per_s,
                s.p50.as_secs_f64() * 1e3,
                s.p99.as_secs_f64() * 1e3,
                s.errors
            );
            if let Some(e) = &s.first_error {
                eprintln!("  {label} {what}: first error: {e}");
            }
        }
        put_rows.push(Row {
            label,
            unit: "ops/s",
            cells: vec![cell(&base), cell(&loaded)],
        });
    }

    println!();
    print!("{}", report::render(&["cubby".to_owned()], &rows));
    for n in &notes {
        println!("{n}");
    }
    println!();
    print!(
        "{}",
        report::render(
            &[
                "PUT alone".to_owned(),
                if p.burn_ms_per_s > 0.0 {
                    format!(
                        "PUT + {} sign-ins/s + burner {:.0} ms/s",
                        p.signin_rate, p.burn_ms_per_s
                    )
                } else {
                    format!("PUT + {} sign-ins/s", p.signin_rate)
                }
            ],
            &put_rows
        )
    );
    println!(
        "A sign-in is InitiateAuth (USER_SRP_AUTH) + RespondToAuthChallenge (PASSWORD_VERIFIER), \
         tokens issued; the load generator's SRP math uses reused 256-bit client ephemerals. \
         The sign-ins during the PUT cells answer challenges whose SRP math was done between \
         the slices (real clients do it on their own devices). \
         ID token verify: jsonwebtoken RS256 + iss/aud/exp in this process, key prepared from \
         the JWKS. GetId: the identity pool verifying the token in Logins. {} s per cell; \
         the PUT cells alone and with sign-ins each ran as four slices of a quarter of that, \
         interleaved (A B B A A B B A), their requests pooled. CPU per op from \
         /proc/<pid>/stat. The ratio column is ops/s alone / with sign-ins.",
        p.duration.as_secs()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bench's client math (reused ephemeral, cached g^x) signs exactly what the
    /// reference client in `cubby_userpool::srp` signs, and the server derives the same key.
    #[test]
    fn claim_matches_the_reference_client_and_the_server() -> Result<()> {
        let (pool, user, pw) = ("AbCdEf123", "bench-user-0001", "Bench-Passw0rd!");
        let salt = srp::new_salt([7; 16]);
        let v = srp::verifier(pool, user, pw, &salt);
        let (b, b_pub) = srp::server_ephemeral(&v, || [9; 32]);
        let eph = Ephemeral::new();
        let x = srp::compute_x(pool, user, pw, &salt);
        let gx = srp::GROUP.g.modpow(&x, &srp::GROUP.n);
        let ours = claim(&eph, &b_pub, &(x, gx), pool, user, b"block", "ts")?;
        let k = srp::client_key(pool, user, pw, &salt, &eph.a, &b_pub)?;
        assert_eq!(ours, srp::claim_signature(&k, pool, user, b"block", "ts"));
        assert_eq!(srp::server_key(&eph.a_pub, &b_pub, &b, &v)?, k);
        Ok(())
    }
}
