//! Stored documents: IAM entities and identity-pool state.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A key/value tag.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Tag {
    pub key: String,
    pub value: String,
}

/// An IAM role.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Role {
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    /// The trust (assume-role) policy document, as given.
    pub trust: String,
    #[serde(default)]
    pub description: Option<String>,
    pub max_session: i64,
    pub created: i64,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Inline policies: name → document.
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    /// Attached managed policy ARNs.
    #[serde(default)]
    pub attached: Vec<String>,
}

/// One version of a managed policy.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PolicyVersion {
    pub id: String,
    pub document: String,
    pub created: i64,
}

/// A customer managed policy.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ManagedPolicy {
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    #[serde(default)]
    pub description: Option<String>,
    pub created: i64,
    pub updated: i64,
    pub default_version: String,
    pub versions: Vec<PolicyVersion>,
    pub next_version: u32,
    #[serde(default)]
    pub attachments: i64,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl ManagedPolicy {
    /// The default version's document.
    pub fn default_document(&self) -> Option<&str> {
        self.versions
            .iter()
            .find(|v| v.id == self.default_version)
            .map(|v| v.document.as_str())
    }
}

/// An IAM user.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct User {
    pub name: String,
    pub path: String,
    pub id: String,
    pub arn: String,
    pub created: i64,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub inline: BTreeMap<String, String>,
    #[serde(default)]
    pub attached: Vec<String>,
    /// Access key ids.
    #[serde(default)]
    pub keys: Vec<String>,
}

/// A long-term access key. The secret is stored sealed with a subkey of the master key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AccessKey {
    pub id: String,
    /// Lower-cased user name (key of the user document).
    pub user: String,
    pub secret_sealed: String,
    /// `Active` or `Inactive`.
    pub status: String,
    pub created: i64,
}

/// An IAM OIDC identity provider.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct OidcProvider {
    /// Issuer URL without scheme (`host/path`).
    pub url: String,
    /// The issuer URL as registered (with scheme), the base for discovery.
    #[serde(default)]
    pub issuer: String,
    pub arn: String,
    #[serde(default)]
    pub client_ids: Vec<String>,
    #[serde(default)]
    pub thumbprints: Vec<String>,
    pub created: i64,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// A user-pool provider of an identity pool.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CognitoProvider {
    #[serde(default)]
    pub provider_name: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_side_token_check: Option<bool>,
}

/// One rule of a `Rules` role mapping.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MappingRule {
    pub claim: String,
    pub match_type: String,
    pub value: String,
    #[serde(rename = "RoleARN")]
    pub role_arn: String,
}

/// `RulesConfiguration`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RulesConfiguration {
    pub rules: Vec<MappingRule>,
}

/// A `RoleMapping` value.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RoleMapping {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambiguous_role_resolution: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_configuration: Option<RulesConfiguration>,
}

/// A principal-tag attribute map for one provider.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub(crate) struct TagMap {
    pub use_defaults: bool,
    pub tags: BTreeMap<String, String>,
}

/// An identity pool. Field names of the API shape are kept so Describe can echo them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct IdentityPool {
    pub id: String,
    pub name: String,
    pub allow_unauthenticated: bool,
    pub allow_classic_flow: bool,
    #[serde(default)]
    pub supported_login_providers: BTreeMap<String, String>,
    #[serde(default)]
    pub developer_provider_name: Option<String>,
    #[serde(default)]
    pub open_id_connect_provider_arns: Vec<String>,
    #[serde(default)]
    pub cognito_identity_providers: Vec<CognitoProvider>,
    #[serde(default)]
    pub saml_provider_arns: Vec<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// `authenticated` / `unauthenticated` → role ARN.
    #[serde(default)]
    pub roles: BTreeMap<String, String>,
    #[serde(default)]
    pub role_mappings: BTreeMap<String, RoleMapping>,
    /// Logins key → principal-tag map.
    #[serde(default)]
    pub tag_maps: BTreeMap<String, TagMap>,
    pub created: i64,
}

/// An identity of a pool.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct IdentityRecord {
    pub id: String,
    pub pool: String,
    /// Linked logins: provider → subject (one per provider).
    #[serde(default)]
    pub logins: BTreeMap<String, String>,
    pub created: i64,
    pub modified: i64,
    /// Disabled identities (merged away) refuse every use.
    #[serde(default)]
    pub disabled: bool,
    /// The identity this one was merged into.
    #[serde(default)]
    pub merged_into: Option<String>,
}

/// Key of the login index.
pub(crate) fn login_key(pool: &str, provider: &str, subject: &str) -> String {
    format!("{pool}|{provider}|{subject}")
}
