//! The per-upload costs of rules: selecting the rules for a key, sniffing a body's head.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use cubby_rules::{Subject, SubjectKind, UploadRule, compile, sniff};

fn bench(c: &mut Criterion) {
    let rules: Vec<UploadRule> = (0..5)
        .map(|i| UploadRule {
            id: format!("r{i}"),
            prefix: format!("p{i}/"),
            content_types: vec!["image/*".into(), "application/pdf".into()],
            max_size: Some(10 << 20),
            ..UploadRule::default()
        })
        .collect();
    let compiled = compile(&rules).expect("rules");
    let subject = Subject {
        kind: SubjectKind::Guest,
        role_name: Some("CubbyGuestUpload"),
    };
    c.bench_function("select_rules_5", |b| {
        b.iter(|| {
            compiled
                .iter()
                .filter(|r| r.applies(black_box("p3/us-east-1:abc/cat.jpg"), subject))
                .count()
        })
    });
    let jpeg = [0xFFu8, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F'];
    c.bench_function("sniff_jpeg", |b| b.iter(|| sniff::detect(black_box(&jpeg))));
    let text = vec![b'a'; sniff::SNIFF_LEN];
    c.bench_function("sniff_text_512", |b| {
        b.iter(|| sniff::detect(black_box(&text)))
    });
    c.bench_function("allows_content", |b| {
        b.iter(|| compiled[0].allows_content(black_box(Some("image/jpeg")), Some("image/jpeg")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
