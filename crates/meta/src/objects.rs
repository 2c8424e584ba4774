//! Object rows: one current version per (bucket, key).

use crate::{Meta, MetaError, Millis};
use sqlx::Row;

/// One stored object.
#[derive(Clone, Debug)]
pub struct ObjectRow {
    /// Bucket name.
    pub bucket: String,
    /// Object key.
    pub key: String,
    /// Version id (`None` for unversioned buckets: S3's `null`).
    pub version_id: Option<String>,
    /// Size in bytes.
    pub size: i64,
    /// ETag without quotes.
    pub etag: String,
    /// Last-Modified.
    pub last_modified_ms: Millis,
    /// JSON: content headers and user metadata.
    pub headers: String,
    /// JSON: stored checksum, if any.
    pub checksum: Option<String>,
    /// JSON: where the bytes are (single blob or a manifest of part blobs).
    pub layout: String,
    /// Whose quota the object counts against: the writer's Cognito identity id, or its
    /// principal ARN (None for rows written before owners were recorded).
    pub owner: Option<String>,
}

/// The columns a listing needs.
#[derive(Clone, Debug)]
pub struct ListedObject {
    /// Object key.
    pub key: String,
    /// Size in bytes.
    pub size: i64,
    /// ETag without quotes.
    pub etag: String,
    /// Last-Modified.
    pub last_modified_ms: Millis,
    /// JSON checksum (for the algorithm list in listings).
    pub checksum: Option<String>,
}

/// Condition a write must satisfy atomically.
#[derive(Clone, Debug, Default)]
pub enum Precondition {
    /// Unconditional.
    #[default]
    None,
    /// `If-None-Match: *`: the key must not exist.
    MustNotExist,
    /// `If-Match`: the current ETag must be one of these (`*` = must exist).
    EtagMatches(Vec<String>),
    /// `If-None-Match: <etag>`: the current ETag must not be one of these.
    EtagNotMatches(Vec<String>),
}

/// Conditions of a conditional delete (`If-Match`, `x-amz-if-match-size`,
/// `x-amz-if-match-last-modified-time`); `None` fields are not checked.
#[derive(Clone, Debug, Default)]
pub struct DeleteCondition {
    /// Required ETag (`*` = any).
    pub etag: Option<String>,
    /// Required size.
    pub size: Option<i64>,
    /// Required Last-Modified, epoch seconds.
    pub last_modified_s: Option<i64>,
}

/// Result of a successful put.
#[derive(Debug)]
pub struct PutOutcome {
    /// The layout JSON of the object that was replaced (its blobs are now garbage).
    pub replaced_layout: Option<String>,
}

const OBJECT_COLS: &str =
    "bucket, key, version_id, size, etag, last_modified_ms, headers, checksum, layout, owner";

fn key_of(r: &sqlx::any::AnyRow, idx: usize) -> Result<String, MetaError> {
    let bytes: Vec<u8> = r.get(idx);
    String::from_utf8(bytes).map_err(|_| MetaError::Corrupt("object key is not UTF-8".into()))
}

fn row_to_object(r: sqlx::any::AnyRow) -> Result<ObjectRow, MetaError> {
    Ok(ObjectRow {
        bucket: r.get(0),
        key: key_of(&r, 1)?,
        version_id: r.get(2),
        size: r.get(3),
        etag: r.get(4),
        last_modified_ms: r.get(5),
        headers: r.get(6),
        checksum: r.get(7),
        layout: r.get(8),
        owner: r.get(9),
    })
}

pub(crate) fn check(pre: &Precondition, current: Option<&str>) -> Result<(), MetaError> {
    let ok = match (pre, current) {
        (Precondition::None, _) => true,
        (Precondition::MustNotExist, cur) => cur.is_none(),
        // If-Match on a key that does not exist: S3 answers 404, not 412.
        (Precondition::EtagMatches(_), None) => return Err(MetaError::NotFound),
        (Precondition::EtagMatches(tags), Some(cur)) => {
            tags.iter().any(|t| t == "*" || t.trim_matches('"') == cur)
        }
        (Precondition::EtagNotMatches(_), None) => true,
        (Precondition::EtagNotMatches(tags), Some(cur)) => {
            !tags.iter().any(|t| t == "*" || t.trim_matches('"') == cur)
        }
    };
    if ok {
        Ok(())
    } else {
        Err(MetaError::PreconditionFailed)
    }
}

