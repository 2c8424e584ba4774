//! Upload rules: limits a bucket puts on what callers may upload, decided before a byte is
//! stored. This crate is pure (no I/O, no clock): the rule document and its validation
//! ([`model`]), content sniffing ([`sniff`]) and upload-rate windows ([`rate`]). Enforcement
//! on the upload paths and quota accounting live in `cubby-s3`.

pub mod model;
pub mod rate;
pub mod sniff;

pub use cubby_policy::{Pattern, Principal, RequestContext};
pub use model::{
    Audience, CompiledRule, MAX_RULES, RuleError, Subject, SubjectKind, UploadRule, compile,
    parse_size,
};
pub use rate::RateWindows;
