//! Access control lists: canned ACLs and explicit grant lists, as authorization grants (older
//! clients, tools and the S3 suites still rely on them).
//!
//! An ACL is stored either as its canned name (`acl` in the bucket configuration or the object's
//! stored headers) or as the grant list it was given (`grants`); a canned name is expanded into
//! grants when read. ACLs are off under `BucketOwnerEnforced` (the default for new buckets), and
//! public grants are ignored under the public-access block's `IgnorePublicAcls`.
//!
//! Grantees: a canonical user id (the account's own 64-character owner id, or an IAM user's id,
//! which cubby uses as that user's canonical id), or one of S3's groups. E-mail grantees are
//! refused as S3 refuses an address that names no account.

use crate::S3Error;
use crate::auth::{Caller, CallerKind};
use crate::config::BucketConfig;
use crate::xml::{elem, end, escape_into, start};
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

/// The group of every requester, signed or not.
pub(crate) const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
/// The group of every signed requester.
pub(crate) const AUTHENTICATED_USERS: &str =
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
/// S3's log-delivery group.
pub(crate) const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

/// Canned ACL names S3 accepts.
const CANNED: [&str; 8] = [
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "aws-exec-read",
    "log-delivery-write",
];

/// What a grant permits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    /// List the bucket / read the object.
    #[serde(rename = "READ")]
    Read,
    /// Create, overwrite and delete objects in the bucket.
    #[serde(rename = "WRITE")]
    Write,
    /// Read the ACL.
    #[serde(rename = "READ_ACP")]
    ReadAcp,
    /// Write the ACL.
    #[serde(rename = "WRITE_ACP")]
    WriteAcp,
    /// All of the above.
    #[serde(rename = "FULL_CONTROL")]
    FullControl,
}

impl Permission {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "READ" => Permission::Read,
            "WRITE" => Permission::Write,
            "READ_ACP" => Permission::ReadAcp,
            "WRITE_ACP" => Permission::WriteAcp,
            "FULL_CONTROL" => Permission::FullControl,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
            Permission::FullControl => "FULL_CONTROL",
        }
    }

    /// The permission an IAM action needs (`None`: no ACL permission grants it). Object
    /// actions are answered by the object's ACL, bucket actions by the bucket's.
    fn needed_for(action: &str, on_object: bool) -> Option<Self> {
        Some(match (action, on_object) {
            ("s3:GetObject" | "s3:GetObjectVersion", true) => Permission::Read,
            ("s3:GetObjectAcl" | "s3:GetObjectVersionAcl", true) => Permission::ReadAcp,
            ("s3:PutObjectAcl" | "s3:PutObjectVersionAcl", true) => Permission::WriteAcp,
            (
                "s3:ListBucket" | "s3:ListBucketVersions" | "s3:ListBucketMultipartUploads",
                false,
            ) => Permission::Read,
            ("s3:PutObject" | "s3:DeleteObject" | "s3:AbortMultipartUpload", false) => {
                Permission::Write
            }
            ("s3:GetBucketAcl", false) => Permission::ReadAcp,
            ("s3:PutBucketAcl", false) => Permission::WriteAcp,
            _ => return None,
        })
    }

    fn covers(self, needed: Permission) -> bool {
        self == needed || self == Permission::FullControl
    }
}

/// Who a grant is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Grantee {
    /// A canonical user id.
    CanonicalUser {
        /// The id.
        id: String,
        /// Its display name, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display_name: Option<String>,
    },
    /// One of S3's predefined groups, by URI.
    Group {
        /// The group URI.
        uri: String,
    },
}

/// One grant of an ACL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// To whom.
    pub grantee: Grantee,
    /// What.
    pub permission: Permission,
}

impl Grant {
    fn owner(owner_id: &str, permission: Permission) -> Self {
        Grant {
            grantee: Grantee::CanonicalUser {
                id: owner_id.to_owned(),
                display_name: Some("cubby".into()),
            },
            permission,
        }
    }

    fn group(uri: &str, permission: Permission) -> Self {
        Grant {
            grantee: Grantee::Group {
                uri: uri.to_owned(),
            },
            permission,
        }
    }

