//! The HTTP front: one listener, dispatch by the table in DESIGN.md §2 (Cognito JSON APIs by
//! `X-Amz-Target`, STS/IAM by `Action`+`Version`, `/_cubby/…` own routes, S3 for everything
//! else), limits, graceful shutdown.
//!
//! Architecture invariant: only this crate knows hyper.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod console;
mod dispatch;
mod events;
mod keys;
pub mod metrics;
mod ops;
mod root;
mod rules_admin;
mod serve;
mod setup;
mod upload_url;
mod userpools;

pub use console::{ConsoleConfig, ConsoleSettings};
pub use keys::{RootKeys, load_or_create_master_key, load_or_create_root_keys};
pub use root::RootAuthority;
pub use serve::{Ready, ServeError, ServerConfig, open_blob_store, run};
pub use setup::{SetupHandle, SetupInfo};
pub use upload_url::{UPLOAD_URL_SECONDS, UploadUrlSettings, sanitize_filename};
