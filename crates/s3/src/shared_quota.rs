//! Quota holds shared by the nodes of a cluster (PostgreSQL metadata).
//!
//! With several nodes, a reservation that only one process knows about lets the cluster
//! overshoot a quota by every other node's uploads in flight. So on PostgreSQL each upload
//! takes its hold in the database (`cubby_meta::HoldRequest`): the check and the hold are
//! one atomic call under a cluster-wide lock on the account, against a reading of the
//! owner's rows that this node keeps for about a second (read again in the background, or
//! at once after this node deleted or replaced something in the bucket) plus the holds that
//! reading may miss. The hold is released once the upload's row has committed (or it
//! failed), and a node renews the leases of its holds while their uploads run — a node that
//! dies loses them within one lease.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use cubby_meta::{HoldOutcome, HoldRequest, Meta, MetaError, Usage};

/// A reading older than this is renewed in the background …
const READING_TTL: Duration = Duration::from_secs(1);
/// … and one older than this is not used at all (the database keeps ended holds for 30 s:
/// a reading may only rely on holds that are still there).
const READING_MAX_AGE: Duration = Duration::from_secs(10);

/// A refusal based on a reading at least this old is checked again on a new reading.
const RECHECK_AFTER: Duration = Duration::from_millis(250);

/// This node's side of the shared holds.
pub(crate) struct SharedHolds {
    meta: Meta,
    /// Names this process in the holds it takes (random per start).
    node: String,
    lease: Duration,
    /// Live holds of this process: id → (objects, bytes).
    live: Arc<Mutex<HashMap<i64, (u64, u64)>>>,
    /// The last reading of each account's rows.
    readings: Mutex<HashMap<String, Reading>>,
    renewer: std::sync::Once,
}

/// An account's rows as read at `at_ms` (database time).
#[derive(Clone, Copy)]
struct Reading {
    usage: Usage,
    at_ms: i64,
    taken: Instant,
    /// The bucket's change count on this node when the reading began.
    epoch: u64,
    /// A renewal is under way.
    renewing: bool,
}

