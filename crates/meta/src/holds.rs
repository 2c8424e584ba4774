//! Upload-quota holds shared by every node of a cluster (PostgreSQL only).
//!
//! An upload holds what it may add to a quota account (objects, bytes) from admission until
//! the row that makes it count has committed; then its hold is *released* (kept, marked with
//! the time). A check compares the limits with a *reading* of the owner's rows
//! ([`Meta::usage_reading`], taken at most about once a second per node, outside any lock)
//! plus every hold the reading may have missed: those still live and those that ended at or
//! after the reading began (their rows may have committed after it). Checking and taking the
//! hold is one call of `cubby_quota_hold` (migration 7) under a cluster-wide lock on the
//! account: one round trip, O(holds of the last moments), exact across nodes — an upload is
//! never missed; it is counted twice when a reading falls between its row's commit and its
//! hold's release (conservative, until the next reading). Deletes show at the next reading. Holds carry a lease their node renews
//! while the upload runs, so a node that dies loses its holds within one lease. The
//! database's clock decides, so nodes' clocks do not matter.

use sqlx::Row;

use crate::usage::key_range;
use crate::{Engine, Meta, MetaError, Usage};

/// One quota check (and hold) for an upload.
#[derive(Clone, Copy, Debug)]
pub struct HoldRequest<'a> {
    /// The account the hold is taken in (one per bucket, rule and owner).
    pub account: &'a str,
    /// The owner's rows as last read ([`Meta::usage_reading`]).
    pub reading: Usage,
    /// When that reading began (database time, from the reading).
    pub reading_ms: i64,
    /// Objects the upload adds.
    pub objects: i64,
    /// Bytes the upload may add.
    pub bytes: i64,
    /// Object limit of the account, if any.
    pub max_objects: Option<i64>,
    /// Byte limit of the account, if any.
    pub max_bytes: Option<i64>,
    /// The node taking the hold (it renews the lease).
    pub node: &'a str,
    /// How long the hold lives without renewal.
    pub lease_ms: i64,
    /// `false`: only check, hold nothing.
    pub take: bool,
}

/// What a hold request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldOutcome {
    /// The upload fits; its hold has this id (`None` when only checking).
    Fits(Option<i64>),
    /// It does not fit: what the account uses now (stored rows and others' holds).
    Refused(Usage),
}

impl Meta {
    /// Check `req` against its account's limits and, if it fits and `req.take`, hold it.
    /// PostgreSQL only: on SQLite one process keeps its reservations in memory.
    pub async fn hold_quota(&self, req: &HoldRequest<'_>) -> Result<HoldOutcome, MetaError> {
        if self.engine() != Engine::Postgres {
            return Err(MetaError::Unsupported("shared quota holds need PostgreSQL"));
        }
        let r = sqlx::query(
            "SELECT hold_id, used_objects, used_bytes \
             FROM cubby_quota_hold($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(req.account)
        .bind(req.reading.objects)
        .bind(req.reading.bytes)
        .bind(req.reading_ms)
        .bind(req.objects)
        .bind(req.bytes)
        .bind(req.max_objects)
        .bind(req.max_bytes)
        .bind(req.node)
        .bind(req.lease_ms)
        .bind(req.take)
        .fetch_one(self.pool())
        .await?;
        let id: Option<i64> = r.try_get(0)?;
        let used = Usage {
            objects: r.try_get(1)?,
            bytes: r.try_get(2)?,
        };
        if req.take {
            return Ok(id.map_or(HoldOutcome::Refused(used), |id| HoldOutcome::Fits(Some(id))));
        }
        let fits =
            |limit: Option<i64>, used: i64, want: i64| limit.is_none_or(|m| used + want <= m);
        let objects_fit = req.objects == 0 || fits(req.max_objects, used.objects, req.objects);
        Ok(
            if objects_fit && fits(req.max_bytes, used.bytes, req.bytes) {
                HoldOutcome::Fits(None)
            } else {
                HoldOutcome::Refused(used)
            },
        )
    }

    /// `owner`'s usage of `bucket` under `prefix` (as [`Meta::usage`]), and the database time
    /// at which the reading began: rows committed before it are in the reading.
    pub async fn usage_reading(
        &self,
        bucket: &str,
        owner: &str,
        prefix: &str,
    ) -> Result<(Usage, i64), MetaError> {
        if self.engine() != Engine::Postgres {
            return Err(MetaError::Unsupported("shared quota holds need PostgreSQL"));
        }
        let (range, bounds) = key_range(prefix, 3);
        // `transaction_timestamp()` is fixed when the statement's transaction starts, before
        // its snapshot is taken; rounded down, it is never later than the snapshot.
        let sql = format!(
            "SELECT {}, CAST(floor(extract(epoch FROM transaction_timestamp()) * 1000) AS BIGINT)",
            crate::usage::USAGE_COUNTS.replace("{range}", &range)
        );
        let mut q = sqlx::query(&sql).bind(bucket).bind(owner);
        for b in bounds {
            q = q.bind(b);
        }
        let r = q.fetch_one(self.pool()).await?;
        Ok((crate::usage::usage_of(&r)?, r.try_get(4)?))
    }

    /// Release holds: their uploads' rows have committed, or the uploads failed.
    pub async fn release_quota_holds(&self, ids: &[i64]) -> Result<(), MetaError> {
        if ids.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE quota_holds SET released_ms = cubby_db_now_ms() WHERE id IN ({})",
            placeholders(1, ids.len())
        );
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(*id);
        }
        q.execute(self.pool()).await?;
        Ok(())
    }

    /// Forget holds that ended more than 30 s ago, in every account (each check also
    /// forgets its own account's).
    pub async fn forget_old_quota_holds(&self) -> Result<u64, MetaError> {
        Ok(sqlx::query(
            "DELETE FROM quota_holds \
             WHERE COALESCE(released_ms, expires_ms) < cubby_db_now_ms() - 30000",
        )
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// Extend the leases of `ids` to `lease_ms` from now (database time). Returns how many
    /// still existed.
    pub async fn renew_quota_holds(&self, ids: &[i64], lease_ms: i64) -> Result<u64, MetaError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "UPDATE quota_holds SET expires_ms = cubby_db_now_ms() + $1 \
             WHERE released_ms IS NULL AND id IN ({})",
            placeholders(2, ids.len())
        );
        let mut q = sqlx::query(&sql).bind(lease_ms);
        for id in ids {
            q = q.bind(*id);
        }
        Ok(q.execute(self.pool()).await?.rows_affected())
    }
}

/// `n` placeholders from `$first`: `$first, …`.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}
