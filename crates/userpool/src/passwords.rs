//! Password policy, Argon2id hashing (off the async runtime, bounded), temporary passwords.

use crate::error::Error;
use crate::model::PasswordPolicy;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Argon2id cost parameters. The default is OWASP's (19 MiB, 2 passes, 1 lane).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Argon2Params {
            m_cost_kib: 19 * 1024,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

impl Argon2Params {
    /// Cheap parameters for tests (never for production).
    pub fn insecure_fast() -> Self {
        Argon2Params {
            m_cost_kib: 256,
            t_cost: 1,
            p_cost: 1,
        }
    }
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Runs CPU-heavy credential work (Argon2id, SRP's modular exponentiations, RS256
/// signatures) on one dedicated thread per core, at most one job per thread at once, so
/// sign-ins never occupy the async workers or the blocking pool that serve uploads.
///
/// The threads run in the kernel's idle scheduling class (`SCHED_IDLE`): they get the CPU
/// that uploads leave over and give it back the moment an upload handler wakes, so a burst
/// of sign-ins cannot raise upload latency. On idle cores they run at full speed; on cores
/// that uploads keep saturated, sign-ins wait (that is the intended order).
pub(crate) struct Hasher {
    permits: Arc<Semaphore>,
    jobs: std::sync::mpsc::Sender<Job>,
    params: Argon2Params,
}

impl Hasher {
    pub(crate) fn new(params: Argon2Params) -> Self {
        let n = crate::idle::threads_per_pool();
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for i in 0..n {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("cubby-credential-{i}"))
                .spawn(move || credential_worker(&queue));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a credential worker thread");
            }
        }
        Hasher {
            permits: Arc::new(Semaphore::new(n)),
            jobs,
            params,
        }
    }

    /// Run `f` on a credential worker under a permit.
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, Error> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| Error::Crypto(e.to_string()))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                // A receiver that went away (the request was cancelled) needs no answer.
                let _ = tx.send(f());
            }))
            .map_err(|_| Error::Crypto("credential workers stopped".into()))?;
        rx.await
            .map_err(|_| Error::Crypto("credential worker failed".into()))
    }

    /// The Argon2id context.
    pub(crate) fn argon2(&self) -> Result<Argon2<'static>, Error> {
        let p = Params::new(
            self.params.m_cost_kib,
            self.params.t_cost,
            self.params.p_cost,
            None,
        )
        .map_err(|e| Error::Config(format!("argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
    }
}

/// How long [`pause`] sleeps.
const PAUSE: std::time::Duration = std::time::Duration::from_micros(20);

/// A short sleep between pieces of a long credential job (`srp::server_key_paced`,
/// `srp::server_ephemeral_paced`, the two token signatures). While a worker computes, its
/// core runs a `SCHED_IDLE` task and is not idle to the kernel, so a request's thread that
/// queued on the other, busy core is not moved over before the next periodic load balance (a
/// scheduler tick away): a few uploads waited milliseconds while a sign-in's 3 ms SRP check
/// ran. A sleep every ~0.1 ms of work lets the core go idle and take such a thread at once.
/// Measured with `bench/run.sh --userpool` (50 sign-ins/s, PUTs at one client; three runs
/// each, alternating with a build whose `pause` did nothing): with the pauses, 0.60–0.69% of
/// the PUTs that overlapped a RespondToAuthChallenge took over 2 ms and the PUT p99 was
/// 1.15–1.35× the p99 alone; without, 1.34–1.48% and 1.47–1.83×. The price is sign-in
/// throughput: 92/s instead of 122/s at one client (5.7–6.1 ms of server CPU per
/// sign-in instead of 4.9 ms), with the workers' timer slack already at 1 ns.
pub(crate) fn pause() {
    std::thread::sleep(PAUSE);
}

/// One credential worker: lower its own priority, then run jobs until the pool is dropped.
fn credential_worker(queue: &std::sync::Mutex<std::sync::mpsc::Receiver<Job>>) {
    crate::idle::lower_own_priority();
    loop {
        // The lock is held only while taking one job, never while running it.
        let job = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        // A panicking job loses its answer (the caller sees an error), not the thread.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
            tracing::error!("a credential job panicked");
        }
    }
}

/// Hash a password (blocking; call inside [`Hasher::run`]).
pub(crate) fn hash_blocking(argon: &Argon2<'_>, password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Crypto(format!("argon2: {e}")))
}

/// Verify a password against a PHC string (blocking; constant-time inside argon2).
pub(crate) fn verify_blocking(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

const SYMBOLS: &str = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-";

/// Check a password against the pool's policy; the error is Cognito's message.
pub fn check_policy(policy: &PasswordPolicy, password: &str) -> Result<(), String> {
    let prefix = "Password did not conform with policy: ";
    if password.chars().count() > 256 {
        return Err(format!("{prefix}Password is too long"));
    }
    if password.starts_with(' ') || password.ends_with(' ') {
        return Err(format!(
            "{prefix}Password must not begin or end with a space"
        ));
    }
    if (password.chars().count() as u32) < policy.minimum_length {
        return Err(format!("{prefix}Password not long enough"));
    }
    if policy.require_uppercase && !password.chars().any(|c| c.is_uppercase()) {
        return Err(format!("{prefix}Password must have uppercase characters"));
    }
    if policy.require_lowercase && !password.chars().any(|c| c.is_lowercase()) {
        return Err(format!("{prefix}Password must have lowercase characters"));
    }
    if policy.require_numbers && !password.chars().any(|c| c.is_ascii_digit()) {
        return Err(format!("{prefix}Password must have numeric characters"));
    }
    if policy.require_symbols && !password.chars().any(|c| SYMBOLS.contains(c) || c == ' ') {
        return Err(format!("{prefix}Password must have symbol characters"));
    }
    Ok(())
}

/// A random temporary password that satisfies `policy`.
pub fn temporary_password(policy: &PasswordPolicy) -> String {
    use rand::Rng as _;
    use rand::seq::SliceRandom as _;
    let mut rng = rand::thread_rng();
    let pick = |set: &[u8], rng: &mut rand::rngs::ThreadRng| -> char {
        char::from(
            set.get(rng.gen_range(0..set.len()))
                .copied()
                .unwrap_or(b'x'),
        )
    };
    let upper = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    let lower = b"abcdefghijkmnopqrstuvwxyz";
    let digits = b"23456789";
    let symbols = b"!@#%^*-_=+";
    let mut chars = vec![
        pick(upper, &mut rng),
        pick(lower, &mut rng),
        pick(digits, &mut rng),
        pick(symbols, &mut rng),
    ];
    let all: Vec<u8> = [&upper[..], &lower[..], &digits[..]].concat();
    let len = (policy.minimum_length as usize).max(12);
    while chars.len() < len {
        chars.push(pick(&all, &mut rng));
    }
    chars.shuffle(&mut rng);
    chars.into_iter().collect()
}
