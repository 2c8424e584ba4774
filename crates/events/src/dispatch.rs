//! The dispatcher: one task per declared target claims that target's due outbox rows (oldest
//! first), delivers them through the target's client, deletes what was acknowledged and
//! schedules a retry (exponential backoff with jitter) for the event that failed. After
//! `max_attempts` failures an event is dead-lettered: kept in the outbox with `dead = 1`,
//! counted in [`stats`], listed for root at `/_cubby/admin/events`.
//!
//! Delivery is at-least-once: an event acknowledged by the broker but not yet deleted when
//! the process dies is delivered again after restart, byte-identical (same `sequencer`).

use crate::sinks::Sink;
use crate::targets::TargetSpec;
use cubby_meta::Meta;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Dispatcher settings.
#[derive(Clone, Debug)]
pub struct DispatchConfig {
    /// Failed attempts after which an event is dead-lettered.
    pub max_attempts: u32,
    /// Delay before the first retry; doubles per attempt.
    pub retry_base: Duration,
    /// Longest delay between attempts.
    pub retry_max: Duration,
    /// Events claimed (and delivered) per round trip.
    pub batch: i64,
    /// How long a claim is held before another dispatcher may take the event.
    pub lease: Duration,
    /// Longest sleep without looking at the outbox (other nodes' events, missed signals).
    pub poll: Duration,
    /// Pause after a batch smaller than `batch`, so that under load events are delivered
    /// (and their rows deleted) in larger batches: fewer metadata transactions competing
    /// with object commits, at the price of this much latency.
    pub linger: Duration,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            max_attempts: 15,
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(300),
            batch: 256,
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            linger: Duration::from_millis(25),
        }
    }
}

