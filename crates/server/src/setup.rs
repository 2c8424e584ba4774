//! What the start-up configuration set up (the zero-config seed setup, or `--config`): the
//! ids other parts of the server hand to clients — the web console's `config.json`, the
//! upload-URL endpoint's default bucket — and whether it has been applied yet (`/_cubby/ready`
//! answers 503 until then).

use std::sync::{Arc, OnceLock};

/// Ids of the primary resources of the applied configuration (the first bucket, identity
/// pool, user pool and its first client the file declares). `None` where the file declares
/// none (an empty `--config`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetupInfo {
    /// Region.
    pub region: String,
    /// The bucket uploads go to.
    pub bucket: Option<String>,
    /// Identity pool id (`us-east-1:<uuid>`).
    pub identity_pool_id: Option<String>,
    /// User pool id (`us-east-1_<alnum>`).
    pub user_pool_id: Option<String>,
    /// The user pool's (browser) app client id.
    pub user_pool_client_id: Option<String>,
}

impl SetupInfo {
    /// As JSON (`{"region": …, "bucket": …, "identityPoolId": …, "userPoolId": …,
    /// "userPoolClientId": …}`), the shape browser code wants.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "region": self.region,
            "bucket": self.bucket,
            "identityPoolId": self.identity_pool_id,
            "userPoolId": self.user_pool_id,
            "userPoolClientId": self.user_pool_client_id,
        })
    }
}

/// Shared, set-once handle to the [`SetupInfo`]: the CLI applies the configuration after the
/// listener is up and [`SetupHandle::set`]s the result; request handlers [`SetupHandle::get`] it.
#[derive(Clone, Debug, Default)]
pub struct SetupHandle(Arc<OnceLock<SetupInfo>>);

impl SetupHandle {
    /// A handle with nothing applied yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record the applied setup (only the first call counts).
    pub fn set(&self, info: SetupInfo) {
        let _ = self.0.set(info);
    }

    /// The applied setup, once applied.
    pub fn get(&self) -> Option<&SetupInfo> {
        self.0.get()
    }
}
