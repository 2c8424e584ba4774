//! Examples from the AWS IAM and S3 documentation, decided as AWS documents them.

use super::*;
use cubby_policy::evaluate_one;

/// IAM User Guide, "Amazon S3: Allows Amazon Cognito users to access objects in their bucket".
#[test]
fn cognito_users_access_their_objects() {
    let p = parse(
        r#"{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "ListYourObjects",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": ["arn:aws:s3:::bucket-name"],
            "Condition": {
                "StringLike": {
                    "s3:prefix": ["cognito/application-name/${cognito-identity.amazonaws.com:sub}/*"]
                }
            }
        },
        {
            "Sid": "ReadWriteDeleteYourObjects",
            "Effect": "Allow",
            "Action": ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            "Resource": [
                "arn:aws:s3:::bucket-name/cognito/application-name/${cognito-identity.amazonaws.com:sub}",
                "arn:aws:s3:::bucket-name/cognito/application-name/${cognito-identity.amazonaws.com:sub}/*"
            ]
        }
    ]
}"#,
    );
    let mine = format!("arn:aws:s3:::bucket-name/cognito/application-name/{SUB}/doc.txt");
    assert!(allowed(&p, &ctx("s3:DeleteObject", &mine)));
    assert!(allowed(
        &p,
        &ctx(
            "s3:PutObject",
            &format!("arn:aws:s3:::bucket-name/cognito/application-name/{SUB}")
        )
    ));
    assert!(!allowed(
        &p,
        &ctx(
            "s3:GetObject",
            "arn:aws:s3:::bucket-name/cognito/application-name/us-east-1:x/doc.txt"
        )
    ));
    let mut list = ctx("s3:ListBucket", "arn:aws:s3:::bucket-name");
    list.set("s3:prefix", format!("cognito/application-name/{SUB}/"));
    assert!(allowed(&p, &list));
    list.set("s3:prefix", "cognito/application-name/");
    assert!(!allowed(&p, &list));
    list.remove("s3:prefix");
    assert!(!allowed(&p, &list));
    let e = evaluate(
        &PolicySet {
            identity: &[&p],
            ..PolicySet::default()
        },
        &ctx("s3:GetObject", &mine),
    );
    assert_eq!(
        e.deciding[0].sid.as_deref(),
        Some("ReadWriteDeleteYourObjects")
    );
}

/// IAM User Guide, "AWS: Denies access to AWS based on the source IP".
#[test]
fn deny_by_source_ip() {
    let p = parse(
        r#"{
    "Version": "2012-10-17",
    "Statement": {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]},
            "Bool": {"aws:ViaAWSService": "false"}
        }
    }
}"#,
    );
    let mut c = RequestContext::new("s3:GetObject", "arn:aws:s3:::b/k", user("alice"));
    c.set("aws:ViaAWSService", "false");
    c.set("aws:SourceIp", "198.51.100.1");
    assert_eq!(decide(&p, &c), Decision::ExplicitDeny);
    c.set("aws:SourceIp", "192.0.2.44");
    assert_eq!(decide(&p, &c), Decision::ImplicitDeny);
    c.set("aws:SourceIp", "198.51.100.1");
    c.set("aws:ViaAWSService", "true");
    assert_eq!(decide(&p, &c), Decision::ImplicitDeny);
}

/// IAM User Guide, "AWS: Allows access based on date and time".
#[test]
fn allow_within_dates() {
    let p = parse(
        r#"{
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": "service-prefix:action-name",
            "Resource": "*",
            "Condition": {
                "DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"},
                "DateLessThan": {"aws:CurrentTime": "2020-06-30T23:59:59Z"}
            }
        }
    ]
}"#,
    );
    let at = |t: &str| {
        let mut c = RequestContext::new("service-prefix:action-name", "*", user("alice"));
        c.set("aws:CurrentTime", t);
        c
    };
    assert!(allowed(&p, &at("2020-05-15T08:00:00Z")));
    assert!(!allowed(&p, &at("2020-03-31T23:59:59Z")));
    assert!(!allowed(&p, &at("2020-07-01T00:00:00Z")));
}

