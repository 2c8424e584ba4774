//! Sealed session credentials: `ASIA…` key id, secret derived from the key id with the master
//! key, and a session token that is the AEAD-sealed [`SessionClaims`] bound to the key id. Any
//! node verifies a session with the master key alone — no database read.

use cubby_auth::session::{MasterKey, derive_secret, new_access_key_id, open, seal};
use serde::{Deserialize, Serialize};

/// Claims format version.
const CLAIMS_VERSION: u8 = 1;

/// Everything a session carries. Field names are short: the token travels in every request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionClaims {
    /// Format version.
    #[serde(rename = "v")]
    pub version: u8,
    /// The role's ARN (`arn:aws:iam::<acct>:role/<path><name>`).
    #[serde(rename = "ra")]
    pub role_arn: String,
    /// The role's unique id (`AROA…`).
    #[serde(rename = "ri")]
    pub role_id: String,
    /// The role session name.
    #[serde(rename = "sn")]
    pub session_name: String,
    /// The account id.
    #[serde(rename = "ac")]
    pub account: String,
    /// Identity-pool identity id, for Cognito sessions.
    #[serde(rename = "ii", default, skip_serializing_if = "Option::is_none")]
    pub identity_id: Option<String>,
    /// Web-identity provider (`cognito-identity.amazonaws.com`, an OIDC provider ARN).
    #[serde(rename = "pv", default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Web-identity condition keys (`<provider>:sub`, `:aud`, `:amr`…) with their values; keys
    /// with several values (or `amr`) are multi-valued.
    #[serde(rename = "wi", default, skip_serializing_if = "Vec::is_empty")]
    pub web_identity: Vec<(String, Vec<String>)>,
    /// Inline session policy JSON.
    #[serde(rename = "sp", default, skip_serializing_if = "Option::is_none")]
    pub session_policy: Option<String>,
    /// Managed session policy ARNs.
    #[serde(rename = "pa", default, skip_serializing_if = "Vec::is_empty")]
    pub policy_arns: Vec<String>,
    /// Session tags.
    #[serde(rename = "tg", default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// Source identity.
    #[serde(rename = "si", default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    /// Issue time, epoch seconds.
    #[serde(rename = "ia")]
    pub issued_at: i64,
    /// Expiry, epoch seconds.
    #[serde(rename = "ex")]
    pub expires_at: i64,
}

impl SessionClaims {
    /// A new claims set with no web identity, policy or tags.
    pub fn new(
        role_arn: &str,
        role_id: &str,
        session_name: &str,
        account: &str,
        issued_at: i64,
        expires_at: i64,
    ) -> Self {
        SessionClaims {
            version: CLAIMS_VERSION,
            role_arn: role_arn.to_owned(),
            role_id: role_id.to_owned(),
            session_name: session_name.to_owned(),
            account: account.to_owned(),
            identity_id: None,
            provider: None,
            web_identity: Vec::new(),
            session_policy: None,
            policy_arns: Vec::new(),
            tags: Vec::new(),
            source_identity: None,
            issued_at,
            expires_at,
        }
    }

    /// The role name (last path segment of the role ARN).
    pub fn role_name(&self) -> &str {
        role_name_of(&self.role_arn)
    }

    /// `arn:aws:sts::<acct>:assumed-role/<role>/<session>`.
    pub fn session_arn(&self) -> String {
        format!(
            "arn:aws:sts::{}:assumed-role/{}/{}",
            self.account,
            self.role_name(),
            self.session_name
        )
    }

    /// `AROA…:<session>`, the value of `aws:userid`.
    pub fn user_id(&self) -> String {
        format!("{}:{}", self.role_id, self.session_name)
    }
}

/// The role name of a role ARN (`…:role/path/Name` → `Name`).
pub fn role_name_of(role_arn: &str) -> &str {
    let res = role_arn.splitn(6, ':').nth(5).unwrap_or(role_arn);
    res.rsplit('/').next().unwrap_or(res)
}

/// A freshly minted credential set.
#[derive(Clone, Debug)]
pub struct Minted {
    /// `ASIA…`.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Sealed session token.
    pub session_token: String,
    /// Expiry, epoch seconds.
    pub expires_at: i64,
}

