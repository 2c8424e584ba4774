//! Lints and the public-policy test.

use super::*;
use cubby_policy::{LintCode, lint};

fn codes(p: &Policy) -> Vec<LintCode> {
    lint(p).into_iter().map(|w| w.code).collect()
}

#[test]
fn clean_policies_have_no_warnings() {
    let own = parse(
        r#"{"Version":"2012-10-17","Statement":[
    {"Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":"arn:aws:s3:::b/private/${cognito-identity.amazonaws.com:sub}/*"},
    {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":"private/${cognito-identity.amazonaws.com:sub}/*"}}}]}"#,
    );
    assert_eq!(lint(&own), vec![]);
    let trust = parse_resource(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"cognito-identity.amazonaws.com:aud":"us-east-1:p"},"ForAnyValue:StringLike":{"cognito-identity.amazonaws.com:amr":"authenticated"}}}]}"#,
    );
    assert_eq!(lint(&trust), vec![]);
}

#[test]
fn over_broad_grants() {
    let p = parse(
        "{\"Version\":\"2012-10-17\",\"Statement\":[\n{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"},\n{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"*\"},\n{\"Effect\":\"Allow\",\"Action\":\"s3:*\",\"Resource\":\"arn:aws:s3:::b/*\"},\n{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\"}]}",
    );
    let w = lint(&p);
    assert_eq!(
        w.iter().map(|w| w.code).collect::<Vec<_>>(),
        [
            LintCode::WildcardAction,
            LintCode::ServiceWildcardOnAllResources
        ]
    );
    assert_eq!((w[0].line, w[0].column), (2, 28));
    assert_eq!(w[1].line, 3);
    assert!(w[0].to_string().starts_with("line 2, column 28: "));
}

#[test]
fn not_action_and_not_resource() {
    let p = stmt(r#""Effect":"Allow","NotAction":"iam:*","NotResource":"arn:aws:s3:::secret/*""#);
    assert_eq!(
        codes(&p),
        [LintCode::AllowWithNotAction, LintCode::AllowWithNotResource]
    );
    let d = stmt(r#""Effect":"Deny","NotAction":"iam:*","Resource":"*""#);
    assert_eq!(codes(&d), []);
}

#[test]
fn unknown_actions() {
    let p = stmt(
        r#""Effect":"Allow","Action":["s3:GetObjects","s3:Get*","s3:Frob*","iam:PassRole","sts:AssumeRoleWithWebIdentity","cognito-identity:GetId","cognito-identity:GetIdd","ec2:Whatever","s3:PutBucketNotificationConfiguration"],"Resource":"*""#,
    );
    let w = lint(&p);
    let unknown: Vec<&str> = w
        .iter()
        .filter(|w| w.code == LintCode::UnknownAction)
        .map(|w| w.message.as_str())
        .collect();
    assert_eq!(unknown.len(), 4, "{unknown:?}");
    assert!(
        unknown[0].contains("did you mean \"s3:GetObject\""),
        "{}",
        unknown[0]
    );
    assert!(unknown[1].contains("matches no known action"));
    assert!(unknown[2].contains("cognito-identity:GetIdd"));
    assert!(unknown[3].contains("PutBucketNotificationConfiguration"));
    // Action case does not matter.
    assert_eq!(
        codes(&stmt(
            r#""Effect":"Allow","Action":"S3:getobject","Resource":"arn:aws:s3:::b/*""#
        )),
        []
    );
}

#[test]
fn per_user_folder_without_variable() {
    let p = stmt(
        r#""Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::b/private/*","arn:aws:s3:::b/home/alice/*","arn:aws:s3:::b/public/*"]"#,
    );
    assert_eq!(codes(&p), [LintCode::PerUserFolderWithoutVariable]);
    let l = stmt(
        r#""Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":"home/*"}}"#,
    );
    assert_eq!(codes(&l), [LintCode::PerUserFolderWithoutVariable]);
}

#[test]
fn literal_variables_under_old_versions() {
    let p = parse(
        r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}}"#,
    );
    let w = lint(&p);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].code, LintCode::LiteralVariable);
    let q = parse(
        r#"{"Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"s3:prefix":"${aws:username}/*"}}}}"#,
    );
    assert_eq!(codes(&q), [LintCode::LiteralVariable]);
}

#[test]
fn trust_and_condition_lints() {
    let t = parse_resource(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringLike":{"cognito-identity.amazonaws.com:amr":"authenticated"}}}]}"#,
    );
    assert_eq!(
        codes(&t),
        [
            LintCode::TrustWithoutAudience,
            LintCode::MultiValuedKeyWithoutQualifier
        ]
    );
    let oidc = parse_resource(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/auth.example.com/pool"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"auth.example.com/pool:aud":"client"}}}]}"#,
    );
    assert_eq!(codes(&oidc), []);
    let fa = cond(r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["a"]}}"#);
    assert_eq!(codes(&fa), [LintCode::ForAllValuesInAllow]);
    let dup = parse(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},{"Sid":"A","Effect":"Deny","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}]}"#,
    );
    assert_eq!(codes(&dup), [LintCode::DuplicateSid]);
}

#[test]
fn public_policies() {
    let bp = |principal: &str, condition: &str| {
        parse_resource(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"{condition}}}]}}"#
        ))
    };
    assert!(bp(r#""*""#, "").is_public());
    assert!(bp(r#"{"AWS":"*"}"#, "").is_public());
    assert!(!bp(r#"{"AWS":"123456789012"}"#, "").is_public());
    assert!(
        !bp(
            r#""*""#,
            r#","Condition":{"IpAddress":{"aws:SourceIp":"203.0.113.0/24"}}"#
        )
        .is_public()
    );
    assert!(
        bp(
            r#""*""#,
            r#","Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/1"}}"#
        )
        .is_public()
    );
    assert!(
        !bp(
            r#""*""#,
            r#","Condition":{"StringEquals":{"aws:PrincipalAccount":"123456789012"}}"#
        )
        .is_public()
    );
    assert!(
        bp(
            r#""*""#,
            r#","Condition":{"StringLike":{"aws:PrincipalAccount":"*"}}"#
        )
        .is_public()
    );
    assert!(
        bp(
            r#""*""#,
            r#","Condition":{"StringEqualsIfExists":{"aws:PrincipalAccount":"123456789012"}}"#
        )
        .is_public()
    );
    assert!(
        bp(
            r#""*""#,
            r#","Condition":{"Bool":{"aws:SecureTransport":"true"}}"#
        )
        .is_public()
    );
    assert!(
        !bp(
            r#""*""#,
            r#","Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:sns:us-east-1:123456789012:t"}}"#
        )
        .is_public()
    );
    // Deny statements never make a policy public.
    let deny = parse_resource(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}]}"#,
    );
    assert!(!deny.is_public());
    assert_eq!(codes(&bp(r#""*""#, "")), [LintCode::PublicGrant]);
}
