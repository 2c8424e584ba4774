//! Bucket operations and bucket subresources (CORS, public-access block, policy, tags, ACL,
//! ownership, versioning status, raw encryption/notification/lifecycle documents).

use crate::body::{ReqBody, read_small};
use crate::config::{BucketConfig, CorsRule, PublicAccessBlock};
use crate::response::{self, set, xml};
use crate::router::{Op, Route};
use crate::service::{Ctx, S3Service};
use crate::xml::{elem, end, escape_into, iso8601, start};
use crate::{S3Error, S3Result, body::RespBody};
use cubby_meta::{BucketRow, MetaError};
use http::{Response, StatusCode, request::Parts};
use serde::Deserialize;

/// S3's bucket naming rules (the current, strict ones).
pub(crate) fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    if !(3..=63).contains(&b.len()) {
        return false;
    }
    let ok_chars = b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-');
    let edges = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let looks_like_ip = name.split('.').count() == 4
        && name
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()));
    ok_chars
        && edges(b.first())
        && edges(b.last())
        && !name.contains("..")
        && !name.contains(".-")
        && !name.contains("-.")
        && !looks_like_ip
        && !name.starts_with("xn--")
        && !name.starts_with("sthree-")
        && !name.ends_with("-s3alias")
        && !name.ends_with("--ol-s3")
}

pub(crate) async fn list_buckets(svc: &S3Service, ctx: &Ctx) -> S3Result<Response<RespBody>> {
    let prefix = ctx.route.q("prefix").unwrap_or("");
    let max: usize = match ctx.route.q("max-buckets") {
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10000).contains(n))
            .ok_or_else(|| S3Error::invalid_argument("Invalid value for max-buckets"))?,
        None => 10000,
    };
    let after = match ctx.route.q("continuation-token") {
        Some(t) => String::from_utf8(
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, t).map_err(
                |_| S3Error::invalid_argument("The continuation token provided is incorrect"),
            )?,
        )
        .map_err(|_| S3Error::invalid_argument("The continuation token provided is incorrect"))?,
        None => String::new(),
    };
    let all = svc.meta.list_buckets().await?;
    let matching: Vec<_> = all
        .into_iter()
        .filter(|b| b.name.starts_with(prefix) && b.name.as_str() > after.as_str())
        .collect();
    let truncated = matching.len() > max;
    let mut x = start("ListAllMyBucketsResult");
    x.push_str("<Owner>");
    elem(&mut x, "ID", &owner_id(svc));
    elem(&mut x, "DisplayName", &ctx.caller.display_name);
    x.push_str("</Owner><Buckets>");
    for b in matching.iter().take(max) {
        x.push_str("<Bucket>");
        elem(&mut x, "Name", &b.name);
        elem(&mut x, "CreationDate", &iso8601(b.created_ms));
        elem(&mut x, "BucketRegion", &svc.cfg.region);
        x.push_str("</Bucket>");
    }
    x.push_str("</Buckets>");
    if truncated && let Some(last) = matching.get(max.saturating_sub(1)) {
        let token = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            last.name.as_bytes(),
        );
        elem(&mut x, "ContinuationToken", &token);
    }
    if !prefix.is_empty() {
        elem(&mut x, "Prefix", prefix);
    }
    Ok(xml(end(x, "ListAllMyBucketsResult")))
}

/// The account's canonical owner id.
pub(crate) fn owner_id(svc: &S3Service) -> String {
    format!("{:0>64}", svc.cfg.account_id)
}

#[derive(Deserialize, Default)]
struct CreateBucketConfiguration {
    #[serde(rename = "LocationConstraint", default)]
    location_constraint: Option<String>,
}

/// The object-ownership settings S3 knows.
const OBJECT_OWNERSHIPS: [&str; 3] = [
    "BucketOwnerEnforced",
    "BucketOwnerPreferred",
    "ObjectWriter",
];

/// S3's answer to an ACL granting others on a bucket under (or switching to) BucketOwnerEnforced.
fn acl_with_owner_enforced() -> S3Error {
    S3Error::new(
        "InvalidBucketAclWithObjectOwnership",
        StatusCode::BAD_REQUEST,
        "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
    )
}

