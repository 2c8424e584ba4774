//! SQLite: outbox rows handed from the writer thread to their target's dispatcher as they
//! commit, so a dispatcher that is caught up delivers them without reading them back.
//!
//! A target's queue records only while it is *armed*. The dispatcher arms it under the
//! writer lock (so no write is half-way through a transaction), then checks that the table
//! holds nothing undelivered for the target: from then on every new row of the target is in
//! the queue, in commit order. Rows that reach the outbox any other way (an operation that
//! commits through `sqlx`: deletes, multipart completion, test events) disarm the queue
//! inside their transaction; so does the dispatcher before it rewrites a failed row, and so
//! does a queue that grows past [`MAX_EVENTS`] (a slow target). A disarmed dispatcher goes
//! back to claiming from the table, which holds every row until it is delivered; the queue
//! is only a shortcut.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Events a queue may hold before it disarms itself (the table still has them).
const MAX_EVENTS: usize = 16_384;

/// A committed outbox row, as the writer inserted it.
#[derive(Debug)]
pub(crate) struct FreshRow {
    pub id: i64,
    pub payload: String,
    pub events: i64,
}

#[derive(Debug, Default)]
struct Queue {
    armed: bool,
    rows: VecDeque<FreshRow>,
    events: usize,
}

impl Queue {
    fn disarm(&mut self) {
        self.armed = false;
        self.rows.clear();
        self.events = 0;
    }
}

/// The per-target queues of one database.
#[derive(Debug, Default)]
pub(crate) struct FreshQueues {
    queues: Mutex<HashMap<String, Queue>>,
}

impl FreshQueues {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Queue>> {
        // Plain data: a panic elsewhere cannot leave it inconsistent in a harmful way (at
        // worst a queue is disarmed and its dispatcher reads the table).
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Start recording `target`'s new rows, dropping any recorded before. The caller holds
    /// the writer lock.
    pub(crate) fn arm(&self, target: &str) {
        let mut queues = self.lock();
        let q = queues.entry(target.to_owned()).or_default();
        q.disarm();
        q.armed = true;
    }

    /// Stop recording `target`'s rows and drop those recorded.
    pub(crate) fn disarm(&self, target: &str) {
        if let Some(q) = self.lock().get_mut(target) {
            q.disarm();
        }
    }

    /// Disarm every target among `targets` (rows are about to be inserted for them by a path
    /// that does not record them). The caller holds the writer lock.
    pub(crate) fn disarm_all<'t>(&self, targets: impl IntoIterator<Item = &'t str>) {
        let mut queues = self.lock();
        for t in targets {
            if let Some(q) = queues.get_mut(t) {
                q.disarm();
            }
        }
    }

    /// After a commit, under the writer lock: record its rows (target, id, payload, events)
    /// for the armed targets, in order.
    pub(crate) fn committed<'r>(
        &self,
        rows: impl IntoIterator<Item = (&'r str, i64, Cow<'r, str>, i64)>,
    ) {
        let mut queues = self.lock();
        for (target, id, payload, events) in rows {
            let Some(q) = queues.get_mut(target).filter(|q| q.armed) else {
                continue;
            };
            q.events += usize::try_from(events).unwrap_or(usize::MAX);
            if q.events > MAX_EVENTS {
                q.disarm();
                continue;
            }
            q.rows.push_back(FreshRow {
                id,
                payload: payload.into_owned(),
                events,
            });
        }
    }

    /// Up to `limit` events' worth of `target`'s recorded rows (whole rows; at least one if
    /// any), oldest first; `None` when the queue is not armed.
    pub(crate) fn take(&self, target: &str, limit: usize) -> Option<Vec<FreshRow>> {
        let mut queues = self.lock();
        let q = queues.get_mut(target).filter(|q| q.armed)?;
        let mut out = Vec::new();
        let mut taken = 0;
        while let Some(row) = q.rows.front() {
            let n = usize::try_from(row.events).unwrap_or(usize::MAX);
            if !out.is_empty() && taken + n > limit {
                break;
            }
            taken += n;
            q.events = q.events.saturating_sub(n);
            out.extend(q.rows.pop_front());
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids of the rows `take` hands out (none when the queue is not armed).
    fn taken_ids(q: &FreshQueues, target: &str, limit: usize) -> Vec<i64> {
        q.take(target, limit)
            .unwrap_or_default()
            .iter()
            .map(|r| r.id)
            .collect()
    }

    fn row(t: &str, id: i64, events: i64) -> (&str, i64, Cow<'_, str>, i64) {
        (t, id, Cow::Owned(format!("p{id}")), events)
    }

    #[test]
    fn only_armed_targets_record_and_take_whole_rows_in_order() {
        let q = FreshQueues::default();
        assert!(q.take("a", 10).is_none());
        q.committed([row("a", 1, 1)]);
        q.arm("a");
        assert_eq!(q.take("a", 10).map(|v| v.len()), Some(0));
        q.committed([
            row("a", 2, 3),
            row("b", 3, 1),
            row("a", 4, 2),
            row("a", 5, 1),
        ]);
        assert!(q.take("b", 10).is_none());
        assert_eq!(taken_ids(&q, "a", 4), [2]);
        assert_eq!(taken_ids(&q, "a", 4), [4, 5]);
        // A row larger than the limit still goes, alone.
        q.committed([row("a", 6, 9)]);
        assert_eq!(q.take("a", 4).map(|v| v.len()), Some(1));
    }

    #[test]
    fn disarming_drops_the_queue_and_an_overfull_queue_disarms_itself() {
        let q = FreshQueues::default();
        q.arm("a");
        q.committed([row("a", 1, 1)]);
        q.disarm_all(["a"]);
        assert!(q.take("a", 10).is_none());
        q.arm("a");
        assert_eq!(q.take("a", 10).map(|v| v.len()), Some(0));
        let big = i64::try_from(MAX_EVENTS).unwrap_or(i64::MAX);
        q.committed([row("a", 2, big), row("a", 3, 1)]);
        assert!(q.take("a", 10).is_none());
    }
}
