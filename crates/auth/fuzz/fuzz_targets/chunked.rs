//! Fuzz the aws-chunked decoder: arbitrary bytes, split at arbitrary points.
#![no_main]

use bytes::BytesMut;
use cubby_auth::chunked::ChunkedDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut d = match mode % 3 {
        0 => ChunkedDecoder::unsigned(false),
        1 => ChunkedDecoder::unsigned(true),
        _ => ChunkedDecoder::signed(
            [7; 32],
            "0".repeat(64),
            "20130524T000000Z".into(),
            "20130524/us-east-1/s3/aws4_request".into(),
            mode & 4 != 0,
        ),
    };
    let mut out = BytesMut::new();
    let step = usize::from(mode >> 3).max(1);
    for piece in rest.chunks(step) {
        if d.feed(piece, &mut out).is_err() {
            return;
        }
    }
    let _ = d.finish();
    assert!(out.len() as u64 == d.decoded_len());
});
