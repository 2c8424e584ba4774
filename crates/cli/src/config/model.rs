//! The shape of `cubby.toml`. Field names follow the AWS API names in snake_case; names that
//! other resources refer to are `Spanned` so a bad reference is reported at its line.
//!
//! Extension point: buckets will grow `upload_rules` (with the issue that adds them);
//! `deny_unknown_fields` makes such keys errors until then, so a file never silently means
//! more than cubby does.

use serde::Deserialize;
use serde_spanned::Spanned;
use std::collections::BTreeMap;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// `[[bucket]]`
    #[serde(default, rename = "bucket")]
    pub buckets: Vec<Bucket>,
    /// `[[policy]]`: customer-managed IAM policies.
    #[serde(default, rename = "policy")]
    pub policies: Vec<ManagedPolicy>,
    /// `[[role]]`
    #[serde(default, rename = "role")]
    pub roles: Vec<Role>,
    /// `[[oidc_provider]]`
    #[serde(default, rename = "oidc_provider")]
    pub oidc_providers: Vec<OidcProvider>,
    /// `[[user_pool]]`
    #[serde(default, rename = "user_pool")]
    pub user_pools: Vec<UserPool>,
    /// `[[identity_pool]]`
    #[serde(default, rename = "identity_pool")]
    pub identity_pools: Vec<IdentityPool>,
    /// `[[event_target]]`: event targets, besides those of `CUBBY_NOTIFY_<KIND>_<ID>`. Read by
    /// `cubby serve --config` at start (they are process settings, not API resources).
    #[serde(default, rename = "event_target")]
    pub event_targets: Vec<EventTarget>,
}

/// An event target, as `CUBBY_NOTIFY_<KIND>_<ID>=<url>` (and `CUBBY_NOTIFY_SECRET_<ID>`)
/// declare one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventTarget {
    /// Target id: what `[[bucket.notification]] target` and the ARN name.
    pub id: Spanned<String>,
    /// `webhook`, `nats`, `amqp`, `redis` or `mqtt`.
    pub kind: Spanned<String>,
    /// Where to deliver (the same URL forms as the environment variables).
    pub url: Spanned<String>,
    /// Webhook only: HMAC-SHA256 key for `X-Cubby-Signature`.
    pub secret: Option<Spanned<String>>,
}

/// An S3 bucket. Settings left out are not managed (whatever the API set stays).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    /// Bucket name.
    pub name: Spanned<String>,
    /// CORS rules (`PutBucketCors`); `[]` removes the configuration.
    pub cors: Option<Vec<CorsRule>>,
    /// `PutPublicAccessBlock`.
    pub public_access_block: Option<PublicAccessBlock>,
    /// Bucket policy JSON (`PutBucketPolicy`) …
    pub policy: Option<Spanned<String>>,
    /// … or a JSON file holding it, relative to the config file.
    pub policy_file: Option<Spanned<String>>,
    /// The bucket policy's text (filled by the loader).
    #[serde(skip)]
    pub policy_text: Option<String>,
    /// Default encryption (`PutBucketEncryption`): `"AES256"` (SSE-S3), or `"none"` to remove
    /// the configuration.
    pub encryption: Option<Spanned<String>>,
    /// Event notifications (`PutBucketNotificationConfiguration`); `notification = []`
    /// removes them.
    pub notification: Option<Vec<Notification>>,
    /// Upload rules (cubby's admin API `/_cubby/admin/upload-rules/{bucket}`); `upload_rule
    /// = []` removes them.
    pub upload_rule: Option<Vec<Spanned<cubby_rules::UploadRule>>>,
}

/// One notification configuration: events under a key filter go to an event target declared
/// with `CUBBY_NOTIFY_<KIND>_<ID>` (the target id is `<ID>` lower-cased).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// Configuration id (`Id`); default: the target id.
    pub id: Option<String>,
    /// Event target id.
    pub target: Spanned<String>,
    /// Event types, e.g. `["s3:ObjectCreated:*"]`.
    pub events: Vec<String>,
    /// Key prefix filter.
    pub prefix: Option<String>,
    /// Key suffix filter.
    pub suffix: Option<String>,
}

