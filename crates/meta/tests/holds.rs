//! Cluster-wide quota holds (PostgreSQL only): a hold counts with the owner's rows until it
//! is released, a refusal reports the account's usage, leases lapse unless renewed, and
//! only-checking holds nothing.
#![allow(clippy::unwrap_used)]

mod common;

use cubby_meta::{HoldOutcome, HoldRequest, Meta, ObjectRow, Precondition, Usage};

fn object(key: &str, size: i64) -> ObjectRow {
    common::owned_object(key, size, "alice")
}

/// A request for one object of `bytes` bytes, limits 3 objects and 100 bytes, checked
/// against `reading`.
fn want(reading: (Usage, i64), bytes: i64, lease_ms: i64, take: bool) -> HoldRequest<'static> {
    HoldRequest {
        account: "b\u{1f}r\u{1f}alice",
        reading: reading.0,
        reading_ms: reading.1,
        objects: 1,
        bytes,
        max_objects: Some(3),
        max_bytes: Some(100),
        node: "n1",
        lease_ms,
        take,
    }
}

fn held(o: HoldOutcome) -> i64 {
    match o {
        HoldOutcome::Fits(Some(id)) => id,
        other => panic!("expected a hold, got {other:?}"),
    }
}

fn used(objects: i64, bytes: i64) -> HoldOutcome {
    HoldOutcome::Refused(Usage { objects, bytes })
}

#[tokio::test]
async fn holds_count_until_a_reading_has_their_rows_and_lapse_unless_renewed() {
    let Some((m, db)) =
        common::postgres("holds_count_until_a_reading_has_their_rows_and_lapse_unless_renewed")
            .await
    else {
        return;
    };
    check(&m).await;
    m.close().await;
    db.drop_db().await.unwrap();
}

async fn reading(m: &Meta) -> (Usage, i64) {
    // Holds ending in the reading's own millisecond count with it: keep them apart.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let r = m.usage_reading("b", "alice", "a/").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    r
}

async fn check(m: &Meta) {
    // One stored object under the prefix, one outside it (not counted).
    for (k, size) in [("a/1", 10), ("z/1", 50)] {
        m.put_object_with_events(&object(k, size), &Precondition::None, vec![])
            .await
            .unwrap();
    }
    let r0 = reading(m).await;
    assert_eq!(
        r0.0,
        Usage {
            objects: 1,
            bytes: 10
        }
    );
    let first = held(m.hold_quota(&want(r0, 20, 60_000, true)).await.unwrap());
    // Looking holds nothing, but sees the hold.
    assert_eq!(
        m.hold_quota(&want(r0, 80, 60_000, false)).await.unwrap(),
        used(2, 30)
    );
    assert_eq!(
        m.hold_quota(&want(r0, 70, 60_000, false)).await.unwrap(),
        HoldOutcome::Fits(None)
    );
    // The third object fits; a fourth does not, and the refusal says what is in use.
    let second = held(m.hold_quota(&want(r0, 1, 60_000, true)).await.unwrap());
    assert_eq!(
        m.hold_quota(&want(r0, 1, 60_000, true)).await.unwrap(),
        used(3, 31)
    );

    // The first upload's row commits, then its hold is released. The old reading does not
    // have the row, so the released hold still counts; a new reading has the row instead.
    m.put_object_with_events(&object("a/2", 20), &Precondition::None, vec![])
        .await
        .unwrap();
    m.release_quota_holds(&[first]).await.unwrap();
    assert_eq!(
        m.hold_quota(&want(r0, 0, 60_000, false)).await.unwrap(),
        used(3, 31)
    );
    let r1 = reading(m).await;
    assert_eq!(
        r1.0,
        Usage {
            objects: 2,
            bytes: 30
        }
    );
    assert_eq!(
        m.hold_quota(&want(r1, 0, 60_000, false)).await.unwrap(),
        used(3, 31)
    );
    // The second upload fails: its slot is free again for readings after the release.
    m.release_quota_holds(&[second]).await.unwrap();
    let r2 = reading(m).await;
    assert_eq!(
        m.hold_quota(&want(r2, 1, 60_000, false)).await.unwrap(),
        HoldOutcome::Fits(None)
    );

    // A hold whose lease is renewed stays; once not renewed it lapses — for readings after
    // the lapse (an older reading may lack the upload's row, so the hold still counts there).
    let short = held(m.hold_quota(&want(r2, 1, 1_000, true)).await.unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(m.renew_quota_holds(&[short], 1_000).await.unwrap(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(
        m.hold_quota(&want(reading(m).await, 0, 1_000, false))
            .await
            .unwrap(),
        used(3, 31)
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(
        m.hold_quota(&want(r2, 0, 1_000, false)).await.unwrap(),
        used(3, 31)
    );
    assert_eq!(
        m.hold_quota(&want(reading(m).await, 1, 1_000, false))
            .await
            .unwrap(),
        HoldOutcome::Fits(None)
    );
    // Released holds are not renewed.
    m.release_quota_holds(&[short]).await.unwrap();
    assert_eq!(m.renew_quota_holds(&[short], 1_000).await.unwrap(), 0);
}

#[tokio::test]
async fn sqlite_has_no_shared_holds() {
    let m = common::sqlite().await;
    assert!(m.usage_reading("b", "alice", "").await.is_err());
    let r = (Usage::default(), 0);
    assert!(m.hold_quota(&want(r, 1, 1_000, true)).await.is_err());
}
