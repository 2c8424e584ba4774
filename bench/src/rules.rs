//! `--rules`: what upload rules cost. An IAM user (rules never apply to the root) PUTs into
//! a bucket without rules and into buckets with rules, cells alternating, `runs` times per
//! concurrency; medians are compared. Two rule sets:
//!
//! - **checks**: `max_size` and `content_types` (the body's first bytes are held back and
//!   sniffed before the first write) and `uploads_per_minute` — no metadata reads;
//! - **quota**: the same plus `max_objects`/`max_bytes`: an in-memory check and reservation
//!   per PUT, and a usage query (it counts the identity's rows; the bench's single user
//!   stores thousands) at most once a second.
//!
//! The order of the three cells rotates from run to run, so no bucket always goes first.
//!
//! Then one large single-stream PUT into the plain and the `checks` bucket.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::Method;

use crate::client::{Payload, S3Client};
use crate::workload::{self, Op};

/// What `--rules` needs.
pub struct Params {
    pub duration: Duration,
    pub concurrency: Vec<usize>,
    pub runs: usize,
    pub small: Payload,
    pub big: Payload,
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
        "{:<6} {:>10} {:>10} {:>7} {:>10} {:>7}",
        "c", "plain/s", "checks/s", "cost", "quota/s", "cost"
    );
    for &conc in &p.concurrency {
        let mut medians = Vec::new();
        let mut per: [Vec<f64>; 3] = Default::default();
        for run in 0..p.runs {
            let cells = [&plain, &checks, &quota];
            for n in 0..cells.len() {
                let i = (n + run) % cells.len();
                let bucket = cells[i];
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
                if let Some(v) = per.get_mut(i) {
                    v.push(s.ops_per_s);
                }
            }
        }
        for v in per {
            medians.push(workload::median(v));
        }
        let (a, b, c) = (medians[0], medians[1], medians[2]);
        println!(
            "{:<6} {:>10.0} {:>10.0} {:>6.1}% {:>10.0} {:>6.1}%",
            conc,
            a,
            b,
            (a - b) / a * 100.0,
            c,
            (a - c) / a * 100.0
        );
    }

    let mib = p.big.body.len() as f64 / (1 << 20) as f64;
    println!(
        "\nsingle-stream PUT of {mib:.0} MiB (MB/s, median of {} runs)",
        p.runs
    );
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
            let mbs = workload::big_put(&user, bucket, &format!("big{run}"), &p.big).await?;
            eprintln!("  {bucket} big run {}: {mbs:.0} MB/s", run + 1);
            out.push(mbs);
        }
    }
    let (a, b) = (workload::median(a), workload::median(b));
    println!(
        "plain {a:.0} MB/s, with rules {b:.0} MB/s, cost {:.1}%",
        (a - b) / a * 100.0
    );
    Ok(())
}
