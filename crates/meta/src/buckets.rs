//! Buckets: name, owner, creation time and one JSON configuration document (CORS, policy,
//! public-access block, ownership, ACL, encryption, notifications, tags) owned by `cubby-s3`.

use crate::{Meta, MetaError, Millis};
use sqlx::Row;

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

impl Meta {
    /// Create a bucket; [`MetaError::AlreadyExists`] if the name is taken.
    pub async fn create_bucket(&self, row: &BucketRow) -> Result<(), MetaError> {
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
        let row =
            sqlx::query("SELECT name, created_ms, owner, config FROM buckets WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(row_to_bucket))
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
