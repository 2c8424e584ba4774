//! Broker clients, one per target kind. Each delivers a batch in order and reports how many
//! events from the front of the batch the broker acknowledged; on error the client drops its
//! connection and reconnects on the next attempt.

mod amqp;
mod mqtt;
mod nats;
mod redis;
mod webhook;

use crate::targets::{Kind, TargetSpec};

/// Result of delivering a batch: the first `delivered` events are acknowledged; `error` says
/// why the next one was not.
#[derive(Debug)]
pub struct Outcome {
    /// Acknowledged events, from the front of the batch.
    pub delivered: usize,
    /// Why delivery stopped early.
    pub error: Option<String>,
}

/// A connected (or not yet connected) client for one target.
pub(crate) enum Sink {
    Webhook(webhook::Webhook),
    Nats(nats::Nats),
    Amqp(amqp::Amqp),
    Redis(redis::Redis),
    Mqtt(mqtt::Mqtt),
}

impl Sink {
    pub(crate) fn new(spec: &TargetSpec) -> Sink {
        match spec.kind {
            Kind::Webhook => Sink::Webhook(webhook::Webhook::new(spec)),
            Kind::Nats => Sink::Nats(nats::Nats::new(spec)),
            Kind::Amqp => Sink::Amqp(amqp::Amqp::new(spec)),
            Kind::Redis => Sink::Redis(redis::Redis::new(spec)),
            Kind::Mqtt => Sink::Mqtt(mqtt::Mqtt::new(spec)),
        }
    }

    /// Deliver `payloads` (event bodies, shared rather than copied where a client can take
    /// them as they are) in order.
    pub(crate) async fn deliver(&mut self, payloads: &[bytes::Bytes]) -> Outcome {
        match self {
            Sink::Webhook(s) => s.deliver(payloads).await,
            Sink::Nats(s) => s.deliver(payloads).await,
            Sink::Amqp(s) => s.deliver(payloads).await,
            Sink::Redis(s) => s.deliver(payloads).await,
            Sink::Mqtt(s) => s.deliver(payloads).await,
        }
    }
}

/// Strip the query parameters cubby interprets (`names`) from a broker URL and return them.
pub(crate) fn take_params(url: &url::Url, names: &[&str]) -> (url::Url, Vec<Option<String>>) {
    let mut found = vec![None; names.len()];
    let mut rest: Vec<(String, String)> = Vec::new();
    for (k, v) in url.query_pairs() {
        match names.iter().position(|n| *n == k) {
            Some(i) => found[i] = Some(v.into_owned()),
            None => rest.push((k.into_owned(), v.into_owned())),
        }
    }
    let mut out = url.clone();
    if rest.is_empty() {
        out.set_query(None);
    } else {
        out.query_pairs_mut().clear().extend_pairs(rest);
    }
    (out, found)
}

/// The URL path without its leading `/` (subject / topic), percent-decoded.
pub(crate) fn path_name(url: &url::Url) -> String {
    let p = url.path().trim_start_matches('/');
    percent_encoding::percent_decode_str(p)
        .decode_utf8_lossy()
        .into_owned()
}

/// `all` cut at `ends` (ascending offsets, the last at most `all.len()`) into pieces that
/// share its one allocation: what a batch's bodies and reply subjects are made of.
pub(crate) fn shared_pieces(all: String, ends: Vec<usize>) -> impl Iterator<Item = bytes::Bytes> {
    let all = bytes::Bytes::from(all);
    let mut start = 0;
    ends.into_iter().map(move |end| {
        let piece = all.slice(start..end);
        start = end;
        piece
    })
}

const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
const ACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
