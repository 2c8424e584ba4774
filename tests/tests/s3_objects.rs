//! S3 core through aws-sdk-rust: buckets, objects, listings, copies, checksums, conditionals.
#![allow(clippy::unwrap_used)]

mod common;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, Delete, MetadataDirective, ObjectAttributes, ObjectIdentifier,
};
use common::*;
use sha2::Digest;

#[tokio::test]
async fn buckets_lifecycle_and_rules() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("alpha").send().await.unwrap();
    c.create_bucket()
        .bucket("beta.example")
        .send()
        .await
        .unwrap();
    // us-east-1 keeps S3's legacy answer: re-creating your own bucket succeeds.
    c.create_bucket().bucket("alpha").send().await.unwrap();
    for bad in [
        "ab",
        "UPPER",
        "has_underscore",
        "-dash",
        "192.168.1.1",
        "a..b",
    ] {
        let e = c.create_bucket().bucket(bad).send().await.unwrap_err();
        assert_eq!(code(&e), "InvalidBucketName", "{bad}");
    }
    let names: Vec<String> = c
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_owned))
        .collect();
    assert_eq!(names, vec!["alpha", "beta.example"]);
    c.head_bucket().bucket("alpha").send().await.unwrap();
    let e = c.head_bucket().bucket("missing").send().await.unwrap_err();
    assert_eq!(status(&e), 404);
    let loc = c
        .get_bucket_location()
        .bucket("alpha")
        .send()
        .await
        .unwrap();
    assert!(
        loc.location_constraint().is_none()
            || loc.location_constraint().unwrap().as_str().is_empty()
    );
    c.put_object()
        .bucket("alpha")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let e = c.delete_bucket().bucket("alpha").send().await.unwrap_err();
    assert_eq!(code(&e), "BucketNotEmpty");
    c.delete_object()
        .bucket("alpha")
        .key("k")
        .send()
        .await
        .unwrap();
    // A bucket holding only an unfinished multipart upload can be deleted.
    c.create_multipart_upload()
        .bucket("alpha")
        .key("mp")
        .send()
        .await
        .unwrap();
    c.delete_bucket().bucket("alpha").send().await.unwrap();
    let e = c
        .get_object()
        .bucket("alpha")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "NoSuchBucket");
}