    /// Whether the grant reaches everyone or every signed requester.
    fn is_public(&self) -> bool {
        matches!(&self.grantee, Grantee::Group { uri } if uri == ALL_USERS || uri == AUTHENTICATED_USERS)
    }
}

/// An ACL as a request sets it, or as it is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AclSpec {
    /// A canned ACL by name.
    Canned(String),
    /// An explicit grant list.
    Grants(Vec<Grant>),
}

impl AclSpec {
    /// Rebuild from the stored pair (`acl`, `grants`); neither means `private`.
    pub(crate) fn stored(canned: Option<&str>, grants: Option<&[Grant]>) -> Self {
        match (grants, canned) {
            (Some(g), _) => AclSpec::Grants(g.to_vec()),
            (None, Some(c)) => AclSpec::Canned(c.to_owned()),
            (None, None) => AclSpec::Canned("private".into()),
        }
    }

    /// Split into the stored pair.
    pub(crate) fn into_stored(self) -> (Option<String>, Option<Vec<Grant>>) {
        match self {
            AclSpec::Canned(c) => (Some(c), None),
            AclSpec::Grants(g) => (None, Some(g)),
        }
    }

    /// The grants this ACL amounts to; `owner_id` is the account's canonical id.
    pub(crate) fn grants(&self, owner_id: &str) -> Vec<Grant> {
        match self {
            AclSpec::Grants(g) => g.clone(),
            AclSpec::Canned(name) => {
                use Permission::*;
                let mut g = vec![Grant::owner(owner_id, FullControl)];
                match name.as_str() {
                    "public-read" => g.push(Grant::group(ALL_USERS, Read)),
                    "public-read-write" => {
                        g.push(Grant::group(ALL_USERS, Read));
                        g.push(Grant::group(ALL_USERS, Write));
                    }
                    "authenticated-read" => g.push(Grant::group(AUTHENTICATED_USERS, Read)),
                    "log-delivery-write" => {
                        g.push(Grant::group(LOG_DELIVERY, Write));
                        g.push(Grant::group(LOG_DELIVERY, ReadAcp));
                    }
                    // The bucket owner is the account, which already holds FULL_CONTROL.
                    _ => {}
                }
                g
            }
        }
    }

    /// Whether any grant reaches the public (for `BlockPublicAcls`).
    pub(crate) fn is_public(&self) -> bool {
        match self {
            AclSpec::Canned(c) => matches!(
                c.as_str(),
                "public-read" | "public-read-write" | "authenticated-read"
            ),
            AclSpec::Grants(g) => g.iter().any(Grant::is_public),
        }
    }

    /// Whether the ACL gives nothing beyond the owner's full control (what
    /// `BucketOwnerEnforced` still accepts).
    pub(crate) fn owner_only(&self, owner_id: &str) -> bool {
        match self {
            AclSpec::Canned(c) => matches!(c.as_str(), "private" | "bucket-owner-full-control"),
            AclSpec::Grants(g) => g.iter().all(|g| {
                g.permission == Permission::FullControl
                    && matches!(&g.grantee, Grantee::CanonicalUser { id, .. } if id == owner_id)
            }),
        }
    }

    /// Canonical user ids named by the grants (to be checked against known principals).
    pub(crate) fn user_ids(&self) -> impl Iterator<Item = &str> {
        let grants: &[Grant] = match self {
            AclSpec::Grants(g) => g,
            AclSpec::Canned(_) => &[],
        };
        grants.iter().filter_map(|g| match &g.grantee {
            Grantee::CanonicalUser { id, .. } => Some(id.as_str()),
            Grantee::Group { .. } => None,
        })
    }

    /// Fill in display names (from a lookup of canonical ids); unknown ids are refused as S3
    /// refuses them.
    pub(crate) fn name_users(
        &mut self,
        mut display_name: impl FnMut(&str) -> Option<String>,
    ) -> crate::S3Result<()> {
        if let AclSpec::Grants(grants) = self {
            for g in grants {
                if let Grantee::CanonicalUser {
                    id,
                    display_name: d,
                } = &mut g.grantee
                {
                    match display_name(id) {
                        Some(name) => *d = Some(name),
                        None => return Err(S3Error::invalid_argument("Invalid id")),
                    }
                }
            }
        }
        Ok(())
    }
}

