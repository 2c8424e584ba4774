//! Quota usage is counted from the rows: objects by owner under a prefix, plus multipart
//! uploads in progress (one object each, with their parts' bytes), until they complete or
//! abort.
#![allow(clippy::unwrap_used)]

mod common;

use cubby_meta::{Meta, ObjectRow, PartRow, Precondition, UploadRow, Usage};

fn object(key: &str, size: i64, owner: &str) -> ObjectRow {
    common::owned_object(key, size, owner)
}

#[tokio::test]
async fn usage_counts_objects_and_uploads_in_progress() {
    common::each_engine("usage_counts_objects_and_uploads_in_progress", counts).await;
}

async fn counts(m: Meta) {
    for (k, size, owner) in [
        ("a/1", 10, "alice"),
        ("a/2", 5, "alice"),
        ("b/1", 7, "alice"),
        ("a/3", 100, "bob"),
    ] {
        m.put_object_with_events(&object(k, size, owner), &Precondition::None, vec![])
            .await
            .unwrap();
    }
    assert_eq!(
        m.usage("b", "alice", "").await.unwrap(),
        Usage {
            objects: 3,
            bytes: 22
        }
    );
    assert_eq!(
        m.usage("b", "alice", "a/").await.unwrap(),
        Usage {
            objects: 2,
            bytes: 15
        }
    );
    assert_eq!(m.usage("b", "carol", "").await.unwrap(), Usage::default());
    // Overwriting another owner's key moves the object to the new owner.
    m.put_object_with_events(&object("a/3", 1, "alice"), &Precondition::None, vec![])
        .await
        .unwrap();
    assert_eq!(
        m.usage("b", "alice", "a/").await.unwrap(),
        Usage {
            objects: 3,
            bytes: 16
        }
    );
    assert_eq!(m.usage("b", "bob", "").await.unwrap(), Usage::default());

    // A multipart upload in progress counts as one object with its parts' bytes.
    m.create_upload(&UploadRow {
        upload_id: "u1".into(),
        bucket: "b".into(),
        key: "a/big".into(),
        initiated_ms: 0,
        info: "{}".into(),
        completed: None,
        owner: Some("alice".into()),
    })
    .await
    .unwrap();
    for n in 1..=2 {
        m.put_part(&PartRow {
            upload_id: "u1".into(),
            part_number: n,
            size: 50,
            etag: "e".into(),
            blob_id: format!("blob{n}"),
            checksum: None,
            last_modified_ms: 0,
        })
        .await
        .unwrap();
    }
    assert_eq!(
        m.usage("b", "alice", "a/").await.unwrap(),
        Usage {
            objects: 4,
            bytes: 116
        }
    );
    let report = m.usage_by_owner("b", "a/", 10).await.unwrap();
    assert_eq!(report.len(), 1);
    assert_eq!(
        (report[0].owner.as_str(), report[0].usage),
        (
            "alice",
            Usage {
                objects: 4,
                bytes: 116
            }
        )
    );

    // Completing turns it into an object of the final size; nothing is counted twice.
    m.complete_upload(
        "u1",
        &object("a/big", 100, "alice"),
        &Precondition::None,
        &[],
        "{}",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        m.usage("b", "alice", "a/").await.unwrap(),
        Usage {
            objects: 4,
            bytes: 116
        }
    );
    m.delete_object("b", "a/big").await.unwrap();
    assert_eq!(
        m.usage("b", "alice", "a/").await.unwrap(),
        Usage {
            objects: 3,
            bytes: 16
        }
    );
}
