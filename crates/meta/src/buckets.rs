//! Buckets: name, owner, creation time and one JSON configuration document (CORS, policy,
//! public-access block, ownership, ACL, encryption, notifications, tags) owned by `cubby-s3`.

use crate::{Engine, Meta, MetaError, Millis};
use sqlx::Row;
use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bound on cached bucket rows (cleared wholesale when exceeded; a row is one read away).
const MAX_CACHED: usize = 10_000;

/// One bucket.
#[derive(Clone, Debug)]
pub struct BucketRow {
    /// Bucket name.
    pub name: String,
    /// Creation time.
    pub created_ms: Millis,
    /// Owner's canonical id.
    pub owner: String,
    /// JSON configuration document.
    pub config: String,
}

fn row_to_bucket(r: sqlx::any::AnyRow) -> BucketRow {
    BucketRow {
        name: r.get(0),
        created_ms: r.get(1),
        owner: r.get(2),
        config: r.get(3),
    }
}

/// SQLite: bucket rows as last read. Every request looks its bucket up, and on SQLite a read
/// is a round trip to a database thread (a channel send and two thread wake-ups) that cost
/// more than the rest of a small PUT's metadata work. Only this process writes the database
/// (one node), and it forgets a row whenever it changes one, so the cache cannot go stale.
/// PostgreSQL deployments have several nodes and read the row every time, so a change made
/// on another node applies at once.
#[derive(Debug, Default)]
pub(crate) struct BucketCache {
    /// Bumped by every bucket write, before the row is forgotten: a read that raced a write
    /// (and may hold the row from before it) sees the bump and does not store what it read.
    generation: AtomicU64,
    rows: RwLock<HashMap<String, BucketRow>>,
}

impl BucketCache {
    fn get(&self, name: &str) -> Option<BucketRow> {
        self.rows.read().ok()?.get(name).cloned()
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Store `row`, read after [`BucketCache::generation`] returned `read_at`, unless a write
    /// has happened since.
    fn store(&self, read_at: u64, row: &BucketRow) {
        let Ok(mut rows) = self.rows.write() else {
            return;
        };
        // Under the lock: a write bumps first and forgets under this lock after.
        if self.generation() != read_at {
            return;
        }
        if rows.len() >= MAX_CACHED {
            rows.clear();
        }
        rows.insert(row.name.clone(), row.clone());
    }

    /// `name`'s row changed (or may have): forget it.
    fn forget(&self, name: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        match self.rows.write() {
            Ok(mut rows) => {
                rows.remove(name);
            }
            // A panic while holding the lock: the map may be anything, so drop it all.
            Err(poisoned) => poisoned.into_inner().clear(),
        }
    }
}

impl Meta {
    /// Create a bucket; [`MetaError::AlreadyExists`] if the name is taken.
    pub async fn create_bucket(&self, row: &BucketRow) -> Result<(), MetaError> {
        let r = self.create_bucket_row(row).await;
        self.bucket_cache.forget(&row.name);
        r
    }

    async fn create_bucket_row(&self, row: &BucketRow) -> Result<(), MetaError> {
        let _g = self.write_guard().await;
        let r = sqlx::query(
            "INSERT INTO buckets (name, created_ms, owner, config) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&row.name)
        .bind(row.created_ms)
        .bind(&row.owner)
        .bind(&row.config)
        .execute(self.pool())
        .await?;
        if r.rows_affected() == 0 {
            return Err(MetaError::AlreadyExists);
        }
        Ok(())
    }

    /// Look a bucket up.
    pub async fn get_bucket(&self, name: &str) -> Result<Option<BucketRow>, MetaError> {
        let cached = self.engine == Engine::Sqlite;
        if cached && let Some(row) = self.bucket_cache.get(name) {
            return Ok(Some(row));
        }
        let read_at = self.bucket_cache.generation();
        let row =
            sqlx::query("SELECT name, created_ms, owner, config FROM buckets WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?
                .map(row_to_bucket);
        if cached && let Some(row) = &row {
            self.bucket_cache.store(read_at, row);
        }
        Ok(row)
    }

    /// All buckets in name order.
    pub async fn list_buckets(&self) -> Result<Vec<BucketRow>, MetaError> {
        let rows = sqlx::query("SELECT name, created_ms, owner, config FROM buckets ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(row_to_bucket).collect())
    }

    /// Replace a bucket's configuration document.
    pub async fn set_bucket_config(&self, name: &str, config: &str) -> Result<(), MetaError> {
        self.set_bucket_config_with_events(name, config, &[]).await
    }

    /// Replace a bucket's configuration document and enqueue `events` (the `s3:TestEvent`
    /// of a new notification configuration) in the same transaction.
    pub async fn set_bucket_config_with_events(
        &self,
        name: &str,
        config: &str,
        events: &[crate::NewEvent],
    ) -> Result<(), MetaError> {
        let r = self.set_bucket_config_row(name, config, events).await;
        self.bucket_cache.forget(name);
        r
    }

    async fn set_bucket_config_row(
        &self,
        name: &str,
        config: &str,
        events: &[crate::NewEvent],
    ) -> Result<(), MetaError> {
        {
            let _g = self.write_guard().await;
            let mut tx = self.begin_write().await?;
            let r = sqlx::query("UPDATE buckets SET config = $2 WHERE name = $1")
                .bind(name)
                .bind(config)
                .execute(&mut *tx)
                .await?;
            if r.rows_affected() == 0 {
                return Err(MetaError::NotFound);
            }
            self.insert_events(&mut tx, events.iter(), crate::outbox::now_ms())
                .await?;
            tx.commit().await?;
        }
        if !events.is_empty() {
            self.signal_outbox(events);
        }
        Ok(())
    }

    /// Delete an empty bucket. Returns the blob ids of parts of unfinished multipart uploads,
    /// which are discarded with it (S3 allows deleting a bucket that only has those).
    /// [`MetaError::PreconditionFailed`] if objects remain, [`MetaError::NotFound`] if absent.
    pub async fn delete_bucket(&self, name: &str) -> Result<Vec<String>, MetaError> {
        let r = self.delete_bucket_row(name).await;
        self.bucket_cache.forget(name);
        r
    }

    async fn delete_bucket_row(&self, name: &str) -> Result<Vec<String>, MetaError> {
        let _g = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let has_objects = sqlx::query("SELECT 1 FROM objects WHERE bucket = $1 LIMIT 1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if has_objects {
            return Err(MetaError::PreconditionFailed);
        }
        let blobs: Vec<String> = sqlx::query_scalar(
            "SELECT p.blob_id FROM parts p JOIN uploads u ON u.upload_id = p.upload_id WHERE u.bucket = $1",
        )
        .bind(name)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE bucket = $1)")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM uploads WHERE bucket = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let r = sqlx::query("DELETE FROM buckets WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Err(MetaError::NotFound);
        }
        tx.commit().await?;
        Ok(blobs)
    }
}
