//! `cubby-bench`: a native S3 load generator. Drives one endpoint, or two
//! with the same load interleaved line by line (`--compare-endpoint`), and
//! prints MB/s for single-stream large transfers, ops/s with p50/p99 for
//! small requests at several concurrencies, server RSS, and the ratios
//! first/second. `bench/run.sh` starts cubby and s3s-fs and runs it.
//! `--userpool` measures the user pools instead (see [`userpool`]):
//! `bench/run.sh --userpool` starts only cubby.
//! `--idpool` measures the identity-pool credential broker (see [`idpool`]):
//! `bench/run.sh --idpool` starts only cubby.

#![forbid(unsafe_code)]

mod client;
mod events;
mod idpool;
mod report;
mod rules;
mod userpool;
mod workload;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Parser;
use rand::RngCore;

use client::{Payload, S3Client};
use report::{Cell, Row};
use workload::{Op, Sampler, cpu_ms};

/// Objects the GET cells read.
const GET_KEYS: usize = 256;

#[derive(Parser, Debug)]
#[command(
    name = "cubby-bench",
    about = "S3 load generator: cubby vs a second endpoint"
)]
struct Args {
    /// Endpoint under test (http://127.0.0.1:PORT).
    #[arg(long)]
    endpoint: String,
    #[arg(long, env = "CUBBY_BENCH_ACCESS_KEY")]
    access_key: String,
    #[arg(long, env = "CUBBY_BENCH_SECRET", hide_env_values = true)]
    secret: String,
    /// Server process to read VmRSS/VmHWM of.
    #[arg(long)]
    pid: Option<u32>,
    /// Column title of the endpoint under test.
    #[arg(long, default_value = "cubby")]
    name: String,

    /// Endpoint to run the same load against, for the ratios.
    #[arg(long)]
    compare_endpoint: Option<String>,
    /// Default: --access-key.
    #[arg(long)]
    compare_access_key: Option<String>,
    /// Default: --secret.
    #[arg(long, hide_env_values = true)]
    compare_secret: Option<String>,
    #[arg(long)]
    compare_pid: Option<u32>,
    #[arg(long, default_value = "s3s-fs")]
    compare_name: String,

    /// Seconds per small-object cell (each op, concurrency and endpoint).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Concurrencies of the small-object cells.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16, 64])]
    concurrency: Vec<usize>,
    /// Size of the single-stream object, MiB.
    #[arg(long, default_value_t = 256)]
    big_mib: usize,
    /// Size of the small objects, KiB.
    #[arg(long, default_value_t = 4)]
    small_kib: usize,
    /// Single-stream runs per endpoint (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Sign PUT bodies as UNSIGNED-PAYLOAD instead of with their SHA-256.
    #[arg(long)]
    unsigned_payload: bool,
    #[arg(long, default_value = "us-east-1")]
    region: String,

    /// Measure the user pools instead of the S3 table: SRP sign-ins/s, ID-token
    /// verifications/s, and --small-kib PUT latency (at each --concurrency) alone and while
    /// --signin-rate sign-ins/s run. One endpoint only.
    #[arg(long)]
    userpool: bool,
    /// Concurrencies of the sign-in cells (--userpool).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 4, 16])]
    signin_concurrency: Vec<usize>,
    /// Background sign-ins per second while PUTs are timed (--userpool).
    #[arg(long, default_value_t = 50.0)]
    signin_rate: f64,
    /// A control for --signin-rate (--userpool): during the PUT cells with sign-ins, also
    /// burn this many ms of CPU per second in an idle-class thread of the load generator that
    /// never talks to the server. With a negligible --signin-rate and the server's CPU per
    /// sign-in × 50, it is the same amount of idle-class work without cubby doing it.
    #[arg(long, default_value_t = 0.0)]
    burn_ms_per_s: f64,
    /// Users signed up and signed in round-robin (--userpool).
    #[arg(long, default_value_t = 32)]
    users: usize,

