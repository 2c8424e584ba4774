//! `cubby-policy`: a pure AWS IAM policy engine.
//!
//! Parse, validate and compile IAM policy documents ([`Policy::parse`]), then decide requests
//! ([`evaluate`]) exactly as AWS documents it for a single account: default deny, explicit deny
//! wins, identity policies ∩ session policies ∩ permissions boundary, plus the resource-based
//! policy with `Principal` matching. No I/O, no async, no clock, no randomness: the current time
//! and everything else about the request come in through [`RequestContext`].
//!
//! ```
//! use cubby_policy::{Policy, PolicySet, Principal, RequestContext, evaluate, Decision};
//!
//! let policy = Policy::parse(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
//!   "Action":["s3:GetObject","s3:PutObject"],
//!   "Resource":"arn:aws:s3:::bucket/private/${cognito-identity.amazonaws.com:sub}/*"}]}"#)?;
//! let mut ctx = RequestContext::new(
//!     "s3:GetObject",
//!     "arn:aws:s3:::bucket/private/us-east-1:1234/photo.jpg",
//!     Principal::AssumedRole {
//!         role_arn: "arn:aws:iam::123456789012:role/Auth".into(),
//!         session_arn: "arn:aws:sts::123456789012:assumed-role/Auth/s".into(),
//!         account: "123456789012".into(),
//!         role_id: "AROAEXAMPLE".into(),
//!         session_name: "s".into(),
//!     },
//! );
//! ctx.set("cognito-identity.amazonaws.com:sub", "us-east-1:1234");
//! let set = PolicySet { identity: &[&policy], ..PolicySet::default() };
//! assert_eq!(evaluate(&set, &ctx).decision, Decision::Allowed);
//! # Ok::<(), cubby_policy::PolicyError>(())
//! ```
//!
//! Where AWS's documentation leaves room, the engine fails closed:
//!
//! - A resource-policy `Allow` naming the caller's user ARN or session ARN is not limited by
//!   session policies or a permissions boundary; one naming the role, the account, or everyone
//!   (`*`) is.
//! - A statement without `Principal` in the resource slot of a [`PolicySet`] grants nothing
//!   (its `Deny` still denies); [`evaluate_one`] applies such statements to everyone.
//! - An unresolvable variable makes a `Resource` entry match nothing; in `NotResource` of an
//!   `Allow` it makes the statement not apply (it must not widen the grant).
//! - An operator without `ForAnyValue:`/`ForAllValues:` on a multi-valued key holds if any
//!   value matches (negated: if none does); `lint` warns about such conditions.
//! - `{"AWS": "*"}` matches every caller including anonymous ones but not web identities
//!   (those are `{"Federated": …}`); `"*"` matches everyone.
//! - Duplicate JSON keys, unknown elements and unknown condition operators are errors.
//!
//! Module map: `json` reads JSON with positions; `policy` validates and
//! compiles documents; `vars` splits text into literals, wildcards and `${…}` variables; `glob`
//! matches wildcard patterns; `arn` matches ARNs segment-wise; `condition` implements the
//! condition operators; `principal` matches `Principal`; `eval` combines statements into a
//! decision; `lint` warns about risky but valid policies.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod actions;
mod arn;
mod condition;
mod context;
mod error;
mod eval;
mod glob;
mod json;
mod lint;
mod pattern;
mod policy;
mod principal;
mod vars;

pub use context::{Principal, RequestContext};
pub use error::PolicyError;
pub use eval::{
    Decision, Evaluation, PolicySet, Source, StatementRef, decide, evaluate, evaluate_one,
};
pub use json::{MAX_DEPTH, MAX_DOCUMENT_BYTES};
pub use lint::{LintCode, LintWarning, lint};
pub use pattern::Pattern;
pub use policy::{Effect, Policy, PolicyKind, Statement, Version};

/// Known action names per checked service (`s3`, `iam`, `sts`, `cognito-identity`), as used by
/// the unknown-action lint. `None` for services that are not checked.
pub fn known_actions(service: &str) -> Option<&'static [&'static str]> {
    actions::known(service)
}
