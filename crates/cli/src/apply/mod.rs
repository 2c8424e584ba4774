//! `cubby apply`: make a running server match a [`Config`], through the AWS APIs, signed with
//! the root keys — the same calls an operator would make with the AWS CLI or CDK, so it works
//! against a remote node and exercises the code clients use.
//!
//! Each resource is found by name (buckets, roles, policies by their names; OIDC providers by
//! URL; user and identity pools by name, since their ids are generated), compared with the
//! file, and created or updated only when it differs. Nothing the file does not mention is
//! deleted. The result is a [`Plan`]: one line per resource, create / update / unchanged.

mod buckets;
mod iam;
mod pools;

use crate::config::Config;
use anyhow::Context;
use std::collections::BTreeMap;
use std::fmt;

/// Where and as whom to apply.
#[derive(Clone, Debug)]
pub struct Target {
    /// Server endpoint, e.g. `http://127.0.0.1:9000`.
    pub endpoint: String,
    /// Region.
    pub region: String,
    /// Root access key id.
    pub access_key_id: String,
    /// Root secret.
    pub secret_access_key: String,
}

/// What apply did (or, with `dry_run`, would do) to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Created.
    Create,
    /// Changed to match the file.
    Update,
    /// Already as the file says.
    Unchanged,
}

/// One line of the plan.
#[derive(Clone, Debug)]
pub struct Change {
    /// Resource kind (`bucket`, `role`, …).
    pub kind: &'static str,
    /// Resource name.
    pub name: String,
    /// What happened.
    pub action: Action,
    /// What changed, or notes (settings AWS fixes at creation that differ).
    pub details: Vec<String>,
}

/// The outcome of an apply.
#[derive(Debug, Default)]
pub struct Plan {
    /// One entry per resource, in apply order.
    pub changes: Vec<Change>,
    /// Ids of what the file declares, by name.
    pub ids: Ids,
}

/// Generated ids, by the names used in the file.
#[derive(Debug, Default, Clone)]
pub struct Ids {
    /// Identity pool name → id.
    pub identity_pools: BTreeMap<String, String>,
    /// User pool name → id.
    pub user_pools: BTreeMap<String, String>,
    /// (user pool name, client name) → client id.
    pub clients: BTreeMap<(String, String), String>,
    /// User pool name → issuer host/path (the `Logins` key).
    pub issuers: BTreeMap<String, String>,
    /// Role name → ARN.
    pub roles: BTreeMap<String, String>,
    /// Managed policy name → ARN.
    pub policies: BTreeMap<String, String>,
    /// OIDC provider URL → ARN.
    pub oidc: BTreeMap<String, String>,
}

impl Plan {
    /// True when nothing was created or changed.
    pub fn is_unchanged(&self) -> bool {
        self.changes.iter().all(|c| c.action == Action::Unchanged)
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let action = match self.action {
            Action::Create => "create",
            Action::Update => "update",
            Action::Unchanged => "unchanged",
        };
        write!(f, "  {action:<10} {:<20} {}", self.kind, self.name)?;
        if !self.details.is_empty() {
            write!(f, "  ({})", self.details.join("; "))?;
        }
        Ok(())
    }
}

impl Plan {
    /// `N to create, N to update, N unchanged`.
    pub fn summary(&self) -> String {
        let count = |a| self.changes.iter().filter(|c| c.action == a).count();
        format!(
            "{} to create, {} to update, {} unchanged",
            count(Action::Create),
            count(Action::Update),
            count(Action::Unchanged)
        )
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.changes {
            writeln!(f, "{c}")?;
        }
        write!(f, "{}", self.summary())
    }
}

/// Called with each resource as soon as it is done (progress output).
pub type Progress = Box<dyn Fn(&Change) + Send + Sync>;

/// The AWS clients of one target.
pub(crate) struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub ci: aws_sdk_cognitoidentity::Client,
    pub idp: aws_sdk_cognitoidentityprovider::Client,
    pub endpoint: String,
    /// For cubby's own admin API (upload rules), signed by hand.
    pub target: Target,
}

impl Clients {
    /// Clients for `t` (static root credentials, path-style S3).
    pub fn new(t: &Target) -> Clients {
        let creds = aws_sdk_s3::config::Credentials::new(
            &t.access_key_id,
            &t.secret_access_key,
            None,
            None,
            "cubby-root",
        );
        let region = aws_sdk_s3::config::Region::new(t.region.clone());
        let s3 = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(region.clone())
            .endpoint_url(&t.endpoint)
            .credentials_provider(creds.clone())
            .force_path_style(true)
            .build();
        let iam = aws_sdk_iam::Config::builder()
            .behavior_version_latest()
            .region(region.clone())
            .endpoint_url(&t.endpoint)
            .credentials_provider(creds.clone())
            .build();
        let ci = aws_sdk_cognitoidentity::Config::builder()
            .behavior_version_latest()
            .region(region.clone())
            .endpoint_url(&t.endpoint)
            .credentials_provider(creds.clone())
            .build();
        let idp = aws_sdk_cognitoidentityprovider::Config::builder()
            .behavior_version_latest()
            .region(region)
            .endpoint_url(&t.endpoint)
            .credentials_provider(creds)
            .build();
        Clients {
            s3: aws_sdk_s3::Client::from_conf(s3),
            iam: aws_sdk_iam::Client::from_conf(iam),
            ci: aws_sdk_cognitoidentity::Client::from_conf(ci),
            idp: aws_sdk_cognitoidentityprovider::Client::from_conf(idp),
            endpoint: t.endpoint.trim_end_matches('/').to_owned(),
            target: t.clone(),
        }
    }
}

