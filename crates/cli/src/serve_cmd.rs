//! `cubby serve`: start the server, apply the start-up configuration (the file given with
//! `--config`, else the embedded seed setup) through the server's own AWS APIs (from a child
//! process: `startup_apply.rs`), then print the banner an app developer needs: endpoint, console, bucket, pool ids, root key id.

use crate::config::Config;
use crate::startup_apply;
use crate::style::Style;
use anyhow::Context;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

/// `cubby serve` flags.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000", env = "CUBBY_LISTEN")]
    pub listen: SocketAddr,
    /// Data directory: blobs, embedded metadata database, generated keys.
    #[arg(long, default_value = "./cubby-data", env = "CUBBY_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Region reported to clients and used in ARNs and signatures.
    #[arg(long, default_value = "us-east-1", env = "CUBBY_REGION")]
    pub region: String,
    /// 12-digit account id used in ARNs.
    #[arg(long, default_value = "000000000000", env = "CUBBY_ACCOUNT_ID")]
    pub account_id: String,
    /// Base domain for virtual-host-style S3 requests (`<bucket>.<domain>`).
    #[arg(long, env = "CUBBY_DOMAIN")]
    pub domain: Option<String>,
    /// Declarative configuration (`cubby.toml`), applied at every start. Without it cubby
    /// applies the embedded seed setup (what `cubby init` writes); an empty file sets up
    /// nothing.
    #[arg(long, env = "CUBBY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Metadata database (`postgres://…`); default: SQLite in the data dir.
    #[arg(long, env = "CUBBY_METADATA_URL")]
    pub metadata_url: Option<String>,
    /// Blob store: `s3://bucket/prefix?endpoint=…&region=…` (any S3-compatible store;
    /// credentials from `CUBBY_BLOB_ACCESS_KEY_ID` / `CUBBY_BLOB_SECRET_ACCESS_KEY`, else the
    /// AWS chain) or `file:///shared/path` (a directory every node mounts); default: `blobs/`
    /// in the data dir.
    #[arg(long, env = "CUBBY_BLOB_URL")]
    pub blob_url: Option<String>,
    /// Public base URL clients reach this server at (issuer of user-pool tokens); default
    /// `http://<listen address>`.
    #[arg(long, env = "CUBBY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Bucket that `/_cubby/upload-url` issues presigned PUTs for; default: the configuration's
    /// first bucket (none: the endpoint is disabled).
    #[arg(long, env = "CUBBY_UPLOAD_URL_BUCKET")]
    pub upload_url_bucket: Option<String>,
    /// Identity pool that verifies `Authorization: Bearer <ID token>` at `/_cubby/upload-url`
    /// and maps the token to its identity; default: the configuration's first identity pool.
    #[arg(long, env = "CUBBY_UPLOAD_URL_IDENTITY_POOL")]
    pub upload_url_identity_pool: Option<String>,
    /// Largest upload an upload URL allows, bytes (clients must then send `contentLength`).
    #[arg(long, env = "CUBBY_UPLOAD_URL_MAX_SIZE")]
    pub upload_url_max_size: Option<u64>,
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// The address this process reaches its own listener at.
fn self_address(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), a.port())
        }
        SocketAddr::V6(a) if a.ip().is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), a.port())
        }
        a => a,
    }
}

