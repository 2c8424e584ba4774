//! SQLite: the group commit's transaction runs on one thread that owns its own connection.
//!
//! Through `sqlx`, every statement is a round trip to the connection's worker thread (a
//! channel send, a thread wake-up, a reply): a batch of N PUTs cost 2N + 3 of them, and at
//! 16 concurrent PUTs those thread switches were the largest item in the server's profile.
//! Here the whole batch — delete delivered events, read each key's current row, check the
//! precondition, upsert, queue the events, commit — is one hand-off to this thread and one
//! reply. The statements are the same ones the `sqlx` path runs on PostgreSQL's side of
//! `group.rs`; they are prepared once and cached on this connection.
//!
//! Writers stay serialized by `Meta::write_guard`, which the committer holds while this
//! thread works, so this connection and the pool's never contend for SQLite's write lock.

use crate::group::{DocInsert, PutJob};
use crate::objects::{PutOutcome, check};
use crate::{MetaError, Millis};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use std::sync::mpsc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Each job's outcome, in batch order, and whether each document was inserted.
pub(crate) type Outcomes = (Vec<Result<PutOutcome, MetaError>>, Vec<bool>);

/// What the writer thread hands back: the jobs and documents (for their reply channels) and
/// the batch's result.
type Done = (Vec<PutJob>, Vec<DocInsert>, Result<Outcomes, String>);

/// One batch handed to the writer thread; the jobs come back with the result.
struct Work {
    jobs: Vec<PutJob>,
    docs: Vec<DocInsert>,
    acked: Vec<i64>,
    now_ms: Millis,
    done: oneshot::Sender<Done>,
}

/// Handle to the writer thread (it ends when the handle is dropped).
pub(crate) struct SqliteWriter {
    work: mpsc::Sender<Work>,
}

/// The file path in a `sqlite://path?options` URL.
pub(crate) fn path_of(url: &str) -> &str {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    rest.split('?').next().unwrap_or(rest)
}

impl SqliteWriter {
    /// Open a second connection to the (already migrated) database at `path` and start the
    /// writer thread, which numbers outbox rows from `next_outbox_id` and hands committed ones
    /// to `fresh`.
    pub(crate) fn open(
        path: &str,
        next_outbox_id: std::sync::Arc<std::sync::atomic::AtomicI64>,
        fresh: std::sync::Arc<crate::fresh::FreshQueues>,
    ) -> Result<Self, MetaError> {
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // As the pool's connections (see `Meta::connect`): WAL, fsync at every commit.
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let (work, queue) = mpsc::channel::<Work>();
        std::thread::Builder::new()
            .name("cubby-meta-writer".into())
            .spawn(move || {
                let mut conn = conn;
                // Whether the connection is at `synchronous=NORMAL` (see `commit`).
                let mut relaxed_now = false;
                for w in queue {
                    let batch = Batch {
                        jobs: &w.jobs,
                        docs: &w.docs,
                        acked: &w.acked,
                        now_ms: w.now_ms,
                        next_outbox_id: &next_outbox_id,
                        fresh: &fresh,
                    };
                    let result =
                        commit(&mut conn, &mut relaxed_now, &batch).map_err(|e| e.to_string());
                    let _ = w.done.send((w.jobs, w.docs, result));
                }
            })
            .map_err(|e| MetaError::Corrupt(format!("cannot start the metadata writer: {e}")))?;
        Ok(SqliteWriter { work })
    }

    /// Commit `jobs` and `docs` in one transaction, deleting the delivered outbox rows
    /// `acked` in it. Returns the jobs and documents (for their reply channels) and the
    /// outcomes.
    pub(crate) async fn commit(
        &self,
        jobs: Vec<PutJob>,
        docs: Vec<DocInsert>,
        acked: Vec<i64>,
        now_ms: Millis,
    ) -> Done {
        let (done, wait) = oneshot::channel();
        let work = Work {
            jobs,
            docs,
            acked,
            now_ms,
            done,
        };
        if let Err(mpsc::SendError(w)) = self.work.send(work) {
            return (
                w.jobs,
                w.docs,
                Err("the metadata writer thread has stopped".into()),
            );
        }
        match wait.await {
            Ok(back) => back,
            // The thread died with the jobs: their reply channels are gone with them, and each
            // waiting request sees its channel closed.
            Err(_) => (
                Vec::new(),
                Vec::new(),
                Err("the metadata writer thread has stopped".into()),
            ),
        }
    }
}