impl DispatchConfig {
    /// Defaults, overridden by `CUBBY_NOTIFY_MAX_ATTEMPTS`, `CUBBY_NOTIFY_RETRY_BASE_MS`,
    /// `CUBBY_NOTIFY_RETRY_MAX_MS`, `CUBBY_NOTIFY_LINGER_MS` and `CUBBY_NOTIFY_LEASE_MS` when
    /// set.
    pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut c = DispatchConfig::default();
        for (k, v) in vars {
            let Ok(n) = v.trim().parse::<u64>() else {
                continue;
            };
            match k.as_str() {
                "CUBBY_NOTIFY_MAX_ATTEMPTS" => c.max_attempts = n.clamp(1, 1000) as u32,
                "CUBBY_NOTIFY_RETRY_BASE_MS" => c.retry_base = Duration::from_millis(n.max(1)),
                "CUBBY_NOTIFY_RETRY_MAX_MS" => c.retry_max = Duration::from_millis(n.max(1)),
                "CUBBY_NOTIFY_LINGER_MS" => c.linger = Duration::from_millis(n.min(10_000)),
                // How soon another node takes over a dead node's claimed events.
                "CUBBY_NOTIFY_LEASE_MS" => {
                    c.lease = Duration::from_millis(n.clamp(1_000, 3_600_000))
                }
                _ => {}
            }
        }
        c
    }

    /// Delay before attempt `attempts + 1`: `base · 2^(attempts-1)`, capped, with jitter
    /// (uniform in [½·d, d]) so that many failing events do not retry in lock-step.
    pub fn backoff(&self, attempts: u32, jitter: f64) -> Duration {
        let exp = attempts.saturating_sub(1).min(30);
        let d = self
            .retry_base
            .saturating_mul(1u32 << exp)
            .min(self.retry_max);
        d.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// Counters since start (for metrics).
#[derive(Debug, Default)]
pub struct Stats {
    /// Events acknowledged by their target.
    pub delivered: AtomicU64,
    /// Failed delivery attempts.
    pub failed_attempts: AtomicU64,
    /// Events moved to the dead-letter state.
    pub dead_lettered: AtomicU64,
}

static STATS: Stats = Stats {
    delivered: AtomicU64::new(0),
    failed_attempts: AtomicU64::new(0),
    dead_lettered: AtomicU64::new(0),
};

/// This process's delivery counters.
pub fn stats() -> &'static Stats {
    &STATS
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Start one delivery task per target. The tasks run until the runtime shuts down.
pub async fn spawn(meta: Meta, targets: Vec<TargetSpec>, cfg: DispatchConfig) {
    // On SQLite this process is the only dispatcher: claims left by a killed process are
    // void at once rather than after their lease.
    if let Err(e) = meta.reset_event_claims().await {
        tracing::warn!(error = %e, "could not reset outbox claims");
    }
    for spec in targets {
        tracing::info!(target_id = %spec.id, kind = ?spec.kind, "event target");
        tokio::spawn(run_target(meta.clone(), spec, cfg.clone()));
    }
}

async fn run_target(meta: Meta, spec: TargetSpec, cfg: DispatchConfig) {
    let mut sink = Sink::new(&spec);
    let mut signal = meta.outbox_watch(&spec.id);
    let lease = cfg.lease.as_millis() as i64;
    // Caught up, taking new events as they commit instead of claiming them from the table
    // (SQLite; see `Meta::arm_fresh_events`).
    let mut fresh = false;
    loop {
        // Mark the signal seen before looking, so a commit after the query wakes us.
        signal.borrow_and_update();
        let now = now_ms();
        let taken = if fresh {
            meta.take_fresh_events(&spec.id, cfg.batch)
        } else {
            None
        };
        let batch = match taken {
            Some(b) => b,
            None if fresh => {
                // Disarmed (rows committed another way, or too many waiting): the table.
                fresh = false;
                continue;
            }
            None => match meta.claim_events(&spec.id, now, lease, cfg.batch).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(target_id = %spec.id, error = %e, "outbox claim failed");
                    tokio::time::sleep(cfg.poll).await;
                    continue;
                }
            },
        };
        if batch.is_empty() {
            let due = if fresh {
                Ok(None)
            } else {
                meta.next_event_due(&spec.id).await
            };
            if !fresh && matches!(due, Ok(None)) {
                // Nothing waits for a retry and nothing was due: try the hand-off.
                match meta.arm_fresh_events(&spec.id).await {
                    Ok(true) => {
                        fresh = true;
                        continue;
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(target_id = %spec.id, error = %e, "outbox check failed");
                    }
                }
            }
            let wait = match due {
                Ok(Some(due)) if due > now => Duration::from_millis((due - now) as u64),
                _ => cfg.poll,
            }
            .min(cfg.poll);
            tokio::select! {
                r = signal.changed() => {
                    if r.is_err() {
                        tokio::time::sleep(wait).await;
                    }
                }
                () = tokio::time::sleep(wait) => {}
            }
            continue;
        }
        let full = batch.len() as i64 >= cfg.batch;
        let bodies = delivery_bodies(&batch);
        let outcome = sink.deliver(&bodies).await;
        let delivered = outcome.delivered.min(batch.len());
        // The broker has the events; if this delete is lost they are delivered again (same
        // bytes), which at-least-once allows.
        if let Err(e) = meta.ack_events(&spec.id, &batch[..delivered]).await {
            tracing::warn!(target_id = %spec.id, error = %e, "outbox ack failed");
        }
        STATS
            .delivered
            .fetch_add(delivered as u64, Ordering::Relaxed);
        if let Some(err) = outcome.error
            && let Some(failed) = batch.get(delivered)
        {
            if fresh {
                // Retries are scheduled in the table; the rows still to deliver are there.
                meta.disarm_fresh_events(&spec.id);
                fresh = false;
            }
            STATS.failed_attempts.fetch_add(1, Ordering::Relaxed);
            let attempts = u32::try_from(failed.attempts + 1).unwrap_or(u32::MAX);
            let dead = attempts >= cfg.max_attempts;
            let due = now_ms() + cfg.backoff(attempts, rand::random::<f64>()).as_millis() as i64;
            if dead {
                STATS.dead_lettered.fetch_add(1, Ordering::Relaxed);
                tracing::error!(target_id = %spec.id, event = failed.id, attempts, error = %err,
                    "event dead-lettered");
            } else {
                tracing::warn!(target_id = %spec.id, event = failed.id, attempts, error = %err,
                    "event delivery failed; will retry");
            }
            if let Err(e) = meta.fail_event(failed, due, &err, dead).await {
                tracing::warn!(target_id = %spec.id, error = %e, "outbox update failed");
            }
            // The rows after the failed event's (that row is in `fail_event`'s hands).
            let mut rest: Vec<i64> = batch[delivered + 1..]
                .iter()
                .map(|e| e.id)
                .filter(|id| *id != failed.id)
                .collect();
            rest.dedup();
            if let Err(e) = meta.release_events(&rest).await {
                tracing::warn!(target_id = %spec.id, error = %e, "outbox release failed");
            }
        } else if !full {
            tokio::time::sleep(cfg.linger).await;
        }
    }
}

