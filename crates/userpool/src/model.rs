//! The documents kept in the metadata store's namespaced table.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A password policy (`Policies.PasswordPolicy`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum length (6–99; default 8).
    pub minimum_length: u32,
    /// At least one upper-case letter.
    pub require_uppercase: bool,
    /// At least one lower-case letter.
    pub require_lowercase: bool,
    /// At least one digit.
    pub require_numbers: bool,
    /// At least one symbol.
    pub require_symbols: bool,
    /// Days a temporary password stays valid (default 7).
    pub temporary_password_validity_days: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            minimum_length: 8,
            require_uppercase: true,
            require_lowercase: true,
            require_numbers: true,
            require_symbols: true,
            temporary_password_validity_days: 7,
        }
    }
}

/// One RSA signing key of a pool. The private key is sealed with a subkey of the master key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SigningKeyDoc {
    /// Key id (`kid` header of the tokens).
    pub kid: String,
    /// Modulus, base64url.
    pub n: String,
    /// Public exponent, base64url.
    pub e: String,
    /// PKCS#1 DER private key, sealed (base64url).
    pub sealed_private: String,
    /// When it was created (epoch seconds).
    pub created: i64,
    /// When it stopped signing (epoch seconds); it stays published for `retire_until`.
    pub retired: Option<i64>,
    /// Until when a retired key is still published in the JWKS.
    pub publish_until: Option<i64>,
}

/// A user pool.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PoolDoc {
    /// `{region}_{9 alnum}`.
    pub id: String,
    /// `PoolName`.
    pub name: String,
    /// Creation time, epoch seconds.
    pub created: i64,
    /// Last modification, epoch seconds.
    pub modified: i64,
    /// Password policy.
    pub password_policy: PasswordPolicy,
    /// `UsernameAttributes` (`email`, `phone_number`): sign in with these instead of a username.
    #[serde(default)]
    pub username_attributes: Vec<String>,
    /// `AliasAttributes` (`email`, `phone_number`, `preferred_username`).
    #[serde(default)]
    pub alias_attributes: Vec<String>,
    /// `AutoVerifiedAttributes` (`email`, `phone_number`).
    #[serde(default)]
    pub auto_verified_attributes: Vec<String>,
    /// `UsernameConfiguration.CaseSensitive`.
    pub case_sensitive: bool,
    /// `AdminCreateUserConfig.AllowAdminCreateUserOnly`: SignUp refused.
    #[serde(default)]
    pub admin_create_user_only: bool,
    /// `DeletionProtection` (`ACTIVE` refuses DeleteUserPool).
    #[serde(default)]
    pub deletion_protection: bool,
    /// Other settings as the caller sent them, echoed by DescribeUserPool.
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Signing keys, newest last.
    #[serde(default)]
    pub keys: Vec<SigningKeyDoc>,
}

/// An app client.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClientDoc {
    /// Pool id.
    pub pool_id: String,
    /// 26 lower-case alphanumerics.
    pub client_id: String,
    /// `ClientName`.
    pub name: String,
    /// Client secret, sealed (base64url), when generated.
    pub sealed_secret: Option<String>,
    /// `ExplicitAuthFlows` as sent (normalised on use).
    #[serde(default)]
    pub explicit_auth_flows: Vec<String>,
    /// Access-token lifetime, seconds.
    pub access_validity: i64,
    /// ID-token lifetime, seconds.
    pub id_validity: i64,
    /// Refresh-token lifetime, seconds.
    pub refresh_validity: i64,
    /// `PreventUserExistenceErrors` = `ENABLED`.
    pub prevent_user_existence_errors: bool,
    /// `EnableTokenRevocation`.
    pub enable_token_revocation: bool,
    /// `AuthSessionValidity` in minutes (3–15): challenge session lifetime.
    pub auth_session_validity: i64,
    /// Creation time.
    pub created: i64,
    /// Last modification.
    pub modified: i64,
    /// Other settings as sent (echoed by DescribeUserPoolClient).
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// What a user's password is stored as: never the password itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PasswordDoc {
    /// Argon2id PHC string (for USER_PASSWORD_AUTH and ChangePassword).
    pub argon2: String,
    /// SRP salt, canonical padHex.
    pub srp_salt: String,
    /// SRP verifier `v` (hex), sealed (base64url).
    pub sealed_verifier: String,
    /// A temporary password set by an administrator (→ NEW_PASSWORD_REQUIRED).
    #[serde(default)]
    pub temporary: bool,
    /// When it was set.
    pub set_at: i64,
}

/// A pending confirmation / reset code (stored as a MAC).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CodeDoc {
    /// `signup`, `forgot` or `verify:<attribute>`.
    pub purpose: String,
    /// Hex HMAC of the code.
    pub mac: String,
    /// Expiry, epoch seconds.
    pub expires: i64,
    /// Wrong guesses so far.
    pub attempts: u32,
}

/// A user.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserDoc {
    /// Internal username (for pools with username attributes: the `sub`).
    pub username: String,
    /// UUID.
    pub sub: String,
    /// Attributes other than `sub`.
    pub attributes: BTreeMap<String, String>,
    /// Enabled (AdminDisableUser clears it).
    pub enabled: bool,
    /// `UNCONFIRMED`, `CONFIRMED`, `FORCE_CHANGE_PASSWORD`, `RESET_REQUIRED`.
    pub status: String,
    /// Creation time.
    pub created: i64,
    /// Last modification.
    pub modified: i64,
    /// Password material.
    pub password: Option<PasswordDoc>,
    /// Pending codes.
    #[serde(default)]
    pub codes: Vec<CodeDoc>,
    /// Global sign-out: token families started before this instant (ms) are revoked.
    #[serde(default)]
    pub signed_out_ms: i64,
    /// Group names.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// A group.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupDoc {
    /// `GroupName`.
    pub name: String,
    /// `Description`.
    pub description: Option<String>,
    /// `RoleArn`.
    pub role_arn: Option<String>,
    /// `Precedence` (lower wins).
    pub precedence: Option<i64>,
    /// Creation time.
    pub created: i64,
    /// Last modification.
    pub modified: i64,
}

/// Failed sign-in bookkeeping for the throttle.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FailDoc {
    /// Consecutive failures.
    pub failures: u32,
    /// Refuse every attempt until this time (epoch seconds).
    pub locked_until: i64,
}

/// User status strings.
pub mod status {
    /// Signed up, not confirmed.
    pub const UNCONFIRMED: &str = "UNCONFIRMED";
    /// Confirmed.
    pub const CONFIRMED: &str = "CONFIRMED";
    /// Created by an admin with a temporary password.
    pub const FORCE_CHANGE_PASSWORD: &str = "FORCE_CHANGE_PASSWORD";
    /// Must reset the password (ForgotPassword).
    pub const RESET_REQUIRED: &str = "RESET_REQUIRED";
}
