//! Redis streams: `XADD <stream> * event <json>`, pipelined per batch.

use super::Outcome;
use crate::targets::TargetSpec;
use redis::aio::MultiplexedConnection;

pub(crate) struct Redis {
    url: String,
    stream: String,
    conn: Option<MultiplexedConnection>,
}

/// The stream field that carries the event JSON.
pub const FIELD: &str = "event";

impl Redis {
    pub(crate) fn new(spec: &TargetSpec) -> Self {
        let (url, found) = super::take_params(&spec.url, &["stream"]);
        Redis {
            url: url.to_string(),
            stream: found.into_iter().next().flatten().unwrap_or_default(),
            conn: None,
        }
    }

    async fn connect(&mut self) -> Result<MultiplexedConnection, String> {
        if let Some(c) = &self.conn {
            return Ok(c.clone());
        }
        let client = redis::Client::open(self.url.as_str()).map_err(|e| format!("redis: {e}"))?;
        let conn = tokio::time::timeout(
            super::CONNECT_TIMEOUT,
            client.get_multiplexed_async_connection(),
        )
        .await
        .map_err(|_| "redis connect: timed out".to_owned())?
        .map_err(|e| format!("redis connect: {e}"))?;
        self.conn = Some(conn.clone());
        Ok(conn)
    }

    pub(crate) async fn deliver(&mut self, payloads: &[bytes::Bytes]) -> Outcome {
        let mut conn = match self.connect().await {
            Ok(c) => c,
            Err(e) => {
                return Outcome {
                    delivered: 0,
                    error: Some(e),
                };
            }
        };
        let mut pipe = redis::pipe();
        for p in payloads {
            pipe.xadd(&self.stream, "*", &[(FIELD, p.as_ref())]);
        }
        // A pipeline is all or nothing from our side: on error nothing counts as delivered
        // (some entries may have been added; at-least-once allows the duplicates).
        let res: Result<Vec<String>, _> =
            tokio::time::timeout(super::ACK_TIMEOUT, pipe.query_async(&mut conn))
                .await
                .unwrap_or_else(|_| {
                    Err(redis::RedisError::from((redis::ErrorKind::Io, "timed out")))
                });
        match res {
            Ok(_) => Outcome {
                delivered: payloads.len(),
                error: None,
            },
            Err(e) => {
                self.conn = None;
                Outcome {
                    delivered: 0,
                    error: Some(format!("redis xadd: {e}")),
                }
            }
        }
    }
}
