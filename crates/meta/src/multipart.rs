//! Multipart uploads and their parts. Completing an upload turns its parts' blobs into the
//! object's layout in one transaction — no data is copied.

use crate::objects::{ObjectRow, Precondition, PutOutcome};
use crate::{Meta, MetaError, Millis};
use sqlx::Row;

/// One unfinished multipart upload.
#[derive(Clone, Debug)]
pub struct UploadRow {
    /// Upload id.
    pub upload_id: String,
    /// Bucket.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Initiation time.
    pub initiated_ms: Millis,
    /// JSON: headers, metadata, checksum algorithm/type, initiator.
    pub info: String,
    /// Set once completed: the completion result (JSON), kept for repeated Completes.
    pub completed: Option<String>,
    /// Whose quota the upload counts against (identity id or principal ARN).
    pub owner: Option<String>,
}

/// One uploaded part.
#[derive(Clone, Debug)]
pub struct PartRow {
    /// Upload id.
    pub upload_id: String,
    /// 1..=10000.
    pub part_number: i32,
    /// Size in bytes.
    pub size: i64,
    /// ETag without quotes (hex MD5).
    pub etag: String,
    /// Blob holding the bytes.
    pub blob_id: String,
    /// JSON checksum, if any.
    pub checksum: Option<String>,
    /// Upload time.
    pub last_modified_ms: Millis,
}

fn row_to_upload(r: sqlx::any::AnyRow) -> Result<UploadRow, MetaError> {
    let key: Vec<u8> = r.get(2);
    Ok(UploadRow {
        upload_id: r.get(0),
        bucket: r.get(1),
        key: String::from_utf8(key).map_err(|_| MetaError::Corrupt("key not UTF-8".into()))?,
        initiated_ms: r.get(3),
        info: r.get(4),
        completed: r.get(5),
        owner: r.get(6),
    })
}

fn row_to_part(r: sqlx::any::AnyRow) -> PartRow {
    PartRow {
        upload_id: r.get(0),
        part_number: r.get(1),
        size: r.get(2),
        etag: r.get(3),
        blob_id: r.get(4),
        checksum: r.get(5),
        last_modified_ms: r.get(6),
    }
}

const PART_COLS: &str = "upload_id, part_number, size, etag, blob_id, checksum, last_modified_ms";

