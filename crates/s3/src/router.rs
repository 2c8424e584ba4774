//! Routing: an S3 request → one [`Op`] variant, with the bucket and key it addresses and the
//! IAM action it needs (SPEC.md §4.7). Every operation cubby knows is listed here; the table
//! test at the bottom checks parse and action of each.

use crate::{S3Error, S3Result};
use http::Method;
use percent_encoding::percent_decode_str;

/// Every S3 operation cubby routes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Op {
    ListBuckets,
    CreateBucket,
    DeleteBucket,
    HeadBucket,
    GetBucketLocation,
    ListObjects,
    ListObjectsV2,
    ListObjectVersions,
    ListMultipartUploads,
    DeleteObjects,
    GetBucketCors,
    PutBucketCors,
    DeleteBucketCors,
    GetPublicAccessBlock,
    PutPublicAccessBlock,
    DeletePublicAccessBlock,
    GetBucketPolicy,
    PutBucketPolicy,
    DeleteBucketPolicy,
    GetBucketPolicyStatus,
    GetBucketVersioning,
    PutBucketVersioning,
    GetBucketTagging,
    PutBucketTagging,
    DeleteBucketTagging,
    GetBucketAcl,
    PutBucketAcl,
    GetBucketOwnershipControls,
    PutBucketOwnershipControls,
    DeleteBucketOwnershipControls,
    GetBucketEncryption,
    PutBucketEncryption,
    DeleteBucketEncryption,
    GetBucketNotificationConfiguration,
    PutBucketNotificationConfiguration,
    GetBucketLifecycleConfiguration,
    PutBucketLifecycleConfiguration,
    DeleteBucketLifecycle,
    PostObject,
    PutObject,
    CopyObject,
    GetObject,
    HeadObject,
    DeleteObject,
    GetObjectAttributes,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    GetObjectTagging,
    PutObjectTagging,
    DeleteObjectTagging,
    GetObjectAcl,
    PutObjectAcl,
    Options,
}