#[tokio::test]
async fn put_get_head_with_metadata_ranges_and_conditionals() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let body = data(100_000, 1);
    let put = c
        .put_object()
        .bucket("bkt")
        .key("dir/file.bin")
        .body(ByteStream::from(body.clone()))
        .content_type("application/x-test")
        .content_disposition("attachment")
        .cache_control("no-cache")
        .metadata("color", "blue")
        .metadata("unicode", "héllo wörld")
        .send()
        .await
        .unwrap();
    let etag = put.e_tag().unwrap().to_owned();
    assert_eq!(
        etag,
        format!("\"{}\"", hex::encode(md5::Md5::digest(&body)))
    );

    let got = c
        .get_object()
        .bucket("bkt")
        .key("dir/file.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("application/x-test"));
    assert_eq!(got.content_disposition(), Some("attachment"));
    assert_eq!(got.cache_control(), Some("no-cache"));
    assert_eq!(
        got.metadata().unwrap().get("color").map(String::as_str),
        Some("blue")
    );
    assert_eq!(
        got.metadata().unwrap().get("unicode").map(String::as_str),
        Some("héllo wörld")
    );
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        &body[..]
    );

    let head = c
        .head_object()
        .bucket("bkt")
        .key("dir/file.bin")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(100_000));
    assert_eq!(head.e_tag(), Some(etag.as_str()));

    let r = c
        .get_object()
        .bucket("bkt")
        .key("dir/file.bin")
        .range("bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(r.content_range(), Some("bytes 10-19/100000"));
    assert_eq!(
        r.body.collect().await.unwrap().into_bytes().as_ref(),
        &body[10..20]
    );
    let r = c
        .get_object()
        .bucket("bkt")
        .key("dir/file.bin")
        .range("bytes=-5")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.body.collect().await.unwrap().into_bytes().as_ref(),
        &body[99_995..]
    );
    let e = c
        .get_object()
        .bucket("bkt")
        .key("dir/file.bin")
        .range("bytes=200000-")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "InvalidRange");

    let e = c
        .get_object()
        .bucket("bkt")
        .key("dir/file.bin")
        .if_match("\"nope\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 412);
    let e = c
        .get_object()
        .bucket("bkt")
        .key("dir/file.bin")
        .if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 304);
    c.get_object()
        .bucket("bkt")
        .key("dir/file.bin")
        .if_match(&etag)
        .send()
        .await
        .unwrap();

    let r = c
        .get_object()
        .bucket("bkt")
        .key("dir/file.bin")
        .response_content_type("text/plain")
        .response_content_disposition("inline")
        .send()
        .await
        .unwrap();
    assert_eq!(r.content_type(), Some("text/plain"));
    assert_eq!(r.content_disposition(), Some("inline"));

    // Conditional create.
    let e = c
        .put_object()
        .bucket("bkt")
        .key("dir/file.bin")
        .if_none_match("*")
        .body(ByteStream::from_static(b"new"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 412);
    c.put_object()
        .bucket("bkt")
        .key("fresh")
        .if_none_match("*")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();

    let e = c
        .get_object()
        .bucket("bkt")
        .key("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "NoSuchKey");
    c.delete_object()
        .bucket("bkt")
        .key("dir/file.bin")
        .send()
        .await
        .unwrap();
    c.delete_object()
        .bucket("bkt")
        .key("dir/file.bin")
        .send()
        .await
        .unwrap();
    assert!(
        c.head_object()
            .bucket("bkt")
            .key("dir/file.bin")
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn every_checksum_algorithm_is_verified_stored_and_returned() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("cks").send().await.unwrap();
    let body = data(70_000, 7);
    for algo in [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32C,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ] {
        let key = format!("obj-{}", algo.as_str());
        let put = c
            .put_object()
            .bucket("cks")
            .key(&key)
            .checksum_algorithm(algo.clone())
            .body(ByteStream::from(body.clone()))
            .send()
            .await
            .unwrap();
        let head = c
            .head_object()
            .bucket("cks")
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        let (sent, back) = match algo {
            ChecksumAlgorithm::Crc32 => (put.checksum_crc32(), head.checksum_crc32()),
            ChecksumAlgorithm::Crc32C => (put.checksum_crc32_c(), head.checksum_crc32_c()),
            ChecksumAlgorithm::Crc64Nvme => (put.checksum_crc64_nvme(), head.checksum_crc64_nvme()),
            ChecksumAlgorithm::Sha1 => (put.checksum_sha1(), head.checksum_sha1()),
            _ => (put.checksum_sha256(), head.checksum_sha256()),
        };
        assert!(sent.is_some(), "{algo:?}: no checksum echoed on PUT");
        assert_eq!(sent, back, "{algo:?}");
        // GetObject validates the returned checksum in the SDK itself.
        let got = c
            .get_object()
            .bucket("cks")
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.body.collect().await.unwrap().into_bytes().len(),
            body.len()
        );
    }
    // A wrong checksum is refused and nothing is stored.
    let e = c
        .put_object()
        .bucket("cks")
        .key("bad")
        .checksum_crc32("AAAAAA==")
        .body(ByteStream::from_static(b"not empty"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "BadDigest");
    assert!(
        c.head_object()
            .bucket("cks")
            .key("bad")
            .send()
            .await
            .is_err()
    );
    // A wrong Content-MD5 likewise.
    let e = c
        .put_object()
        .bucket("cks")
        .key("bad")
        .content_md5("1B2M2Y8AsgTpgAmY7PhCfg==")
        .body(ByteStream::from_static(b"not empty"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "BadDigest");
}

/// Store the one-byte object `1` under `key`.
async fn put_one_byte(c: &aws_sdk_s3::Client, bucket: &str, key: &str) {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"1"))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn listings_v1_v2_prefix_delimiter_pagination() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("lst").send().await.unwrap();
    let keys = [
        "a/1",
        "a/2",
        "a/b/3",
        "b/1",
        "c",
        "d+e f",
        "photos/2024/x.jpg",
    ];
    for k in keys {
        put_one_byte(&c, "lst", k).await;
    }
    let all = c.list_objects_v2().bucket("lst").send().await.unwrap();
    let got: Vec<&str> = all.contents().iter().filter_map(|o| o.key()).collect();
    let mut sorted = keys.to_vec();
    sorted.sort();
    assert_eq!(got, sorted);
    assert_eq!(all.key_count(), Some(keys.len() as i32));

    let d = c
        .list_objects_v2()
        .bucket("lst")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<&str> = d
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, vec!["a/", "b/", "photos/"]);
    let top: Vec<&str> = d.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(top, vec!["c", "d+e f"]);

    let p = c
        .list_objects_v2()
        .bucket("lst")
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    assert_eq!(
        p.contents()
            .iter()
            .filter_map(|o| o.key())
            .collect::<Vec<_>>(),
        vec!["a/1", "a/2"]
    );
    assert_eq!(
        p.common_prefixes()
            .iter()
            .filter_map(|x| x.prefix())
            .collect::<Vec<_>>(),
        vec!["a/b/"]
    );

    // Page through with max-keys 2 and continuation tokens.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let r = c
            .list_objects_v2()
            .bucket("lst")
            .max_keys(2)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        if let Some(t) = &token {
            assert_eq!(r.continuation_token(), Some(t.as_str()));
        }
        seen.extend(
            r.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        if r.is_truncated() != Some(true) {
            break;
        }
        token = r.next_continuation_token().map(str::to_owned);
    }
    assert_eq!(seen, sorted);

    let after = c
        .list_objects_v2()
        .bucket("lst")
        .start_after("b/1")
        .send()
        .await
        .unwrap();
    assert_eq!(after.contents().first().and_then(|o| o.key()), Some("c"));

    // V1 with marker.
    let v1 = c
        .list_objects()
        .bucket("lst")
        .marker("a/b/3")
        .max_keys(1)
        .send()
        .await
        .unwrap();
    assert_eq!(v1.contents().first().and_then(|o| o.key()), Some("b/1"));
    assert_eq!(v1.is_truncated(), Some(true));

    // encoding-type=url escapes '+' and spaces.
    let enc = c
        .list_objects_v2()
        .bucket("lst")
        .prefix("d")
        .encoding_type(aws_sdk_s3::types::EncodingType::Url)
        .send()
        .await
        .unwrap();
    // aws-sdk-rust leaves decoding to the caller: the wire form shows S3's escaping.
    assert_eq!(
        enc.contents().first().and_then(|o| o.key()),
        Some("d%2Be%20f")
    );

    let versions = c
        .list_object_versions()
        .bucket("lst")
        .prefix("a/")
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 3);
    assert!(
        versions
            .versions()
            .iter()
            .all(|v| v.version_id() == Some("null") && v.is_latest() == Some(true))
    );
}