pub(crate) async fn create_bucket(
    svc: &S3Service,
    ctx: &Ctx,
    body: ReqBody,
) -> S3Result<Response<RespBody>> {
    let name = ctx.bucket()?.to_owned();
    if !valid_bucket_name(&name) {
        return Err(S3Error::new(
            "InvalidBucketName",
            StatusCode::BAD_REQUEST,
            "The specified bucket is not valid.",
        )
        .with("BucketName", name));
    }
    let raw = read_small(body, 64 * 1024).await?;
    if !raw.iter().all(u8::is_ascii_whitespace) {
        let c: CreateBucketConfiguration = crate::xml::parse(&raw)?;
        if let Some(loc) = c.location_constraint.filter(|l| !l.is_empty())
            && loc != svc.cfg.region
        {
            return Err(S3Error::new(
                "IllegalLocationConstraintException",
                StatusCode::BAD_REQUEST,
                format!(
                    "The {loc} location constraint is incompatible for the region specific endpoint this request was sent to."
                ),
            ));
        }
    }
    let mut cfg = BucketConfig {
        region: svc.cfg.region.clone(),
        ..Default::default()
    };
    // Before 2023 a bucket had no ownership controls unless created with some (which acts as
    // ObjectWriter); since then it has BucketOwnerEnforced.
    let ownership = match ctx.header("x-amz-object-ownership") {
        Some(o) => Some(o.to_owned()),
        None if svc.cfg.legacy_bucket_defaults => None,
        None => Some("BucketOwnerEnforced".to_owned()),
    };
    if let Some(o) = &ownership
        && !OBJECT_OWNERSHIPS.contains(&o.as_str())
    {
        return Err(S3Error::invalid_argument(
            "Invalid x-amz-object-ownership header",
        ));
    }
    if let Some(mut acl) = crate::acl::from_headers(&ctx.parts.headers)? {
        if ownership.as_deref() == Some("BucketOwnerEnforced") && !acl.owner_only(&owner_id(svc)) {
            return Err(acl_with_owner_enforced());
        }
        svc.name_grantees(&mut acl).await?;
        (cfg.acl, cfg.acl_grants) = acl.into_stored();
    }
    cfg.ownership = ownership;
    if !svc.cfg.legacy_bucket_defaults {
        cfg.public_access_block = Some(PublicAccessBlock {
            block_public_acls: true,
            ignore_public_acls: true,
            block_public_policy: true,
            restrict_public_buckets: true,
        });
    }
    let row = BucketRow {
        name: name.clone(),
        created_ms: ctx.now_ms(),
        owner: owner_id(svc),
        config: cfg.to_json(),
    };
    match svc.meta.create_bucket(&row).await {
        Ok(()) => {}
        // us-east-1 keeps S3's legacy answer: re-creating your own bucket succeeds (and changes
        // nothing); other regions answer 409.
        Err(MetaError::AlreadyExists) if svc.cfg.region == "us-east-1" => {}
        Err(MetaError::AlreadyExists) => {
            return Err(S3Error::new(
                "BucketAlreadyOwnedByYou",
                StatusCode::CONFLICT,
                "Your previous request to create the named bucket succeeded and you already own it.",
            )
            .with("BucketName", name));
        }
        Err(e) => return Err(e.into()),
    }
    let mut r = response::status(StatusCode::OK);
    set(&mut r, "location", &format!("/{name}"));
    Ok(r)
}

