//! Every query of the metadata layer on both engines (SQLite always; PostgreSQL when
//! `CUBBY_TEST_POSTGRES_URL` is set), and what only matters with several nodes on one
//! PostgreSQL database: concurrent writers to one key, conditional creates, outbox claims.
#![allow(clippy::unwrap_used)]

mod common;

use cubby_meta::{
    BucketRow, DeleteCondition, Meta, MetaError, NewEvent, ObjectRow, PartRow, Precondition,
    UploadRow,
};

fn obj(bucket: &str, key: &str, etag: &str) -> ObjectRow {
    ObjectRow {
        bucket: bucket.into(),
        key: key.into(),
        version_id: None,
        size: 3,
        etag: etag.into(),
        last_modified_ms: 1_700_000_000_123,
        headers: "{}".into(),
        checksum: Some("{\"crc32\":\"x\"}".into()),
        layout: format!("layout-{etag}"),
        owner: Some("owner-1".into()),
    }
}

#[tokio::test]
async fn every_query_works() {
    common::each_engine("every_query_works", every_query).await;
}

async fn every_query(m: Meta) {
    m.ping().await.unwrap();
    // Buckets.
    let b = BucketRow {
        name: "b".into(),
        created_ms: 5,
        owner: "o".into(),
        config: "{}".into(),
    };
    m.create_bucket(&b).await.unwrap();
    assert!(matches!(
        m.create_bucket(&b).await,
        Err(MetaError::AlreadyExists)
    ));
    assert_eq!(m.get_bucket("b").await.unwrap().unwrap().created_ms, 5);
    assert!(m.get_bucket("nope").await.unwrap().is_none());
    m.set_bucket_config_with_events("b", "{\"x\":1}", &[])
        .await
        .unwrap();
    assert_eq!(m.list_buckets().await.unwrap()[0].config, "{\"x\":1}");
    assert!(matches!(
        m.set_bucket_config("nope", "{}").await,
        Err(MetaError::NotFound)
    ));

    // Objects: keys compare byte-wise ("Z" < "a" < "é"), preconditions, conditional deletes.
    for k in ["a", "Z", "é", "a/b"] {
        m.put_object(&obj("b", k, "e1"), &Precondition::None)
            .await
            .unwrap();
    }
    let listed = m.list_objects("b", b"", None, None, 100).await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["Z", "a", "a/b", "é"]);
    assert_eq!(listed[0].checksum.as_deref(), Some("{\"crc32\":\"x\"}"));
    let ranged = m
        .list_objects("b", b"a", Some(b"b"), Some(b"a"), 100)
        .await
        .unwrap();
    assert_eq!(ranged.len(), 1);
    assert_eq!(ranged[0].key, "a/b");
    let got = m.get_object("b", "é").await.unwrap().unwrap();
    assert_eq!(
        (got.size, got.last_modified_ms, got.version_id),
        (3, 1_700_000_000_123, None)
    );
    let out = m
        .put_object(
            &obj("b", "a", "e2"),
            &Precondition::EtagMatches(vec!["\"e1\"".into()]),
        )
        .await
        .unwrap();
    assert_eq!(out.replaced_layout.as_deref(), Some("layout-e1"));
    assert!(matches!(
        m.put_object(&obj("b", "a", "e3"), &Precondition::MustNotExist)
            .await,
        Err(MetaError::PreconditionFailed)
    ));
    // If-Match on a missing key: 404, and nothing is left behind.
    assert!(matches!(
        m.put_object(
            &obj("b", "new", "e"),
            &Precondition::EtagMatches(vec!["*".into()])
        )
        .await,
        Err(MetaError::NotFound)
    ));
    assert!(m.get_object("b", "new").await.unwrap().is_none());
    m.put_object(&obj("b", "new", "e"), &Precondition::MustNotExist)
        .await
        .unwrap();
    let cond = DeleteCondition {
        etag: Some("e9".into()),
        ..DeleteCondition::default()
    };
    assert!(matches!(
        m.delete_object_if("b", "new", &cond).await,
        Err(MetaError::PreconditionFailed)
    ));
    assert_eq!(
        m.delete_object("b", "new").await.unwrap().as_deref(),
        Some("layout-e")
    );
    assert!(m.delete_object("b", "new").await.unwrap().is_none());

    // Multipart.
    let up = UploadRow {
        upload_id: "u1".into(),
        bucket: "b".into(),
        key: "big".into(),
        initiated_ms: 7,
        info: "{}".into(),
        completed: None,
        owner: Some("owner-1".into()),
    };
    m.create_upload(&up).await.unwrap();
    for n in [2, 1] {
        let part = PartRow {
            upload_id: "u1".into(),
            part_number: n,
            size: 10,
            etag: format!("p{n}"),
            blob_id: format!("blob{n}"),
            checksum: None,
            last_modified_ms: 8,
        };
        assert!(m.put_part(&part).await.unwrap().is_none());
    }
    let parts = m.list_parts("u1", 0, 10).await.unwrap();
    assert_eq!(
        parts.iter().map(|p| p.part_number).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(m.list_uploads("b", b"", None, 10).await.unwrap().len(), 1);
    let (all, refs) = m.all_blob_references("none:").await.unwrap();
    assert_eq!(refs.len(), 2);
    // Layouts with the caller's "no blobs" prefix are skipped; LIKE's wildcards in the prefix
    // are literal ("layout_e" is no prefix of "layout-e1").
    assert!(all.iter().any(|l| l.starts_with("layout-e")));
    let (some, _) = m.all_blob_references("layout-e").await.unwrap();
    assert!(some.iter().all(|l| !l.starts_with("layout-e")));
    assert!(some.len() < all.len());
    let (same, _) = m.all_blob_references("layout_e").await.unwrap();
    assert_eq!(same.len(), all.len());
    let (outcome, unused) = m
        .complete_upload(
            "u1",
            &obj("b", "big", "mp"),
            &Precondition::None,
            &["blob1".into()],
            "{\"done\":1}",
            &[NewEvent {
                target: "t".into(),
                payload: "p".into(),
            }],
        )
        .await
        .unwrap();
    assert!(outcome.replaced_layout.is_none());
    assert_eq!(unused, ["blob2"]);
    assert_eq!(
        m.get_upload("u1")
            .await
            .unwrap()
            .unwrap()
            .completed
            .as_deref(),
        Some("{\"done\":1}")
    );
    assert!(matches!(
        m.abort_upload("u1").await,
        Err(MetaError::NotFound)
    ));
    assert_eq!(m.outbox_counts().await.unwrap(), (1, 0));
    assert_eq!(m.pending_by_target().await.unwrap(), [("t".to_owned(), 1)]);
    assert!(m.oldest_pending_ms().await.unwrap().is_some());
    m.create_upload(&UploadRow {
        upload_id: "u2".into(),
        ..up.clone()
    })
    .await
    .unwrap();
    assert_eq!(m.abort_upload("u2").await.unwrap().len(), 0);
    assert_eq!(m.purge_completed_uploads(i64::MAX).await.unwrap(), 0);

    // Buckets with objects cannot be deleted.
    assert!(matches!(
        m.delete_bucket("b").await,
        Err(MetaError::PreconditionFailed)
    ));

    // Documents.
    m.kv_insert("ns", "k1", "v1").await.unwrap();
    assert!(matches!(
        m.kv_insert("ns", "k1", "v").await,
        Err(MetaError::AlreadyExists)
    ));
    // A relaxed mark is refused the same way, whether the key holds a mark or a document.
    m.kv_insert_mark("ns", "mark", "m").await.unwrap();
    for key in ["mark", "k1"] {
        assert!(matches!(
            m.kv_insert_mark("ns", key, "again").await,
            Err(MetaError::AlreadyExists)
        ));
    }
    assert_eq!(m.kv_get("ns", "mark").await.unwrap().unwrap().0, "m");
    m.kv_put("ns", "k1", "v2").await.unwrap();
    let (v, ver) = m.kv_get("ns", "k1").await.unwrap().unwrap();
    assert_eq!((v.as_str(), ver), ("v2", 2));
    assert!(matches!(
        m.kv_replace("ns", "k1", "v3", 1).await,
        Err(MetaError::PreconditionFailed)
    ));
    m.kv_replace("ns", "k1", "v3", 2).await.unwrap();
    m.kv_put("ns", "k2", "x").await.unwrap();
    m.kv_put("ns", "j", "x").await.unwrap();
    let listed = m.kv_list("ns", "k", "", 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["k1", "k2"]
    );
    assert_eq!(m.kv_list("ns", "k", "k1", 10).await.unwrap().len(), 1);
    assert!(m.kv_delete("ns", "k1").await.unwrap());
    assert!(!m.kv_delete("ns", "k1").await.unwrap());
}

