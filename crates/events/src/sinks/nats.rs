//! NATS JetStream: publish to the URL's subject and wait for the stream's ack. A stream that
//! already captures the subject is used as it is; if none does, cubby creates one
//! (`CUBBY_<ID>`), so a fresh NATS server works without set-up.

use super::Outcome;
use crate::targets::TargetSpec;
use async_nats::jetstream;

pub(crate) struct Nats {
    server: String,
    user: Option<(String, String)>,
    subject: String,
    stream_name: String,
    js: Option<jetstream::Context>,
}

impl Nats {
    pub(crate) fn new(spec: &TargetSpec) -> Self {
        let u = &spec.url;
        let server = format!(
            "nats://{}:{}",
            u.host_str().unwrap_or("127.0.0.1"),
            u.port().unwrap_or(4222)
        );
        let user = (!u.username().is_empty()).then(|| {
            (
                u.username().to_owned(),
                u.password().unwrap_or("").to_owned(),
            )
        });
        let stream_name = format!(
            "CUBBY_{}",
            spec.id
                .to_ascii_uppercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        Nats {
            server,
            user,
            subject: super::path_name(u),
            stream_name,
            js: None,
        }
    }

    async fn connect(&mut self) -> Result<jetstream::Context, String> {
        if let Some(js) = &self.js {
            return Ok(js.clone());
        }
        let opts = match &self.user {
            Some((u, p)) => {
                async_nats::ConnectOptions::with_user_and_password(u.clone(), p.clone())
            }
            None => async_nats::ConnectOptions::new(),
        }
        .connection_timeout(super::CONNECT_TIMEOUT)
        .request_timeout(Some(super::ACK_TIMEOUT));
        let client = opts
            .connect(self.server.as_str())
            .await
            .map_err(|e| format!("nats connect: {e}"))?;
        let js = jetstream::new(client);
        if js.stream_by_subject(self.subject.clone()).await.is_err() {
            js.get_or_create_stream(jetstream::stream::Config {
                name: self.stream_name.clone(),
                subjects: vec![self.subject.clone()],
                ..Default::default()
            })
            .await
            .map_err(|e| format!("nats stream for {}: {e}", self.subject))?;
        }
        self.js = Some(js.clone());
        Ok(js)
    }

    pub(crate) async fn deliver(&mut self, payloads: &[&str]) -> Outcome {
        let js = match self.connect().await {
            Ok(js) => js,
            Err(e) => {
                return Outcome {
                    delivered: 0,
                    error: Some(e),
                };
            }
        };
        // Publish the whole batch, then collect the acks in order: one round trip per batch
        // rather than per event.
        let mut acks = Vec::with_capacity(payloads.len());
        let mut error = None;
        for p in payloads {
            match js
                .publish(
                    self.subject.clone(),
                    bytes::Bytes::copy_from_slice(p.as_bytes()),
                )
                .await
            {
                Ok(ack) => acks.push(ack),
                Err(e) => {
                    error = Some(format!("nats publish: {e}"));
                    break;
                }
            }
        }
        let mut delivered = 0;
        for ack in acks {
            match ack.await {
                Ok(_) => delivered += 1,
                Err(e) => {
                    error = Some(format!("nats ack: {e}"));
                    break;
                }
            }
        }
        if error.is_some() {
            self.js = None;
        }
        Outcome { delivered, error }
    }
}
