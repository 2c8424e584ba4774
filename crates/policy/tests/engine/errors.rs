//! Parse errors: 1-based line/column of the offending value and what was expected.

use cubby_policy::{Policy, PolicyError};

fn err(json: &str) -> PolicyError {
    match Policy::parse(json) {
        Ok(_) => panic!("expected an error for {json}"),
        Err(e) => e,
    }
}

fn at(json: &str, line: usize, column: usize, needle: &str) {
    let e = err(json);
    assert_eq!((e.line, e.column), (line, column), "{e}");
    assert!(e.message.contains(needle), "{e} should mention {needle:?}");
}

#[test]
fn syntax_errors() {
    at(
        "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n}",
        4,
        1,
        "JSON value",
    );
    at(
        "{\"Version\": \"2012-10-17\" \"Statement\": []}",
        1,
        26,
        "','",
    );
    at("{\"Version\": '2012-10-17'}", 1, 13, "JSON value");
    at("", 1, 1, "end of the input");
    at("[]", 1, 1, "policy object");
    at(
        "{\"Statement\": {}, \"Statement\": {}}",
        1,
        19,
        "duplicate key",
    );
}

#[test]
fn display_format() {
    let e = err("{\"Version\": 1}");
    assert_eq!(e.to_string(), format!("line 1, column 13: {}", e.message));
}

#[test]
fn semantic_errors_point_at_the_value() {
    let doc = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "allow",
      "Action": "s3:GetObject",
      "Resource": "*"
    }
  ]
}"#;
    at(doc, 5, 17, "\"Allow\" or \"Deny\"");
    at(
        &doc.replace("\"allow\"", "\"Allow\"")
            .replace("\"s3:GetObject\"", "\"s3GetObject\""),
        6,
        17,
        "<service>:<action>",
    );
    at(
        &doc.replace("\"allow\"", "\"Allow\"")
            .replace("\"*\"", "\"bucket/*\""),
        7,
        19,
        "ARN",
    );
    at(
        &doc.replace("\"allow\"", "\"Allow\"")
            .replace("\"Action\"", "\"Actions\""),
        6,
        7,
        "unknown statement element \"Actions\"",
    );
    at(
        &doc.replace("\"allow\"", "\"Allow\"")
            .replace("      \"Action\": \"s3:GetObject\",\n", ""),
        4,
        5,
        "missing \"Action\"",
    );
    at(
        &doc.replace("      \"Effect\": \"allow\",\n", ""),
        4,
        5,
        "missing \"Effect\"",
    );
    at(
        &doc.replace("\"allow\"", "\"Allow\"")
            .replace(",\n      \"Resource\": \"*\"", ""),
        4,
        5,
        "missing \"Resource\"",
    );
    at(
        &doc.replace("2012-10-17", "2012-10-18"),
        2,
        14,
        "Version must be",
    );
    at(
        &doc.replace("\"Version\"", "\"Versoin\""),
        2,
        3,
        "unknown policy element",
    );
}

