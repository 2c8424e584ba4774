//! The per-event costs of the body: building the stored form on the upload's path, and
//! expanding it into S3's JSON on delivery.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use cubby_events::model::{ObjectEvent, delivery_body, stored_form};

fn bench(c: &mut Criterion) {
    // As `bench/run.sh --events` makes them: root's PUT of a 4 KiB object.
    let event = ObjectEvent {
        name: "ObjectCreated:Put",
        region: "us-east-1",
        time_ms: 1_795_891_039_123,
        principal_id: "AWS:AIDACUBBYROOT00000",
        cognito_identity_id: None,
        source_ip: "127.0.0.1",
        request_id: "18A2B3C4D5E6F7A0",
        host_id: "18A2B3C4D5E6F7A0",
        configuration_id: "bench",
        bucket: "ev-notified-1795891039",
        bucket_owner: "75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a",
        key: "c16r3/7-000123",
        size: Some(4096),
        etag: Some("9e107d9d372bb6826bd81d3542a419d6"),
        version_id: None,
        sequencer: "0018A2B3C4D5E6F700",
    };
    c.bench_function("stored_form", |b| b.iter(|| stored_form(black_box(&event))));
    let stored = stored_form(&event);
    c.bench_function("delivery_body", |b| {
        b.iter(|| delivery_body(black_box(&stored)).len())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
