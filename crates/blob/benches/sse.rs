//! Throughput of the SSE-S3 segment cipher: sealing (PUT path) and opening (GET path) an
//! 8 MiB object, against a plain memory copy as the baseline.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use cubby_blob::BlobId;
use cubby_blob::sse::{Kek, Sealer, read_range};
use std::hint::black_box;

const LEN: usize = 8 * 1024 * 1024;

fn bench(c: &mut Criterion) {
    let kek = Kek::new([9u8; 32]);
    let (key, _) = kek.new_data_key(&BlobId::random()).expect("data key");
    let plain: Vec<u8> = (0..LEN).map(|i| i as u8).collect();
    let mut sealed = Vec::with_capacity(LEN + LEN / 1000);
    let mut g = c.benchmark_group("sse_8MiB");
    g.throughput(Throughput::Bytes(LEN as u64));
    g.sample_size(20);
    g.bench_function("plain_copy", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(LEN);
            for c in plain.chunks(256 * 1024) {
                out.extend_from_slice(c);
            }
            black_box(out.len())
        })
    });
    g.bench_function("seal", |b| {
        b.iter(|| {
            sealed.clear();
            let mut s = Sealer::new(key.clone());
            let mut sink = |d: &[u8]| {
                sealed.extend_from_slice(d);
                Ok(())
            };
            for c in plain.chunks(256 * 1024) {
                s.push(c, &mut sink).expect("seal");
            }
            s.finish(&mut sink).expect("finish");
            black_box(sealed.len())
        })
    });
    g.bench_function("open", |b| {
        b.iter(|| {
            let mut n = 0usize;
            read_range(
                &mut std::io::Cursor::new(&sealed),
                &key,
                LEN as u64,
                0,
                LEN as u64,
                &mut |d: &[u8]| {
                    n += d.len();
                    Ok(())
                },
            )
            .expect("open");
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
