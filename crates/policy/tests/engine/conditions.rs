//! Every condition operator, the absent-key rules, IfExists, set qualifiers, AND/OR semantics.

use super::*;

const OBJ: &str = "arn:aws:s3:::bucket/key";

fn with(pairs: &[(&str, &str)]) -> RequestContext {
    let mut c = RequestContext::new("s3:GetObject", OBJ, role("s"));
    for (k, v) in pairs {
        c.set(k, *v);
    }
    c
}

fn multi(key: &str, values: &[&str]) -> RequestContext {
    let mut c = RequestContext::new("s3:GetObject", OBJ, role("s"));
    for v in values {
        c.add(key, *v);
    }
    c
}

/// Evaluates `{"<op>": {"<key>": <values>}}` against a context.
fn check(op: &str, key: &str, values: &str, c: &RequestContext) -> bool {
    allowed(&cond(&format!(r#"{{"{op}":{{"{key}":{values}}}}}"#)), c)
}

#[test]
fn string_operators() {
    let c = with(&[("aws:UserAgent", "Mozilla/5.0")]);
    assert!(check(
        "StringEquals",
        "aws:UserAgent",
        r#""Mozilla/5.0""#,
        &c
    ));
    assert!(!check(
        "StringEquals",
        "aws:UserAgent",
        r#""mozilla/5.0""#,
        &c
    ));
    assert!(
        check(
            "StringEquals",
            "AWS:USERAGENT",
            r#"["x","Mozilla/5.0"]"#,
            &c
        ),
        "key names are case-insensitive; values OR"
    );
    assert!(
        !check("StringEquals", "aws:UserAgent", r#""Mozilla/*""#, &c),
        "no wildcards in StringEquals"
    );
    assert!(check("StringNotEquals", "aws:UserAgent", r#""curl""#, &c));
    assert!(
        !check(
            "StringNotEquals",
            "aws:UserAgent",
            r#"["curl","Mozilla/5.0"]"#,
            &c
        ),
        "negated: NOR"
    );
    assert!(check(
        "StringEqualsIgnoreCase",
        "aws:UserAgent",
        r#""MOZILLA/5.0""#,
        &c
    ));
    assert!(!check(
        "StringEqualsIgnoreCase",
        "aws:UserAgent",
        r#""MOZILLA/5.*""#,
        &c
    ));
    assert!(check(
        "StringNotEqualsIgnoreCase",
        "aws:UserAgent",
        r#""curl""#,
        &c
    ));
    assert!(!check(
        "StringNotEqualsIgnoreCase",
        "aws:UserAgent",
        r#""mozilla/5.0""#,
        &c
    ));
    assert!(check("StringLike", "aws:UserAgent", r#""Mozilla/*""#, &c));
    assert!(check("StringLike", "aws:UserAgent", r#""Mozilla/?.?""#, &c));
    assert!(
        !check("StringLike", "aws:UserAgent", r#""mozilla/*""#, &c),
        "StringLike is case-sensitive"
    );
    assert!(check("StringNotLike", "aws:UserAgent", r#""curl/*""#, &c));
    assert!(!check(
        "StringNotLike",
        "aws:UserAgent",
        r#"["curl/*","Moz*"]"#,
        &c
    ));
    // Numbers and booleans written as JSON values compare as their text.
    let n = with(&[("s3:max-keys", "10"), ("aws:SecureTransport", "true")]);
    assert!(check("StringEquals", "s3:max-keys", "10", &n));
    assert!(check("StringEquals", "aws:SecureTransport", "true", &n));
}

#[test]
fn numeric_operators() {
    let c = with(&[("s3:max-keys", "10")]);
    let t = |op: &str, v: &str| check(op, "s3:max-keys", v, &c);
    assert!(t("NumericEquals", "10"));
    assert!(t("NumericEquals", r#""10""#));
    assert!(t("NumericEquals", "10.0"));
    assert!(!t("NumericEquals", "11"));
    assert!(t("NumericNotEquals", "11"));
    assert!(!t("NumericNotEquals", "[9,10]"));
    assert!(t("NumericLessThan", "11"));
    assert!(!t("NumericLessThan", "10"));
    assert!(t("NumericLessThanEquals", "10"));
    assert!(!t("NumericLessThanEquals", "9.5"));
    assert!(t("NumericGreaterThan", "9"));
    assert!(!t("NumericGreaterThan", "10"));
    assert!(t("NumericGreaterThanEquals", "10"));
    assert!(t("NumericGreaterThanEquals", "-1e3"));
    assert!(!t("NumericGreaterThanEquals", "1e3"));
    // A request value that is not a number matches no positive operator.
    let bad = with(&[("s3:max-keys", "ten")]);
    assert!(!check("NumericLessThan", "s3:max-keys", "100", &bad));
    assert!(check("NumericNotEquals", "s3:max-keys", "100", &bad));
}

#[test]
fn date_operators() {
    let c = with(&[
        ("aws:CurrentTime", "2024-05-01T12:00:00Z"),
        ("aws:EpochTime", "1714564800"),
    ]);
    let t = |op: &str, key: &str, v: &str| check(op, key, v, &c);
    assert!(t(
        "DateEquals",
        "aws:CurrentTime",
        r#""2024-05-01T12:00:00Z""#
    ));
    assert!(t(
        "DateEquals",
        "aws:CurrentTime",
        r#""2024-05-01T14:00:00+02:00""#
    ));
    assert!(t("DateEquals", "aws:CurrentTime", "1714564800"));
    assert!(t(
        "DateEquals",
        "aws:EpochTime",
        r#""2024-05-01T12:00:00Z""#
    ));
    assert!(t("DateNotEquals", "aws:CurrentTime", r#""2024-05-01""#));
    assert!(t(
        "DateLessThan",
        "aws:CurrentTime",
        r#""2024-06-30T23:59:59Z""#
    ));
    assert!(!t(
        "DateLessThan",
        "aws:CurrentTime",
        r#""2024-05-01T12:00:00Z""#
    ));
    assert!(t(
        "DateLessThanEquals",
        "aws:CurrentTime",
        r#""2024-05-01T12:00:00Z""#
    ));
    assert!(t(
        "DateGreaterThan",
        "aws:EpochTime",
        r#""2024-04-01T00:00:00Z""#
    ));
    assert!(!t("DateGreaterThan", "aws:EpochTime", r#""2024-05-02""#));
    assert!(t(
        "DateGreaterThanEquals",
        "aws:CurrentTime",
        r#""2024-05-01T12:00:00.000Z""#
    ));
    assert!(!t(
        "DateGreaterThanEquals",
        "aws:CurrentTime",
        r#""2024-05-01T12:00:00.001Z""#
    ));
    // Absent key: positive false, negated true.
    let none = with(&[]);
    assert!(!check(
        "DateLessThan",
        "aws:CurrentTime",
        r#""2099-01-01""#,
        &none
    ));
    assert!(check(
        "DateNotEquals",
        "aws:CurrentTime",
        r#""2099-01-01""#,
        &none
    ));
}

#[test]
fn bool_operator() {
    let t = with(&[("aws:SecureTransport", "true")]);
    let f = with(&[("aws:SecureTransport", "false")]);
    assert!(check("Bool", "aws:SecureTransport", r#""true""#, &t));
    assert!(check("Bool", "aws:SecureTransport", "true", &t));
    assert!(!check("Bool", "aws:SecureTransport", r#""true""#, &f));
    assert!(check("Bool", "aws:SecureTransport", r#""false""#, &f));
    assert!(check("Bool", "aws:SecureTransport", r#""TRUE""#, &t));
    assert!(!check(
        "Bool",
        "aws:SecureTransport",
        r#""true""#,
        &with(&[])
    ));
    assert!(check(
        "BoolIfExists",
        "aws:SecureTransport",
        r#""true""#,
        &with(&[])
    ));
    assert!(!check(
        "Bool",
        "aws:SecureTransport",
        r#""true""#,
        &with(&[("aws:SecureTransport", "yes")])
    ));
}

#[test]
fn binary_operator() {
    let c = with(&[("k:bin", "QmluYXJ5VmFsdWU=")]);
    assert!(check("BinaryEquals", "k:bin", r#""QmluYXJ5VmFsdWU=""#, &c));
    assert!(!check("BinaryEquals", "k:bin", r#""T3RoZXI=""#, &c));
    assert!(!check(
        "BinaryEquals",
        "k:bin",
        r#""QmluYXJ5VmFsdWU=""#,
        &with(&[("k:bin", "not base64!")])
    ));
}

#[test]
fn ip_operators() {
    let v4 = with(&[("aws:SourceIp", "203.0.113.7")]);
    let v6 = with(&[("aws:SourceIp", "2001:db8:1234:5678::99")]);
    let mapped = with(&[("aws:SourceIp", "::ffff:203.0.113.7")]);
    let nets = r#"["203.0.113.0/24","2001:DB8:1234:5678::/64"]"#;
    assert!(check("IpAddress", "aws:SourceIp", nets, &v4));
    assert!(check("IpAddress", "aws:SourceIp", nets, &v6));
    assert!(check("IpAddress", "aws:SourceIp", nets, &mapped));
    assert!(check("IpAddress", "aws:SourceIp", r#""203.0.113.7""#, &v4));
    assert!(!check("IpAddress", "aws:SourceIp", r#""203.0.113.8""#, &v4));
    assert!(!check(
        "IpAddress",
        "aws:SourceIp",
        r#""198.51.100.0/24""#,
        &v4
    ));
    assert!(check(
        "NotIpAddress",
        "aws:SourceIp",
        r#""198.51.100.0/24""#,
        &v4
    ));
    assert!(!check("NotIpAddress", "aws:SourceIp", nets, &v6));
    assert!(check("NotIpAddress", "aws:SourceIp", nets, &with(&[])));
    assert!(!check(
        "IpAddress",
        "aws:SourceIp",
        nets,
        &with(&[("aws:SourceIp", "garbage")])
    ));
}

#[test]
fn arn_operators() {
    let c = with(&[(
        "aws:SourceArn",
        "arn:aws:sns:us-east-1:123456789012:topic:sub",
    )]);
    for op in ["ArnEquals", "ArnLike"] {
        assert!(check(
            op,
            "aws:SourceArn",
            r#""arn:aws:sns:us-east-1:123456789012:topic:sub""#,
            &c
        ));
        assert!(check(
            op,
            "aws:SourceArn",
            r#""arn:aws:sns:*:123456789012:*""#,
            &c
        ));
        assert!(check(
            op,
            "aws:SourceArn",
            r#""arn:aws:sns:us-east-?:*:topic*""#,
            &c
        ));
        assert!(!check(
            op,
            "aws:SourceArn",
            r#""arn:aws:sns:*:999999999999:*""#,
            &c
        ));
        assert!(
            !check(op, "aws:SourceArn", r#""arn:aws:SNS:*:*:*""#, &c),
            "case-sensitive"
        );
    }
    for op in ["ArnNotEquals", "ArnNotLike"] {
        assert!(check(
            op,
            "aws:SourceArn",
            r#""arn:aws:sns:*:999999999999:*""#,
            &c
        ));
        assert!(!check(
            op,
            "aws:SourceArn",
            r#""arn:aws:sns:*:123456789012:*""#,
            &c
        ));
        assert!(check(
            op,
            "aws:SourceArn",
            r#""arn:aws:sns:*:123456789012:*""#,
            &with(&[])
        ));
    }
    // `*` in the region segment cannot swallow the account segment.
    assert!(!check(
        "ArnLike",
        "aws:SourceArn",
        r#""arn:aws:sns:*:topic:sub""#.replace("*:topic:sub", "*:*:*:topic:sub").as_str(),
        &c
    ));
    assert!(!check(
        "ArnLike",
        "aws:SourceArn",
        r#""arn:aws:sns:*:*:*""#,
        &with(&[("aws:SourceArn", "not-an-arn")])
    ));
}

#[test]
fn null_operator() {
    let present = with(&[("aws:TokenIssueTime", "2024-01-01T00:00:00Z")]);
    let absent = with(&[]);
    assert!(check("Null", "aws:TokenIssueTime", r#""true""#, &absent));
    assert!(!check("Null", "aws:TokenIssueTime", r#""true""#, &present));
    assert!(check("Null", "aws:TokenIssueTime", r#""false""#, &present));
    assert!(!check("Null", "aws:TokenIssueTime", "false", &absent));
}

#[test]
fn absent_keys_and_if_exists() {
    let none = with(&[]);
    // Positive operators are false, negated operators true.
    assert!(!check("StringEquals", "aws:UserAgent", r#""x""#, &none));
    assert!(!check("StringLike", "aws:UserAgent", r#""*""#, &none));
    assert!(!check("NumericLessThan", "s3:max-keys", "5", &none));
    assert!(!check("IpAddress", "aws:SourceIp", r#""0.0.0.0/0""#, &none));
    assert!(!check("ArnLike", "aws:SourceArn", r#""*""#, &none));
    assert!(check("StringNotEquals", "aws:UserAgent", r#""x""#, &none));
    assert!(check("StringNotLike", "aws:UserAgent", r#""*""#, &none));
    assert!(check(
        "StringNotEqualsIgnoreCase",
        "aws:UserAgent",
        r#""x""#,
        &none
    ));
    assert!(check("NumericNotEquals", "s3:max-keys", "5", &none));
    // IfExists: true when absent, normal otherwise.
    assert!(check(
        "StringEqualsIfExists",
        "aws:UserAgent",
        r#""x""#,
        &none
    ));
    assert!(check("NumericLessThanIfExists", "s3:max-keys", "5", &none));
    assert!(check(
        "IpAddressIfExists",
        "aws:SourceIp",
        r#""10.0.0.0/8""#,
        &none
    ));
    let c = with(&[("aws:UserAgent", "y")]);
    assert!(!check(
        "StringEqualsIfExists",
        "aws:UserAgent",
        r#""x""#,
        &c
    ));
    assert!(check(
        "StringNotEqualsIfExists",
        "aws:UserAgent",
        r#""x""#,
        &c
    ));
}

#[test]
fn set_qualifiers() {
    let amr = "cognito-identity.amazonaws.com:amr";
    let authed = multi(
        amr,
        &["authenticated", "cognito-idp.us-east-1.amazonaws.com/pool"],
    );
    let guest = multi(amr, &["unauthenticated"]);
    let none = with(&[]);
    assert!(check(
        "ForAnyValue:StringLike",
        amr,
        r#""authenticated""#,
        &authed
    ));
    assert!(!check(
        "ForAnyValue:StringLike",
        amr,
        r#""authenticated""#,
        &guest
    ));
    assert!(
        !check("ForAnyValue:StringLike", amr, r#""*""#, &none),
        "ForAnyValue: absent → false"
    );
    assert!(check(
        "ForAnyValue:StringLikeIfExists",
        amr,
        r#""x""#,
        &none
    ));
    assert!(check(
        "ForAllValues:StringLike",
        amr,
        r#"["authenticated","cognito-idp.*"]"#,
        &authed
    ));
    assert!(!check(
        "ForAllValues:StringLike",
        amr,
        r#""authenticated""#,
        &authed
    ));
    assert!(
        check("ForAllValues:StringEquals", amr, r#""nothing""#, &none),
        "ForAllValues: absent → true"
    );
    // Negated operators with qualifiers apply per request value.
    assert!(check(
        "ForAnyValue:StringNotEquals",
        amr,
        r#""authenticated""#,
        &authed
    ));
    assert!(!check(
        "ForAllValues:StringNotEquals",
        amr,
        r#""authenticated""#,
        &authed
    ));
    assert!(check(
        "ForAllValues:StringNotEquals",
        amr,
        r#""x""#,
        &authed
    ));
    assert!(!check("ForAnyValue:StringNotEquals", amr, r#""x""#, &none));
    // A single-valued key acts as a one-element set.
    let tag = with(&[("aws:RequestTag/env", "prod")]);
    assert!(check(
        "ForAnyValue:StringEquals",
        "aws:RequestTag/env",
        r#"["dev","prod"]"#,
        &tag
    ));
    // AWS's tag-keys example.
    let keys = multi("aws:TagKeys", &["environment", "cost-center"]);
    assert!(check(
        "ForAllValues:StringEquals",
        "aws:TagKeys",
        r#"["environment","cost-center","owner"]"#,
        &keys
    ));
    let extra = multi("aws:TagKeys", &["environment", "secret"]);
    assert!(!check(
        "ForAllValues:StringEquals",
        "aws:TagKeys",
        r#"["environment","cost-center"]"#,
        &extra
    ));
    // Unqualified on a multi-valued key: positive = any, negated = none.
    assert!(check("StringEquals", amr, r#""authenticated""#, &authed));
    assert!(!check(
        "StringNotEquals",
        amr,
        r#""authenticated""#,
        &authed
    ));
}

#[test]
fn block_semantics_and_or() {
    let both = with(&[
        ("aws:SourceIp", "10.1.2.3"),
        ("aws:SecureTransport", "true"),
    ]);
    let http = with(&[
        ("aws:SourceIp", "10.1.2.3"),
        ("aws:SecureTransport", "false"),
    ]);
    // Two operators: AND.
    let p = cond(
        r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"Bool":{"aws:SecureTransport":"true"}}"#,
    );
    assert!(allowed(&p, &both));
    assert!(!allowed(&p, &http));
    // Two keys under one operator: AND.
    let q = cond(r#"{"StringEquals":{"aws:SourceIp":"10.1.2.3","aws:SecureTransport":"true"}}"#);
    assert!(allowed(&q, &both));
    assert!(!allowed(&q, &http));
    // Several values: OR.
    let r = cond(r#"{"Bool":{"aws:SecureTransport":["true","false"]}}"#);
    assert!(allowed(&r, &both) && allowed(&r, &http));
    // Empty Condition object: no condition.
    assert!(allowed(&cond("{}"), &both));
}