/// One CORS rule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsRule {
    /// Rule id.
    pub id: Option<String>,
    /// `AllowedOrigins`.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// `AllowedMethods`.
    #[serde(default)]
    pub allowed_methods: Vec<String>,
    /// `AllowedHeaders`.
    #[serde(default)]
    pub allowed_headers: Vec<String>,
    /// `ExposeHeaders`.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// `MaxAgeSeconds`.
    pub max_age_seconds: Option<i32>,
}

/// `PublicAccessBlockConfiguration`; every flag defaults to `true` (AWS's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicAccessBlock {
    /// `BlockPublicAcls`
    #[serde(default = "yes")]
    pub block_public_acls: bool,
    /// `IgnorePublicAcls`
    #[serde(default = "yes")]
    pub ignore_public_acls: bool,
    /// `BlockPublicPolicy`
    #[serde(default = "yes")]
    pub block_public_policy: bool,
    /// `RestrictPublicBuckets`
    #[serde(default = "yes")]
    pub restrict_public_buckets: bool,
}

fn yes() -> bool {
    true
}

/// A customer-managed policy (`CreatePolicy`; changes become a new default version).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedPolicy {
    /// Policy name.
    pub name: Spanned<String>,
    /// Description (set at creation only, as on AWS).
    pub description: Option<String>,
    /// Inline JSON …
    pub document: Option<Spanned<String>>,
    /// … or a JSON file, relative to the config file.
    pub file: Option<Spanned<String>>,
    /// The document's text (filled by the loader).
    #[serde(skip)]
    pub text: String,
}

/// An inline role policy (`PutRolePolicy`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlinePolicy {
    /// Policy name.
    pub name: Spanned<String>,
    /// Inline JSON …
    pub document: Option<Spanned<String>>,
    /// … or a JSON file, relative to the config file.
    pub file: Option<Spanned<String>>,
    /// The document's text (filled by the loader).
    #[serde(skip)]
    pub text: String,
}

/// An IAM role.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// Role name.
    pub name: Spanned<String>,
    /// Description.
    pub description: Option<String>,
    /// Longest session, seconds (3600–43200).
    pub max_session_duration: Option<i32>,
    /// Shorthand trust policy: Cognito identities of an identity pool declared in this file.
    pub trust: Option<CognitoTrust>,
    /// A full trust policy instead (JSON) …
    pub trust_policy: Option<Spanned<String>>,
    /// … or a JSON file holding it.
    pub trust_policy_file: Option<Spanned<String>>,
    /// The trust policy's text when given in full (filled by the loader).
    #[serde(skip)]
    pub trust_policy_text: Option<String>,
    /// `[[role.inline_policy]]`
    #[serde(default, rename = "inline_policy")]
    pub inline_policies: Vec<InlinePolicy>,
    /// Names of `[[policy]]` entries, or policy ARNs, to attach.
    #[serde(default)]
    pub managed_policies: Vec<Spanned<String>>,
}

/// `trust = { identity_pool = "…", amr = "authenticated" }`: the trust policy the seeds and
/// the AWS console write for identity-pool roles (`aud` = the pool's id, `amr` matched).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CognitoTrust {
    /// Name of an `[[identity_pool]]`.
    pub identity_pool: Spanned<String>,
    /// `authenticated` or `unauthenticated`.
    pub amr: Amr,
}

/// Which identities a Cognito trust admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Amr {
    /// Signed-in identities.
    Authenticated,
    /// Guests.
    Unauthenticated,
}

/// An IAM OIDC identity provider (`CreateOpenIDConnectProvider`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProvider {
    /// Issuer URL (`https://…`).
    pub url: Spanned<String>,
    /// Audiences.
    #[serde(default)]
    pub client_ids: Vec<String>,
    /// Certificate thumbprints (cubby verifies tokens through JWKS; kept for AWS parity).
    #[serde(default)]
    pub thumbprints: Vec<String>,
}

/// A user pool (Cognito IDP subset).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPool {
    /// Pool name (unique in the file; found again by name).
    pub name: Spanned<String>,
    /// `UsernameAttributes` (`email`, `phone_number`): set at creation only.
    #[serde(default)]
    pub username_attributes: Vec<String>,
    /// `AutoVerifiedAttributes`.
    #[serde(default)]
    pub auto_verified_attributes: Vec<String>,
    /// Only administrators create users (`AdminCreateUserConfig.AllowAdminCreateUserOnly`).
    #[serde(default)]
    pub admin_create_user_only: bool,
    /// Password policy.
    pub password_policy: Option<PasswordPolicy>,
    /// `[[user_pool.client]]`
    #[serde(default, rename = "client")]
    pub clients: Vec<UserPoolClient>,
}

