//! The event outbox: one row per (event, target), inserted in the same transaction as the
//! object change it describes, claimed by the dispatcher, deleted once delivered and marked
//! `dead` after too many failed attempts.
//!
//! Claims are leases (`claimed_until`), so a crashed node's claims expire by themselves. The
//! claim is one `UPDATE … WHERE id IN (SELECT … ORDER BY id LIMIT n)`; on PostgreSQL the inner
//! select takes `FOR UPDATE SKIP LOCKED`, so several nodes can dispatch at once.

use crate::{Engine, Meta, MetaError, Millis};
use sqlx::Row;

/// An event to enqueue for one target.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// Target id (`thumbs`).
    pub target: String,
    /// The exact body to deliver (S3 event JSON).
    pub payload: String,
}

/// A claimed outbox row.
#[derive(Clone, Debug)]
pub struct ClaimedEvent {
    /// Row id (increasing in commit order per node).
    pub id: i64,
    /// Body to deliver.
    pub payload: String,
    /// Failed attempts so far.
    pub attempts: i64,
}

/// A dead-lettered event, for the operator.
#[derive(Clone, Debug)]
pub struct DeadEvent {
    /// Row id.
    pub id: i64,
    /// Target id.
    pub target: String,
    /// Body that could not be delivered.
    pub payload: String,
    /// Attempts made.
    pub attempts: i64,
    /// Last delivery error.
    pub last_error: Option<String>,
    /// When the event was committed.
    pub created_ms: Millis,
}

/// Insert events inside a transaction, in order. On SQLite several events go in as one
/// statement (a JSON array unpacked by `json_each`): each statement is a hand-off to the
/// database thread, which costs more than the insert itself.
pub(crate) async fn insert_all<'e>(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    engine: Engine,
    events: impl ExactSizeIterator<Item = &'e NewEvent>,
    now_ms: Millis,
) -> Result<(), sqlx::Error> {
    if engine == Engine::Sqlite && events.len() > 1 {
        let rows: Vec<(&str, &str)> = events
            .map(|e| (e.target.as_str(), e.payload.as_str()))
            .collect();
        let json = serde_json::to_string(&rows).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        // `json_each` yields the array's elements in order, so ids follow commit order.
        sqlx::query(
            "INSERT INTO outbox (target, payload, created_ms, due_ms, attempts, dead, claimed_until) \
             SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), $2, $2, 0, 0, 0 \
             FROM json_each($1) ORDER BY key",
        )
        .bind(json)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
        return Ok(());
    }
    for e in events {
        sqlx::query(INSERT_ONE_SQL)
            .bind(&e.target)
            .bind(&e.payload)
            .bind(now_ms)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// One new pending event: target, payload, now.
pub(crate) const INSERT_ONE_SQL: &str = "INSERT INTO outbox (target, payload, created_ms, due_ms, attempts, dead, claimed_until) \
     VALUES ($1, $2, $3, $3, 0, 0, 0)";

/// Delete the delivered rows whose ids [`id_array`] lists. The ids are one JSON array
/// parameter, so the statement text stays the same and is prepared once, not per commit.
pub(crate) const DELETE_ACKED_SQL: &str =
    "DELETE FROM outbox WHERE id IN (SELECT value FROM json_each($1))";

/// `ids` as the JSON array [`DELETE_ACKED_SQL`] takes.
pub(crate) fn id_array(ids: &[i64]) -> String {
    format!("[{}]", id_list(ids))
}

/// SQLite: delivered rows waiting for deletion are flushed at least this often …
const ACK_FLUSH: std::time::Duration = std::time::Duration::from_millis(500);
/// … and at once when this many are waiting.
const ACK_BATCH: usize = 1024;

/// SQLite: delete delivered rows that no object commit took along (see `Meta::ack_events`).
pub(crate) fn spawn_ack_flusher(meta: Meta) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ACK_FLUSH);
        loop {
            tick.tick().await;
            if meta.pool().is_closed() {
                return;
            }
            if meta.acked_ids().is_empty() {
                continue;
            }
            if let Err(e) = meta.flush_acks().await {
                tracing::warn!(error = %e, "deleting delivered events failed; will retry");
            }
        }
    });
}

