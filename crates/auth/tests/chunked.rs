//! aws-chunked decoding: the AWS documentation example, trailers, framing
//! errors, and split-independence (proptest).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::{Bytes, BytesMut};
use cubby_auth::AuthError;
use cubby_auth::chunked::{ChunkedDecoder, encode};
use cubby_auth::sigv4::signing_key;
use proptest::prelude::*;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const AMZ_DATE: &str = "20130524T000000Z";
const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";

fn key() -> [u8; 32] {
    signing_key(SECRET, "20130524", "us-east-1", "s3")
}

fn signed(trailer: bool) -> ChunkedDecoder {
    ChunkedDecoder::signed(key(), SEED.into(), AMZ_DATE.into(), SCOPE.into(), trailer)
}

/// The body of the S3 docs example, built by hand with the documented
/// signatures (64 KiB + 1 KiB of 'a').
fn aws_example_body() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n");
    b.extend_from_slice(&[b'a'; 65536]);
    b.extend_from_slice(b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n");
    b.extend_from_slice(&[b'a'; 1024]);
    b.extend_from_slice(b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n");
    b
}

fn decode_all(
    mut d: ChunkedDecoder,
    body: &[u8],
    splits: &[usize],
) -> Result<(Vec<u8>, ChunkedDecoder), AuthError> {
    let mut out = BytesMut::new();
    let mut pos = 0;
    for &s in splits {
        let end = (pos + s).min(body.len());
        d.feed(&body[pos..end], &mut out)?;
        pos = end;
    }
    d.feed(&body[pos..], &mut out)?;
    d.finish()?;
    Ok((out.to_vec(), d))
}

#[test]
fn aws_docs_example() {
    let body = aws_example_body();
    assert_eq!(
        body.len(),
        66_824,
        "Content-Length of the documented request"
    );
    let (out, d) = decode_all(signed(false), &body, &[]).unwrap();
    assert_eq!(out, vec![b'a'; 66_560]);
    assert_eq!(d.decoded_len(), 66_560);
    // Our encoder produces exactly the documented body.
    let encoded = encode(
        &[&[b'a'; 65536], &[b'a'; 1024]],
        Some((key(), SEED, AMZ_DATE, SCOPE)),
        &[],
    );
    assert_eq!(encoded, body);
}

#[test]
fn aws_docs_example_byte_by_byte() {
    let body = aws_example_body();
    let mut d = signed(false);
    let mut out = BytesMut::new();
    for b in &body {
        d.feed(std::slice::from_ref(b), &mut out).unwrap();
    }
    d.finish().unwrap();
    assert_eq!(out.len(), 66_560);
}

#[test]
fn zero_copy_feed() {
    let body = Bytes::from(aws_example_body());
    let mut d = signed(false);
    let mut out = Vec::new();
    d.feed_bytes(&body.slice(..100), &mut out).unwrap();
    d.feed_bytes(&body.slice(100..), &mut out).unwrap();
    d.finish().unwrap();
    assert_eq!(out.iter().map(Bytes::len).sum::<usize>(), 66_560);
}

#[test]
fn tampered_chunk_fails() {
    let mut body = aws_example_body();
    body[200] = b'b';
    let err = decode_all(signed(false), &body, &[]).unwrap_err();
    assert_eq!(err.code(), "SignatureDoesNotMatch");
    // Every later call fails too.
}

#[test]
fn wrong_seed_fails() {
    let d = ChunkedDecoder::signed(key(), "00".repeat(32), AMZ_DATE.into(), SCOPE.into(), false);
    assert_eq!(
        decode_all(d, &aws_example_body(), &[]).unwrap_err().code(),
        "SignatureDoesNotMatch"
    );
}

#[test]
fn reordered_chunks_fail() {
    // Chained signatures: swapping two validly signed chunks breaks the chain.
    let a = encode(
        &[b"first", b"second"],
        Some((key(), SEED, AMZ_DATE, SCOPE)),
        &[],
    );
    let s = String::from_utf8(a).unwrap();
    let lines: Vec<&str> = s.split("\r\n").collect();
    let swapped = [lines[2], lines[3], lines[0], lines[1], lines[4], "", ""].join("\r\n");
    assert!(decode_all(signed(false), swapped.as_bytes(), &[]).is_err());
}

#[test]
fn truncated_body_is_incomplete() {
    let body = aws_example_body();
    for cut in [0, 10, 90, 65_000, body.len() - 2] {
        let mut d = signed(false);
        let mut out = BytesMut::new();
        d.feed(&body[..cut], &mut out).unwrap();
        assert_eq!(
            d.finish().unwrap_err(),
            AuthError::IncompleteBody,
            "cut {cut}"
        );
    }
}

#[test]
fn signed_trailer_round_trip() {
    let trailers = [("x-amz-checksum-crc32", "sOO8/Q==")];
    let body = encode(
        &[b"hello ", b"world"],
        Some((key(), SEED, AMZ_DATE, SCOPE)),
        &trailers,
    );
    let (out, d) = decode_all(signed(true), &body, &[3, 50]).unwrap();
    assert_eq!(out, b"hello world");
    assert_eq!(
        d.trailers(),
        &[("x-amz-checksum-crc32".to_owned(), "sOO8/Q==".to_owned())]
    );
    // Tampered trailer value.
    let bad = String::from_utf8(body)
        .unwrap()
        .replace("sOO8/Q==", "AAAAAA==");
    assert_eq!(
        decode_all(signed(true), bad.as_bytes(), &[])
            .unwrap_err()
            .code(),
        "SignatureDoesNotMatch"
    );
}

#[test]
fn signed_trailer_without_signature_fails() {
    let mut body = encode(&[b"x"], Some((key(), SEED, AMZ_DATE, SCOPE)), &[]);
    body.truncate(body.len() - 2);
    body.extend_from_slice(b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n");
    assert!(decode_all(signed(true), &body, &[]).is_err());
}

#[test]
fn unsigned_trailer_as_sent_by_sdks() {
    // What the JS v3 SDK and aws-sdk-rust send.
    let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
    let (out, d) = decode_all(ChunkedDecoder::unsigned(true), body, &[1, 1, 7]).unwrap();
    assert_eq!(out, b"hello world");
    assert_eq!(
        d.trailers(),
        &[("x-amz-checksum-crc32".to_owned(), "DUoRhQ==".to_owned())]
    );
    // Missing final blank line is tolerated; header-name case is folded.
    let body = b"5\r\nhello\r\n0\r\nX-Amz-Checksum-CRC32: DUoRhQ==\r\n";
    let (_, d) = decode_all(ChunkedDecoder::unsigned(true), body, &[]).unwrap();
    assert_eq!(d.trailers()[0].0, "x-amz-checksum-crc32");
    assert_eq!(d.trailers()[0].1, "DUoRhQ==");
}

#[test]
fn framing_errors() {
    let cases: &[&[u8]] = &[
        b"zz\r\nhello\r\n0\r\n\r\n", // bad size
        b"5\r\nhelloXX0\r\n\r\n",    // no CRLF after data
        b"5\nhello\r\n0\r\n\r\n",    // bare LF
        b"\r\n",                     // empty size
        b"11111111111111111\r\n",    // size too long
        b"0\r\n\r\ngarbage",         // data after end
    ];
    for c in cases {
        let r = decode_all(ChunkedDecoder::unsigned(false), c, &[]);
        assert!(r.is_err(), "{:?}", String::from_utf8_lossy(c));
    }
    // Unexpected trailer when none is expected.
    assert!(decode_all(ChunkedDecoder::unsigned(false), b"0\r\na:b\r\n\r\n", &[]).is_err());
    // Missing chunk signature in signed mode.
    assert!(decode_all(signed(false), b"1\r\na\r\n0\r\n\r\n", &[]).is_err());
    // Overlong header line is bounded.
    let long = vec![b'1'; 10_000];
    let mut d = ChunkedDecoder::unsigned(false);
    assert!(d.feed(&long, &mut BytesMut::new()).is_err());
    // Chunk size above the limit.
    let mut d = ChunkedDecoder::unsigned(false).with_max_chunk_size(4);
    assert!(d.feed(b"5\r\n", &mut BytesMut::new()).is_err());
    // Stray line ends after the end are tolerated.
    decode_all(ChunkedDecoder::unsigned(false), b"0\r\n\r\n\r\n", &[]).unwrap();
}

#[test]
fn errors_are_sticky() {
    let mut d = ChunkedDecoder::unsigned(false);
    let mut out = BytesMut::new();
    assert!(d.feed(b"zz\r\n", &mut out).is_err());
    assert!(d.feed(b"0\r\n\r\n", &mut out).is_err());
    assert!(d.finish().is_err());
}

fn arb_chunks() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 0..6)
}

