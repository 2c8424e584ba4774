//! `cubby.toml`: the declarative description of buckets, IAM roles and policies, OIDC
//! providers, user pools and identity pools (the resources the seeds' CDK stacks declare).
//!
//! Parsing is strict (unknown keys are errors) and every error names `file:line:column`.
//! Resources refer to each other by the names given in the file (an identity pool names its
//! roles and user pools; a role's `trust` names an identity pool); [`Config::load`] checks
//! those references, so `apply` never fails halfway on a typo.

mod model;

pub use model::*;

use cubby_policy::PolicyKind;
use serde_spanned::Spanned;

const RESOURCE: PolicyKind = PolicyKind::Resource;
const IDENTITY: PolicyKind = PolicyKind::Identity;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The configuration `cubby serve` applies when started without `--config`, and that
/// `cubby init` writes out: the seed architecture.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// A configuration error, located in its file.
/// Shown as `file:line:column: message` (`file: message` when no position applies, e.g. an
/// unreadable file).
#[derive(Debug, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    /// The file (or `<embedded default>`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    fn render(&self) -> String {
        if self.line == 0 {
            format!("{}: {}", self.file, self.message)
        } else {
            format!(
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

/// A parsed and checked configuration, with policy documents read from their files.
#[derive(Debug)]
pub struct Config {
    /// Where it came from (for messages).
    pub source: String,
    /// The file's contents.
    pub file: File,
    /// The text, to turn spans into line numbers.
    text: String,
}

/// 1-based line and column of byte offset `at` in `text`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |nl| {
        before.get(nl + 1..).map_or(0, |s| s.chars().count())
    }) + 1;
    (line, column)
}

struct Ctx<'a> {
    source: &'a str,
    text: &'a str,
    dir: PathBuf,
}

impl Ctx<'_> {
    fn err_at(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, column) = line_col(self.text, span.start);
        ConfigError {
            file: self.source.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    fn err<T>(&self, at: &Spanned<T>, message: impl Into<String>) -> ConfigError {
        self.err_at(at.span(), message)
    }

    /// A policy document: inline JSON text or a file relative to the config file; checked
    /// with the server's policy parser so a bad policy is reported at its line here.
    fn document(
        &self,
        inline: Option<&Spanned<String>>,
        file: Option<&Spanned<String>>,
        what: &str,
        kind: PolicyKind,
        owner: &Spanned<String>,
    ) -> Result<String, ConfigError> {
        let (text, at) = match (inline, file) {
            (Some(d), None) => (d.get_ref().clone(), d.span()),
            (None, Some(f)) => {
                let path = self.dir.join(f.get_ref());
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| self.err(f, format!("{what}: reading {}: {e}", path.display())))?;
                (text, f.span())
            }
            (Some(d), Some(_)) => {
                return Err(self.err(d, format!("{what}: give the JSON or a file, not both")));
            }
            (None, None) => {
                return Err(self.err(owner, format!("{what}: the JSON or a file is required")));
            }
        };
        if let Err(e) = cubby_policy::Policy::parse_as(&text, kind) {
            return Err(self.err_at(at, format!("{what}: {e}")));
        }
        Ok(text)
    }
}

impl Config {
    /// Read and check `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
        })?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::parse(&path.display().to_string(), &text, dir)
    }

    /// The embedded seed setup ([`DEFAULT_CONFIG`]).
    pub fn default_setup() -> Result<Config, ConfigError> {
        Self::parse(
            "<embedded default cubby.toml>",
            DEFAULT_CONFIG,
            PathBuf::new(),
        )
    }

    /// Parse and check `text`; `dir` resolves `file = "…"` references.
    pub fn parse(source: &str, text: &str, dir: PathBuf) -> Result<Config, ConfigError> {
        let cx = Ctx { source, text, dir };
        let mut file: File = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            cx.err_at(span, e.message().to_owned())
        })?;
        check(&cx, &mut file)?;
        Ok(Config {
            source: source.to_owned(),
            file,
            text: text.to_owned(),
        })
    }

    /// The file's `[[event_target]]`s in the environment form the server reads
    /// (`CUBBY_NOTIFY_<KIND>_<ID>`, `CUBBY_NOTIFY_SECRET_<ID>`).
    pub fn event_target_vars(&self) -> Vec<(String, String)> {
        self.file
            .event_targets
            .iter()
            .flat_map(target_vars)
            .collect()
    }

    /// `file:line` of a value in the file, so errors found while applying point at it too.
    pub fn at<T>(&self, v: &Spanned<T>) -> String {
        let (line, _) = line_col(&self.text, v.span().start);
        format!("{}:{line}", self.source)
    }
}

