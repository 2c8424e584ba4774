//! Errors: [`Error`] for start-up and storage, [`ApiError`] for what the JSON API answers.

/// Failures inside the service (storage, crypto, configuration).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The metadata store failed.
    #[error("metadata store: {0}")]
    Meta(#[from] cubby_meta::MetaError),
    /// A stored document could not be read.
    #[error("corrupt user-pool document: {0}")]
    Corrupt(String),
    /// Key generation, sealing or signing failed.
    #[error("user-pool crypto: {0}")]
    Crypto(String),
    /// Invalid configuration.
    #[error("user-pool configuration: {0}")]
    Config(String),
}

/// A Cognito-shaped error: `{"__type": code, "message": message}` with an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    /// The `__type` / `x-amzn-ErrorType` code.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
    /// HTTP status (400 for client errors, 500 for `InternalErrorException`).
    pub status: u16,
}

impl ApiError {
    /// A 400 error.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            status: 400,
        }
    }

    /// `NotAuthorizedException`.
    pub fn not_authorized(message: impl Into<String>) -> Self {
        Self::new("NotAuthorizedException", message)
    }

    /// `InvalidParameterException`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterException", message)
    }

    /// `ResourceNotFoundException`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", message)
    }

    /// `UserNotFoundException` "User does not exist.".
    pub fn user_not_found() -> Self {
        Self::new("UserNotFoundException", "User does not exist.")
    }

    /// `InternalErrorException` (500). The detail is logged, not sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "user-pool internal error");
        ApiError {
            code: "InternalErrorException",
            message: "Internal server error.".into(),
            status: 500,
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError::internal(e)
    }
}
