//! AMQP 0-9-1 (RabbitMQ): publish to the operator's exchange with publisher confirms. The
//! exchange is declared *passively* — it must exist; cubby never creates or redeclares it.

use super::Outcome;
use crate::targets::TargetSpec;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

pub(crate) struct Amqp {
    uri: String,
    exchange: String,
    routing_key: String,
    conn: Option<(Connection, Channel)>,
}

impl Amqp {
    pub(crate) fn new(spec: &TargetSpec) -> Self {
        let (url, found) = super::take_params(&spec.url, &["exchange", "routing_key"]);
        let mut found = found.into_iter();
        let exchange = found.next().flatten().unwrap_or_default();
        let routing_key = found.next().flatten().unwrap_or_default();
        Amqp {
            uri: url.to_string(),
            exchange,
            routing_key,
            conn: None,
        }
    }

    async fn channel(&mut self) -> Result<Channel, String> {
        if let Some((_, ch)) = &self.conn {
            return Ok(ch.clone());
        }
        let conn = tokio::time::timeout(
            super::CONNECT_TIMEOUT,
            Connection::connect(&self.uri, ConnectionProperties::default()),
        )
        .await
        .map_err(|_| "amqp connect: timed out".to_owned())?
        .map_err(|e| format!("amqp connect: {e}"))?;
        let ch = conn
            .create_channel()
            .await
            .map_err(|e| format!("amqp channel: {e}"))?;
        if !self.exchange.is_empty() {
            ch.exchange_declare(
                self.exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    passive: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|e| format!("amqp exchange {:?}: {e}", self.exchange))?;
        }
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| format!("amqp confirm_select: {e}"))?;
        self.conn = Some((conn, ch.clone()));
        Ok(ch)
    }

    async fn reset(&mut self) {
        if let Some((conn, _)) = self.conn.take() {
            let _ = conn.close(200, "reconnecting".into()).await;
        }
    }

    pub(crate) async fn deliver(&mut self, payloads: &[bytes::Bytes]) -> Outcome {
        let ch = match self.channel().await {
            Ok(c) => c,
            Err(e) => {
                self.reset().await;
                return Outcome {
                    delivered: 0,
                    error: Some(e),
                };
            }
        };
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2);
        let mut confirms = Vec::with_capacity(payloads.len());
        let mut error = None;
        for p in payloads {
            match ch
                .basic_publish(
                    self.exchange.as_str().into(),
                    self.routing_key.as_str().into(),
                    BasicPublishOptions::default(),
                    p,
                    props.clone(),
                )
                .await
            {
                Ok(c) => confirms.push(c),
                Err(e) => {
                    error = Some(format!("amqp publish: {e}"));
                    break;
                }
            }
        }
        let mut delivered = 0;
        for c in confirms {
            match tokio::time::timeout(super::ACK_TIMEOUT, c).await {
                Ok(Ok(conf)) if conf.is_ack() => delivered += 1,
                Ok(Ok(_)) => {
                    error = Some("amqp: broker nacked the event".into());
                    break;
                }
                Ok(Err(e)) => {
                    error = Some(format!("amqp confirm: {e}"));
                    break;
                }
                Err(_) => {
                    error = Some("amqp confirm: timed out".into());
                    break;
                }
            }
        }
        if error.is_some() {
            self.reset().await;
        }
        Outcome { delivered, error }
    }
}