fn unique<'a>(
    cx: &Ctx<'_>,
    what: &str,
    names: impl Iterator<Item = &'a Spanned<String>>,
) -> Result<BTreeSet<String>, ConfigError> {
    let mut seen = BTreeSet::new();
    for n in names {
        if !seen.insert(n.get_ref().clone()) {
            return Err(cx.err(n, format!("duplicate {what} name `{}`", n.get_ref())));
        }
    }
    Ok(seen)
}

/// `t` as the environment variables that declare the same target.
fn target_vars(t: &EventTarget) -> Vec<(String, String)> {
    let id = t.id.get_ref().to_ascii_uppercase();
    let mut vars = vec![(
        format!(
            "CUBBY_NOTIFY_{}_{id}",
            t.kind.get_ref().to_ascii_uppercase()
        ),
        t.url.get_ref().clone(),
    )];
    if let Some(s) = &t.secret {
        vars.push((format!("CUBBY_NOTIFY_SECRET_{id}"), s.get_ref().clone()));
    }
    vars
}

/// Event targets: each one valid as the server will read it, and no id declared twice (here
/// or by an environment variable).
fn check_event_targets(cx: &Ctx<'_>, f: &File) -> Result<(), ConfigError> {
    let from_env = cubby_events::targets::from_env(std::env::vars()).unwrap_or_default();
    let mut seen = BTreeSet::new();
    for t in &f.event_targets {
        let id = t.id.get_ref();
        if id.is_empty() || !id.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
            return Err(cx.err(
                &t.id,
                format!("`{id}` is not a target id (letters, digits and '_')"),
            ));
        }
        let lower = id.to_ascii_lowercase();
        if !seen.insert(lower.clone()) {
            return Err(cx.err(&t.id, format!("event target `{id}` is declared twice")));
        }
        if from_env.iter().any(|e| e.id == lower) {
            return Err(cx.err(
                &t.id,
                format!(
                    "event target `{id}` is also declared by a CUBBY_NOTIFY_*_{} variable",
                    id.to_ascii_uppercase()
                ),
            ));
        }
        let kind = t.kind.get_ref();
        if !matches!(
            kind.as_str(),
            "webhook" | "nats" | "amqp" | "redis" | "mqtt"
        ) {
            return Err(cx.err(
                &t.kind,
                format!("kind is webhook, nats, amqp, redis or mqtt, not `{kind}`"),
            ));
        }
        if let Err(cubby_events::EventsError::Config(msg)) =
            cubby_events::targets::from_env(target_vars(t))
        {
            // The server's own check (its message names the variable), reported here.
            let why = msg.split_once(": ").map_or(msg.as_str(), |(_, w)| w);
            let at = if t.secret.is_some() && why.contains("signed") {
                t.secret.as_ref().map_or(t.url.span(), Spanned::span)
            } else {
                t.url.span()
            };
            return Err(cx.err_at(at, format!("event target `{id}`: {why}")));
        }
    }
    Ok(())
}