/// IAM User Guide, "AWS: Denies access … when MFA is not present" (BoolIfExists).
#[test]
fn deny_without_mfa() {
    let p = parse(
        r#"{
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "AllowAll", "Effect": "Allow", "Action": "*", "Resource": "*"},
        {
            "Sid": "DenyAllExceptListedIfNoMFA",
            "Effect": "Deny",
            "NotAction": ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "sts:GetSessionToken"],
            "Resource": "*",
            "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}
        }
    ]
}"#,
    );
    let mut c = RequestContext::new("s3:GetObject", "arn:aws:s3:::b/k", user("alice"));
    assert_eq!(
        decide(&p, &c),
        Decision::ExplicitDeny,
        "absent key: BoolIfExists is true"
    );
    c.set("aws:MultiFactorAuthPresent", "true");
    assert_eq!(decide(&p, &c), Decision::Allowed);
    c.set("aws:MultiFactorAuthPresent", "false");
    c.action = "iam:EnableMFADevice".into();
    assert_eq!(decide(&p, &c), Decision::Allowed);
}

/// S3 User Guide, bucket policy denying plain HTTP (aws:SecureTransport).
#[test]
fn bucket_policy_requires_tls() {
    let bp = parse_resource(
        r#"{
    "Version": "2012-10-17",
    "Statement": [{
        "Sid": "RestrictToTLSRequestsOnly",
        "Action": "s3:*",
        "Effect": "Deny",
        "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket", "arn:aws:s3:::amzn-s3-demo-bucket/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Principal": "*"
    }]
}"#,
    );
    let id = stmt(r#""Effect":"Allow","Action":"s3:*","Resource":"*""#);
    let mut c = RequestContext::new(
        "s3:GetObject",
        "arn:aws:s3:::amzn-s3-demo-bucket/k",
        user("alice"),
    );
    c.set("aws:SecureTransport", "false");
    let set = PolicySet {
        identity: &[&id],
        resource: Some(&bp),
        ..PolicySet::default()
    };
    assert_eq!(evaluate(&set, &c).decision, Decision::ExplicitDeny);
    c.set("aws:SecureTransport", "true");
    assert_eq!(evaluate(&set, &c).decision, Decision::Allowed);
}

/// S3 User Guide, "Granting permissions … requiring bucket-owner-full-control" and max-keys.
#[test]
fn s3_condition_keys() {
    let p = parse(
        r#"{
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*",
         "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
         "Condition": {"NumericLessThanEquals": {"s3:max-keys": "10"}}},
        {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*",
         "Condition": {"StringEquals": {"s3:x-amz-content-sha256": "UNSIGNED-PAYLOAD"}}}
    ]
}"#,
    );
    let mut put = RequestContext::new("s3:PutObject", "arn:aws:s3:::b/k", user("alice"));
    assert!(!allowed(&p, &put));
    put.set("s3:x-amz-acl", "bucket-owner-full-control");
    assert!(allowed(&p, &put));
    put.set("s3:x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    assert_eq!(decide(&p, &put), Decision::ExplicitDeny);
    let mut list = RequestContext::new("s3:ListBucket", "arn:aws:s3:::b", user("alice"));
    list.set("s3:max-keys", "10");
    assert!(allowed(&p, &list));
    list.set("s3:max-keys", "1000");
    assert!(!allowed(&p, &list));
}

/// IAM User Guide, "Specifying a default value" for a policy variable.
#[test]
fn variable_default_value() {
    let p = parse(
        r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:PutObject"],
      "Resource": ["arn:aws:s3:::amzn-s3-demo-bucket/${aws:PrincipalTag/team, 'company-wide'}/*"]
    }
  ]
}"#,
    );
    let mut c = RequestContext::new(
        "s3:PutObject",
        "arn:aws:s3:::amzn-s3-demo-bucket/company-wide/x",
        role("s"),
    );
    assert!(allowed(&p, &c));
    c.set("aws:PrincipalTag/team", "eng");
    assert!(!allowed(&p, &c));
}