impl Meta {
    /// Fetch one object.
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectRow>, MetaError> {
        if let Some(readers) = &self.readers {
            return readers.read(|conn| {
                use rusqlite::OptionalExtension;
                conn.prepare_cached(SQLITE_GET_SQL)?
                    .query_row(rusqlite::params![bucket, key.as_bytes()], |r| {
                        let key: Vec<u8> = r.get(1)?;
                        Ok(ObjectRow {
                            bucket: r.get(0)?,
                            key: utf8_key(key, 1)?,
                            version_id: r.get(2)?,
                            size: r.get(3)?,
                            etag: r.get(4)?,
                            last_modified_ms: r.get(5)?,
                            headers: r.get(6)?,
                            checksum: r.get(7)?,
                            layout: r.get(8)?,
                            owner: r.get(9)?,
                        })
                    })
                    .optional()
            });
        }
        let row = sqlx::query(&format!(
            "SELECT {OBJECT_COLS} FROM objects WHERE bucket = $1 AND key = $2"
        ))
        .bind(bucket)
        .bind(key.as_bytes().to_vec())
        .fetch_optional(self.pool())
        .await?;
        row.map(row_to_object).transpose()
    }

    /// Insert or replace an object atomically, checking `pre` in the same transaction.
    /// Concurrent calls are group-committed (one transaction, one fsync, for many objects).
    pub async fn put_object(
        &self,
        row: &ObjectRow,
        pre: &Precondition,
    ) -> Result<PutOutcome, MetaError> {
        self.put_object_with_events(row, pre, Vec::new()).await
    }

    /// [`Meta::put_object`], also enqueueing `events` in the same transaction (they are
    /// committed exactly when the object is).
    pub async fn put_object_with_events(
        &self,
        row: &ObjectRow,
        pre: &Precondition,
        mut events: Vec<crate::NewEvent>,
    ) -> Result<PutOutcome, MetaError> {
        if let Some(q) = &self.committer {
            let (reply, rx) = tokio::sync::oneshot::channel();
            let job = crate::group::PutJob {
                row: row.clone(),
                pre: pre.clone(),
                events,
                reply,
            };
            match q.send(crate::group::Job::Put(job)).await {
                Ok(()) => {
                    return rx
                        .await
                        .unwrap_or_else(|_| Err(MetaError::Batch("committer stopped".into())));
                }
                // The committer is gone: commit here, events included.
                Err(back) => {
                    // `back` is the put just sent.
                    events = match back.0 {
                        crate::group::Job::Put(job) => job.events,
                        crate::group::Job::Doc(_) => Vec::new(),
                    };
                }
            }
        }
        let _g = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        // A failed check returns early: the transaction (and any placeholder) rolls back.
        let (old, _) = lock_current(&mut tx, self.engine, &row.bucket, &row.key).await?;
        let (old_etag, old_layout) = old.unzip();
        check(pre, old_etag.as_deref())?;
        upsert(&mut tx, row).await?;
        self.insert_events(&mut tx, events.iter(), crate::outbox::now_ms())
            .await?;
        tx.commit().await?;
        drop(_g);
        if !events.is_empty() {
            self.signal_outbox(&events);
        }
        Ok(PutOutcome {
            replaced_layout: old_layout,
        })
    }

    /// Delete an object; returns its layout (its blobs are now garbage) if it existed.
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<String>, MetaError> {
        self.delete_object_if(bucket, key, &DeleteCondition::default())
            .await
    }

    /// Delete an object if it still matches `cond` (checked in the same transaction);
    /// [`MetaError::PreconditionFailed`] if it does not. A missing key is not an error.
    pub async fn delete_object_if(
        &self,
        bucket: &str,
        key: &str,
        cond: &DeleteCondition,
    ) -> Result<Option<String>, MetaError> {
        self.delete_object_with_events(bucket, key, cond, &[]).await
    }

