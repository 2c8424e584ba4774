//! Policy variables: substitution, escapes, defaults, missing keys, literal matching, versions.

use super::*;

fn own_folder(version: &str) -> Policy {
    parse(&format!(
        r#"{{"Version":"{version}","Statement":[{{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],
        "Resource":"arn:aws:s3:::bucket/private/${{cognito-identity.amazonaws.com:sub}}/*"}}]}}"#
    ))
}

#[test]
fn cognito_sub_scopes_to_own_folder() {
    let p = own_folder("2012-10-17");
    assert!(allowed(
        &p,
        &ctx(
            "s3:GetObject",
            &format!("arn:aws:s3:::bucket/private/{SUB}/photo.jpg")
        )
    ));
    assert!(allowed(
        &p,
        &ctx(
            "s3:PutObject",
            &format!("arn:aws:s3:::bucket/private/{SUB}/a/b/c")
        )
    ));
    assert!(!allowed(
        &p,
        &ctx(
            "s3:GetObject",
            "arn:aws:s3:::bucket/private/us-east-1:other/photo.jpg"
        )
    ));
    assert!(!allowed(
        &p,
        &ctx(
            "s3:GetObject",
            &format!("arn:aws:s3:::bucket/private/{SUB}")
        )
    ));
    // No sub in the context: the entry matches nothing.
    let bare = RequestContext::new(
        "s3:GetObject",
        format!("arn:aws:s3:::bucket/private/{SUB}/x"),
        role("s"),
    );
    assert!(!allowed(&p, &bare));
    let empty_sub =
        RequestContext::new("s3:GetObject", "arn:aws:s3:::bucket/private//x", role("s"));
    assert!(!allowed(&p, &empty_sub));
}

#[test]
fn variables_are_literal_under_2008_and_without_version() {
    for version_field in [r#""Version":"2008-10-17","#, ""] {
        let p = parse(&format!(
            r#"{{{version_field}"Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/${{aws:username}}/*"}}]}}"#
        ));
        let mut c =
            RequestContext::new("s3:GetObject", "arn:aws:s3:::bucket/alice/x", user("alice"));
        assert!(!allowed(&p, &c));
        c.resource = "arn:aws:s3:::bucket/${aws:username}/x".into();
        assert!(allowed(&p, &c), "literal text matches itself");
    }
}

#[test]
fn wildcard_characters_in_values_never_widen() {
    let p = own_folder("2012-10-17");
    for evil in ["*", "?", "us-east-1:*", "*/../*", "a?c"] {
        let mut c = ctx(
            "s3:GetObject",
            "arn:aws:s3:::bucket/private/us-east-1:victim/secret",
        );
        c.set("cognito-identity.amazonaws.com:sub", evil);
        assert!(!allowed(&p, &c), "{evil}");
        c.resource = format!("arn:aws:s3:::bucket/private/{evil}/mine");
        assert!(
            allowed(&p, &c),
            "{evil} still matches its own literal folder"
        );
    }
    // Same in StringLike conditions.
    let list = stmt(
        r#""Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::bucket",
        "Condition":{"StringLike":{"s3:prefix":"private/${cognito-identity.amazonaws.com:sub}/*"}}"#,
    );
    let mut c = ctx("s3:ListBucket", "arn:aws:s3:::bucket");
    c.set("cognito-identity.amazonaws.com:sub", "*");
    c.set("s3:prefix", "private/victim/");
    assert!(!allowed(&list, &c));
    c.set("s3:prefix", "private/*/");
    assert!(allowed(&list, &c));
}

#[test]
fn username_userid_and_tags() {
    let p = stmt(
        r#""Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::home/${aws:username}/*","arn:aws:s3:::ids/${aws:userid}/*","arn:aws:s3:::teams/${aws:PrincipalTag/team}/*"]"#,
    );
    let alice = RequestContext::new("s3:GetObject", "arn:aws:s3:::home/alice/x", user("alice"));
    assert!(allowed(&p, &alice));
    let mut bob = alice.clone();
    bob.resource = "arn:aws:s3:::home/bob/x".into();
    assert!(!allowed(&p, &bob));
    // aws:username is absent for role sessions.
    let sess = RequestContext::new("s3:GetObject", "arn:aws:s3:::home/sess/x", role("sess"));
    assert!(!allowed(&p, &sess));
    // aws:userid is ROLEID:session for sessions.
    let mut ids = RequestContext::new(
        "s3:GetObject",
        "arn:aws:s3:::ids/AROAEXAMPLEROLEID:sess/x",
        role("sess"),
    );
    assert!(allowed(&p, &ids));
    ids.resource = "arn:aws:s3:::ids/AROAEXAMPLEROLEID:other/x".into();
    assert!(!allowed(&p, &ids));
    // Principal tags (key lookup is case-insensitive).
    let mut team = RequestContext::new("s3:GetObject", "arn:aws:s3:::teams/blue/x", role("s"));
    assert!(!allowed(&p, &team));
    team.set("aws:principaltag/TEAM", "blue");
    assert!(allowed(&p, &team));
}