impl Op {
    /// The operation's AWS name (`PutObject`), for logs and metric labels.
    pub fn name(self) -> &'static str {
        use Op::*;
        match self {
            ListBuckets => "ListBuckets",
            CreateBucket => "CreateBucket",
            DeleteBucket => "DeleteBucket",
            HeadBucket => "HeadBucket",
            GetBucketLocation => "GetBucketLocation",
            ListObjects => "ListObjects",
            ListObjectsV2 => "ListObjectsV2",
            ListObjectVersions => "ListObjectVersions",
            ListMultipartUploads => "ListMultipartUploads",
            DeleteObjects => "DeleteObjects",
            GetBucketCors => "GetBucketCors",
            PutBucketCors => "PutBucketCors",
            DeleteBucketCors => "DeleteBucketCors",
            GetPublicAccessBlock => "GetPublicAccessBlock",
            PutPublicAccessBlock => "PutPublicAccessBlock",
            DeletePublicAccessBlock => "DeletePublicAccessBlock",
            GetBucketPolicy => "GetBucketPolicy",
            PutBucketPolicy => "PutBucketPolicy",
            DeleteBucketPolicy => "DeleteBucketPolicy",
            GetBucketPolicyStatus => "GetBucketPolicyStatus",
            GetBucketVersioning => "GetBucketVersioning",
            PutBucketVersioning => "PutBucketVersioning",
            GetBucketTagging => "GetBucketTagging",
            PutBucketTagging => "PutBucketTagging",
            DeleteBucketTagging => "DeleteBucketTagging",
            GetBucketAcl => "GetBucketAcl",
            PutBucketAcl => "PutBucketAcl",
            GetBucketOwnershipControls => "GetBucketOwnershipControls",
            PutBucketOwnershipControls => "PutBucketOwnershipControls",
            DeleteBucketOwnershipControls => "DeleteBucketOwnershipControls",
            GetBucketEncryption => "GetBucketEncryption",
            PutBucketEncryption => "PutBucketEncryption",
            DeleteBucketEncryption => "DeleteBucketEncryption",
            GetBucketNotificationConfiguration => "GetBucketNotificationConfiguration",
            PutBucketNotificationConfiguration => "PutBucketNotificationConfiguration",
            GetBucketLifecycleConfiguration => "GetBucketLifecycleConfiguration",
            PutBucketLifecycleConfiguration => "PutBucketLifecycleConfiguration",
            DeleteBucketLifecycle => "DeleteBucketLifecycle",
            PostObject => "PostObject",
            PutObject => "PutObject",
            CopyObject => "CopyObject",
            GetObject => "GetObject",
            HeadObject => "HeadObject",
            DeleteObject => "DeleteObject",
            GetObjectAttributes => "GetObjectAttributes",
            CreateMultipartUpload => "CreateMultipartUpload",
            UploadPart => "UploadPart",
            UploadPartCopy => "UploadPartCopy",
            CompleteMultipartUpload => "CompleteMultipartUpload",
            AbortMultipartUpload => "AbortMultipartUpload",
            ListParts => "ListParts",
            GetObjectTagging => "GetObjectTagging",
            PutObjectTagging => "PutObjectTagging",
            DeleteObjectTagging => "DeleteObjectTagging",
            GetObjectAcl => "GetObjectAcl",
            PutObjectAcl => "PutObjectAcl",
            Options => "Options",
        }
    }

    /// Whether authorizing this operation may depend on the existing object
    /// (`s3:ExistingObjectTag/…` conditions, the object's ACL), so its row is read first.
    pub fn reads_existing_object(self) -> bool {
        use Op::*;
        matches!(
            self,
            GetObject
                | HeadObject
                | GetObjectTagging
                | PutObjectTagging
                | DeleteObjectTagging
                | GetObjectAcl
                | PutObjectAcl
        )
    }

    /// The IAM action this operation is authorized as.
    pub fn action(self) -> &'static str {
        use Op::*;
        match self {
            ListBuckets => "s3:ListAllMyBuckets",
            CreateBucket => "s3:CreateBucket",
            DeleteBucket => "s3:DeleteBucket",
            HeadBucket | ListObjects | ListObjectsV2 => "s3:ListBucket",
            GetBucketLocation => "s3:GetBucketLocation",
            ListObjectVersions => "s3:ListBucketVersions",
            ListMultipartUploads => "s3:ListBucketMultipartUploads",
            DeleteObjects | DeleteObject => "s3:DeleteObject",
            GetBucketCors => "s3:GetBucketCORS",
            PutBucketCors | DeleteBucketCors => "s3:PutBucketCORS",
            GetPublicAccessBlock => "s3:GetBucketPublicAccessBlock",
            PutPublicAccessBlock | DeletePublicAccessBlock => "s3:PutBucketPublicAccessBlock",
            GetBucketPolicy => "s3:GetBucketPolicy",
            PutBucketPolicy => "s3:PutBucketPolicy",
            DeleteBucketPolicy => "s3:DeleteBucketPolicy",
            GetBucketPolicyStatus => "s3:GetBucketPolicyStatus",
            GetBucketVersioning => "s3:GetBucketVersioning",
            PutBucketVersioning => "s3:PutBucketVersioning",
            GetBucketTagging => "s3:GetBucketTagging",
            PutBucketTagging | DeleteBucketTagging => "s3:PutBucketTagging",
            GetBucketAcl => "s3:GetBucketAcl",
            PutBucketAcl => "s3:PutBucketAcl",
            GetBucketOwnershipControls => "s3:GetBucketOwnershipControls",
            PutBucketOwnershipControls | DeleteBucketOwnershipControls => {
                "s3:PutBucketOwnershipControls"
            }
            GetBucketEncryption => "s3:GetEncryptionConfiguration",
            PutBucketEncryption | DeleteBucketEncryption => "s3:PutEncryptionConfiguration",
            GetBucketNotificationConfiguration => "s3:GetBucketNotification",
            PutBucketNotificationConfiguration => "s3:PutBucketNotification",
            GetBucketLifecycleConfiguration => "s3:GetLifecycleConfiguration",
            PutBucketLifecycleConfiguration | DeleteBucketLifecycle => {
                "s3:PutLifecycleConfiguration"
            }
            PostObject
            | PutObject
            | CopyObject
            | CreateMultipartUpload
            | UploadPart
            | UploadPartCopy
            | CompleteMultipartUpload => "s3:PutObject",
            GetObject | HeadObject => "s3:GetObject",
            GetObjectAttributes => "s3:GetObjectAttributes",
            AbortMultipartUpload => "s3:AbortMultipartUpload",
            ListParts => "s3:ListMultipartUploadParts",
            GetObjectTagging => "s3:GetObjectTagging",
            PutObjectTagging => "s3:PutObjectTagging",
            DeleteObjectTagging => "s3:DeleteObjectTagging",
            GetObjectAcl => "s3:GetObjectAcl",
            PutObjectAcl => "s3:PutObjectAcl",
            Options => "",
        }
    }

    /// True for operations on an object (resource ARN `bucket/key`).
    pub fn is_object_op(self) -> bool {
        use Op::*;
        matches!(
            self,
            PutObject
                | CopyObject
                | GetObject
                | HeadObject
                | DeleteObject
                | GetObjectAttributes
                | CreateMultipartUpload
                | UploadPart
                | UploadPartCopy
                | CompleteMultipartUpload
                | AbortMultipartUpload
                | ListParts
                | GetObjectTagging
                | PutObjectTagging
                | DeleteObjectTagging
                | GetObjectAcl
                | PutObjectAcl
        )
    }
}

