//! The error type for policy documents that cannot be parsed or are not valid IAM policies.

/// Why a policy document was rejected, and where.
///
/// `line` and `column` are 1-based (columns count characters) and point at the offending JSON
/// value or character. Services map this to `MalformedPolicyDocument` (IAM/STS) or
/// `MalformedPolicy` (S3); the CLI prints it as `file:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct PolicyError {
    /// 1-based line of the offending value.
    pub line: usize,
    /// 1-based column (in characters) of the offending value.
    pub column: usize,
    /// What was wrong and what was expected.
    pub message: String,
}
