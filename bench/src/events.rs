//! `--events`: what upload events cost and how fast the dispatcher drains them.
//!
//! 1. **PUT overhead.** 4 KiB PUTs into a bucket without a notification configuration and
//!    into one whose `s3:ObjectCreated:*` configuration names the NATS target `bench`
//!    (delivered live while the PUTs run). Cells alternate plain / notified (which goes first
//!    alternates too), `runs` times per concurrency, and the medians are compared.
//! 2. **Dispatcher throughput.** PUTs into a bucket whose configuration names the NATS
//!    target `drain`, whose server is *not running* (bench/run.sh starts it later): the
//!    events pile up in the outbox. Then run.sh starts that NATS server (`--drain-ready`
//!    file appears) and we time how long the dispatcher takes to empty the backlog,
//!    reading the root-only `/_cubby/admin/events` report.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::Method;

use crate::client::{Payload, S3Client};
use crate::workload::{self, Op, cpu_ms};

/// What `--events` needs.
pub struct Params {
    pub duration: Duration,
    pub concurrency: Vec<usize>,
    pub runs: usize,
    pub small: Payload,
    /// Events to pile up for the drain measurement.
    pub backlog: usize,
    /// File that bench/run.sh creates once the `drain` NATS server is up.
    pub drain_ready: Option<PathBuf>,
    /// The server process, for its CPU time.
    pub pid: Option<u32>,
    /// The `bench` target's NATS server, for its CPU time (it shares this machine's cores).
    pub broker_pid: Option<u32>,
}

/// CPU milliseconds (user, system) by thread group.
type ThreadCpu = std::collections::BTreeMap<String, (f64, f64)>;

/// Where the notified cells' extra server CPU went: µs per PUT by thread group, user and
/// system time apart, plain cells against notified ones (sums over all runs).
fn print_threads([(plain, plain_ops), (notified, notified_ops)]: &[(ThreadCpu, f64); 2]) {
    if *plain_ops == 0.0 || *notified_ops == 0.0 {
        return;
    }
    let per = |m: &ThreadCpu, name: &str, ops: f64| {
        let (u, s) = m.get(name).copied().unwrap_or_default();
        (u * 1000.0 / ops, s * 1000.0 / ops)
    };
    let names: std::collections::BTreeSet<&String> = plain.keys().chain(notified.keys()).collect();
    println!("  server CPU by thread, µs/PUT user+system: plain -> notified (difference)");
    for name in names {
        let (pu, ps) = per(plain, name, *plain_ops);
        let (nu, ns) = per(notified, name, *notified_ops);
        if pu + ps + nu + ns < 0.5 {
            continue;
        }
        println!(
            "    {name:<24} {pu:>6.1}+{ps:<6.1} -> {nu:>6.1}+{ns:<6.1} ({:+.1} user, {:+.1} system)",
            nu - pu,
            ns - ps
        );
    }
}

