//! Authentication and the authorization seam. SigV4 math lives in `cubby-auth`; who owns a key
//! and what they may do is the [`Authority`]'s business (IAM users, sessions, policies).

use crate::{S3Error, S3Result};
use std::any::Any;
use std::sync::Arc;

/// What kind of principal is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerKind {
    /// No credentials.
    Anonymous,
    /// The account's root keys: may do everything.
    Root,
    /// An IAM user with long-term keys.
    User,
    /// Temporary session credentials (STS / identity pools).
    Session,
}

/// The authenticated caller of one request.
#[derive(Clone)]
pub struct Caller {
    /// Kind of principal.
    pub kind: CallerKind,
    /// Principal ARN (`arn:aws:iam::000000000000:root`, `…:user/x`, `arn:aws:sts::…:assumed-role/r/s`).
    pub arn: String,
    /// Principal id as S3 reports it (owner ids, event `principalId`).
    pub principal_id: String,
    /// Display name for listings.
    pub display_name: String,
    /// Access key used.
    pub access_key_id: Option<String>,
    /// Expiry of the credentials (epoch seconds), for sessions.
    pub expires_at: Option<i64>,
    /// Opaque data the [`Authority`] attached (session claims, cached policies).
    pub detail: Option<Arc<dyn Any + Send + Sync>>,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("kind", &self.kind)
            .field("arn", &self.arn)
            .finish()
    }
}

impl Caller {
    /// The anonymous caller.
    pub fn anonymous() -> Self {
        Caller {
            kind: CallerKind::Anonymous,
            arn: "*".into(),
            principal_id: "anonymous".into(),
            display_name: "anonymous".into(),
            access_key_id: None,
            expires_at: None,
            detail: None,
        }
    }
}

/// A key's secret and owner.
pub struct ResolvedKey {
    /// Secret access key.
    pub secret: String,
    /// Who owns it.
    pub caller: Caller,
}

/// One authorization question: may `caller` do `action` on `resource`, given these keys?
pub struct AccessRequest<'a> {
    /// IAM action, e.g. `s3:PutObject`.
    pub action: &'a str,
    /// Resource ARN.
    pub resource: &'a str,
    /// Request condition keys (`s3:prefix`, `aws:SourceIp`, `s3:ExistingObjectTag/…`, …).
    pub keys: &'a [(&'a str, String)],
    /// The bucket's policy document, if the bucket has one.
    pub bucket_policy: Option<&'a str>,
    /// The bucket's public-access-block settings (restrict public buckets / ignore public ACLs).
    pub restrict_public: bool,
    /// A (canned) ACL of the bucket or object grants this action to this caller. It allows
    /// what no policy explicitly denies; S3 has already applied `IgnorePublicAcls` and
    /// `BucketOwnerEnforced`.
    pub acl_grant: bool,
    /// The bucket policy was put with `x-amz-confirm-remove-self-bucket-access: true`: its
    /// Deny statements bind the root even for Get/Put/DeleteBucketPolicy, which the root may
    /// otherwise always do.
    pub policy_binds_root: bool,
}

/// The seam to identity and IAM: key lookup and policy decisions.
#[async_trait::async_trait]
pub trait Authority: Send + Sync + 'static {
    /// Find the secret and caller for an access key (and session token, for `ASIA…` keys).
    /// Errors are S3-shaped (`InvalidAccessKeyId`, `InvalidToken`, `ExpiredToken`).
    async fn resolve(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
        now: i64,
    ) -> S3Result<ResolvedKey>;

    /// Decide. `Ok(true)` = allowed.
    async fn authorize(&self, caller: &Caller, req: &AccessRequest<'_>) -> S3Result<bool>;

    /// Validate a bucket policy document (S3 `MalformedPolicy` on error) and say whether it
    /// grants public access.
    fn check_bucket_policy(&self, bucket: &str, policy: &str) -> S3Result<bool>;

    /// The display name of the principal that a canonical user id in an ACL grant names (cubby
    /// uses IAM users' ids as their canonical ids), or `None` when it names none. The account's
    /// own owner id is answered by S3 itself.
    async fn canonical_user(&self, id: &str) -> S3Result<Option<String>> {
        let _ = id;
        Ok(None)
    }

    /// The caller's Cognito identity id, when its credentials came from an identity pool
    /// (event bodies carry it).
    fn cognito_identity_id(&self, caller: &Caller) -> Option<String> {
        let _ = caller;
        None
    }

    /// Who an upload by `caller` counts against, and which upload rules target it. The
    /// default knows only the principal ARN.
    fn upload_subject(&self, caller: &Caller) -> UploadSubject {
        UploadSubject {
            owner: caller.arn.clone(),
            kind: cubby_rules::SubjectKind::Other,
            role_name: None,
        }
    }

    /// Does `key` match an upload rule's key pattern, with policy variables (`${aws:username}`,
    /// `${cognito-identity.amazonaws.com:sub}`, …) resolved for `caller` exactly as in its
    /// policies? The default resolves no variables.
    fn key_matches(&self, caller: &Caller, pattern: &cubby_rules::Pattern, key: &str) -> bool {
        let _ = caller;
        let empty =
            cubby_rules::RequestContext::new("s3:PutObject", "", cubby_rules::Principal::Anonymous);
        pattern.matches(key, &empty)
    }
}

/// The uploader, as upload rules see it.
#[derive(Clone, Debug)]
pub struct UploadSubject {
    /// Whose quota the upload counts against: the Cognito identity id, else the principal ARN.
    pub owner: String,
    /// Guest, signed-in identity, or another caller.
    pub kind: cubby_rules::SubjectKind,
    /// The role, for role sessions.
    pub role_name: Option<String>,
}

/// Map an authorization refusal to S3's error.
pub(crate) fn deny() -> S3Error {
    S3Error::access_denied()
}