proptest! {
    #[test]
    fn split_independent_signed(chunks in arb_chunks(), splits in prop::collection::vec(0usize..200, 0..20), trailer in any::<bool>()) {
        let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let trailers: &[(&str, &str)] = if trailer { &[("x-amz-checksum-crc32c", "abc=")] } else { &[] };
        let body = encode(&refs, Some((key(), SEED, AMZ_DATE, SCOPE)), trailers);
        let (out, d) = decode_all(signed(trailer), &body, &splits).unwrap();
        prop_assert_eq!(out, chunks.concat());
        prop_assert_eq!(d.trailers().len(), usize::from(trailer));
    }

    #[test]
    fn split_independent_unsigned(chunks in arb_chunks(), splits in prop::collection::vec(0usize..200, 0..20)) {
        let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let body = encode(&refs, None, &[("x-amz-checksum-crc32", "AAAAAA==")]);
        let (out, d) = decode_all(ChunkedDecoder::unsigned(true), &body, &splits).unwrap();
        prop_assert_eq!(out, chunks.concat());
        prop_assert_eq!(d.decoded_len(), chunks.concat().len() as u64);
    }

    #[test]
    fn arbitrary_input_never_panics(data in prop::collection::vec(any::<u8>(), 0..400), splits in prop::collection::vec(0usize..50, 0..10)) {
        let _ = decode_all(signed(true), &data, &splits);
        let _ = decode_all(ChunkedDecoder::unsigned(true), &data, &splits);
    }

    #[test]
    fn bit_flips_are_detected(chunks in arb_chunks(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
        let mut body = encode(&refs, Some((key(), SEED, AMZ_DATE, SCOPE)), &[("x-amz-checksum-crc32", "AAAAAA==")]);
        let i = at.index(body.len());
        body[i] ^= 1 << bit;
        // A flip can only pass if it hit tolerated whitespace or the case of
        // a hex digit in a size; the payload must never change silently.
        if let Ok((out, _)) = decode_all(signed(true), &body, &[]) {
            prop_assert_eq!(out, chunks.concat());
        }
    }
}
