//! Behavioural tests of the public API, one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod aws_examples;
mod conditions;
mod decision;
mod elements;
mod errors;
mod lint;
mod variables;

use cubby_policy::{Decision, Policy, PolicySet, Principal, RequestContext, evaluate};

pub const ACCT: &str = "123456789012";
pub const SUB: &str = "us-east-1:0f6d1a7e-0000-4000-8000-000000000001";

pub fn role(session: &str) -> Principal {
    Principal::AssumedRole {
        role_arn: format!("arn:aws:iam::{ACCT}:role/Auth"),
        session_arn: format!("arn:aws:sts::{ACCT}:assumed-role/Auth/{session}"),
        account: ACCT.into(),
        role_id: "AROAEXAMPLEROLEID".into(),
        session_name: session.into(),
    }
}

pub fn user(name: &str) -> Principal {
    Principal::User {
        arn: format!("arn:aws:iam::{ACCT}:user/{name}"),
        account: ACCT.into(),
        user_id: format!("AIDA{}", name.to_ascii_uppercase()),
        name: name.into(),
    }
}

pub fn parse(json: &str) -> Policy {
    match Policy::parse(json) {
        Ok(p) => p,
        Err(e) => panic!("policy should parse: {e}\n{json}"),
    }
}

pub fn parse_resource(json: &str) -> Policy {
    match Policy::parse_resource_policy(json) {
        Ok(p) => p,
        Err(e) => panic!("resource policy should parse: {e}\n{json}"),
    }
}

/// A context for a role session with the Cognito sub set.
pub fn ctx(action: &str, resource: &str) -> RequestContext {
    let mut c = RequestContext::new(action, resource, role("sess"));
    c.set("cognito-identity.amazonaws.com:sub", SUB);
    c
}

/// Decision of one identity policy alone.
pub fn decide(policy: &Policy, ctx: &RequestContext) -> Decision {
    let ids = [policy];
    evaluate(
        &PolicySet {
            identity: &ids,
            ..PolicySet::default()
        },
        ctx,
    )
    .decision
}

/// Wraps one statement body (without braces) into a 2012-10-17 identity policy.
pub fn stmt(body: &str) -> Policy {
    parse(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{{{body}}}]}}"#
    ))
}

/// An Allow of s3:GetObject on everything with the given Condition JSON.
pub fn cond(condition: &str) -> Policy {
    stmt(&format!(
        r#""Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{condition}"#
    ))
}

pub fn allowed(policy: &Policy, ctx: &RequestContext) -> bool {
    decide(policy, ctx) == Decision::Allowed
}