/// Wait until the `bench` target has no pending events.
async fn wait_drained(c: &S3Client) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while report(c).await?["pendingByTarget"]["bench"]
        .as_i64()
        .unwrap_or(0)
        > 0
    {
        if Instant::now() > deadline {
            bail!("events not delivered within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

fn config(target: &str) -> Bytes {
    Bytes::from(format!(
        "<NotificationConfiguration><QueueConfiguration><Id>bench</Id>\
         <Queue>arn:cubby:sqs:us-east-1:000000000000:{target}</Queue>\
         <Event>s3:ObjectCreated:*</Event></QueueConfiguration></NotificationConfiguration>"
    ))
}

async fn report(c: &S3Client) -> Result<serde_json::Value> {
    let b = c
        .request(Method::GET, "_cubby/admin/events", Bytes::new())
        .await?;
    Ok(serde_json::from_slice(&b)?)
}

pub async fn run(c: &S3Client, p: Params) -> Result<()> {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let plain = format!("ev-plain-{secs}");
    let notified = format!("ev-notified-{secs}");
    let backlog = format!("ev-backlog-{secs}");
    for b in [&plain, &notified, &backlog] {
        c.create_bucket(b).await?;
    }
    c.request(
        Method::PUT,
        &format!("{notified}?notification"),
        config("bench"),
    )
    .await
    .context("configuring the notified bucket (is CUBBY_NOTIFY_NATS_BENCH set?)")?;
    c.request(
        Method::PUT,
        &format!("{backlog}?notification"),
        config("drain"),
    )
    .await
    .context("configuring the backlog bucket (is CUBBY_NOTIFY_NATS_DRAIN set?)")?;

    println!(
        "\n4 KiB PUT with and without a notification configuration (medians of {} runs; \
         cubby's CPU per PUT includes delivering its event to NATS; the broker's CPU per\n\
         event is the NATS server's, which competes for the same cores)",
        p.runs
    );
    println!(
        "{:<8} {:>12} {:>12} {:>9} {:>14} {:>14} {:>9} {:>14} {:>12} {:>12}",
        "c",
        "plain/s",
        "notified/s",
        "cost",
        "plain CPU/op",
        "notif. CPU/op",
        "cost",
        "broker CPU/ev",
        "paired cost",
        "paired CPU"
    );
    for &conc in &p.concurrency {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let (mut ca, mut cb) = (Vec::new(), Vec::new());
        let mut broker = Vec::new();
        // Server CPU by thread group, summed over the cells of each kind, and their PUTs.
        let mut threads: [(ThreadCpu, f64); 2] = Default::default();
        for run in 0..p.runs {
            // Alternate which bucket goes first.
            let notified_first = run % 2 == 1;
            for is_notified in [notified_first, !notified_first] {
                let (bucket, out, cpu) = if is_notified {
                    (&notified, &mut b, &mut cb)
                } else {
                    (&plain, &mut a, &mut ca)
                };
                let cpu0 = p.pid.and_then(cpu_ms);
                let threads0 = p.pid.map(workload::threads_cpu_ms);
                let broker0 = p.broker_pid.and_then(cpu_ms);
                let s = workload::small_cell(
                    c,
                    bucket,
                    Op::Put,
                    conc,
                    p.duration,
                    &p.small,
                    0,
                    &format!("c{conc}r{run}"),
                )
                .await?;
                if s.errors > 0 {
                    bail!("{bucket}: {} errors: {:?}", s.errors, s.first_error);
                }
                // Count the delivery of this cell's events in this cell.
                wait_drained(c).await?;
                let cpu_per_op =
                    |before: Option<f64>, pid: Option<u32>| match (before, pid.and_then(cpu_ms)) {
                        (Some(x), Some(y)) if s.ok > 0 => (y - x) * 1000.0 / s.ok as f64,
                        _ => f64::NAN,
                    };
                if is_notified {
                    broker.push(cpu_per_op(broker0, p.broker_pid));
                }
                if let (Some(t0), Some(pid)) = (threads0, p.pid) {
                    let sum = &mut threads[usize::from(is_notified)];
                    for (name, (u1, s1)) in workload::threads_cpu_ms(pid) {
                        let (u0, s0) = t0.get(&name).copied().unwrap_or_default();
                        let e = sum.0.entry(name).or_default();
                        e.0 += u1 - u0;
                        e.1 += s1 - s0;
                    }
                    sum.1 += s.ok as f64;
                }
                let per_op = cpu_per_op(cpu0, p.pid);
                eprintln!(
                    "  {bucket} c={conc} run {}: {:.0} ops/s, {per_op:.0} µs CPU/PUT",
                    run + 1,
                    s.ops_per_s
                );
                out.push(s.ops_per_s);
                cpu.push(per_op);
            }
        }
        // Each run's two cells follow one another: the median of per-run ratios is less
        // disturbed by the machine's slow swings than the ratio of the medians.
        let paired = |x: &[f64], y: &[f64], cost: fn(f64, f64) -> f64| -> Vec<f64> {
            x.iter().zip(y).map(|(x, y)| cost(*x, *y) * 100.0).collect()
        };
        let ops_costs = paired(&a, &b, |plain, notified| 1.0 - notified / plain);
        let cpu_costs = paired(&ca, &cb, |plain, notified| notified / plain - 1.0);
        let runs = ops_costs.len();
        let ops_interval = workload::median_interval(ops_costs.clone(), 0.95);
        let cpu_interval = workload::median_interval(cpu_costs.clone(), 0.95);
        let paired_ops = workload::median(ops_costs);
        let paired_cpu = workload::median(cpu_costs);
        let (pa, pb) = (workload::median(a), workload::median(b));
        let (qa, qb) = (workload::median(ca), workload::median(cb));
        println!(
            "{:<8} {:>12.0} {:>12.0} {:>8.1}% {:>11.0} µs {:>11.0} µs {:>8.1}% {:>11.0} µs {:>11.1}% {:>11.1}%",
            conc,
            pa,
            pb,
            (pa - pb) / pa * 100.0,
            qa,
            qb,
            (qb - qa) / qa * 100.0,
            workload::median(broker),
            paired_ops,
            paired_cpu
        );
        if let (Some(ops), Some(cpu)) = (ops_interval, cpu_interval) {
            // How far the paired medians can be trusted on this machine: a change smaller
            // than these intervals needs more runs to show.
            println!(
                "  paired medians' {:.0}% intervals (sign test over {} runs): cost {:.1}% to \
                 {:.1}%, CPU {:.1}% to {:.1}%",
                ops.2 * 100.0,
                runs,
                ops.0,
                ops.1,
                cpu.0,
                cpu.1
            );
        }
        print_threads(&threads);
    }

    // Backlog for the drain target (its NATS server is down, so nothing is delivered yet).
    let conc = 64;
    let per = p.backlog.div_ceil(conc);
    let mut set = tokio::task::JoinSet::new();
    let t = Instant::now();
    for w in 0..conc {
        let (c, bucket, small) = (c.clone(), backlog.clone(), p.small.clone());
        set.spawn(async move {
            for i in 0..per {
                c.put(&bucket, &format!("b/{w:02}/{i:06}"), &small).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let before = report(c).await?;
    let pending = before["pending"].as_i64().unwrap_or(0);
    println!(
        "\nbacklog: {} PUTs in {:.1} s; {pending} events pending",
        per * conc,
        t.elapsed().as_secs_f64()
    );
    let Some(ready) = p.drain_ready else {
        println!("(no --drain-ready file: dispatcher throughput not measured)");
        return Ok(());
    };
    println!("waiting for bench/run.sh to start the drain NATS server");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready.exists() {
        if Instant::now() > deadline {
            bail!("{} never appeared", ready.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The drain is bracketed by two polls: the last that saw nothing delivered yet (from
    // the moment it was sent) and the first that saw an empty outbox (to the moment it was
    // answered). Every backlog event falls inside, so the rate is a lower bound; a poll
    // scans the outbox, so with a short drain the bracket is mostly poll time.
    let d0 = before["delivered"].as_u64().unwrap_or(0);
    let mut idle_since = Instant::now();
    let mut polls = 0u32;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let sent = Instant::now();
        let r = report(c).await?;
        let delivered = r["delivered"].as_u64().unwrap_or(0);
        if delivered == d0 {
            idle_since = sent;
            polls = 0;
        }
        polls += 1;
        if r["pending"].as_i64().unwrap_or(1) == 0 {
            let n = delivered - d0;
            let secs = idle_since.elapsed().as_secs_f64();
            println!(
                "dispatcher: {n} events to NATS JetStream (acked) within {secs:.2} s ({polls} \
                 polls) = at least {:.0} events/s; dead-lettered {}",
                n as f64 / secs,
                r["deadLettered"]
            );
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("backlog not drained in 300 s: {r}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
