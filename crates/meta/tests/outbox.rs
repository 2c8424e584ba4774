//! The outbox queries on a real SQLite file: events commit with their object (and only when
//! the write's precondition holds), claims are ordered per target and never pass an event
//! that waits for its retry, an unacknowledged claim comes back, dead rows stay for the
//! operator. Each test runs on SQLite and on PostgreSQL (`CUBBY_TEST_POSTGRES_URL`), where
//! claims are leases taken with `FOR UPDATE SKIP LOCKED` by several nodes.
#![allow(clippy::unwrap_used)]

mod common;

use cubby_meta::{Engine, Meta, NewEvent, ObjectRow, Precondition};

fn row(key: &str) -> ObjectRow {
    ObjectRow {
        bucket: "b".into(),
        key: key.into(),
        version_id: None,
        size: 1,
        etag: "e".into(),
        last_modified_ms: 0,
        headers: "{}".into(),
        checksum: None,
        layout: "{}".into(),
        owner: None,
    }
}

fn ev(target: &str, body: &str) -> NewEvent {
    NewEvent {
        target: target.into(),
        payload: body.into(),
    }
}

#[tokio::test]
async fn events_commit_with_the_object_and_only_then() {
    common::each_engine("events_commit_with_the_object_and_only_then", events_commit).await;
}