/// `Policies.PasswordPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordPolicy {
    /// `MinimumLength`
    #[serde(default = "eight")]
    pub minimum_length: i32,
    /// `RequireUppercase`
    #[serde(default)]
    pub require_uppercase: bool,
    /// `RequireLowercase`
    #[serde(default)]
    pub require_lowercase: bool,
    /// `RequireNumbers`
    #[serde(default)]
    pub require_numbers: bool,
    /// `RequireSymbols`
    #[serde(default)]
    pub require_symbols: bool,
}

fn eight() -> i32 {
    8
}

/// An app client of a user pool.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPoolClient {
    /// Client name (unique within its pool).
    pub name: Spanned<String>,
    /// `ExplicitAuthFlows` (`ALLOW_USER_SRP_AUTH`, …); `ALLOW_REFRESH_TOKEN_AUTH` is implied.
    #[serde(default)]
    pub explicit_auth_flows: Vec<String>,
    /// A confidential client (server-side apps); browsers use clients without a secret.
    #[serde(default)]
    pub generate_secret: bool,
}

/// `{ user_pool = "…", client = "…" }`: one of this file's user pools and one of its clients.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPoolRef {
    /// Name of a `[[user_pool]]`.
    pub user_pool: Spanned<String>,
    /// Name of one of its clients.
    pub client: Spanned<String>,
    /// `ServerSideTokenCheck`.
    #[serde(default)]
    pub server_side_token_check: bool,
}

/// An identity pool.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityPool {
    /// Pool name (unique in the file; found again by name).
    pub name: Spanned<String>,
    /// Guests (`AllowUnauthenticatedIdentities`).
    #[serde(default)]
    pub allow_unauthenticated: bool,
    /// The basic (classic) flow: GetOpenIdToken + AssumeRoleWithWebIdentity.
    #[serde(default)]
    pub allow_classic_flow: bool,
    /// `DeveloperProviderName` (set once, as on AWS).
    pub developer_provider: Option<String>,
    /// Cubby's own user pools as providers (`CognitoIdentityProviders`).
    #[serde(default)]
    pub user_pools: Vec<UserPoolRef>,
    /// OIDC providers: issuer URLs of `[[oidc_provider]]` entries, or ARNs.
    #[serde(default)]
    pub openid_providers: Vec<Spanned<String>>,
    /// `SupportedLoginProviders` (e.g. `"accounts.google.com" = "<client id>"`).
    #[serde(default)]
    pub supported_login_providers: BTreeMap<String, String>,
    /// Default roles.
    #[serde(default)]
    pub roles: PoolRoles,
    /// `[[identity_pool.role_mapping]]`
    #[serde(default, rename = "role_mapping")]
    pub role_mappings: Vec<RoleMapping>,
}

/// `SetIdentityPoolRoles` `Roles`: role names of this file, or ARNs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolRoles {
    /// Signed-in identities.
    pub authenticated: Option<Spanned<String>>,
    /// Guests.
    pub unauthenticated: Option<Spanned<String>>,
}

/// One `RoleMappings` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleMapping {
    /// Provider name as in `Logins` (e.g. `accounts.google.com`) …
    pub provider: Option<String>,
    /// … or one of this file's user pools and clients.
    pub user_pool: Option<UserPoolRef>,
    /// `Token` or `Rules`.
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// `AuthenticatedRole` (default) or `Deny`.
    pub ambiguous_role_resolution: Option<String>,
    /// Rules, in order (type `Rules`).
    #[serde(default, rename = "rule")]
    pub rules: Vec<MappingRule>,
}

/// One mapping rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingRule {
    /// Token claim.
    pub claim: String,
    /// `Equals`, `Contains`, `StartsWith`, `NotEqual`.
    pub match_type: String,
    /// Value to match.
    pub value: String,
    /// Role name of this file, or an ARN.
    pub role: Spanned<String>,
}
