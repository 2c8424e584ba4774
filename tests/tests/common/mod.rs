//! Shared helpers for the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

pub use cubby_tests::{ROOT_KEY, ROOT_SECRET, Server};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region};

/// An S3 client for `endpoint` with the given keys (path style, like most test setups).
pub fn s3(endpoint: &str, ak: &str, sk: &str, token: Option<&str>) -> Client {
    let creds = Credentials::new(ak, sk, token.map(str::to_owned), None, "cubby-tests");
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(creds)
        .force_path_style(true)
        .build();
    Client::from_conf(conf)
}

/// A root client for a server.
pub fn root(server: &Server) -> Client {
    s3(&server.endpoint, ROOT_KEY, ROOT_SECRET, None)
}

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The S3 error code of an SDK error.
pub fn code<E: aws_sdk_s3::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("").to_owned()
}

/// HTTP status of an SDK error.
pub fn status<E, R>(e: &aws_sdk_s3::error::SdkError<E, R>) -> u16
where
    R: HasStatus + std::fmt::Debug,
{
    e.raw_response().map(|r| r.status_code()).unwrap_or(0)
}

/// Access to the status code of raw responses.
pub trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Current time in epoch seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