async fn events_commit(m: Meta) {
    m.put_object_with_events(&row("k"), &Precondition::None, vec![ev("t", "1")])
        .await
        .unwrap();
    // A failed precondition commits neither the row nor its event.
    let e = m
        .put_object_with_events(&row("k"), &Precondition::MustNotExist, vec![ev("t", "2")])
        .await;
    assert!(e.is_err());
    let got = m.claim_events("t", i64::MAX / 4, 1000, 10).await.unwrap();
    assert_eq!(
        got.iter().map(|e| e.payload.as_str()).collect::<Vec<_>>(),
        ["1"]
    );
    assert_eq!(m.outbox_counts().await.unwrap(), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_puts_commits_every_event_byte_identical_in_order() {
    common::each_engine(
        "a_batch_of_puts_commits_every_event_byte_identical_in_order",
        batch_events,
    )
    .await;
}

/// A payload with everything JSON must escape, and more.
const ODD: &str = "{\"k\":\"a\\\"b\\n\u{e9}\u{1F600}\"}\n\t'";

async fn batch_events(m: Meta) {
    // Concurrent PUTs are committed in batches, their events in one statement: every event
    // of every PUT arrives, unchanged (quotes, backslashes, newlines, non-ASCII), and each
    // key's events keep their order.
    let mut puts = tokio::task::JoinSet::new();
    for i in 0..40 {
        let m = m.clone();
        puts.spawn(async move {
            let key = format!("k{}", i % 4);
            let events = vec![ev("a", &format!("{i}:{ODD}")), ev("b", &format!("{i}"))];
            m.put_object_with_events(&row(&key), &Precondition::None, events)
                .await
                .unwrap();
        });
    }
    while let Some(done) = puts.join_next().await {
        done.unwrap();
    }
    let now = i64::MAX / 4;
    let a = m.claim_events("a", now, 60_000, 100).await.unwrap();
    let b = m.claim_events("b", now, 60_000, 100).await.unwrap();
    assert_eq!((a.len(), b.len()), (40, 40));
    let mut seen: Vec<usize> = a
        .iter()
        .map(|e| {
            let (i, rest) = e.payload.split_once(':').unwrap();
            assert_eq!(rest, ODD);
            i.parse().unwrap()
        })
        .collect();
    // Each PUT's "a" event precedes its "b" event, and both targets see the same order.
    let order_b: Vec<usize> = b.iter().map(|e| e.payload.parse().unwrap()).collect();
    assert_eq!(seen, order_b);
    for (ea, eb) in a.iter().zip(&b) {
        assert!(ea.id < eb.id);
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..40).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_commit_wakes_only_its_events_targets() {
    common::each_engine("a_commit_wakes_only_its_events_targets", wakes).await;
}

async fn wakes(m: Meta) {
    let (mut a, mut b) = (m.outbox_watch("a"), m.outbox_watch("b"));
    a.borrow_and_update();
    b.borrow_and_update();
    m.put_object_with_events(&row("k"), &Precondition::None, vec![ev("a", "1")])
        .await
        .unwrap();
    assert!(a.has_changed().unwrap());
    assert!(!b.has_changed().unwrap());
    m.enqueue_events(&[ev("b", "2"), ev("a", "3")])
        .await
        .unwrap();
    assert!(b.has_changed().unwrap());
}

#[tokio::test]
async fn claims_keep_order_behind_a_retry_and_dead_letters_stay() {
    common::each_engine(
        "claims_keep_order_behind_a_retry_and_dead_letters_stay",
        claims_keep_order,
    )
    .await;
}

async fn claims_keep_order(m: Meta) {
    // Enqueued one by one: a row each on both engines (rows of several events are
    // `a_failure_inside_a_row_keeps_what_is_undelivered`'s).
    for e in [ev("a", "1"), ev("b", "x"), ev("a", "2"), ev("a", "3")] {
        m.enqueue_events(&[e]).await.unwrap();
    }
    let now = i64::MAX / 4;
    let first = m.claim_events("a", now, 60_000, 2).await.unwrap();
    assert_eq!(
        first.iter().map(|e| e.payload.as_str()).collect::<Vec<_>>(),
        ["1", "2"]
    );
    // "1" failed and retries later: "2" and "3" must wait behind it.
    m.fail_event(&first[0], now + 5_000, "down", false)
        .await
        .unwrap();
    // As the dispatcher does: the claimed rows behind a failure are given back.
    m.release_events(&[first[1].id]).await.unwrap();
    assert!(
        m.claim_events("a", now, 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // The head's retry time bounds the dispatcher's sleep.
    assert!(m.next_event_due("a").await.unwrap().unwrap() <= now + 5_000);
    // Other targets are not held up.
    assert_eq!(m.claim_events("b", now, 60_000, 10).await.unwrap().len(), 1);
    // Once due, all three come back in order, with the attempt counted.
    let again = m.claim_events("a", now + 5_000, 60_000, 10).await.unwrap();
    assert_eq!(
        again.iter().map(|e| e.payload.as_str()).collect::<Vec<_>>(),
        ["1", "2", "3"]
    );
    assert_eq!(again[0].attempts, 1);
    // Dead-lettered: out of the queue, listed for the operator; delivered rows disappear.
    m.fail_event(&again[0], now, "gave up", true).await.unwrap();
    m.ack_events("a", &again[1..3]).await.unwrap();
    assert!(
        m.claim_events("a", now + 10_000, 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let dead = m.dead_events(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload, "1");
    assert_eq!(dead[0].attempts, 2);
    assert_eq!(dead[0].last_error.as_deref(), Some("gave up"));
    // "b" was claimed but never acknowledged: still pending.
    assert_eq!(m.outbox_counts().await.unwrap(), (1, 1));
}

#[tokio::test]
async fn a_failure_inside_a_row_keeps_what_is_undelivered() {
    common::each_engine(
        "a_failure_inside_a_row_keeps_what_is_undelivered",
        failure_inside_a_row,
    )
    .await;
}

async fn failure_inside_a_row(m: Meta) {
    let bodies = |events: &[cubby_meta::ClaimedEvent]| {
        events.iter().map(|e| e.payload.clone()).collect::<Vec<_>>()
    };
    // Enqueued together: one row on SQLite, a row each on PostgreSQL; the dispatcher's view
    // (events, in order) is the same.
    m.enqueue_events(&[ev("a", "1"), ev("a", "2"), ev("a", "3"), ev("a", "4")])
        .await
        .unwrap();
    let rows = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox")
            .fetch_one(m.pool())
            .await
            .unwrap()
    };
    let now = i64::MAX / 4;
    let got = m.claim_events("a", now, 60_000, 10).await.unwrap();
    assert_eq!(bodies(&got), ["1", "2", "3", "4"]);
    if m.engine() == Engine::Sqlite {
        assert_eq!(rows().await, 1);
        assert!(got.iter().all(|e| e.id == got[0].id && e.row_events == 4));
    }
    // As the dispatcher does: "1" delivered, "2" failed, the rest given back.
    m.ack_events("a", &got[..1]).await.unwrap();
    m.fail_event(&got[1], now + 5_000, "down", false)
        .await
        .unwrap();
    release_after(&m, &got, 1).await;
    assert_eq!(m.outbox_counts().await.unwrap(), (3, 0));
    assert!(
        m.claim_events("a", now, 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Retried: from the failed event on, its attempt counted (and only its own).
    let again = m.claim_events("a", now + 5_000, 60_000, 10).await.unwrap();
    assert_eq!(bodies(&again), ["2", "3", "4"]);
    assert_eq!(
        again.iter().map(|e| e.attempts).collect::<Vec<_>>(),
        [1, 0, 0]
    );
    // "2" delivered now, "3" dead-lettered: "4" goes on at once, "3" waits for the operator.
    m.ack_events("a", &again[..1]).await.unwrap();
    m.fail_event(&again[1], now + 5_000, "gave up", true)
        .await
        .unwrap();
    release_after(&m, &again, 1).await;
    let last = m.claim_events("a", now + 5_000, 60_000, 10).await.unwrap();
    assert_eq!(bodies(&last), ["4"]);
    assert_eq!(last[0].attempts, 0);
    let dead = m.dead_events(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].payload.as_str(), dead[0].attempts), ("3", 1));
    assert_eq!(m.outbox_counts().await.unwrap(), (1, 1));
    m.ack_events("a", &last).await.unwrap();
    assert_eq!(m.outbox_counts().await.unwrap(), (0, 1));
}

/// As the dispatcher does after a failure: give back the rows claimed after the failed
/// event's own row.
async fn release_after(m: &Meta, claimed: &[cubby_meta::ClaimedEvent], failed: usize) {
    let mut rest: Vec<i64> = claimed[failed + 1..]
        .iter()
        .map(|e| e.id)
        .filter(|id| *id != claimed[failed].id)
        .collect();
    rest.dedup();
    m.release_events(&rest).await.unwrap();
}

#[tokio::test]
async fn an_unacknowledged_claim_is_delivered_again() {
    common::each_engine("an_unacknowledged_claim_is_delivered_again", unacked).await;
}

async fn unacked(m: Meta) {
    m.enqueue_events(&[ev("a", "1")]).await.unwrap();
    let now = i64::MAX / 4;
    let a = m.claim_events("a", now, 60_000, 10).await.unwrap();
    // The dispatcher died before acknowledging: after a restart (SQLite) or once its lease
    // ran out (PostgreSQL, where other nodes claim) the row is claimed again, byte-identical.
    m.reset_event_claims().await.unwrap();
    let later = match m.engine() {
        Engine::Sqlite => now,
        Engine::Postgres => {
            // Still leased: nobody else may take it yet.
            assert!(
                m.claim_events("a", now + 59_999, 60_000, 10)
                    .await
                    .unwrap()
                    .is_empty()
            );
            now + 60_001
        }
    };
    let b = m.claim_events("a", later, 60_000, 10).await.unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!((a[0].id, &a[0].payload), (b[0].id, &b[0].payload));
}

#[tokio::test]
async fn delivered_rows_are_never_claimed_again_and_go_with_a_later_commit() {
    common::each_engine(
        "delivered_rows_are_never_claimed_again_and_go_with_a_later_commit",
        delivered_rows_go,
    )
    .await;
}

async fn delivered_rows_go(m: Meta) {
    let rows = |m: Meta| async move {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox")
            .fetch_one(m.pool())
            .await
            .unwrap()
    };
    // Two commits: a row each.
    for (key, body) in [("a", "1"), ("a2", "2")] {
        m.put_object_with_events(&row(key), &Precondition::None, vec![ev("t", body)])
            .await
            .unwrap();
    }
    let now = i64::MAX / 4;
    let got = m.claim_events("t", now, 1000, 10).await.unwrap();
    assert_eq!(got.len(), 2);
    m.ack_events("t", &got[..1]).await.unwrap();
    // Gone for claims and counts at once (after the lease, only the other one comes back).
    let again = m.claim_events("t", now + 2000, 1000, 10).await.unwrap();
    assert_eq!(
        again.iter().map(|e| e.payload.as_str()).collect::<Vec<_>>(),
        ["2"]
    );
    assert_eq!(m.outbox_counts().await.unwrap(), (1, 0));
    // The row itself is deleted at once on PostgreSQL; on SQLite by the first object commit
    // after it has waited 250 ms (or 256 rows wait), within that commit's transaction.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    m.put_object(&row("b"), &Precondition::None).await.unwrap();
    assert_eq!(rows(m.clone()).await, 1);
    // A delivered row nobody commits after is deleted by the flusher within a second.
    m.ack_events("t", &again[..1]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(rows(m.clone()).await, 0);
}
