//! `cubby policy check|simulate`: the fixed CLI contract (first line, exit codes, file:line:col).
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cubby-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(cubby_tests::binary())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const OWN_FOLDER: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Sid":"OwnFolder","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],
  "Resource":"arn:aws:s3:::b/private/${cognito-identity.amazonaws.com:sub}/*"}]}"#;

#[test]
fn check_reports_errors_with_position_and_warnings() {
    let good = write("good.json", OWN_FOLDER);
    let (code, out, _) = run(&["policy", "check", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let broad = write(
        "broad.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
    );
    let (code, out, _) = run(&["policy", "check", broad.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("warning"), "{out}");
    let bad = write(
        "bad.json",
        "{\"Version\":\"2012-10-17\",\n\"Statement\":[{\"Effect\":\"Alow\",\"Action\":\"s3:*\",\"Resource\":\"*\"}]}",
    );
    let (code, out, _) = run(&["policy", "check", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains(&format!("{}:2:", bad.display())), "{out}");
}

#[test]
fn simulate_first_line_is_the_decision() {
    let own = write("own.json", OWN_FOLDER);
    let deny = write(
        "deny.json",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:PutObject","Resource":"*","Condition":{"StringEquals":{"s3:x-amz-acl":"public-read"}}}]}"#,
    );
    let base = [
        "policy",
        "simulate",
        "--policy",
        own.to_str().unwrap(),
        "--action",
        "s3:PutObject",
    ];
    let mine = "arn:aws:s3:::b/private/us-east-1:me/photo.jpg";
    let (code, out, _) = run(&[
        &base[..],
        &[
            "--resource",
            mine,
            "--context",
            "cognito-identity.amazonaws.com:sub=us-east-1:me",
        ],
    ]
    .concat());
    assert_eq!(code, 0);
    assert_eq!(out.lines().next(), Some("allowed"));
    assert!(out.contains("OwnFolder"));
    let (_, out, _) = run(&[
        &base[..],
        &[
            "--resource",
            "arn:aws:s3:::b/private/us-east-1:other/x",
            "--context",
            "cognito-identity.amazonaws.com:sub=us-east-1:me",
        ],
    ]
    .concat());
    assert_eq!(out.lines().next(), Some("implicitDeny"));
    // A variable value with a wildcard never widens access.
    let (_, out, _) = run(&[
        &base[..],
        &[
            "--resource",
            mine,
            "--context",
            "cognito-identity.amazonaws.com:sub=*",
        ],
    ]
    .concat());
    assert_eq!(out.lines().next(), Some("implicitDeny"));
    let (_, out, _) = run(&[
        &base[..],
        &[
            "--policy",
            deny.to_str().unwrap(),
            "--resource",
            mine,
            "--context",
            "cognito-identity.amazonaws.com:sub=us-east-1:me",
            "--context",
            "s3:x-amz-acl=public-read",
        ],
    ]
    .concat());
    assert_eq!(out.lines().next(), Some("explicitDeny"));
    let (code, _, err) = run(&[
        "policy",
        "simulate",
        "--policy",
        "/nonexistent.json",
        "--action",
        "s3:GetObject",
        "--resource",
        "*",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read"));
}
