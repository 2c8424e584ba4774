//! Cluster-wide mutual exclusion for rare, long operations (applying the start-up
//! configuration): a PostgreSQL session advisory lock held on a dedicated connection. On
//! SQLite there is one node, and the lock is a no-op.

use crate::{Engine, Meta, MetaError};

/// Advisory-lock keys used by cubby (any constants unique to cubby; the migration lock is
/// `migrate::MIGRATION_LOCK`).
#[derive(Clone, Copy, Debug)]
pub enum LockName {
    /// Applying the start-up configuration (`cubby.toml` or the default setup): nodes that
    /// start together would otherwise both create a resource looked up by name.
    StartupConfig,
}

impl LockName {
    fn key(self) -> i64 {
        match self {
            LockName::StartupConfig => 7_310_267_719,
        }
    }
}

/// A held cluster-wide lock. [`Exclusive::release`] unlocks; dropping it without releasing
/// closes its connection, which unlocks too.
pub struct Exclusive {
    held: Option<(sqlx::pool::PoolConnection<sqlx::Any>, i64)>,
}

impl Meta {
    /// Wait for, and take, the cluster-wide lock `name`.
    pub async fn exclusive(&self, name: LockName) -> Result<Exclusive, MetaError> {
        if self.engine() != Engine::Postgres {
            return Ok(Exclusive { held: None });
        }
        let mut conn = self.pool().acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(name.key())
            .execute(&mut *conn)
            .await?;
        Ok(Exclusive {
            held: Some((conn, name.key())),
        })
    }
}

impl Exclusive {
    /// Unlock, and give the connection back to the pool.
    pub async fn release(mut self) {
        if let Some((mut conn, key)) = self.held.take() {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(key)
                .execute(&mut *conn)
                .await;
            if unlocked.is_err() {
                // Closing the session releases its advisory locks.
                let _ = conn.detach();
            }
        }
    }
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        if let Some((conn, _)) = self.held.take() {
            // Not returned to the pool still locked: the closed session unlocks.
            let _ = conn.detach();
        }
    }
}
