//! Listener, connection handling and graceful shutdown.

use crate::console::ConsoleConfig;
use crate::dispatch::App;
use crate::keys::RootKeys;
use cubby_auth::session::MasterKey;
use cubby_blob::BlobStore;
use cubby_identity::{Identity, IdentityConfig};
use cubby_meta::Meta;
use cubby_s3::{S3Config, S3Service};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Everything `cubby serve` is configured with.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data directory (blobs, SQLite metadata, keys).
    pub data_dir: PathBuf,
    /// Region name.
    pub region: String,
    /// Account id.
    pub account_id: String,
    /// Base domain for virtual-host-style S3 requests.
    pub domain: Option<String>,
    /// Metadata database URL (default: SQLite in the data dir).
    pub metadata_url: Option<String>,
    /// Blob store URL (`s3://bucket/prefix?…` or `file:///shared/path`); default: `blobs/` in
    /// the data dir.
    pub blob_url: Option<String>,
    /// New buckets start with pre-2023 defaults.
    pub legacy_bucket_defaults: bool,
    /// Root keys.
    pub root: RootKeys,
    /// The cluster master key (session tokens, sealed secrets and signing keys).
    pub master_key: MasterKey,
    /// Public base URL (`--public-url`); default `http://<listen address>`.
    pub public_url: Option<String>,
    /// The upload-URL endpoint (`/_cubby/upload-url`).
    pub upload_url: crate::UploadUrlSettings,
    /// What the web console's `config.json` tells the page (updatable while running).
    pub console: ConsoleConfig,
    /// Filled in once the start-up configuration is applied (`/_cubby/ready` waits for it).
    pub setup: crate::SetupHandle,
    /// Event targets declared outside the environment (the configuration file), in the
    /// environment's form: `("CUBBY_NOTIFY_WEBHOOK_THUMBS", url)`, `("CUBBY_NOTIFY_SECRET_…", key)`.
    pub event_targets: Vec<(String, String)>,
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// I/O (bind, data dir).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Metadata store.
    #[error("{0}")]
    Meta(#[from] cubby_meta::MetaError),
    /// Blob store.
    #[error("{0}")]
    Blob(#[from] cubby_blob::BlobError),
    /// S3 layer start-up.
    #[error("{0}")]
    S3(#[from] cubby_s3::S3Error),
    /// User pools start-up.
    #[error("{0}")]
    UserPools(#[from] cubby_userpool::Error),
    /// Identity / IAM start-up.
    #[error("{0}")]
    Identity(#[from] cubby_identity::IdentityError),
    /// `--blob-url` names no store this build can open.
    #[error("--blob-url {0}")]
    BlobUrl(String),
    /// Event target declarations (`CUBBY_NOTIFY_*`).
    #[error("{0}")]
    Events(#[from] cubby_events::EventsError),
}

/// Open the blob store `--blob-url` names: none is the data dir's `blobs/`; `file:///path` a
/// directory (typically a shared filesystem several nodes mount); `s3://bucket/prefix?…` an
/// upstream S3-compatible store (settings from the URL and `CUBBY_BLOB_*`). The one place blob
/// URLs are understood, so a new scheme is one more arm here.
pub fn open_blob_store(
    blob_url: Option<&str>,
    data_dir: &std::path::Path,
) -> Result<BlobStore, ServeError> {
    let Some(url) = blob_url else {
        return Ok(BlobStore::open(data_dir, true)?);
    };
    match url.split_once("://") {
        Some(("file", path)) if path.starts_with('/') => {
            Ok(BlobStore::open(std::path::Path::new(path), true)?
                .with_sweep_grace(SHARED_SWEEP_MIN_AGE))
        }
        Some(("file", _)) => Err(ServeError::BlobUrl(format!(
            "{url}: a file URL needs an absolute path (file:///srv/cubby)"
        ))),
        Some(("s3", _)) => Ok(BlobStore::open_s3_url(url, |k| std::env::var(k).ok())?),
        _ => Err(ServeError::BlobUrl(format!(
            "{url}: unsupported (use file:///absolute/path or s3://bucket/prefix)"
        ))),
    }
}

/// How old leftovers must be before the start-up sweep removes them: with a database or blob
/// store shared by several nodes, another node's upload may be in flight (its temp file is
/// written to continuously; a committed blob gets its row within milliseconds), so an hour
/// leaves a wide margin. A node alone with its store sweeps everything at start.
const SHARED_SWEEP_MIN_AGE: Duration = Duration::from_secs(3600);

/// What `on_ready` gets besides the bound address.
pub struct Ready {
    meta: Meta,
}

impl Ready {
    /// Wait for, and take, the cluster-wide lock under which the start-up configuration is
    /// applied: nodes starting together apply it one after the other, so the later ones find
    /// by name what the first created instead of creating it again. A no-op on SQLite.
    pub async fn startup_config_lock(&self) -> Result<cubby_meta::Exclusive, ServeError> {
        Ok(self
            .meta
            .exclusive(cubby_meta::LockName::StartupConfig)
            .await?)
    }
}

/// Run until `shutdown` resolves; then stop accepting, let in-flight requests finish (up to
/// 30 s) and close the database cleanly. `on_ready` is called with the bound address once
/// the server accepts requests.
pub async fn run(
    cfg: ServerConfig,
    shutdown: impl Future<Output = ()>,
    on_ready: impl FnOnce(SocketAddr, Ready),
) -> Result<(), ServeError> {
    std::fs::create_dir_all(&cfg.data_dir)?;
    // Bound first: with `--listen …:0` the port is known only now, and the default public
    // URL (token issuers, upload URLs) must name the port clients actually reach.
    let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
    let local = listener.local_addr()?;
    let public_url = cfg
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let meta_url = cfg
        .metadata_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", cfg.data_dir.join("meta.db").display()));
    let meta = Meta::connect(&meta_url).await?;
    let blobs = open_blob_store(cfg.blob_url.as_deref(), &cfg.data_dir)?;
    let shared = cfg.blob_url.is_some() || meta.engine() == cubby_meta::Engine::Postgres;
    // A store shared through the database (several nodes, one local-looking directory) keeps
    // another node's fresh blobs out of the sweep too.
    let blobs = if shared && cfg.blob_url.is_none() {
        blobs.with_sweep_grace(SHARED_SWEEP_MIN_AGE)
    } else {
        blobs
    };
    let user_pools = cubby_userpool::UserPools::new(
        meta.clone(),
        &cfg.master_key,
        cubby_userpool::UserPoolConfig::new(
            cfg.region.clone(),
            cfg.account_id.clone(),
            public_url.clone(),
            cfg.root.access_key_id.clone(),
            cfg.root.secret_access_key.clone(),
        ),
    )
    .await?;
    crate::userpools::spawn_sweeper(&user_pools);
    let identity = Identity::new(
        meta.clone(),
        cfg.master_key.clone(),
        IdentityConfig {
            region: cfg.region.clone(),
            account_id: cfg.account_id.clone(),
            root_access_key_id: cfg.root.access_key_id.clone(),
            root_secret_access_key: cfg.root.secret_access_key.clone(),
            public_url,
            local_issuers: Some(Arc::new(crate::userpools::Issuers(user_pools.clone()))),
        },
    )?;
    let authority = identity.authority();
    // Event targets are declared in the environment (the fixed outside, DESIGN.md §2).
    let targets =
        cubby_events::targets::from_env(std::env::vars().chain(cfg.event_targets.iter().cloned()))?;
    let s3_cfg = S3Config {
        event_targets: targets.iter().map(|t| t.id.clone()).collect(),
        region: cfg.region.clone(),
        account_id: cfg.account_id.clone(),
        domain: cfg.domain.clone(),
        legacy_bucket_defaults: cfg.legacy_bucket_defaults,
        sweep_min_age: if shared {
            SHARED_SWEEP_MIN_AGE
        } else {
            Duration::ZERO
        },
        // SSE-S3 data keys are wrapped by their own subkey of the master key.
        sse_kek: Some(cubby_blob::sse::Kek::new(cubby_auth::session::subkey(
            &cfg.master_key,
            "cubby/sse-s3-kek/v1",
        ))),
        quota_lease: quota_lease_from_env(),
        ..S3Config::default()
    };
    let ops = crate::ops::Ops {
        meta: meta.clone(),
        blobs: blobs.clone(),
        setup: cfg.setup.clone(),
    };
    let s3 = S3Service::new(s3_cfg, meta.clone(), blobs, authority).await?;
    cubby_events::spawn(
        meta.clone(),
        targets,
        cubby_events::DispatchConfig::from_env(std::env::vars()),
    )
    .await;
    let app = Arc::new(
        App::new(s3, identity, user_pools, &cfg, ops)
            .with_events_admin(crate::events::EventsAdmin {
                meta: meta.clone(),
                root_access_key_id: cfg.root.access_key_id.clone(),
                root_secret: cfg.root.secret_access_key.clone(),
                region: cfg.region.clone(),
            })
            .with_root_keys(crate::rules_admin::RootKeys {
                access_key_id: cfg.root.access_key_id.clone(),
                secret: cfg.root.secret_access_key.clone(),
                region: cfg.region.clone(),
            }),
    );

    on_ready(local, Ready { meta: meta.clone() });

    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Bounded header sizes: a client cannot make us buffer unbounded request heads.
    builder
        .http1()
        .max_buf_size(64 * 1024)
        .header_read_timeout(Duration::from_secs(30))
        .timer(hyper_util::rt::TokioTimer::new());
    builder.http2().max_header_list_size(64 * 1024);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let service = service_fn(move |req| {
                    let app = app.clone();
                    // Boxing pins down the future's lifetimes, which lets the compiler prove
                    // it is Send for every borrow inside.
                    let fut: std::pin::Pin<Box<dyn Future<Output = _> + Send>> =
                        Box::pin(async move { app.handle(req, peer).await });
                    async move { Ok::<_, std::convert::Infallible>(fut.await) }
                });
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                let conn = graceful.watch(conn.into_owned());
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with error");
                    }
                });
            }
            () = &mut shutdown => {
                tracing::info!("shutting down: finishing in-flight requests");
                break;
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within 30 s");
    }
    meta.close().await;
    Ok(())
}

/// `CUBBY_QUOTA_LEASE_MS`: how long a cluster-wide quota hold outlives its node (default
/// 15 s; 1 s to 10 min).
fn quota_lease_from_env() -> Duration {
    std::env::var("CUBBY_QUOTA_LEASE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_secs(15), |ms| {
            Duration::from_millis(ms.clamp(1_000, 600_000))
        })
}
