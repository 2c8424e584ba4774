//! What the client commands (`apply`, `presign`, `admin`) share: which server, which keys.

use crate::apply::Target;
use anyhow::Context;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use std::path::PathBuf;

/// Where the server is and where its root keys are.
#[derive(clap::Args, Debug)]
pub struct ServerArgs {
    /// The server's endpoint.
    #[arg(long, default_value = "http://127.0.0.1:9000", env = "CUBBY_ENDPOINT")]
    pub endpoint: String,
    /// Region.
    #[arg(long, default_value = "us-east-1", env = "CUBBY_REGION")]
    pub region: String,
    /// Data directory of a local server, to read `root-credentials` from when the root keys
    /// are not in the environment.
    #[arg(long, default_value = "./cubby-data", env = "CUBBY_DATA_DIR")]
    pub data_dir: PathBuf,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl ServerArgs {
    /// The root keys: `CUBBY_ROOT_*`, else `<data-dir>/root-credentials`, else `AWS_*`.
    pub fn target(&self) -> anyhow::Result<Target> {
        let (id, secret) = if let (Some(i), Some(s)) = (
            env("CUBBY_ROOT_ACCESS_KEY_ID"),
            env("CUBBY_ROOT_SECRET_ACCESS_KEY"),
        ) {
            (i, s)
        } else if let Ok(text) = std::fs::read_to_string(self.data_dir.join("root-credentials")) {
            let mut lines = text.lines().map(str::trim);
            match (lines.next(), lines.next()) {
                (Some(i), Some(s)) if !i.is_empty() && !s.is_empty() => {
                    (i.to_owned(), s.to_owned())
                }
                _ => anyhow::bail!(
                    "{}: expected two lines (access key id, secret)",
                    self.data_dir.join("root-credentials").display()
                ),
            }
        } else if let (Some(i), Some(s)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"))
        {
            (i, s)
        } else {
            anyhow::bail!(
                "no root keys: set CUBBY_ROOT_ACCESS_KEY_ID and CUBBY_ROOT_SECRET_ACCESS_KEY, or \
                 point --data-dir at the server's data directory"
            );
        };
        Ok(Target {
            endpoint: self.endpoint.trim_end_matches('/').to_owned(),
            region: self.region.clone(),
            access_key_id: id,
            secret_access_key: secret,
        })
    }
}

/// HTTP method of a presigned URL.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum PresignMethod {
    /// Download.
    Get,
    /// Upload (`curl -T file URL`).
    Put,
}

/// `cubby presign` flags.
#[derive(clap::Args, Debug)]
pub struct PresignArgs {
    /// `s3://bucket/key`.
    pub url: String,
    /// GET (download) or PUT (upload).
    #[arg(long, value_enum, default_value_t = PresignMethod::Get)]
    pub method: PresignMethod,
    /// Lifetime in seconds (1 to 604800, as on AWS).
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u32).range(1..=604_800))]
    pub expires_in: u32,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// Everything but RFC 3986 unreserved characters and `/` is escaped in S3 key paths.
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// The presigned URL (path style) for `args`.
pub fn presign(args: &PresignArgs) -> anyhow::Result<String> {
    let rest = args
        .url
        .strip_prefix("s3://")
        .context("expected s3://bucket/key")?;
    let (bucket, key) = rest
        .split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .context("expected s3://bucket/key")?;
    let t = args.server.target()?;
    let url = format!(
        "{}/{}/{}",
        t.endpoint,
        utf8_percent_encode(bucket, KEY),
        utf8_percent_encode(key, KEY)
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("clock before 1970")?
        .as_secs() as i64;
    let method = match args.method {
        PresignMethod::Get => "GET",
        PresignMethod::Put => "PUT",
    };
    Ok(cubby_auth::sigv4::presign_url(
        method,
        &url,
        &t.access_key_id,
        &t.secret_access_key,
        None,
        &t.region,
        args.expires_in,
        now,
    ))
}