/// The bodies to deliver for `batch`, expanded here, not at upload time (the outbox keeps the
/// compact stored form). All in one buffer, which the bodies share as slices: one allocation
/// per batch, where a `String` per body made two (the string, and the shared handle that the
/// NATS client's clone of it allocated).
fn delivery_bodies(batch: &[cubby_meta::ClaimedEvent]) -> Vec<bytes::Bytes> {
    // A body is about three times its stored form (`model::stored_form`).
    let mut all = String::with_capacity(batch.iter().map(|e| 600 + 3 * e.payload.len()).sum());
    let mut ends = Vec::with_capacity(batch.len());
    for e in batch {
        crate::model::push_delivery_body(&mut all, &e.payload);
        ends.push(all.len());
    }
    crate::sinks::shared_pieces(all, ends).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_expanded_into_bodies_that_share_one_buffer() {
        let event = crate::model::ObjectEvent {
            name: "ObjectCreated:Put",
            region: "us-east-1",
            time_ms: 0,
            principal_id: "AWS:u",
            cognito_identity_id: None,
            source_ip: "127.0.0.1",
            request_id: "R1",
            host_id: "R1",
            configuration_id: "c",
            bucket: "b",
            bucket_owner: "o",
            key: "k 1",
            size: Some(1),
            etag: Some("e"),
            version_id: None,
            sequencer: "01",
        };
        let claimed = |payload: String| cubby_meta::ClaimedEvent {
            id: 1,
            offset: 0,
            row_events: 1,
            payload,
            attempts: 0,
        };
        let batch = [
            claimed(crate::model::stored_form(&event)),
            claimed(crate::model::test_event_json("b", 0, "R", "H")),
            claimed(crate::model::stored_form(&crate::model::ObjectEvent {
                key: "k/2",
                ..event.clone()
            })),
        ];
        let bodies = delivery_bodies(&batch);
        assert_eq!(bodies.len(), batch.len());
        for (body, e) in bodies.iter().zip(&batch) {
            assert_eq!(
                std::str::from_utf8(body).ok(),
                Some(crate::model::delivery_body(&e.payload).as_ref())
            );
        }
        assert!(bodies[2].ends_with(b"}}}]}") && bodies[2].windows(5).any(|w| w == b"k%2F2"));
        assert!(delivery_bodies(&[]).is_empty());
    }

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        let c = DispatchConfig {
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_millis(1000),
            ..DispatchConfig::default()
        };
        assert_eq!(c.backoff(1, 1.0), Duration::from_millis(100));
        assert_eq!(c.backoff(3, 1.0), Duration::from_millis(400));
        assert_eq!(c.backoff(20, 1.0), Duration::from_millis(1000));
        assert_eq!(c.backoff(3, 0.0), Duration::from_millis(200));
    }
}
