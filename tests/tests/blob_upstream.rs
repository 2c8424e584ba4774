//! Issue 10 (upstream blob store): a cubby node whose blobs live in another cubby through
//! `--blob-url s3://bucket/prefix?endpoint=…`. Everything is driven through the second node
//! with aws-sdk-rust, and the upstream bucket is inspected directly: blobs appear under the
//! prefix, are ciphertext under SSE-S3, go away once unreferenced, and a `kill -9` mid-upload
//! leaves no visible object.
#![allow(clippy::unwrap_used)]

mod common;

use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use common::*;
use sha2::Digest;
use std::time::Duration;

const UP_BUCKET: &str = "upstream";
const PREFIX: &str = "node2";
const MIB: usize = 1024 * 1024;
const MARKER: &[u8] = b"<<CUBBY-UPSTREAM-PLAINTEXT-MARKER>>";

/// The upstream cubby (with its bucket) and a node storing its blobs there.
async fn pair() -> (Server, Server) {
    let up = Server::start();
    root(&up)
        .create_bucket()
        .bucket(UP_BUCKET)
        .send()
        .await
        .unwrap();
    // sweep_grace=0: this node is the prefix's only user, so the start-up sweep may delete
    // every unreferenced blob at once (the default grace is for shared stores).
    let url = format!(
        "s3://{UP_BUCKET}/{PREFIX}?endpoint={}&region=us-east-1&sweep_grace=0",
        up.endpoint
    );
    let node = Server::start_full(
        &[
            ("CUBBY_BLOB_ACCESS_KEY_ID", ROOT_KEY),
            ("CUBBY_BLOB_SECRET_ACCESS_KEY", ROOT_SECRET),
        ],
        &["--blob-url", &url],
    );
    (up, node)
}

/// Keys under the node's prefix in the upstream bucket.
async fn upstream_keys(up: &Client) -> Vec<String> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let r = up
            .list_objects_v2()
            .bucket(UP_BUCKET)
            .prefix(format!("{PREFIX}/"))
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        keys.extend(
            r.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = r.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return keys;
        }
    }
}

async fn upstream_get(up: &Client, key: &str) -> Vec<u8> {
    let r = up
        .get_object()
        .bucket(UP_BUCKET)
        .key(key)
        .send()
        .await
        .unwrap();
    r.body.collect().await.unwrap().into_bytes().to_vec()
}

async fn get(c: &Client, bucket: &str, key: &str, range: Option<String>) -> Vec<u8> {
    let r = c
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_range(range)
        .send()
        .await
        .unwrap();
    r.body.collect().await.unwrap().into_bytes().to_vec()
}

async fn put(c: &Client, bucket: &str, key: &str, body: &[u8]) {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap();
}

fn sha(b: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(b).into()
}

