//! SSE-S3 (issue 8 item 4) through aws-sdk-rust against the real binary: the bucket
//! encryption configuration, per-request and default encryption, ciphertext on disk, range
//! reads across segment boundaries, multipart, copies, the bucket-policy condition key and
//! tamper detection.
#![allow(clippy::unwrap_used)]

mod common;
mod idhelp;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use common::*;
use idhelp::*;
use serde_json::json;
use std::path::{Path, PathBuf};

const SEG: usize = 64 * 1024;
const MARKER: &[u8] = b"<<CUBBY-SSE-PLAINTEXT-MARKER>>";

fn sse_config(algo: ServerSideEncryption) -> ServerSideEncryptionConfiguration {
    ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(algo)
                        .build()
                        .unwrap(),
                )
                .bucket_key_enabled(true)
                .build(),
        )
        .build()
        .unwrap()
}

/// A body made of repeated `MARKER`s, so any plaintext fragment of it on disk is findable.
fn marked(len: usize) -> Vec<u8> {
    MARKER.iter().copied().cycle().take(len).collect()
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Files under the server's data dir that contain `needle`.
fn files_containing(server: &Server, needle: &[u8]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    files_under(&server.data_dir, &mut files);
    files
        .into_iter()
        .filter(|f| {
            std::fs::read(f)
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        })
        .collect()
}

/// Every committed blob file.
fn blob_files(server: &Server) -> Vec<PathBuf> {
    let mut files = Vec::new();
    files_under(&server.data_dir.join("blobs"), &mut files);
    files
}

async fn get_range(c: &aws_sdk_s3::Client, bucket: &str, key: &str, range: &str) -> Vec<u8> {
    let r = c
        .get_object()
        .bucket(bucket)
        .key(key)
        .range(range)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    r.body.collect().await.unwrap().into_bytes().to_vec()
}

async fn get_all(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> (Vec<u8>, Option<String>) {
    let r = c.get_object().bucket(bucket).key(key).send().await.unwrap();
    let sse = r.server_side_encryption().map(|s| s.as_str().to_owned());
    (r.body.collect().await.unwrap().into_bytes().to_vec(), sse)
}

#[tokio::test]
async fn bucket_encryption_roundtrip_and_validation() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("enc").send().await.unwrap();
    let e = c
        .get_bucket_encryption()
        .bucket("enc")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e.into_service_error()),
        "ServerSideEncryptionConfigurationNotFoundError"
    );
    c.put_bucket_encryption()
        .bucket("enc")
        .server_side_encryption_configuration(sse_config(ServerSideEncryption::Aes256))
        .send()
        .await
        .unwrap();
    let got = c
        .get_bucket_encryption()
        .bucket("enc")
        .send()
        .await
        .unwrap();
    let rule = &got.server_side_encryption_configuration().unwrap().rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm(),
        &ServerSideEncryption::Aes256
    );
    assert_eq!(rule.bucket_key_enabled(), Some(true));

    // No KMS here: S3's NotImplemented, and the old configuration stays.
    let e = c
        .put_bucket_encryption()
        .bucket("enc")
        .server_side_encryption_configuration(sse_config(ServerSideEncryption::AwsKms))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 501);
    assert_eq!(code(&e.into_service_error()), "NotImplemented");
    // An unknown algorithm is malformed.
    let e = c
        .put_bucket_encryption()
        .bucket("enc")
        .server_side_encryption_configuration(sse_config(ServerSideEncryption::from("AES512")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "MalformedXML");
    assert!(c.get_bucket_encryption().bucket("enc").send().await.is_ok());

    // Per request: KMS is NotImplemented, an unknown value InvalidArgument.
    for (algo, want) in [
        (ServerSideEncryption::AwsKms, "NotImplemented"),
        (ServerSideEncryption::from("AES512"), "InvalidArgument"),
    ] {
        let e = c
            .put_object()
            .bucket("enc")
            .key("k")
            .server_side_encryption(algo)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(code(&e.into_service_error()), want);
    }
    // Malformed, not unsupported: a KMS key id with AES256, a customer key with no algorithm.
    let kms_key_with_aes = c
        .put_object()
        .bucket("enc")
        .key("k")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .ssekms_key_id("some-key")
        .body(ByteStream::from_static(b"x"));
    let customer_key_alone = c
        .put_object()
        .bucket("enc")
        .key("k")
        .sse_customer_key("pO3upElrwuEXSoFwCfnZPdSsmt/xWeFa0N9KgDijwVs=")
        .body(ByteStream::from_static(b"x"));
    for req in [kms_key_with_aes, customer_key_alone] {
        let e = req.send().await.unwrap_err();
        assert_eq!(status(&e), 400);
        assert_eq!(code(&e.into_service_error()), "InvalidArgument");
    }

    c.delete_bucket_encryption()
        .bucket("enc")
        .send()
        .await
        .unwrap();
    let e = c
        .get_bucket_encryption()
        .bucket("enc")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&e.into_service_error()),
        "ServerSideEncryptionConfigurationNotFoundError"
    );
    // Without the default, a plain PUT is not encrypted.
    let r = c
        .put_object()
        .bucket("enc")
        .key("plain")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.server_side_encryption(), None);
}

