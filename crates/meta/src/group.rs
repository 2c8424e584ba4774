//! Group commit for object writes: concurrent PUTs queue their row here and one task commits
//! whatever has queued up in a single transaction — one fsync for the batch instead of one per
//! request. A lone request is committed at once (no waiting for a batch to fill).
//!
//! On SQLite, document inserts (`Meta::kv_insert`: a user pool's spent SRP session, a new
//! entity) ride in the same transaction. SQLite has one writer: a document insert committed
//! on its own held that writer for a whole fsync, and the object commits queued behind it.

use crate::objects::{ObjectRow, Precondition, PutOutcome};
use crate::sqlite_writer::SqliteWriter;
use crate::{Meta, MetaError};
use tokio::sync::{mpsc, oneshot};

/// Largest batch committed in one transaction.
const MAX_BATCH: usize = 256;

pub(crate) struct PutJob {
    pub row: ObjectRow,
    pub pre: Precondition,
    /// Outbox events committed with the row (only if the precondition holds).
    pub events: Vec<crate::NewEvent>,
    pub reply: oneshot::Sender<Result<PutOutcome, MetaError>>,
}

/// A document insert (`INSERT … ON CONFLICT DO NOTHING` into `kv`) for the next batch.
pub(crate) struct DocInsert {
    pub ns: String,
    pub key: String,
    pub value: String,
    /// A mark whose loss in a power cut is acceptable (see `Meta::kv_insert_mark`): a batch
    /// of nothing else commits without waiting for an fsync.
    pub relaxed: bool,
    /// `true`: inserted; `false`: the key was taken.
    pub reply: oneshot::Sender<Result<bool, MetaError>>,
}

/// What the committer commits.
pub(crate) enum Job {
    Put(PutJob),
    Doc(DocInsert),
}

/// Start the committer task; it ends when every sender is dropped. `writer` is the SQLite
/// writer thread (`None` on PostgreSQL).
pub(crate) fn spawn(meta: Meta, writer: Option<SqliteWriter>) -> mpsc::Sender<Job> {
    let (tx, mut rx) = mpsc::channel::<Job>(1024);
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut docs = Vec::new();
        while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            while let Some(job) = next {
                match job {
                    Job::Put(p) => batch.push(p),
                    Job::Doc(d) => docs.push(d),
                }
                next = if batch.len() + docs.len() < MAX_BATCH {
                    rx.try_recv().ok()
                } else {
                    None
                };
            }
            match &writer {
                Some(w) => commit_batch_sqlite(&meta, w, &mut batch, &mut docs).await,
                None => {
                    // `Meta::kv_insert` sends documents here only on SQLite (PostgreSQL has no
                    // single writer to share); should one arrive, it goes in on its own.
                    for d in docs.drain(..) {
                        let _ = d
                            .reply
                            .send(meta.kv_insert_now(&d.ns, &d.key, &d.value).await);
                    }
                    if batch.is_empty() {
                        continue;
                    }
                    // Rows are locked in (bucket, key) order on every node, so two nodes'
                    // batches cannot deadlock. The sort is stable: writes to one key keep
                    // their queue order.
                    batch.sort_by(|a, b| {
                        (&a.row.bucket, &a.row.key).cmp(&(&b.row.bucket, &b.row.key))
                    });
                    commit_batch_pg(&meta, &mut batch).await;
                }
            }
        }
    });
    tx
}

