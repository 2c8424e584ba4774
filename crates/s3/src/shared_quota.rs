//! Quota holds shared by the nodes of a cluster (PostgreSQL metadata).
//!
//! With several nodes, a reservation that only one process knows about lets the cluster
//! overshoot a quota by every other node's uploads in flight. So on PostgreSQL each upload
//! takes its hold in the database (`cubby_meta::HoldRequest`): the check and the hold are
//! one atomic call under a cluster-wide lock on the account, the hold is released once the
//! upload's row has committed (or it failed), and a node renews the leases of its holds
//! while their uploads run — a node that dies loses them within one lease.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use cubby_meta::{HoldOutcome, HoldRequest, Meta};

/// This node's side of the shared holds.
pub(crate) struct SharedHolds {
    meta: Meta,
    /// Names this process in the holds it takes (random per start).
    node: String,
    lease: Duration,
    /// Live holds of this process: id → (objects, bytes).
    live: Arc<Mutex<HashMap<i64, (u64, u64)>>>,
    renewer: std::sync::Once,
}

/// One account's check: the upload's (objects, bytes) against the rule's limits.
pub(crate) struct Check<'a> {
    pub account: &'a str,
    pub bucket: &'a str,
    pub owner: &'a str,
    pub prefix: &'a str,
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
            renewer: std::sync::Once::new(),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<i64, (u64, u64)>> {
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Check one account and, if `c.take`, hold the upload in it. `Ok(Err(used))`: refused,
    /// with what the account uses now.
    pub(crate) async fn hold(
        &self,
        c: &Check<'_>,
    ) -> Result<Result<Option<i64>, (u64, u64)>, cubby_meta::MetaError> {
        self.start_renewing();
        let out = self
            .meta
            .hold_quota(&HoldRequest {
                account: c.account,
                bucket: c.bucket,
                owner: c.owner,
                prefix: c.prefix,
                objects: signed(c.want.0),
                bytes: signed(c.want.1),
                max_objects: c.max_objects.map(signed),
                max_bytes: c.max_bytes.map(signed),
                node: &self.node,
                lease_ms: i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX),
                take: c.take,
            })
            .await?;
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

    /// Start the task that renews this process's leases (once; it ends with `self`).
    fn start_renewing(&self) {
        self.renewer.call_once(|| {
            let (meta, live, lease) = (self.meta.clone(), Arc::downgrade(&self.live), self.lease);
            tokio::spawn(renew(meta, live, lease));
        });
    }
}

/// Every third of a lease, extend the leases of the live holds.
async fn renew(meta: Meta, live: Weak<Mutex<HashMap<i64, (u64, u64)>>>, lease: Duration) {
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    loop {
        tokio::time::sleep(lease / 3).await;
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
