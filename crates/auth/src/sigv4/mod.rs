//! AWS Signature Version 4: parse what a request claims, verify it, and the
//! client-side signer used by tests, the bench and `cubby presign`.

mod canonical;
mod parse;
mod sign;
mod verify;

pub use parse::parse;
pub use sign::{presign_url, presign_url_with_headers, sign_request};
pub use verify::{check_scope, check_time, signing_key, verify};

/// The only algorithm accepted (SigV2 and SigV4a are refused).
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Payload hash literal for unsigned bodies.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// aws-chunked with a signature per chunk.
pub const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// aws-chunked with a signature per chunk and signed trailers.
pub const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
/// aws-chunked without chunk signatures, with trailers (checksums).
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
/// Longest presigned validity S3 accepts (one week).
pub const MAX_PRESIGNED_EXPIRES: u32 = 604_800;

/// How the request body is covered by the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadMode {
    /// `x-amz-content-sha256` is this hash: the caller must hash the body and
    /// answer `XAmzContentSHA256Mismatch` on difference.
    Sha256([u8; 32]),
    /// `UNSIGNED-PAYLOAD`: the body is not covered.
    Unsigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: decode with
    /// [`crate::chunked::ChunkedDecoder::signed`] (`expect_trailer = false`).
    StreamingSigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks and trailer.
    StreamingSignedTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: [`crate::chunked::ChunkedDecoder::unsigned`].
    StreamingUnsignedTrailer,
    /// Non-S3 service without `x-amz-content-sha256`: the caller hashes the
    /// body and passes the hex digest to [`verify`].
    ComputeFromBody,
}

impl PayloadMode {
    /// True for the three aws-chunked modes.
    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            Self::StreamingSigned | Self::StreamingSignedTrailer | Self::StreamingUnsignedTrailer
        )
    }
}

/// What a request claims about its signature, from the `Authorization`
/// header or the presigned query. Nothing in it is trusted until [`verify`]
/// succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// Claimed access key id.
    pub access_key_id: String,
    /// Credential scope date, `yyyymmdd`.
    pub date: String,
    /// Credential scope region.
    pub region: String,
    /// Credential scope service (`s3`, `sts`, `iam`, `cognito-identity`, ...).
    pub service: String,
    /// Signed header names, lower-cased, in the order given.
    pub signed_headers: Vec<String>,
    /// Signature as sent (hex).
    pub signature: String,
    /// Request time, epoch seconds (`X-Amz-Date`, else the `Date` header).
    pub timestamp: i64,
    /// The `yyyymmddTHHMMSSZ` string used in the string to sign.
    pub amz_date: String,
    /// `Some` for presigned (query) auth: `X-Amz-Expires`, 0..=604800
    /// (0 is accepted and is always expired, as on AWS).
    pub presigned_expires: Option<u32>,
    /// `x-amz-security-token` header or `X-Amz-Security-Token` query.
    pub security_token: Option<String>,
    /// How the body is covered.
    pub payload: PayloadMode,
    /// `x-amz-content-sha256` (header, or `X-Amz-Content-Sha256` query for
    /// presigned) verbatim, when present.
    pub content_sha256: Option<String>,
}

impl SignedRequest {
    /// True for query-string (presigned URL) authentication.
    pub fn is_presigned(&self) -> bool {
        self.presigned_expires.is_some()
    }

    /// `date/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }

    /// The payload hash that goes into the canonical request, when the
    /// request itself determines it: the `x-amz-content-sha256` value
    /// verbatim, or `UNSIGNED-PAYLOAD` for a presigned URL without one.
    /// `None` means [`PayloadMode::ComputeFromBody`]: hash the body.
    pub fn canonical_payload_hash(&self) -> Option<&str> {
        match (&self.content_sha256, self.is_presigned()) {
            (Some(h), _) => Some(h),
            (None, true) => Some(UNSIGNED_PAYLOAD),
            (None, false) => None,
        }
    }
}

/// Outcome of a successful [`verify`]: what the aws-chunked decoder needs.
#[derive(Clone, PartialEq, Eq)]
pub struct Verified {
    /// The derived SigV4 signing key for the request's scope.
    pub signing_key: [u8; 32],
    /// The request signature: the "previous signature" of the first chunk.
    pub seed_signature: String,
    /// `date/region/service/aws4_request`.
    pub scope: String,
}

impl std::fmt::Debug for Verified {
    // The signing key is a credential for the whole day and scope: keep it
    // out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("signing_key", &"<redacted>")
            .field("seed_signature", &self.seed_signature)
            .field("scope", &self.scope)
            .finish()
    }
}