/// An SDK error as one readable line: the AWS code and message when the server answered,
/// else the transport error (`DisplayErrorContext` walks its sources).
pub(crate) fn api_err<E>(what: impl fmt::Display, e: E) -> anyhow::Error
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error,
{
    match e.code() {
        Some(code) => anyhow::anyhow!("{what}: {code}: {}", e.message().unwrap_or("")),
        None => anyhow::anyhow!("{what}: {}", aws_sdk_s3::error::DisplayErrorContext(&e)),
    }
}

/// The AWS error code of an SDK error, if the service sent one.
pub(crate) fn code_of<E: aws_sdk_s3::error::ProvideErrorMetadata>(e: &E) -> Option<&str> {
    e.code()
}

/// Two JSON documents mean the same (key order and whitespace aside).
pub(crate) fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// IAM returns policy documents URL-encoded (RFC 3986), as AWS does.
pub(crate) fn iam_doc(s: &str) -> String {
    if s.trim_start().starts_with('{') {
        return s.to_owned();
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Id placeholder for resources a dry run would create.
pub(crate) const UNKNOWN: &str = "(known after apply)";

pub(crate) struct Applier {
    pub c: Clients,
    pub dry_run: bool,
    pub plan: Plan,
    progress: Option<Progress>,
}

impl Applier {
    pub fn record(&mut self, kind: &'static str, name: &str, action: Action, details: Vec<String>) {
        let change = Change {
            kind,
            name: name.to_owned(),
            action,
            details,
        };
        if let Some(p) = &self.progress {
            p(&change);
        }
        self.plan.changes.push(change);
    }
}

/// Apply `cfg` to `target` (or only compute the plan, with `dry_run`), reporting each
/// resource to `progress` as it is done.
pub async fn apply(
    cfg: &Config,
    target: &Target,
    dry_run: bool,
    progress: Option<Progress>,
) -> anyhow::Result<Plan> {
    let mut a = Applier {
        c: Clients::new(target),
        dry_run,
        plan: Plan::default(),
        progress,
    };
    let f = &cfg.file;
    for b in &f.buckets {
        buckets::bucket(&mut a, b)
            .await
            .with_context(|| format!("{}: bucket {}", cfg.at(&b.name), b.name.get_ref()))?;
    }
    for p in &f.user_pools {
        pools::user_pool(&mut a, p)
            .await
            .with_context(|| format!("{}: user pool {}", cfg.at(&p.name), p.name.get_ref()))?;
    }
    for o in &f.oidc_providers {
        iam::oidc_provider(&mut a, o)
            .await
            .with_context(|| format!("{}: OIDC provider {}", cfg.at(&o.url), o.url.get_ref()))?;
    }
    for p in &f.identity_pools {
        pools::identity_pool(&mut a, p)
            .await
            .with_context(|| format!("{}: identity pool {}", cfg.at(&p.name), p.name.get_ref()))?;
    }
    if !f.policies.is_empty() {
        let existing = iam::local_policies(&a).await?;
        for p in &f.policies {
            iam::managed_policy(&mut a, p, &existing)
                .await
                .with_context(|| format!("{}: policy {}", cfg.at(&p.name), p.name.get_ref()))?;
        }
    }
    for r in &f.roles {
        iam::role(&mut a, r)
            .await
            .with_context(|| format!("{}: role {}", cfg.at(&r.name), r.name.get_ref()))?;
    }
    for p in &f.identity_pools {
        pools::identity_pool_roles(&mut a, p)
            .await
            .with_context(|| {
                format!(
                    "{}: identity pool {} roles",
                    cfg.at(&p.name),
                    p.name.get_ref()
                )
            })?;
    }
    Ok(a.plan)
}

/// Call cubby's own admin API (`/_cubby/admin/…`) as the root, SigV4-signed by hand (no AWS
/// SDK models it). Returns the status and the body.
pub(crate) async fn admin_call(
    t: &Target,
    method: reqwest::Method,
    path: &str,
    body: Vec<u8>,
) -> anyhow::Result<(u16, String)> {
    use sha2::Digest as _;
    let url = format!("{}{path}", t.endpoint.trim_end_matches('/'));
    let uri: http::Uri = url.parse().with_context(|| format!("bad URL {url}"))?;
    let (mut parts, ()) = http::Request::builder()
        .method(method.as_str())
        .uri(uri)
        .body(())
        .context("admin request")?
        .into_parts();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let hash = hex::encode(sha2::Sha256::digest(&body));
    cubby_auth::sigv4::sign_request(
        &mut parts,
        &t.access_key_id,
        &t.secret_access_key,
        None,
        &t.region,
        "s3",
        &hash,
        now,
    );
    let mut req = reqwest::Client::new().request(method, url).body(body);
    for (k, v) in &parts.headers {
        req = req.header(k.as_str(), v.as_bytes());
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("admin API {path}"))?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    Ok((status, text))
}