/// Bucket `b`, for the racing tests.
async fn create_bucket_b(m: &Meta) {
    m.create_bucket(&BucketRow {
        name: "b".into(),
        created_ms: 5,
        owner: "o".into(),
        config: "{}".into(),
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn bucket_reads_racing_bucket_writes_see_each_finished_write() {
    common::each_engine("bucket_reads_racing_writes", bucket_reads_racing_writes).await;
}

/// Readers looking a bucket up without pause while its configuration is replaced, and the
/// bucket deleted and created again (SQLite keeps rows in memory between reads): once a
/// write has returned, every read started after it sees it, never a row from before it.
async fn bucket_reads_racing_writes(m: Meta) {
    create_bucket_b(&m).await;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (m, done) = (m.clone(), done.clone());
        readers.spawn(async move {
            let mut reads = 0u32;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                m.get_bucket("b").await.unwrap();
                reads += 1;
                tokio::task::yield_now().await;
            }
            reads
        });
    }
    for round in 0..40 {
        let config = format!("{{\"round\":{round}}}");
        m.set_bucket_config("b", &config).await.unwrap();
        assert_eq!(m.get_bucket("b").await.unwrap().unwrap().config, config);
        if round % 10 == 9 {
            m.delete_bucket("b").await.unwrap();
            assert!(m.get_bucket("b").await.unwrap().is_none());
            m.create_bucket(&BucketRow {
                name: "b".into(),
                created_ms: round,
                owner: format!("o{round}"),
                config: "{}".into(),
            })
            .await
            .unwrap();
            let row = m.get_bucket("b").await.unwrap().unwrap();
            assert_eq!(
                (row.owner.as_str(), row.config.as_str()),
                (format!("o{round}").as_str(), "{}")
            );
        }
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    while let Some(reads) = readers.join_next().await {
        assert!(reads.unwrap() > 0, "a reader never ran");
    }
}

#[tokio::test]
async fn concurrent_writes_to_one_key_are_decided_in_queue_order() {
    common::each_engine("concurrent_writes_one_key", concurrent_writes_one_key).await;
}

/// Concurrent writes land in shared group-commit batches, where several may name the same
/// key: their preconditions see the batch's earlier writes, and each replaced layout is
/// reported to exactly one writer.
async fn concurrent_writes_one_key(m: Meta) {
    create_bucket_b(&m).await;
    let current = race_one_key(&[m]).await;
    // The stored row is whole: every column from the same write.
    assert_eq!(current.layout, format!("layout-{}", current.etag));
    assert_eq!(current.key, "hot");
    assert_eq!(current.size, 3);
    assert_eq!(current.owner.as_deref(), Some("owner-1"));
}

#[tokio::test]
async fn racing_document_inserts_and_object_writes() {
    common::each_engine("racing_document_inserts", racing_document_inserts).await;
}

/// Document inserts racing each other and object writes (a sign-in's single-use marker is
/// such an insert): of 20 inserts of one key exactly one wins, the others see
/// `AlreadyExists`, distinct keys all land, and the objects are committed alongside.
async fn racing_document_inserts(m: Meta) {
    create_bucket_b(&m).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let m = m.clone();
        tasks.spawn(async move {
            let once = m.kv_insert("used", "block-1", &format!("v{i}")).await;
            let own = m
                .kv_insert("used", &format!("block-{}", i + 100), "v")
                .await;
            let put = m
                .put_object(
                    &ObjectRow {
                        bucket: "b".into(),
                        key: format!("k{i}"),
                        version_id: None,
                        size: 1,
                        etag: "e".into(),
                        last_modified_ms: 1,
                        headers: "{}".into(),
                        checksum: None,
                        layout: "{}".into(),
                        owner: None,
                    },
                    &Precondition::None,
                )
                .await;
            (once, own, put)
        });
    }
    let mut won = 0;
    while let Some(r) = tasks.join_next().await {
        let (once, own, put) = r.unwrap();
        match once {
            Ok(()) => won += 1,
            Err(MetaError::AlreadyExists) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
        own.unwrap();
        put.unwrap();
    }
    assert_eq!(won, 1, "exactly one insert of a key wins");
    assert!(m.kv_get("used", "block-1").await.unwrap().is_some());
    for i in 0..20 {
        assert!(
            m.kv_get("used", &format!("block-{}", i + 100))
                .await
                .unwrap()
                .is_some()
        );
        assert!(m.get_object("b", &format!("k{i}")).await.unwrap().is_some());
    }
}

/// Races 20 conditional creates of key `once`, then 40 plain writes to key `hot`, spread
/// round-robin over `nodes` (one handle, or two on one PostgreSQL database): exactly one
/// create wins, replacing nothing, and every write but the last learns exactly which layout
/// it replaced — so no writer's blobs are leaked or freed twice. Returns `hot`'s row.
async fn race_one_key(nodes: &[Meta]) -> ObjectRow {
    let node = |i: usize| nodes[i % nodes.len()].clone();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let m = node(i);
        tasks.push(tokio::spawn(async move {
            m.put_object(
                &obj("b", "once", &format!("c{i}")),
                &Precondition::MustNotExist,
            )
            .await
        }));
    }
    let mut won = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(outcome) => won.push(outcome.replaced_layout),
            Err(MetaError::PreconditionFailed) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(
        won,
        [None],
        "exactly one conditional create wins, replacing nothing"
    );

    let mut tasks = Vec::new();
    for i in 0..40 {
        let m = node(i);
        tasks.push(tokio::spawn(async move {
            m.put_object(&obj("b", "hot", &format!("h{i}")), &Precondition::None)
                .await
                .unwrap()
                .replaced_layout
        }));
    }
    let mut replaced = Vec::new();
    for t in tasks {
        if let Some(l) = t.await.unwrap() {
            replaced.push(l);
        }
    }
    let current = node(0).get_object("b", "hot").await.unwrap().unwrap();
    replaced.push(current.layout.clone());
    replaced.sort();
    let before = replaced.len();
    replaced.dedup();
    assert_eq!(
        (before, replaced.len()),
        (40, 40),
        "each layout is replaced once"
    );
    current
}

/// Two `Meta` handles on one PostgreSQL database stand for two nodes.
async fn two_nodes(test: &str) -> Option<(Meta, Meta, cubby_meta::pgtest::FreshDb)> {
    let (a, db) = common::postgres(test).await?;
    let b = Meta::connect(&db.url).await.unwrap();
    Some((a, b, db))
}

#[tokio::test]
async fn concurrent_writers_on_two_nodes() {
    let Some((a, b, db)) = two_nodes("concurrent_writers_on_two_nodes").await else {
        return;
    };
    race_one_key(&[a.clone(), b.clone()]).await;

    // Outbox claims from two nodes never overlap (each delivery attempt on one node), and
    // together they take everything due.
    let events: Vec<NewEvent> = (0..50)
        .map(|i| NewEvent {
            target: "t".into(),
            payload: i.to_string(),
        })
        .collect();
    a.enqueue_events(&events).await.unwrap();
    let now = i64::MAX / 4;
    let (x, y) = tokio::join!(
        a.claim_events("t", now, 60_000, 30),
        b.claim_events("t", now, 60_000, 30)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    let mut ids: Vec<i64> = x.iter().chain(y.iter()).map(|e| e.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), x.len() + y.len(), "no row claimed twice");
    let rest = b.claim_events("t", now, 60_000, 50).await.unwrap();
    assert_eq!(ids.len() + rest.len(), 50);
    // Leased rows stay with their node until acknowledged or the lease runs out.
    let claimed: Vec<_> = x.iter().chain(y.iter()).cloned().collect();
    a.ack_events("t", &claimed).await.unwrap();
    assert!(
        a.claim_events("t", now, 60_000, 50)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        a.claim_events("t", now + 60_001, 60_000, 50)
            .await
            .unwrap()
            .len(),
        rest.len()
    );
    a.close().await;
    b.close().await;
    db.drop_db().await.unwrap();
}

#[tokio::test]
async fn nodes_starting_together_migrate_once() {
    let Some((a, db)) = common::postgres("nodes_starting_together_migrate_once").await else {
        return;
    };
    a.close().await;
    let fresh = cubby_meta::pgtest::FreshDb::create(&cubby_meta::pgtest::base_url().unwrap())
        .await
        .unwrap();
    let connects: Vec<_> = (0..4)
        .map(|_| {
            let url = fresh.url.clone();
            tokio::spawn(async move { Meta::connect(&url).await })
        })
        .collect();
    for c in connects {
        let m = c.await.unwrap().unwrap();
        m.put_object(&obj("b", "k", "e"), &Precondition::None)
            .await
            .unwrap();
        m.close().await;
    }
    fresh.drop_db().await.unwrap();
    db.drop_db().await.unwrap();
}

/// An SQLite database serves one process: a second `Meta` on the same file (as another
/// `cubby serve` on the same data dir would open) is refused at once, naming the file.
#[tokio::test]
async fn a_second_user_of_an_sqlite_database_is_refused() {
    let dir = std::env::temp_dir().join(format!("cubby-meta-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}", dir.join("meta.db").display());
    let first = Meta::connect(&url).await.unwrap();
    match Meta::connect(&url).await {
        Err(MetaError::InUse(msg)) => assert!(msg.contains("meta.db"), "{msg}"),
        Err(e) => panic!("expected InUse, got {e}"),
        Ok(_) => panic!("a second Meta opened the database in use"),
    }
    // The first is untouched by the refused attempt.
    create_bucket_b(&first).await;
    assert!(first.get_bucket("b").await.unwrap().is_some());
    std::fs::remove_dir_all(dir).unwrap();
}