/// A routed request.
#[derive(Debug, Clone)]
pub struct Route {
    /// The operation.
    pub op: Op,
    /// Bucket name, if the request addresses one.
    pub bucket: Option<String>,
    /// Decoded object key, if any.
    pub key: Option<String>,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
}

impl Route {
    /// First value of a query parameter.
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// Whether a query parameter is present (with or without value).
    pub fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }
    /// The IAM resource ARN.
    pub fn resource_arn(&self) -> String {
        match (&self.bucket, &self.key) {
            (Some(b), Some(k)) if self.op.is_object_op() => format!("arn:aws:s3:::{b}/{k}"),
            (Some(b), _) => format!("arn:aws:s3:::{b}"),
            // ListAllMyBuckets: AWS matches it against `arn:aws:s3:::*` (and `*`).
            _ => "arn:aws:s3:::*".to_owned(),
        }
    }
    /// The `Resource` element of error documents: the request path.
    pub fn resource_path(&self) -> String {
        match (&self.bucket, &self.key) {
            (Some(b), Some(k)) => format!("/{b}/{k}"),
            (Some(b), None) => format!("/{b}"),
            _ => "/".to_owned(),
        }
    }
}

/// Decode a query string into ordered (name, value) pairs (`+` is a space in values, as
/// browsers and SDKs send form-encoded queries).
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

fn decode_component(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_decode_str(&s).decode_utf8_lossy().into_owned()
}

/// Split the request target into bucket and key. With `domain` set, a Host of
/// `<bucket>.<domain>` selects virtual-host style.
pub fn split_target(
    host: Option<&str>,
    domain: Option<&str>,
    raw_path: &str,
) -> S3Result<(Option<String>, Option<String>)> {
    let path = percent_decode_str(raw_path)
        .decode_utf8()
        .map_err(|_| S3Error::invalid_argument("The request path is not valid UTF-8."))?;
    let path = path.strip_prefix('/').unwrap_or(&path);
    if let (Some(host), Some(domain)) = (host, domain) {
        let host = host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        if let Some(bucket) = host.strip_suffix(domain).and_then(|b| b.strip_suffix('.'))
            && !bucket.is_empty()
        {
            let key = (!path.is_empty()).then(|| path.to_owned());
            return Ok((Some(bucket.to_owned()), key));
        }
    }
    if path.is_empty() {
        return Ok((None, None));
    }
    match path.split_once('/') {
        Some((b, k)) if !k.is_empty() => Ok((Some(b.to_owned()), Some(k.to_owned()))),
        Some((b, _)) => Ok((Some(b.to_owned()), None)),
        None => Ok((Some(path.to_owned()), None)),
    }
}

