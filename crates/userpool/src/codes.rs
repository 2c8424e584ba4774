//! Delivery of confirmation codes and temporary passwords: a log line by default, or a webhook.

use std::time::Duration;

/// Why a code is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CodeKind {
    /// SignUp / ResendConfirmationCode: confirm the account.
    SignUp,
    /// ForgotPassword: reset code.
    ForgotPassword,
    /// AdminCreateUser: the temporary password.
    TemporaryPassword,
    /// An attribute (email / phone) changed and must be verified.
    VerifyAttribute,
}

/// One message to deliver.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeMessage {
    /// Why.
    pub kind: CodeKind,
    /// Pool id.
    pub user_pool_id: String,
    /// Internal username.
    pub username: String,
    /// The code (or temporary password).
    pub code: String,
    /// `EMAIL` or `SMS`, when the pool verifies that attribute.
    pub delivery_medium: Option<String>,
    /// The address (email or phone) it is meant for.
    pub destination: Option<String>,
}

/// Delivers codes. Implementations must not block for long: the request waits.
#[async_trait::async_trait]
pub trait CodeSender: Send + Sync {
    /// Deliver `msg`; an error makes the API answer `CodeDeliveryFailureException`.
    async fn send(&self, msg: &CodeMessage) -> Result<(), String>;
}

/// Writes the code to the log (target `cubby::userpool::codes`): the default for a
/// self-hosted server without mail.
pub struct LogSender;

#[async_trait::async_trait]
impl CodeSender for LogSender {
    async fn send(&self, msg: &CodeMessage) -> Result<(), String> {
        tracing::info!(
            target: "cubby::userpool::codes",
            kind = ?msg.kind,
            user_pool_id = %msg.user_pool_id,
            username = %msg.username,
            destination = msg.destination.as_deref().unwrap_or("-"),
            code = %msg.code,
            "user-pool code"
        );
        Ok(())
    }
}

/// POSTs each message as JSON (the [`CodeMessage`] fields in camelCase) to a URL; a non-2xx
/// answer or a 5-second timeout is a delivery failure.
pub struct WebhookSender {
    url: String,
    client: reqwest::Client,
}

impl WebhookSender {
    /// A sender posting to `url`.
    pub fn new(url: impl Into<String>) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(WebhookSender {
            url: url.into(),
            client,
        })
    }
}

#[async_trait::async_trait]
impl CodeSender for WebhookSender {
    async fn send(&self, msg: &CodeMessage) -> Result<(), String> {
        let r = self
            .client
            .post(&self.url)
            .json(msg)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status().is_success() {
            Ok(())
        } else {
            Err(format!("webhook answered {}", r.status()))
        }
    }
}
