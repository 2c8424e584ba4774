//! Policy elements: Version, Statement, Sid, Effect, Action, Resource, Principal, printing.

use super::*;
use cubby_policy::{Effect, PolicyKind, Version, evaluate_one};

const GET: &str = "arn:aws:s3:::bucket/key";

#[test]
fn version_values() {
    let p = parse(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
    );
    assert_eq!(p.version(), Some(Version::V2012_10_17));
    assert!(p.variables_enabled());
    let p = parse(
        r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
    );
    assert_eq!(p.version(), Some(Version::V2008_10_17));
    assert!(!p.variables_enabled());
    let p = parse(r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#);
    assert_eq!(p.version(), None);
    assert!(Policy::parse(r#"{"Version":"2012-10-18","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#).is_err());
}

#[test]
fn statement_object_or_array_and_id() {
    let one = parse(
        r#"{"Version":"2012-10-17","Id":"pol-1","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
    );
    let arr = parse(
        r#"{"Version":"2012-10-17","Id":"pol-1","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#,
    );
    assert_eq!(one.statements().len(), 1);
    assert_eq!(one.id(), Some("pol-1"));
    assert_eq!(one.to_json(), arr.to_json());
    let two = parse(
        r#"{"Version":"2012-10-17","Statement":[
        {"Sid":"A","Effect":"Allow","Action":"s3:GetObject","Resource":"*"},
        {"Sid":"B","Effect":"Deny","Action":"s3:PutObject","Resource":"*"}]}"#,
    );
    assert_eq!(two.statements().len(), 2);
    assert_eq!(two.statements()[0].sid(), Some("A"));
    assert_eq!(two.statements()[1].effect(), Effect::Deny);
    assert_eq!(two.statements()[1].line(), 3);
}

#[test]
fn effect_allow_and_deny() {
    let c = ctx("s3:GetObject", GET);
    assert_eq!(
        decide(
            &stmt(r#""Effect":"Allow","Action":"s3:GetObject","Resource":"*""#),
            &c
        ),
        Decision::Allowed
    );
    assert_eq!(
        decide(
            &stmt(r#""Effect":"Deny","Action":"s3:GetObject","Resource":"*""#),
            &c
        ),
        Decision::ExplicitDeny
    );
    assert_eq!(
        decide(
            &stmt(r#""Effect":"Allow","Action":"s3:PutObject","Resource":"*""#),
            &c
        ),
        Decision::ImplicitDeny
    );
}

#[test]
fn actions_are_case_insensitive_with_wildcards() {
    let c = ctx("s3:GetObject", GET);
    for pattern in [
        "s3:GetObject",
        "S3:getobject",
        "s3:GETOBJECT",
        "s3:Get*",
        "s3:*Object",
        "s3:?etObject",
        "s3:*",
        "*",
        "s3:G*t*",
        "S3:*OBJ*",
    ] {
        let p = stmt(&format!(
            r#""Effect":"Allow","Action":"{pattern}","Resource":"*""#
        ));
        assert!(allowed(&p, &c), "{pattern}");
    }
    for pattern in [
        "s3:Get",
        "s3:GetObjectAcl",
        "s3:Put*",
        "iam:GetObject",
        "s3:?tObject",
        "s3:GetObject?",
    ] {
        let p = stmt(&format!(
            r#""Effect":"Allow","Action":"{pattern}","Resource":"*""#
        ));
        assert!(!allowed(&p, &c), "{pattern}");
    }
    let list = stmt(r#""Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":"*""#);
    assert!(allowed(&list, &c));
    // Request actions are matched case-insensitively too.
    assert!(allowed(&list, &ctx("S3:GETOBJECT", GET)));
}

#[test]
fn not_action() {
    let p = stmt(r#""Effect":"Allow","NotAction":["s3:DeleteObject","iam:*"],"Resource":"*""#);
    assert!(allowed(&p, &ctx("s3:GetObject", GET)));
    assert!(!allowed(&p, &ctx("s3:DeleteObject", GET)));
    assert!(!allowed(&p, &ctx("iam:CreateUser", "*")));
    let deny = stmt(r#""Effect":"Deny","NotAction":"s3:GetObject","Resource":"*""#);
    assert_eq!(
        decide(&deny, &ctx("s3:PutObject", GET)),
        Decision::ExplicitDeny
    );
    assert_eq!(
        decide(&deny, &ctx("s3:GetObject", GET)),
        Decision::ImplicitDeny
    );
    assert!(deny.statements()[0].is_not_action());
}

#[test]
fn resources_segment_wise_case_sensitive() {
    let p = stmt(
        r#""Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::bucket/photos/*","arn:aws:s3:::other/?.txt"]"#,
    );
    assert!(allowed(
        &p,
        &ctx("s3:GetObject", "arn:aws:s3:::bucket/photos/a/b.jpg")
    ));
    assert!(allowed(
        &p,
        &ctx("s3:GetObject", "arn:aws:s3:::bucket/photos/us-east-1:abc/x")
    ));
    assert!(!allowed(
        &p,
        &ctx("s3:GetObject", "arn:aws:s3:::bucket/Photos/a.jpg")
    ));
    assert!(!allowed(
        &p,
        &ctx("s3:GetObject", "arn:aws:s3:::bucket/photos")
    ));
    assert!(allowed(
        &p,
        &ctx("s3:GetObject", "arn:aws:s3:::other/a.txt")
    ));
    assert!(!allowed(
        &p,
        &ctx("s3:GetObject", "arn:aws:s3:::other/ab.txt")
    ));
    assert!(!allowed(
        &p,
        &ctx("s3:GetObject", "arn:aws:s3:::BUCKET/photos/a")
    ));
    // Wildcards in other segments.
    let q =
        stmt(r#""Effect":"Allow","Action":"iam:GetRole","Resource":"arn:aws:iam::*:role/app-*""#);
    assert!(allowed(
        &q,
        &ctx("iam:GetRole", "arn:aws:iam::123456789012:role/app-web")
    ));
    assert!(!allowed(
        &q,
        &ctx("iam:GetRole", "arn:aws:iam::123456789012:role/admin")
    ));
    assert!(!allowed(
        &q,
        &ctx("iam:GetRole", "arn:aws:iam::123456789012:user/app-x")
    ));
    // "*" matches everything, even non-ARN resources.
    let all = stmt(r#""Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*""#);
    assert!(allowed(&all, &ctx("s3:ListAllMyBuckets", "*")));
    let s3all =
        stmt(r#""Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"arn:aws:s3:::*""#);
    assert!(allowed(
        &s3all,
        &ctx("s3:ListAllMyBuckets", "arn:aws:s3:::*")
    ));
    assert!(!allowed(&s3all, &ctx("s3:ListAllMyBuckets", "*")));
}

#[test]
fn not_resource() {
    let p = stmt(r#""Effect":"Deny","Action":"s3:*","NotResource":["arn:aws:s3:::public/*"]"#);
    assert_eq!(
        decide(&p, &ctx("s3:GetObject", "arn:aws:s3:::secret/x")),
        Decision::ExplicitDeny
    );
    assert_eq!(
        decide(&p, &ctx("s3:GetObject", "arn:aws:s3:::public/x")),
        Decision::ImplicitDeny
    );
    let a = stmt(r#""Effect":"Allow","Action":"s3:*","NotResource":"arn:aws:s3:::secret/*""#);
    assert!(allowed(&a, &ctx("s3:GetObject", "arn:aws:s3:::public/x")));
    assert!(!allowed(&a, &ctx("s3:GetObject", "arn:aws:s3:::secret/x")));
    assert!(a.statements()[0].is_not_resource());
}

fn rp(principal: &str) -> Policy {
    parse_resource(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/*"}}]}}"#
    ))
}

fn rctx(p: Principal) -> RequestContext {
    RequestContext::new("s3:GetObject", GET, p)
}

fn one(p: &Policy, who: Principal) -> bool {
    evaluate_one(p, &rctx(who)).decision == Decision::Allowed
}

#[test]
fn principal_forms() {
    let star = rp(r#""*""#);
    assert!(one(&star, Principal::Anonymous));
    assert!(one(&star, user("alice")));
    assert!(one(&rp(r#"{"AWS":"*"}"#), Principal::Anonymous));
    assert!(one(&rp(r#"{"AWS":"*"}"#), role("s")));

    let acct = rp(&format!(r#"{{"AWS":"{ACCT}"}}"#));
    assert!(one(&acct, user("alice")));
    assert!(one(&acct, role("s")));
    assert!(one(
        &acct,
        Principal::Root {
            account: ACCT.into()
        }
    ));
    assert!(!one(&acct, Principal::Anonymous));
    assert!(!one(
        &acct,
        Principal::Root {
            account: "999999999999".into()
        }
    ));
    let root = rp(&format!(r#"{{"AWS":"arn:aws:iam::{ACCT}:root"}}"#));
    assert!(one(&root, user("bob")));
    assert!(!one(&root, Principal::Anonymous));

    let alice = rp(&format!(r#"{{"AWS":["arn:aws:iam::{ACCT}:user/alice"]}}"#));
    assert!(one(&alice, user("alice")));
    assert!(!one(&alice, user("bob")));
    assert!(!one(&alice, role("alice")));

    let r = rp(&format!(r#"{{"AWS":"arn:aws:iam::{ACCT}:role/Auth"}}"#));
    assert!(one(&r, role("any-session")));
    assert!(!one(&r, user("Auth")));
    let s = rp(&format!(
        r#"{{"AWS":"arn:aws:sts::{ACCT}:assumed-role/Auth/s1"}}"#
    ));
    assert!(one(&s, role("s1")));
    assert!(!one(&s, role("s2")));

    let fed = rp(r#"{"Federated":"cognito-identity.amazonaws.com"}"#);
    let web = Principal::WebIdentity {
        provider: "cognito-identity.amazonaws.com".into(),
    };
    assert!(one(&fed, web.clone()));
    assert!(!one(
        &fed,
        Principal::WebIdentity {
            provider: "accounts.google.com".into()
        }
    ));
    assert!(!one(&fed, user("alice")));
    assert!(!one(&rp(r#"{"AWS":"*"}"#), web));

    // Service and canonical-user principals never match a cubby caller.
    assert!(!one(
        &rp(r#"{"Service":"s3.amazonaws.com"}"#),
        user("alice")
    ));
    assert!(!one(
        &rp(
            r#"{"CanonicalUser":"79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"}"#
        ),
        user("alice")
    ));
    // Several types: any matches.
    let mixed = rp(&format!(
        r#"{{"Service":"s3.amazonaws.com","AWS":["arn:aws:iam::{ACCT}:user/alice","arn:aws:iam::{ACCT}:user/bob"]}}"#
    ));
    assert!(one(&mixed, user("bob")));
}

#[test]
fn not_principal_with_deny() {
    let p = parse_resource(&format!(
        r#"{{"Version":"2012-10-17","Statement":[
        {{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}},
        {{"Effect":"Deny","NotPrincipal":{{"AWS":"arn:aws:iam::{ACCT}:user/alice"}},"Action":"s3:GetObject","Resource":"*"}}]}}"#
    ));
    assert_eq!(
        evaluate_one(&p, &rctx(user("alice"))).decision,
        Decision::Allowed
    );
    assert_eq!(
        evaluate_one(&p, &rctx(user("bob"))).decision,
        Decision::ExplicitDeny
    );
    assert_eq!(
        evaluate_one(&p, &rctx(Principal::Anonymous)).decision,
        Decision::ExplicitDeny
    );
    assert!(p.statements()[1].is_not_principal());
}

#[test]
fn kinds_enforce_required_and_forbidden_elements() {
    let with_principal = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}}"#;
    let without_principal = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#;
    let trust = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"sts:AssumeRoleWithWebIdentity"}}"#;
    assert!(Policy::parse(with_principal).is_err());
    assert!(Policy::parse(without_principal).is_ok());
    assert!(Policy::parse_resource_policy(without_principal).is_err());
    assert!(Policy::parse_resource_policy(with_principal).is_ok());
    assert!(Policy::parse_resource_policy(trust).is_ok());
    assert!(Policy::parse(trust).is_err());
    assert!(Policy::parse_as(trust, PolicyKind::Trust).is_ok());
    assert!(Policy::parse_as(trust, PolicyKind::Bucket).is_err());
    assert!(Policy::parse_as(with_principal, PolicyKind::Bucket).is_ok());
    assert!(Policy::parse_as(with_principal, PolicyKind::Trust).is_err());
    let allow_not_principal = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"123456789012"},"Action":"s3:GetObject","Resource":"*"}}"#;
    assert!(Policy::parse_resource_policy(allow_not_principal).is_err());
    let deny_not_principal = allow_not_principal.replace("Allow", "Deny");
    assert!(Policy::parse_resource_policy(&deny_not_principal).is_ok());
    assert!(Policy::parse_as(&deny_not_principal, PolicyKind::Trust).is_err());
    assert_eq!(
        Policy::parse_resource_policy(trust).map(|p| p.kind()),
        Ok(PolicyKind::Resource)
    );
}

#[test]
fn canonical_json() {
    let p = parse_resource(
        r#"{ "Id": "x", "Version": "2012-10-17",
        "Statement": { "Condition": {"StringEquals": {"aws:UserAgent": ["a", "b"], "s3:max-keys": 10}, "Bool": {"aws:SecureTransport": true}},
          "Resource": ["arn:aws:s3:::b/*"], "Action": ["s3:GetObject"], "Principal": {"AWS": ["123456789012"]},
          "Effect": "Allow", "Sid": "S\"1" } }"#,
    );
    assert_eq!(
        p.to_json(),
        r#"{"Version":"2012-10-17","Id":"x","Statement":[{"Sid":"S\"1","Effect":"Allow","Principal":{"AWS":"123456789012"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"aws:UserAgent":["a","b"],"s3:max-keys":"10"},"Bool":{"aws:SecureTransport":"true"}}}]}"#
    );
    let again = parse_resource(&p.to_json());
    assert_eq!(again.to_json(), p.to_json());
    // No Version stays absent (variables stay literal).
    let nv = parse(r#"{"Statement":{"Effect":"Deny","NotAction":"s3:*","NotResource":["a:b:c:d:e:f","arn:aws:s3:::x"]}}"#.replace("a:b:c:d:e:f", "arn:aws:s3:::y").as_str());
    assert_eq!(
        nv.to_json(),
        r#"{"Statement":[{"Effect":"Deny","NotAction":"s3:*","NotResource":["arn:aws:s3:::y","arn:aws:s3:::x"]}]}"#
    );
}

#[test]
fn statement_accessors() {
    let p = stmt(
        r#""Sid":"Own","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":"true"}}"#,
    );
    let s = &p.statements()[0];
    assert_eq!(
        s.actions().collect::<Vec<_>>(),
        ["s3:GetObject", "s3:PutObject"]
    );
    assert_eq!(s.resources().collect::<Vec<_>>(), ["arn:aws:s3:::b/*"]);
    assert!(s.has_conditions());
    assert!(!s.has_principal());
    assert_eq!(
        s.condition_keys().collect::<Vec<_>>(),
        [("Bool".to_string(), "aws:SecureTransport")]
    );
}

#[test]
fn json_escapes_and_bom() {
    // Escaped text means the same as plain text.
    let p = parse(
        "\u{feff}{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"\\u0073\\u0033:Get\\u004fbject\",\"Resource\":\"arn:aws:s3:::b\\/*\"}}",
    );
    assert!(allowed(&p, &ctx("s3:GetObject", "arn:aws:s3:::b/k")));
    assert_eq!(
        p.statements()[0].actions().collect::<Vec<_>>(),
        ["s3:GetObject"]
    );
}

#[test]
fn principal_derived_keys_work_in_conditions() {
    let p = cond(
        r#"{"StringEquals":{"aws:PrincipalType":"AssumedRole","aws:PrincipalArn":"arn:aws:iam::123456789012:role/Auth","aws:PrincipalAccount":"123456789012"}}"#,
    );
    assert!(allowed(
        &p,
        &RequestContext::new("s3:GetObject", GET, role("s"))
    ));
    assert!(!allowed(
        &p,
        &RequestContext::new("s3:GetObject", GET, user("alice"))
    ));
}

#[test]
fn compiled_policies_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Policy>();
    assert_send_sync::<RequestContext>();
    assert_send_sync::<cubby_policy::Evaluation>();
    assert_send_sync::<cubby_policy::PolicyError>();
}