/// Route a request.
pub fn route(
    method: &Method,
    bucket: Option<String>,
    key: Option<String>,
    query: Vec<(String, String)>,
    headers: &http::HeaderMap,
) -> S3Result<Route> {
    let has = |n: &str| query.iter().any(|(k, _)| k == n);
    let copy = headers.contains_key("x-amz-copy-source");
    use Op::*;
    let op = if *method == Method::OPTIONS {
        Options
    } else {
        match (&bucket, &key) {
            (None, _) => match *method {
                Method::GET => ListBuckets,
                _ => {
                    return Err(S3Error::new(
                        "MethodNotAllowed",
                        http::StatusCode::METHOD_NOT_ALLOWED,
                        "The specified method is not allowed against this resource.",
                    ));
                }
            },
            (Some(_), None) => bucket_op(method, &has)?,
            (Some(_), Some(_)) => match *method {
                Method::GET if has("uploadId") => ListParts,
                Method::GET if has("attributes") => GetObjectAttributes,
                Method::GET if has("tagging") => GetObjectTagging,
                Method::GET if has("acl") => GetObjectAcl,
                Method::GET => GetObject,
                Method::HEAD => HeadObject,
                Method::PUT if has("partNumber") && has("uploadId") && copy => UploadPartCopy,
                Method::PUT if has("partNumber") && has("uploadId") => UploadPart,
                Method::PUT if has("tagging") => PutObjectTagging,
                Method::PUT if has("acl") => PutObjectAcl,
                Method::PUT if copy => CopyObject,
                Method::PUT => PutObject,
                Method::POST if has("uploads") => CreateMultipartUpload,
                Method::POST if has("uploadId") => CompleteMultipartUpload,
                Method::DELETE if has("uploadId") => AbortMultipartUpload,
                Method::DELETE if has("tagging") => DeleteObjectTagging,
                Method::DELETE => DeleteObject,
                _ => {
                    return Err(S3Error::new(
                        "MethodNotAllowed",
                        http::StatusCode::METHOD_NOT_ALLOWED,
                        "The specified method is not allowed against this resource.",
                    ));
                }
            },
        }
    };
    Ok(Route {
        op,
        bucket,
        key,
        query,
    })
}

fn bucket_op(method: &Method, has: &dyn Fn(&str) -> bool) -> S3Result<Op> {
    use Op::*;
    let sub = |get: Op, put: Op, del: Option<Op>| -> S3Result<Op> {
        match *method {
            Method::GET => Ok(get),
            Method::PUT => Ok(put),
            Method::DELETE => del.ok_or_else(method_not_allowed),
            _ => Err(method_not_allowed()),
        }
    };
    if has("cors") {
        return sub(GetBucketCors, PutBucketCors, Some(DeleteBucketCors));
    }
    if has("publicAccessBlock") {
        return sub(
            GetPublicAccessBlock,
            PutPublicAccessBlock,
            Some(DeletePublicAccessBlock),
        );
    }
    if has("policyStatus") {
        return sub(GetBucketPolicyStatus, GetBucketPolicyStatus, None);
    }
    if has("policy") {
        return sub(GetBucketPolicy, PutBucketPolicy, Some(DeleteBucketPolicy));
    }
    if has("versioning") {
        return sub(GetBucketVersioning, PutBucketVersioning, None);
    }
    if has("tagging") {
        return sub(
            GetBucketTagging,
            PutBucketTagging,
            Some(DeleteBucketTagging),
        );
    }
    if has("acl") {
        return sub(GetBucketAcl, PutBucketAcl, None);
    }
    if has("ownershipControls") {
        return sub(
            GetBucketOwnershipControls,
            PutBucketOwnershipControls,
            Some(DeleteBucketOwnershipControls),
        );
    }
    if has("encryption") {
        return sub(
            GetBucketEncryption,
            PutBucketEncryption,
            Some(DeleteBucketEncryption),
        );
    }
    if has("notification") {
        return sub(
            GetBucketNotificationConfiguration,
            PutBucketNotificationConfiguration,
            None,
        );
    }
    if has("lifecycle") {
        return sub(
            GetBucketLifecycleConfiguration,
            PutBucketLifecycleConfiguration,
            Some(DeleteBucketLifecycle),
        );
    }
    Ok(match *method {
        Method::GET if has("location") => GetBucketLocation,
        Method::GET if has("versions") => ListObjectVersions,
        Method::GET if has("uploads") => ListMultipartUploads,
        Method::GET if has("list-type") => ListObjectsV2,
        Method::GET => ListObjects,
        Method::HEAD => HeadBucket,
        Method::PUT => CreateBucket,
        Method::DELETE => DeleteBucket,
        Method::POST if has("delete") => DeleteObjects,
        Method::POST => PostObject,
        _ => return Err(method_not_allowed()),
    })
}