/// IAM User Guide, the seed's own trust policy shape for the guest role.
#[test]
fn guest_trust_policy() {
    let trust = parse_resource(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
  "Principal":{"Federated":"cognito-identity.amazonaws.com"},
  "Action":"sts:AssumeRoleWithWebIdentity",
  "Condition":{"StringEquals":{"cognito-identity.amazonaws.com:aud":"us-east-1:pool"},
               "ForAnyValue:StringLike":{"cognito-identity.amazonaws.com:amr":"unauthenticated"}}}]}"#,
    );
    let mut c = RequestContext::new(
        "sts:AssumeRoleWithWebIdentity",
        "arn:aws:iam::123456789012:role/Guest",
        Principal::WebIdentity {
            provider: "cognito-identity.amazonaws.com".into(),
        },
    );
    c.set("cognito-identity.amazonaws.com:aud", "us-east-1:pool");
    c.add("cognito-identity.amazonaws.com:amr", "unauthenticated");
    assert_eq!(evaluate_one(&trust, &c).decision, Decision::Allowed);
}

/// IAM User Guide, "${*}" special characters: matching an object literally named with `*`.
#[test]
fn special_character_variables() {
    let p = parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${*}prefix"}}"#,
    );
    assert!(allowed(
        &p,
        &RequestContext::new("s3:GetObject", "arn:aws:s3:::b/*prefix", user("a"))
    ));
    assert!(!allowed(
        &p,
        &RequestContext::new("s3:GetObject", "arn:aws:s3:::b/xprefix", user("a"))
    ));
}

/// The seed's guest (upload-only) and signed-in (own-folder) role policies.
#[test]
fn seed_role_policies() {
    let guest = parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Action":["s3:PutObject","s3:AbortMultipartUpload","s3:ListMultipartUploadParts"],
        "Resource":["arn:aws:s3:::seed-bucket/*"]}]}"#,
    );
    for (action, ok) in [
        ("s3:PutObject", true),
        ("s3:GetObject", false),
        ("s3:DeleteObject", false),
        ("s3:ListBucket", false),
    ] {
        assert_eq!(
            allowed(&guest, &ctx(action, "arn:aws:s3:::seed-bucket/upload.bin")),
            ok,
            "{action}"
        );
    }
    let own = parse(
        r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":["s3:PutObject","s3:GetObject","s3:DeleteObject","s3:AbortMultipartUpload","s3:ListMultipartUploadParts"],
      "Resource":["arn:aws:s3:::seed-bucket/private/${cognito-identity.amazonaws.com:sub}/*"]},
    {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::seed-bucket",
      "Condition":{"StringLike":{"s3:prefix":["private/${cognito-identity.amazonaws.com:sub}/*"]}}}]}"#,
    );
    assert!(allowed(
        &own,
        &ctx(
            "s3:GetObject",
            &format!("arn:aws:s3:::seed-bucket/private/{SUB}/a.jpg")
        )
    ));
    assert!(!allowed(
        &own,
        &ctx(
            "s3:GetObject",
            "arn:aws:s3:::seed-bucket/private/us-east-1:someone-else/a.jpg"
        )
    ));
    assert!(!allowed(
        &own,
        &ctx("s3:GetObject", "arn:aws:s3:::seed-bucket/public/a.jpg")
    ));
    let mut list = ctx("s3:ListBucket", "arn:aws:s3:::seed-bucket");
    list.set("s3:prefix", format!("private/{SUB}/"));
    assert!(allowed(&own, &list));
    list.set("s3:prefix", "private/");
    assert!(!allowed(&own, &list));
}
