//! The workloads: one large object streamed once per run, and fixed-duration
//! cells of small requests at a given concurrency. Also the RSS sampler that
//! watches the server process while a workload runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::sync::{Barrier, oneshot};
use tokio::task::JoinSet;

use crate::client::{Payload, S3Client};

/// No single small request may take longer than this.
const SMALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Nor a large transfer (256 MiB at a crawling 3 MB/s).
const BIG_TIMEOUT: Duration = Duration::from_secs(90);
/// How often the RSS sampler reads `/proc/<pid>/status`.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// `VmRSS`, `VmHWM` and `RssAnon` of a process, in KiB. `RssAnon` is the heap and stacks;
/// the rest of `VmRSS` is mostly the binary's own mapped code (file-backed, shared with
/// the page cache).
pub struct Rss {
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub anon_kib: u64,
}

pub fn read_rss(pid: u32) -> Result<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .with_context(|| format!("{name} missing in /proc/{pid}/status"))?;
        let kib = line.trim().trim_end_matches("kB").trim();
        Ok(kib.parse()?)
    };
    Ok(Rss {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
        anon_kib: field("RssAnon:")?,
    })
}

/// Samples a process's `VmRSS` in the background and keeps the maximum.
pub struct Sampler {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<u64>,
}

impl Sampler {
    /// `None` when there is no pid to watch.
    pub fn start(pid: Option<u32>) -> Option<Self> {
        let pid = pid?;
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut max = 0;
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => {
                        if let Ok(r) = read_rss(pid) {
                            max = max.max(r.rss_kib);
                        }
                    }
                }
            }
            max
        });
        Some(Self { stop, task })
    }

    /// Stop sampling; the largest `VmRSS` seen, in KiB.
    pub async fn stop(self) -> u64 {
        let _ = self.stop.send(());
        self.task.await.unwrap_or(0)
    }
}

/// PUT `payload` once; MB/s (10^6 bytes per second).
pub async fn big_put(c: &S3Client, bucket: &str, key: &str, payload: &Payload) -> Result<f64> {
    let start = Instant::now();
    tokio::time::timeout(BIG_TIMEOUT, c.put(bucket, key, payload))
        .await
        .context("large PUT timed out")??;
    Ok(mb_per_s(payload.body.len() as u64, start.elapsed()))
}

/// GET an object of `len` bytes once; MB/s.
pub async fn big_get(c: &S3Client, bucket: &str, key: &str, len: u64) -> Result<f64> {
    let start = Instant::now();
    let n = tokio::time::timeout(BIG_TIMEOUT, c.get(bucket, key))
        .await
        .context("large GET timed out")??;
    let elapsed = start.elapsed();
    if n != len {
        bail!("large GET returned {n} bytes, expected {len}");
    }
    Ok(mb_per_s(n, elapsed))
}

fn mb_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / d.as_secs_f64() / 1e6
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Put,
    Get,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "PUT",
            Op::Get => "GET",
        }
    }
}

/// The result of one cell: successful requests and their latencies.
#[derive(Default)]
pub struct CellStats {
    pub ops_per_s: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Every successful request: when it started and how long it took.
    pub timeline: Vec<(Instant, Duration)>,
    /// How long the cell ran.
    pub elapsed: Duration,
}

impl CellStats {
    /// Cells of one kind run at different moments, as one: their requests pooled for the
    /// percentiles, their rate over their summed running time.
    pub fn pooled(parts: Vec<CellStats>) -> CellStats {
        let (mut timeline, mut elapsed, mut errors, mut first_error) =
            (Vec::new(), Duration::ZERO, 0, None);
        for p in parts {
            timeline.extend(p.timeline);
            elapsed += p.elapsed;
            errors += p.errors;
            first_error = first_error.or(p.first_error);
        }
        CellStats::from_requests(timeline, elapsed, errors, first_error)
    }