    /// [`Meta::delete_object_if`], enqueueing `events` in the same transaction when an object
    /// was deleted.
    pub async fn delete_object_with_events(
        &self,
        bucket: &str,
        key: &str,
        cond: &DeleteCondition,
        events: &[crate::NewEvent],
    ) -> Result<Option<String>, MetaError> {
        let _g = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        // On PostgreSQL the row is locked so the condition holds until the delete commits.
        let lock = match self.engine {
            crate::Engine::Postgres => " FOR UPDATE",
            crate::Engine::Sqlite => "",
        };
        let row = sqlx::query(&format!(
            "SELECT layout, etag, size, last_modified_ms FROM objects WHERE bucket = $1 AND key = $2{lock}",
        ))
        .bind(bucket)
        .bind(key.as_bytes().to_vec())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let etag: String = row.get(1);
        let size: i64 = row.get(2);
        let modified_ms: i64 = row.get(3);
        let ok = cond
            .etag
            .as_deref()
            .is_none_or(|e| e == "*" || e.trim_matches('"') == etag)
            && cond.size.is_none_or(|s| s == size)
            && cond.last_modified_s.is_none_or(|t| t == modified_ms / 1000);
        if !ok {
            return Err(MetaError::PreconditionFailed);
        }
        sqlx::query("DELETE FROM objects WHERE bucket = $1 AND key = $2")
            .bind(bucket)
            .bind(key.as_bytes().to_vec())
            .execute(&mut *tx)
            .await?;
        self.insert_events(&mut tx, events.iter(), crate::outbox::now_ms())
            .await?;
        tx.commit().await?;
        drop(_g);
        if !events.is_empty() {
            self.signal_outbox(events);
        }
        Ok(Some(row.get(0)))
    }

    /// Objects of `bucket` with keys in `[from, to)` (byte order; `to = None` = unbounded),
    /// strictly after `after`, at most `limit`.
    pub async fn list_objects(
        &self,
        bucket: &str,
        from: &[u8],
        to: Option<&[u8]>,
        after: Option<&[u8]>,
        limit: i64,
    ) -> Result<Vec<ListedObject>, MetaError> {
        let after = after.unwrap_or(&[]);
        if let Some(readers) = &self.readers {
            // On the calling thread (`sqlite_reader.rs`): a range read of at most `limit`
            // rows in key order (listing pages are at most 1001 rows).
            let sql = match to {
                Some(_) => SQLITE_LIST_TO_SQL,
                None => SQLITE_LIST_SQL,
            };
            return readers.read(|conn| {
                let mut stmt = conn.prepare_cached(sql)?;
                let map = |r: &rusqlite::Row<'_>| {
                    Ok(ListedObject {
                        key: utf8_key(r.get(0)?, 0)?,
                        size: r.get(1)?,
                        etag: r.get(2)?,
                        last_modified_ms: r.get(3)?,
                        checksum: r.get(4)?,
                    })
                };
                let rows = match to {
                    Some(to) => {
                        stmt.query_map(rusqlite::params![bucket, from, after, to, limit], map)?
                    }
                    None => stmt.query_map(rusqlite::params![bucket, from, after, limit], map)?,
                };
                rows.collect()
            });
        }
        let sql = match to {
            Some(_) => {
                "SELECT key, size, etag, last_modified_ms, checksum FROM objects \
                 WHERE bucket = $1 AND key >= $2 AND key > $3 AND key < $4 ORDER BY key LIMIT $5"
            }
            None => {
                "SELECT key, size, etag, last_modified_ms, checksum FROM objects \
                 WHERE bucket = $1 AND key >= $2 AND key > $3 AND $4 = $4 ORDER BY key LIMIT $5"
            }
        };
        let rows = sqlx::query(sql)
            .bind(bucket)
            .bind(from.to_vec())
            .bind(after.to_vec())
            .bind(to.unwrap_or(&[]).to_vec())
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(ListedObject {
                    key: key_of(&r, 0)?,
                    size: r.get(1),
                    etag: r.get(2),
                    last_modified_ms: r.get(3),
                    checksum: r.get(4),
                })
            })
            .collect()
    }

    /// Every blob layout and part blob id (start-up orphan sweep). Layouts that start with
    /// `blobless_prefix` are the caller's way of saying "names no blob" (objects whose bytes
    /// are in the row): they are not read, so the sweep's memory grows with blob objects only.
    pub async fn all_blob_references(
        &self,
        blobless_prefix: &str,
    ) -> Result<(Vec<String>, Vec<String>), MetaError> {
        let mut pattern = String::with_capacity(blobless_prefix.len() + 1);
        for c in blobless_prefix.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        let layouts: Vec<String> =
            sqlx::query_scalar("SELECT layout FROM objects WHERE layout NOT LIKE $1 ESCAPE '\\'")
                .bind(pattern)
                .fetch_all(self.pool())
                .await?;
        let parts: Vec<String> = sqlx::query_scalar("SELECT blob_id FROM parts")
            .fetch_all(self.pool())
            .await?;
        Ok((layouts, parts))
    }
}