fn malformed_acl() -> S3Error {
    S3Error::new(
        "MalformedACLError",
        StatusCode::BAD_REQUEST,
        "The XML you provided was not well-formed or did not validate against our published schema",
    )
}

fn unresolvable_email() -> S3Error {
    S3Error::new(
        "UnresolvableGrantByEmailAddress",
        StatusCode::BAD_REQUEST,
        "The e-mail address you provided does not match any account on record.",
    )
}

/// The grant headers, with the permission each gives.
const GRANT_HEADERS: [(&str, Permission); 5] = [
    ("x-amz-grant-read", Permission::Read),
    ("x-amz-grant-write", Permission::Write),
    ("x-amz-grant-read-acp", Permission::ReadAcp),
    ("x-amz-grant-write-acp", Permission::WriteAcp),
    ("x-amz-grant-full-control", Permission::FullControl),
];

/// The ACL a request's headers set: `x-amz-acl` or the `x-amz-grant-*` headers (not both), or
/// `None` when it sets none.
pub(crate) fn from_headers(headers: &HeaderMap) -> crate::S3Result<Option<AclSpec>> {
    let text = |name: &str| -> crate::S3Result<Option<&str>> {
        headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .map_err(|_| S3Error::invalid_argument(format!("Invalid {name} header")))
            })
            .transpose()
    };
    let canned = text("x-amz-acl")?;
    let mut grants = Vec::new();
    let mut any_grant_header = false;
    for (name, permission) in GRANT_HEADERS {
        if let Some(v) = text(name)? {
            any_grant_header = true;
            for grantee in parse_grantee_list(v)? {
                grants.push(Grant {
                    grantee,
                    permission,
                });
            }
        }
    }
    match (canned, any_grant_header) {
        (Some(_), true) => Err(S3Error::invalid_request(
            "Specifying both Canned ACLs and Header Grants is not allowed",
        )),
        (Some(c), false) => {
            if !CANNED.contains(&c) {
                return Err(S3Error::invalid_argument("Invalid canned ACL"));
            }
            Ok(Some(AclSpec::Canned(c.to_owned())))
        }
        (None, true) => Ok(Some(AclSpec::Grants(grants))),
        (None, false) => Ok(None),
    }
}

/// Parse `id="…", uri="…", emailAddress="…"` (values quoted or not).
fn parse_grantee_list(v: &str) -> crate::S3Result<Vec<Grantee>> {
    let bad = || S3Error::invalid_argument("Invalid grant header value");
    let mut out = Vec::new();
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (kind, value) = item.split_once('=').ok_or_else(bad)?;
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(value);
        if value.is_empty() {
            return Err(bad());
        }
        out.push(match kind.trim() {
            k if k.eq_ignore_ascii_case("id") => Grantee::CanonicalUser {
                id: value.to_owned(),
                display_name: None,
            },
            k if k.eq_ignore_ascii_case("uri") => group(value)?,
            k if k.eq_ignore_ascii_case("emailAddress") => return Err(unresolvable_email()),
            _ => return Err(bad()),
        });
    }
    Ok(out)
}

fn group(uri: &str) -> crate::S3Result<Grantee> {
    if [ALL_USERS, AUTHENTICATED_USERS, LOG_DELIVERY].contains(&uri) {
        Ok(Grantee::Group {
            uri: uri.to_owned(),
        })
    } else {
        Err(S3Error::invalid_argument("Invalid group uri"))
    }
}

#[derive(Deserialize)]
struct PolicyXml {
    #[serde(rename = "Owner")]
    owner: Option<OwnerXml>,
    #[serde(rename = "AccessControlList")]
    list: Option<ListXml>,
}
#[derive(Deserialize)]
struct OwnerXml {
    #[serde(rename = "ID")]
    id: Option<String>,
}
#[derive(Deserialize)]
struct ListXml {
    #[serde(rename = "Grant", default)]
    grants: Vec<GrantXml>,
}
#[derive(Deserialize)]
struct GrantXml {
    #[serde(rename = "Grantee")]
    grantee: GranteeXml,
    #[serde(rename = "Permission")]
    permission: String,
}
#[derive(Deserialize)]
struct GranteeXml {
    #[serde(rename = "ID")]
    id: Option<String>,
    #[serde(rename = "URI")]
    uri: Option<String>,
    #[serde(rename = "EmailAddress")]
    email: Option<String>,
}