#[tokio::test]
async fn header_and_default_encrypt_and_plaintext_is_not_on_disk() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("hdr").send().await.unwrap();
    c.create_bucket().bucket("dflt").send().await.unwrap();
    c.create_bucket().bucket("plain").send().await.unwrap();
    c.put_bucket_encryption()
        .bucket("dflt")
        .server_side_encryption_configuration(sse_config(ServerSideEncryption::Aes256))
        .send()
        .await
        .unwrap();
    let body = marked(300 * 1024 + 7);
    let md5 = format!(
        "\"{}\"",
        hex::encode(<md5::Md5 as md5::Digest>::digest(&body))
    );

    let r = c
        .put_object()
        .bucket("hdr")
        .key("a")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    // As AWS SSE-S3: the ETag is the MD5 of the plaintext.
    assert_eq!(r.e_tag(), Some(md5.as_str()));
    let r = c
        .put_object()
        .bucket("dflt")
        .key("b")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );

    for (bucket, key) in [("hdr", "a"), ("dflt", "b")] {
        let h = c
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            h.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
        assert_eq!(h.content_length(), Some(body.len() as i64));
        assert_eq!(h.e_tag(), Some(md5.as_str()));
        let (got, sse) = get_all(&c, bucket, key).await;
        assert_eq!(sse.as_deref(), Some("AES256"));
        assert!(got == body, "{bucket}/{key} decrypts to the plaintext");
    }
    // An empty encrypted object.
    c.put_object()
        .bucket("hdr")
        .key("empty")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap();
    let (got, sse) = get_all(&c, "hdr", "empty").await;
    assert!(got.is_empty());
    assert_eq!(sse.as_deref(), Some("AES256"));

    // Nothing under the data dir holds the plaintext…
    let found = files_containing(&server, MARKER);
    assert!(found.is_empty(), "plaintext on disk in {found:?}");
    // …and the scan does find an unencrypted object's bytes (so it can fail).
    let other = b"<<UNENCRYPTED-CONTROL-MARKER>>".repeat(1000); // a blob file, not inline
    c.put_object()
        .bucket("plain")
        .key("c")
        .body(ByteStream::from(other.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        files_containing(&server, b"<<UNENCRYPTED-CONTROL-MARKER>>").len(),
        1
    );
    // Ciphertext is the plaintext plus one 16-byte tag per 64 KiB segment.
    let mut sizes: Vec<u64> = blob_files(&server)
        .iter()
        .map(|f| f.metadata().unwrap().len())
        .collect();
    sizes.sort();
    let sealed = (body.len() + body.len().div_ceil(SEG) * 16) as u64;
    assert_eq!(sizes, vec![16, other.len() as u64, sealed, sealed]);
}

