//! MQTT: publish at QoS 1 to the topic named by the URL's whole path; an event counts as
//! delivered when the broker's PUBACK arrives (the broker acknowledges QoS 1 publishes of
//! one session in order, so counting PUBACKs gives the delivered prefix).

use super::Outcome;
use crate::targets::TargetSpec;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

pub(crate) struct Mqtt {
    host: String,
    port: u16,
    user: Option<(String, String)>,
    topic: String,
    client_id: String,
    conn: Option<(AsyncClient, mpsc::Receiver<Result<(), String>>)>,
}

impl Mqtt {
    pub(crate) fn new(spec: &TargetSpec) -> Self {
        let u = &spec.url;
        Mqtt {
            host: u.host_str().unwrap_or("127.0.0.1").to_owned(),
            port: u.port().unwrap_or(1883),
            user: (!u.username().is_empty()).then(|| {
                (
                    u.username().to_owned(),
                    u.password().unwrap_or("").to_owned(),
                )
            }),
            topic: super::path_name(u),
            client_id: format!("cubby-{}-{:08x}", spec.id, rand::random::<u32>()),
            conn: None,
        }
    }

    async fn connect(&mut self) -> Result<(), String> {
        if self.conn.is_some() {
            return Ok(());
        }
        let mut opts = MqttOptions::new(self.client_id.clone(), self.host.clone(), self.port);
        opts.set_keep_alive(std::time::Duration::from_secs(30));
        opts.set_clean_session(true);
        if let Some((u, p)) = &self.user {
            opts.set_credentials(u.clone(), p.clone());
        }
        let (client, mut events) = AsyncClient::new(opts, 1024);
        let (tx, mut rx) = mpsc::channel(4096);
        // The event loop drives the connection; it reports the CONNACK, every PUBACK and the
        // first error, then stops (a new connection is made on the next attempt).
        tokio::spawn(async move {
            loop {
                let msg = match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => Ok(()),
                    Ok(Event::Incoming(Packet::PubAck(_))) => Ok(()),
                    Ok(_) => continue,
                    Err(e) => Err(format!("mqtt: {e}")),
                };
                let stop = msg.is_err();
                if tx.send(msg).await.is_err() || stop {
                    break;
                }
            }
        });
        match tokio::time::timeout(super::CONNECT_TIMEOUT, rx.recv()).await {
            Ok(Some(Ok(()))) => {
                self.conn = Some((client, rx));
                Ok(())
            }
            Ok(Some(Err(e))) => Err(e),
            Ok(None) => Err("mqtt: connection closed".into()),
            Err(_) => {
                let _ = client.disconnect().await;
                Err("mqtt connect: timed out".into())
            }
        }
    }

    async fn reset(&mut self) {
        if let Some((client, _)) = self.conn.take() {
            let _ = client.disconnect().await;
        }
    }

    pub(crate) async fn deliver(&mut self, payloads: &[bytes::Bytes]) -> Outcome {
        if let Err(e) = self.connect().await {
            return Outcome {
                delivered: 0,
                error: Some(e),
            };
        }
        let Some((client, acks)) = self.conn.as_mut() else {
            return Outcome {
                delivered: 0,
                error: Some("mqtt: not connected".into()),
            };
        };
        let mut sent = 0;
        let mut error = None;
        for p in payloads {
            match client
                .publish(self.topic.clone(), QoS::AtLeastOnce, false, p.to_vec())
                .await
            {
                Ok(()) => sent += 1,
                Err(e) => {
                    error = Some(format!("mqtt publish: {e}"));
                    break;
                }
            }
        }
        let mut delivered = 0;
        while delivered < sent {
            match tokio::time::timeout(super::ACK_TIMEOUT, acks.recv()).await {
                Ok(Some(Ok(()))) => delivered += 1,
                Ok(Some(Err(e))) => {
                    error = Some(e);
                    break;
                }
                Ok(None) => {
                    error = Some("mqtt: connection closed".into());
                    break;
                }
                Err(_) => {
                    error = Some("mqtt: PUBACK timed out".into());
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