    /// Measure the identity-pool broker instead of the S3 table: GetCredentialsForIdentity for
    /// returning guests, and GetId + GetCredentialsForIdentity pairs for new guests, at each
    /// --concurrency (see `idpool.rs`). One endpoint only.
    #[arg(long)]
    idpool: bool,
    /// The --idpool cells to run: returning (guest), new-guest, signed-in.
    #[arg(long, value_delimiter = ',', default_values_t = ["returning".to_owned(), "new-guest".to_owned(), "signed-in".to_owned()])]
    idpool_cells: Vec<String>,

    /// Measure upload events instead of the S3 table: 4 KiB PUT ops/s with and without a
    /// notification configuration (NATS target `bench`), then the dispatcher's drain rate of
    /// a backlog for the NATS target `drain` (see `events.rs`; `bench/run.sh --events`).
    #[arg(long)]
    events: bool,
    /// Events piled up for the drain measurement (--events).
    #[arg(long, default_value_t = 20000)]
    backlog: usize,
    /// File whose appearance says the `drain` NATS server is up (--events).
    #[arg(long)]
    drain_ready: Option<std::path::PathBuf>,
    /// The event broker's process (the NATS server) (--events): its CPU per delivered event
    /// is printed apart from cubby's.
    #[arg(long)]
    broker_pid: Option<u32>,

    /// Measure upload rules instead of the S3 table: 4 KiB PUT ops/s by an IAM user into a
    /// bucket without rules, with size/type/rate rules, and with quotas too; then one
    /// --big-mib single-stream PUT without and with rules (see `rules.rs`). One endpoint only.
    #[arg(long)]
    rules: bool,
}

/// One endpoint and what was seen of its server's memory.
struct Target {
    name: String,
    client: S3Client,
    pid: Option<u32>,
    rss_big_kib: u64,
    rss_small_kib: u64,
}

impl Target {
    fn new(
        name: &str,
        endpoint: &str,
        key: &str,
        secret: &str,
        region: &str,
        pid: Option<u32>,
    ) -> Result<Self> {
        Ok(Self {
            name: name.to_owned(),
            client: S3Client::new(endpoint, key, secret, region)
                .with_context(|| format!("endpoint {name}"))?,
            pid,
            rss_big_kib: 0,
            rss_small_kib: 0,
        })
    }
}

fn random_bytes(len: usize) -> Bytes {
    let mut v = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut v);
    Bytes::from(v)
}

fn mib(kib: u64) -> Option<Cell> {
    (kib > 0).then(|| Cell {
        value: kib as f64 / 1024.0,
        ..Cell::default()
    })
}

fn rss_row(targets: &[Target], label: &str, f: impl Fn(&Target) -> Option<u64>) -> Row {
    Row {
        label: label.to_owned(),
        unit: "MiB",
        cells: targets.iter().map(|t| f(t).and_then(mib)).collect(),
    }
}

