//! The metadata store: one SQL schema, served by SQLite (the embedded default) or PostgreSQL
//! (scale-out), through `sqlx`'s `Any` driver so every query is written once.
//!
//! Queries use `$N` placeholders, which both engines accept. Object keys are stored as bytes
//! (`BLOB` / `BYTEA`), so listings compare byte-wise — S3's order — on both engines.
//!
//! Architecture invariant: this crate knows SQL and row shapes, not S3 semantics. Columns that
//! hold structured S3 data (headers, checksums, blob layout, bucket configuration) are JSON
//! text written and read by `cubby-s3`.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod buckets;
mod exclusive;
mod fresh;
mod group;
mod holds;
mod kv;
mod migrate;
mod multipart;
mod objects;
mod outbox;
pub mod pgtest;
mod rates;
mod sqlite_reader;
mod sqlite_writer;
mod usage;

pub use buckets::BucketRow;
pub use exclusive::{Exclusive, LockName};
pub use holds::{HoldOutcome, HoldRequest};
pub use multipart::{PartRow, UploadRow};
pub use objects::{DeleteCondition, ListedObject, ObjectRow, Precondition, PutOutcome};
pub use outbox::{ClaimedEvent, DeadEvent, NewEvent};
pub use rates::RateVerdict;
pub use usage::{OwnerUsage, Usage};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};
use std::sync::Arc;
use std::time::Duration;

/// Errors of the metadata layer.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// Database failure (connection, constraint, I/O).
    #[error("metadata database: {0}")]
    Db(#[from] sqlx::Error),
    /// Failure of the SQLite writer thread's own connection.
    #[error("metadata database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A row held data this version cannot read.
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
    /// A conditional write's precondition did not hold.
    #[error("precondition failed")]
    PreconditionFailed,
    /// The row to change does not exist.
    #[error("not found")]
    NotFound,
    /// A unique row already exists.
    #[error("already exists")]
    AlreadyExists,
    /// The operation needs the other engine.
    #[error("not supported on this metadata engine: {0}")]
    Unsupported(&'static str),
    /// The group commit this write was part of failed.
    #[error("batch commit failed: {0}")]
    Batch(String),
    /// Another process holds the SQLite database (see [`Meta::connect`]).
    #[error("{0}")]
    InUse(String),
}

/// Which SQL engine is behind the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Handle to the metadata database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Meta {
    pool: AnyPool,
    engine: Engine,
    /// SQLite allows one writer; serializing writers here avoids `SQLITE_BUSY` on lock upgrade.
    write_lock: Arc<tokio::sync::Mutex<()>>,
    /// Queue of the group-commit task for object writes (None inside that task).
    committer: Option<tokio::sync::mpsc::Sender<group::Job>>,
    /// Per target: bumped after every commit that enqueued events for it (wakes that
    /// target's dispatcher task, and no other).
    outbox_signals:
        Arc<std::sync::Mutex<std::collections::HashMap<String, tokio::sync::watch::Sender<u64>>>>,
    /// SQLite: delivered events whose rows are not deleted yet (see `outbox::Meta::ack_events`).
    acked: Arc<std::sync::Mutex<outbox::AckedRows>>,
    /// SQLite: per target, the highest id its dispatcher delivered. Every row of the target
    /// at or below it is delivered or dead, so claims start above it instead of filtering
    /// out delivered rows that are not deleted yet.
    delivered_upto: Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>,
    /// SQLite: the id of the next outbox row. Ids must never be reused while this process
    /// runs (claims start above `delivered_upto`), and SQLite's own choice, one above the
    /// highest row left, would reuse the ids of delivered rows once they are deleted. Taken
    /// under the writer lock, so ids follow commit order.
    next_outbox_id: Arc<std::sync::atomic::AtomicI64>,
    /// SQLite: committed outbox rows handed to caught-up dispatchers (`fresh.rs`).
    fresh: Arc<fresh::FreshQueues>,
    /// SQLite: the open lock file that keeps other processes off this database (see
    /// [`Meta::connect`]); the lock lasts as long as the file stays open.
    _sole_user: Option<Arc<std::fs::File>>,
    /// SQLite: bucket rows as last read (see `buckets::BucketCache`).
    bucket_cache: Arc<buckets::BucketCache>,
    /// SQLite: connections for point reads on the calling thread (`sqlite_reader.rs`).
    readers: Option<Arc<sqlite_reader::SqliteReaders>>,
}