impl Meta {
    /// Record a new upload.
    pub async fn create_upload(&self, row: &UploadRow) -> Result<(), MetaError> {
        let _g = self.write_guard().await;
        sqlx::query(
            "INSERT INTO uploads (upload_id, bucket, key, initiated_ms, info, owner) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&row.upload_id)
        .bind(&row.bucket)
        .bind(row.key.as_bytes().to_vec())
        .bind(row.initiated_ms)
        .bind(&row.info)
        .bind(&row.owner)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Look an upload up.
    pub async fn get_upload(&self, upload_id: &str) -> Result<Option<UploadRow>, MetaError> {
        let row = sqlx::query(
            "SELECT upload_id, bucket, key, initiated_ms, info, completed, owner FROM uploads WHERE upload_id = $1",
        )
        .bind(upload_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(row_to_upload).transpose()
    }

    /// Store a part (replacing an earlier part with the same number). Returns the replaced
    /// part's blob id. [`MetaError::NotFound`] if the upload is gone (aborted or completed
    /// while the part was being written) — the caller then deletes the new blob.
    pub async fn put_part(&self, part: &PartRow) -> Result<Option<String>, MetaError> {
        let _g = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        // Locked on PostgreSQL, so a Complete or Abort on another node cannot slip in
        // between this check and the part's insert.
        let exists = sqlx::query(&format!(
            "SELECT 1 FROM uploads WHERE upload_id = $1 AND completed IS NULL{}",
            self.row_lock()
        ))
        .bind(&part.upload_id)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if !exists {
            return Err(MetaError::NotFound);
        }
        let old: Option<String> = sqlx::query_scalar(
            "SELECT blob_id FROM parts WHERE upload_id = $1 AND part_number = $2",
        )
        .bind(&part.upload_id)
        .bind(part.part_number)
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO parts ({PART_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (upload_id, part_number) DO UPDATE SET size = excluded.size, \
             etag = excluded.etag, blob_id = excluded.blob_id, checksum = excluded.checksum, \
             last_modified_ms = excluded.last_modified_ms"
        ))
        .bind(&part.upload_id)
        .bind(part.part_number)
        .bind(part.size)
        .bind(&part.etag)
        .bind(&part.blob_id)
        .bind(&part.checksum)
        .bind(part.last_modified_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(old)
    }

    /// Parts of an upload with number > `after`, ascending, at most `limit`.
    pub async fn list_parts(
        &self,
        upload_id: &str,
        after: i32,
        limit: i64,
    ) -> Result<Vec<PartRow>, MetaError> {
        let rows = sqlx::query(&format!(
            "SELECT {PART_COLS} FROM parts WHERE upload_id = $1 AND part_number > $2 \
             ORDER BY part_number LIMIT $3"
        ))
        .bind(upload_id)
        .bind(after)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(row_to_part).collect())
    }

    /// Total size of an upload's parts other than `part_number` (what a new version of that
    /// part would add to).
    pub async fn parts_size_except(
        &self,
        upload_id: &str,
        part_number: i32,
    ) -> Result<i64, MetaError> {
        let total: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM parts \
             WHERE upload_id = $1 AND part_number <> $2",
        )
        .bind(upload_id)
        .bind(part_number)
        .fetch_one(self.pool())
        .await?;
        Ok(total)
    }

    /// Complete: in one transaction remove the upload and its parts, write the object and
    /// enqueue `events`.
    /// Returns the put outcome and the blob ids of parts that are not in `used_blobs`.
    pub async fn complete_upload(
        &self,
        upload_id: &str,
        object: &ObjectRow,
        pre: &Precondition,
        used_blobs: &[String],
        result: &str,
        events: &[crate::NewEvent],
    ) -> Result<(PutOutcome, Vec<String>), MetaError> {
        let _g = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query(&format!(
            "SELECT 1 FROM uploads WHERE upload_id = $1 AND completed IS NULL{}",
            self.row_lock()
        ))
        .bind(upload_id)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if !exists {
            return Err(MetaError::NotFound);
        }
        // A failed check returns early: the transaction (and any placeholder) rolls back.
        let (old, _) =
            crate::objects::lock_current(&mut tx, self.engine, &object.bucket, &object.key).await?;
        let (old_etag, old_layout) = old.unzip();
        crate::objects::check(pre, old_etag.as_deref())?;
        let all: Vec<String> = sqlx::query_scalar("SELECT blob_id FROM parts WHERE upload_id = $1")
            .bind(upload_id)
            .fetch_all(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM parts WHERE upload_id = $1")
            .bind(upload_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE uploads SET completed = $2 WHERE upload_id = $1")
            .bind(upload_id)
            .bind(result)
            .execute(&mut *tx)
            .await?;
        crate::objects::upsert(&mut tx, object).await?;
        self.insert_events(&mut tx, events.iter(), crate::outbox::now_ms())
            .await?;
        tx.commit().await?;
        drop(_g);
        if !events.is_empty() {
            self.signal_outbox(events);
        }
        let unused = all
            .into_iter()
            .filter(|b| !used_blobs.contains(b))
            .collect();
        Ok((
            PutOutcome {
                replaced_layout: old_layout,
            },
            unused,
        ))
    }

    /// Abort: remove the upload; returns its parts' blob ids (now garbage).
    pub async fn abort_upload(&self, upload_id: &str) -> Result<Vec<String>, MetaError> {
        let _g = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        // The upload row is read (and on PostgreSQL locked) first, so no part can be added
        // through another node between listing the parts and deleting them.
        let completed: Option<Option<String>> = sqlx::query_scalar(&format!(
            "SELECT completed FROM uploads WHERE upload_id = $1{}",
            self.row_lock()
        ))
        .bind(upload_id)
        .fetch_optional(&mut *tx)
        .await?;
        let blobs: Vec<String> =
            sqlx::query_scalar("SELECT blob_id FROM parts WHERE upload_id = $1")
                .bind(upload_id)
                .fetch_all(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM parts WHERE upload_id = $1")
            .bind(upload_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM uploads WHERE upload_id = $1")
            .bind(upload_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        match completed {
            Some(None) => Ok(blobs),
            _ => Err(MetaError::NotFound),
        }
    }

    /// Unfinished uploads of a bucket with keys in `[from, to)`, ordered by (key, initiated,
    /// upload id), strictly after the (key, upload id) marker, at most `limit`.
    pub async fn list_uploads(
        &self,
        bucket: &str,
        from: &[u8],
        to: Option<&[u8]>,
        limit: i64,
    ) -> Result<Vec<UploadRow>, MetaError> {
        let sql = match to {
            Some(_) => {
                "SELECT upload_id, bucket, key, initiated_ms, info, completed, owner FROM uploads \
                 WHERE bucket = $1 AND key >= $2 AND key < $3 AND completed IS NULL \
                 ORDER BY key, initiated_ms, upload_id LIMIT $4"
            }
            None => {
                "SELECT upload_id, bucket, key, initiated_ms, info, completed, owner FROM uploads \
                 WHERE bucket = $1 AND key >= $2 AND $3 = $3 AND completed IS NULL \
                 ORDER BY key, initiated_ms, upload_id LIMIT $4"
            }
        };
        let rows = sqlx::query(sql)
            .bind(bucket)
            .bind(from.to_vec())
            .bind(to.unwrap_or(&[]).to_vec())
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(row_to_upload).collect()
    }
}

impl Meta {
    /// Forget completed uploads older than `before_ms` (their only use is answering a
    /// repeated CompleteMultipartUpload).
    pub async fn purge_completed_uploads(&self, before_ms: Millis) -> Result<u64, MetaError> {
        let _g = self.write_guard().await;
        let r =
            sqlx::query("DELETE FROM uploads WHERE completed IS NOT NULL AND initiated_ms < $1")
                .bind(before_ms)
                .execute(self.pool())
                .await?;
        Ok(r.rows_affected())
    }
}
