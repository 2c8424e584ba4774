//! Canned ACLs as authorization grants (older clients and the S3 suites still rely on them).
//! ACLs are off under `BucketOwnerEnforced` (the default for new buckets), and public grants are
//! ignored under the public-access block's `IgnorePublicAcls`.

use crate::auth::{Caller, CallerKind};
use crate::config::BucketConfig;

/// Whether the bucket's ACL, or the object's when given, grants `action` to `caller`.
pub(crate) fn grants(
    cfg: &BucketConfig,
    object_acl: Option<&str>,
    action: &str,
    caller: &Caller,
) -> bool {
    if cfg.ownership.as_deref() == Some("BucketOwnerEnforced") {
        return false;
    }
    let ignore_public = cfg
        .public_access_block
        .is_some_and(|p| p.ignore_public_acls);
    let authenticated = caller.kind != CallerKind::Anonymous;
    // Which grantee groups a canned ACL gives READ and WRITE to.
    let reaches = |acl: &str, write: bool| -> bool {
        let (all, auth) = match (acl, write) {
            ("public-read", false) | ("public-read-write", false) => (true, false),
            ("public-read-write", true) => (true, false),
            ("authenticated-read", false) => (false, true),
            _ => (false, false),
        };
        !ignore_public && (all || (auth && authenticated))
    };
    let bucket_acl = cfg.acl.as_deref().unwrap_or("private");
    match action {
        // Object reads follow the object's ACL.
        "s3:GetObject" => object_acl.is_some_and(|a| reaches(a, false)),
        // Bucket READ: listings.
        "s3:ListBucket" | "s3:ListBucketVersions" | "s3:ListBucketMultipartUploads" => {
            reaches(bucket_acl, false)
        }
        // Bucket WRITE: create, overwrite and delete objects.
        "s3:PutObject" | "s3:DeleteObject" | "s3:AbortMultipartUpload" => reaches(bucket_acl, true),
        _ => false,
    }
}

/// Whether a canned ACL grants anything to the public (for BlockPublicAcls).
pub(crate) fn is_public(acl: &str) -> bool {
    matches!(
        acl,
        "public-read" | "public-read-write" | "authenticated-read"
    )
}

/// Check an `x-amz-acl` header on an object write against the bucket's settings: ACLs are
/// refused under `BucketOwnerEnforced`, public ones under `BlockPublicAcls`.
pub(crate) fn check_request_acl(cfg: &BucketConfig, acl: Option<&str>) -> crate::S3Result<()> {
    let Some(acl) = acl else {
        return Ok(());
    };
    if cfg.ownership.as_deref() == Some("BucketOwnerEnforced")
        && !matches!(acl, "private" | "bucket-owner-full-control")
    {
        return Err(crate::S3Error::new(
            "AccessControlListNotSupported",
            http::StatusCode::BAD_REQUEST,
            "The bucket does not allow ACLs",
        ));
    }
    if is_public(acl) && cfg.public_access_block.is_some_and(|p| p.block_public_acls) {
        return Err(crate::S3Error::access_denied());
    }
    Ok(())
}
