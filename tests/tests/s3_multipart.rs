//! Multipart uploads through aws-sdk-rust: a 64 MiB upload, listing, errors, copies, checksums.
#![allow(clippy::unwrap_used)]

mod common;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, ChecksumType, CompletedMultipartUpload, CompletedPart,
};
use common::*;
use sha2::Digest;

const MIB: usize = 1024 * 1024;

async fn upload_parts(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    id: &str,
    parts: &[Vec<u8>],
) -> Vec<CompletedPart> {
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let r = c
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(r.e_tag().unwrap())
                .build(),
        );
    }
    done
}

#[tokio::test]
async fn sixty_four_mib_multipart_roundtrip() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("big").send().await.unwrap();
    let whole = data(64 * MIB, 42);
    let parts: Vec<Vec<u8>> = whole.chunks(8 * MIB).map(<[u8]>::to_vec).collect();
    let up = c
        .create_multipart_upload()
        .bucket("big")
        .key("obj")
        .content_type("video/mp4")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_owned();
    let done = upload_parts(&c, "big", "obj", &id, &parts).await;

    let listed = c
        .list_parts()
        .bucket("big")
        .key("obj")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.parts().len(), 8);
    let uploads = c
        .list_multipart_uploads()
        .bucket("big")
        .send()
        .await
        .unwrap();
    assert_eq!(uploads.uploads().len(), 1);
    assert!(uploads.uploads()[0].initiator().is_some() && uploads.uploads()[0].owner().is_some());

    let r = c
        .complete_multipart_upload()
        .bucket("big")
        .key("obj")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .unwrap();
    // ETag = MD5 of the parts' binary MD5s + "-N".
    let mut md5s = Vec::new();
    for p in &parts {
        md5s.extend_from_slice(&md5::Md5::digest(p));
    }
    let expected = format!("\"{}-8\"", hex::encode(md5::Md5::digest(&md5s)));
    assert_eq!(r.e_tag(), Some(expected.as_str()));

    let got = c
        .get_object()
        .bucket("big")
        .key("obj")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("video/mp4"));
    let bytes = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(sha2::Sha256::digest(&bytes), sha2::Sha256::digest(&whole));

    // Ranges across part boundaries and partNumber reads.
    let r = c
        .get_object()
        .bucket("big")
        .key("obj")
        .range(format!("bytes={}-{}", 8 * MIB - 5, 8 * MIB + 4))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.body.collect().await.unwrap().into_bytes().as_ref(),
        &whole[8 * MIB - 5..8 * MIB + 5]
    );
    let p3 = c
        .get_object()
        .bucket("big")
        .key("obj")
        .part_number(3)
        .send()
        .await
        .unwrap();
    assert_eq!(p3.parts_count(), Some(8));
    assert_eq!(
        p3.body.collect().await.unwrap().into_bytes().as_ref(),
        &parts[2][..]
    );
    assert!(
        c.list_multipart_uploads()
            .bucket("big")
            .send()
            .await
            .unwrap()
            .uploads()
            .is_empty()
    );
}

