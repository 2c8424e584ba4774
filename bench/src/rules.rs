//! `--rules`: what upload rules cost. An IAM user (rules never apply to the root) PUTs into
//! a bucket without rules and into buckets with rules, cells alternating, `runs` times per
//! concurrency; medians are compared. Two rule sets:
//!
//! - **checks**: `max_size` and `content_types` (the body's first bytes are held back and
//!   sniffed before the first write) and `uploads_per_minute` — no metadata reads;
//! - **quota**: the same plus `max_objects`/`max_bytes`: an in-memory check and reservation
//!   per PUT, and a usage query (it counts the identity's rows; the bench's single user
//!   stores thousands) at most once a second. With `BENCH_METADATA_URL` (cubby on
//!   PostgreSQL) the check and reservation are cluster-wide holds in the database instead:
//!   two more round trips per PUT, every one of them on the same account.
//!
//! The order of the three cells rotates from run to run, so no bucket always goes first.
//! Besides the ratio of the medians, the median of the per-run ratios is printed ("paired"):
//! each run's three cells follow one another within seconds, so a run's ratio is less
//! disturbed by this machine's slow swings than the medians are. The server's CPU time per
//! PUT is compared the same way.
//!
//! Then one large single-stream PUT into the plain and the `checks` bucket.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::Method;

use crate::client::{Payload, S3Client};
use crate::workload::{self, Op, cpu_ms};

/// What `--rules` needs.
pub struct Params {
    pub duration: Duration,
    pub concurrency: Vec<usize>,
    pub runs: usize,
    pub small: Payload,
    pub big: Payload,
    /// The server process, for its CPU time per PUT.
    pub pid: Option<u32>,
}

/// `application/x-www-form-urlencoded` value encoding.
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn xml_field(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].to_owned())
}

/// An IAM user allowed every S3 action, and a client with its keys.
async fn iam_user(root: &S3Client, name: &str, region: &str) -> Result<S3Client> {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    let call = |params: Vec<(&str, String)>| {
        let q: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", form_encode(v)))
            .collect();
        format!("?{}&Version=2010-05-08", q.join("&"))
    };
    root.request_as(
        Method::POST,
        &call(vec![
            ("Action", "CreateUser".into()),
            ("UserName", name.into()),
        ]),
        Bytes::new(),
        "iam",
    )
    .await
    .context("CreateUser")?;
    root.request_as(
        Method::POST,
        &call(vec![
            ("Action", "PutUserPolicy".into()),
            ("UserName", name.into()),
            ("PolicyName", "all-s3".into()),
            ("PolicyDocument", policy.into()),
        ]),
        Bytes::new(),
        "iam",
    )
    .await
    .context("PutUserPolicy")?;
    let out = root
        .request_as(
            Method::POST,
            &call(vec![
                ("Action", "CreateAccessKey".into()),
                ("UserName", name.into()),
            ]),
            Bytes::new(),
            "iam",
        )
        .await
        .context("CreateAccessKey")?;
    let xml = String::from_utf8_lossy(&out);
    let (Some(ak), Some(sk)) = (
        xml_field(&xml, "AccessKeyId"),
        xml_field(&xml, "SecretAccessKey"),
    ) else {
        bail!("CreateAccessKey: no keys in {xml}");
    };
    S3Client::new(root.endpoint(), &ak, &sk, region)
}