/// SQLite: the batch and the document inserts in one transaction on the writer thread,
/// under the writer lock.
async fn commit_batch_sqlite(
    meta: &Meta,
    writer: &SqliteWriter,
    batch: &mut Vec<PutJob>,
    docs: &mut Vec<DocInsert>,
) {
    let guard = meta.write_guard().await;
    // Delivered events' rows go in this transaction's fsync, when enough of them wait (see
    // `Meta::ack_events`).
    let acked = meta.acked_to_take_along();
    // The batch's vector goes to the writer thread and comes back, so the next batch reuses
    // its capacity instead of growing a new one.
    let (mut jobs, mut doc_jobs, result) = writer
        .commit(
            std::mem::take(batch),
            std::mem::take(docs),
            acked.clone(),
            crate::outbox::now_ms(),
        )
        .await;
    match result {
        Ok((outcomes, inserted)) => {
            meta.acks_flushed(&acked);
            drop(guard);
            if jobs.iter().any(|j| !j.events.is_empty()) {
                meta.signal_outbox(jobs.iter().flat_map(|j| &j.events));
            }
            for (job, outcome) in jobs.drain(..).zip(outcomes) {
                let _ = job.reply.send(outcome);
            }
            for (doc, inserted) in doc_jobs.drain(..).zip(inserted) {
                let _ = doc.reply.send(Ok(inserted));
            }
        }
        Err(e) => {
            drop(guard);
            tracing::error!(error = %e, size = jobs.len(), "object batch commit failed");
            for job in jobs.drain(..) {
                let _ = job.reply.send(Err(MetaError::Batch(e.clone())));
            }
            for doc in doc_jobs.drain(..) {
                let _ = doc.reply.send(Err(MetaError::Batch(e.clone())));
            }
        }
    }
    *batch = jobs;
    *docs = doc_jobs;
}

/// The job as `cubby_put_objects` (migration 5) reads it.
fn job_json(job: &PutJob) -> serde_json::Value {
    let (pre, tags): (&str, &[String]) = match &job.pre {
        Precondition::None => ("none", &[]),
        Precondition::MustNotExist => ("absent", &[]),
        Precondition::EtagMatches(t) => ("match", t),
        Precondition::EtagNotMatches(t) => ("no_match", t),
    };
    let r = &job.row;
    serde_json::json!({
        "bucket": r.bucket,
        "key": hex(r.key.as_bytes()),
        "version_id": r.version_id,
        "size": r.size.to_string(),
        "etag": r.etag,
        "last_modified_ms": r.last_modified_ms.to_string(),
        "headers": r.headers,
        "checksum": r.checksum,
        "layout": r.layout,
        "owner": r.owner,
        "pre": pre,
        "tags": tags,
        "events": job.events.iter().map(|e| serde_json::json!({
            "target": e.target, "payload": e.payload,
        })).collect::<Vec<_>>(),
    })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xF)]));
    }
    s
}

/// PostgreSQL: the whole batch in one statement (`cubby_put_objects`), which PostgreSQL runs
/// as one transaction — one round trip instead of BEGIN, two statements per row and COMMIT.
async fn commit_batch_pg(meta: &Meta, batch: &mut Vec<PutJob>) {
    let jobs = serde_json::Value::Array(batch.iter().map(job_json).collect()).to_string();
    let any_events = batch.iter().any(|j| !j.events.is_empty());
    let rows = sqlx::query("SELECT idx, status, replaced FROM cubby_put_objects($1, $2)")
        .bind(jobs)
        .bind(crate::outbox::now_ms())
        .fetch_all(meta.pool())
        .await;
    let mut outcomes: Vec<Option<Result<PutOutcome, MetaError>>> =
        batch.iter().map(|_| None).collect();
    match rows {
        Ok(rows) => {
            for r in rows {
                use sqlx::Row;
                let (idx, status, replaced): (i32, String, Option<String>) =
                    match (r.try_get(0), r.try_get(1), r.try_get(2)) {
                        (Ok(i), Ok(s), Ok(l)) => (i, s, l),
                        _ => continue,
                    };
                let outcome = match status.as_str() {
                    "ok" => Ok(PutOutcome {
                        replaced_layout: replaced,
                    }),
                    "precondition" => Err(MetaError::PreconditionFailed),
                    "not_found" => Err(MetaError::NotFound),
                    other => Err(MetaError::Batch(format!("unexpected status {other}"))),
                };
                if let Some(slot) = usize::try_from(idx).ok().and_then(|i| outcomes.get_mut(i)) {
                    *slot = Some(outcome);
                }
            }
            if any_events {
                meta.signal_outbox(batch.iter().flat_map(|j| &j.events));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, size = batch.len(), "object batch commit failed");
            for slot in &mut outcomes {
                *slot = Some(Err(MetaError::Batch(e.to_string())));
            }
        }
    }
    for (job, outcome) in batch.drain(..).zip(outcomes) {
        let outcome =
            outcome.unwrap_or_else(|| Err(MetaError::Batch("no result for this write".into())));
        let _ = job.reply.send(outcome);
    }
}
