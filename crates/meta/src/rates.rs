//! Upload-rate windows shared by every node of a cluster (PostgreSQL only).
//!
//! "At most N uploads per minute" per key, exact over a sliding 60-second window, as the
//! in-memory windows of one process (`cubby_rules::RateWindows`) count it — but in the
//! database, so that a balancer spreading an identity's uploads over several nodes does not
//! multiply its allowance. One row per admitted upload; checking and adding is one call of
//! `cubby_rate_admit` (migration 8) under a cluster-wide lock on the key: one round trip.
//! The database's clock decides, so nodes' clocks do not matter.

use sqlx::Row;

use crate::{Engine, Meta, MetaError};

/// What a rate check came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateVerdict {
    /// There is room; the admission's row id (`None` when only checking).
    Admitted(Option<i64>),
    /// The window is full: room comes back in this many milliseconds.
    Full {
        /// Milliseconds until the window has room again.
        retry_after_ms: i64,
    },
}

impl Meta {
    /// Check `key`'s window against `limit` uploads per minute and, if there is room and
    /// `take`, count one upload in it. PostgreSQL only.
    pub async fn admit_rate(
        &self,
        key: &str,
        limit: u32,
        take: bool,
    ) -> Result<RateVerdict, MetaError> {
        if self.engine() != Engine::Postgres {
            return Err(MetaError::Unsupported(
                "shared rate windows need PostgreSQL",
            ));
        }
        let r = sqlx::query("SELECT hit_id, retry_after_ms FROM cubby_rate_admit($1, $2, $3)")
            .bind(key)
            .bind(i64::from(limit))
            .bind(take)
            .fetch_one(self.pool())
            .await?;
        let retry: Option<i64> = r.try_get(1)?;
        Ok(match retry {
            Some(retry_after_ms) => RateVerdict::Full { retry_after_ms },
            None => RateVerdict::Admitted(r.try_get(0)?),
        })
    }

    /// Take back an admission (the upload was refused by a later check), so that refusals
    /// do not use up the allowance.
    pub async fn refund_rate(&self, id: i64) -> Result<(), MetaError> {
        sqlx::query("DELETE FROM upload_rates WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Forget admissions older than the window, in every key (each check also forgets its
    /// own key's).
    pub async fn forget_old_rate_hits(&self) -> Result<u64, MetaError> {
        Ok(
            sqlx::query("DELETE FROM upload_rates WHERE at_ms <= cubby_db_now_ms() - 60000")
                .execute(self.pool())
                .await?
                .rows_affected(),
        )
    }
}