fn banner(
    public: &str,
    info: &cubby_server::SetupInfo,
    akid: &str,
    source: &str,
    style: Style,
) -> String {
    let mut out = format!("\n{}\n", style.bold(&format!("cubby is ready at {public}")));
    let mut row =
        |k: &str, v: &str| out.push_str(&format!("  {} {v}\n", style.dim(&format!("{k:<22}"))));
    row("console", &format!("{public}/_cubby/console/"));
    row("region", &info.region);
    if let Some(b) = &info.bucket {
        row("bucket", b);
    }
    if let Some(v) = &info.identity_pool_id {
        row("identity pool id", v);
    }
    if let Some(v) = &info.user_pool_id {
        row("user pool id", v);
    }
    if let Some(v) = &info.user_pool_client_id {
        row("user pool client id", v);
    }
    row("root access key id", akid);
    row("setup", source);
    out
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // The configuration is checked before anything starts: a typo is a start-up error that
    // names its line, not a half-configured server.
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default_setup()?,
    };
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data dir {}", args.data_dir.display()))?;
    let (root, generated) =
        cubby_server::load_or_create_root_keys(&args.data_dir).context("loading root keys")?;
    let master = cubby_server::load_or_create_master_key(&args.data_dir)
        .context("loading the master key")?;
    let style = Style::for_stderr();
    if generated {
        eprintln!(
            "Generated root credentials (stored in {}, shown once):\n  access key id:     {}\n  secret access key: {}",
            args.data_dir.join("root-credentials").display(),
            root.access_key_id,
            root.secret_access_key
        );
    }
    let legacy = std::env::var("CUBBY_S3_LEGACY_BUCKET_DEFAULTS").is_ok_and(|v| v == "1");
    let setup = cubby_server::SetupHandle::new();
    let console = cubby_server::ConsoleConfig::default();
    let cfg = cubby_server::ServerConfig {
        listen: args.listen,
        data_dir: args.data_dir.clone(),
        region: args.region.clone(),
        account_id: args.account_id.clone(),
        domain: args.domain.clone(),
        metadata_url: args.metadata_url.clone(),
        blob_url: args.blob_url.clone(),
        legacy_bucket_defaults: legacy,
        root: root.clone(),
        master_key: master,
        public_url: args.public_url.clone(),
        setup: setup.clone(),
        upload_url: cubby_server::UploadUrlSettings {
            bucket: args.upload_url_bucket.clone(),
            identity_pool: args.upload_url_identity_pool.clone(),
            max_size: args.upload_url_max_size,
        },
        console: console.clone(),
        event_targets: config.event_target_vars(),
    };
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<anyhow::Error>();
    let region = args.region.clone();
    let public_url = args.public_url.clone();
    let config_path = args.config.clone();
    let source = config.source.clone();
    let on_ready = move |addr: SocketAddr, ready: cubby_server::Ready| {
        let endpoint = format!("http://{}", self_address(addr));
        let public = public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        tracing::info!(%addr, "listening");
        tokio::spawn(async move {
            let applied = match ready.startup_config_lock().await {
                Ok(lock) => {
                    let applied = startup_apply::apply_in_child(
                        config_path,
                        endpoint,
                        region.clone(),
                        root.clone(),
                    )
                    .await;
                    lock.release().await;
                    applied
                }
                Err(e) => Err(anyhow::Error::new(e).context("waiting for the start-up lock")),
            };
            match applied {
                Ok(report) => {
                    for c in report.changes.iter().filter(|c| c.action != "unchanged") {
                        tracing::info!(kind = c.kind, name = %c.name, action = c.action, details = ?c.details, "configuration applied");
                    }
                    let info = report.setup_info(&region);
                    eprint!(
                        "{}",
                        banner(&public, &info, &root.access_key_id, &source, style)
                    );
                    tracing::info!(
                        %addr,
                        public_url = %public,
                        bucket = info.bucket.as_deref().unwrap_or(""),
                        identity_pool_id = info.identity_pool_id.as_deref().unwrap_or(""),
                        user_pool_id = info.user_pool_id.as_deref().unwrap_or(""),
                        user_pool_client_id = info.user_pool_client_id.as_deref().unwrap_or(""),
                        root_access_key_id = %root.access_key_id,
                        "ready"
                    );
                    // The console's page learns the applied ids from its config.json.
                    console.set(cubby_server::ConsoleSettings {
                        endpoint: String::new(),
                        region: info.region.clone(),
                        bucket: info.bucket.clone().unwrap_or_default(),
                        identity_pool_id: info.identity_pool_id.clone().unwrap_or_default(),
                        user_pool_id: info.user_pool_id.clone().unwrap_or_default(),
                        client_id: info.user_pool_client_id.clone().unwrap_or_default(),
                    });
                    setup.set(info);
                }
                Err(e) => {
                    let _ = failed_tx.send(e);
                }
            }
        });
    };
    let mut failure = None;
    let shutdown = async {
        // The sender is dropped once the configuration is applied: that is no reason to stop.
        let failed = async {
            match failed_rx.await {
                Ok(e) => e,
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown_signal() => {}
            e = failed => failure = Some(e),
        }
    };
    cubby_server::run(cfg, shutdown, on_ready).await?;
    if let Some(e) = failure {
        return Err(e.context("applying the start-up configuration"));
    }
    Ok(())
}
