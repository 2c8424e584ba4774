//! Per-bucket configuration, stored as one JSON document in the bucket row.

use serde::{Deserialize, Serialize};

/// One CORS rule.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct CorsRule {
    /// Optional rule id.
    pub id: Option<String>,
    /// Allowed origins (each may hold one `*`).
    pub allowed_origins: Vec<String>,
    /// Allowed methods (GET, PUT, POST, DELETE, HEAD).
    pub allowed_methods: Vec<String>,
    /// Allowed request headers (each may hold one `*`), case-insensitive.
    pub allowed_headers: Vec<String>,
    /// Headers exposed to scripts.
    pub expose_headers: Vec<String>,
    /// Preflight cache time.
    pub max_age_seconds: Option<i64>,
}

/// Public access block settings.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct PublicAccessBlock {
    /// Reject public ACLs on PUT.
    pub block_public_acls: bool,
    /// Ignore public ACLs when deciding.
    pub ignore_public_acls: bool,
    /// Reject public bucket policies.
    pub block_public_policy: bool,
    /// Ignore public grants of policies for anonymous/cross-account callers.
    pub restrict_public_buckets: bool,
}

/// The bucket's configuration document.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BucketConfig {
    /// Region the bucket was created in.
    #[serde(default)]
    pub region: String,
    /// CORS rules (None = no CORS configuration).
    #[serde(default)]
    pub cors: Option<Vec<CorsRule>>,
    /// Bucket policy JSON.
    #[serde(default)]
    pub policy: Option<String>,
    /// The policy was put with `x-amz-confirm-remove-self-bucket-access: true`: its Deny
    /// statements bind the root even for Get/Put/DeleteBucketPolicy, which the root may
    /// otherwise always do (S3's guard against locking the owner out).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub policy_binds_root: bool,
    /// Public access block.
    #[serde(default)]
    pub public_access_block: Option<PublicAccessBlock>,
    /// Object ownership: BucketOwnerEnforced | BucketOwnerPreferred | ObjectWriter.
    #[serde(default)]
    pub ownership: Option<String>,
    /// Canned bucket ACL.
    #[serde(default)]
    pub acl: Option<String>,
    /// Explicit grant list (set instead of a canned ACL by grant headers or an
    /// AccessControlPolicy body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl_grants: Option<Vec<crate::acl::Grant>>,
    /// Versioning status as last set (Enabled/Suspended); cubby keeps one version per key.
    #[serde(default)]
    pub versioning: Option<String>,
    /// Bucket tags.
    #[serde(default)]
    pub tags: Option<Vec<(String, String)>>,
    /// ServerSideEncryptionConfiguration XML, as GetBucketEncryption returns it.
    #[serde(default)]
    pub encryption: Option<String>,
    /// Default encryption algorithm of new objects (`AES256`), from the configuration above.
    #[serde(default)]
    pub sse_default: Option<String>,
    /// Raw NotificationConfiguration XML (documents stored before notifications took effect).
    #[serde(default)]
    pub notification: Option<String>,
    /// Notification configurations (PutBucketNotificationConfiguration).
    #[serde(default)]
    pub notify: Option<Vec<crate::notify::NotifyRule>>,
    /// Raw LifecycleConfiguration XML.
    #[serde(default)]
    pub lifecycle: Option<String>,
    /// Upload rules (cubby's own: limits on what callers may upload), validated on write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_rules: Option<Vec<cubby_rules::UploadRule>>,
}

impl BucketConfig {
    /// Parse the stored document (an unreadable one is treated as empty, and logged).
    pub fn from_json(s: &str) -> Self {
        serde_json::from_str(s).unwrap_or_else(|e| {
            tracing::error!(error = %e, "unreadable bucket configuration");
            BucketConfig::default()
        })
    }
    /// Serialize.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}