/// A delimiter listing over many folders with several objects each, then a long run of plain
/// objects: the walk jumps folder to folder and reads plain objects in growing batches. Every
/// page size gives the same entries, in order, as S3 would list them.
#[tokio::test]
async fn delimiter_walks_over_many_folders_and_long_runs_list_every_entry_once() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("walk").send().await.unwrap();
    let mut keys: Vec<String> = Vec::new();
    for d in 0..45 {
        for f in 0..3 {
            keys.push(format!("d{d:02}/f{f}"));
        }
    }
    for i in 0..150 {
        keys.push(format!("z{i:03}"));
    }
    keys.push("zz/deep/1".into());
    let mut uploads = tokio::task::JoinSet::new();
    for k in keys.clone() {
        let c = c.clone();
        uploads.spawn(async move { put_one_byte(&c, "walk", &k).await });
    }
    while let Some(r) = uploads.join_next().await {
        r.unwrap();
    }
    // What S3 lists with delimiter "/": the 45 folders, the 150 plain keys, then "zz/".
    let mut expected: Vec<String> = (0..45).map(|d| format!("P:d{d:02}/")).collect();
    expected.extend((0..150).map(|i| format!("K:z{i:03}")));
    expected.push("P:zz/".into());
    for page in [1, 7, 32, 33, 1000] {
        let mut seen: Vec<String> = Vec::new();
        let mut token = None;
        loop {
            let r = c
                .list_objects_v2()
                .bucket("walk")
                .delimiter("/")
                .max_keys(page)
                .set_continuation_token(token.clone())
                .send()
                .await
                .unwrap();
            let prefixes = r.common_prefixes().iter().filter_map(|p| p.prefix());
            let objects = r.contents().iter().filter_map(|o| o.key());
            let mut got: Vec<String> = prefixes
                .map(|p| format!("P:{p}"))
                .chain(objects.map(|k| format!("K:{k}")))
                .collect();
            assert!(
                got.len() <= page as usize,
                "page {page}: {} entries",
                got.len()
            );
            // Prefixes and keys come in separate lists; within a page they interleave in
            // key order.
            got.sort_by(|a, b| a[2..].cmp(&b[2..]));
            seen.extend(got);
            if r.is_truncated() != Some(true) {
                break;
            }
            token = r.next_continuation_token().map(str::to_owned);
        }
        assert_eq!(seen, expected, "max-keys {page}");
    }
}