#[tokio::test]
async fn range_reads_across_segment_boundaries() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("rng").send().await.unwrap();
    let body = data(3 * SEG + 1000, 7);
    let n = body.len();
    c.put_object()
        .bucket("rng")
        .key("obj")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let cases: Vec<(String, std::ops::Range<usize>)> = vec![
        ("bytes=0-0".into(), 0..1),
        (format!("bytes={}-{}", n - 1, n - 1), n - 1..n),
        (format!("bytes={}-{}", SEG - 1, SEG - 1), SEG - 1..SEG),
        (format!("bytes={}-{}", SEG, SEG), SEG..SEG + 1),
        // Straddling two, then three segments.
        (
            format!("bytes={}-{}", SEG - 10, SEG + 9),
            SEG - 10..SEG + 10,
        ),
        (
            format!("bytes={}-{}", SEG - 10, 2 * SEG + 9),
            SEG - 10..2 * SEG + 10,
        ),
        // Exactly one whole segment, and the short final one.
        (format!("bytes={}-{}", SEG, 2 * SEG - 1), SEG..2 * SEG),
        (format!("bytes={}-", 3 * SEG), 3 * SEG..n),
        // Suffix ranges: inside the last segment, across segments, larger than the object.
        ("bytes=-10".into(), n - 10..n),
        ("bytes=-70000".into(), n - 70000..n),
        (format!("bytes=-{}", n + 5), 0..n),
        // Open-ended from the middle of a segment; past the end is clamped.
        (format!("bytes={}-", 2 * SEG + 5), 2 * SEG + 5..n),
        (format!("bytes=100-{}", n + 100), 100..n),
    ];
    for (range, want) in cases {
        let got = get_range(&c, "rng", "obj", &range).await;
        assert!(got == body[want.clone()], "range {range} → {want:?}");
    }
    let e = c
        .get_object()
        .bucket("rng")
        .key("obj")
        .range(format!("bytes={n}-"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "InvalidRange");
}

