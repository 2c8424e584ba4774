//! Cluster-wide upload-rate windows (PostgreSQL only): two nodes share one window, a full
//! window says when it has room again, a refund gives a place back, and a look counts
//! nothing.
#![allow(clippy::unwrap_used)]

mod common;

use cubby_meta::{Meta, RateVerdict};

#[tokio::test]
async fn two_nodes_share_one_window() {
    let Some((a, db)) = common::postgres("two_nodes_share_one_window").await else {
        return;
    };
    let b = Meta::connect(&db.url).await.unwrap();
    check(&a, &b).await;
    b.close().await;
    a.close().await;
    db.drop_db().await.unwrap();
}

async fn check(a: &Meta, b: &Meta) {
    let key = "bucket\u{1f}rule\u{1f}ip\u{1f}192.0.2.1";
    let mut ids = Vec::new();
    for node in [a, b, a] {
        match node.admit_rate(key, 3, true).await.unwrap() {
            RateVerdict::Admitted(Some(id)) => ids.push(id),
            other => panic!("expected an admission, got {other:?}"),
        }
    }
    let full = b.admit_rate(key, 3, true).await.unwrap();
    let RateVerdict::Full { retry_after_ms } = full else {
        panic!("the fourth upload in a minute must be refused, got {full:?}");
    };
    assert!(
        (1..=60_000).contains(&retry_after_ms),
        "retry after {retry_after_ms} ms"
    );
    assert!(matches!(
        a.admit_rate(key, 3, false).await.unwrap(),
        RateVerdict::Full { .. }
    ));
    b.refund_rate(ids[1]).await.unwrap();
    assert_eq!(
        a.admit_rate(key, 3, false).await.unwrap(),
        RateVerdict::Admitted(None),
        "a refund gives its place back; a look takes none"
    );
    assert!(matches!(
        b.admit_rate(key, 3, true).await.unwrap(),
        RateVerdict::Admitted(Some(_))
    ));
    assert!(matches!(
        b.admit_rate(key, 3, true).await.unwrap(),
        RateVerdict::Full { .. }
    ));
    assert_eq!(
        a.admit_rate("another key", 3, false).await.unwrap(),
        RateVerdict::Admitted(None)
    );
    // Nothing in these windows is a minute old yet.
    assert_eq!(a.forget_old_rate_hits().await.unwrap(), 0);
}

/// Racing admissions through two nodes never overshoot the limit.
#[tokio::test]
async fn racing_admissions_stop_at_the_limit() {
    let Some((a, db)) = common::postgres("racing_admissions_stop_at_the_limit").await else {
        return;
    };
    let b = Meta::connect(&db.url).await.unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let m = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { m.admit_rate("race", 7, true).await.unwrap() })
        })
        .collect();
    let mut admitted = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), RateVerdict::Admitted(Some(_))) {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 7);
    b.close().await;
    a.close().await;
    db.drop_db().await.unwrap();
}