#[tokio::test]
async fn copy_delete_many_and_attributes() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("cpy").send().await.unwrap();
    let body = data(10_000, 3);
    c.put_object()
        .bucket("cpy")
        .key("src")
        .metadata("m", "1")
        .content_type("text/x-src")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    c.copy_object()
        .bucket("cpy")
        .key("copy")
        .copy_source("cpy/src")
        .send()
        .await
        .unwrap();
    let h = c
        .head_object()
        .bucket("cpy")
        .key("copy")
        .send()
        .await
        .unwrap();
    assert_eq!(h.content_type(), Some("text/x-src"));
    assert_eq!(
        h.metadata().unwrap().get("m").map(String::as_str),
        Some("1")
    );
    c.copy_object()
        .bucket("cpy")
        .key("copy2")
        .copy_source("cpy/src")
        .metadata_directive(MetadataDirective::Replace)
        .metadata("m", "2")
        .content_type("text/x-new")
        .send()
        .await
        .unwrap();
    let h = c
        .head_object()
        .bucket("cpy")
        .key("copy2")
        .send()
        .await
        .unwrap();
    assert_eq!(h.content_type(), Some("text/x-new"));
    assert_eq!(
        h.metadata().unwrap().get("m").map(String::as_str),
        Some("2")
    );
    let got = c
        .get_object()
        .bucket("cpy")
        .key("copy2")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        &body[..]
    );
    let e = c
        .copy_object()
        .bucket("cpy")
        .key("src")
        .copy_source("cpy/src")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "InvalidRequest");

    let attrs = c
        .get_object_attributes()
        .bucket("cpy")
        .key("src")
        .object_attributes(ObjectAttributes::Etag)
        .object_attributes(ObjectAttributes::ObjectSize)
        .send()
        .await
        .unwrap();
    assert_eq!(attrs.object_size(), Some(10_000));
    assert!(attrs.e_tag().is_some());

    let del = Delete::builder()
        .objects(ObjectIdentifier::builder().key("src").build().unwrap())
        .objects(ObjectIdentifier::builder().key("copy").build().unwrap())
        .objects(
            ObjectIdentifier::builder()
                .key("never-existed")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let r = c
        .delete_objects()
        .bucket("cpy")
        .delete(del)
        .send()
        .await
        .unwrap();
    assert_eq!(r.deleted().len(), 3);
    assert!(r.errors().is_empty());
    let left = c.list_objects_v2().bucket("cpy").send().await.unwrap();
    assert_eq!(
        left.contents()
            .iter()
            .filter_map(|o| o.key())
            .collect::<Vec<_>>(),
        vec!["copy2"]
    );
}

