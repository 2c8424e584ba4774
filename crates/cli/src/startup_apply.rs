//! The start-up configuration is applied by a short-lived child process (`cubby` re-run with
//! the hidden `startup-apply` command), not inside the server.
//!
//! Why: apply is an AWS client (aws-sdk-rust over loopback, DESIGN's "change a server only
//! through its AWS APIs"). Running it in the server process would fault in the SDKs' code and
//! leave several MiB of their pages resident for the server's whole life, for a job done once
//! at start. The child does the same calls and exits; the server only keeps what serving needs.
//!
//! The child learns the root keys from its environment (never its argv, which other users can
//! read in `/proc`), prints one JSON [`Report`] on stdout and its warnings on stderr.

use crate::apply::{self, Action, Plan, Target};
use crate::config::Config;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::process::Stdio;

/// Environment variables the child reads the root keys from.
const ENV_ACCESS_KEY: &str = "CUBBY_ROOT_ACCESS_KEY_ID";
const ENV_SECRET_KEY: &str = "CUBBY_ROOT_SECRET_ACCESS_KEY";

/// Flags of the hidden `startup-apply` command (given by `serve`, not by people).
#[derive(clap::Args, Debug)]
pub struct StartupApplyArgs {
    /// The configuration file; without it, the embedded seed setup.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The server's own loopback endpoint.
    #[arg(long)]
    pub endpoint: String,
    /// Region to sign for.
    #[arg(long)]
    pub region: String,
}

/// One applied resource, as the child reports it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChangeReport {
    /// Resource kind.
    pub kind: String,
    /// Resource name.
    pub name: String,
    /// `create`, `update` or `unchanged`.
    pub action: String,
    /// What changed.
    pub details: Vec<String>,
}

/// What the child prints: the changes and the setup's primary ids.
#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    /// One entry per resource, in apply order.
    pub changes: Vec<ChangeReport>,
    /// The file's first bucket.
    pub bucket: Option<String>,
    /// Its first identity pool's id.
    pub identity_pool_id: Option<String>,
    /// Its first user pool's id.
    pub user_pool_id: Option<String>,
    /// That pool's first client's id.
    pub user_pool_client_id: Option<String>,
}

impl Report {
    fn new(cfg: &Config, plan: &Plan) -> Report {
        let f = &cfg.file;
        let ids = &plan.ids;
        let up = f.user_pools.first();
        Report {
            changes: plan
                .changes
                .iter()
                .map(|c| ChangeReport {
                    kind: c.kind.to_owned(),
                    name: c.name.clone(),
                    action: match c.action {
                        Action::Create => "create",
                        Action::Update => "update",
                        Action::Unchanged => "unchanged",
                    }
                    .to_owned(),
                    details: c.details.clone(),
                })
                .collect(),
            bucket: f.buckets.first().map(|b| b.name.get_ref().clone()),
            identity_pool_id: f
                .identity_pools
                .first()
                .and_then(|p| ids.identity_pools.get(p.name.get_ref()).cloned()),
            user_pool_id: up.and_then(|p| ids.user_pools.get(p.name.get_ref()).cloned()),
            user_pool_client_id: up.and_then(|p| {
                let c = p.clients.first()?;
                ids.clients
                    .get(&(p.name.get_ref().clone(), c.name.get_ref().clone()))
                    .cloned()
            }),
        }
    }

    /// The ids the server hands to clients.
    pub fn setup_info(&self, region: &str) -> cubby_server::SetupInfo {
        cubby_server::SetupInfo {
            region: region.to_owned(),
            bucket: self.bucket.clone(),
            identity_pool_id: self.identity_pool_id.clone(),
            user_pool_id: self.user_pool_id.clone(),
            user_pool_client_id: self.user_pool_client_id.clone(),
        }
    }
}

/// The child's side: apply, print the report; on failure print the error, one line with its
/// causes, for the server to quote.
pub async fn run_child(args: StartupApplyArgs) -> std::process::ExitCode {
    match apply_and_report(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn apply_and_report(args: StartupApplyArgs) -> anyhow::Result<()> {
    let cfg = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default_setup()?,
    };
    let key = |name: &str| std::env::var(name).with_context(|| format!("{name} is not set"));
    let target = Target {
        endpoint: args.endpoint,
        region: args.region,
        access_key_id: key(ENV_ACCESS_KEY)?,
        secret_access_key: key(ENV_SECRET_KEY)?,
    };
    let plan = apply::apply(&cfg, &target, false, None).await?;
    let report = serde_json::to_string(&Report::new(&cfg, &plan))?;
    println!("{report}");
    Ok(())
}

/// The server's side: run the child against `endpoint` and return its report. The child's
/// stderr (warnings) is passed on; when it fails, its error becomes this one.
pub async fn apply_in_child(
    config: Option<PathBuf>,
    endpoint: String,
    region: String,
    keys: cubby_server::RootKeys,
) -> anyhow::Result<Report> {
    // This binary's path; if its file was replaced since the start (the path then reads
    // "… (deleted)"), /proc/self/exe, which still names it. The path comes first because
    // under a tool that runs the binary for us (valgrind) /proc/self/exe is the tool.
    let exe = match std::env::current_exe() {
        Ok(path) if path.exists() => path,
        _ => PathBuf::from("/proc/self/exe"),
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("startup-apply")
        .arg("--endpoint")
        .arg(endpoint)
        .arg("--region")
        .arg(region)
        .env(ENV_ACCESS_KEY, &keys.access_key_id)
        .env(ENV_SECRET_KEY, &keys.secret_access_key)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(path) = config {
        cmd.arg("--config").arg(path);
    }
    // std's process API blocks; the child's run is short (the apply's round trips).
    let output = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .context("waiting for the apply process")?
        .context("starting the apply process")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        anyhow::bail!("{}", stderr.trim());
    }
    if !stderr.is_empty() {
        eprint!("{stderr}");
    }
    serde_json::from_slice(&output.stdout).context("reading the apply process's report")
}
