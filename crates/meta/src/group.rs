//! Group commit for object writes: concurrent PUTs queue their row here and one task commits
//! whatever has queued up in a single transaction — one fsync for the batch instead of one per
//! request. A lone request is committed at once (no waiting for a batch to fill).

use crate::objects::{
    ObjectRow, Precondition, PutOutcome, check, lock_current, unlock_absent, upsert,
};
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

/// Start the committer task; it ends when every sender is dropped.
pub(crate) fn spawn(meta: Meta) -> mpsc::Sender<PutJob> {
    let (tx, mut rx) = mpsc::channel::<PutJob>(1024);
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = rx.recv().await {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            commit_batch(&meta, &mut batch).await;
        }
    });
    tx
}

async fn commit_batch(meta: &Meta, batch: &mut Vec<PutJob>) {
    if meta.engine() == crate::Engine::Postgres {
        // Rows are locked in (bucket, key) order on every node, so two nodes' batches cannot
        // deadlock. The sort is stable: writes to one key keep their queue order.
        batch.sort_by(|a, b| (&a.row.bucket, &a.row.key).cmp(&(&b.row.bucket, &b.row.key)));
        return commit_batch_pg(meta, batch).await;
    }
    let _g = meta.write_guard().await;
    let mut any_events = false;
    let now_ms = crate::outbox::now_ms();
    let mut flushed = Vec::new();
    let result: Result<Vec<Result<PutOutcome, MetaError>>, sqlx::Error> = async {
        let mut tx = meta.begin_write().await?;
        // Delivered events' rows go in this transaction's fsync (see `Meta::ack_events`).
        flushed = meta.flush_acks_in(&mut tx).await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut events: Vec<&crate::NewEvent> = Vec::new();
        for job in batch.iter() {
            // Earlier rows of this batch are visible here, so preconditions between requests
            // for the same key are decided in queue order.
            let (old, placeholder) =
                lock_current(&mut tx, meta.engine(), &job.row.bucket, &job.row.key).await?;
            let (old_etag, old_layout) = old.unzip();
            match check(&job.pre, old_etag.as_deref()) {
                Ok(()) => {
                    upsert(&mut tx, &job.row).await.map_err(|e| match e {
                        MetaError::Db(e) => e,
                        other => sqlx::Error::Protocol(other.to_string()),
                    })?;
                    events.extend(&job.events);
                    outcomes.push(Ok(PutOutcome {
                        replaced_layout: old_layout,
                    }));
                }
                Err(e) => {
                    unlock_absent(&mut tx, placeholder, &job.row.bucket, &job.row.key).await?;
                    outcomes.push(Err(e));
                }
            }
        }
        // The events ride in the same transaction, committed with their objects or not at
        // all: one statement for the whole batch, in queue order.
        any_events = !events.is_empty();
        if any_events {
            crate::outbox::insert_all(&mut tx, meta.engine(), events.into_iter(), now_ms).await?;
        }
        tx.commit().await?;
        Ok(outcomes)
    }
    .await;
    match result {
        Ok(outcomes) => {
            meta.acks_flushed(&flushed);
            drop(_g);
            if any_events {
                meta.signal_outbox(batch.iter().flat_map(|j| &j.events));
            }
            for (job, outcome) in batch.drain(..).zip(outcomes) {
                let _ = job.reply.send(outcome);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, size = batch.len(), "object batch commit failed");
            for job in batch.drain(..) {
                let _ = job.reply.send(Err(MetaError::Batch(e.to_string())));
            }
        }
    }
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
