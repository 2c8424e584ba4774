//! `cubby`: the command line. Thin: parses flags, sets up logging, calls the library crates
//! (and, for `apply`, `presign` and `admin`, a server's AWS APIs).

mod admin_cmd;
mod apply;
mod client;
mod config;
mod policy_cmd;
mod serve_cmd;
mod startup_apply;
mod style;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

// mimalloc rather than glibc's malloc: per-thread heaps with no arena locks, and no heap
// trimming or chunk consolidation on the request path (see ARCHITECTURE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// cubby — a self-hosted S3 object store with the identity-pool / STS / IAM credential broker
/// that browser and mobile uploads need, in one binary.
#[derive(Parser, Debug)]
#[command(
    name = "cubby",
    version,
    about,
    long_about = "cubby — one self-hosted binary that is an S3-compatible object store, the Cognito \
identity-pool API, STS, an IAM policy engine and a small user pool (OIDC issuer). Unmodified AWS \
clients (JS v3/v2, boto3, aws-sdk-rust, the AWS CLI, browsers) work by overriding only the \
endpoint.",
    after_long_help = "GETTING STARTED:
    cubby serve                      # seed setup: bucket, user pool, identity pool; prints ids
    cubby init                       # write that setup to ./cubby.toml to change it
    cubby serve --config cubby.toml  # serve your file (applied at every start)
    cubby apply --dry-run            # what `apply` would change on a running server

CLIENT COMMANDS (apply, presign, admin) talk to a server through its AWS APIs with the root
keys: CUBBY_ROOT_ACCESS_KEY_ID / CUBBY_ROOT_SECRET_ACCESS_KEY, else <data-dir>/root-credentials,
else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.

ENVIRONMENT:
    CUBBY_LOG                     tracing filter (default: info), e.g. `info,access=warn`
    CUBBY_ROOT_ACCESS_KEY_ID      root keys (else generated on first start, kept in the data dir)
    CUBBY_ROOT_SECRET_ACCESS_KEY
    CUBBY_MASTER_KEY_FILE         64 hex chars shared by every node (else <data-dir>/master.key)
    CUBBY_S3_LEGACY_BUCKET_DEFAULTS=1   new buckets start as S3 did before April 2023
    NO_COLOR                      no colours even on a terminal

See docs/ in the repository: configuration.md, operations.md, security.md, api-coverage.md."
)]
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
    ///
    /// Applies the start-up configuration (`--config`, else the embedded seed setup) once the
    /// listener is up, then prints the endpoint, console URL and resource ids.
    /// `/_cubby/ready` answers 200 once that is done.
    Serve(serve_cmd::ServeArgs),
    /// Write a commented cubby.toml reproducing the seed setup (what `serve` uses without
    /// `--config`).
    Init {
        /// Directory to write cubby.toml into.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Overwrite an existing cubby.toml.
        #[arg(long)]
        force: bool,
    },
    /// Make a running server match a cubby.toml (prints create / update / unchanged).
    ///
    /// Talks to the server through its AWS APIs with the root keys, so it works against a
    /// remote node. Resources are found by name; nothing the file does not name is deleted.
    Apply(ApplyArgs),
    /// Check a cubby.toml without a server (syntax, references, policy documents).
    Validate {
        /// The file.
        #[arg(default_value = "cubby.toml")]
        config: PathBuf,
    },
    /// Check or simulate IAM policies offline, with the server's own policy engine.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    /// Print a presigned S3 URL (GET or PUT), signed with the root keys.
    Presign(client::PresignArgs),
    /// Operator helpers: pools, identities, users, access keys (through the AWS APIs).
    #[command(subcommand)]
    Admin(admin_cmd::AdminCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Internal: `serve` runs this in a child process to apply its start-up configuration.
    #[command(hide = true)]
    StartupApply(startup_apply::StartupApplyArgs),
}

#[derive(clap::Args, Debug)]
struct ApplyArgs {
    /// The configuration file.
    #[arg(long, default_value = "cubby.toml", env = "CUBBY_CONFIG")]
    config: PathBuf,
    /// Only print the plan; change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    server: client::ServerArgs,
}

/// Logs go to stdout for `serve` (as before: operators pipe them) and to stderr for the client
/// commands, whose stdout is their result.
fn init_logging(format: LogFormat, serving: bool) {
    let default = if serving { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CUBBY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let tty = |serving: bool| {
        if serving {
            std::io::IsTerminal::is_terminal(&std::io::stdout())
        } else {
            std::io::IsTerminal::is_terminal(&std::io::stderr())
        }
    };
    match (format, serving) {
        (LogFormat::Json, true) => builder.json().init(),
        (LogFormat::Json, false) => builder.json().with_writer(std::io::stderr).init(),
        (LogFormat::Text, true) => builder.with_ansi(tty(true)).init(),
        (LogFormat::Text, false) => builder
            .with_ansi(tty(false))
            .with_writer(std::io::stderr)
            .init(),
    }
}

fn init(dir: &std::path::Path, force: bool) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("cubby.toml");
    if path.exists() && !force {
        anyhow::bail!("{} exists; pass --force to overwrite it", path.display());
    }
    std::fs::write(&path, config::DEFAULT_CONFIG)
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "Wrote {}. Start with: cubby serve --config {}",
        path.display(),
        path.display()
    );
    Ok(())
}

async fn run_apply(args: ApplyArgs) -> anyhow::Result<std::process::ExitCode> {
    let cfg = config::Config::load(&args.config)?;
    let target = args.server.target()?;
    let style = style::Style::for_stdout();
    let verb = if args.dry_run { "Plan for" } else { "Applying" };
    println!(
        "{} {} to {}:",
        style.bold(verb),
        cfg.source,
        target.endpoint
    );
    // Each resource is printed as soon as it is done: a large file shows its progress.
    let progress: apply::Progress = Box::new(move |c: &apply::Change| {
        let line = c.to_string();
        let line = match c.action {
            apply::Action::Create => style.green(&line),
            apply::Action::Update => style.yellow(&line),
            apply::Action::Unchanged => line,
        };
        println!("{line}");
    });
    let plan = apply::apply(&cfg, &target, args.dry_run, Some(progress)).await?;
    println!("{}", plan.summary());
    if plan.is_unchanged() {
        println!("Nothing to change.");
    }
    Ok(std::process::ExitCode::SUCCESS)
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
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "cubby", &mut std::io::stdout());
            return Ok(std::process::ExitCode::SUCCESS);
        }
        Command::Init { dir, force } => {
            init(dir, *force)?;
            return Ok(std::process::ExitCode::SUCCESS);
        }
        Command::Validate { config } => {
            let c = config::Config::load(config)?;
            println!("{}: ok", c.source);
            return Ok(std::process::ExitCode::SUCCESS);
        }
        Command::Presign(args) => {
            println!("{}", client::presign(args)?);
            return Ok(std::process::ExitCode::SUCCESS);
        }
        _ => {}
    }
    init_logging(cli.log_format, matches!(cli.command, Command::Serve(_)));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Serve(args) => rt.block_on(serve_cmd::serve(args))?,
        Command::Apply(args) => return rt.block_on(run_apply(args)),
        Command::Admin(cmd) => return rt.block_on(admin_cmd::run(cmd)),
        Command::StartupApply(args) => return Ok(rt.block_on(startup_apply::run_child(args))),
        _ => {}
    }
    Ok(std::process::ExitCode::SUCCESS)
}