/// `--userpool`: one endpoint, a bucket for the PUTs, then [`userpool::run`].
async fn userpool_main(a: Args) -> Result<()> {
    if a.compare_endpoint.is_some() {
        anyhow::bail!("--userpool measures one endpoint; drop --compare-endpoint");
    }
    if a.signin_rate.is_nan() || a.signin_rate <= 0.0 {
        anyhow::bail!("--signin-rate must be > 0");
    }
    if !(a.burn_ms_per_s >= 0.0 && a.burn_ms_per_s < 1000.0) {
        anyhow::bail!("--burn-ms-per-s must be in [0, 1000)");
    }
    let client = S3Client::new(&a.endpoint, &a.access_key, &a.secret, &a.region)?;
    let secs = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let bucket = format!("cubby-bench-up-{secs}");
    client
        .create_bucket(&bucket)
        .await
        .with_context(|| format!("creating bucket {bucket}"))?;
    let params = userpool::Params {
        duration: Duration::from_secs(a.duration),
        signin_concurrency: a.signin_concurrency,
        put_concurrency: a.concurrency,
        signin_rate: a.signin_rate,
        burn_ms_per_s: a.burn_ms_per_s,
        users: a.users,
        small: Payload::new(random_bytes(a.small_kib << 10), a.unsigned_payload),
        pid: a.pid,
    };
    userpool::run(&client, &bucket, params).await
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = Args::parse();
    if a.userpool {
        return userpool_main(a).await;
    }
    if a.events {
        if a.compare_endpoint.is_some() {
            anyhow::bail!("--events measures one endpoint; drop --compare-endpoint");
        }
        let client = S3Client::new(&a.endpoint, &a.access_key, &a.secret, &a.region)?;
        return events::run(
            &client,
            events::Params {
                duration: Duration::from_secs(a.duration),
                concurrency: a.concurrency,
                runs: a.runs,
                small: Payload::new(random_bytes(a.small_kib << 10), a.unsigned_payload),
                backlog: a.backlog,
                drain_ready: a.drain_ready,
                pid: a.pid,
                broker_pid: a.broker_pid,
            },
        )
        .await;
    }
    if a.rules {
        if a.compare_endpoint.is_some() {
            anyhow::bail!("--rules measures one endpoint; drop --compare-endpoint");
        }
        let client = S3Client::new(&a.endpoint, &a.access_key, &a.secret, &a.region)?;
        return rules::run(
            &client,
            &a.region,
            rules::Params {
                duration: Duration::from_secs(a.duration),
                concurrency: a.concurrency,
                runs: a.runs,
                small: Payload::new(random_bytes(a.small_kib << 10), a.unsigned_payload),
                big: Payload::new(random_bytes(a.big_mib << 20), a.unsigned_payload),
                pid: a.pid,
            },
        )
        .await;
    }
    if a.idpool {
        if a.compare_endpoint.is_some() {
            anyhow::bail!("--idpool measures one endpoint; drop --compare-endpoint");
        }
        return idpool::run(idpool::Params {
            endpoint: a.endpoint,
            access_key: a.access_key,
            secret: a.secret,
            region: a.region,
            duration: Duration::from_secs(a.duration),
            concurrency: a.concurrency,
            cells: a.idpool_cells,
            pid: a.pid,
        })
        .await;
    }
    let mut targets = vec![Target::new(
        &a.name,
        &a.endpoint,
        &a.access_key,
        &a.secret,
        &a.region,
        a.pid,
    )?];
    if let Some(ep) = &a.compare_endpoint {
        let key = a.compare_access_key.as_deref().unwrap_or(&a.access_key);
        let secret = a.compare_secret.as_deref().unwrap_or(&a.secret);
        targets.push(Target::new(
            &a.compare_name,
            ep,
            key,
            secret,
            &a.region,
            a.compare_pid,
        )?);
    }
    let read_rss = |t: &Target| t.pid.and_then(|p| workload::read_rss(p).ok());
    let idle: Vec<Option<(u64, u64)>> = targets
        .iter()
        .map(|t| read_rss(t).map(|r| (r.rss_kib, r.anon_kib)))
        .collect();

    // Bodies and their hashes are made here, once, outside every timed loop.
    let big = Payload::new(random_bytes(a.big_mib << 20), a.unsigned_payload);
    let small = Payload::new(random_bytes(a.small_kib << 10), a.unsigned_payload);
    let big_len = big.body.len() as u64;
    let payload_note = if a.unsigned_payload {
        "UNSIGNED-PAYLOAD"
    } else {
        "real SHA-256 of each body (computed once, before timing)"
    };
    println!("PUT payload signing: x-amz-content-sha256 = {payload_note}");

    let secs = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let bucket = format!("cubby-bench-{secs}");
    for t in &targets {
        t.client
            .create_bucket(&bucket)
            .await
            .with_context(|| format!("{}: creating bucket {bucket}", t.name))?;
    }

    let mut rows = Vec::new();
    let big_label = format!("{} MiB, 1 stream", a.big_mib);
    for op in [Op::Put, Op::Get] {
        // Runs alternate between the endpoints so that noise from other
        // users of the machine falls on both alike.
        let mut runs = vec![Vec::new(); targets.len()];
        for run in 0..a.runs {
            for (t, v) in targets.iter_mut().zip(&mut runs) {
                let sampler = Sampler::start(t.pid);
                let mbps = match op {
                    Op::Put => workload::big_put(&t.client, &bucket, "big", &big).await,
                    Op::Get => workload::big_get(&t.client, &bucket, "big", big_len).await,
                }
                .with_context(|| format!("{}: {} {big_label}", t.name, op.name()))?;
                if let Some(s) = sampler {
                    t.rss_big_kib = t.rss_big_kib.max(s.stop().await);
                }
                eprintln!(
                    "  {:<8} {} {big_label} run {}: {mbps:.1} MB/s",
                    t.name,
                    op.name(),
                    run + 1
                );
                v.push(mbps);
            }
        }
        rows.push(Row {
            label: format!("{} {big_label}", op.name()),
            unit: "MB/s",
            cells: runs
                .into_iter()
                .map(|v| {
                    Some(Cell {
                        value: workload::median(v),
                        ..Cell::default()
                    })
                })
                .collect(),
        });
    }

    for t in &targets {
        workload::prepare_get_keys(&t.client, &bucket, &small, GET_KEYS)
            .await
            .with_context(|| format!("{}: writing the objects GET reads", t.name))?;
    }
    let duration = Duration::from_secs(a.duration);
    for op in [Op::Put, Op::Get] {
        for &conc in &a.concurrency {
            let label = format!("{} {} KiB c={conc}", op.name(), a.small_kib);
            let mut cells = Vec::new();
            for t in &mut targets {
                let sampler = Sampler::start(t.pid);
                let cpu_before = t.pid.and_then(cpu_ms);
                let s = workload::small_cell(
                    &t.client,
                    &bucket,
                    op,
                    conc,
                    duration,
                    &small,
                    GET_KEYS,
                    &format!("c{conc}"),
                )
                .await
                .with_context(|| format!("{}: {label}", t.name))?;
                if let Some(smp) = sampler {
                    t.rss_small_kib = t.rss_small_kib.max(smp.stop().await);
                }
                // Server CPU per request: steadier than ops/s on a machine whose speed swings.
                let cpu_per_op = match (cpu_before, t.pid.and_then(cpu_ms)) {
                    (Some(a), Some(b)) if s.ok > 0 => {
                        format!(", server CPU {:.0} µs/op", (b - a) * 1e3 / s.ok as f64)
                    }
                    _ => String::new(),
                };
                eprintln!(
                    "  {:<8} {label}: {:.0} ops/s ({} ok, {} errors) p50 {:.2} p99 {:.2} ms{cpu_per_op}",
                    t.name,
                    s.ops_per_s,
                    s.ok,
                    s.errors,
                    s.p50.as_secs_f64() * 1e3,
                    s.p99.as_secs_f64() * 1e3
                );
                if let Some(e) = &s.first_error {
                    eprintln!("  {:<8} first error: {e}", t.name);
                }
                cells.push(Some(Cell {
                    value: s.ops_per_s,
                    latency: Some((s.p50, s.p99)),
                    errors: s.errors,
                }));
            }
            rows.push(Row {
                label,
                unit: "ops/s",
                cells,
            });
        }
    }

    rows.push(Row {
        label: "RSS idle (start)".into(),
        unit: "MiB",
        cells: idle.iter().map(|k| k.and_then(|k| mib(k.0))).collect(),
    });
    rows.push(Row {
        label: "  of it anonymous".into(),
        unit: "MiB",
        cells: idle.iter().map(|k| k.and_then(|k| mib(k.1))).collect(),
    });
    rows.push(rss_row(&targets, "RSS max, big transfer", |t| {
        Some(t.rss_big_kib)
    }));
    rows.push(rss_row(&targets, "RSS max, small cells", |t| {
        Some(t.rss_small_kib)
    }));
    rows.push(rss_row(&targets, "RSS after load", |t| {
        read_rss(t).map(|r| r.rss_kib)
    }));
    rows.push(rss_row(&targets, "  of it anonymous", |t| {
        read_rss(t).map(|r| r.anon_kib)
    }));
    rows.push(rss_row(&targets, "VmHWM (peak) at end", |t| {
        read_rss(t).map(|r| r.hwm_kib)
    }));

    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    println!();
    print!("{}", report::render(&names, &rows));
    println!(
        "MB = 10^6 bytes. Large-object figures: median of {} runs. Small cells: {} s each, \
         ops/s counts successful requests; latency is per request, nearest rank. \
         Ratios > 1 favour {} on MB/s and ops/s lines, < 1 on MiB lines. RSS is sampled every 50 ms.",
        a.runs, a.duration, a.name
    );
    Ok(())
}
