//! The S3-style authentication errors this crate reports.
//!
//! Each variant maps to one S3 error code; the server renders
//! [`AuthError::code`], [`AuthError::message`], [`AuthError::status`] and
//! [`AuthError::extra_fields`] into the `<Error>` XML body.

/// Details carried by a signature mismatch so clients can debug their signer
/// (S3 returns them in the error body).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignatureMismatch {
    /// The access key id the request claimed.
    pub access_key_id: String,
    /// The string to sign the server computed (empty for chunk signatures).
    pub string_to_sign: String,
    /// The signature the client sent.
    pub signature_provided: String,
    /// The canonical request the server computed (empty for chunk signatures).
    pub canonical_request: String,
}

/// An authentication failure, one variant per S3 error (or per distinct
/// message of the same S3 error code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Recomputed signature differs (header, presigned, chunk or trailer).
    #[error("SignatureDoesNotMatch")]
    SignatureDoesNotMatch(Box<SignatureMismatch>),
    /// |request time - server time| exceeds the allowed skew (header auth).
    #[error("RequestTimeTooSkewed: request {request_time}, server {server_time}")]
    RequestTimeTooSkewed {
        /// The request time as sent (`yyyymmddTHHMMSSZ`).
        request_time: String,
        /// Server time, ISO 8601.
        server_time: String,
    },
    /// Presigned URL past `X-Amz-Date + X-Amz-Expires`.
    #[error("AccessDenied: Request has expired")]
    RequestExpired {
        /// The `X-Amz-Expires` value of the URL.
        x_amz_expires: u32,
        /// When the URL expired, ISO 8601.
        expires: String,
        /// Server time, ISO 8601.
        server_time: String,
    },
    /// Presigned URL dated too far in the future.
    #[error("AccessDenied: Request is not yet valid")]
    RequestNotYetValid {
        /// The `X-Amz-Date` of the URL, ISO 8601.
        request_time: String,
        /// Server time, ISO 8601.
        server_time: String,
    },
    /// `X-Amz-Expires` negative or longer than a week. AWS words it as a query-parameter
    /// error; cubby answers 403 (as the issue asks and as Ceph's s3-tests expect), so a
    /// client sees the same refusal as for an expired URL.
    #[error("AccessDenied: {message}")]
    ExpiresOutOfRange {
        /// S3's wording for the violated bound.
        message: String,
    },
    /// `x-amz-*` headers (or `host`) present but not covered by the signature.
    #[error("AccessDenied: headers not signed: {headers}")]
    HeadersNotSigned {
        /// Comma-separated header names.
        headers: String,
    },
    /// Neither a valid `X-Amz-Date` nor `Date` header.
    #[error("AccessDenied: missing or invalid date")]
    MissingDate,
    /// The `Authorization` header cannot be used (bad syntax, wrong scope).
    #[error("AuthorizationHeaderMalformed: {message}")]
    AuthorizationHeaderMalformed {
        /// Human-readable reason, S3 wording.
        message: String,
        /// The region the server expects, when the region was wrong.
        region: Option<String>,
    },
    /// Presigned query parameters cannot be used.
    #[error("AuthorizationQueryParametersError: {message}")]
    AuthorizationQueryParametersError {
        /// Human-readable reason, S3 wording.
        message: String,
        /// The region the server expects, when the region was wrong.
        region: Option<String>,
    },
    /// A header S3 requires for signed requests is missing.
    #[error("MissingSecurityHeader: {header}")]
    MissingSecurityHeader {
        /// The missing header name.
        header: String,
    },
    /// Header auth without `x-amz-content-sha256` (S3 answers `InvalidRequest`).
    #[error("InvalidRequest: missing x-amz-content-sha256")]
    MissingContentSha256,
    /// An argument has an invalid value.
    #[error("InvalidArgument: {message}")]
    InvalidArgument {
        /// Human-readable reason.
        message: String,
        /// `ArgumentName` field.
        name: String,
        /// `ArgumentValue` field.
        value: String,
    },
    /// SigV2, SigV4a or another scheme this server does not accept.
    #[error("InvalidRequest: unsupported authorization mechanism")]
    UnsupportedAuthorization,
    /// Access key id unknown (raised by the server after the lookup).
    #[error("InvalidAccessKeyId: {access_key_id}")]
    InvalidAccessKeyId {
        /// The access key id the request claimed.
        access_key_id: String,
    },
    /// Session token malformed, tampered or for another access key.
    #[error("InvalidToken")]
    InvalidToken,
    /// Session token past its expiry (raised by the server).
    #[error("ExpiredToken")]
    ExpiredToken,
    /// The body ended before the aws-chunked framing was complete.
    #[error("IncompleteBody")]
    IncompleteBody,
    /// The aws-chunked framing is malformed.
    #[error("InvalidChunk: {message}")]
    InvalidChunk {
        /// What was wrong.
        message: String,
    },
    /// Body SHA-256 differs from `x-amz-content-sha256` (raised by the server).
    #[error("XAmzContentSHA256Mismatch")]
    ContentSha256Mismatch {
        /// The hash the client claimed.
        client: String,
        /// The hash of the received body.
        computed: String,
    },
}