/// What one transaction commits.
struct Batch<'a> {
    jobs: &'a [PutJob],
    docs: &'a [DocInsert],
    acked: &'a [i64],
    now_ms: Millis,
    next_outbox_id: &'a std::sync::atomic::AtomicI64,
    fresh: &'a crate::fresh::FreshQueues,
}

/// The batch as one `BEGIN IMMEDIATE … COMMIT`. Rows written earlier in the batch are visible
/// to later jobs' reads, so preconditions between requests for one key follow queue order.
///
/// A batch of relaxed marks only (and delivered events' deletes, which a crash may lose
/// anyway) commits at `synchronous=NORMAL`: to the WAL in the OS's cache, which survives the
/// process being killed, and to the disk with the next durable commit's fsync. The setting
/// is switched before the transaction and a failed switch fails the batch, so a durable
/// batch never commits without its fsync.
fn commit(
    conn: &mut rusqlite::Connection,
    relaxed_now: &mut bool,
    batch: &Batch<'_>,
) -> rusqlite::Result<Outcomes> {
    let Batch {
        jobs,
        docs,
        acked,
        now_ms,
        next_outbox_id,
        fresh,
    } = *batch;
    let relaxed = jobs.is_empty() && !docs.is_empty() && docs.iter().all(|d| d.relaxed);
    if relaxed != *relaxed_now {
        let level = if relaxed { "NORMAL" } else { "FULL" };
        conn.pragma_update(None, "synchronous", level)?;
        *relaxed_now = relaxed;
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !acked.is_empty() {
        // Delivered events' rows go in this transaction's fsync (see `Meta::ack_events`).
        let mut delete = tx.prepare_cached(crate::outbox::DELETE_RANGE_SQL)?;
        for (first, last) in crate::outbox::id_runs(acked) {
            delete.execute(params![first, last])?;
        }
    }
    let mut outcomes = Vec::with_capacity(jobs.len());
    // The outbox rows inserted (target, id, payload, events), for `fresh` once committed.
    let mut outbox_rows = Vec::new();
    {
        let mut current = tx.prepare_cached(crate::objects::SQLITE_CURRENT_SQL)?;
        let mut upsert = tx.prepare_cached(&crate::objects::upsert_sql())?;
        // The events of the jobs whose precondition held, in queue order.
        let mut notified: Vec<&crate::NewEvent> = Vec::new();
        for job in jobs {
            let r = &job.row;
            let old: Option<(String, String)> = current
                .query_row(params![r.bucket, r.key.as_bytes()], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()?;
            let (old_etag, old_layout) = old.unzip();
            match check(&job.pre, old_etag.as_deref()) {
                Ok(()) => {
                    upsert.execute(params![
                        r.bucket,
                        r.key.as_bytes(),
                        r.version_id,
                        r.size,
                        r.etag,
                        r.last_modified_ms,
                        r.headers,
                        r.checksum,
                        r.layout,
                        r.owner,
                    ])?;
                    notified.extend(&job.events);
                    outcomes.push(Ok(PutOutcome {
                        replaced_layout: old_layout,
                    }));
                }
                Err(e) => outcomes.push(Err(e)),
            }
        }
        if !notified.is_empty() {
            // One row per target (see `outbox.rs`), numbered in order, so outbox ids follow
            // commit order.
            let mut insert = tx.prepare_cached(crate::outbox::SQLITE_INSERT_SQL)?;
            for row in crate::outbox::group_rows(notified) {
                let id = crate::outbox::take_outbox_ids(next_outbox_id, 1);
                insert.execute(params![row.target, row.payload, now_ms, id, row.events])?;
                outbox_rows.push((row.target, id, row.payload, row.events));
            }
        }
    }
    let mut inserted = Vec::with_capacity(docs.len());
    if !docs.is_empty() {
        let mut insert = tx.prepare_cached(crate::kv::INSERT_SQL)?;
        for d in docs {
            inserted.push(insert.execute(params![d.ns, d.key, d.value])? > 0);
        }
    }
    tx.commit()?;
    // Still under the writer lock (the committer holds it until this returns), so the rows
    // reach the queues in commit order.
    if !outbox_rows.is_empty() {
        fresh.committed(outbox_rows);
    }
    Ok((outcomes, inserted))
}

#[cfg(test)]
mod tests {
    use super::path_of;

    #[test]
    fn the_path_is_taken_from_the_url() {
        assert_eq!(path_of("sqlite:///data/meta.db?mode=rwc"), "/data/meta.db");
        assert_eq!(path_of("sqlite://rel/meta.db"), "rel/meta.db");
        assert_eq!(path_of("sqlite:meta.db"), "meta.db");
    }
}