#[tokio::test]
async fn multipart_errors_abort_and_copy() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("mpe").send().await.unwrap();
    let small = vec![data(1024, 1), data(1024, 2)];
    let id = c
        .create_multipart_upload()
        .bucket("mpe")
        .key("k")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let done = upload_parts(&c, "mpe", "k", &id, &small).await;
    let complete = |parts: Vec<CompletedPart>| {
        c.complete_multipart_upload()
            .bucket("mpe")
            .key("k")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
    };
    let e = complete(done.clone()).await.unwrap_err();
    assert_eq!(code(&e.into_service_error()), "EntityTooSmall");
    let e = complete(vec![done[1].clone(), done[0].clone()])
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "InvalidPartOrder");
    let wrong = CompletedPart::builder()
        .part_number(1)
        .e_tag("\"00000000000000000000000000000000\"")
        .build();
    let e = complete(vec![wrong]).await.unwrap_err();
    assert_eq!(code(&e.into_service_error()), "InvalidPart");
    // A single small part is fine (the last part may be any size).
    let first = complete(vec![done[0].clone()]).await.unwrap();
    // A repeated Complete (a client retrying after a timeout) answers as the first did…
    let again = complete(vec![done[0].clone()]).await.unwrap();
    assert_eq!(first.e_tag(), again.e_tag());
    // …but the upload is finished: no more parts.
    let e = c
        .upload_part()
        .bucket("mpe")
        .key("k")
        .upload_id(&id)
        .part_number(3)
        .body(ByteStream::from_static(b"late"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "NoSuchUpload");

    let id2 = c
        .create_multipart_upload()
        .bucket("mpe")
        .key("gone")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    upload_parts(&c, "mpe", "gone", &id2, &small[..1]).await;
    c.abort_multipart_upload()
        .bucket("mpe")
        .key("gone")
        .upload_id(&id2)
        .send()
        .await
        .unwrap();
    let e = c
        .list_parts()
        .bucket("mpe")
        .key("gone")
        .upload_id(&id2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e.into_service_error()), "NoSuchUpload");
    assert!(
        c.head_object()
            .bucket("mpe")
            .key("gone")
            .send()
            .await
            .is_err()
    );

    // UploadPartCopy of a byte range.
    let src = data(6 * MIB, 9);
    c.put_object()
        .bucket("mpe")
        .key("src")
        .body(ByteStream::from(src.clone()))
        .send()
        .await
        .unwrap();
    let id3 = c
        .create_multipart_upload()
        .bucket("mpe")
        .key("dst")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let p1 = c
        .upload_part_copy()
        .bucket("mpe")
        .key("dst")
        .upload_id(&id3)
        .part_number(1)
        .copy_source("mpe/src")
        .copy_source_range(format!("bytes=0-{}", 5 * MIB - 1))
        .send()
        .await
        .unwrap();
    let p2 = c
        .upload_part_copy()
        .bucket("mpe")
        .key("dst")
        .upload_id(&id3)
        .part_number(2)
        .copy_source("mpe/src")
        .copy_source_range(format!("bytes={}-{}", 5 * MIB, 6 * MIB - 1))
        .send()
        .await
        .unwrap();
    let parts = vec![
        CompletedPart::builder()
            .part_number(1)
            .e_tag(p1.copy_part_result().unwrap().e_tag().unwrap())
            .build(),
        CompletedPart::builder()
            .part_number(2)
            .e_tag(p2.copy_part_result().unwrap().e_tag().unwrap())
            .build(),
    ];
    c.complete_multipart_upload()
        .bucket("mpe")
        .key("dst")
        .upload_id(&id3)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let got = c
        .get_object()
        .bucket("mpe")
        .key("dst")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(got.as_ref(), &src[..]);
}

#[tokio::test]
async fn multipart_composite_and_full_object_checksums() {
    let server = Server::start();
    let c = root(&server);
    c.create_bucket().bucket("mpc").send().await.unwrap();
    let parts = vec![data(5 * MIB, 1), data(MIB, 2)];
    for (key, ty) in [
        ("composite", ChecksumType::Composite),
        ("full", ChecksumType::FullObject),
    ] {
        let id = c
            .create_multipart_upload()
            .bucket("mpc")
            .key(key)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .checksum_type(ty.clone())
            .send()
            .await
            .unwrap()
            .upload_id()
            .unwrap()
            .to_owned();
        let mut done = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let n = i as i32 + 1;
            let r = c
                .upload_part()
                .bucket("mpc")
                .key(key)
                .upload_id(&id)
                .part_number(n)
                .checksum_algorithm(ChecksumAlgorithm::Crc32)
                .body(ByteStream::from(p.clone()))
                .send()
                .await
                .unwrap();
            done.push(
                CompletedPart::builder()
                    .part_number(n)
                    .e_tag(r.e_tag().unwrap())
                    .checksum_crc32(r.checksum_crc32().unwrap())
                    .build(),
            );
        }
        let r = c
            .complete_multipart_upload()
            .bucket("mpc")
            .key(key)
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(done))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let value = r.checksum_crc32().unwrap().to_owned();
        match ty {
            ChecksumType::Composite => assert!(value.ends_with("-2"), "{value}"),
            _ => {
                let mut h = crc32fast_like(&parts);
                assert_eq!(value, std::mem::take(&mut h));
            }
        }
        let head = c
            .head_object()
            .bucket("mpc")
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(head.checksum_crc32(), Some(value.as_str()));
        // A part read answers with that part's own checksum, under the object's type.
        let part = c
            .get_object()
            .bucket("mpc")
            .key(key)
            .part_number(2)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        assert_eq!(part.checksum_type(), Some(&ty));
        assert_eq!(
            part.checksum_crc32(),
            Some(crc32fast_like(&parts[1..]).as_str())
        );
        assert_eq!(part.parts_count(), Some(2));
    }
}

/// CRC32 of the concatenated parts, base64 — computed with the server's own algorithm table
/// would prove nothing, so this uses a bitwise reference implementation.
fn crc32fast_like(parts: &[Vec<u8>]) -> String {
    use base64::Engine as _;
    let mut crc: u32 = 0xFFFF_FFFF;
    for p in parts {
        for &b in p {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
    }
    base64::engine::general_purpose::STANDARD.encode((!crc).to_be_bytes())
}