pub(crate) fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn id_list(ids: &[i64]) -> String {
    // Ids come from the database as integers: formatting them into the statement is safe.
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

impl Meta {
    /// A receiver that changes whenever events for `target` were committed on this node
    /// (its dispatcher task waits on it instead of polling).
    pub fn outbox_watch(&self, target: &str) -> tokio::sync::watch::Receiver<u64> {
        self.signals()
            .entry(target.to_owned())
            .or_insert_with(|| tokio::sync::watch::channel(0).0)
            .subscribe()
    }

    /// Wake the dispatcher tasks of these events' targets (only those: a task woken for
    /// another target's events would query the outbox for nothing).
    pub(crate) fn signal_outbox<'e>(&self, events: impl IntoIterator<Item = &'e NewEvent>) {
        let signals = self.signals();
        let mut last: Option<&str> = None;
        for e in events {
            // Consecutive events usually share a target; waking twice is harmless anyway.
            if last != Some(e.target.as_str()) {
                if let Some(s) = signals.get(&e.target) {
                    s.send_modify(|n| *n = n.wrapping_add(1));
                }
                last = Some(e.target.as_str());
            }
        }
    }

    fn signals(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, tokio::sync::watch::Sender<u64>>>
    {
        // Only senders live here: a panic elsewhere cannot leave the map inconsistent.
        self.outbox_signals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Enqueue events on their own (the `s3:TestEvent` of a saved configuration).
    pub async fn enqueue_events(&self, events: &[NewEvent]) -> Result<(), MetaError> {
        if events.is_empty() {
            return Ok(());
        }
        {
            let _g = self.write_guard().await;
            let mut tx = self.begin_write().await?;
            insert_all(&mut tx, self.engine, events.iter(), now_ms()).await?;
            tx.commit().await?;
        }
        self.signal_outbox(events);
        Ok(())
    }

    /// Claim up to `limit` deliverable events of `target` for `lease_ms`, oldest first.
    /// Rows behind an event that waits for its retry are not claimed, so a target sees its
    /// events in commit order.
    ///
    /// On SQLite this process is the only dispatcher and each target has one task, so the
    /// claim is a plain read: no write lock, no fsync competing with object commits (leases
    /// matter only when several nodes share PostgreSQL).
    pub async fn claim_events(
        &self,
        target: &str,
        now_ms: Millis,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedEvent>, MetaError> {
        // `id > $5`: above what this node's dispatcher delivered (SQLite; 0 on PostgreSQL,
        // where delivered rows are deleted at once). With the (target, dead, id) index both
        // the scan and the subquery start there, so a claim costs what it returns, not the
        // delivered rows still waiting for deletion.
        const DUE: &str = "target = $1 AND dead = 0 AND id > $5 AND claimed_until < $2 \
            AND due_ms <= $2 \
            AND id < COALESCE((SELECT MIN(id) FROM outbox \
              WHERE target = $1 AND dead = 0 AND id > $5 AND due_ms > $2), \
              9223372036854775807)";
        // On PostgreSQL several nodes claim at once: SKIP LOCKED hands each row to one of
        // them, so one target's events may be in flight on two nodes (order is per node).
        let sql = match self.engine {
            Engine::Postgres => format!(
                "UPDATE outbox SET claimed_until = $3 WHERE id IN (\
                   SELECT id FROM outbox WHERE {DUE} ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, payload, attempts"
            ),
            // `$3 = $3` keeps the parameter list the same for both engines.
            Engine::Sqlite => {
                format!(
                    "SELECT id, payload, attempts FROM outbox WHERE {DUE} AND $3 = $3 ORDER BY id LIMIT $4"
                )
            }
        };
        let rows = sqlx::query(&sql)
            .bind(target)
            .bind(now_ms)
            .bind(now_ms + lease_ms)
            .bind(limit)
            .bind(self.delivered_upto(target))
            .fetch_all(self.pool())
            .await?;
        let mut out: Vec<ClaimedEvent> = rows
            .into_iter()
            .map(|r| ClaimedEvent {
                id: r.get(0),
                payload: r.get(1),
                attempts: r.get(2),
            })
            .collect();
        out.sort_by_key(|e| e.id);
        Ok(out)
    }

    /// Delivered: remove the rows. `ids` are a prefix, in order, of the rows last claimed
    /// for `target` — what a dispatcher delivered before the first failure.
    ///
    /// On SQLite the rows are not deleted at once: the ids are remembered and deleted in the
    /// next object commit's transaction, or within [`ACK_FLUSH`] by a transaction of their
    /// own, and claims start above the highest delivered id. A delete in its own transaction
    /// would cost one more fsync and take the single writer from the object commits; losing
    /// it in a crash only means those events are delivered again (same bytes), which
    /// at-least-once allows.
    pub async fn ack_events(&self, target: &str, ids: &[i64]) -> Result<(), MetaError> {
        let Some(&last) = ids.iter().max() else {
            return Ok(());
        };
        if self.engine == Engine::Sqlite {
            {
                let mut upto = self.upto_map();
                match upto.get_mut(target) {
                    Some(v) => *v = (*v).max(last),
                    None => {
                        upto.insert(target.to_owned(), last);
                    }
                }
            }
            let many = {
                let mut acked = self.acked_ids();
                acked.extend_from_slice(ids);
                acked.len() >= ACK_BATCH
            };
            if many {
                self.flush_acks().await?;
            }
            return Ok(());
        }
        sqlx::query(&format!(
            "DELETE FROM outbox WHERE id IN ({})",
            id_list(ids)
        ))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    fn upto_map(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, i64>> {
        self.delivered_upto
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The highest id delivered for `target` on this node (SQLite), else 0.
    fn delivered_upto(&self, target: &str) -> i64 {
        if self.engine != Engine::Sqlite {
            return 0;
        }
        self.upto_map().get(target).copied().unwrap_or(0)
    }

    /// The delivered ids whose rows are not deleted yet (SQLite).
    pub(crate) fn acked_snapshot(&self) -> Vec<i64> {
        self.acked_ids().clone()
    }

    fn acked_ids(&self) -> std::sync::MutexGuard<'_, Vec<i64>> {
        // Only ids are kept here: a panic elsewhere cannot leave them inconsistent.
        self.acked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `AND id NOT IN (…)` for the delivered rows not deleted yet (SQLite), or nothing.
    fn not_acked(&self) -> String {
        let acked = self.acked_ids();
        if acked.is_empty() {
            String::new()
        } else {
            format!(" AND id NOT IN ({})", id_list(&acked))
        }
    }

    /// Delete the delivered rows remembered by [`Meta::ack_events`] in a transaction of their
    /// own.
    pub async fn flush_acks(&self) -> Result<(), MetaError> {
        if self.acked_ids().is_empty() {
            return Ok(());
        }
        let _g = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let ids = self.flush_acks_in(&mut tx).await?;
        // On failure the ids stay remembered for the next try (claims go on skipping them).
        tx.commit().await?;
        self.acks_flushed(&ids);
        Ok(())
    }

    /// Inside a write transaction (SQLite, write lock held): delete the remembered delivered
    /// rows. Object commits do the same on the writer thread (`sqlite_writer.rs`, with
    /// [`Meta::acked_snapshot`]). Returns their ids, to forget with [`Meta::acks_flushed`] once the
    /// transaction has committed — not before: until then the rows are still in the table
    /// for every other reader, and only the remembered ids keep counts and claims from
    /// seeing them as pending again.
    pub(crate) async fn flush_acks_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<Vec<i64>, sqlx::Error> {
        let ids = self.acked_snapshot();
        if !ids.is_empty() {
            sqlx::query(DELETE_ACKED_SQL)
                .bind(id_array(&ids))
                .execute(&mut **tx)
                .await?;
        }
        Ok(ids)
    }

    /// The rows of `ids` (from [`Meta::flush_acks_in`]) are deleted for good: stop
    /// remembering them.
    pub(crate) fn acks_flushed(&self, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        let done: std::collections::HashSet<i64> = ids.iter().copied().collect();
        self.acked_ids().retain(|id| !done.contains(id));
    }

    /// Give claimed rows back without counting an attempt.
    pub async fn release_events(&self, ids: &[i64]) -> Result<(), MetaError> {
        if ids.is_empty() {
            return Ok(());
        }
        let _g = self.write_guard().await;
        sqlx::query(&format!(
            "UPDATE outbox SET claimed_until = 0 WHERE id IN ({})",
            id_list(ids)
        ))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A delivery failed: count the attempt and retry at `due_ms`, or dead-letter the row.
    pub async fn fail_event(
        &self,
        id: i64,
        due_ms: Millis,
        error: &str,
        dead: bool,
    ) -> Result<(), MetaError> {
        let _g = self.write_guard().await;
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, due_ms = $2, last_error = $3, \
             dead = $4, claimed_until = 0 WHERE id = $1",
        )
        .bind(id)
        .bind(due_ms)
        .bind(error)
        .bind(i64::from(dead))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Drop every claim (start-up on SQLite, where this process is the only dispatcher).
    pub async fn reset_event_claims(&self) -> Result<(), MetaError> {
        if self.engine != Engine::Sqlite {
            return Ok(());
        }
        let _g = self.write_guard().await;
        sqlx::query("UPDATE outbox SET claimed_until = 0 WHERE claimed_until <> 0")
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// When `target`'s next undelivered event is due (None: nothing pending).
    pub async fn next_event_due(&self, target: &str) -> Result<Option<Millis>, MetaError> {
        let v: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(due_ms) FROM outbox WHERE target = $1 AND dead = 0 AND id > $2",
        )
        .bind(target)
        .bind(self.delivered_upto(target))
        .fetch_one(self.pool())
        .await?;
        Ok(v)
    }

    /// Number of pending and of dead-lettered events.
    pub async fn outbox_counts(&self) -> Result<(i64, i64), MetaError> {
        let row = sqlx::query(&format!(
            "SELECT COUNT(CASE WHEN dead = 0{} THEN 1 END), \
             COUNT(CASE WHEN dead <> 0 THEN 1 END) FROM outbox",
            self.not_acked()
        ))
        .fetch_one(self.pool())
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    /// Creation time (ms since the epoch) of the oldest pending event, if any: the outbox lag.
    pub async fn oldest_pending_ms(&self) -> Result<Option<i64>, MetaError> {
        let v: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT MIN(created_ms) FROM outbox WHERE dead = 0{}",
            self.not_acked()
        ))
        .fetch_one(self.pool())
        .await?;
        Ok(v)
    }

    /// Pending (not dead) events per target.
    pub async fn pending_by_target(&self) -> Result<Vec<(String, i64)>, MetaError> {
        let rows = sqlx::query(&format!(
            "SELECT target, COUNT(*) FROM outbox WHERE dead = 0{} GROUP BY target ORDER BY target",
            self.not_acked()
        ))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
            .collect())
    }

    /// Dead-lettered events, oldest first.
    pub async fn dead_events(&self, limit: i64) -> Result<Vec<DeadEvent>, MetaError> {
        let rows = sqlx::query(
            "SELECT id, target, payload, attempts, last_error, created_ms FROM outbox \
             WHERE dead <> 0 ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| DeadEvent {
                id: r.get(0),
                target: r.get(1),
                payload: r.get(2),
                attempts: r.get(3),
                last_error: r.get(4),
                created_ms: r.get(5),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Delivered rows whose DELETE is not committed yet are still in the table for other
    /// readers: they must not count as pending (nor be claimed) in the meantime.
    #[tokio::test]
    async fn delivered_rows_never_count_as_pending_while_their_delete_commits() {
        let dir = std::env::temp_dir().join(format!("cubby-outbox-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let meta = Meta::connect(&format!("sqlite://{}", dir.join("meta.db").display()))
            .await
            .unwrap();
        let events: Vec<NewEvent> = (0..5)
            .map(|i| NewEvent {
                target: "t".into(),
                payload: i.to_string(),
            })
            .collect();
        meta.enqueue_events(&events).await.unwrap();
        let claimed = meta
            .claim_events("t", i64::MAX / 4, 60_000, 10)
            .await
            .unwrap();
        let ids: Vec<i64> = claimed.iter().map(|e| e.id).collect();
        assert_eq!(ids.len(), 5);
        meta.ack_events("t", &ids).await.unwrap();
        assert_eq!(meta.outbox_counts().await.unwrap(), (0, 0));

        // An object commit takes the deletes along; before it commits, other readers still
        // see the rows.
        let guard = meta.write_guard().await;
        let mut tx = meta.begin_write().await.unwrap();
        let flushed = meta.flush_acks_in(&mut tx).await.unwrap();
        assert_eq!(flushed.len(), 5);
        assert_eq!(meta.outbox_counts().await.unwrap(), (0, 0));
        assert_eq!(meta.oldest_pending_ms().await.unwrap(), None);
        tx.commit().await.unwrap();
        meta.acks_flushed(&flushed);
        drop(guard);
        assert_eq!(meta.outbox_counts().await.unwrap(), (0, 0));
        assert!(meta.acked_ids().is_empty());
        meta.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }
}
