//! cubby-auth: pure request authentication for cubby.
//!
//! SigV4 (header, presigned query, aws-chunked streaming with trailers),
//! POST-policy signatures and sealed session credentials. Nothing here does
//! I/O, reads the clock or draws randomness: the current time and random
//! bytes are parameters, so every path is deterministic and fuzzable.
//!
//! The server's flow for one request:
//!
//! ```
//! use cubby_auth::sigv4::{self, PayloadMode};
//! use cubby_auth::chunked::ChunkedDecoder;
//!
//! # let now = 1_369_353_600;
//! # let (mut parts, _) = http::Request::builder().method("PUT").uri("/bucket/key")
//! #     .header("host", "localhost:9000").body(()).unwrap().into_parts();
//! # sigv4::sign_request(&mut parts, "AKID", "secret", None, "us-east-1", "s3",
//! #     sigv4::STREAMING_UNSIGNED_TRAILER, now);
//! let Some(req) = sigv4::parse(&parts)? else { return Ok(()) /* anonymous */ };
//! sigv4::check_scope(&req, "us-east-1")?; // optional: before the key lookup
//! let secret = "secret"; // long-term key from metadata, or session::derive_secret
//! // Non-S3 services without x-amz-content-sha256: hash the body yourself.
//! let payload_hash = req.canonical_payload_hash().unwrap_or("<hex sha256 of body>");
//! let verified = sigv4::verify(&req, &parts, secret, payload_hash, now, "us-east-1")?;
//! let mut decoder = match req.payload {
//!     PayloadMode::StreamingSigned | PayloadMode::StreamingSignedTrailer => Some(ChunkedDecoder::signed(
//!         verified.signing_key, verified.seed_signature, req.amz_date.clone(), verified.scope,
//!         req.payload == PayloadMode::StreamingSignedTrailer,
//!     )),
//!     PayloadMode::StreamingUnsignedTrailer => Some(ChunkedDecoder::unsigned(true)),
//!     // Sha256(h): hash the body while storing it; on mismatch answer
//!     // AuthError::ContentSha256Mismatch.
//!     _ => None,
//! };
//! # let _ = &mut decoder;
//! # Ok::<(), cubby_auth::AuthError>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
#![warn(missing_docs)]

pub mod chunked;
mod crypto;
mod encoding;
mod error;
pub mod post_policy;
pub mod session;
pub mod sigv4;
mod time;

pub use error::{AuthError, MAX_SKEW_SECONDS, SignatureMismatch};
pub use time::{format_amz_date, format_iso8601, parse_amz_date, parse_http_date};