/// Parse an `AccessControlPolicy` body. Its `Owner`, when given, must be the bucket's owner.
pub(crate) fn from_xml(body: &[u8], owner_id: &str) -> crate::S3Result<AclSpec> {
    let text = std::str::from_utf8(body).map_err(|_| malformed_acl())?;
    let doc: PolicyXml = quick_xml::de::from_str(text).map_err(|_| malformed_acl())?;
    if let Some(id) = doc.owner.and_then(|o| o.id)
        && id.trim() != owner_id
    {
        return Err(S3Error::access_denied());
    }
    let list = doc.list.ok_or_else(malformed_acl)?;
    let mut grants = Vec::with_capacity(list.grants.len());
    for g in list.grants {
        let permission = Permission::parse(g.permission.trim()).ok_or_else(malformed_acl)?;
        let grantee = match (g.grantee.id, g.grantee.uri, g.grantee.email) {
            (Some(id), None, None) if !id.trim().is_empty() => Grantee::CanonicalUser {
                id: id.trim().to_owned(),
                display_name: None,
            },
            (None, Some(uri), None) => group(uri.trim())?,
            (None, None, Some(_)) => return Err(unresolvable_email()),
            _ => return Err(malformed_acl()),
        };
        grants.push(Grant {
            grantee,
            permission,
        });
    }
    Ok(AclSpec::Grants(grants))
}

/// The `AccessControlPolicy` document of an ACL.
pub(crate) fn to_xml(acl: &AclSpec, owner_id: &str) -> String {
    let mut x = start("AccessControlPolicy");
    x.push_str("<Owner>");
    elem(&mut x, "ID", owner_id);
    elem(&mut x, "DisplayName", "cubby");
    x.push_str("</Owner><AccessControlList>");
    for g in acl.grants(owner_id) {
        x.push_str("<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" ");
        match &g.grantee {
            Grantee::CanonicalUser { id, display_name } => {
                x.push_str("xsi:type=\"CanonicalUser\">");
                elem(&mut x, "ID", id);
                if let Some(d) = display_name {
                    elem(&mut x, "DisplayName", d);
                }
            }
            Grantee::Group { uri } => {
                x.push_str("xsi:type=\"Group\"><URI>");
                escape_into(&mut x, uri);
                x.push_str("</URI>");
            }
        }
        x.push_str("</Grantee>");
        elem(&mut x, "Permission", g.permission.as_str());
        x.push_str("</Grant>");
    }
    x.push_str("</AccessControlList>");
    end(x, "AccessControlPolicy")
}

/// The stored ACL of an object, for authorization.
pub(crate) struct ObjectAcl<'a> {
    /// Its canned name, if stored as one.
    pub canned: Option<&'a str>,
    /// Its grants, if stored as a list.
    pub grants: Option<&'a [Grant]>,
}

/// Whether the bucket's ACL, or the object's when given, grants `action` to `caller`.
pub(crate) fn grants(
    cfg: &BucketConfig,
    object: Option<ObjectAcl<'_>>,
    action: &str,
    caller: &Caller,
    owner_id: &str,
) -> bool {
    if cfg.ownership.as_deref() == Some("BucketOwnerEnforced") {
        return false;
    }
    let on_object = object.is_some();
    let Some(needed) = Permission::needed_for(action, on_object) else {
        return false;
    };
    let acl = match object {
        Some(o) => AclSpec::stored(o.canned, o.grants),
        None => AclSpec::stored(cfg.acl.as_deref(), cfg.acl_grants.as_deref()),
    };
    let ignore_public = cfg
        .public_access_block
        .is_some_and(|p| p.ignore_public_acls);
    let reaches = |g: &Grant| match &g.grantee {
        Grantee::Group { uri } if uri == ALL_USERS => !ignore_public,
        Grantee::Group { uri } if uri == AUTHENTICATED_USERS => {
            !ignore_public && caller.kind != CallerKind::Anonymous
        }
        Grantee::Group { .. } => false,
        Grantee::CanonicalUser { id, .. } => {
            caller.kind != CallerKind::Anonymous
                && (*id == caller.principal_id
                    || (caller.kind == CallerKind::Root && id == owner_id))
        }
    };
    acl.grants(owner_id)
        .iter()
        .any(|g| g.permission.covers(needed) && reaches(g))
}