    /// A cell's figures from its successful requests (when each started, how long it
    /// took), how long it ran and its failures.
    fn from_requests(
        timeline: Vec<(Instant, Duration)>,
        elapsed: Duration,
        errors: u64,
        first_error: Option<String>,
    ) -> CellStats {
        let mut sorted: Vec<Duration> = timeline.iter().map(|(_, d)| *d).collect();
        sorted.sort_unstable();
        let ok = sorted.len() as u64;
        CellStats {
            ops_per_s: if elapsed.is_zero() {
                0.0
            } else {
                ok as f64 / elapsed.as_secs_f64()
            },
            p50: percentile(&sorted, 0.50),
            p99: percentile(&sorted, 0.99),
            ok,
            errors,
            first_error,
            timeline,
            elapsed,
        }
    }
}

/// Key `i` of the fixed set that GET cells read.
fn get_key(i: usize) -> String {
    format!("small-get/{i:05}")
}

/// Write the `n` small objects the GET cells read (untimed, 16 at a time).
pub async fn prepare_get_keys(
    c: &S3Client,
    bucket: &str,
    payload: &Payload,
    n: usize,
) -> Result<()> {
    let mut set = JoinSet::new();
    for w in 0..16 {
        let (c, bucket, payload) = (c.clone(), bucket.to_owned(), payload.clone());
        set.spawn(async move {
            for i in (w..n).step_by(16) {
                tokio::time::timeout(SMALL_TIMEOUT, c.put(&bucket, &get_key(i), &payload))
                    .await
                    .context("PUT timed out")??;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(())
}

/// One cell: `conc` workers each send one untimed warm-up request (so the
/// pool holds `conc` open connections), then issue `op` back to back for
/// `duration`. PUTs write fresh keys under `tag`; GETs cycle through the
/// `get_keys` objects [`prepare_get_keys`] wrote.
#[allow(clippy::too_many_arguments)] // a cell is described by all of these
pub async fn small_cell(
    c: &S3Client,
    bucket: &str,
    op: Op,
    conc: usize,
    duration: Duration,
    payload: &Payload,
    get_keys: usize,
    tag: &str,
) -> Result<CellStats> {
    let barrier = Arc::new(Barrier::new(conc + 1));
    let mut set = JoinSet::new();
    for w in 0..conc {
        let (c, bucket, payload, tag) = (
            c.clone(),
            bucket.to_owned(),
            payload.clone(),
            tag.to_owned(),
        );
        let barrier = barrier.clone();
        set.spawn(async move {
            let key = |i: usize| match op {
                Op::Put => format!("small-put/{tag}/{w:02}/{i:07}"),
                Op::Get => get_key((w * 7919 + i) % get_keys),
            };
            let one = |i: usize| {
                let (c, bucket, payload, key) = (&c, &bucket, &payload, key(i));
                async move {
                    let fut = async {
                        match op {
                            Op::Put => c.put(bucket, &key, payload).await,
                            Op::Get => c.get(bucket, &key).await.map(drop),
                        }
                    };
                    tokio::time::timeout(SMALL_TIMEOUT, fut)
                        .await
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("request timed out")))
                }
            };
            let warm = one(usize::MAX / 2).await;
            barrier.wait().await;
            warm.context("warm-up request")?;
            let deadline = Instant::now() + duration;
            let (mut lat, mut errors, mut first_error) = (Vec::new(), 0u64, None);
            let mut i = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                match one(i).await {
                    Ok(()) => lat.push((t, t.elapsed())),
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
    let start = Instant::now();
    let (mut lat, mut errors, mut first_error) = (Vec::new(), 0, None);
    while let Some(r) = set.join_next().await {
        let (l, e, f) = r??;
        lat.extend(l);
        errors += e;
        first_error = first_error.or(f);
    }
    Ok(CellStats::from_requests(
        lat,
        start.elapsed(),
        errors,
        first_error,
    ))
}

/// Nearest-rank percentile of sorted samples (zero when there are none).
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// CPU time (user + system) the process has used, in milliseconds.
pub fn cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15 (clock ticks).
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks * 10.0) // USER_HZ is 100 on Linux
}

/// CPU time of each of `pid`'s threads, summed by thread name (trailing digits and `-`
/// dropped, so numbered pool threads count as one group): (user ms, system ms).
pub fn threads_cpu_ms(pid: u32) -> std::collections::BTreeMap<String, (f64, f64)> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let (Some((head, rest)), Some(open)) = (stat.rsplit_once(')'), stat.find('(')) else {
            continue;
        };
        let name = head[open + 1..]
            .trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '#')
            .to_owned();
        let f: Vec<&str> = rest.split_whitespace().collect();
        let (Some(Ok(user)), Some(Ok(sys))) = (
            f.get(11).map(|v| v.parse::<f64>()),
            f.get(12).map(|v| v.parse::<f64>()),
        ) else {
            continue;
        };
        let e = out.entry(name).or_insert((0.0, 0.0));
        e.0 += user * 10.0;
        e.1 += sys * 10.0;
    }
    out
}

/// Median of a few runs (the middle one, or the mean of the two middle ones).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// A distribution-free confidence interval for the median of `v` (the sign test's): the
/// `k`-th smallest and the `k`-th largest value, `k` as large as leaves the median outside
/// with probability at most `1 - level`. Returns the bounds and the interval's exact
/// coverage, or `None` when there are too few values for that level, or too many (over
/// ~1,000, where 2^-n is no longer an `f64`).
pub fn median_interval(mut v: Vec<f64>, level: f64) -> Option<(f64, f64, f64)> {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let tail = (1.0 - level) / 2.0;
    // P(X = i) for X ~ Binomial(n, 1/2), summed from i = 0 while the sum stays in the tail.
    let mut term = 0.5f64.powi(i32::try_from(n).ok()?);
    if term == 0.0 {
        return None;
    }
    let mut below = 0.0;
    let mut k = 0;
    while k < n / 2 && below + term <= tail {
        below += term;
        term *= (n - k) as f64 / (k + 1) as f64;
        k += 1;
    }
    // The k-th smallest and the k-th largest (counting from 1).
    (k > 0).then(|| (v[k - 1], v[n - k], 1.0 - 2.0 * below))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_interval_follows_the_sign_test() {
        let v: Vec<f64> = (1..=20).rev().map(f64::from).collect();
        // P(Binomial(20, 1/2) <= 5) = 0.0207: five values may lie below, so the 6th and
        // the 15th of 20 bound the median at 95.9% coverage.
        let (lo, hi, coverage) = median_interval(v, 0.95).expect("20 values suffice");
        assert_eq!((lo, hi), (6.0, 15.0));
        assert!((coverage - 0.9586).abs() < 1e-3, "{coverage}");
        // Five values cannot bound the median at 95% (P(all on one side) = 1/16).
        assert!(median_interval(vec![1.0, 2.0, 3.0, 4.0, 5.0], 0.95).is_none());
        // Beyond what the binomial terms can be computed for: no interval rather than a
        // wrong one.
        assert!(median_interval(vec![0.0; 2000], 0.95).is_none());
    }

    #[test]
    fn percentiles_and_median() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&v[..1], 0.99), Duration::from_millis(1));
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn pooled_cells_share_percentiles_and_rate() {
        let t0 = Instant::now();
        let cell = |ms: std::ops::RangeInclusive<u64>, secs: u64, errors: u64| CellStats {
            ok: ms.clone().count() as u64,
            errors,
            first_error: (errors > 0).then(|| format!("{errors} failed")),
            timeline: ms.map(|m| (t0, Duration::from_millis(m))).collect(),
            elapsed: Duration::from_secs(secs),
            ..CellStats::default()
        };
        // 1..=50 ms in 1 s, 51..=100 ms in 4 s: 100 requests in 5 s.
        let p = CellStats::pooled(vec![cell(1..=50, 1, 0), cell(51..=100, 4, 2)]);
        assert_eq!((p.ok, p.errors), (100, 2));
        assert_eq!(p.first_error.as_deref(), Some("2 failed"));
        assert_eq!(p.elapsed, Duration::from_secs(5));
        assert_eq!(p.ops_per_s, 20.0);
        assert_eq!(p.p50, Duration::from_millis(50));
        assert_eq!(p.p99, Duration::from_millis(99));
    }
}