/// In-progress multipart uploads in the upstream bucket.
async fn upstream_uploads(up: &Client) -> usize {
    let r = up
        .list_multipart_uploads()
        .bucket(UP_BUCKET)
        .send()
        .await
        .unwrap();
    r.uploads().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn objects_live_in_an_upstream_cubby() {
    let (up, mut node) = pair().await;
    let cu = root(&up);
    let c = root(&node);
    c.create_bucket().bucket("data").send().await.unwrap();

    // A tiny object lives in its metadata row: nothing goes upstream.
    put(&c, "data", "tiny", b"hello upstream").await;
    assert_eq!(
        get(&c, "data", "tiny", Some("bytes=6-13".into())).await,
        b"upstream"
    );
    assert!(upstream_keys(&cu).await.is_empty());

    // Small object (above the inline size): one upstream PUT, stored as is under the prefix.
    let small = data(cubby_s3::INLINE_MAX as usize + 1, 7);
    put(&c, "data", "small", &small).await;
    assert_eq!(get(&c, "data", "small", None).await, small);
    assert_eq!(
        get(&c, "data", "small", Some("bytes=6-13".into())).await,
        &small[6..=13]
    );
    let head = c
        .head_object()
        .bucket("data")
        .key("small")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(small.len() as i64));
    let keys = upstream_keys(&cu).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with(&format!("{PREFIX}/")), "{keys:?}");
    assert_eq!(upstream_get(&cu, &keys[0]).await, small);

    // 20 MiB single PUT: above the 8 MiB part size, so a multipart upload upstream.
    let big = data(20 * MIB, 1);
    put(&c, "data", "big", &big).await;
    assert_eq!(sha(&get(&c, "data", "big", None).await), sha(&big));
    let r = get(&c, "data", "big", Some("bytes=8000000-17000000".into())).await;
    assert_eq!(r, &big[8_000_000..=17_000_000]);
    assert_eq!(upstream_keys(&cu).await.len(), 2);

    // Multipart upload, 3 × 5 MiB parts (each part its own upstream blob).
    let mp = c
        .create_multipart_upload()
        .bucket("data")
        .key("multi")
        .send()
        .await
        .unwrap();
    let uid = mp.upload_id().unwrap();
    let mut whole = Vec::new();
    let mut parts = Vec::new();
    for n in 1..=3 {
        let body = data(5 * MIB, 10 + n as u64);
        whole.extend_from_slice(&body);
        let r = c
            .upload_part()
            .bucket("data")
            .key("multi")
            .upload_id(uid)
            .part_number(n)
            .body(ByteStream::from(body))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().unwrap())
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket("data")
        .key("multi")
        .upload_id(uid)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(sha(&get(&c, "data", "multi", None).await), sha(&whole));
    let r = get(&c, "data", "multi", Some("bytes=5000000-11000000".into())).await;
    assert_eq!(r, &whole[5_000_000..=11_000_000]);

    // Copy (read from upstream, written back as a new blob) and overwrite.
    c.copy_object()
        .bucket("data")
        .key("big-copy")
        .copy_source("data/big")
        .send()
        .await
        .unwrap();
    assert_eq!(sha(&get(&c, "data", "big-copy", None).await), sha(&big));
    put(&c, "data", "over", b"first version").await;
    put(&c, "data", "over", b"second version").await;
    assert_eq!(get(&c, "data", "over", None).await, b"second version");

    // SSE-S3 by bucket default: the upstream holds ciphertext; ranges decrypt.
    c.create_bucket().bucket("enc").send().await.unwrap();
    c.put_bucket_encryption()
        .bucket("enc")
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::Aes256)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let marked: Vec<u8> = MARKER
        .iter()
        .copied()
        .cycle()
        .take(12 * MIB + 4321)
        .collect();
    let before = upstream_keys(&cu).await;
    let r = c
        .put_object()
        .bucket("enc")
        .key("secret")
        .body(ByteStream::from(marked.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    assert_eq!(sha(&get(&c, "enc", "secret", None).await), sha(&marked));
    let n = marked.len();
    for (from, to) in [
        (0, 9),
        (65_530, 65_560),
        (8 * MIB - 7, 8 * MIB + 70_000),
        (n - 5, n - 1),
    ] {
        let r = get(&c, "enc", "secret", Some(format!("bytes={from}-{to}"))).await;
        assert_eq!(r, &marked[from..=to], "range {from}-{to}");
    }
    let new: Vec<String> = upstream_keys(&cu)
        .await
        .into_iter()
        .filter(|k| !before.contains(k))
        .collect();
    assert_eq!(new.len(), 1, "{new:?}");
    let stored = upstream_get(&cu, &new[0]).await;
    assert!(stored.len() > n, "sealed blob carries tags");
    assert!(
        !stored.windows(MARKER.len()).any(|w| w == MARKER),
        "plaintext reached the upstream"
    );

    // An aborted write (bad Content-MD5 after 20 MiB) leaves no blob and no upload upstream.
    let keys_before_bad = upstream_keys(&cu).await;
    let bad = c
        .put_object()
        .bucket("data")
        .key("bad")
        .content_md5("1B2M2Y8AsgTpgAmY7PhCfg==")
        .body(ByteStream::from(data(20 * MIB, 99)))
        .send()
        .await;
    assert!(bad.is_err());
    let mut uploads = usize::MAX;
    for _ in 0..100 {
        uploads = upstream_uploads(&cu).await;
        if uploads == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        uploads, 0,
        "the failed PUT's upstream multipart upload was not aborted"
    );
    assert_eq!(upstream_keys(&cu).await, keys_before_bad);

    // Delete; the blobs of deleted and overwritten objects are removed after the grace
    // period or, as here, by the start-up sweep.
    c.delete_object()
        .bucket("data")
        .key("small")
        .send()
        .await
        .unwrap();
    let e = c
        .get_object()
        .bucket("data")
        .key("small")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "NoSuchKey");
    node.restart();
    let c = root(&node);
    // Referenced: big, multi (3 part blobs), big-copy, secret ("over" is tiny: inline).
    let keys = upstream_keys(&cu).await;
    assert_eq!(keys.len(), 6, "{keys:?}");
    assert_eq!(sha(&get(&c, "data", "big", None).await), sha(&big));
    assert_eq!(sha(&get(&c, "data", "multi", None).await), sha(&whole));
    assert_eq!(get(&c, "data", "over", None).await, b"second version");
    assert_eq!(sha(&get(&c, "enc", "secret", None).await), sha(&marked));

    // The node reports the upstream in its readiness check.
    assert_eq!(
        cubby_tests::http_status(node.port, "/_cubby/ready"),
        Some(200)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_mid_upload_leaves_no_object() {
    let (up, mut node) = pair().await;
    let cu = root(&up);
    let c = root(&node);
    c.create_bucket().bucket("data").send().await.unwrap();
    let kept = data(cubby_s3::INLINE_MAX as usize + 1, 8);
    put(&c, "data", "kept", &kept).await;

    // A 32 MiB PUT whose body stalls after 20 MiB: the node has begun the upstream multipart
    // upload (parts of 8 MiB) when it dies.
    let url = c
        .put_object()
        .bucket("data")
        .key("torn")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let upload = tokio::spawn(
        reqwest::Client::new()
            .put(url.uri())
            .header("content-length", (32 * MIB).to_string())
            .body(reqwest::Body::wrap_stream(body))
            .send(),
    );
    for i in 0..20 {
        tx.send(Ok(data(MIB, i))).await.unwrap();
    }
    let mut started = false;
    for _ in 0..200 {
        if upstream_uploads(&cu).await > 0 {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started, "no upstream multipart upload in progress");
    node.kill9();
    drop(tx);
    assert!(upload.await.unwrap().is_err(), "the torn PUT was answered");

    node.restart();
    let c = root(&node);
    let e = c
        .head_object()
        .bucket("data")
        .key("torn")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(404));
    let listed = c.list_objects_v2().bucket("data").send().await.unwrap();
    let names: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(names, ["kept"]);
    assert_eq!(get(&c, "data", "kept", None).await, kept);
    // Upstream, only the acknowledged object's blob is an object; the torn upload's parts are
    // an invisible in-progress multipart upload (for the upstream's lifecycle rule).
    assert_eq!(upstream_keys(&cu).await.len(), 1);
}