#[tokio::test]
async fn tags_come_back_in_key_order_however_they_were_sent() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("tagged").send().await.unwrap();
    let pairs = |t: &[aws_sdk_s3::types::Tag]| -> Vec<(String, String)> {
        t.iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect()
    };
    let object_tags = || async {
        let got = c
            .get_object_tagging()
            .bucket("tagged")
            .key("k")
            .send()
            .await
            .unwrap();
        pairs(got.tag_set())
    };
    // Header form, out of order, one tag without a value.
    c.put_object()
        .bucket("tagged")
        .key("k")
        .tagging("foo=bar&bar")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        object_tags().await,
        [("bar".into(), String::new()), ("foo".into(), "bar".into())]
    );
    // XML form, on the object and on the bucket.
    let tagging = |keys: &[&str]| {
        aws_sdk_s3::types::Tagging::builder()
            .set_tag_set(Some(
                keys.iter()
                    .map(|k| {
                        aws_sdk_s3::types::Tag::builder()
                            .key(*k)
                            .value("v")
                            .build()
                            .unwrap()
                    })
                    .collect(),
            ))
            .build()
            .unwrap()
    };
    c.put_object_tagging()
        .bucket("tagged")
        .key("k")
        .tagging(tagging(&["zeta", "Alpha", "mid"]))
        .send()
        .await
        .unwrap();
    let keys: Vec<String> = object_tags().await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["Alpha", "mid", "zeta"]);
    c.put_bucket_tagging()
        .bucket("tagged")
        .tagging(tagging(&["b", "a"]))
        .send()
        .await
        .unwrap();
    let got = c
        .get_bucket_tagging()
        .bucket("tagged")
        .send()
        .await
        .unwrap();
    let keys: Vec<String> = pairs(got.tag_set()).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["a", "b"]);
}

#[tokio::test]
async fn hostile_keys_stay_inside_the_data_dir() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("keys").send().await.unwrap();
    let long = "é".repeat(512); // 1024 bytes of UTF-8
    let keys = [
        "../../etc/passwd".to_owned(),
        "a//b".to_owned(),
        "/leading-slash".to_owned(),
        "tab\there".to_owned(),
        "ctl\u{1}\u{7f}".to_owned(),
        "question?hash#percent%".to_owned(),
        long.clone(),
    ];
    for (i, k) in keys.iter().enumerate() {
        let body = format!("body {i}");
        c.put_object()
            .bucket("keys")
            .key(k)
            .body(ByteStream::from(body.clone().into_bytes()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{k:?}: {e:?}"));
        let got = c.get_object().bucket("keys").key(k).send().await.unwrap();
        assert_eq!(
            got.body.collect().await.unwrap().into_bytes().as_ref(),
            body.as_bytes(),
            "{k:?}"
        );
    }
    let e = c
        .put_object()
        .bucket("keys")
        .key(format!("{long}x"))
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "KeyTooLongError");
    // Nothing under the data dir is named after a key: blob files are 32 hex characters.
    let mut stack = vec![server.data_dir.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                !name.contains("passwd") && !name.contains("leading"),
                "{name}"
            );
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            }
        }
    }
    assert!(!std::path::Path::new("/etc/passwd.cubby").exists());
}

#[tokio::test]
async fn aws_chunked_streaming_upload_with_trailer() {
    // The SDK sends a stream body of unknown length as aws-chunked with a CRC32 trailer.
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("stream").send().await.unwrap();
    let body = data(300_000, 11);
    let path = server.data_dir.join("upload.bin");
    std::fs::write(&path, &body).unwrap();
    let stream = ByteStream::from_path(&path).await.unwrap();
    c.put_object()
        .bucket("stream")
        .key("streamed")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .body(stream)
        .send()
        .await
        .unwrap();
    let got = c
        .get_object()
        .bucket("stream")
        .key("streamed")
        .send()
        .await
        .unwrap();
    let bytes = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(sha2::Sha256::digest(&bytes), sha2::Sha256::digest(&body));
}

#[tokio::test]
async fn delete_objects_keeps_whitespace_in_keys() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("space").send().await.unwrap();
    let keys = ["_ ", " lead", "trail ", "a\tb"];
    let mut del = Delete::builder();
    for k in keys {
        c.put_object()
            .bucket("space")
            .key(k)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
        del = del.objects(ObjectIdentifier::builder().key(k).build().unwrap());
    }
    let r = c
        .delete_objects()
        .bucket("space")
        .delete(del.build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.deleted().len(), keys.len());
    let left = c.list_objects_v2().bucket("space").send().await.unwrap();
    assert!(left.contents().is_empty(), "{:?}", left.contents());
}

