//! parse + verify of a header-signed request, and aws-chunked decoding
//! throughput.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::BytesMut;
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use cubby_auth::chunked::{ChunkedDecoder, encode};
use cubby_auth::sigv4;

const AK: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const NOW: i64 = 1_369_353_600;

fn bench_verify(c: &mut Criterion) {
    let mut p = http::Request::builder()
        .method("PUT")
        .uri("/bucket/us-east-1%3A1234/photos/cat.jpg?x-id=PutObject")
        .header("host", "localhost:9000")
        .header("content-type", "image/jpeg")
        .header("content-length", "4096")
        .header("x-amz-meta-owner", "alice")
        .header("user-agent", "aws-sdk-js/3.700.0")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    sigv4::sign_request(
        &mut p,
        AK,
        SECRET,
        None,
        "us-east-1",
        "s3",
        "UNSIGNED-PAYLOAD",
        NOW,
    );
    c.bench_function("sigv4 parse+verify (header auth)", |b| {
        b.iter(|| {
            let req = sigv4::parse(black_box(&p)).unwrap().unwrap();
            let v = sigv4::verify(&req, &p, SECRET, "UNSIGNED-PAYLOAD", NOW, "us-east-1").unwrap();
            black_box(v);
        })
    });
}

fn bench_chunked(c: &mut Criterion) {
    let key = sigv4::signing_key(SECRET, "20130524", "us-east-1", "s3");
    let seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    let (amz, scope) = ("20130524T000000Z", "20130524/us-east-1/s3/aws4_request");
    let chunk = vec![0x5au8; 64 * 1024];
    let chunks: Vec<&[u8]> = (0..64).map(|_| chunk.as_slice()).collect(); // 4 MiB
    let signed = encode(&chunks, Some((key, seed, amz, scope)), &[]);
    let unsigned = encode(&chunks, None, &[("x-amz-checksum-crc32", "AAAAAA==")]);
    let mut g = c.benchmark_group("aws-chunked 4 MiB");
    g.throughput(Throughput::Bytes(4 * 1024 * 1024));
    g.bench_function("signed", |b| {
        let mut out = BytesMut::with_capacity(5 << 20);
        b.iter(|| {
            out.clear();
            let mut d = ChunkedDecoder::signed(key, seed.into(), amz.into(), scope.into(), false);
            for piece in signed.chunks(16 * 1024) {
                d.feed(piece, &mut out).unwrap();
            }
            d.finish().unwrap();
        })
    });
    g.bench_function("unsigned-trailer", |b| {
        let mut out = BytesMut::with_capacity(5 << 20);
        b.iter(|| {
            out.clear();
            let mut d = ChunkedDecoder::unsigned(true);
            for piece in unsigned.chunks(16 * 1024) {
                d.feed(piece, &mut out).unwrap();
            }
            d.finish().unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, bench_verify, bench_chunked);
criterion_main!(benches);
