//! Property tests: deny monotonicity, literal variables, print/parse stability, robustness.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use cubby_policy::{
    Decision, Policy, PolicyKind, PolicySet, Principal, RequestContext, evaluate, evaluate_one,
};
use proptest::prelude::*;

const ACCT: &str = "123456789012";

fn principals() -> Vec<Principal> {
    vec![
        Principal::Anonymous,
        Principal::Root {
            account: ACCT.into(),
        },
        Principal::User {
            arn: format!("arn:aws:iam::{ACCT}:user/alice"),
            account: ACCT.into(),
            user_id: "AIDAALICE".into(),
            name: "alice".into(),
        },
        Principal::AssumedRole {
            role_arn: format!("arn:aws:iam::{ACCT}:role/Auth"),
            session_arn: format!("arn:aws:sts::{ACCT}:assumed-role/Auth/s1"),
            account: ACCT.into(),
            role_id: "AROAAUTH".into(),
            session_name: "s1".into(),
        },
        Principal::WebIdentity {
            provider: "cognito-identity.amazonaws.com".into(),
        },
    ]
}

const ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "s3:*",
    "s3:Get*",
    "*",
    "iam:PassRole",
];
const REQ_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    "iam:PassRole",
];
const RESOURCES: &[&str] = &[
    "*",
    "arn:aws:s3:::b/*",
    "arn:aws:s3:::b",
    "arn:aws:s3:::b/private/${cognito-identity.amazonaws.com:sub}/*",
    "arn:aws:s3:::b/home/${aws:username}/*",
    "arn:aws:s3:::c/?",
];
const REQ_RESOURCES: &[&str] = &[
    "arn:aws:s3:::b/k",
    "arn:aws:s3:::b",
    "arn:aws:s3:::b/private/us-east-1:abc/x",
    "arn:aws:s3:::b/home/alice/x",
    "arn:aws:s3:::c/1",
    "*",
];
const CONDITIONS: &[&str] = &[
    r#"{"Bool":{"aws:SecureTransport":"true"}}"#,
    r#"{"StringLike":{"s3:prefix":"private/${cognito-identity.amazonaws.com:sub}/*"}}"#,
    r#"{"StringNotEquals":{"aws:username":"bob"}}"#,
    r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
    r#"{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","::1"]}}"#,
    r#"{"NumericLessThanEquals":{"s3:max-keys":"100"}}"#,
    r#"{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}"#,
    r#"{"ForAnyValue:StringLike":{"cognito-identity.amazonaws.com:amr":"auth*"}}"#,
    r#"{"ForAllValues:StringEquals":{"cognito-identity.amazonaws.com:amr":["authenticated"]}}"#,
    r#"{"Null":{"aws:TokenIssueTime":"true"}}"#,
    r#"{"StringEqualsIfExists":{"s3:x-amz-acl":"private"}}"#,
    r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/*"}}"#,
];
const PRINCIPAL_JSON: &[&str] = &[
    r#""*""#,
    r#"{"AWS":"*"}"#,
    r#"{"AWS":"123456789012"}"#,
    r#"{"AWS":"arn:aws:iam::123456789012:root"}"#,
    r#"{"AWS":"arn:aws:iam::123456789012:role/Auth"}"#,
    r#"{"AWS":"arn:aws:sts::123456789012:assumed-role/Auth/s1"}"#,
    r#"{"AWS":["arn:aws:iam::123456789012:user/alice","999999999999"]}"#,
    r#"{"Federated":"cognito-identity.amazonaws.com"}"#,
];

fn list(items: &[usize], table: &[&str]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|&i| format!("\"{}\"", table[i % table.len()]))
        .collect();
    if quoted.len() == 1 {
        quoted[0].clone()
    } else {
        format!("[{}]", quoted.join(","))
    }
}

/// A random statement (JSON text). `principal`: Some(index) for resource policies.
#[derive(Debug, Clone)]
struct Stmt {
    deny: bool,
    not_action: bool,
    actions: Vec<usize>,
    not_resource: bool,
    resources: Vec<usize>,
    conditions: Vec<usize>,
    principal: usize,
    not_principal: bool,
}

impl Stmt {
    fn json(&self, resource_policy: bool) -> String {
        let mut s = format!(
            r#"{{"Effect":"{}","#,
            if self.deny { "Deny" } else { "Allow" }
        );
        if resource_policy {
            // NotPrincipal is only valid with Deny.
            let key = if self.not_principal && self.deny {
                "NotPrincipal"
            } else {
                "Principal"
            };
            s.push_str(&format!(
                r#""{key}":{},"#,
                PRINCIPAL_JSON[self.principal % PRINCIPAL_JSON.len()]
            ));
        }
        s.push_str(&format!(
            r#""{}":{},"{}":{}"#,
            if self.not_action {
                "NotAction"
            } else {
                "Action"
            },
            list(&self.actions, ACTIONS),
            if self.not_resource {
                "NotResource"
            } else {
                "Resource"
            },
            list(&self.resources, RESOURCES),
        ));
        if !self.conditions.is_empty() {
            let mut seen = std::collections::BTreeMap::new();
            for &c in &self.conditions {
                let text = CONDITIONS[c % CONDITIONS.len()];
                let inner = &text[1..text.len() - 1];
                let idx = inner.find("\":").unwrap();
                let (op, rest) = (&inner[..=idx], &inner[idx + 2..]);
                // Merge by operator name to avoid duplicate JSON keys.
                seen.entry(op.to_string())
                    .or_insert_with(|| rest.to_string());
            }
            let body: Vec<String> = seen.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            s.push_str(&format!(r#","Condition":{{{}}}"#, body.join(",")));
        }
        s.push('}');
        s
    }
}

fn stmt_strategy() -> impl Strategy<Value = Stmt> {
    (
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.15),
        prop::collection::vec(0..ACTIONS.len(), 1..3),
        prop::bool::weighted(0.15),
        prop::collection::vec(0..RESOURCES.len(), 1..3),
        prop::collection::vec(0..CONDITIONS.len(), 0..3),
        0..PRINCIPAL_JSON.len(),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(
                deny,
                not_action,
                actions,
                not_resource,
                resources,
                conditions,
                principal,
                not_principal,
            )| Stmt {
                deny,
                not_action,
                actions,
                not_resource,
                resources,
                conditions,
                principal,
                not_principal,
            },
        )
}

fn policy_json(stmts: &[Stmt], resource_policy: bool) -> String {
    let body: Vec<String> = stmts.iter().map(|s| s.json(resource_policy)).collect();
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        body.join(",")
    )
}

fn identity(stmts: &[Stmt]) -> Policy {
    Policy::parse(&policy_json(stmts, false)).unwrap()
}

fn resource(stmts: &[Stmt]) -> Policy {
    Policy::parse_resource_policy(&policy_json(stmts, true)).unwrap()
}

#[derive(Debug, Clone)]
struct Ctx {
    principal: usize,
    action: usize,
    resource: usize,
    keys: Vec<(usize, usize)>,
}

const KEYS: &[(&str, &[&str])] = &[
    ("aws:SecureTransport", &["true", "false"]),
    ("s3:prefix", &["private/us-east-1:abc/", "private/", "*"]),
    (
        "cognito-identity.amazonaws.com:sub",
        &["us-east-1:abc", "*", "us-east-1:*"],
    ),
    ("aws:SourceIp", &["10.1.2.3", "192.0.2.1", "::1"]),
    ("s3:max-keys", &["10", "1000", "x"]),
    (
        "aws:CurrentTime",
        &["2024-01-01T00:00:00Z", "2031-01-01T00:00:00Z"],
    ),
    ("s3:x-amz-acl", &["private", "public-read"]),
    ("aws:TokenIssueTime", &["2024-01-01T00:00:00Z"]),
];

fn ctx_strategy() -> impl Strategy<Value = Ctx> {
    (
        0..5usize,
        0..REQ_ACTIONS.len(),
        0..REQ_RESOURCES.len(),
        prop::collection::vec((0..KEYS.len(), 0..3usize), 0..6),
    )
        .prop_map(|(principal, action, resource, keys)| Ctx {
            principal,
            action,
            resource,
            keys,
        })
}

fn build_ctx(c: &Ctx, amr: bool) -> RequestContext {
    let mut ctx = RequestContext::new(
        REQ_ACTIONS[c.action],
        REQ_RESOURCES[c.resource],
        principals()[c.principal].clone(),
    );
    for &(k, v) in &c.keys {
        let (name, values) = KEYS[k];
        ctx.set(name, values[v % values.len()]);
    }
    if amr {
        ctx.add("cognito-identity.amazonaws.com:amr", "authenticated");
        ctx.add("cognito-identity.amazonaws.com:amr", "cognito-idp");
    }
    ctx
}

#[derive(Debug, Clone)]
struct Set {
    identity: Vec<Vec<Stmt>>,
    session: Option<Vec<Stmt>>,
    resource: Option<Vec<Stmt>>,
    boundary: Option<Vec<Stmt>>,
}

fn set_strategy() -> impl Strategy<Value = Set> {
    let stmts = || prop::collection::vec(stmt_strategy(), 1..4);
    (
        prop::collection::vec(stmts(), 0..3),
        prop::option::weighted(0.3, stmts()),
        prop::option::weighted(0.5, stmts()),
        prop::option::weighted(0.2, stmts()),
    )
        .prop_map(|(identity, session, resource, boundary)| Set {
            identity,
            session,
            resource,
            boundary,
        })
}

fn decide(s: &Set, ctx: &RequestContext) -> Decision {
    let ids: Vec<Policy> = s.identity.iter().map(|p| identity(p)).collect();
    let id_refs: Vec<&Policy> = ids.iter().collect();
    let sess: Option<Policy> = s.session.as_ref().map(|p| identity(p));
    let sess_refs: Vec<&Policy> = sess.iter().collect();
    let res = s.resource.as_ref().map(|p| resource(p));
    let bound = s.boundary.as_ref().map(|p| identity(p));
    let set = PolicySet {
        identity: &id_refs,
        session: sess.as_ref().map(|_| sess_refs.as_slice()),
        resource: res.as_ref(),
        boundary: bound.as_ref(),
    };
    evaluate(&set, ctx).decision
}

proptest! {
    // 512 cases by default; PROPTEST_CASES=<n> runs more.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512),
        .. ProptestConfig::default()
    })]

    /// Adding a Deny statement anywhere never turns a deny into an allow.
    #[test]
    fn adding_a_deny_never_allows_more(
        set in set_strategy(),
        c in ctx_strategy(),
        amr in any::<bool>(),
        mut extra in stmt_strategy(),
        slot in 0..5usize,
    ) {
        extra.deny = true;
        let ctx = build_ctx(&c, amr);
        let before = decide(&set, &ctx);
        let mut after_set = set.clone();
        match slot {
            0 => after_set.identity.push(vec![extra]),
            1 => match after_set.identity.first_mut() {
                Some(p) => p.push(extra),
                None => after_set.identity.push(vec![extra]),
            },
            2 => after_set.session.get_or_insert_with(Vec::new).push(extra),
            3 => after_set.resource.get_or_insert_with(Vec::new).push(extra),
            _ => after_set.boundary.get_or_insert_with(Vec::new).push(extra),
        }
        let after = decide(&after_set, &ctx);
        prop_assert!(
            !(before != Decision::Allowed && after == Decision::Allowed),
            "deny added turned {before:?} into {after:?}"
        );
        if before == Decision::ExplicitDeny {
            prop_assert_eq!(after, Decision::ExplicitDeny);
        }
    }

    /// A substituted value never matches more than the same value written literally.
    #[test]
    fn variable_values_are_literal(
        value in "[a-c*?/:$]{0,6}",
        other in "[a-c*?/:$]{0,6}",
        use_value in any::<bool>(),
        tail in "[a-c/]{0,4}",
    ) {
        let p = Policy::parse(r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/p/${k:v}/*"},
            {"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":{"StringLike":{"s3:prefix":"x${k:v}y*"}}},
            {"Effect":"Allow","Action":"s3:PutObject","Resource":"*","Condition":{"StringEquals":{"s3:prefix":"${k:v}"}}},
            {"Effect":"Allow","Action":"s3:DeleteObject","Resource":"*","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:s3:::b/${k:v}"}}}]}"#).unwrap();
        let ids = [&p];
        let set = PolicySet { identity: &ids, ..PolicySet::default() };
        let seg = if use_value { value.clone() } else { other.clone() };
        let mk = |action: &str, resource: String| {
            let mut c = RequestContext::new(action, resource, principals()[2].clone());
            c.set("k:v", value.clone());
            c
        };
        // Resource.
        let r = format!("arn:aws:s3:::b/p/{seg}/{tail}");
        let got = evaluate(&set, &mk("s3:GetObject", r.clone())).decision == Decision::Allowed;
        let want = r.starts_with(&format!("arn:aws:s3:::b/p/{value}/"));
        prop_assert_eq!(got, want, "resource {}", r);
        // StringLike.
        let mut c = mk("s3:ListBucket", "arn:aws:s3:::b".into());
        let prefix = format!("x{seg}y{tail}");
        c.set("s3:prefix", prefix.clone());
        let got = evaluate(&set, &c).decision == Decision::Allowed;
        prop_assert_eq!(got, prefix.starts_with(&format!("x{value}y")), "prefix {}", prefix);
        // StringEquals.
        let mut c = mk("s3:PutObject", "arn:aws:s3:::b".into());
        c.set("s3:prefix", seg.clone());
        let got = evaluate(&set, &c).decision == Decision::Allowed;
        prop_assert_eq!(got, seg == value);
        // ArnLike.
        let mut c = mk("s3:DeleteObject", "arn:aws:s3:::b".into());
        c.set("aws:SourceArn", format!("arn:aws:s3:::b/{seg}"));
        let got = evaluate(&set, &c).decision == Decision::Allowed;
        prop_assert_eq!(got, seg == value);
    }

    /// parse → print → parse is stable and keeps the meaning.
    #[test]
    fn print_parse_is_stable(
        stmts in prop::collection::vec(stmt_strategy(), 1..5),
        sid in "[ -~\u{e9}\u{1F600}]{0,8}",
        id in prop::option::of("[a-z\"\\\\]{0,5}"),
        version in 0..3usize,
        ctxs in prop::collection::vec(ctx_strategy(), 1..4),
    ) {
        let mut json = policy_json(&stmts, true);
        let mut head = String::from("{");
        match version {
            0 => head.push_str(r#""Version":"2012-10-17","#),
            1 => head.push_str(r#""Version":"2008-10-17","#),
            _ => {}
        }
        if let Some(id) = &id {
            head.push_str(&format!("\"Id\":{},", serde_json::to_string(id).unwrap()));
        }
        json = json.replacen(r#"{"Version":"2012-10-17","#, &head, 1);
        json = json.replacen(r#"{"Effect""#, &format!(r#"{{"Sid":{},"Effect""#, serde_json::to_string(&sid).unwrap()), 1);
        let p1 = Policy::parse_resource_policy(&json).unwrap();
        let printed = p1.to_json();
        prop_assert!(serde_json::from_str::<serde_json::Value>(&printed).is_ok());
        let p2 = Policy::parse_resource_policy(&printed).unwrap();
        prop_assert_eq!(&p2.to_json(), &printed);
        prop_assert_eq!(p1.version(), p2.version());
        prop_assert_eq!(p1.is_public(), p2.is_public());
        prop_assert_eq!(p1.statements().len(), p2.statements().len());
        for c in &ctxs {
            let ctx = build_ctx(c, true);
            prop_assert_eq!(evaluate_one(&p1, &ctx), evaluate_one(&p2, &ctx).clone_with_lines(&evaluate_one(&p1, &ctx)));
        }
    }

    /// The parser never panics, and accepts only what a standard JSON reader accepts.
    #[test]
    fn parser_is_total_and_strict(input in r#"[{}\[\]",:0-9a-zA-Z*?$ \n\\-]{0,80}"#) {
        for kind in [PolicyKind::Identity, PolicyKind::Resource, PolicyKind::Bucket, PolicyKind::Trust] {
            if Policy::parse_as(&input, kind).is_ok() {
                prop_assert!(serde_json::from_str::<serde_json::Value>(&input).is_ok());
            }
        }
    }

    /// Mutated valid policies never panic the parser, the printer, the linter or the evaluator.
    #[test]
    fn mutations_never_panic(
        stmts in prop::collection::vec(stmt_strategy(), 1..3),
        cut in 0..400usize,
        insert in r#"[{}\[\]",:*?$\\]{0,3}"#,
        c in ctx_strategy(),
    ) {
        let json = policy_json(&stmts, true);
        let cut = cut.min(json.len());
        let mutated = format!("{}{}{}", &json[..cut], insert, &json[cut..]);
        if let Ok(p) = Policy::parse_resource_policy(&mutated) {
            let _ = cubby_policy::lint(&p);
            let _ = p.to_json();
            let _ = evaluate_one(&p, &build_ctx(&c, false));
        }
    }
}

/// Helper so evaluations of equivalent policies from different text compare equal: lines and
/// columns of statements legitimately differ between the pretty input and the compact output.
trait CloneWithLines {
    fn clone_with_lines(self, like: &cubby_policy::Evaluation) -> cubby_policy::Evaluation;
}

impl CloneWithLines for cubby_policy::Evaluation {
    fn clone_with_lines(mut self, like: &cubby_policy::Evaluation) -> cubby_policy::Evaluation {
        for (r, l) in self.deciding.iter_mut().zip(like.deciding.iter()) {
            r.line = l.line;
            r.column = l.column;
        }
        self
    }
}

#[test]
fn policy_kinds_of_generated_policies_parse() {
    // Sanity check of the generators themselves.
    let s = Stmt {
        deny: false,
        not_action: false,
        actions: vec![0, 1],
        not_resource: false,
        resources: vec![3],
        conditions: vec![0, 1, 7],
        principal: 0,
        not_principal: false,
    };
    assert!(Policy::parse(&policy_json(std::slice::from_ref(&s), false)).is_ok());
    assert!(Policy::parse_resource_policy(&policy_json(&[s], true)).is_ok());
}