#[tokio::test]
async fn multipart_with_sse_and_copies() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("mpu").send().await.unwrap();
    c.create_bucket().bucket("dflt").send().await.unwrap();
    c.put_bucket_encryption()
        .bucket("dflt")
        .server_side_encryption_configuration(sse_config(ServerSideEncryption::Aes256))
        .send()
        .await
        .unwrap();
    let p1 = data(5 * 1024 * 1024, 1);
    let p2 = data(SEG + 3, 2);
    let up = c
        .create_multipart_upload()
        .bucket("mpu")
        .key("big")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(
        up.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let id = up.upload_id().unwrap();
    let mut done = Vec::new();
    for (i, p) in [&p1, &p2].into_iter().enumerate() {
        let r = c
            .upload_part()
            .bucket("mpu")
            .key("big")
            .upload_id(id)
            .part_number(i as i32 + 1)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256)
        );
        done.push(
            CompletedPart::builder()
                .part_number(i as i32 + 1)
                .e_tag(r.e_tag().unwrap())
                .build(),
        );
    }
    let r = c
        .complete_multipart_upload()
        .bucket("mpu")
        .key("big")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let whole: Vec<u8> = [p1.clone(), p2.clone()].concat();
    let (got, sse) = get_all(&c, "mpu", "big").await;
    assert_eq!(sse.as_deref(), Some("AES256"));
    assert!(got == whole);
    // A range across the part boundary, and a part read.
    let b = p1.len();
    assert!(
        get_range(&c, "mpu", "big", &format!("bytes={}-{}", b - 5, b + 4)).await
            == whole[b - 5..b + 5]
    );
    let part2 = c
        .get_object()
        .bucket("mpu")
        .key("big")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert!(part2.body.collect().await.unwrap().into_bytes().to_vec() == p2);
    // Neither part's plaintext is on disk.
    assert!(files_containing(&server, &p1[1000..1064]).is_empty());
    assert!(files_containing(&server, &p2[1000..1064]).is_empty());

    // Copy: encrypted → plain bucket (no header, no default) is stored plain…
    let r = c
        .copy_object()
        .bucket("mpu")
        .key("plain-copy")
        .copy_source("mpu/big")
        .send()
        .await
        .unwrap();
    assert_eq!(r.server_side_encryption(), None);
    let (got, sse) = get_all(&c, "mpu", "plain-copy").await;
    assert_eq!(sse, None);
    assert!(got == whole);
    // …plain → encrypted via the header, and via the destination bucket's default.
    let r = c
        .copy_object()
        .bucket("mpu")
        .key("enc-copy")
        .copy_source("mpu/plain-copy")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let r = c
        .copy_object()
        .bucket("dflt")
        .key("x")
        .copy_source("mpu/plain-copy")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    for (bucket, key) in [("mpu", "enc-copy"), ("dflt", "x")] {
        let (got, sse) = get_all(&c, bucket, key).await;
        assert_eq!(sse.as_deref(), Some("AES256"));
        assert!(got == whole, "{bucket}/{key}");
    }
    // Encrypting a plain object in place is a legal self-copy.
    c.copy_object()
        .bucket("mpu")
        .key("plain-copy")
        .copy_source("mpu/plain-copy")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    let (got, sse) = get_all(&c, "mpu", "plain-copy").await;
    assert_eq!(sse.as_deref(), Some("AES256"));
    assert!(got == whole);

    // UploadPartCopy from an encrypted source into an encrypted upload.
    let up = c
        .create_multipart_upload()
        .bucket("dflt")
        .key("assembled")
        .send()
        .await
        .unwrap();
    assert_eq!(
        up.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let id = up.upload_id().unwrap();
    let r = c
        .upload_part_copy()
        .bucket("dflt")
        .key("assembled")
        .upload_id(id)
        .part_number(1)
        .copy_source("mpu/big")
        .copy_source_range(format!("bytes={}-{}", b - 100, b + 99))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
    let etag = r.copy_part_result().unwrap().e_tag().unwrap().to_owned();
    c.complete_multipart_upload()
        .bucket("dflt")
        .key("assembled")
        .upload_id(id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(etag).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (got, sse) = get_all(&c, "dflt", "assembled").await;
    assert_eq!(sse.as_deref(), Some("AES256"));
    assert!(got == whole[b - 100..b + 100]);
}

#[tokio::test]
async fn bucket_policy_can_require_encryption() {
    let server = Server::start();
    let root = root(&server);
    root.create_bucket().bucket("strict").send().await.unwrap();
    let doc = policy(json!([allow(
        &["s3:*"],
        &["arn:aws:s3:::strict", "arn:aws:s3:::strict/*"]
    )]));
    let user = user_with_policy(&server, "writer", Some(&doc)).await;
    let s3 = user.s3(&server);
    let bp = json!({"Version": "2012-10-17", "Statement": [{
        "Sid": "DenyUnencrypted",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::strict/*",
        "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}}
    }]});
    root.put_bucket_policy()
        .bucket("strict")
        .policy(bp.to_string())
        .send()
        .await
        .unwrap();
    let e = s3
        .put_object()
        .bucket("strict")
        .key("a")
        .body(ByteStream::from_static(b"a"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 403);
    assert_eq!(code(&e.into_service_error()), "AccessDenied");
    let r = s3
        .put_object()
        .bucket("strict")
        .key("a")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from_static(b"a"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.server_side_encryption(),
        Some(&ServerSideEncryption::Aes256)
    );
}

#[tokio::test]
async fn tampered_ciphertext_never_reads_back() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("tmp").send().await.unwrap();
    let small = data(1000, 3);
    c.put_object()
        .bucket("tmp")
        .key("small")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(small))
        .send()
        .await
        .unwrap();
    let files = blob_files(&server);
    assert_eq!(files.len(), 1);
    let mut bytes = std::fs::read(&files[0]).unwrap();
    bytes[10] ^= 0x01;
    std::fs::write(&files[0], &bytes).unwrap();
    // The first segment is checked before the response starts: a clean 500.
    let e = c
        .get_object()
        .bucket("tmp")
        .key("small")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 500);
    assert_eq!(code(&e.into_service_error()), "InternalError");

    // A flipped byte in a later segment of a larger object: the stream is cut, and the
    // client never receives the whole (wrong) body.
    let big = data(4 * SEG, 4);
    c.put_object()
        .bucket("tmp")
        .key("big")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from(big.clone()))
        .send()
        .await
        .unwrap();
    let f = blob_files(&server)
        .into_iter()
        .find(|f| f.metadata().unwrap().len() > 2000)
        .unwrap();
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[2 * (SEG + 16) + 5] ^= 0x80;
    std::fs::write(&f, &bytes).unwrap();
    let r = c
        .get_object()
        .bucket("tmp")
        .key("big")
        .send()
        .await
        .unwrap();
    assert!(r.body.collect().await.is_err());
    // A range that stays in intact segments still reads.
    assert!(get_range(&c, "tmp", "big", "bytes=0-99").await == big[..100]);
    // And one that needs the damaged segment fails up front.
    let e = c
        .get_object()
        .bucket("tmp")
        .key("big")
        .range(format!("bytes={}-{}", 2 * SEG, 2 * SEG + 9))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&e), 500);
}
