//! What the S3 layer learned about a request, handed to the access log and metrics as a
//! response extension (the server front does not parse S3 requests itself).

/// The authorization outcome of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed (by policy, or as root).
    Allow,
    /// Denied by policy (explicitly or by default).
    Deny,
}

impl Decision {
    /// `allow` / `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
        }
    }
}

/// Inserted into every S3 response's extensions by [`crate::S3Service::handle`].
#[derive(Clone, Debug, Default)]
pub struct RequestInfo {
    /// Operation name (`PutObject`); empty when the request did not route.
    pub operation: &'static str,
    /// The caller's ARN, once authenticated (`None`: anonymous or not reached).
    pub principal: Option<String>,
    /// Identity-pool identity id of a Cognito session.
    pub identity_id: Option<String>,
    /// The policy decision, when authorization ran.
    pub decision: Option<Decision>,
    /// Why authentication failed (the AWS error code), when it did.
    pub auth_failure: Option<&'static str>,
}
