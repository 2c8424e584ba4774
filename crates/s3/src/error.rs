//! S3 errors: each carries its AWS code, HTTP status and message, and is rendered once, at the
//! edge, as S3's XML error document.

use http::StatusCode;

/// An S3 error response.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct S3Error {
    /// AWS error code (`NoSuchKey`, `AccessDenied`, …).
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// HTTP status.
    pub status: StatusCode,
    /// Extra XML elements (`<Region>`, `<StringToSign>`, …).
    pub extra: Vec<(&'static str, String)>,
    /// Extra response headers (e.g. `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
}

impl S3Error {
    /// A new error.
    pub fn new(code: &'static str, status: StatusCode, message: impl Into<String>) -> Self {
        S3Error {
            code,
            message: message.into(),
            status,
            extra: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Add an extra XML element.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }

    /// 403 AccessDenied.
    pub fn access_denied() -> Self {
        Self::new("AccessDenied", StatusCode::FORBIDDEN, "Access Denied")
    }
    /// 404 NoSuchBucket.
    pub fn no_such_bucket(bucket: &str) -> Self {
        Self::new(
            "NoSuchBucket",
            StatusCode::NOT_FOUND,
            "The specified bucket does not exist",
        )
        .with("BucketName", bucket)
    }
    /// 404 NoSuchKey.
    pub fn no_such_key(key: &str) -> Self {
        Self::new(
            "NoSuchKey",
            StatusCode::NOT_FOUND,
            "The specified key does not exist.",
        )
        .with("Key", key)
    }
    /// 404 NoSuchUpload.
    pub fn no_such_upload(upload_id: &str) -> Self {
        Self::new("NoSuchUpload", StatusCode::NOT_FOUND, "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.").with("UploadId", upload_id)
    }
    /// 400 InvalidArgument.
    pub fn invalid_argument(msg: impl Into<String>) -> Self {
        Self::new("InvalidArgument", StatusCode::BAD_REQUEST, msg)
    }
    /// 400 InvalidRequest.
    pub fn invalid_request(msg: impl Into<String>) -> Self {
        Self::new("InvalidRequest", StatusCode::BAD_REQUEST, msg)
    }
    /// 400 MalformedXML.
    pub fn malformed_xml() -> Self {
        Self::new(
            "MalformedXML",
            StatusCode::BAD_REQUEST,
            "The XML you provided was not well-formed or did not validate against our published schema.",
        )
    }
    /// 501 NotImplemented.
    pub fn not_implemented(what: &str) -> Self {
        Self::new(
            "NotImplemented",
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "A header or query you provided implies functionality that is not implemented: {what}"
            ),
        )
    }
    /// 412 PreconditionFailed.
    pub fn precondition_failed(condition: &str) -> Self {
        Self::new(
            "PreconditionFailed",
            StatusCode::PRECONDITION_FAILED,
            "At least one of the pre-conditions you specified did not hold",
        )
        .with("Condition", condition)
    }
    /// 500 InternalError (logged; details never reach the client).
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        Self::new(
            "InternalError",
            StatusCode::INTERNAL_SERVER_ERROR,
            "We encountered an internal error. Please try again.",
        )
    }
    /// 400 BadDigest.
    pub fn bad_digest() -> Self {
        Self::new(
            "BadDigest",
            StatusCode::BAD_REQUEST,
            "The Content-MD5 you specified did not match what we received.",
        )
    }
    /// 400 InvalidDigest.
    pub fn invalid_digest() -> Self {
        Self::new(
            "InvalidDigest",
            StatusCode::BAD_REQUEST,
            "The Content-MD5 you specified was invalid.",
        )
    }

    /// Render the XML error document.
    pub fn to_xml(&self, resource: &str, request_id: &str) -> String {
        let mut x = String::with_capacity(256);
        x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
        x.push_str(self.code);
        x.push_str("</Code><Message>");
        crate::xml::escape_into(&mut x, &self.message);
        x.push_str("</Message>");
        for (k, v) in &self.extra {
            crate::xml::elem(&mut x, k, v);
        }
        crate::xml::elem(&mut x, "Resource", resource);
        crate::xml::elem(&mut x, "RequestId", request_id);
        crate::xml::elem(&mut x, "HostId", request_id);
        x.push_str("</Error>");
        x
    }
}

impl From<cubby_meta::MetaError> for S3Error {
    fn from(e: cubby_meta::MetaError) -> Self {
        S3Error::internal(e)
    }
}

impl From<cubby_blob::BlobError> for S3Error {
    fn from(e: cubby_blob::BlobError) -> Self {
        S3Error::internal(e)
    }
}

impl From<std::io::Error> for S3Error {
    fn from(e: std::io::Error) -> Self {
        S3Error::internal(e)
    }
}

impl From<cubby_auth::AuthError> for S3Error {
    fn from(e: cubby_auth::AuthError) -> Self {
        let mut err = S3Error::new(
            e.code(),
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::FORBIDDEN),
            e.message(),
        );
        err.extra = e.extra_fields();
        err
    }
}

/// Result alias.
pub type S3Result<T> = Result<T, S3Error>;