#[tokio::test]
async fn virtual_host_style_with_domain() {
    let server = Server::start_full(&[], &["--domain", "s3.test"]);
    let c = root(&server);
    c.create_bucket().bucket("vhost").send().await.unwrap();
    c.put_object()
        .bucket("vhost")
        .key("dir/k")
        .body(ByteStream::from_static(b"virtual"))
        .send()
        .await
        .unwrap();
    // Address the bucket through the Host header, as virtual-host-style clients do.
    let url = format!("http://127.0.0.1:{}/dir/k", server.port);
    let (mut parts, ()) = http::Request::builder()
        .method("GET")
        .uri(&url)
        .header("host", "vhost.s3.test")
        .header("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        .body(())
        .unwrap()
        .into_parts();
    cubby_auth::sigv4::sign_request(
        &mut parts,
        ROOT_KEY,
        ROOT_SECRET,
        None,
        "us-east-1",
        "s3",
        "UNSIGNED-PAYLOAD",
        now(),
    );
    let mut rb = reqwest::Client::new().get(&url);
    for (k, v) in &parts.headers {
        rb = rb.header(k.as_str(), v.as_bytes());
    }
    let r = rb.send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "virtual");
}

#[tokio::test]
async fn expected_bucket_owner_and_conflicting_encryption_headers_are_refused() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("owned").send().await.unwrap();
    let put = |owner: &str| {
        c.put_object()
            .bucket("owned")
            .key("k")
            .expected_bucket_owner(owner)
            .body(ByteStream::from_static(b"x"))
            .send()
    };
    put("000000000000").await.unwrap();
    let e = put("111111111111").await.unwrap_err();
    assert_eq!(status(&e), 403);
    let e = c
        .get_object()
        .bucket("owned")
        .key("k")
        .expected_bucket_owner("111111111111")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 403);

    // SSE-C and SSE-S3 together: 400 InvalidArgument (SSE-C alone: 501, not built).
    let sse_c = |both: bool| {
        let mut req = c
            .put_object()
            .bucket("owned")
            .key("enc")
            .sse_customer_algorithm("AES256")
            .sse_customer_key("MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=")
            .sse_customer_key_md5("HmMu2BcBNqA4xYwGhUYzgw==")
            .body(ByteStream::from_static(b"x"));
        if both {
            req = req.server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::Aes256);
        }
        req.send()
    };
    let e = sse_c(true).await.unwrap_err();
    assert_eq!(status(&e), 400);
    assert_eq!(code(&e.into_service_error()), "InvalidArgument");
    let e = sse_c(false).await.unwrap_err();
    assert_eq!(status(&e), 501);
}

#[tokio::test]
async fn delete_objects_honours_per_object_conditions() {
    use aws_sdk_s3::primitives::DateTime;
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("cond").send().await.unwrap();
    c.put_object()
        .bucket("cond")
        .key("obj")
        .body(ByteStream::from_static(b"four"))
        .send()
        .await
        .unwrap();
    let head = c
        .head_object()
        .bucket("cond")
        .key("obj")
        .send()
        .await
        .unwrap();
    let mtime = *head.last_modified().unwrap();
    let delete = |entry: ObjectIdentifier| {
        c.delete_objects()
            .bucket("cond")
            .delete(Delete::builder().objects(entry).build().unwrap())
            .send()
    };
    let entry = || ObjectIdentifier::builder().key("obj");
    for wrong in [
        entry().last_modified_time(DateTime::from_secs(1_420_070_400)),
        entry().size(5),
        entry().e_tag("\"0123456789abcdef0123456789abcdef\""),
    ] {
        let r = delete(wrong.build().unwrap()).await.unwrap();
        assert_eq!(r.errors()[0].code(), Some("PreconditionFailed"));
        assert!(r.deleted().is_empty());
    }
    let right = entry()
        .last_modified_time(mtime)
        .size(4)
        .e_tag(head.e_tag().unwrap())
        .build()
        .unwrap();
    let r = delete(right).await.unwrap();
    assert_eq!(r.deleted()[0].key(), Some("obj"));
    assert!(r.errors().is_empty());
}