/// S3's allowed clock skew, reported in `MaxAllowedSkewMilliseconds`.
pub const MAX_SKEW_SECONDS: i64 = 900;

impl AuthError {
    /// The S3 error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::SignatureDoesNotMatch(_) => "SignatureDoesNotMatch",
            Self::RequestTimeTooSkewed { .. } => "RequestTimeTooSkewed",
            Self::RequestExpired { .. }
            | Self::RequestNotYetValid { .. }
            | Self::ExpiresOutOfRange { .. }
            | Self::HeadersNotSigned { .. }
            | Self::MissingDate => "AccessDenied",
            Self::AuthorizationHeaderMalformed { .. } => "AuthorizationHeaderMalformed",
            Self::AuthorizationQueryParametersError { .. } => "AuthorizationQueryParametersError",
            Self::MissingSecurityHeader { .. } => "MissingSecurityHeader",
            Self::MissingContentSha256 | Self::UnsupportedAuthorization => "InvalidRequest",
            Self::InvalidArgument { .. } => "InvalidArgument",
            Self::InvalidAccessKeyId { .. } => "InvalidAccessKeyId",
            Self::InvalidToken => "InvalidToken",
            Self::ExpiredToken => "ExpiredToken",
            Self::IncompleteBody => "IncompleteBody",
            Self::InvalidChunk { .. } => "InvalidRequest",
            Self::ContentSha256Mismatch { .. } => "XAmzContentSHA256Mismatch",
        }
    }

    /// The HTTP status S3 uses for this error.
    pub fn status(&self) -> u16 {
        match self {
            Self::SignatureDoesNotMatch(_)
            | Self::RequestTimeTooSkewed { .. }
            | Self::RequestExpired { .. }
            | Self::RequestNotYetValid { .. }
            | Self::ExpiresOutOfRange { .. }
            | Self::HeadersNotSigned { .. }
            | Self::MissingDate
            | Self::InvalidAccessKeyId { .. } => 403,
            Self::AuthorizationHeaderMalformed { .. }
            | Self::AuthorizationQueryParametersError { .. }
            | Self::MissingSecurityHeader { .. }
            | Self::MissingContentSha256
            | Self::InvalidArgument { .. }
            | Self::UnsupportedAuthorization
            | Self::InvalidToken
            | Self::ExpiredToken
            | Self::IncompleteBody
            | Self::InvalidChunk { .. }
            | Self::ContentSha256Mismatch { .. } => 400,
        }
    }

    /// The `<Message>` text, S3 wording.
    pub fn message(&self) -> String {
        match self {
            Self::SignatureDoesNotMatch(_) => "The request signature we calculated does not match the signature you provided. Check your key and signing method.".into(),
            Self::RequestTimeTooSkewed { .. } => {
                "The difference between the request time and the current time is too large.".into()
            }
            Self::RequestExpired { .. } => "Request has expired".into(),
            Self::RequestNotYetValid { .. } => "Request is not yet valid".into(),
            Self::HeadersNotSigned { .. } => {
                "There were headers present in the request which were not signed".into()
            }
            Self::MissingDate => {
                "AWS authentication requires a valid Date or x-amz-date header".into()
            }
            Self::AuthorizationHeaderMalformed { message, .. }
            | Self::AuthorizationQueryParametersError { message, .. }
            | Self::ExpiresOutOfRange { message }
            | Self::InvalidArgument { message, .. } => message.clone(),
            Self::MissingSecurityHeader { .. } => "Your request was missing a required header".into(),
            Self::MissingContentSha256 => {
                "Missing required header for this request: x-amz-content-sha256".into()
            }
            Self::UnsupportedAuthorization => "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.".into(),
            Self::InvalidAccessKeyId { .. } => {
                "The AWS Access Key Id you provided does not exist in our records.".into()
            }
            Self::InvalidToken => "The provided token is malformed or otherwise invalid.".into(),
            Self::ExpiredToken => "The provided token has expired.".into(),
            Self::IncompleteBody => "The request body terminated unexpectedly".into(),
            Self::InvalidChunk { message } => message.clone(),
            Self::ContentSha256Mismatch { .. } => {
                "The provided 'x-amz-content-sha256' header does not match what was computed.".into()
            }
        }
    }

    /// Extra XML elements S3 adds to the error body, in order.
    pub fn extra_fields(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::SignatureDoesNotMatch(m) => {
                let mut v = vec![("AWSAccessKeyId", m.access_key_id.clone())];
                if !m.string_to_sign.is_empty() {
                    v.push(("StringToSign", m.string_to_sign.clone()));
                }
                v.push(("SignatureProvided", m.signature_provided.clone()));
                if !m.canonical_request.is_empty() {
                    v.push(("CanonicalRequest", m.canonical_request.clone()));
                }
                v
            }
            Self::RequestTimeTooSkewed {
                request_time,
                server_time,
            } => vec![
                ("RequestTime", request_time.clone()),
                ("ServerTime", server_time.clone()),
                (
                    "MaxAllowedSkewMilliseconds",
                    (MAX_SKEW_SECONDS * 1000).to_string(),
                ),
            ],
            Self::RequestExpired {
                x_amz_expires,
                expires,
                server_time,
            } => vec![
                ("X-Amz-Expires", x_amz_expires.to_string()),
                ("Expires", expires.clone()),
                ("ServerTime", server_time.clone()),
            ],
            Self::RequestNotYetValid {
                request_time,
                server_time,
            } => vec![
                ("RequestTime", request_time.clone()),
                ("ServerTime", server_time.clone()),
            ],
            Self::HeadersNotSigned { headers } => vec![("HeadersNotSigned", headers.clone())],
            Self::AuthorizationHeaderMalformed {
                region: Some(r), ..
            }
            | Self::AuthorizationQueryParametersError {
                region: Some(r), ..
            } => {
                vec![("Region", r.clone())]
            }
            Self::MissingSecurityHeader { header } => vec![("MissingHeaderName", header.clone())],
            Self::InvalidArgument { name, value, .. } => {
                vec![
                    ("ArgumentName", name.clone()),
                    ("ArgumentValue", value.clone()),
                ]
            }
            Self::InvalidAccessKeyId { access_key_id } => {
                vec![("AWSAccessKeyId", access_key_id.clone())]
            }
            Self::ContentSha256Mismatch { client, computed } => vec![
                ("ClientComputedContentSHA256", client.clone()),
                ("S3ComputedContentSHA256", computed.clone()),
            ],
            _ => Vec::new(),
        }
    }

    /// Shorthand for a header-auth syntax error with S3's prefix.
    pub(crate) fn header_malformed(detail: &str) -> Self {
        Self::AuthorizationHeaderMalformed {
            message: format!("The authorization header is malformed; {detail}"),
            region: None,
        }
    }

    /// Shorthand for a presigned-query error.
    pub(crate) fn query_error(message: impl Into<String>) -> Self {
        Self::AuthorizationQueryParametersError {
            message: message.into(),
            region: None,
        }
    }

    /// Shorthand for a chunk framing error.
    pub(crate) fn chunk(message: impl Into<String>) -> Self {
        Self::InvalidChunk {
            message: message.into(),
        }
    }
}
