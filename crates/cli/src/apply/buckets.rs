//! Buckets: existence, CORS, public-access block, bucket policy, default encryption, event
//! notifications, and upload rules (through cubby's own admin API, as no AWS API has them).

use super::{Action, Applier, api_err, code_of, same_json};
use crate::config::{Bucket, CorsRule, Notification, PublicAccessBlock};
use anyhow::Context as _;
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

    if let Some(want) = &b.encryption {
        let want = want.get_ref().as_str();
        let have = if exists {
            current_encryption(&s3, name).await?
        } else {
            None
        };
        let want_alg = (want != "none").then_some(want);
        if have.as_deref() != want_alg {
            if exists {
                details.push("encryption".to_owned());
            }
            if !a.dry_run {
                put_encryption(&s3, name, want_alg).await?;
            }
        }
    }

    if let Some(want) = &b.notification {
        let have = if exists {
            current_notifications(&s3, name).await?
        } else {
            Vec::new()
        };
        let mut want_norm: Vec<NotifyKey> = want.iter().map(NotifyKey::from_config).collect();
        want_norm.sort();
        if have != want_norm {
            if exists {
                details.push("notifications".to_owned());
            }
            if !a.dry_run {
                put_notifications(a, name, &want_norm).await?;
            }
        }
    }

    if let Some(want) = &b.upload_rule {
        let want: Vec<cubby_rules::UploadRule> = want.iter().map(|r| r.get_ref().clone()).collect();
        let have = if exists {
            current_upload_rules(a, name).await?
        } else {
            Vec::new()
        };
        if have != want {
            if exists {
                details.push("upload rules".to_owned());
            }
            if !a.dry_run {
                put_upload_rules(a, name, &want).await?;
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

/// The bucket's default encryption algorithm, if configured.
async fn current_encryption(s3: &aws_sdk_s3::Client, name: &str) -> anyhow::Result<Option<String>> {
    match s3.get_bucket_encryption().bucket(name).send().await {
        Ok(o) => Ok(o
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default())
            .map(|d| d.sse_algorithm().as_str().to_owned())),
        Err(e) if code_of(&e) == Some("ServerSideEncryptionConfigurationNotFoundError") => Ok(None),
        Err(e) => Err(api_err("GetBucketEncryption", e)),
    }
}

async fn put_encryption(
    s3: &aws_sdk_s3::Client,
    name: &str,
    algorithm: Option<&str>,
) -> anyhow::Result<()> {
    let Some(alg) = algorithm else {
        s3.delete_bucket_encryption()
            .bucket(name)
            .send()
            .await
            .map_err(|e| api_err("DeleteBucketEncryption", e))?;
        return Ok(());
    };
    let default = s3t::ServerSideEncryptionByDefault::builder()
        .sse_algorithm(s3t::ServerSideEncryption::from(alg))
        .build()
        .map_err(|e| anyhow::anyhow!("encryption: {e}"))?;
    let rule = s3t::ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(default)
        .build();
    let cfg = s3t::ServerSideEncryptionConfiguration::builder()
        .rules(rule)
        .build()
        .map_err(|e| anyhow::anyhow!("encryption: {e}"))?;
    s3.put_bucket_encryption()
        .bucket(name)
        .server_side_encryption_configuration(cfg)
        .send()
        .await
        .map_err(|e| api_err("PutBucketEncryption", e))?;
    Ok(())
}

/// A notification configuration reduced to what the file states (the target id, not the
/// whole ARN, whose region and account the server fills in), for comparison.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct NotifyKey {
    id: String,
    target: String,
    events: Vec<String>,
    prefix: Option<String>,
    suffix: Option<String>,
}

impl NotifyKey {
    fn from_config(n: &Notification) -> NotifyKey {
        let target = n.target.get_ref().to_ascii_lowercase();
        let mut events = n.events.clone();
        events.sort();
        NotifyKey {
            id: n.id.clone().unwrap_or_else(|| target.clone()),
            target,
            events,
            prefix: n.prefix.clone().filter(|p| !p.is_empty()),
            suffix: n.suffix.clone().filter(|p| !p.is_empty()),
        }
    }
}

async fn current_notifications(
    s3: &aws_sdk_s3::Client,
    name: &str,
) -> anyhow::Result<Vec<NotifyKey>> {
    let o = s3
        .get_bucket_notification_configuration()
        .bucket(name)
        .send()
        .await
        .map_err(|e| api_err("GetBucketNotificationConfiguration", e))?;
    let mut out: Vec<NotifyKey> = o
        .queue_configurations()
        .iter()
        .map(|q| {
            let mut prefix = None;
            let mut suffix = None;
            for r in q
                .filter()
                .and_then(|f| f.key())
                .map(|k| k.filter_rules())
                .unwrap_or_default()
            {
                let v = r.value().map(str::to_owned);
                match r.name().map(|n| n.as_str().to_ascii_lowercase()).as_deref() {
                    Some("prefix") => prefix = v,
                    Some("suffix") => suffix = v,
                    _ => {}
                }
            }
            let mut events: Vec<String> =
                q.events().iter().map(|e| e.as_str().to_owned()).collect();
            events.sort();
            NotifyKey {
                id: q.id().unwrap_or_default().to_owned(),
                target: q
                    .queue_arn()
                    .rsplit(':')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
                events,
                prefix: prefix.filter(|p| !p.is_empty()),
                suffix: suffix.filter(|p| !p.is_empty()),
            }
        })
        .collect();
    // Topic and function configurations are not declared by the file: their presence is a
    // difference the file's (queue-only) configuration replaces.
    let foreign = o.topic_configurations().len() + o.lambda_function_configurations().len();
    for i in 0..foreign {
        out.push(NotifyKey {
            id: format!("(non-queue configuration {i})"),
            target: String::new(),
            events: Vec::new(),
            prefix: None,
            suffix: None,
        });
    }
    out.sort();
    Ok(out)
}

async fn put_notifications(a: &Applier, name: &str, want: &[NotifyKey]) -> anyhow::Result<()> {
    let s3 = &a.c.s3;
    let region = s3
        .config()
        .region()
        .map(|r| r.as_ref().to_owned())
        .unwrap_or_else(|| "us-east-1".to_owned());
    let account = if want.is_empty() {
        String::new()
    } else {
        account_id(a).await?
    };
    let mut queues = Vec::new();
    for n in want {
        let mut rules = Vec::new();
        for (kind, v) in [("prefix", &n.prefix), ("suffix", &n.suffix)] {
            if let Some(v) = v {
                rules.push(
                    s3t::FilterRule::builder()
                        .name(s3t::FilterRuleName::from(kind))
                        .value(v)
                        .build(),
                );
            }
        }
        let mut q = s3t::QueueConfiguration::builder()
            .id(&n.id)
            .queue_arn(format!("arn:cubby:sqs:{region}:{account}:{}", n.target))
            .set_events(Some(
                n.events
                    .iter()
                    .map(|e| s3t::Event::from(e.as_str()))
                    .collect(),
            ));
        if !rules.is_empty() {
            q = q.filter(
                s3t::NotificationConfigurationFilter::builder()
                    .key(
                        s3t::S3KeyFilter::builder()
                            .set_filter_rules(Some(rules))
                            .build(),
                    )
                    .build(),
            );
        }
        queues.push(
            q.build()
                .map_err(|e| anyhow::anyhow!("notification: {e}"))?,
        );
    }
    let cfg = s3t::NotificationConfiguration::builder()
        .set_queue_configurations(Some(queues))
        .build();
    s3.put_bucket_notification_configuration()
        .bucket(name)
        .notification_configuration(cfg)
        .send()
        .await
        .map_err(|e| api_err("PutBucketNotificationConfiguration", e))?;
    Ok(())
}

/// The account id, from the root user's ARN (`GetUser` without a name).
async fn account_id(a: &Applier) -> anyhow::Result<String> {
    let u =
        a.c.iam
            .get_user()
            .send()
            .await
            .map_err(|e| api_err("GetUser", e))?;
    u.user()
        .and_then(|u| u.arn().split(':').nth(4))
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("GetUser: no account id in the caller's ARN"))
}

