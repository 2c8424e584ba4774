//! Buckets: existence, CORS, public-access block, bucket policy.
//!
//! Extension point: encryption, notifications and upload rules go here as further
//! `GetBucket…`/`PutBucket…` comparisons when the server supports them.

use super::{Action, Applier, api_err, code_of, same_json};
use crate::config::{Bucket, CorsRule, PublicAccessBlock};
use aws_sdk_s3::types as s3t;

pub(super) async fn bucket(a: &mut Applier, b: &Bucket) -> anyhow::Result<()> {
    let name = b.name.get_ref();
    let s3 = a.c.s3.clone();
    let exists = match s3.head_bucket().bucket(name).send().await {
        Ok(_) => true,
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => false,
        Err(e) => return Err(api_err("HeadBucket", e)),
    };
    let mut details = Vec::new();
    if !exists && !a.dry_run {
        s3.create_bucket()
            .bucket(name)
            .send()
            .await
            .map_err(|e| api_err("CreateBucket", e))?;
    }

    if let Some(want) = &b.public_access_block {
        let have = if exists {
            current_pab(&s3, name).await?
        } else {
            None
        };
        if have.as_ref() != Some(want) {
            if exists {
                details.push("public access block".to_owned());
            }
            if !a.dry_run {
                let cfg = s3t::PublicAccessBlockConfiguration::builder()
                    .block_public_acls(want.block_public_acls)
                    .ignore_public_acls(want.ignore_public_acls)
                    .block_public_policy(want.block_public_policy)
                    .restrict_public_buckets(want.restrict_public_buckets)
                    .build();
                s3.put_public_access_block()
                    .bucket(name)
                    .public_access_block_configuration(cfg)
                    .send()
                    .await
                    .map_err(|e| api_err("PutPublicAccessBlock", e))?;
            }
        }
    }

    if let Some(want) = &b.cors {
        let have = if exists {
            current_cors(&s3, name).await?
        } else {
            Vec::new()
        };
        if &have != want {
            if exists {
                details.push("cors".to_owned());
            }
            if !a.dry_run {
                put_cors(&s3, name, want).await?;
            }
        }
    }

    if let Some(want) = &b.policy_text {
        let have = if exists {
            match s3.get_bucket_policy().bucket(name).send().await {
                Ok(o) => o.policy().map(str::to_owned),
                Err(e) if code_of(&e) == Some("NoSuchBucketPolicy") => None,
                Err(e) => return Err(api_err("GetBucketPolicy", e)),
            }
        } else {
            None
        };
        if !have.as_deref().is_some_and(|h| same_json(h, want)) {
            if exists {
                details.push("policy".to_owned());
            }
            if !a.dry_run {
                s3.put_bucket_policy()
                    .bucket(name)
                    .policy(want)
                    .send()
                    .await
                    .map_err(|e| api_err("PutBucketPolicy", e))?;
            }
        }
    }

    let action = match (exists, details.is_empty()) {
        (false, _) => Action::Create,
        (true, true) => Action::Unchanged,
        (true, false) => Action::Update,
    };
    a.record("bucket", name, action, details);
    Ok(())
}

async fn current_pab(
    s3: &aws_sdk_s3::Client,
    name: &str,
) -> anyhow::Result<Option<PublicAccessBlock>> {
    match s3.get_public_access_block().bucket(name).send().await {
        Ok(o) => Ok(o
            .public_access_block_configuration()
            .map(|c| PublicAccessBlock {
                block_public_acls: c.block_public_acls().unwrap_or(false),
                ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                block_public_policy: c.block_public_policy().unwrap_or(false),
                restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
            })),
        Err(e) if code_of(&e) == Some("NoSuchPublicAccessBlockConfiguration") => Ok(None),
        Err(e) => Err(api_err("GetPublicAccessBlock", e)),
    }
}

async fn current_cors(s3: &aws_sdk_s3::Client, name: &str) -> anyhow::Result<Vec<CorsRule>> {
    match s3.get_bucket_cors().bucket(name).send().await {
        Ok(o) => Ok(o
            .cors_rules()
            .iter()
            .map(|r| CorsRule {
                id: r.id().map(str::to_owned),
                allowed_origins: r.allowed_origins().to_vec(),
                allowed_methods: r.allowed_methods().to_vec(),
                allowed_headers: r.allowed_headers().to_vec(),
                expose_headers: r.expose_headers().to_vec(),
                max_age_seconds: r.max_age_seconds(),
            })
            .collect()),
        Err(e) if code_of(&e) == Some("NoSuchCORSConfiguration") => Ok(Vec::new()),
        Err(e) => Err(api_err("GetBucketCors", e)),
    }
}

async fn put_cors(s3: &aws_sdk_s3::Client, name: &str, rules: &[CorsRule]) -> anyhow::Result<()> {
    if rules.is_empty() {
        s3.delete_bucket_cors()
            .bucket(name)
            .send()
            .await
            .map_err(|e| api_err("DeleteBucketCors", e))?;
        return Ok(());
    }
    let mut out = Vec::new();
    for r in rules {
        out.push(
            s3t::CorsRule::builder()
                .set_id(r.id.clone())
                .set_allowed_origins(Some(r.allowed_origins.clone()))
                .set_allowed_methods(Some(r.allowed_methods.clone()))
                .set_allowed_headers(
                    (!r.allowed_headers.is_empty()).then(|| r.allowed_headers.clone()),
                )
                .set_expose_headers(
                    (!r.expose_headers.is_empty()).then(|| r.expose_headers.clone()),
                )
                .set_max_age_seconds(r.max_age_seconds)
                .build()?,
        );
    }
    let cfg = s3t::CorsConfiguration::builder()
        .set_cors_rules(Some(out))
        .build()?;
    s3.put_bucket_cors()
        .bucket(name)
        .cors_configuration(cfg)
        .send()
        .await
        .map_err(|e| api_err("PutBucketCors", e))?;
    Ok(())
}
