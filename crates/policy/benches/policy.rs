//! Criterion benchmarks: the seed's own-folder decision and parsing a 10-statement policy.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use cubby_policy::{Policy, PolicySet, Principal, RequestContext, decide, evaluate};

const OWN_FOLDER: &str = r#"{"Version":"2012-10-17","Statement":[
  {"Effect":"Allow","Action":["s3:PutObject","s3:GetObject","s3:DeleteObject","s3:AbortMultipartUpload","s3:ListMultipartUploadParts"],
   "Resource":["arn:aws:s3:::seed-bucket/private/${cognito-identity.amazonaws.com:sub}/*"]},
  {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::seed-bucket",
   "Condition":{"StringLike":{"s3:prefix":["private/${cognito-identity.amazonaws.com:sub}/*"]}}}]}"#;

const SUB: &str = "us-east-1:0f6d1a7e-5b7c-4d2e-9a1b-3c4d5e6f7a8b";

fn ten_statements() -> String {
    let mut stmts = Vec::new();
    for i in 0..10 {
        stmts.push(format!(
            r#"{{"Sid":"S{i}","Effect":"{}","Action":["s3:GetObject","s3:PutObject","s3:List*"],
            "Resource":["arn:aws:s3:::bucket-{i}/private/${{cognito-identity.amazonaws.com:sub}}/*","arn:aws:s3:::bucket-{i}"],
            "Condition":{{"StringLike":{{"s3:prefix":["private/${{cognito-identity.amazonaws.com:sub}}/*"]}},
                         "IpAddress":{{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}},
                         "Bool":{{"aws:SecureTransport":"true"}}}}}}"#,
            if i % 3 == 0 { "Deny" } else { "Allow" }
        ));
    }
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        stmts.join(",")
    )
}

fn context(action: &str, resource: &str) -> RequestContext {
    let mut ctx = RequestContext::new(
        action,
        resource,
        Principal::AssumedRole {
            role_arn: "arn:aws:iam::123456789012:role/SeedAuth".into(),
            session_arn:
                "arn:aws:sts::123456789012:assumed-role/SeedAuth/CognitoIdentityCredentials".into(),
            account: "123456789012".into(),
            role_id: "AROAEXAMPLEROLEID".into(),
            session_name: "CognitoIdentityCredentials".into(),
        },
    );
    ctx.set("cognito-identity.amazonaws.com:sub", SUB);
    ctx.set("cognito-identity.amazonaws.com:aud", "us-east-1:pool");
    ctx.add("cognito-identity.amazonaws.com:amr", "authenticated");
    ctx.set("aws:SourceIp", "203.0.113.9");
    ctx.set("aws:SecureTransport", "false");
    ctx.set("aws:CurrentTime", "2024-05-01T12:00:00Z");
    ctx.set("aws:EpochTime", "1714564800");
    ctx
}

fn bench(c: &mut Criterion) {
    let policy = Policy::parse(OWN_FOLDER).expect("seed policy parses");
    let ids = [&policy];
    let set = PolicySet {
        identity: &ids,
        ..PolicySet::default()
    };
    let get = context(
        "s3:GetObject",
        &format!("arn:aws:s3:::seed-bucket/private/{SUB}/photos/2024/cat.jpg"),
    );
    let other = context(
        "s3:GetObject",
        "arn:aws:s3:::seed-bucket/private/us-east-1:someone-else/photos/cat.jpg",
    );
    let mut list = context("s3:ListBucket", "arn:aws:s3:::seed-bucket");
    list.set("s3:prefix", format!("private/{SUB}/"));

    c.bench_function("own_folder/evaluate_allowed", |b| {
        b.iter(|| evaluate(black_box(&set), black_box(&get)))
    });
    c.bench_function("own_folder/decide_allowed", |b| {
        b.iter(|| decide(black_box(&set), black_box(&get)))
    });
    c.bench_function("own_folder/evaluate_denied_other_user", |b| {
        b.iter(|| evaluate(black_box(&set), black_box(&other)))
    });
    c.bench_function("own_folder/evaluate_list_with_condition", |b| {
        b.iter(|| evaluate(black_box(&set), black_box(&list)))
    });

    // The whole request path: build the context as a server would, then decide.
    let resource = format!("arn:aws:s3:::seed-bucket/private/{SUB}/photos/2024/cat.jpg");
    c.bench_function("own_folder/context_and_decide", |b| {
        b.iter(|| {
            decide(
                black_box(&set),
                &context("s3:GetObject", black_box(&resource)),
            )
        })
    });

    let doc = ten_statements();
    assert_eq!(
        Policy::parse(&doc).map(|p| p.statements().len()).ok(),
        Some(10)
    );
    // Parse + compile only: the compiled policy is freed outside the timing (it lives in a
    // cache in the server). `parse/10_statements_and_drop` includes freeing it.
    c.bench_function("parse/10_statements", |b| {
        b.iter_with_large_drop(|| Policy::parse(black_box(&doc)))
    });
    c.bench_function("parse/10_statements_and_drop", |b| {
        b.iter(|| Policy::parse(black_box(&doc)))
    });
    c.bench_function("parse/own_folder", |b| {
        b.iter(|| Policy::parse(black_box(OWN_FOLDER)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
