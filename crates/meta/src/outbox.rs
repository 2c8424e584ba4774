//! The event outbox: rows of events for one target, inserted in the same transaction as the
//! object change they describe, claimed by the dispatcher, deleted once delivered and marked
//! `dead` after too many failed attempts.
//!
//! On SQLite a transaction's events for one target share one row (their payloads joined by
//! [`ROW_SEP`], counted in `events`): a group commit of 16 notified PUTs writes one row per
//! target, not 16, and the dispatcher reads and deletes one. Claims hand out events, not
//! rows; a failure inside a row keeps the row's undelivered rest (`Meta::fail_event`). On
//! PostgreSQL each event has its row.
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
    /// What to deliver: the body itself, or a form the dispatcher expands into it
    /// (`cubby_events::model::delivery_body`). Opaque to this crate.
    pub payload: String,
}

/// A claimed event.
#[derive(Clone, Debug)]
pub struct ClaimedEvent {
    /// Id of its row (increasing in commit order per node; events of one row share it).
    pub id: i64,
    /// Its place in the row (0 for the first).
    pub offset: u32,
    /// Events in the row.
    pub row_events: u32,
    /// Body to deliver.
    pub payload: String,
    /// Failed attempts so far. A row's count belongs to its first event: the events after
    /// it were never attempted alone.
    pub attempts: i64,
}

impl ClaimedEvent {
    /// Is this the row's last event (so delivering it, and those before, finishes the row)?
    fn ends_row(&self) -> bool {
        self.offset + 1 >= self.row_events
    }
}

/// Separates the events of one outbox row: a control character, which JSON text never holds
/// raw. A payload that contains it anyway is given a row of its own (a row of one event is
/// never split).
pub(crate) const ROW_SEP: char = '\u{1e}';

/// An outbox row to insert: one target's events, in order.
pub(crate) struct RowInsert<'e> {
    pub target: &'e str,
    pub payload: std::borrow::Cow<'e, str>,
    pub events: i64,
}

/// `events` as rows, one per target in order of first appearance (fewer rows: each costs a
/// B-tree insert, a delete and a read). Each target's events keep their order.
pub(crate) fn group_rows<'e>(events: impl IntoIterator<Item = &'e NewEvent>) -> Vec<RowInsert<'e>> {
    let mut rows: Vec<RowInsert<'e>> = Vec::new();
    // Per target, the row still open for more events (targets are few: a list will do).
    let mut open: Vec<(&'e str, usize)> = Vec::new();
    for e in events {
        let target = e.target.as_str();
        let slot = open.iter().position(|(t, _)| *t == target);
        if memchr::memchr(ROW_SEP as u8, e.payload.as_bytes()).is_some() {
            // Alone, and the target's later events start a new row after it.
            if let Some(i) = slot {
                open.swap_remove(i);
            }
            rows.push(RowInsert {
                target,
                payload: std::borrow::Cow::Borrowed(&e.payload),
                events: 1,
            });
            continue;
        }
        match slot {
            Some(i) => {
                let row = &mut rows[open[i].1];
                let joined = row.payload.to_mut();
                joined.push(ROW_SEP);
                joined.push_str(&e.payload);
                row.events += 1;
            }
            None => {
                open.push((target, rows.len()));
                rows.push(RowInsert {
                    target,
                    payload: std::borrow::Cow::Borrowed(&e.payload),
                    events: 1,
                });
            }
        }
    }
    rows
}

/// The claimable rows of a target (see [`Meta::claim_events`]); parameters: `$1` target,
/// `$2` now, `$5` the highest id delivered on this node.
///
/// `id > $5`: above what this node's dispatcher delivered (SQLite; 0 on PostgreSQL,
/// where delivered rows are deleted at once). On SQLite the rows are read in id order
/// from there, so a claim costs what it returns, not the delivered rows still waiting
/// for deletion. The subquery finds the first event waiting for a retry: only an
/// event that failed before (`attempts > 0`) can be due later, a new one is due when
/// written, and those rows alone are in the (partial, on SQLite) index.
const DUE: &str = "target = $1 AND dead = 0 AND id > $5 AND claimed_until < $2 \
    AND due_ms <= $2 \
    AND id < COALESCE((SELECT MIN(id) FROM outbox \
      WHERE attempts > 0 AND target = $1 AND dead = 0 AND id > $5 AND due_ms > $2), \
      9223372036854775807)";

