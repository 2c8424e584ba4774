//! Fuzz evaluation: a policy plus a request built from NUL-separated fields.
#![no_main]

use cubby_policy::{
    Decision, Policy, PolicySet, Principal, RequestContext, decide, evaluate, evaluate_one,
};
use libfuzzer_sys::fuzz_target;

fn principal(selector: &str) -> Principal {
    let acct = "123456789012".to_string();
    match selector.bytes().next().unwrap_or(0) % 5 {
        0 => Principal::Anonymous,
        1 => Principal::Root { account: acct },
        2 => Principal::User {
            arn: format!("arn:aws:iam::{acct}:user/alice"),
            account: acct,
            user_id: "AIDAALICE".into(),
            name: "alice".into(),
        },
        3 => Principal::AssumedRole {
            role_arn: format!("arn:aws:iam::{acct}:role/Auth"),
            session_arn: format!("arn:aws:sts::{acct}:assumed-role/Auth/s"),
            account: acct,
            role_id: "AROAAUTH".into(),
            session_name: "s".into(),
        },
        _ => Principal::WebIdentity {
            provider: "cognito-identity.amazonaws.com".into(),
        },
    }
}

const DENY_ALL: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":"*","Action":"*","Resource":"*"}}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut fields = text.split('\0');
    let (Some(doc), Some(action), Some(resource), Some(who)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return;
    };
    let Ok(policy) =
        Policy::parse_as(doc, cubby_policy::PolicyKind::Resource).or_else(|_| Policy::parse(doc))
    else {
        return;
    };
    let mut ctx = RequestContext::new(action, resource, principal(who));
    let mut seen: Vec<String> = Vec::new();
    for pair in fields {
        if let Some((k, v)) = pair.split_once('=') {
            if seen.iter().any(|s| s.eq_ignore_ascii_case(k)) {
                ctx.add(k, v);
            } else {
                ctx.set(k, v);
                seen.push(k.to_string());
            }
        }
    }
    let one = [&policy];
    let sets = [
        PolicySet {
            identity: &one,
            ..PolicySet::default()
        },
        PolicySet {
            identity: &one,
            session: Some(&one),
            ..PolicySet::default()
        },
        PolicySet {
            resource: Some(&policy),
            ..PolicySet::default()
        },
        PolicySet {
            identity: &one,
            boundary: Some(&policy),
            resource: Some(&policy),
            ..PolicySet::default()
        },
    ];
    let deny_all = match Policy::parse_resource_policy(DENY_ALL) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    for set in &sets {
        let e = evaluate(set, &ctx);
        assert_eq!(decide(set, &ctx), e.decision);
        if e.decision == Decision::ExplicitDeny {
            assert!(!e.deciding.is_empty());
        }
        // Adding a Deny that matches everything can only deny.
        let mut with_deny = *set;
        let ids: Vec<&Policy> = set.identity.iter().copied().chain([&deny_all]).collect();
        with_deny.identity = &ids;
        assert_eq!(evaluate(&with_deny, &ctx).decision, Decision::ExplicitDeny);
    }
    let _ = evaluate_one(&policy, &ctx);
});
