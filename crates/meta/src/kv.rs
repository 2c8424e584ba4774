//! A namespaced document table for subsystems whose records are looked up by key (IAM
//! entities, identity pools, identities, user pools). Values are JSON text; `version`
//! supports optimistic concurrency.

use crate::{Meta, MetaError};
use sqlx::Row;

/// Insert a document unless its key is taken (`ns`, `key`, `value`).
pub(crate) const INSERT_SQL: &str =
    "INSERT INTO kv (ns, k, v, version) VALUES ($1, $2, $3, 1) ON CONFLICT (ns, k) DO NOTHING";

impl Meta {
    /// Read one document.
    pub async fn kv_get(&self, ns: &str, key: &str) -> Result<Option<(String, i64)>, MetaError> {
        if let Some(readers) = &self.readers {
            // On the calling thread (see `sqlite_reader.rs`): a point read by primary key.
            return readers.read(|conn| {
                use rusqlite::OptionalExtension;
                conn.prepare_cached("SELECT v, version FROM kv WHERE ns = ?1 AND k = ?2")?
                    .query_row(rusqlite::params![ns, key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            });
        }
        let row = sqlx::query("SELECT v, version FROM kv WHERE ns = $1 AND k = $2")
            .bind(ns)
            .bind(key)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))))
    }

    /// Insert a document; fails with [`MetaError::AlreadyExists`] if the key is taken.
    ///
    /// On SQLite the insert rides the object writes' group commit (see `group.rs`).
    pub async fn kv_insert(&self, ns: &str, key: &str, value: &str) -> Result<(), MetaError> {
        self.insert_doc(ns, key, value, false).await
    }

    /// [`Meta::kv_insert`] for a mark that only needs to survive the process being killed,
    /// not a power cut: a single-use token's "spent" mark, where an answer must not wait for
    /// a disk flush that would hold SQLite's one writer — and every PUT behind it. On
    /// SQLite, when nothing durable shares its batch, the mark is committed to the WAL
    /// without an fsync; the next durable commit flushes it. On PostgreSQL it is an
    /// ordinary insert.
    pub async fn kv_insert_mark(&self, ns: &str, key: &str, value: &str) -> Result<(), MetaError> {
        self.insert_doc(ns, key, value, true).await
    }

    async fn insert_doc(
        &self,
        ns: &str,
        key: &str,
        value: &str,
        relaxed: bool,
    ) -> Result<(), MetaError> {
        let inserted = match (&self.committer, self.engine) {
            (Some(q), crate::Engine::Sqlite) => {
                let (reply, rx) = tokio::sync::oneshot::channel();
                let doc = crate::group::DocInsert {
                    ns: ns.to_owned(),
                    key: key.to_owned(),
                    value: value.to_owned(),
                    relaxed,
                    reply,
                };
                match q.send(crate::group::Job::Doc(doc)).await {
                    Ok(()) => rx
                        .await
                        .unwrap_or_else(|_| Err(MetaError::Batch("committer stopped".into())))?,
                    Err(_) => self.kv_insert_now(ns, key, value).await?,
                }
            }
            _ => self.kv_insert_now(ns, key, value).await?,
        };
        if !inserted {
            return Err(MetaError::AlreadyExists);
        }
        Ok(())
    }

    /// [`Meta::kv_insert`] in a transaction of its own: `true` if inserted.
    pub(crate) async fn kv_insert_now(
        &self,
        ns: &str,
        key: &str,
        value: &str,
    ) -> Result<bool, MetaError> {
        let _g = self.write_guard().await;
        let r = sqlx::query(INSERT_SQL)
            .bind(ns)
            .bind(key)
            .bind(value)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Insert or replace a document unconditionally.
    pub async fn kv_put(&self, ns: &str, key: &str, value: &str) -> Result<(), MetaError> {
        let _g = self.write_guard().await;
        sqlx::query(
            "INSERT INTO kv (ns, k, v, version) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (ns, k) DO UPDATE SET v = excluded.v, version = kv.version + 1",
        )
        .bind(ns)
        .bind(key)
        .bind(value)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Replace a document only if its version is still `expected` (optimistic concurrency).
    pub async fn kv_replace(
        &self,
        ns: &str,
        key: &str,
        value: &str,
        expected: i64,
    ) -> Result<(), MetaError> {
        let _g = self.write_guard().await;
        let r = sqlx::query(
            "UPDATE kv SET v = $3, version = version + 1 WHERE ns = $1 AND k = $2 AND version = $4",
        )
        .bind(ns)
        .bind(key)
        .bind(value)
        .bind(expected)
        .execute(self.pool())
        .await?;
        if r.rows_affected() == 0 {
            return Err(MetaError::PreconditionFailed);
        }
        Ok(())
    }

    /// Delete a document; returns whether it existed.
    pub async fn kv_delete(&self, ns: &str, key: &str) -> Result<bool, MetaError> {
        let _g = self.write_guard().await;
        let r = sqlx::query("DELETE FROM kv WHERE ns = $1 AND k = $2")
            .bind(ns)
            .bind(key)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Documents of a namespace whose key starts with `prefix`, in key order, after `after`.
    pub async fn kv_list(
        &self,
        ns: &str,
        prefix: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>, MetaError> {
        let rows = sqlx::query(
            "SELECT k, v FROM kv WHERE ns = $1 AND k > $2 AND substr(k, 1, CAST($3 AS INTEGER)) = $4 ORDER BY k LIMIT $5",
        )
        .bind(ns)
        .bind(after)
        .bind(prefix.chars().count() as i64)
        .bind(prefix)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
            .collect())
    }
}
