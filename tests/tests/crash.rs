//! Durability: `kill -9` the server in the middle of 200 concurrent uploads, restart it, and
//! check that every acknowledged object is intact, nothing partial is visible and no orphan
//! blob survives the start-up sweep.
#![allow(clippy::unwrap_used)]

mod common;
use aws_sdk_s3::primitives::ByteStream;
use common::*;
use sha2::Digest;
use std::sync::{Arc, Mutex};

/// (key, SHA-256 of the body) of every upload that got a 200.
type Acked = Arc<Mutex<Vec<(String, [u8; 32])>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_mid_upload_loses_nothing_acknowledged() {
    let mut server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("crash").send().await.unwrap();
    let pid = server.pid().unwrap();

    let acked: Acked = Arc::default();
    let killed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sem = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let (c, acked, killed, sem) = (c.clone(), acked.clone(), killed.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await.unwrap();
            let body = data(body_size(i), i);
            let key = format!("obj-{i:03}");
            let digest: [u8; 32] = sha2::Sha256::digest(&body).into();
            let res = c
                .put_object()
                .bucket("crash")
                .key(&key)
                .body(ByteStream::from(body))
                .send()
                .await;
            if res.is_ok() {
                let mut a = acked.lock().unwrap();
                a.push((key, digest));
                if a.len() == 60 && !killed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    let _ = std::process::Command::new("kill")
                        .arg("-9")
                        .arg(pid.to_string())
                        .status();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(
        killed.load(std::sync::atomic::Ordering::SeqCst),
        "server was never killed"
    );
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 60 && acked.len() < 200,
        "acked {}",
        acked.len()
    );

    server.restart();
    let c = root(&server);
    // Every acknowledged object is intact.
    for (key, digest) in &acked {
        let got = c
            .get_object()
            .bucket("crash")
            .key(key)
            .send()
            .await
            .unwrap();
        let bytes = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(
            <[u8; 32]>::from(sha2::Sha256::digest(&bytes)),
            *digest,
            "{key}"
        );
    }
    // Everything listed is complete (an upload may have committed without its ack arriving).
    let listed = c.list_objects_v2().bucket("crash").send().await.unwrap();
    let keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect();
    assert!(keys.len() >= acked.len());
    for key in &keys {
        let i: u64 = key.trim_start_matches("obj-").parse().unwrap();
        let expected = data(body_size(i), i);
        let got = c
            .get_object()
            .bucket("crash")
            .key(key)
            .send()
            .await
            .unwrap();
        let bytes = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(bytes.len(), expected.len(), "{key} is partial");
        assert_eq!(
            sha2::Sha256::digest(&bytes),
            sha2::Sha256::digest(&expected),
            "{key}"
        );
    }
    // No orphans: one blob file per listed object too large to be inline, nothing in tmp/.
    let mut blobs = 0;
    for shard in std::fs::read_dir(server.data_dir.join("blobs")).unwrap() {
        blobs += std::fs::read_dir(shard.unwrap().path()).unwrap().count();
    }
    let in_files = keys
        .iter()
        .filter(|k| {
            let i: u64 = k.trim_start_matches("obj-").parse().unwrap();
            body_size(i) as u64 > cubby_s3::INLINE_MAX
        })
        .count();
    assert!(in_files < keys.len(), "no inline object was stored");
    assert_eq!(blobs, in_files, "orphan blobs after the start-up sweep");
    assert_eq!(
        std::fs::read_dir(server.data_dir.join("tmp"))
            .unwrap()
            .count(),
        0
    );
}

/// Object `i`'s size: every fourth is small enough to live in its metadata row, the others
/// are blob files of 16 KiB and up.
fn body_size(i: u64) -> usize {
    if i.is_multiple_of(4) {
        1000 + i as usize
    } else {
        16 * 1024 + 1 + (i as usize % 7) * 40_000
    }
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly_and_data_survives() {
    let mut server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("term").send().await.unwrap();
    c.put_object()
        .bucket("term")
        .key("k")
        .body(ByteStream::from_static(b"kept"))
        .send()
        .await
        .unwrap();
    assert!(
        server.terminate(),
        "non-zero exit on SIGTERM; log: {}",
        server.log()
    );
    server.restart();
    let c = root(&server);
    let got = c.get_object().bucket("term").key("k").send().await.unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"kept"
    );
}