pub async fn run(root: &S3Client, region: &str, p: Params) -> Result<()> {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let user = iam_user(root, &format!("bench-rules-{secs}"), region).await?;
    let plain = format!("rl-plain-{secs}");
    let checks = format!("rl-checks-{secs}");
    let quota = format!("rl-quota-{secs}");
    for b in [&plain, &checks, &quota] {
        root.create_bucket(b).await?;
    }
    // Random bodies are of no recognised type: allowing application/octet-stream lets them
    // through while still running the sniffing path.
    let base = serde_json::json!({
        "id": "bench", "max_size": "1 GiB", "content_types": ["application/octet-stream"],
        "uploads_per_minute": 100_000_000u64,
    });
    let mut with_quota = base.clone();
    with_quota["max_objects"] = serde_json::json!(1_000_000_000u64);
    with_quota["max_bytes"] = serde_json::json!(1u64 << 50);
    for (bucket, rule) in [(&checks, &base), (&quota, &with_quota)] {
        root.request(
            Method::PUT,
            &format!("_cubby/admin/upload-rules/{bucket}"),
            Bytes::from(serde_json::json!({ "rules": [rule] }).to_string()),
        )
        .await?;
    }

    println!(
        "\n4 KiB PUT by an IAM user, without and with upload rules (medians of {} runs)",
        p.runs
    );
    println!(
        "{:<6} {:>10} {:>10} {:>7} {:>10} {:>7} {:>16} {:>16}",
        "c", "plain/s", "checks/s", "cost", "quota/s", "cost", "paired cost", "paired CPU cost"
    );
    for &conc in &p.concurrency {
        let mut medians = Vec::new();
        let mut per: [Vec<f64>; 3] = Default::default();
        let mut cpu: [Vec<f64>; 3] = Default::default();
        for run in 0..p.runs {
            let cells = [&plain, &checks, &quota];
            for n in 0..cells.len() {
                let i = (n + run) % cells.len();
                let bucket = cells[i];
                let cpu0 = p.pid.and_then(cpu_ms);
                let s = workload::small_cell(
                    &user,
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
                eprintln!(
                    "  {bucket} c={conc} run {}: {:.0} ops/s",
                    run + 1,
                    s.ops_per_s
                );
                let per_op = match (cpu0, p.pid.and_then(cpu_ms)) {
                    (Some(x), Some(y)) if s.ok > 0 => (y - x) * 1000.0 / s.ok as f64,
                    _ => f64::NAN,
                };
                if let (Some(v), Some(c)) = (per.get_mut(i), cpu.get_mut(i)) {
                    v.push(s.ops_per_s);
                    c.push(per_op);
                }
            }
        }
        // Per run: 1 - rules/plain for throughput, rules/plain - 1 for CPU per PUT.
        let paired = |v: &[Vec<f64>; 3], cell: usize, cost: fn(f64) -> f64| {
            workload::median(
                v[0].iter()
                    .zip(&v[cell])
                    .map(|(plain, rules)| cost(rules / plain) * 100.0)
                    .collect(),
            )
        };
        let slower = |r: f64| 1.0 - r;
        let costlier = |r: f64| r - 1.0;
        let paired_ops = (paired(&per, 1, slower), paired(&per, 2, slower));
        let paired_cpu = (paired(&cpu, 1, costlier), paired(&cpu, 2, costlier));
        for v in per {
            medians.push(workload::median(v));
        }
        let (a, b, c) = (medians[0], medians[1], medians[2]);
        println!(
            "{:<6} {:>10.0} {:>10.0} {:>6.1}% {:>10.0} {:>6.1}% {:>7.1}%/{:>6.1}% {:>7.1}%/{:>6.1}%",
            conc,
            a,
            b,
            (a - b) / a * 100.0,
            c,
            (a - c) / a * 100.0,
            paired_ops.0,
            paired_ops.1,
            paired_cpu.0,
            paired_cpu.1
        );
    }

    let mib = p.big.body.len() as f64 / (1 << 20) as f64;
    println!(
        "\nsingle-stream PUT of {mib:.0} MiB (MB/s, median of {} runs)",
        p.runs
    );
    // Per bucket: MB/s and the server's CPU milliseconds per PUT, run by run.
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for run in 0..p.runs {
        // Alternate which bucket goes first.
        let first_plain = run % 2 == 0;
        for with_rules in [!first_plain, first_plain] {
            let (bucket, out) = if with_rules {
                (&checks, &mut b)
            } else {
                (&plain, &mut a)
            };
            let cpu0 = p.pid.and_then(cpu_ms);
            let mbs = workload::big_put(&user, bucket, &format!("big{run}"), &p.big).await?;
            let cpu = match (cpu0, p.pid.and_then(cpu_ms)) {
                (Some(x), Some(y)) => y - x,
                _ => f64::NAN,
            };
            eprintln!(
                "  {bucket} big run {}: {mbs:.0} MB/s, server CPU {cpu:.0} ms",
                run + 1
            );
            out.push((mbs, cpu));
        }
    }
    let paired = |f: fn(&(f64, f64), &(f64, f64)) -> f64| {
        workload::median(a.iter().zip(&b).map(|(x, y)| f(x, y) * 100.0).collect())
    };
    let paired_mbs = paired(|plain, rules| 1.0 - rules.0 / plain.0);
    let paired_cpu = paired(|plain, rules| rules.1 / plain.1 - 1.0);
    let median_of =
        |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| workload::median(v.iter().map(f).collect());
    let (mbs_a, mbs_b) = (median_of(&a, |r| r.0), median_of(&b, |r| r.0));
    let (cpu_a, cpu_b) = (median_of(&a, |r| r.1), median_of(&b, |r| r.1));
    println!(
        "plain {mbs_a:.0} MB/s, with rules {mbs_b:.0} MB/s, cost {:.1}% (paired {paired_mbs:.1}%)",
        (mbs_a - mbs_b) / mbs_a * 100.0
    );
    println!(
        "server CPU per PUT: plain {cpu_a:.0} ms, with rules {cpu_b:.0} ms \
         (paired {paired_cpu:+.1}%; /proc ticks are 10 ms)"
    );
    Ok(())
}