async fn current_upload_rules(
    a: &Applier,
    name: &str,
) -> anyhow::Result<Vec<cubby_rules::UploadRule>> {
    let path = format!("/_cubby/admin/upload-rules/{name}");
    let (status, body) =
        super::admin_call(&a.c.target, reqwest::Method::GET, &path, Vec::new()).await?;
    if status != 200 {
        anyhow::bail!("GET {path}: {status} {body}");
    }
    #[derive(serde::Deserialize)]
    struct Doc {
        rules: Vec<cubby_rules::UploadRule>,
    }
    let doc: Doc = serde_json::from_str(&body).with_context(|| format!("GET {path}"))?;
    Ok(doc.rules)
}

async fn put_upload_rules(
    a: &Applier,
    name: &str,
    rules: &[cubby_rules::UploadRule],
) -> anyhow::Result<()> {
    let path = format!("/_cubby/admin/upload-rules/{name}");
    let (method, body) = if rules.is_empty() {
        (reqwest::Method::DELETE, Vec::new())
    } else {
        (
            reqwest::Method::PUT,
            serde_json::to_vec(&serde_json::json!({ "rules": rules }))?,
        )
    };
    let (status, text) = super::admin_call(&a.c.target, method, &path, body).await?;
    if !(200..300).contains(&status) {
        anyhow::bail!("upload rules of bucket `{name}`: {status} {text}");
    }
    Ok(())
}