#[test]
fn oidc_provider_sub() {
    let p = stmt(
        r#""Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${accounts.google.com:sub}/*""#,
    );
    let mut c = RequestContext::new(
        "s3:GetObject",
        "arn:aws:s3:::b/10769150350006150715113082367/x",
        role("s"),
    );
    c.set("accounts.google.com:sub", "10769150350006150715113082367");
    assert!(allowed(&p, &c));
}

#[test]
fn escapes() {
    let p = stmt(
        r#""Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${*}${?}${$}/x""#,
    );
    let c =
        |r: &str| RequestContext::new("s3:GetObject", format!("arn:aws:s3:::b/{r}/x"), role("s"));
    assert!(allowed(&p, &c("*?$")));
    assert!(!allowed(&p, &c("ab$")));
    assert!(!allowed(&p, &c("a?$")));
}

#[test]
fn defaults() {
    let p = stmt(
        r#""Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:PrincipalTag/team, 'company-wide'}/*""#,
    );
    let mut c = RequestContext::new("s3:GetObject", "arn:aws:s3:::b/company-wide/x", role("s"));
    assert!(allowed(&p, &c));
    c.set("aws:PrincipalTag/team", "red");
    assert!(!allowed(&p, &c));
    c.resource = "arn:aws:s3:::b/red/x".into();
    assert!(allowed(&p, &c));
}

#[test]
fn multi_valued_keys_are_not_variables() {
    let p = stmt(
        r#""Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${cognito-identity.amazonaws.com:amr}/*""#,
    );
    let mut c = RequestContext::new("s3:GetObject", "arn:aws:s3:::b/authenticated/x", role("s"));
    c.add("cognito-identity.amazonaws.com:amr", "authenticated");
    assert!(!allowed(&p, &c));
}

#[test]
fn variables_in_conditions() {
    // Unresolved variable: positive operators don't match, negated ones do.
    let eq = cond(r#"{"StringEquals":{"s3:prefix":"${aws:username}/"}}"#);
    let ne = cond(r#"{"StringNotEquals":{"s3:prefix":"${aws:username}/"}}"#);
    let mut c = RequestContext::new("s3:GetObject", "arn:aws:s3:::b/k", role("s"));
    c.set("s3:prefix", "alice/");
    assert!(!allowed(&eq, &c));
    assert!(allowed(&ne, &c));
    let mut u = RequestContext::new("s3:GetObject", "arn:aws:s3:::b/k", user("alice"));
    u.set("s3:prefix", "alice/");
    assert!(allowed(&eq, &u));
    assert!(!allowed(&ne, &u));
    // Equals: the substituted value is compared literally.
    let mut star = u.clone();
    star.set("s3:prefix", "*/");
    assert!(!allowed(&eq, &star));
    // IgnoreCase with variables.
    let ic = cond(r#"{"StringEqualsIgnoreCase":{"s3:prefix":"${aws:username}/"}}"#);
    u.set("s3:prefix", "ALICE/");
    assert!(allowed(&ic, &u));
    // ArnLike with a variable.
    let arn = cond(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:iam::*:user/${aws:username}"}}"#);
    let mut a = RequestContext::new("s3:GetObject", "arn:aws:s3:::b/k", user("alice"));
    a.set("aws:SourceArn", "arn:aws:iam::123456789012:user/alice");
    assert!(allowed(&arn, &a));
    a.set("aws:SourceArn", "arn:aws:iam::123456789012:user/bob");
    assert!(!allowed(&arn, &a));
}

#[test]
fn variables_only_where_allowed() {
    // Numeric/Date/Bool/IP values cannot hold variables: `${…}` is not a number.
    assert!(Policy::parse(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"NumericLessThan":{"s3:max-keys":"${aws:username}"}}}}"#).is_err());
    // The action element never substitutes.
    assert!(Policy::parse(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:${x}","Resource":"*"}}"#).is_err());
}

#[test]
fn unresolved_variable_in_not_resource_fails_closed() {
    let allow = stmt(
        r#""Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::b/${aws:username}/*""#,
    );
    let sess = RequestContext::new("s3:GetObject", "arn:aws:s3:::other/x", role("s"));
    assert!(
        !allowed(&allow, &sess),
        "an Allow+NotResource with an unresolved variable must not grant"
    );
    let u = RequestContext::new("s3:GetObject", "arn:aws:s3:::other/x", user("alice"));
    assert!(allowed(&allow, &u));
    let deny = stmt(
        r#""Effect":"Deny","Action":"s3:GetObject","NotResource":"arn:aws:s3:::b/${aws:username}/*""#,
    );
    assert_eq!(
        decide(&deny, &sess),
        Decision::ExplicitDeny,
        "a Deny+NotResource still denies"
    );
}