#[test]
fn element_shape_errors() {
    at(r#"{"Statement":[]}"#, 1, 14, "at least one statement");
    at(r#"{"Statement":"x"}"#, 1, 14, "object or an array");
    at(r#"{"Statement":["x"]}"#, 1, 15, "statement object");
    at(
        r#"{"Version":"2012-10-17"}"#,
        1,
        1,
        "missing the \"Statement\"",
    );
    at(
        r#"{"Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}"#,
        1,
        41,
        "empty array",
    );
    at(
        r#"{"Statement":{"Effect":"Allow","Action":[1],"Resource":"*"}}"#,
        1,
        42,
        "expected a string",
    );
    at(
        r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","NotAction":"s3:x","Resource":"*"}}"#,
        1,
        56,
        "both Action and NotAction",
    );
    at(
        r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","NotResource":"*"}}"#,
        1,
        71,
        "both Resource and NotResource",
    );
    at(
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}}"#,
        1,
        32,
        "identity-based",
    );
    at(
        r#"{"Statement":{"Sid":1,"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
        1,
        21,
        "Sid must be a string",
    );
    at(
        r#"{"Statement":{"Effect":"Allow","Action":"s*:GetObject","Resource":"*"}}"#,
        1,
        41,
        "invalid action",
    );
}

#[test]
fn condition_errors() {
    let c = |cond: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{cond}}}}}"#
        )
    };
    // Column of the Condition value's first character is 106.
    at(
        &c(r#"{"StringEqualz":{"a:b":"c"}}"#),
        1,
        107,
        "unknown condition operator \"StringEqualz\"",
    );
    at(
        &c(r#"{"stringEquals":{"a:b":"c"}}"#),
        1,
        107,
        "did you mean \"StringEquals\"",
    );
    at(
        &c(r#"{"NumericLessThan":{"s3:max-keys":"ten"}}"#),
        1,
        140,
        "expects a number",
    );
    at(
        &c(r#"{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}"#),
        1,
        141,
        "ISO 8601",
    );
    at(
        &c(r#"{"Bool":{"aws:SecureTransport":"yes"}}"#),
        1,
        137,
        "\"true\" or \"false\"",
    );
    at(
        &c(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}"#),
        1,
        135,
        "CIDR",
    );
    at(&c(r#"{"BinaryEquals":{"k:b":"%%%"}}"#), 1, 129, "base64");
    at(
        &c(r#"{"ArnLike":{"aws:SourceArn":"not-an-arn"}}"#),
        1,
        134,
        "ARN",
    );
    at(
        &c(r#"{"Null":{"k:x":"maybe"}}"#),
        1,
        121,
        "\"true\" or \"false\"",
    );
    at(
        &c(r#"{"StringEquals":{"k:x":null}}"#),
        1,
        129,
        "string, number or boolean",
    );
    at(
        &c(r#"{"StringEquals":{"k:x":[]}}"#),
        1,
        129,
        "at least one value",
    );
    at(
        &c(r#"{"StringEquals":{}}"#),
        1,
        122,
        "at least one condition key",
    );
    at(&c(r#"{"StringEquals":"x"}"#), 1, 122, "object mapping");
    at(&c(r#""x""#), 1, 106, "Condition must be an object");
    at(
        &c(r#"{"NullIfExists":{"k:x":"true"}}"#),
        1,
        107,
        "NullIfExists",
    );
    at(
        &c(r#"{"StringLike":{"s3:prefix":"${aws:username"}}"#),
        1,
        133,
        "unterminated policy variable",
    );
}

#[test]
fn principal_errors() {
    let r = |p: &str| {
        Policy::parse_resource_policy(&format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{p},"Action":"s3:GetObject","Resource":"*"}}}}"#
        ))
        .map(|_| ())
    };
    assert!(r(r#""*""#).is_ok());
    let e = r(r#""alice""#).unwrap_err();
    assert_eq!((e.line, e.column), (1, 67));
    assert!(e.message.contains("\"*\" or an object"));
    let e = r(r#"{"AWS":"arn:aws:iam::123456789012:role/*"}"#).unwrap_err();
    assert!(e.message.contains("wildcards are not allowed"), "{e}");
    assert_eq!((e.line, e.column), (1, 74));
    let e = r(r#"{"Users":"x"}"#).unwrap_err();
    assert!(e.message.contains("unknown principal type"));
    assert!(r(r#"{}"#).is_err());
    assert!(r(r#"{"AWS":[]}"#).is_err());
    assert!(r(r#"{"AWS":"alice"}"#).is_err());
}

#[test]
fn limits() {
    let big = format!(
        r#"{{"Statement":{{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Sid":"{}"}}}}"#,
        "a".repeat(200_000)
    );
    assert!(err(&big).message.contains("limit"));
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(err(&deep).message.contains("nesting"));
}