/// One account's check: the upload's (objects, bytes) against the rule's limits.
pub(crate) struct Check<'a> {
    pub account: &'a str,
    pub bucket: &'a str,
    pub owner: &'a str,
    pub prefix: &'a str,
    /// This node's change count of the bucket (see `rules::Quotas::bucket_changed`).
    pub epoch: u64,
    pub want: (u64, u64),
    pub max_objects: Option<u64>,
    pub max_bytes: Option<u64>,
    /// `false`: look only, hold nothing.
    pub take: bool,
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl SharedHolds {
    pub(crate) fn new(meta: Meta, lease: Duration) -> Self {
        SharedHolds {
            meta,
            node: format!("{:016x}", rand::random::<u64>()),
            lease,
            live: Arc::default(),
            readings: Mutex::default(),
            renewer: std::sync::Once::new(),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<i64, (u64, u64)>> {
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn readings(&self) -> std::sync::MutexGuard<'_, HashMap<String, Reading>> {
        self.readings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The account's reading if it can be used, starting its renewal when it is old.
    fn current_reading(self: &Arc<Self>, c: &Check<'_>) -> Option<((Usage, i64), Duration)> {
        let now = Instant::now();
        let mut readings = self.readings();
        let r = readings.get_mut(c.account)?;
        let age = now.duration_since(r.taken);
        if r.epoch != c.epoch || age >= READING_MAX_AGE {
            return None;
        }
        if age >= READING_TTL && !r.renewing {
            r.renewing = true;
            let me = self.clone();
            let (account, bucket, owner, prefix, epoch) = (
                c.account.to_owned(),
                c.bucket.to_owned(),
                c.owner.to_owned(),
                c.prefix.to_owned(),
                c.epoch,
            );
            tokio::spawn(async move {
                if let Err(e) = me.read(&account, &bucket, &owner, &prefix, epoch).await {
                    tracing::warn!(bucket, error = %e, "quota usage reading failed");
                    if let Some(r) = me.readings().get_mut(&account) {
                        r.renewing = false;
                    }
                }
            });
        }
        Some(((r.usage, r.at_ms), age))
    }

    /// Read the account's rows and keep the reading.
    async fn read(
        &self,
        account: &str,
        bucket: &str,
        owner: &str,
        prefix: &str,
        epoch: u64,
    ) -> Result<(Usage, i64), MetaError> {
        let taken = Instant::now();
        let (usage, at_ms) = self.meta.usage_reading(bucket, owner, prefix).await?;
        let mut readings = self.readings();
        if readings.len() > 4096 {
            readings.retain(|_, r| taken.duration_since(r.taken) < READING_MAX_AGE);
        }
        let newer = readings.get(account).is_none_or(|r| r.at_ms <= at_ms);
        if newer {
            readings.insert(
                account.to_owned(),
                Reading {
                    usage,
                    at_ms,
                    taken,
                    epoch,
                    renewing: false,
                },
            );
        }
        Ok((usage, at_ms))
    }

    /// Check one account and, if `c.take`, hold the upload in it. `Ok(Err(used))`: refused,
    /// with what the account uses now.
    pub(crate) async fn hold(
        self: &Arc<Self>,
        c: &Check<'_>,
    ) -> Result<Result<Option<i64>, (u64, u64)>, MetaError> {
        self.start_renewing();
        let (reading, age) = match self.current_reading(c) {
            Some(cached) => cached,
            None => (
                self.read(c.account, c.bucket, c.owner, c.prefix, c.epoch)
                    .await?,
                Duration::ZERO,
            ),
        };
        let mut out = self.try_hold(c, reading).await?;
        // A refusal on a reading that is not quite new is checked again on a new one: the
        // old one may still count what was deleted since, or another node's uploads that
        // ended since (at most every `RECHECK_AFTER`, so refusals cannot flood the database
        // with readings).
        if matches!(out, HoldOutcome::Refused(_)) && age >= RECHECK_AFTER {
            let reading = self
                .read(c.account, c.bucket, c.owner, c.prefix, c.epoch)
                .await?;
            out = self.try_hold(c, reading).await?;
        }
        Ok(match out {
            HoldOutcome::Fits(id) => {
                if let Some(id) = id {
                    self.live().insert(id, c.want);
                }
                Ok(id)
            }
            HoldOutcome::Refused(used) => Err((
                u64::try_from(used.objects).unwrap_or(0),
                u64::try_from(used.bytes).unwrap_or(0),
            )),
        })
    }

    /// One check-and-hold call against `reading`.
    async fn try_hold(
        &self,
        c: &Check<'_>,
        (reading, reading_ms): (Usage, i64),
    ) -> Result<HoldOutcome, MetaError> {
        self.meta
            .hold_quota(&HoldRequest {
                account: c.account,
                reading,
                reading_ms,
                objects: signed(c.want.0),
                bytes: signed(c.want.1),
                max_objects: c.max_objects.map(signed),
                max_bytes: c.max_bytes.map(signed),
                node: &self.node,
                lease_ms: i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX),
                take: c.take,
            })
            .await
    }

    /// Release holds: in the database now, when their upload has committed (the caller
    /// awaits this before answering, so the next upload is not counted twice).
    pub(crate) async fn release(&self, ids: Vec<i64>) {
        self.forget(&ids);
        if let Err(e) = self.meta.release_quota_holds(&ids).await {
            // The hold lapses with its lease: the account is over-counted until then.
            tracing::warn!(error = %e, "releasing quota holds failed");
        }
    }

    /// Release holds from a context that cannot wait (a dropped upload).
    pub(crate) fn release_later(self: &Arc<Self>, ids: Vec<i64>) {
        self.forget(&ids);
        // Without a runtime (shutting down) the holds lapse with their lease.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let me = self.clone();
            rt.spawn(async move {
                if let Err(e) = me.meta.release_quota_holds(&ids).await {
                    tracing::warn!(error = %e, "releasing quota holds failed");
                }
            });
        }
    }

    fn forget(&self, ids: &[i64]) {
        let mut live = self.live();
        for id in ids {
            live.remove(id);
        }
    }

    /// What this process's uploads in flight hold: (objects, bytes).
    pub(crate) fn held(&self) -> (u64, u64) {
        self.live()
            .values()
            .fold((0, 0), |(o, b), (ho, hb)| (o + ho, b + hb))
    }

    /// Start the task that renews this process's leases and forgets old holds and rate rows
    /// (once; it ends with `self`).
    pub(crate) fn start_renewing(&self) {
        self.renewer.call_once(|| {
            let (meta, live, lease) = (self.meta.clone(), Arc::downgrade(&self.live), self.lease);
            tokio::spawn(renew(meta, live, lease));
        });
    }
}

/// Every third of a lease, extend the leases of the live holds; about once a minute, forget
/// holds that ended long ago and upload-rate rows older than their window.
async fn renew(meta: Meta, live: Weak<Mutex<HashMap<i64, (u64, u64)>>>, lease: Duration) {
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let mut last_forget = Instant::now();
    loop {
        tokio::time::sleep(lease / 3).await;
        if last_forget.elapsed() >= Duration::from_secs(60) {
            last_forget = Instant::now();
            if let Err(e) = meta.forget_old_quota_holds().await {
                tracing::warn!(error = %e, "forgetting old quota holds failed");
            }
            // Rate windows' rows of keys nobody checks any more (a check of a key forgets
            // its own old rows).
            if let Err(e) = meta.forget_old_rate_hits().await {
                tracing::warn!(error = %e, "forgetting old upload-rate rows failed");
            }
        }
        let Some(live) = live.upgrade() else { return };
        let ids: Vec<i64> = live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .copied()
            .collect();
        drop(live);
        for chunk in ids.chunks(1000) {
            match meta.renew_quota_holds(chunk, lease_ms).await {
                Ok(n) if n < chunk.len() as u64 => {
                    // Released meanwhile (fine), or lapsed before this renewal (the renewal
                    // came too late: another node may have counted without them).
                    tracing::debug!(renewed = n, asked = chunk.len(), "quota hold renewal");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "renewing quota holds failed"),
            }
        }
    }
}
