//! The S3 API: route → authenticate (SigV4 via `cubby-auth`) → authorize (through the
//! [`Authority`] seam, backed by the IAM policy engine) → execute against `cubby-meta` and
//! `cubby-blob`.
//!
//! Architecture invariant: this crate does not know hyper or the listener; it takes an
//! `http::Request` with a boxed body and returns an `http::Response`.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod acl;
mod auth;
mod body;
mod bucket_view;
mod buckets;
pub mod checksum;
mod config;
mod cors;
mod error;
mod list;
mod multipart;
mod notify;
mod objects;
mod post_object;
mod post_policy;
mod reqinfo;
mod response;
pub mod router;
mod rules;
mod service;
mod shared_quota;
mod sse;
mod xml;

pub use auth::{AccessRequest, Authority, Caller, CallerKind, ResolvedKey, UploadSubject};
pub use body::{INLINE_MAX, ReqBody, RespBody};
/// Error type of request bodies.
pub mod body_error {
    pub use crate::body::BoxError;
}
pub use config::BucketConfig;
pub use error::{S3Error, S3Result};
pub use reqinfo::{Decision, RequestInfo};
pub use rules::{RulesAdminError, refusal_counts as upload_rule_refusals};
pub use service::{S3Config, S3Service};