/// Names are unique per kind, references resolve, documents parse.
fn check(cx: &Ctx<'_>, f: &mut File) -> Result<(), ConfigError> {
    check_event_targets(cx, f)?;
    unique(cx, "bucket", f.buckets.iter().map(|b| &b.name))?;
    for b in &mut f.buckets {
        let n = b.name.get_ref();
        if n.len() < 3 || n.len() > 63 || n.starts_with('_') {
            return Err(cx.err(&b.name, format!("`{n}` is not a valid bucket name")));
        }
        if b.policy.is_some() || b.policy_file.is_some() {
            let what = format!("bucket `{n}` policy");
            b.policy_text = Some(cx.document(
                b.policy.as_ref(),
                b.policy_file.as_ref(),
                &what,
                RESOURCE,
                &b.name,
            )?);
        }
        if let Some(e) = &b.encryption
            && !matches!(e.get_ref().as_str(), "AES256" | "none")
        {
            return Err(cx.err(
                e,
                format!(
                    "bucket `{n}`: encryption is \"AES256\" (SSE-S3) or \"none\", not `{}`",
                    e.get_ref()
                ),
            ));
        }
        for nc in b.notification.iter().flatten() {
            let t = nc.target.get_ref();
            if t.is_empty() || !t.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                return Err(cx.err(
                    &nc.target,
                    format!("bucket `{n}`: `{t}` is not an event target id (the <ID> of CUBBY_NOTIFY_<KIND>_<ID>)"),
                ));
            }
            if nc.events.is_empty() {
                return Err(cx.err(
                    &nc.target,
                    format!("bucket `{n}`: the notification to `{t}` names no events"),
                ));
            }
        }
        if let Some(rules) = &b.upload_rule {
            let plain: Vec<cubby_rules::UploadRule> =
                rules.iter().map(|r| r.get_ref().clone()).collect();
            if let Err(e) = cubby_rules::compile(&plain) {
                let at = rules.get(e.index).or(rules.last());
                if let Some(at) = at {
                    return Err(cx.err(at, format!("bucket `{n}`: {e}")));
                }
            }
        }
        if let Some(rules) = &b.cors {
            for r in rules {
                if r.allowed_origins.is_empty() || r.allowed_methods.is_empty() {
                    return Err(cx.err(
                        &b.name,
                        format!("bucket `{n}`: every CORS rule needs allowed_origins and allowed_methods"),
                    ));
                }
            }
        }
    }
    let policies = unique(cx, "policy", f.policies.iter().map(|p| &p.name))?;
    for p in &mut f.policies {
        let what = format!("policy `{}`", p.name.get_ref());
        p.text = cx.document(
            p.document.as_ref(),
            p.file.as_ref(),
            &what,
            IDENTITY,
            &p.name,
        )?;
    }
    let pools = unique(
        cx,
        "identity pool",
        f.identity_pools.iter().map(|p| &p.name),
    )?;
    let user_pools = unique(cx, "user pool", f.user_pools.iter().map(|p| &p.name))?;
    for up in &f.user_pools {
        unique(cx, "client", up.clients.iter().map(|c| &c.name))?;
    }
    let roles = unique(cx, "role", f.roles.iter().map(|r| &r.name))?;
    for r in &mut f.roles {
        let name = r.name.get_ref().clone();
        let full = r.trust_policy.is_some() || r.trust_policy_file.is_some();
        match &r.trust {
            Some(_) if full => {
                return Err(cx.err(
                    &r.name,
                    format!("role `{name}`: give `trust` or `trust_policy`, not both"),
                ));
            }
            Some(t) => {
                if !pools.contains(t.identity_pool.get_ref()) {
                    return Err(cx.err(
                        &t.identity_pool,
                        format!(
                            "role `{name}` trusts unknown identity pool `{}`",
                            t.identity_pool.get_ref()
                        ),
                    ));
                }
            }
            None => {
                let what = format!("role `{name}` trust_policy");
                r.trust_policy_text = Some(cx.document(
                    r.trust_policy.as_ref(),
                    r.trust_policy_file.as_ref(),
                    &what,
                    RESOURCE,
                    &r.name,
                )?);
            }
        }
        unique(
            cx,
            "inline policy",
            r.inline_policies.iter().map(|p| &p.name),
        )?;
        for p in &mut r.inline_policies {
            let what = format!("role `{name}` inline policy `{}`", p.name.get_ref());
            p.text = cx.document(
                p.document.as_ref(),
                p.file.as_ref(),
                &what,
                IDENTITY,
                &p.name,
            )?;
        }
        for m in &r.managed_policies {
            let m_ref = m.get_ref();
            if !m_ref.starts_with("arn:") && !policies.contains(m_ref) {
                return Err(cx.err(m, format!("role `{name}` attaches unknown policy `{m_ref}` (a [[policy]] name or an ARN)")));
            }
        }
    }
    let oidc: BTreeSet<String> = f
        .oidc_providers
        .iter()
        .map(|o| o.url.get_ref().clone())
        .collect();
    for o in &f.oidc_providers {
        if !o.url.get_ref().starts_with("https://") {
            return Err(cx.err(&o.url, "OIDC provider url must start with https://"));
        }
    }
    for p in &f.identity_pools {
        let name = p.name.get_ref();
        for r in [&p.roles.authenticated, &p.roles.unauthenticated]
            .into_iter()
            .flatten()
        {
            if !roles.contains(r.get_ref()) && !r.get_ref().starts_with("arn:") {
                return Err(cx.err(
                    r,
                    format!(
                        "identity pool `{name}` names unknown role `{}`",
                        r.get_ref()
                    ),
                ));
            }
        }
        let check_up = |u: &UserPoolRef| -> Result<(), ConfigError> {
            if !user_pools.contains(u.user_pool.get_ref()) {
                return Err(cx.err(
                    &u.user_pool,
                    format!(
                        "identity pool `{name}` names unknown user pool `{}`",
                        u.user_pool.get_ref()
                    ),
                ));
            }
            let pool = f
                .user_pools
                .iter()
                .find(|x| x.name.get_ref() == u.user_pool.get_ref());
            if !pool.is_some_and(|pl| {
                pl.clients
                    .iter()
                    .any(|c| c.name.get_ref() == u.client.get_ref())
            }) {
                return Err(cx.err(
                    &u.client,
                    format!(
                        "user pool `{}` has no client `{}`",
                        u.user_pool.get_ref(),
                        u.client.get_ref()
                    ),
                ));
            }
            Ok(())
        };
        for u in &p.user_pools {
            check_up(u)?;
        }
        for url in &p.openid_providers {
            if !oidc.contains(url.get_ref()) && !url.get_ref().starts_with("arn:") {
                return Err(cx.err(url, format!("identity pool `{name}` names OIDC provider `{}` that no [[oidc_provider]] declares", url.get_ref())));
            }
        }
        for m in &p.role_mappings {
            match (&m.provider, &m.user_pool) {
                (Some(_), None) => {}
                (None, Some(u)) => check_up(u)?,
                _ => {
                    return Err(cx.err(&p.name, format!("identity pool `{name}`: each role_mapping needs exactly one of `provider` or `user_pool`")));
                }
            }
            if m.kind.get_ref() == "Rules" && m.rules.is_empty() {
                return Err(cx.err(
                    &m.kind,
                    "a role mapping of type Rules needs at least one rule",
                ));
            }
            if !["Token", "Rules"].contains(&m.kind.get_ref().as_str()) {
                return Err(cx.err(&m.kind, "role mapping type must be \"Token\" or \"Rules\""));
            }
            for rule in &m.rules {
                if !roles.contains(rule.role.get_ref()) && !rule.role.get_ref().starts_with("arn:")
                {
                    return Err(cx.err(
                        &rule.role,
                        format!("role mapping names unknown role `{}`", rule.role.get_ref()),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn default_config_parses() {
        let c = Config::default_setup().unwrap();
        assert_eq!(c.file.buckets.len(), 1);
        assert_eq!(c.file.identity_pools.len(), 1);
        assert_eq!(c.file.user_pools.len(), 1);
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let e = Config::parse(
            "x.toml",
            "[[bucket]]\nname = \"ok-bucket\"\ncors = 5\n",
            PathBuf::new(),
        )
        .unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("x.toml", 3), "{e}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = Config::parse(
            "x.toml",
            "\n[[bucket]]\nname = \"ok-bucket\"\ncorz = []\n",
            PathBuf::new(),
        )
        .unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("corz"), "{e}");
    }

    #[test]
    fn bad_encryption_and_notification_targets_point_at_their_line() {
        let text = "[[bucket]]\nname = \"b-1\"\nencryption = \"aws:kms\"\n";
        let e = Config::parse("x.toml", text, PathBuf::new()).unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("AES256"), "{e}");
        let text = "[[bucket]]\nname = \"b-1\"\n\n[[bucket.notification]]\ntarget = \"a/b\"\nevents = [\"s3:ObjectCreated:*\"]\n";
        let e = Config::parse("x.toml", text, PathBuf::new()).unwrap_err();
        assert_eq!(e.line, 5, "{e}");
        let text = "[[bucket]]\nname = \"b-1\"\n\n[[bucket.notification]]\ntarget = \"thumbs\"\nevents = []\n";
        let e = Config::parse("x.toml", text, PathBuf::new()).unwrap_err();
        assert!(e.message.contains("names no events"), "{e}");
    }

    #[test]
    fn event_targets_become_the_environment_form_and_bad_ones_point_at_their_line() {
        let text = "[[event_target]]\nid = \"thumbs_1\"\nkind = \"webhook\"\nurl = \"https://h.example/hook\"\nsecret = \"k\"\n\n[[event_target]]\nid = \"iot\"\nkind = \"nats\"\nurl = \"nats://127.0.0.1:4222/uploads\"\n";
        let c = Config::parse("x.toml", text, PathBuf::new()).unwrap();
        assert_eq!(
            c.event_target_vars(),
            [
                (
                    "CUBBY_NOTIFY_WEBHOOK_THUMBS_1".to_owned(),
                    "https://h.example/hook".to_owned()
                ),
                ("CUBBY_NOTIFY_SECRET_THUMBS_1".to_owned(), "k".to_owned()),
                (
                    "CUBBY_NOTIFY_NATS_IOT".to_owned(),
                    "nats://127.0.0.1:4222/uploads".to_owned()
                ),
            ]
        );
        let bad = |text: &str| Config::parse("x.toml", text, PathBuf::new()).unwrap_err();
        let e = bad("[[event_target]]\nid = \"t\"\nkind = \"sqs\"\nurl = \"https://h/\"\n");
        assert_eq!(e.line, 3, "{e}");
        let e = bad("[[event_target]]\nid = \"t\"\nkind = \"redis\"\nurl = \"redis://h:6379/0\"\n");
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("stream"), "{e}");
        let e = bad(
            "[[event_target]]\nid = \"t\"\nkind = \"nats\"\nurl = \"nats://h:4222/s\"\nsecret = \"k\"\n",
        );
        assert_eq!(e.line, 5, "{e}");
        let e = bad(
            "[[event_target]]\nid = \"t\"\nkind = \"nats\"\nurl = \"nats://h/s\"\n[[event_target]]\nid = \"T\"\nkind = \"nats\"\nurl = \"nats://h/s\"\n",
        );
        assert!(e.message.contains("declared twice"), "{e}");
        let e = bad("[[event_target]]\nid = \"a-b\"\nkind = \"nats\"\nurl = \"nats://h/s\"\n");
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn upload_rules_parse_and_bad_ones_point_at_their_line() {
        let text = "[[bucket]]\nname = \"b-1\"\n\n[[bucket.upload_rule]]\nid = \"images\"\nmax_size = \"10 MiB\"\ncontent_types = [\"image/*\"]\nkey_pattern = \"${cognito-identity.amazonaws.com:sub}/*\"\n";
        let c = Config::parse("x.toml", text, PathBuf::new()).unwrap();
        let rules = c.file.buckets[0].upload_rule.as_ref().unwrap();
        assert_eq!(rules[0].get_ref().max_size, Some(10 << 20));
        let text = "[[bucket]]\nname = \"b-1\"\n\n[[bucket.upload_rule]]\nid = \"ok\"\n\n[[bucket.upload_rule]]\nid = \"bad\"\nmax_objects = 0\n";
        let e = Config::parse("x.toml", text, PathBuf::new()).unwrap_err();
        assert_eq!(e.line, 7, "{e}");
        assert!(e.message.contains("max_objects"), "{e}");
        let text =
            "[[bucket]]\nname = \"b-1\"\n\n[[bucket.upload_rule]]\nid = \"x\"\nmax_sise = 3\n";
        let e = Config::parse("x.toml", text, PathBuf::new()).unwrap_err();
        assert!(e.message.contains("max_sise"), "{e}");
    }

    #[test]
    fn bad_references_point_at_the_reference() {
        let text =
            "[[identity_pool]]\nname = \"p\"\n\n[identity_pool.roles]\nauthenticated = \"Nope\"\n";
        let e = Config::parse("x.toml", text, PathBuf::new()).unwrap_err();
        assert_eq!(e.line, 5, "{e}");
        assert!(e.message.contains("Nope"), "{e}");
    }

    #[test]
    fn bad_policies_point_at_the_document() {
        let text = "[[policy]]\nname = \"p\"\n\ndocument = '{\"Version\": \"2012-10-17\", \"Statement\": 3}'\n";
        let e = Config::parse("x.toml", text, PathBuf::new()).unwrap_err();
        assert_eq!(e.line, 4, "{e}");
    }
}