/// Check an ACL set on a write (CreateBucket, PutObject, PutBucketAcl, PutObjectAcl…) against
/// the bucket's settings: only the owner's full control under `BucketOwnerEnforced`, nothing
/// public under `BlockPublicAcls`.
pub(crate) fn check_request_acl(
    cfg: &BucketConfig,
    acl: Option<&AclSpec>,
    owner_id: &str,
) -> crate::S3Result<()> {
    let Some(acl) = acl else {
        return Ok(());
    };
    if cfg.ownership.as_deref() == Some("BucketOwnerEnforced") && !acl.owner_only(owner_id) {
        return Err(not_supported());
    }
    if acl.is_public() && cfg.public_access_block.is_some_and(|p| p.block_public_acls) {
        return Err(S3Error::access_denied());
    }
    Ok(())
}

/// S3's answer to an ACL under `BucketOwnerEnforced`.
pub(crate) fn not_supported() -> S3Error {
    S3Error::new(
        "AccessControlListNotSupported",
        StatusCode::BAD_REQUEST,
        "The bucket does not allow ACLs",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(kind: CallerKind, id: &str) -> Caller {
        Caller {
            kind,
            arn: "arn".into(),
            principal_id: id.into(),
            display_name: id.into(),
            access_key_id: None,
            expires_at: None,
            detail: None,
        }
    }

    fn legacy() -> BucketConfig {
        BucketConfig {
            ownership: Some("ObjectWriter".into()),
            ..BucketConfig::default()
        }
    }

    #[test]
    fn grant_headers_parse_and_exclude_canned() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-amz-grant-read",
            "id=\"AIDAEXAMPLE\", uri=\"http://acs.amazonaws.com/groups/global/AllUsers\""
                .parse()
                .unwrap(),
        );
        h.insert("x-amz-grant-write-acp", "id=AIDAOTHER".parse().unwrap());
        let AclSpec::Grants(g) = from_headers(&h).unwrap().unwrap() else {
            panic!("grants expected");
        };
        assert_eq!(g.len(), 3);
        assert_eq!(
            g[1].grantee,
            Grantee::Group {
                uri: ALL_USERS.into()
            }
        );
        assert_eq!(g[2].permission, Permission::WriteAcp);
        h.insert("x-amz-acl", "private".parse().unwrap());
        assert_eq!(from_headers(&h).unwrap_err().code, "InvalidRequest");
        let mut e = HeaderMap::new();
        e.insert(
            "x-amz-grant-read",
            "emailAddress=\"a@b.example\"".parse().unwrap(),
        );
        assert_eq!(
            from_headers(&e).unwrap_err().code,
            "UnresolvableGrantByEmailAddress"
        );
        let mut u = HeaderMap::new();
        u.insert(
            "x-amz-grant-read",
            "uri=http://example.com/x".parse().unwrap(),
        );
        assert_eq!(from_headers(&u).unwrap_err().code, "InvalidArgument");
    }

    #[test]
    fn xml_round_trips_and_checks_the_owner() {
        let owner = "0".repeat(64);
        let acl = AclSpec::Grants(vec![
            Grant::owner(&owner, Permission::FullControl),
            Grant {
                grantee: Grantee::CanonicalUser {
                    id: "AIDAUSER".into(),
                    display_name: Some("alice".into()),
                },
                permission: Permission::Read,
            },
            Grant::group(AUTHENTICATED_USERS, Permission::ReadAcp),
        ]);
        let doc = to_xml(&acl, &owner);
        let back = from_xml(doc.as_bytes(), &owner).unwrap();
        let (_, Some(g)) = back.into_stored() else {
            panic!("grants expected");
        };
        assert_eq!(g.len(), 3);
        assert_eq!(g[2], Grant::group(AUTHENTICATED_USERS, Permission::ReadAcp));
        assert_eq!(
            g[1].grantee,
            Grantee::CanonicalUser {
                id: "AIDAUSER".into(),
                display_name: None
            }
        );
        let other_owner = doc.replace(
            &format!("<ID>{owner}</ID><DisplayName>cubby</DisplayName></Owner>"),
            "<ID>someone</ID></Owner>",
        );
        assert_eq!(
            from_xml(other_owner.as_bytes(), &owner).unwrap_err().code,
            "AccessDenied"
        );
        assert_eq!(
            from_xml(b"<AccessControlPolicy><AccessControlList><Grant><Grantee><ID>x</ID></Grantee><Permission>ALL</Permission></Grant></AccessControlList></AccessControlPolicy>", &owner)
                .unwrap_err()
                .code,
            "MalformedACLError"
        );
    }

    #[test]
    fn grants_decide_by_permission_grantee_and_bucket_settings() {
        let owner = "0".repeat(64);
        let mut cfg = legacy();
        cfg.acl_grants = Some(vec![
            Grant {
                grantee: Grantee::CanonicalUser {
                    id: "AIDAALICE".into(),
                    display_name: None,
                },
                permission: Permission::Read,
            },
            Grant::group(AUTHENTICATED_USERS, Permission::ReadAcp),
        ]);
        let alice = caller(CallerKind::User, "AIDAALICE");
        let bob = caller(CallerKind::User, "AIDABOB");
        let anon = Caller::anonymous();
        assert!(grants(&cfg, None, "s3:ListBucket", &alice, &owner));
        assert!(!grants(&cfg, None, "s3:PutObject", &alice, &owner));
        assert!(!grants(&cfg, None, "s3:ListBucket", &bob, &owner));
        assert!(grants(&cfg, None, "s3:GetBucketAcl", &bob, &owner));
        assert!(!grants(&cfg, None, "s3:GetBucketAcl", &anon, &owner));
        // Bucket grants say nothing about objects, and object grants nothing about the bucket.
        let obj = || ObjectAcl {
            canned: Some("public-read"),
            grants: None,
        };
        assert!(!grants(&cfg, None, "s3:GetObject", &alice, &owner));
        assert!(grants(&cfg, Some(obj()), "s3:GetObject", &anon, &owner));
        assert!(!grants(&cfg, Some(obj()), "s3:PutObjectAcl", &anon, &owner));
        // IgnorePublicAcls drops group grants but keeps user grants.
        cfg.public_access_block = Some(crate::config::PublicAccessBlock {
            ignore_public_acls: true,
            ..Default::default()
        });
        assert!(!grants(&cfg, Some(obj()), "s3:GetObject", &anon, &owner));
        assert!(!grants(&cfg, None, "s3:GetBucketAcl", &bob, &owner));
        assert!(grants(&cfg, None, "s3:ListBucket", &alice, &owner));
        // BucketOwnerEnforced turns ACLs off.
        cfg.ownership = Some("BucketOwnerEnforced".into());
        assert!(!grants(&cfg, None, "s3:ListBucket", &alice, &owner));
    }

    #[test]
    fn owner_enforced_and_block_public_refuse_what_s3_refuses() {
        let owner = "0".repeat(64);
        let mut cfg = legacy();
        let public = AclSpec::Grants(vec![Grant::group(ALL_USERS, Permission::Read)]);
        let own = AclSpec::Grants(vec![Grant::owner(&owner, Permission::FullControl)]);
        assert!(check_request_acl(&cfg, Some(&public), &owner).is_ok());
        cfg.public_access_block = Some(crate::config::PublicAccessBlock {
            block_public_acls: true,
            ..Default::default()
        });
        assert_eq!(
            check_request_acl(&cfg, Some(&public), &owner)
                .unwrap_err()
                .code,
            "AccessDenied"
        );
        cfg.ownership = Some("BucketOwnerEnforced".into());
        assert!(check_request_acl(&cfg, Some(&own), &owner).is_ok());
        assert!(
            check_request_acl(
                &cfg,
                Some(&AclSpec::Canned("bucket-owner-full-control".into())),
                &owner
            )
            .is_ok()
        );
        assert_eq!(
            check_request_acl(&cfg, Some(&AclSpec::Canned("public-read".into())), &owner)
                .unwrap_err()
                .code,
            "AccessControlListNotSupported"
        );
    }
}
