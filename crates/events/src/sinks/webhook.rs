//! Webhooks: `POST` of the event JSON; any 2xx is an acknowledgement. With a secret, the body
//! is signed: `X-Cubby-Signature: sha256=<hex HMAC-SHA256 of the raw body>`.

use super::Outcome;
use crate::targets::TargetSpec;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub(crate) struct Webhook {
    client: Option<reqwest::Client>,
    url: url::Url,
    secret: Option<Vec<u8>>,
}

/// The signature header value for `body`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length; the error branch cannot occur.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    pub(crate) fn new(spec: &TargetSpec) -> Self {
        Webhook {
            client: None,
            url: spec.url.clone(),
            secret: spec.secret.as_ref().map(|s| s.as_bytes().to_vec()),
        }
    }

    fn client(&mut self) -> Result<reqwest::Client, String> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let c = reqwest::Client::builder()
            .connect_timeout(super::CONNECT_TIMEOUT)
            .timeout(super::ACK_TIMEOUT)
            .user_agent("cubby-events")
            .build()
            .map_err(|e| e.to_string())?;
        self.client = Some(c.clone());
        Ok(c)
    }

    pub(crate) async fn deliver(&mut self, payloads: &[bytes::Bytes]) -> Outcome {
        let client = match self.client() {
            Ok(c) => c,
            Err(e) => {
                return Outcome {
                    delivered: 0,
                    error: Some(e),
                };
            }
        };
        for (i, p) in payloads.iter().enumerate() {
            let mut req = client
                .post(self.url.clone())
                .header("content-type", "application/json")
                .body(p.clone());
            if let Some(s) = &self.secret {
                req = req.header("x-cubby-signature", signature(s, p));
            }
            let error = match req.send().await {
                Ok(r) if r.status().is_success() => continue,
                Ok(r) => format!("webhook answered HTTP {}", r.status().as_u16()),
                Err(e) => format!("webhook: {e}"),
            };
            return Outcome {
                delivered: i,
                error: Some(error),
            };
        }
        Outcome {
            delivered: payloads.len(),
            error: None,
        }
    }
}
