//! `cubby`: the command line. Thin: parses flags, sets up logging, calls the library crates.

mod policy_cmd;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

/// cubby — a self-hosted S3 object store with the identity-pool / STS / IAM credential broker
/// that browser and mobile uploads need, in one binary.
#[derive(Parser, Debug)]
#[command(name = "cubby", version, about, long_about = None)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "CUBBY_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server: S3, identity pools, STS, IAM and user pools on one port.
    Serve(ServeArgs),
    /// Check or simulate IAM policies offline, with the server's own policy engine.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000", env = "CUBBY_LISTEN")]
    listen: SocketAddr,
    /// Data directory: blobs, embedded metadata database, generated keys.
    #[arg(long, default_value = "./cubby-data", env = "CUBBY_DATA_DIR")]
    data_dir: PathBuf,
    /// Region reported to clients and used in ARNs and signatures.
    #[arg(long, default_value = "us-east-1", env = "CUBBY_REGION")]
    region: String,
    /// 12-digit account id used in ARNs.
    #[arg(long, default_value = "000000000000", env = "CUBBY_ACCOUNT_ID")]
    account_id: String,
    /// Base domain for virtual-host-style S3 requests (`<bucket>.<domain>`).
    #[arg(long, env = "CUBBY_DOMAIN")]
    domain: Option<String>,
    /// Declarative configuration file.
    #[arg(long, env = "CUBBY_CONFIG")]
    config: Option<PathBuf>,
    /// Metadata database (`postgres://…`); default: SQLite in the data dir.
    #[arg(long, env = "CUBBY_METADATA_URL")]
    metadata_url: Option<String>,
    /// Public base URL clients reach this server at (issuer of user-pool tokens); default
    /// `http://<listen address>`.
    #[arg(long, env = "CUBBY_PUBLIC_URL")]
    public_url: Option<String>,
    /// Bucket that `/_cubby/upload-url` issues presigned PUTs for (unset: endpoint disabled).
    #[arg(long, env = "CUBBY_UPLOAD_URL_BUCKET")]
    upload_url_bucket: Option<String>,
    /// Identity pool that verifies `Authorization: Bearer <ID token>` at `/_cubby/upload-url`
    /// and maps the token to its identity (unset: only SigV4 callers).
    #[arg(long, env = "CUBBY_UPLOAD_URL_IDENTITY_POOL")]
    upload_url_identity_pool: Option<String>,
    /// Largest upload an upload URL allows, bytes (clients must then send `contentLength`).
    #[arg(long, env = "CUBBY_UPLOAD_URL_MAX_SIZE")]
    upload_url_max_size: Option<u64>,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUBBY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
}

async fn shutdown_signal() {
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

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if args.config.is_some() {
        anyhow::bail!("--config: the declarative configuration file is not supported yet");
    }
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating data dir {}", args.data_dir.display()))?;
    let (root, generated) =
        cubby_server::load_or_create_root_keys(&args.data_dir).context("loading root keys")?;
    let master = cubby_server::load_or_create_master_key(&args.data_dir)
        .context("loading the master key")?;
    if generated {
        eprintln!(
            "Generated root credentials (stored in {}, shown once):\n  access key id:     {}\n  secret access key: {}",
            args.data_dir.join("root-credentials").display(),
            root.access_key_id,
            root.secret_access_key
        );
    }
    let legacy = std::env::var("CUBBY_S3_LEGACY_BUCKET_DEFAULTS").is_ok_and(|v| v == "1");
    let cfg = cubby_server::ServerConfig {
        listen: args.listen,
        data_dir: args.data_dir.clone(),
        region: args.region.clone(),
        account_id: args.account_id.clone(),
        domain: args.domain.clone(),
        metadata_url: args.metadata_url.clone(),
        legacy_bucket_defaults: legacy,
        root: root.clone(),
        master_key: master,
        public_url: args.public_url.clone(),
        upload_url: cubby_server::UploadUrlSettings {
            bucket: args.upload_url_bucket.clone(),
            identity_pool: args.upload_url_identity_pool.clone(),
            max_size: args.upload_url_max_size,
        },
        console: cubby_server::ConsoleConfig::default(),
    };
    let akid = root.access_key_id.clone();
    cubby_server::run(cfg, shutdown_signal(), move |addr| {
        eprintln!("cubby listening on http://{addr}  (root key id {akid})");
        tracing::info!(%addr, "ready");
    })
    .await?;
    Ok(())
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Policy(policy_cmd::PolicyCommand::Check { files }) => {
            return Ok(policy_cmd::check(files));
        }
        Command::Policy(policy_cmd::PolicyCommand::Simulate(args)) => {
            return Ok(policy_cmd::simulate(args));
        }
        Command::Serve(_) => {}
    }
    init_logging(cli.log_format);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Serve(args) => rt.block_on(serve(args))?,
        Command::Policy(_) => {}
    }
    Ok(std::process::ExitCode::SUCCESS)
}