/// The current row's ETag and layout, locked for the rest of the transaction.
///
/// On SQLite the single writer makes a plain read enough. On PostgreSQL several nodes write
/// at once: an existing row is read `FOR UPDATE`, and an absent key is first claimed with a
/// placeholder row (`ON CONFLICT DO NOTHING` waits for a concurrent inserter and tells us it
/// won), so preconditions and the replaced layout are decided against the row that really
/// gets replaced — last writer wins, and no writer's blobs are lost track of. The
/// placeholder is overwritten by [`upsert`] or removed by [`unlock_absent`] before commit.
/// Returns `(current, placeholder_inserted)`.
pub(crate) async fn lock_current(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    engine: crate::Engine,
    bucket: &str,
    key: &str,
) -> Result<(Option<(String, String)>, bool), sqlx::Error> {
    if engine == crate::Engine::Postgres {
        let r = sqlx::query(
            "INSERT INTO objects (bucket, key, version_id, size, etag, last_modified_ms, headers, \
             checksum, layout) VALUES ($1, $2, NULL, 0, '', 0, '{}', NULL, '{}') \
             ON CONFLICT (bucket, key) DO NOTHING",
        )
        .bind(bucket)
        .bind(key.as_bytes().to_vec())
        .execute(&mut **tx)
        .await?;
        if r.rows_affected() == 1 {
            return Ok((None, true));
        }
    }
    let lock = match engine {
        crate::Engine::Postgres => " FOR UPDATE",
        crate::Engine::Sqlite => "",
    };
    let old = sqlx::query(&format!(
        "SELECT etag, layout FROM objects WHERE bucket = $1 AND key = $2{lock}"
    ))
    .bind(bucket)
    .bind(key.as_bytes().to_vec())
    .fetch_optional(&mut **tx)
    .await?;
    Ok((
        old.map(|r| (r.get::<String, _>(0), r.get::<String, _>(1))),
        false,
    ))
}

/// An object key read by a reader connection. Keys are written from `&str` only; a row that
/// is not UTF-8 is reported as corrupt, as on the sqlx path.
fn utf8_key(bytes: Vec<u8>, column: usize) -> rusqlite::Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Blob, Box::new(e))
    })
}

/// [`Meta::list_objects`] on SQLite's reader connections, without and with an upper bound.
const SQLITE_LIST_SQL: &str = "SELECT key, size, etag, last_modified_ms, checksum FROM objects \
     WHERE bucket = ?1 AND key >= ?2 AND key > ?3 ORDER BY key LIMIT ?4";
const SQLITE_LIST_TO_SQL: &str = "SELECT key, size, etag, last_modified_ms, checksum FROM objects \
     WHERE bucket = ?1 AND key >= ?2 AND key > ?3 AND key < ?4 ORDER BY key LIMIT ?5";

/// [`Meta::get_object`] on SQLite's own reader connections ([`OBJECT_COLS`], in order).
const SQLITE_GET_SQL: &str = "SELECT bucket, key, version_id, size, etag, last_modified_ms, \
     headers, checksum, layout, owner FROM objects WHERE bucket = ?1 AND key = ?2";

/// SQLite's [`lock_current`]: one writer and no row locks, so a plain read of the row.
pub(crate) const SQLITE_CURRENT_SQL: &str =
    "SELECT etag, layout FROM objects WHERE bucket = $1 AND key = $2";

/// Insert or replace a whole object row; binds the [`OBJECT_COLS`] in order.
pub(crate) fn upsert_sql() -> String {
    format!(
        "INSERT INTO objects ({OBJECT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (bucket, key) DO UPDATE SET version_id = excluded.version_id, \
         size = excluded.size, etag = excluded.etag, last_modified_ms = excluded.last_modified_ms, \
         headers = excluded.headers, checksum = excluded.checksum, layout = excluded.layout, \
         owner = excluded.owner"
    )
}

/// Insert or replace an object row inside a transaction.
pub(crate) async fn upsert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    row: &ObjectRow,
) -> Result<(), MetaError> {
    sqlx::query(&upsert_sql())
        .bind(&row.bucket)
        .bind(row.key.as_bytes().to_vec())
        .bind(&row.version_id)
        .bind(row.size)
        .bind(&row.etag)
        .bind(row.last_modified_ms)
        .bind(&row.headers)
        .bind(&row.checksum)
        .bind(&row.layout)
        .bind(&row.owner)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_sqlite_point_read_selects_the_object_columns_in_order() {
        assert!(super::SQLITE_GET_SQL.contains(super::OBJECT_COLS));
    }
}
