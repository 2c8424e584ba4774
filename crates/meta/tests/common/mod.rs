//! Run a test body on SQLite and, when `CUBBY_TEST_POSTGRES_URL` is set, on a fresh
//! PostgreSQL database (dropped afterwards). Without the variable the PostgreSQL half says it
//! was skipped instead of passing silently.
#![allow(clippy::unwrap_used, dead_code)]

use cubby_meta::pgtest::{self, FreshDb};
use cubby_meta::{Meta, ObjectRow};
use std::future::Future;

pub async fn sqlite() -> Meta {
    let dir = std::env::temp_dir().join(format!("cubby-meta-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    Meta::connect(&format!("sqlite://{}", dir.join("meta.db").display()))
        .await
        .unwrap()
}

/// A fresh PostgreSQL-backed `Meta`, or `None` (printed as skipped).
pub async fn postgres(test: &str) -> Option<(Meta, FreshDb)> {
    let Some(base) = pgtest::base_url() else {
        pgtest::say(&format!(
            "skipped on PostgreSQL: {test} ({} is not set)",
            pgtest::ENV
        ));
        return None;
    };
    let db = FreshDb::create(&base).await.unwrap();
    let meta = Meta::connect(&db.url).await.unwrap();
    Some((meta, db))
}

/// `body` on both engines.
pub async fn each_engine<F, Fut>(test: &str, body: F)
where
    F: Fn(Meta) -> Fut,
    Fut: Future<Output = ()>,
{
    body(sqlite().await).await;
    if let Some((meta, db)) = postgres(test).await {
        body(meta.clone()).await;
        meta.close().await;
        db.drop_db().await.unwrap();
    }
}

/// An object row of bucket `b` written by `owner` (quota tests).
pub fn owned_object(key: &str, size: i64, owner: &str) -> ObjectRow {
    ObjectRow {
        bucket: "b".into(),
        key: key.into(),
        version_id: None,
        size,
        etag: "e".into(),
        last_modified_ms: 0,
        headers: "{}".into(),
        checksum: None,
        layout: "{}".into(),
        owner: Some(owner.into()),
    }
}