/// Mint credentials for `claims`. `random` supplies the key id (10 bytes) and nonce (24 bytes).
pub fn mint(master: &MasterKey, claims: &SessionClaims, random: [u8; 34]) -> Minted {
    let (id_bytes, nonce_bytes) = random.split_at(10);
    let mut id = [0u8; 10];
    id.copy_from_slice(id_bytes);
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(nonce_bytes);
    let access_key_id = new_access_key_id(id);
    let json = serde_json::to_vec(claims).unwrap_or_default();
    Minted {
        secret_access_key: derive_secret(master, &access_key_id),
        session_token: seal(master, &access_key_id, &json, nonce),
        access_key_id,
        expires_at: claims.expires_at,
    }
}

/// Why a session token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// Tampered, for another key id, or not a token of this cluster.
    #[error("The provided token is malformed or otherwise invalid.")]
    Invalid,
    /// Past its expiry.
    #[error("The provided token has expired.")]
    Expired,
}

/// Open and check a session token for `access_key_id` at time `now`.
pub fn open_session(
    master: &MasterKey,
    access_key_id: &str,
    token: &str,
    now: i64,
) -> Result<SessionClaims, SessionError> {
    if !access_key_id.starts_with("ASIA") {
        return Err(SessionError::Invalid);
    }
    let raw = open(master, access_key_id, token).map_err(|_| SessionError::Invalid)?;
    let claims: SessionClaims = serde_json::from_slice(&raw).map_err(|_| SessionError::Invalid)?;
    if claims.version != CLAIMS_VERSION {
        return Err(SessionError::Invalid);
    }
    if now >= claims.expires_at {
        return Err(SessionError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> SessionClaims {
        let mut c = SessionClaims::new(
            "arn:aws:iam::000000000000:role/path/Guest",
            "AROAEXAMPLEEXAMPLE1",
            "CognitoIdentityCredentials",
            "000000000000",
            1000,
            4600,
        );
        c.identity_id = Some("us-east-1:abc".into());
        c.web_identity = vec![
            (
                "cognito-identity.amazonaws.com:sub".into(),
                vec!["us-east-1:abc".into()],
            ),
            (
                "cognito-identity.amazonaws.com:amr".into(),
                vec!["unauthenticated".into()],
            ),
        ];
        c
    }

    #[test]
    fn round_trip() {
        let m = MasterKey::from_bytes([7; 32]);
        let c = claims();
        let minted = mint(&m, &c, [1; 34]);
        assert!(minted.access_key_id.starts_with("ASIA"));
        assert_eq!(minted.access_key_id.len(), 20);
        assert_eq!(
            minted.secret_access_key,
            derive_secret(&m, &minted.access_key_id)
        );
        let back = open_session(&m, &minted.access_key_id, &minted.session_token, 2000);
        assert_eq!(back, Ok(c.clone()));
        assert_eq!(c.role_name(), "Guest");
        assert_eq!(
            c.session_arn(),
            "arn:aws:sts::000000000000:assumed-role/Guest/CognitoIdentityCredentials"
        );
        assert_eq!(
            c.user_id(),
            "AROAEXAMPLEEXAMPLE1:CognitoIdentityCredentials"
        );
        assert!(minted.session_token.len() < 1500, "token stays small");
    }

    #[test]
    fn expired_tampered_and_foreign() {
        let m = MasterKey::from_bytes([7; 32]);
        let minted = mint(&m, &claims(), [2; 34]);
        assert_eq!(
            open_session(&m, &minted.access_key_id, &minted.session_token, 4600),
            Err(SessionError::Expired)
        );
        let mut t = minted.session_token.clone().into_bytes();
        let i = t.len() / 2;
        t[i] = if t[i] == b'A' { b'B' } else { b'A' };
        let t = String::from_utf8(t).unwrap_or_default();
        assert_eq!(
            open_session(&m, &minted.access_key_id, &t, 2000),
            Err(SessionError::Invalid)
        );
        let other = mint(&m, &claims(), [3; 34]);
        assert_eq!(
            open_session(&m, &other.access_key_id, &minted.session_token, 2000),
            Err(SessionError::Invalid)
        );
        let m2 = MasterKey::from_bytes([8; 32]);
        assert_eq!(
            open_session(&m2, &minted.access_key_id, &minted.session_token, 2000),
            Err(SessionError::Invalid)
        );
        assert_eq!(
            open_session(&m, "AKIAEXAMPLE", &minted.session_token, 2000),
            Err(SessionError::Invalid)
        );
    }
}
