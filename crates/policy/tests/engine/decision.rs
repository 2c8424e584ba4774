//! Combining identity, session, resource and boundary policies (SPEC §4.2).

use super::*;
use cubby_policy::{Effect, Source, decide as decide_fast, evaluate_one};

const OBJ: &str = "arn:aws:s3:::bucket/key";

fn allow_get() -> Policy {
    stmt(
        r#""Sid":"Get","Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/*""#,
    )
}
fn deny_get() -> Policy {
    stmt(r#""Sid":"NoGet","Effect":"Deny","Action":"s3:GetObject","Resource":"*""#)
}
fn allow_put() -> Policy {
    stmt(r#""Effect":"Allow","Action":"s3:PutObject","Resource":"*""#)
}
fn bucket_policy(principal: &str, effect: &str) -> Policy {
    parse_resource(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"BP","Effect":"{effect}","Principal":{principal},"Action":"s3:GetObject","Resource":"arn:aws:s3:::bucket/*"}}]}}"#
    ))
}

fn run(set: &PolicySet<'_>, ctx: &RequestContext) -> Decision {
    let e = evaluate(set, ctx);
    assert_eq!(
        decide_fast(set, ctx),
        e.decision,
        "decide() agrees with evaluate()"
    );
    e.decision
}

#[test]
fn default_deny_and_explicit_deny_wins() {
    let c = RequestContext::new("s3:GetObject", OBJ, role("s"));
    assert_eq!(run(&PolicySet::default(), &c), Decision::ImplicitDeny);
    let (a, d) = (allow_get(), deny_get());
    let ids = [&a, &d];
    let e = evaluate(
        &PolicySet {
            identity: &ids,
            ..PolicySet::default()
        },
        &c,
    );
    assert_eq!(e.decision, Decision::ExplicitDeny);
    assert_eq!(e.deciding.len(), 1);
    assert_eq!(e.deciding[0].source, Source::Identity);
    assert_eq!(e.deciding[0].policy, 1);
    assert_eq!(e.deciding[0].sid.as_deref(), Some("NoGet"));
    assert_eq!(e.deciding[0].effect, Effect::Deny);
    // A deny in any place wins.
    let only_allow = [&a];
    let deny_sessions = [&d];
    let bp_deny = bucket_policy(r#""*""#, "Deny");
    for set in [
        PolicySet {
            identity: &only_allow,
            session: Some(&deny_sessions),
            ..PolicySet::default()
        },
        PolicySet {
            identity: &only_allow,
            resource: Some(&bp_deny),
            ..PolicySet::default()
        },
        PolicySet {
            identity: &only_allow,
            boundary: Some(&d),
            ..PolicySet::default()
        },
    ] {
        assert_eq!(run(&set, &c), Decision::ExplicitDeny);
    }
}

#[test]
fn identity_intersect_session() {
    let c = RequestContext::new("s3:GetObject", OBJ, role("s"));
    let (get, put) = (allow_get(), allow_put());
    let ids = [&get];
    let sess_put = [&put];
    let sess_get = [&get];
    let none: [&Policy; 0] = [];
    assert_eq!(
        run(
            &PolicySet {
                identity: &ids,
                ..PolicySet::default()
            },
            &c
        ),
        Decision::Allowed
    );
    assert_eq!(
        run(
            &PolicySet {
                identity: &ids,
                session: Some(&sess_put),
                ..PolicySet::default()
            },
            &c
        ),
        Decision::ImplicitDeny
    );
    assert_eq!(
        run(
            &PolicySet {
                identity: &ids,
                session: Some(&sess_get),
                ..PolicySet::default()
            },
            &c
        ),
        Decision::Allowed
    );
    assert_eq!(
        run(
            &PolicySet {
                identity: &ids,
                session: Some(&none),
                ..PolicySet::default()
            },
            &c
        ),
        Decision::Allowed,
        "Some(&[]) = no session policy"
    );
    // A session policy alone never grants.
    let no_ids: [&Policy; 0] = [];
    assert_eq!(
        run(
            &PolicySet {
                identity: &no_ids,
                session: Some(&sess_get),
                ..PolicySet::default()
            },
            &c
        ),
        Decision::ImplicitDeny
    );
    // Deciding statements of an allow: identity + session.
    let e = evaluate(
        &PolicySet {
            identity: &ids,
            session: Some(&sess_get),
            ..PolicySet::default()
        },
        &c,
    );
    let sources: Vec<Source> = e.deciding.iter().map(|r| r.source).collect();
    assert_eq!(sources, [Source::Identity, Source::Session]);
}

#[test]
fn permissions_boundary() {
    let c = RequestContext::new("s3:GetObject", OBJ, role("s"));
    let (get, put) = (allow_get(), allow_put());
    let ids = [&get];
    assert_eq!(
        run(
            &PolicySet {
                identity: &ids,
                boundary: Some(&put),
                ..PolicySet::default()
            },
            &c
        ),
        Decision::ImplicitDeny
    );
    assert_eq!(
        run(
            &PolicySet {
                identity: &ids,
                boundary: Some(&get),
                ..PolicySet::default()
            },
            &c
        ),
        Decision::Allowed
    );
    // A boundary alone never grants.
    assert_eq!(
        run(
            &PolicySet {
                boundary: Some(&get),
                ..PolicySet::default()
            },
            &c
        ),
        Decision::ImplicitDeny
    );
}

#[test]
fn resource_policy_principals_and_session_limits() {
    let sess = RequestContext::new("s3:GetObject", OBJ, role("s1"));
    let put = allow_put();
    let sess_put = [&put];
    let no_ids: [&Policy; 0] = [];
    let by_session = bucket_policy(
        &format!(r#"{{"AWS":"arn:aws:sts::{ACCT}:assumed-role/Auth/s1"}}"#),
        "Allow",
    );
    let by_role = bucket_policy(
        &format!(r#"{{"AWS":"arn:aws:iam::{ACCT}:role/Auth"}}"#),
        "Allow",
    );
    let by_account = bucket_policy(&format!(r#"{{"AWS":"{ACCT}"}}"#), "Allow");
    let by_star = bucket_policy(r#""*""#, "Allow");
    // Without session policy, each grants alone.
    for bp in [&by_session, &by_role, &by_account, &by_star] {
        assert_eq!(
            run(
                &PolicySet {
                    identity: &no_ids,
                    resource: Some(bp),
                    ..PolicySet::default()
                },
                &sess
            ),
            Decision::Allowed
        );
    }
    // With a session policy that does not allow the action: only the session ARN grant survives.
    let set = |bp| PolicySet {
        identity: &no_ids,
        session: Some(&sess_put),
        resource: Some(bp),
        boundary: None,
    };
    assert_eq!(run(&set(&by_session), &sess), Decision::Allowed);
    assert_eq!(run(&set(&by_role), &sess), Decision::ImplicitDeny);
    assert_eq!(run(&set(&by_account), &sess), Decision::ImplicitDeny);
    assert_eq!(run(&set(&by_star), &sess), Decision::ImplicitDeny);
    // Same with a boundary that does not allow it.
    let bset = |bp| PolicySet {
        identity: &no_ids,
        session: None,
        resource: Some(bp),
        boundary: Some(&put),
    };
    assert_eq!(run(&bset(&by_session), &sess), Decision::Allowed);
    assert_eq!(run(&bset(&by_role), &sess), Decision::ImplicitDeny);
    // Another session of the same role is not the named session.
    let other = RequestContext::new("s3:GetObject", OBJ, role("s2"));
    assert_eq!(
        run(
            &PolicySet {
                resource: Some(&by_session),
                ..PolicySet::default()
            },
            &other
        ),
        Decision::ImplicitDeny
    );
    // Deciding statements name the bucket policy.
    let e = evaluate(&set(&by_session), &sess);
    assert_eq!(e.deciding.len(), 1);
    assert_eq!(e.deciding[0].source, Source::Resource);
    assert_eq!(e.deciding[0].sid.as_deref(), Some("BP"));
}

#[test]
fn resource_policy_user_grants() {
    let alice = RequestContext::new("s3:GetObject", OBJ, user("alice"));
    let put = allow_put();
    let by_user = bucket_policy(
        &format!(r#"{{"AWS":"arn:aws:iam::{ACCT}:user/alice"}}"#),
        "Allow",
    );
    let by_account = bucket_policy(&format!(r#"{{"AWS":"arn:aws:iam::{ACCT}:root"}}"#), "Allow");
    // A user ARN grant is not limited by the user's boundary; an account grant is.
    assert_eq!(
        run(
            &PolicySet {
                resource: Some(&by_user),
                boundary: Some(&put),
                ..PolicySet::default()
            },
            &alice
        ),
        Decision::Allowed
    );
    assert_eq!(
        run(
            &PolicySet {
                resource: Some(&by_account),
                boundary: Some(&put),
                ..PolicySet::default()
            },
            &alice
        ),
        Decision::ImplicitDeny
    );
    assert_eq!(
        run(
            &PolicySet {
                resource: Some(&by_account),
                ..PolicySet::default()
            },
            &alice
        ),
        Decision::Allowed
    );
    let bob = RequestContext::new("s3:GetObject", OBJ, user("bob"));
    assert_eq!(
        run(
            &PolicySet {
                resource: Some(&by_user),
                ..PolicySet::default()
            },
            &bob
        ),
        Decision::ImplicitDeny
    );
}

#[test]
fn anonymous_only_via_resource_policy() {
    let anon = RequestContext::new("s3:GetObject", OBJ, Principal::Anonymous);
    let get = allow_get();
    let ids = [&get];
    assert_eq!(
        run(
            &PolicySet {
                identity: &ids,
                ..PolicySet::default()
            },
            &anon
        ),
        Decision::ImplicitDeny
    );
    let public = bucket_policy(r#""*""#, "Allow");
    let aws_star = bucket_policy(r#"{"AWS":"*"}"#, "Allow");
    let account = bucket_policy(&format!(r#"{{"AWS":"{ACCT}"}}"#), "Allow");
    assert_eq!(
        run(
            &PolicySet {
                resource: Some(&public),
                ..PolicySet::default()
            },
            &anon
        ),
        Decision::Allowed
    );
    assert_eq!(
        run(
            &PolicySet {
                resource: Some(&aws_star),
                ..PolicySet::default()
            },
            &anon
        ),
        Decision::Allowed
    );
    assert_eq!(
        run(
            &PolicySet {
                resource: Some(&account),
                ..PolicySet::default()
            },
            &anon
        ),
        Decision::ImplicitDeny
    );
}

#[test]
fn resource_slot_statement_without_principal_grants_nobody() {
    // An identity-style policy put in the resource slot (no Principal) must not make a bucket public.
    let get = allow_get();
    let anon = RequestContext::new("s3:GetObject", OBJ, Principal::Anonymous);
    assert_eq!(
        run(
            &PolicySet {
                resource: Some(&get),
                ..PolicySet::default()
            },
            &anon
        ),
        Decision::ImplicitDeny
    );
    // … but its Deny statements still deny.
    let d = deny_get();
    let ids = [&get];
    let c = RequestContext::new("s3:GetObject", OBJ, role("s"));
    assert_eq!(
        run(
            &PolicySet {
                identity: &ids,
                resource: Some(&d),
                ..PolicySet::default()
            },
            &c
        ),
        Decision::ExplicitDeny
    );
}

#[test]
fn root_is_not_special() {
    let root = RequestContext::new(
        "s3:GetObject",
        OBJ,
        Principal::Root {
            account: ACCT.into(),
        },
    );
    assert_eq!(run(&PolicySet::default(), &root), Decision::ImplicitDeny);
}

#[test]
fn trust_policy_evaluation() {
    let pool = "us-east-1:11111111-2222-3333-4444-555555555555";
    let trust = Policy::parse_as(
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow",
            "Principal":{{"Federated":"cognito-identity.amazonaws.com"}},
            "Action":"sts:AssumeRoleWithWebIdentity",
            "Condition":{{"StringEquals":{{"cognito-identity.amazonaws.com:aud":"{pool}"}},
                         "ForAnyValue:StringLike":{{"cognito-identity.amazonaws.com:amr":"authenticated"}}}}}}]}}"#
        ),
        cubby_policy::PolicyKind::Trust,
    )
    .unwrap();
    let web = || Principal::WebIdentity {
        provider: "cognito-identity.amazonaws.com".into(),
    };
    let mk = |aud: &str, amr: &[&str]| {
        let mut c = RequestContext::new(
            "sts:AssumeRoleWithWebIdentity",
            format!("arn:aws:iam::{ACCT}:role/Auth"),
            web(),
        );
        c.set("cognito-identity.amazonaws.com:aud", aud);
        for a in amr {
            c.add("cognito-identity.amazonaws.com:amr", *a);
        }
        c
    };
    assert_eq!(
        evaluate_one(&trust, &mk(pool, &["authenticated", "graph.facebook.com"])).decision,
        Decision::Allowed
    );
    assert_eq!(
        evaluate_one(&trust, &mk(pool, &["unauthenticated"])).decision,
        Decision::ImplicitDeny
    );
    assert_eq!(
        evaluate_one(&trust, &mk("us-east-1:other", &["authenticated"])).decision,
        Decision::ImplicitDeny
    );
    let mut wrong_action = mk(pool, &["authenticated"]);
    wrong_action.action = "sts:AssumeRole".into();
    assert_eq!(
        evaluate_one(&trust, &wrong_action).decision,
        Decision::ImplicitDeny
    );
    let mut google = mk(pool, &["authenticated"]);
    google.principal = Principal::WebIdentity {
        provider: "accounts.google.com".into(),
    };
    assert_eq!(
        evaluate_one(&trust, &google).decision,
        Decision::ImplicitDeny
    );
    let e = evaluate_one(&trust, &mk(pool, &["authenticated"]));
    assert_eq!(e.deciding.len(), 1);
    assert_eq!(e.deciding[0].statement, 0);
    assert_eq!(e.deciding[0].line, 1);
}

#[test]
fn decision_and_ref_display() {
    assert_eq!(Decision::Allowed.to_string(), "allowed");
    assert_eq!(Decision::ExplicitDeny.to_string(), "explicitDeny");
    assert_eq!(Decision::ImplicitDeny.as_str(), "implicitDeny");
    let d = deny_get();
    let ids = [&d];
    let c = RequestContext::new("s3:GetObject", OBJ, role("s"));
    let e = evaluate(
        &PolicySet {
            identity: &ids,
            ..PolicySet::default()
        },
        &c,
    );
    assert_eq!(
        e.deciding[0].to_string(),
        "identity policy 0, statement 0 (Sid \"NoGet\"), Deny, line 1"
    );
}