pub(crate) async fn delete_bucket(svc: &S3Service, ctx: &Ctx) -> S3Result<Response<RespBody>> {
    let name = ctx.bucket()?;
    match svc.meta.delete_bucket(name).await {
        Ok(blobs) => {
            svc.discard_blobs(name, blobs);
            Ok(response::status(StatusCode::NO_CONTENT))
        }
        Err(MetaError::PreconditionFailed) => Err(S3Error::new(
            "BucketNotEmpty",
            StatusCode::CONFLICT,
            "The bucket you tried to delete is not empty",
        )
        .with("BucketName", name)),
        Err(MetaError::NotFound) => Err(S3Error::no_such_bucket(name)),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn head_bucket(svc: &S3Service, _ctx: &Ctx, b: &BucketRow) -> Response<RespBody> {
    let cfg = BucketConfig::from_json(&b.config);
    let mut r = response::status(StatusCode::OK);
    set(
        &mut r,
        "x-amz-bucket-region",
        if cfg.region.is_empty() {
            &svc.cfg.region
        } else {
            &cfg.region
        },
    );
    r
}

pub(crate) fn location(b: &BucketRow) -> Response<RespBody> {
    let cfg = BucketConfig::from_json(&b.config);
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
    );
    // us-east-1 is reported as an empty constraint, as S3 does.
    if cfg.region != "us-east-1" {
        escape_into(&mut x, &cfg.region);
    }
    x.push_str("</LocationConstraint>");
    xml(x)
}

// ---- XML shapes of the subresources ---------------------------------------------------------

#[derive(Deserialize)]
struct CorsXml {
    #[serde(rename = "CORSRule", default)]
    rules: Vec<CorsRuleXml>,
}

#[derive(Deserialize)]
struct CorsRuleXml {
    #[serde(rename = "ID")]
    id: Option<String>,
    #[serde(rename = "AllowedOrigin", default)]
    origins: Vec<String>,
    #[serde(rename = "AllowedMethod", default)]
    methods: Vec<String>,
    #[serde(rename = "AllowedHeader", default)]
    headers: Vec<String>,
    #[serde(rename = "ExposeHeader", default)]
    expose: Vec<String>,
    #[serde(rename = "MaxAgeSeconds")]
    max_age: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PabXml {
    #[serde(default)]
    block_public_acls: Option<bool>,
    #[serde(default)]
    ignore_public_acls: Option<bool>,
    #[serde(default)]
    block_public_policy: Option<bool>,
    #[serde(default)]
    restrict_public_buckets: Option<bool>,
}

#[derive(Deserialize)]
pub(crate) struct TaggingXml {
    #[serde(rename = "TagSet")]
    pub tag_set: TagSetXml,
}
#[derive(Deserialize)]
pub(crate) struct TagSetXml {
    #[serde(rename = "Tag", default)]
    pub tags: Vec<TagXml>,
}
#[derive(Deserialize)]
pub(crate) struct TagXml {
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Value", default)]
    pub value: String,
}

#[derive(Deserialize)]
struct VersioningXml {
    #[serde(rename = "Status")]
    status: Option<String>,
}

#[derive(Deserialize)]
struct OwnershipXml {
    #[serde(rename = "Rule")]
    rule: OwnershipRule,
}
#[derive(Deserialize)]
struct OwnershipRule {
    #[serde(rename = "ObjectOwnership")]
    object_ownership: String,
}

/// Validate parsed tags as S3 does (≤ 50 bucket tags, key 1..128, value ≤ 256, unique keys);
/// returns them sorted by key.
pub(crate) fn validate_tags(tags: &[TagXml], max: usize) -> S3Result<Vec<(String, String)>> {
    if tags.len() > max {
        return Err(S3Error::new(
            "BadRequest",
            StatusCode::BAD_REQUEST,
            format!("Object tags cannot be greater than {max}"),
        ));
    }
    let mut out: Vec<(String, String)> = Vec::with_capacity(tags.len());
    for t in tags {
        if t.key.is_empty() || t.key.chars().count() > 128 || t.value.chars().count() > 256 {
            return Err(S3Error::new(
                "InvalidTag",
                StatusCode::BAD_REQUEST,
                "The TagKey you have provided is invalid",
            ));
        }
        if out.iter().any(|(k, _)| k == &t.key) {
            return Err(S3Error::new(
                "InvalidTag",
                StatusCode::BAD_REQUEST,
                "Cannot provide multiple Tags with the same key",
            ));
        }
        out.push((t.key.clone(), t.value.clone()));
    }
    // Kept, and listed, in key order (as Ceph RGW lists them), whatever order they came in:
    // the set has no order of its own, and one canonical order lets clients compare sets.
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Render a tag set.
pub(crate) fn tagging_xml(tags: &[(String, String)]) -> String {
    let mut x = start("Tagging");
    x.push_str("<TagSet>");
    for (k, v) in tags {
        x.push_str("<Tag>");
        elem(&mut x, "Key", k);
        elem(&mut x, "Value", v);
        x.push_str("</Tag>");
    }
    x.push_str("</TagSet>");
    end(x, "Tagging")
}

fn validate_cors(rules: Vec<CorsRuleXml>) -> S3Result<Vec<CorsRule>> {
    if rules.is_empty() || rules.len() > 100 {
        return Err(S3Error::malformed_xml());
    }
    let mut out = Vec::with_capacity(rules.len());
    for r in rules {
        if r.origins.is_empty() || r.methods.is_empty() {
            return Err(S3Error::malformed_xml());
        }
        for m in &r.methods {
            if !["GET", "PUT", "POST", "DELETE", "HEAD"].contains(&m.as_str()) {
                return Err(S3Error::invalid_request(format!(
                    "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
                )));
            }
        }
        for o in &r.origins {
            if o.matches('*').count() > 1 {
                return Err(S3Error::invalid_request(format!(
                    "AllowedOrigin \"{o}\" can not have more than one wildcard."
                )));
            }
        }
        for h in &r.headers {
            if h.matches('*').count() > 1 {
                return Err(S3Error::invalid_request(format!(
                    "AllowedHeader \"{h}\" can not have more than one wildcard."
                )));
            }
        }
        for h in &r.expose {
            if h.contains('*') {
                return Err(S3Error::invalid_request(format!(
                    "ExposeHeader \"{h}\" contains wildcard. We currently do not support wildcard for ExposeHeader."
                )));
            }
        }
        if r.id.as_ref().is_some_and(|id| id.len() > 255) {
            return Err(S3Error::invalid_argument(
                "The ID of a CORS rule must be at most 255 characters long.",
            ));
        }
        if r.max_age.is_some_and(|m| m < 0) {
            return Err(S3Error::malformed_xml());
        }
        out.push(CorsRule {
            id: r.id,
            allowed_origins: r.origins,
            allowed_methods: r.methods,
            allowed_headers: r.headers,
            expose_headers: r.expose,
            max_age_seconds: r.max_age,
        });
    }
    Ok(out)
}

fn cors_xml(rules: &[CorsRule]) -> String {
    let mut x = start("CORSConfiguration");
    for r in rules {
        x.push_str("<CORSRule>");
        if let Some(id) = &r.id {
            elem(&mut x, "ID", id);
        }
        for o in &r.allowed_origins {
            elem(&mut x, "AllowedOrigin", o);
        }
        for m in &r.allowed_methods {
            elem(&mut x, "AllowedMethod", m);
        }
        for h in &r.allowed_headers {
            elem(&mut x, "AllowedHeader", h);
        }
        for h in &r.expose_headers {
            elem(&mut x, "ExposeHeader", h);
        }
        if let Some(m) = r.max_age_seconds {
            elem(&mut x, "MaxAgeSeconds", &m.to_string());
        }
        x.push_str("</CORSRule>");
    }
    end(x, "CORSConfiguration")
}

fn not_found(code: &'static str, msg: &str, bucket: &str) -> S3Error {
    S3Error::new(code, StatusCode::NOT_FOUND, msg).with("BucketName", bucket)
}

/// Get/Put/Delete of bucket subresources.
pub(crate) async fn subresource(
    svc: &S3Service,
    ctx: &Ctx,
    bucket: BucketRow,
    body: ReqBody,
) -> S3Result<Response<RespBody>> {
    use Op::*;
    let name = bucket.name.clone();
    let mut cfg = BucketConfig::from_json(&bucket.config);
    let op = ctx.route.op;
    let read = |body| read_small(body, 1024 * 1024);
    let mut changed = true;
    let resp = match op {
        GetBucketCors => {
            changed = false;
            match &cfg.cors {
                Some(rules) => xml(cors_xml(rules)),
                None => {
                    return Err(not_found(
                        "NoSuchCORSConfiguration",
                        "The CORS configuration does not exist",
                        &name,
                    ));
                }
            }
        }
        PutBucketCors => {
            let raw = read(body).await?;
            let parsed: CorsXml = crate::xml::parse(&raw)?;
            cfg.cors = Some(validate_cors(parsed.rules)?);
            response::status(StatusCode::OK)
        }
        DeleteBucketCors => {
            cfg.cors = None;
            response::status(StatusCode::NO_CONTENT)
        }
        GetPublicAccessBlock => {
            changed = false;
            let Some(p) = cfg.public_access_block else {
                return Err(not_found(
                    "NoSuchPublicAccessBlockConfiguration",
                    "The public access block configuration was not found",
                    &name,
                ));
            };
            let mut x = start("PublicAccessBlockConfiguration");
            elem(&mut x, "BlockPublicAcls", &p.block_public_acls.to_string());
            elem(
                &mut x,
                "IgnorePublicAcls",
                &p.ignore_public_acls.to_string(),
            );
            elem(
                &mut x,
                "BlockPublicPolicy",
                &p.block_public_policy.to_string(),
            );
            elem(
                &mut x,
                "RestrictPublicBuckets",
                &p.restrict_public_buckets.to_string(),
            );
            xml(end(x, "PublicAccessBlockConfiguration"))
        }
        PutPublicAccessBlock => {
            let raw = read(body).await?;
            let p: PabXml = crate::xml::parse(&raw)?;
            cfg.public_access_block = Some(PublicAccessBlock {
                block_public_acls: p.block_public_acls.unwrap_or(false),
                ignore_public_acls: p.ignore_public_acls.unwrap_or(false),
                block_public_policy: p.block_public_policy.unwrap_or(false),
                restrict_public_buckets: p.restrict_public_buckets.unwrap_or(false),
            });
            response::status(StatusCode::OK)
        }
        DeletePublicAccessBlock => {
            cfg.public_access_block = None;
            response::status(StatusCode::NO_CONTENT)
        }
        GetBucketPolicy => {
            changed = false;
            match &cfg.policy {
                Some(p) => {
                    let mut r = Response::new(crate::body::full(p.clone()));
                    set(&mut r, "content-type", "application/json");
                    r
                }
                None => {
                    return Err(not_found(
                        "NoSuchBucketPolicy",
                        "The bucket policy does not exist",
                        &name,
                    ));
                }
            }
        }
        PutBucketPolicy => {
            let raw = read(body).await?;
            let text = std::str::from_utf8(&raw).map_err(|_| {
                S3Error::new(
                    "MalformedPolicy",
                    StatusCode::BAD_REQUEST,
                    "Policies must be valid JSON",
                )
            })?;
            let is_public = svc.authority.check_bucket_policy(&name, text)?;
            if is_public
                && cfg
                    .public_access_block
                    .is_some_and(|p| p.block_public_policy)
            {
                return Err(S3Error::access_denied());
            }
            cfg.policy = Some(text.to_owned());
            cfg.policy_binds_root = ctx
                .header("x-amz-confirm-remove-self-bucket-access")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
            response::status(StatusCode::NO_CONTENT)
        }
        DeleteBucketPolicy => {
            cfg.policy = None;
            cfg.policy_binds_root = false;
            response::status(StatusCode::NO_CONTENT)
        }
        GetBucketPolicyStatus => {
            changed = false;
            let is_public = match &cfg.policy {
                Some(p) => svc.authority.check_bucket_policy(&name, p).unwrap_or(false),
                None => false,
            };
            let mut x = start("PolicyStatus");
            elem(&mut x, "IsPublic", if is_public { "true" } else { "false" });
            xml(end(x, "PolicyStatus"))
        }
        GetBucketVersioning => {
            changed = false;
            let mut x = start("VersioningConfiguration");
            if let Some(s) = &cfg.versioning {
                elem(&mut x, "Status", s);
            }
            xml(end(x, "VersioningConfiguration"))
        }
        PutBucketVersioning => {
            let raw = read(body).await?;
            let v: VersioningXml = crate::xml::parse(&raw)?;
            match v.status.as_deref() {
                Some("Suspended") => cfg.versioning = Some("Suspended".into()),
                Some("Enabled") => {
                    return Err(S3Error::not_implemented(
                        "object versioning (cubby keeps one version per key)",
                    ));
                }
                _ => return Err(S3Error::malformed_xml()),
            }
            response::status(StatusCode::OK)
        }
        GetBucketTagging => {
            changed = false;
            match &cfg.tags {
                Some(t) => xml(tagging_xml(t)),
                None => {
                    return Err(not_found(
                        "NoSuchTagSet",
                        "The TagSet does not exist",
                        &name,
                    ));
                }
            }
        }
        PutBucketTagging => {
            let raw = read(body).await?;
            let t: TaggingXml = crate::xml::parse(&raw)?;
            cfg.tags = Some(validate_tags(&t.tag_set.tags, 50)?);
            response::status(StatusCode::NO_CONTENT)
        }
        DeleteBucketTagging => {
            cfg.tags = None;
            response::status(StatusCode::NO_CONTENT)
        }
        GetBucketAcl => {
            changed = false;
            let acl = crate::acl::AclSpec::stored(cfg.acl.as_deref(), cfg.acl_grants.as_deref());
            xml(crate::acl::to_xml(&acl, &owner_id(svc)))
        }
        PutBucketAcl => {
            let raw = read(body).await?;
            let acl = svc.request_acl(ctx, &raw, &cfg).await?;
            (cfg.acl, cfg.acl_grants) = acl.into_stored();
            response::status(StatusCode::OK)
        }
        GetBucketOwnershipControls => {
            changed = false;
            let Some(o) = &cfg.ownership else {
                return Err(not_found(
                    "OwnershipControlsNotFoundError",
                    "The bucket ownership controls were not found",
                    &name,
                ));
            };
            let mut x = start("OwnershipControls");
            x.push_str("<Rule>");
            elem(&mut x, "ObjectOwnership", o);
            x.push_str("</Rule>");
            xml(end(x, "OwnershipControls"))
        }
        PutBucketOwnershipControls => {
            let raw = read(body).await?;
            let o: OwnershipXml = crate::xml::parse(&raw)?;
            let v = o.rule.object_ownership;
            if !OBJECT_OWNERSHIPS.contains(&v.as_str()) {
                return Err(S3Error::malformed_xml());
            }
            // ACLs stop counting under BucketOwnerEnforced, so S3 refuses the switch while the
            // bucket's ACL still grants anyone but the owner.
            if v == "BucketOwnerEnforced"
                && !crate::acl::AclSpec::stored(cfg.acl.as_deref(), cfg.acl_grants.as_deref())
                    .owner_only(&owner_id(svc))
            {
                return Err(acl_with_owner_enforced());
            }
            cfg.ownership = Some(v);
            response::status(StatusCode::OK)
        }
        DeleteBucketOwnershipControls => {
            cfg.ownership = None;
            response::status(StatusCode::NO_CONTENT)
        }
        GetBucketEncryption => {
            changed = false;
            match &cfg.encryption {
                Some(e) => xml(e.clone()),
                None => {
                    return Err(not_found(
                        "ServerSideEncryptionConfigurationNotFoundError",
                        "The server side encryption configuration was not found",
                        &name,
                    ));
                }
            }
        }
        PutBucketNotificationConfiguration => {
            let raw = read(body).await?;
            let rules = crate::notify::parse(&raw, &svc.cfg.event_targets)?;
            // S3 sends an s3:TestEvent to each destination of a saved configuration; it is
            // committed with the configuration.
            let tests = crate::notify::test_events(ctx, &name, &rules);
            cfg.notification = None;
            cfg.notify = (!rules.is_empty()).then_some(rules);
            svc.meta
                .set_bucket_config_with_events(&name, &cfg.to_json(), &tests)
                .await?;
            changed = false;
            response::status(StatusCode::OK)
        }
        PutBucketEncryption => {
            let raw = read(body).await?;
            let (doc, algo) = crate::sse::parse_config(&raw)?;
            cfg.encryption = Some(doc);
            cfg.sse_default = Some(algo);
            response::status(StatusCode::OK)
        }
        PutBucketLifecycleConfiguration => {
            let raw = read(body).await?;
            let text = std::str::from_utf8(&raw).map_err(|_| S3Error::malformed_xml())?;
            // Well-formedness only for now: lifecycle rules take effect in a later feature.
            if quick_xml::de::from_str::<serde::de::IgnoredAny>(text).is_err() {
                return Err(S3Error::malformed_xml());
            }
            cfg.lifecycle = Some(text.to_owned());
            response::status(StatusCode::OK)
        }
        DeleteBucketEncryption => {
            cfg.encryption = None;
            cfg.sse_default = None;
            response::status(StatusCode::NO_CONTENT)
        }
        GetBucketNotificationConfiguration => {
            changed = false;
            match (&cfg.notify, &cfg.notification) {
                (Some(rules), _) => xml(crate::notify::to_xml(rules)),
                (None, Some(n)) => xml(n.clone()),
                (None, None) => xml(end(
                    start("NotificationConfiguration"),
                    "NotificationConfiguration",
                )),
            }
        }
        GetBucketLifecycleConfiguration => {
            changed = false;
            match &cfg.lifecycle {
                Some(l) => xml(l.clone()),
                None => {
                    return Err(not_found(
                        "NoSuchLifecycleConfiguration",
                        "The lifecycle configuration does not exist",
                        &name,
                    ));
                }
            }
        }
        DeleteBucketLifecycle => {
            cfg.lifecycle = None;
            response::status(StatusCode::NO_CONTENT)
        }
        _ => return Err(S3Error::not_implemented("bucket subresource")),
    };
    if changed {
        svc.meta.set_bucket_config(&name, &cfg.to_json()).await?;
    }
    Ok(resp)
}

/// Answer a CORS preflight from the bucket's rules.
pub(crate) async fn preflight(
    svc: &S3Service,
    route: &Route,
    parts: &Parts,
) -> S3Result<Response<RespBody>> {
    let h = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok());
    let Some(origin) = h("origin") else {
        return Err(S3Error::new(
            "BadRequest",
            StatusCode::BAD_REQUEST,
            "Insufficient information. Origin request header needed.",
        ));
    };
    let Some(method) = h("access-control-request-method") else {
        return Err(S3Error::new(
            "BadRequest",
            StatusCode::BAD_REQUEST,
            "Invalid Access-Control-Request-Method: null",
        ));
    };
    let forbidden = |msg: &str| {
        S3Error::new("AccessForbidden", StatusCode::FORBIDDEN, msg)
            .with("Method", method)
            .with(
                "ResourceType",
                if route.key.is_some() {
                    "OBJECT"
                } else {
                    "BUCKET"
                },
            )
    };
    let Some(bucket) = &route.bucket else {
        return Err(forbidden("CORSResponse: Bucket not found"));
    };
    let Some(row) = svc.meta.get_bucket(bucket).await? else {
        return Err(forbidden("CORSResponse: Bucket not found"));
    };
    let cfg = BucketConfig::from_json(&row.config);
    let Some(rules) = cfg.cors else {
        return Err(forbidden(
            "CORSResponse: CORS is not enabled for this bucket.",
        ));
    };
    let req_headers: Vec<String> = h("access-control-request-headers")
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let Some(rule) = crate::cors::find_rule(&rules, origin, method, &req_headers) else {
        return Err(forbidden(
            "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
        ));
    };
    let mut r = response::status(StatusCode::OK);
    crate::cors::apply(&mut r, rule, origin);
    if !req_headers.is_empty() {
        set(
            &mut r,
            "access-control-allow-headers",
            &req_headers.join(", "),
        );
    }
    Ok(r)
}