/// The SQLite claim (a plain read, see [`Meta::claim_events`]): [`DUE`] with `?N`
/// placeholders, which bind by number (rusqlite numbers `$N` by order of appearance).
static SQLITE_CLAIM_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT id, payload, attempts, events FROM outbox WHERE {} ORDER BY id LIMIT ?4",
        DUE.replace("$1", "?1")
            .replace("$2", "?2")
            .replace("$5", "?3")
    )
});

/// Append the events of one claimed outbox row to `out`, in order. Only the first event of a
/// row carries the row's attempt count: the events after a failed one never had an attempt.
fn split_row(out: &mut Vec<ClaimedEvent>, id: i64, payload: String, attempts: i64, events: i64) {
    if events <= 1 {
        out.push(ClaimedEvent {
            id,
            offset: 0,
            row_events: 1,
            payload,
            attempts,
        });
        return;
    }
    // One vectorized scan; `row_events` is filled in once the pieces are counted.
    let first = out.len();
    let mut start = 0;
    let ends = memchr::memchr_iter(ROW_SEP as u8, payload.as_bytes()).chain([payload.len()]);
    for (offset, end) in (0u32..).zip(ends) {
        out.push(ClaimedEvent {
            id,
            offset,
            row_events: 0,
            payload: payload.get(start..end).unwrap_or_default().to_owned(),
            attempts: if offset == 0 { attempts } else { 0 },
        });
        start = end + 1;
    }
    let row_events = u32::try_from(out.len() - first).unwrap_or(u32::MAX);
    for e in &mut out[first..] {
        e.row_events = row_events;
    }
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

/// One new pending event on PostgreSQL, which numbers the rows: target, payload, now.
const PG_INSERT_SQL: &str = "INSERT INTO outbox (target, payload, created_ms, due_ms, attempts, dead, claimed_until) \
     VALUES ($1, $2, $3, $3, 0, 0, 0)";

/// One new pending row on SQLite: target, payload, now, the id cubby gives it
/// (`Meta::next_outbox_id`) and its number of events. `?N`, not `$N`: SQLite numbers `$N`
/// parameters in order of appearance, and rusqlite binds by that number.
pub(crate) const SQLITE_INSERT_SQL: &str = "INSERT INTO outbox (id, target, payload, created_ms, due_ms, attempts, dead, claimed_until, events) \
     VALUES (?4, ?1, ?2, ?3, ?3, 0, 0, 0, ?5)";

/// Take `n` consecutive outbox ids (SQLite; the writer lock must be held, so that ids
/// follow commit order). Returns the first.
pub(crate) fn take_outbox_ids(next: &std::sync::atomic::AtomicI64, n: usize) -> i64 {
    next.fetch_add(
        i64::try_from(n).unwrap_or(i64::MAX),
        std::sync::atomic::Ordering::Relaxed,
    )
}

/// Delete the delivered rows with ids from `?1` to `?2`: one statement per run of
/// consecutive ids ([`id_runs`]). Rows are numbered in commit order and one target's
/// dispatcher usually keeps up, so a batch of acks is a run or a few, and each statement is a
/// range scan of the rowid B-tree: no list to encode and unpack, no temporary index.
pub(crate) const DELETE_RANGE_SQL: &str = "DELETE FROM outbox WHERE id >= ?1 AND id <= ?2";

/// `ids` as runs of consecutive values `(first, last)`, in ascending order. A run never
/// spans an id that is not in `ids` (another target's undelivered row, say).
pub(crate) fn id_runs(ids: &[i64]) -> Vec<(i64, i64)> {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut runs: Vec<(i64, i64)> = Vec::new();
    for id in sorted {
        match runs.last_mut() {
            Some((_, last)) if last.checked_add(1) == Some(id) => *last = id,
            _ => runs.push((id, id)),
        }
    }
    runs
}

/// SQLite: the delivered rows not deleted yet, in the order they were acknowledged.
#[derive(Debug, Default)]
pub(crate) struct AckedRows {
    ids: Vec<i64>,
    /// When the oldest of `ids` was acknowledged (`None` when there are none).
    since: Option<std::time::Instant>,
}

/// SQLite: an object commit takes the delivered rows along once this many wait …
const TAKE_ALONG_ROWS: usize = 256;
/// … or once the oldest has waited this long: fewer, longer runs to delete than a few rows
/// in every commit. With the range deletes, an event cost 1.2k fewer user-space instructions
/// than with a JSON id list taken along by every commit (`bench/events-instructions.sh`,
/// 16 clients: +20.8k → +19.6k per event); the wall-clock bench could not tell the two apart.
const TAKE_ALONG_AGE: std::time::Duration = std::time::Duration::from_millis(250);

/// SQLite: delivered rows that no object commit took along are deleted by a transaction of
/// their own once the oldest has waited this long (checked as often) …
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
            // Rows an object commit will take along soon are left to it.
            let waited = meta.acked_ids().since.map(|t| t.elapsed());
            if waited.is_none_or(|w| w < ACK_FLUSH) {
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
    /// Insert events inside a write transaction (writer lock held), in order. On SQLite
    /// they go in as one row per target ([`group_rows`]), several rows in one statement (a
    /// JSON array unpacked by `json_each`): each statement is a hand-off to the database
    /// thread, which costs more than the insert itself.
    pub(crate) async fn insert_events<'e>(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        events: impl ExactSizeIterator<Item = &'e NewEvent>,
        now_ms: Millis,
    ) -> Result<(), sqlx::Error> {
        if events.len() == 0 {
            return Ok(());
        }
        if self.engine == Engine::Postgres {
            for e in events {
                sqlx::query(PG_INSERT_SQL)
                    .bind(&e.target)
                    .bind(&e.payload)
                    .bind(now_ms)
                    .execute(&mut **tx)
                    .await?;
            }
            return Ok(());
        }
        // These rows do not pass the writer thread's hand-off: their targets' dispatchers
        // must read the table (see `fresh.rs`).
        let events: Vec<&NewEvent> = events.collect();
        self.fresh
            .disarm_all(events.iter().map(|e| e.target.as_str()));
        let rows = group_rows(events);
        let first = take_outbox_ids(&self.next_outbox_id, rows.len());
        if let [row] = rows.as_slice() {
            sqlx::query(SQLITE_INSERT_SQL)
                .bind(row.target)
                .bind(row.payload.as_ref())
                .bind(now_ms)
                .bind(first)
                .bind(row.events)
                .execute(&mut **tx)
                .await?;
            return Ok(());
        }
        let rows: Vec<(&str, &str, i64)> = rows
            .iter()
            .map(|r| (r.target, r.payload.as_ref(), r.events))
            .collect();
        let json = serde_json::to_string(&rows).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        // `json_each` yields the array's elements in order, its `key` counting from 0.
        sqlx::query(
            "INSERT INTO outbox (id, target, payload, created_ms, due_ms, attempts, dead, claimed_until, events) \
             SELECT ?3 + key, json_extract(value, '$[0]'), json_extract(value, '$[1]'), ?2, ?2, 0, 0, 0, \
             json_extract(value, '$[2]') FROM json_each(?1) ORDER BY key",
        )
        .bind(json)
        .bind(now_ms)
        .bind(first)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

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
            self.insert_events(&mut tx, events.iter(), now_ms()).await?;
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
        let limit_events = usize::try_from(limit).unwrap_or(0);
        let mut out: Vec<ClaimedEvent> = Vec::new();
        let upto = self.delivered_upto(target);
        if let Some(readers) = &self.readers {
            // SQLite: a plain read, on the calling thread (`sqlite_reader.rs`).
            readers.read(|conn| {
                let mut stmt = conn.prepare_cached(&SQLITE_CLAIM_SQL)?;
                let mut rows = stmt.query(rusqlite::params![target, now_ms, upto, limit])?;
                while let Some(r) = rows.next()? {
                    split_row(&mut out, r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
                    // Whole rows only: the rows not taken are simply read again next time.
                    if out.len() >= limit_events {
                        break;
                    }
                }
                Ok(())
            })?;
            return Ok(out);
        }
        // On PostgreSQL several nodes claim at once: SKIP LOCKED hands each row to one of
        // them, so one target's events may be in flight on two nodes (order is per node).
        // Each row there is one event, so the statement's LIMIT stops at `limit`.
        let sql = format!(
            "UPDATE outbox SET claimed_until = $3 WHERE id IN (\
               SELECT id FROM outbox WHERE {DUE} ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING id, payload, attempts, events"
        );
        let rows = sqlx::query(&sql)
            .bind(target)
            .bind(now_ms)
            .bind(now_ms + lease_ms)
            .bind(limit)
            .bind(upto)
            .fetch_all(self.pool())
            .await?;
        for r in rows {
            split_row(
                &mut out,
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get(2)?,
                r.try_get(3)?,
            );
        }
        // PostgreSQL returns the updated rows in no particular order; the sort is stable,
        // so a row's events stay in theirs.
        out.sort_by_key(|e| e.id);
        Ok(out)
    }

    /// SQLite: let `target`'s dispatcher take new rows as the writer commits them
    /// ([`Meta::take_fresh_events`]) instead of claiming them from the table. True when that
    /// holds: the table has nothing undelivered for `target`, and every row committed for it
    /// from now on is handed over (until something disarms it, see `fresh.rs`). Always false
    /// on PostgreSQL, where several nodes dispatch.
    pub async fn arm_fresh_events(&self, target: &str) -> Result<bool, MetaError> {
        let Some(readers) = &self.readers else {
            return Ok(false);
        };
        let armed_at = {
            // No write is half-way through its transaction: each committed before this (the
            // check below sees its rows, all numbered below `armed_at`) or commits after (its
            // rows are handed over).
            let _g = self.write_guard().await;
            self.fresh.arm(target);
            self.next_outbox_id
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        let upto = self.delivered_upto(target);
        let pending: bool = readers.read(|conn| {
            conn.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM outbox \
                 WHERE target = ?1 AND dead = 0 AND id > ?2 AND id < ?3)",
            )?
            .query_row(rusqlite::params![target, upto, armed_at], |r| r.get(0))
        })?;
        if pending {
            self.fresh.disarm(target);
        }
        Ok(!pending)
    }

    /// Up to `limit` of `target`'s events committed since [`Meta::arm_fresh_events`] (whole
    /// rows, oldest first), as a claim would return them; `None` once the hand-off is
    /// disarmed: claim from the table again ([`Meta::claim_events`]).
    pub fn take_fresh_events(&self, target: &str, limit: i64) -> Option<Vec<ClaimedEvent>> {
        let rows = self
            .fresh
            .take(target, usize::try_from(limit).unwrap_or(0))?;
        let mut out = Vec::new();
        for r in rows {
            split_row(&mut out, r.id, r.payload, 0, r.events);
        }
        Some(out)
    }

    /// Stop handing `target`'s new rows over (its dispatcher claims from the table again).
    pub fn disarm_fresh_events(&self, target: &str) {
        self.fresh.disarm(target);
    }

    /// Delivered: remove the rows these events finish. `delivered` is a prefix, in order,
    /// of the events last claimed for `target` — what a dispatcher delivered before the
    /// first failure. A row whose delivery stopped inside it stays; [`Meta::fail_event`]
    /// drops its delivered head.
    ///
    /// On SQLite the rows are not deleted at once: the ids are remembered and deleted in an
    /// object commit's transaction once [`TAKE_ALONG_ROWS`] wait or the oldest has waited
    /// [`TAKE_ALONG_AGE`], or by a transaction of their own after [`ACK_FLUSH`], and claims
    /// start above the highest delivered id. A delete in its own transaction
    /// would cost one more fsync and take the single writer from the object commits; losing
    /// it in a crash only means those events are delivered again (same bytes), which
    /// at-least-once allows.
    pub async fn ack_events(
        &self,
        target: &str,
        delivered: &[ClaimedEvent],
    ) -> Result<(), MetaError> {
        let ids: Vec<i64> = delivered
            .iter()
            .filter(|e| e.ends_row())
            .map(|e| e.id)
            .collect();
        let ids = ids.as_slice();
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
                if acked.ids.is_empty() {
                    acked.since = Some(std::time::Instant::now());
                }
                acked.ids.extend_from_slice(ids);
                acked.ids.len() >= ACK_BATCH
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
        self.acked_ids().ids.clone()
    }

    /// What an object commit should delete along with its rows (SQLite): the delivered ids
    /// once there are enough of them or they waited long enough, else none.
    pub(crate) fn acked_to_take_along(&self) -> Vec<i64> {
        let acked = self.acked_ids();
        let due = acked.ids.len() >= TAKE_ALONG_ROWS
            || acked.since.is_some_and(|t| t.elapsed() >= TAKE_ALONG_AGE);
        if due { acked.ids.clone() } else { Vec::new() }
    }

    fn acked_ids(&self) -> std::sync::MutexGuard<'_, AckedRows> {
        // Only ids are kept here: a panic elsewhere cannot leave them inconsistent.
        self.acked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `AND id NOT IN (…)` for the delivered rows not deleted yet (SQLite), or nothing.
    fn not_acked(&self) -> String {
        let acked = self.acked_ids();
        if acked.ids.is_empty() {
            String::new()
        } else {
            format!(" AND id NOT IN ({})", id_list(&acked.ids))
        }
    }

    /// Delete the delivered rows remembered by [`Meta::ack_events`] in a transaction of their
    /// own.
    pub async fn flush_acks(&self) -> Result<(), MetaError> {
        if self.acked_ids().ids.is_empty() {
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
        for (first, last) in id_runs(&ids) {
            sqlx::query(DELETE_RANGE_SQL)
                .bind(first)
                .bind(last)
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
        let mut acked = self.acked_ids();
        // The ids taken were all there was then, and ids are only appended in between: they
        // are the list's head.
        if acked.ids.starts_with(ids) {
            acked.ids.drain(..ids.len());
        } else {
            let done: std::collections::HashSet<i64> = ids.iter().copied().collect();
            acked.ids.retain(|id| !done.contains(id));
        }
        // The rest was acknowledged since the ids were taken: recently.
        acked.since = (!acked.ids.is_empty()).then(std::time::Instant::now);
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

    /// Delivering `failed` failed; the events of its row before it were delivered. Count the
    /// attempt and retry at `due_ms`, or dead-letter the event.
    ///
    /// The row keeps what is still to deliver: from `failed` on when it will be retried
    /// (`failed` first, so the row's attempt count is its own). A dead-lettered event moves
    /// to a dead row of its own, and its row keeps the events after it, due at once.
    pub async fn fail_event(
        &self,
        failed: &ClaimedEvent,
        due_ms: Millis,
        error: &str,
        dead: bool,
    ) -> Result<(), MetaError> {
        const UPDATE: &str = "UPDATE outbox SET payload = COALESCE($6, payload), \
             events = COALESCE($7, events), attempts = $5, due_ms = $2, last_error = $3, \
             dead = $4, claimed_until = 0 WHERE id = $1";
        let attempts = failed.attempts + 1;
        let _g = self.write_guard().await;
        let mut tx = self.begin_write().await?;
        let payload: Option<String> = if failed.row_events > 1 {
            sqlx::query_scalar("SELECT payload FROM outbox WHERE id = $1")
                .bind(failed.id)
                .fetch_optional(&mut *tx)
                .await?
        } else {
            None
        };
        let events: Vec<&str> = payload
            .as_deref()
            .map_or_else(Vec::new, |p| p.split(ROW_SEP).collect());
        let from = usize::try_from(failed.offset).unwrap_or(usize::MAX);
        // The row's undelivered part: `events[from..]` (all of it for a row of one event).
        let (head, rest): (Option<&str>, &[&str]) = match events.get(from..) {
            Some([head, rest @ ..]) => (Some(head), rest),
            _ => (None, &[]),
        };
        let join = |events: &[&str]| events.join(&ROW_SEP.to_string());
        let count = |events: &[&str]| i64::try_from(events.len()).unwrap_or(i64::MAX);
        if dead && !rest.is_empty() {
            // The dead event gets a row of its own; the row goes on with the rest.
            let sql = match self.engine {
                Engine::Postgres => {
                    "INSERT INTO outbox (target, payload, created_ms, due_ms, attempts, dead, claimed_until, last_error, events) \
                     SELECT target, $2, created_ms, $3, $4, 1, 0, $5, 1 FROM outbox WHERE id = $1"
                }
                Engine::Sqlite => {
                    "INSERT INTO outbox (id, target, payload, created_ms, due_ms, attempts, dead, claimed_until, last_error, events) \
                     SELECT $6, target, $2, created_ms, $3, $4, 1, 0, $5, 1 FROM outbox WHERE id = $1"
                }
            };
            let insert = sqlx::query(sql)
                .bind(failed.id)
                .bind(head.unwrap_or_default())
                .bind(due_ms)
                .bind(attempts)
                .bind(error);
            let insert = match self.engine {
                Engine::Postgres => insert,
                Engine::Sqlite => insert.bind(take_outbox_ids(&self.next_outbox_id, 1)),
            };
            insert.execute(&mut *tx).await?;
            sqlx::query(
                "UPDATE outbox SET payload = $2, events = $3, attempts = 0, due_ms = created_ms, \
                 last_error = NULL, claimed_until = 0 WHERE id = $1",
            )
            .bind(failed.id)
            .bind(join(rest))
            .bind(count(rest))
            .execute(&mut *tx)
            .await?;
        } else {
            // The row from `failed` on (a dead event: that event alone, nothing follows it),
            // with the attempt counted. A row of one event keeps its payload.
            let keep: Option<&[&str]> = head.map(|_| {
                let undelivered = &events[from..];
                if dead { &undelivered[..1] } else { undelivered }
            });
            sqlx::query(UPDATE)
                .bind(failed.id)
                .bind(due_ms)
                .bind(error)
                .bind(i64::from(dead))
                .bind(attempts)
                .bind(keep.map(join))
                .bind(keep.map(count))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
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

    /// When `target`'s next event that waits for a retry is due (None: none waits; events
    /// that never failed are due at once).
    pub async fn next_event_due(&self, target: &str) -> Result<Option<Millis>, MetaError> {
        if let Some(readers) = &self.readers {
            let upto = self.delivered_upto(target);
            return readers.read(|conn| {
                conn.prepare_cached(
                    "SELECT MIN(due_ms) FROM outbox \
                     WHERE attempts > 0 AND target = ?1 AND dead = 0 AND id > ?2",
                )?
                .query_row(rusqlite::params![target, upto], |r| r.get(0))
            });
        }
        let v: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(due_ms) FROM outbox WHERE attempts > 0 AND target = $1 AND dead = 0 AND id > $2",
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
            "SELECT CAST(COALESCE(SUM(CASE WHEN dead = 0{} THEN events END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN dead <> 0 THEN events END), 0) AS BIGINT) FROM outbox",
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
            "SELECT target, CAST(SUM(events) AS BIGINT) FROM outbox WHERE dead = 0{} GROUP BY target ORDER BY target",
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
             WHERE attempts > 0 AND dead <> 0 ORDER BY id LIMIT $1",
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

    /// A fresh SQLite metadata store in a temporary directory (removed by the test).
    async fn sqlite_meta() -> (std::path::PathBuf, Meta) {
        let dir = std::env::temp_dir().join(format!("cubby-outbox-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let meta = Meta::connect(&format!("sqlite://{}", dir.join("meta.db").display()))
            .await
            .unwrap();
        (dir, meta)
    }

    #[test]
    fn id_runs_join_consecutive_ids_only() {
        assert_eq!(id_runs(&[]), vec![]);
        assert_eq!(id_runs(&[7]), vec![(7, 7)]);
        assert_eq!(id_runs(&[3, 4, 5, 6]), vec![(3, 6)]);
        // Two targets' acks interleave; 5 belongs to neither list and must stay.
        assert_eq!(id_runs(&[1, 3, 2, 6, 4, 7]), vec![(1, 4), (6, 7)]);
        assert_eq!(id_runs(&[2, 2, 1]), vec![(1, 2)]);
        assert_eq!(
            id_runs(&[i64::MAX, i64::MAX - 1]),
            vec![(i64::MAX - 1, i64::MAX)]
        );
    }

    /// The range deletes of delivered rows leave another target's row between them alone.
    #[tokio::test]
    async fn deleting_delivered_runs_keeps_rows_in_between() {
        let (dir, meta) = sqlite_meta().await;
        for target in ["a", "b", "a", "b", "a"] {
            let e = NewEvent {
                target: target.into(),
                payload: format!("{target}-event"),
            };
            meta.enqueue_events(std::slice::from_ref(&e)).await.unwrap();
        }
        let guard = meta.write_guard().await;
        let claimed = meta
            .claim_events("a", i64::MAX / 4, 60_000, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 3);
        meta.ack_events("a", &claimed).await.unwrap();
        let mut tx = meta.begin_write().await.unwrap();
        let flushed = meta.flush_acks_in(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        meta.acks_flushed(&flushed);
        drop(guard);
        assert!(meta.acked_ids().ids.is_empty());
        let left = meta
            .claim_events("b", i64::MAX / 4, 60_000, 10)
            .await
            .unwrap();
        let payloads: Vec<&str> = left.iter().map(|e| e.payload.as_str()).collect();
        assert_eq!(payloads, ["b-event", "b-event"]);
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
            .fetch_one(meta.pool())
            .await
            .unwrap();
        assert_eq!(rows, 2);
        meta.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Delivered rows whose DELETE is not committed yet are still in the table for other
    /// readers: they must not count as pending (nor be claimed) in the meantime.
    #[tokio::test]
    async fn delivered_rows_never_count_as_pending_while_their_delete_commits() {
        let (dir, meta) = sqlite_meta().await;
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
        assert_eq!(claimed.len(), 5);
        // The writer lock is taken before the ack: the background flusher (whose first tick
        // comes whenever its task first runs) would otherwise delete the rows itself.
        let guard = meta.write_guard().await;
        meta.ack_events("t", &claimed).await.unwrap();
        assert_eq!(meta.outbox_counts().await.unwrap(), (0, 0));

        // An object commit takes the deletes along; before it commits, other readers still
        // see the rows.
        let mut tx = meta.begin_write().await.unwrap();
        let flushed = meta.flush_acks_in(&mut tx).await.unwrap();
        // The five events were enqueued together: one row.
        assert_eq!(flushed.len(), 1);
        assert_eq!(meta.outbox_counts().await.unwrap(), (0, 0));
        assert_eq!(meta.oldest_pending_ms().await.unwrap(), None);
        tx.commit().await.unwrap();
        meta.acks_flushed(&flushed);
        drop(guard);
        assert_eq!(meta.outbox_counts().await.unwrap(), (0, 0));
        assert!(meta.acked_ids().ids.is_empty());
        meta.close().await;
        std::fs::remove_dir_all(dir).unwrap();
    }
}