impl Meta {
    /// Connect to `url` (`sqlite://path` or `postgres://…`) and run migrations.
    ///
    /// An SQLite database belongs to one process: this process numbers outbox rows, tracks
    /// quotas and keeps bucket rows in memory on the understanding that no one else writes
    /// it. `path.lock` is locked (`flock`) for as long as this `Meta` or a clone of it
    /// lives, and a second process is refused with [`MetaError::InUse`].
    pub async fn connect(url: &str) -> Result<Self, MetaError> {
        install_default_drivers();
        let engine = if url.starts_with("postgres") {
            Engine::Postgres
        } else {
            Engine::Sqlite
        };
        let url = if engine == Engine::Sqlite && !url.contains('?') {
            format!("{url}?mode=rwc")
        } else {
            url.to_owned()
        };
        let sole_user = match engine {
            Engine::Sqlite => Some(Arc::new(lock_sqlite(sqlite_writer::path_of(&url))?)),
            Engine::Postgres => None,
        };
        let opts = AnyPoolOptions::new()
            .max_connections(if engine == Engine::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        // WAL + synchronous=FULL: a committed transaction is on disk (the WAL
                        // is fsynced at commit), readers never block the writer.
                        conn.execute("PRAGMA journal_mode=WAL").await?;
                        conn.execute("PRAGMA synchronous=FULL").await?;
                        conn.execute("PRAGMA busy_timeout=10000").await?;
                        conn.execute("PRAGMA foreign_keys=ON").await?;
                    }
                    Ok(())
                })
            });
        let pool = opts.connect(&url).await?;
        let mut meta = Meta {
            pool,
            engine,
            write_lock: Arc::new(tokio::sync::Mutex::new(())),
            committer: None,
            outbox_signals: Arc::default(),
            acked: Arc::default(),
            delivered_upto: Arc::default(),
            next_outbox_id: Arc::default(),
            fresh: Arc::default(),
            _sole_user: sole_user,
            bucket_cache: Arc::default(),
            readers: None,
        };
        migrate::run(&meta).await?;
        if engine == Engine::Sqlite {
            let highest: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM outbox")
                .fetch_one(&meta.pool)
                .await?;
            meta.next_outbox_id.store(
                highest.unwrap_or(0) + 1,
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        let writer = match engine {
            Engine::Sqlite => Some(sqlite_writer::SqliteWriter::open(
                sqlite_writer::path_of(&url),
                meta.next_outbox_id.clone(),
                meta.fresh.clone(),
            )?),
            Engine::Postgres => None,
        };
        if engine == Engine::Sqlite {
            meta.readers = Some(Arc::new(sqlite_reader::SqliteReaders::new(
                sqlite_writer::path_of(&url),
            )));
        }
        meta.committer = Some(group::spawn(meta.clone(), writer));
        if engine == Engine::Sqlite {
            outbox::spawn_ack_flusher(meta.clone());
        }
        Ok(meta)
    }

    /// The engine in use.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The underlying pool, for crates that keep their own tables (identity, IAM).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Take the writer lock (held for the duration of one write transaction on SQLite; a no-op
    /// guard on PostgreSQL, which handles concurrent writers itself).
    pub async fn write_guard(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.engine {
            Engine::Sqlite => Some(self.write_lock.lock().await),
            Engine::Postgres => None,
        }
    }

    /// Begin a write transaction. On SQLite it takes the database's write lock at once
    /// (`BEGIN IMMEDIATE`), waiting for it under the busy timeout: a transaction that read
    /// first and then wrote could instead fail at once with "database is locked" while a
    /// dropped transaction's rollback (sqlx rolls back asynchronously) still holds the lock.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.engine {
            Engine::Sqlite => self.pool().begin_with("BEGIN IMMEDIATE").await,
            Engine::Postgres => self.pool().begin().await,
        }
    }

    /// `" FOR UPDATE"` on PostgreSQL (several nodes write; a read that decides a write locks
    /// its row), nothing on SQLite (one writer, and SQLite has no row locks).
    pub(crate) fn row_lock(&self) -> &'static str {
        match self.engine {
            Engine::Postgres => " FOR UPDATE",
            Engine::Sqlite => "",
        }
    }

    /// Is the database reachable? (One trivial query; used by `/_cubby/ready`.)
    pub async fn ping(&self) -> Result<(), MetaError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Close the pool after deleting delivered events that are still waiting for it, and
    /// (SQLite) checkpointing the WAL into the database file.
    pub async fn close(&self) {
        if let Err(e) = self.flush_acks().await {
            tracing::warn!(error = %e, "deleting delivered events at shutdown failed");
        }
        if self.engine == Engine::Sqlite {
            // The group commit's writer connection stays open until the process exits, so
            // closing the pool no longer checkpoints the WAL: do it here, leaving `meta.db`
            // complete on its own after a clean stop.
            let _g = self.write_guard().await;
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await
            {
                tracing::warn!(error = %e, "checkpointing the metadata WAL at shutdown failed");
            }
        }
        self.pool.close().await;
    }
}

/// Milliseconds since the Unix epoch, as stored in timestamp columns.
pub type Millis = i64;

/// Take the exclusive lock of the SQLite database at `db_path` (its `.lock` file, created if
/// missing), or fail at once if another process holds it.
fn lock_sqlite(db_path: &str) -> Result<std::fs::File, MetaError> {
    let lock_path = format!("{db_path}.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| MetaError::InUse(format!("cannot open {lock_path}: {e}")))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(MetaError::InUse(format!(
            "the metadata database {db_path} is in use by another cubby process \
             (an SQLite database serves one process; several nodes need PostgreSQL)"
        ))),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(MetaError::InUse(format!("cannot lock {lock_path}: {e}")))
        }
    }
}
