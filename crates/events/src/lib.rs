//! S3 event notifications: the event body (S3's exact JSON), the targets declared by
//! `CUBBY_NOTIFY_<KIND>_<ID>` environment variables, the broker clients (webhook, NATS
//! JetStream, AMQP, Redis streams, MQTT) and the dispatcher that drains the durable outbox in
//! `cubby-meta`.
//!
//! Architecture invariant: nothing here is on the request path except [`model`] (building the
//! body) — events reach brokers only through the outbox, after the object commit.
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod dispatch;
pub mod model;
mod sinks;
pub mod targets;

pub use dispatch::{DispatchConfig, Stats, spawn, stats};
pub use sinks::Outcome;
pub use targets::{Kind, TargetSpec};

/// Errors of the events layer.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// A target declaration is malformed.
    #[error("event target configuration: {0}")]
    Config(String),
}