fn method_not_allowed() -> S3Error {
    S3Error::new(
        "MethodNotAllowed",
        http::StatusCode::METHOD_NOT_ALLOWED,
        "The specified method is not allowed against this resource.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(method: &str, target: &str, copy: bool) -> (Op, String) {
        let (path, q) = target.split_once('?').unwrap_or((target, ""));
        let (b, k) = split_target(None, None, path).unwrap();
        let mut h = http::HeaderMap::new();
        if copy {
            h.insert("x-amz-copy-source", "/b/src".parse().unwrap());
        }
        let route = route(&method.parse().unwrap(), b, k, parse_query(q), &h).unwrap();
        (route.op, route.resource_arn())
    }

    /// One line per operation: method, target, copy header → op, action, resource.
    #[test]
    fn routing_table() {
        use Op::*;
        let table: &[(&str, &str, bool, Op, &str, &str)] = &[
            (
                "GET",
                "/",
                false,
                ListBuckets,
                "s3:ListAllMyBuckets",
                "arn:aws:s3:::*",
            ),
            (
                "PUT",
                "/b",
                false,
                CreateBucket,
                "s3:CreateBucket",
                "arn:aws:s3:::b",
            ),
            (
                "DELETE",
                "/b",
                false,
                DeleteBucket,
                "s3:DeleteBucket",
                "arn:aws:s3:::b",
            ),
            (
                "HEAD",
                "/b",
                false,
                HeadBucket,
                "s3:ListBucket",
                "arn:aws:s3:::b",
            ),
            (
                "GET",
                "/b?location",
                false,
                GetBucketLocation,
                "s3:GetBucketLocation",
                "arn:aws:s3:::b",
            ),
            (
                "GET",
                "/b",
                false,
                ListObjects,
                "s3:ListBucket",
                "arn:aws:s3:::b",
            ),
            (
                "GET",
                "/b?list-type=2",
                false,
                ListObjectsV2,
                "s3:ListBucket",
                "arn:aws:s3:::b",
            ),
            (
                "GET",
                "/b?versions",
                false,
                ListObjectVersions,
                "s3:ListBucketVersions",
                "arn:aws:s3:::b",
            ),
            (
                "GET",
                "/b?uploads",
                false,
                ListMultipartUploads,
                "s3:ListBucketMultipartUploads",
                "arn:aws:s3:::b",
            ),
            (
                "POST",
                "/b?delete",
                false,
                DeleteObjects,
                "s3:DeleteObject",
                "arn:aws:s3:::b",
            ),
            (
                "PUT",
                "/b?cors",
                false,
                PutBucketCors,
                "s3:PutBucketCORS",
                "arn:aws:s3:::b",
            ),
            (
                "DELETE",
                "/b?cors",
                false,
                DeleteBucketCors,
                "s3:PutBucketCORS",
                "arn:aws:s3:::b",
            ),
            (
                "GET",
                "/b?policy",
                false,
                GetBucketPolicy,
                "s3:GetBucketPolicy",
                "arn:aws:s3:::b",
            ),
            (
                "PUT",
                "/b?publicAccessBlock",
                false,
                PutPublicAccessBlock,
                "s3:PutBucketPublicAccessBlock",
                "arn:aws:s3:::b",
            ),
            (
                "POST",
                "/b",
                false,
                PostObject,
                "s3:PutObject",
                "arn:aws:s3:::b",
            ),
            (
                "PUT",
                "/b/k",
                false,
                PutObject,
                "s3:PutObject",
                "arn:aws:s3:::b/k",
            ),
            (
                "PUT",
                "/b/k",
                true,
                CopyObject,
                "s3:PutObject",
                "arn:aws:s3:::b/k",
            ),
            (
                "GET",
                "/b/a/b%3Ac",
                false,
                GetObject,
                "s3:GetObject",
                "arn:aws:s3:::b/a/b:c",
            ),
            (
                "HEAD",
                "/b/k",
                false,
                HeadObject,
                "s3:GetObject",
                "arn:aws:s3:::b/k",
            ),
            (
                "DELETE",
                "/b/k",
                false,
                DeleteObject,
                "s3:DeleteObject",
                "arn:aws:s3:::b/k",
            ),
            (
                "GET",
                "/b/k?attributes",
                false,
                GetObjectAttributes,
                "s3:GetObjectAttributes",
                "arn:aws:s3:::b/k",
            ),
            (
                "POST",
                "/b/k?uploads",
                false,
                CreateMultipartUpload,
                "s3:PutObject",
                "arn:aws:s3:::b/k",
            ),
            (
                "PUT",
                "/b/k?partNumber=1&uploadId=u",
                false,
                UploadPart,
                "s3:PutObject",
                "arn:aws:s3:::b/k",
            ),
            (
                "PUT",
                "/b/k?partNumber=1&uploadId=u",
                true,
                UploadPartCopy,
                "s3:PutObject",
                "arn:aws:s3:::b/k",
            ),
            (
                "POST",
                "/b/k?uploadId=u",
                false,
                CompleteMultipartUpload,
                "s3:PutObject",
                "arn:aws:s3:::b/k",
            ),
            (
                "DELETE",
                "/b/k?uploadId=u",
                false,
                AbortMultipartUpload,
                "s3:AbortMultipartUpload",
                "arn:aws:s3:::b/k",
            ),
            (
                "GET",
                "/b/k?uploadId=u",
                false,
                ListParts,
                "s3:ListMultipartUploadParts",
                "arn:aws:s3:::b/k",
            ),
            (
                "PUT",
                "/b/k?tagging",
                false,
                PutObjectTagging,
                "s3:PutObjectTagging",
                "arn:aws:s3:::b/k",
            ),
        ];
        for (m, t, copy, op, action, arn) in table {
            let (got, got_arn) = r(m, t, *copy);
            assert_eq!(got, *op, "{m} {t}");
            assert_eq!(got.action(), *action, "{m} {t}");
            assert_eq!(got_arn, *arn, "{m} {t}");
        }
    }

    #[test]
    fn virtual_host() {
        let (b, k) = split_target(Some("photos.s3.local:9000"), Some("s3.local"), "/a/b").unwrap();
        assert_eq!((b.as_deref(), k.as_deref()), (Some("photos"), Some("a/b")));
        let (b, k) = split_target(Some("s3.local:9000"), Some("s3.local"), "/photos/x").unwrap();
        assert_eq!((b.as_deref(), k.as_deref()), (Some("photos"), Some("x")));
    }

    #[test]
    fn keys_with_odd_characters() {
        let (_, k) = split_target(None, None, "/b/..%2F..%2Fetc%2Fpasswd").unwrap();
        assert_eq!(k.as_deref(), Some("../../etc/passwd"));
        let (_, k) = split_target(None, None, "/b/a//b").unwrap();
        assert_eq!(k.as_deref(), Some("a//b"));
    }
}
