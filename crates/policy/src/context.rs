//! Who is calling and what they ask for: the input to evaluation.

use std::borrow::Cow;

use crate::glob::bytes_eq;
use crate::vars::Resolver;

/// The caller, for `Principal`/`NotPrincipal` matching in resource policies and for the
/// principal-derived `aws:*` condition keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An unsigned request.
    Anonymous,
    /// The account itself (`arn:aws:iam::<account>:root`).
    Root {
        /// 12-digit account id.
        account: String,
    },
    /// An IAM user (`arn:aws:iam::<account>:user/<path/><name>`).
    User {
        /// The user's ARN.
        arn: String,
        /// The user's account id.
        account: String,
        /// The unique id (`AIDA…`), the value of `aws:userid`.
        user_id: String,
        /// The user name, the value of `aws:username`.
        name: String,
    },
    /// A role session (`arn:aws:sts::<account>:assumed-role/<role>/<session>`).
    AssumedRole {
        /// The role's ARN (`arn:aws:iam::<account>:role/<path/><role>`).
        role_arn: String,
        /// The session ARN (`arn:aws:sts::<account>:assumed-role/<role>/<session>`).
        session_arn: String,
        /// The account id.
        account: String,
        /// The role's unique id (`AROA…`).
        role_id: String,
        /// The role session name.
        session_name: String,
    },
    /// A web-identity caller of `AssumeRoleWithWebIdentity`, matched by
    /// `"Principal": {"Federated": "<provider>"}` in trust policies. `provider` is
    /// `cognito-identity.amazonaws.com` or `arn:aws:iam::<account>:oidc-provider/<host/path>`.
    WebIdentity {
        /// The identity provider, as written in trust policies.
        provider: String,
    },
}

impl Principal {
    /// The account the principal belongs to, if any.
    pub fn account(&self) -> Option<&str> {
        match self {
            Principal::Root { account }
            | Principal::User { account, .. }
            | Principal::AssumedRole { account, .. } => Some(account),
            Principal::Anonymous | Principal::WebIdentity { .. } => None,
        }
    }

    /// The caller's own ARN: the root ARN, the user ARN or the session ARN.
    pub fn arn(&self) -> Option<String> {
        match self {
            Principal::Root { account } => Some(format!("arn:aws:iam::{account}:root")),
            Principal::User { arn, .. } => Some(arn.clone()),
            Principal::AssumedRole { session_arn, .. } => Some(session_arn.clone()),
            Principal::Anonymous | Principal::WebIdentity { .. } => None,
        }
    }

    /// True for unsigned requests.
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Principal::Anonymous)
    }
}

#[derive(Debug, Clone)]
struct Entry {
    /// ASCII-lowercased key name.
    name: Cow<'static, str>,
    values: Values,
    /// Built with [`RequestContext::add`]: a multi-valued key, never usable as a variable.
    multi: bool,
}

/// A key's values. Nearly every key has one, kept inline: a context is built for every
/// request, and a `Vec` per key was one allocation per key.
#[derive(Debug, Clone)]
enum Values {
    One(String),
    Many(Vec<String>),
}

impl Values {
    fn as_slice(&self) -> &[String] {
        match self {
            Values::One(v) => std::slice::from_ref(v),
            Values::Many(vs) => vs,
        }
    }

    fn push(&mut self, value: String) {
        match self {
            Values::One(first) => *self = Values::Many(vec![std::mem::take(first), value]),
            Values::Many(vs) => vs.push(value),
        }
    }
}

/// The request being decided: action, resource, principal and condition keys.
///
/// Key names are case-insensitive (`aws:SourceIp` ≡ `AWS:sourceip`). A key set with
/// [`set`](Self::set) is single-valued; a key built with [`add`](Self::add) is multi-valued
/// (e.g. `cognito-identity.amazonaws.com:amr`) and, as in AWS, cannot be used as a policy
/// variable.
///
/// [`new`](Self::new) fills the principal-derived keys — `aws:PrincipalType`, `aws:userid`,
/// `aws:username` (IAM users only), `aws:PrincipalArn` (the role ARN for sessions),
/// `aws:PrincipalAccount`, `aws:FederatedProvider` (web identity). Later `set` calls override
/// them; changing `principal` afterwards does not update them.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The IAM action, e.g. `s3:GetObject` (matched case-insensitively).
    pub action: String,
    /// The resource ARN, e.g. `arn:aws:s3:::bucket/key` (matched case-sensitively).
    pub resource: String,
    /// The caller.
    pub principal: Principal,
    entries: Vec<Entry>,
}

impl RequestContext {
    /// A context for `action` on `resource` by `principal`, with the principal-derived keys set.
    pub fn new(
        action: impl Into<String>,
        resource: impl Into<String>,
        principal: Principal,
    ) -> Self {
        // Requests carry 15-30 keys: growing from 8 reallocated twice per request.
        let mut entries = Vec::with_capacity(32);
        // The principal's keys are the first ones, so they are pushed without the lookups
        // `set` makes (their names are already lower-case and cannot be present yet).
        let mut key = |name: &'static str, value: String| {
            entries.push(Entry {
                name: Cow::Borrowed(name),
                values: Values::One(value),
                multi: false,
            })
        };
        match &principal {
            Principal::Anonymous => {
                key("aws:principaltype", "Anonymous".into());
                key("aws:userid", "anonymous".into());
            }
            Principal::Root { account } => {
                key("aws:principaltype", "Account".into());
                key("aws:principalarn", format!("arn:aws:iam::{account}:root"));
                key("aws:userid", account.clone());
                key("aws:principalaccount", account.clone());
            }
            Principal::User {
                arn,
                account,
                user_id,
                name,
            } => {
                key("aws:principaltype", "User".into());
                key("aws:principalarn", arn.clone());
                key("aws:principalaccount", account.clone());
                key("aws:userid", user_id.clone());
                key("aws:username", name.clone());
            }
            Principal::AssumedRole {
                role_arn,
                account,
                role_id,
                session_name,
                ..
            } => {
                key("aws:principaltype", "AssumedRole".into());
                key("aws:principalarn", role_arn.clone());
                key("aws:principalaccount", account.clone());
                key("aws:userid", format!("{role_id}:{session_name}"));
            }
            Principal::WebIdentity { provider } => {
                key("aws:principaltype", "WebIdentityUser".into());
                key("aws:federatedprovider", provider.clone());
            }
        }
        RequestContext {
            action: action.into(),
            resource: resource.into(),
            principal,
            entries,
        }
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.name.len() == key.len() && e.name.eq_ignore_ascii_case(key))
    }

    /// Sets a single-valued key, replacing any previous values.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.position(key) {
            Some(i) => {
                if let Some(e) = self.entries.get_mut(i) {
                    e.values = Values::One(value);
                    e.multi = false;
                }
            }
            None => self.entries.push(Entry {
                name: key_name(key),
                values: Values::One(value),
                multi: false,
            }),
        }
    }

    /// Adds one more value to a multi-valued key (creating it if needed).
    pub fn add(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        match self.position(key) {
            Some(i) => {
                if let Some(e) = self.entries.get_mut(i) {
                    e.values.push(value);
                    e.multi = true;
                }
            }
            None => self.entries.push(Entry {
                name: key_name(key),
                values: Values::One(value),
                multi: true,
            }),
        }
    }

    /// Builder form of [`set`](Self::set).
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.set(key, value);
        self
    }

    /// Removes a key; returns whether it was present.
    pub fn remove(&mut self, key: &str) -> bool {
        match self.position(key) {
            Some(i) => {
                self.entries.remove(i);
                true
            }
            None => false,
        }
    }

    /// The values of a key (case-insensitive name), if present.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.position(key)
            .and_then(|i| self.entries.get(i))
            .map(|e| e.values.as_slice())
    }

    /// All keys (lowercased names) with their values, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries.iter().map(|e| (&*e.name, e.values.as_slice()))
    }

    /// Values of an already-lowercased key; an empty value list counts as absent.
    pub(crate) fn values_lower(&self, key: &str) -> Option<&[String]> {
        self.entries
            .iter()
            .find(|e| bytes_eq(e.name.as_bytes(), key.as_bytes()))
            .map(|e| e.values.as_slice())
            .filter(|v| !v.is_empty())
    }
}

/// Keys set on (nearly) every request; their lowercase names are shared, not allocated.
const COMMON_KEYS: &[&str] = &[
    "aws:principaltype",
    "aws:principalarn",
    "aws:principalaccount",
    "aws:userid",
    "aws:username",
    "aws:federatedprovider",
    "aws:sourceip",
    "aws:securetransport",
    "aws:currenttime",
    "aws:epochtime",
    "aws:requestedregion",
    "aws:tokenissuetime",
    "aws:useragent",
    "aws:referer",
    "aws:sourceidentity",
    "aws:multifactorauthpresent",
    "s3:prefix",
    "s3:delimiter",
    "s3:max-keys",
    "s3:authtype",
    "s3:signatureversion",
    "s3:signatureage",
    "s3:x-amz-content-sha256",
    "s3:x-amz-acl",
    "s3:x-amz-server-side-encryption",
    "cognito-identity.amazonaws.com:sub",
    "cognito-identity.amazonaws.com:aud",
    "cognito-identity.amazonaws.com:amr",
    "aws:sourcearn",
    "aws:sourceaccount",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:principalorgid",
    "aws:viaawsservice",
    "aws:calledvia",
    "aws:tagkeys",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "s3:x-amz-storage-class",
    "s3:x-amz-copy-source",
    "s3:x-amz-metadata-directive",
    "s3:versionid",
    "s3:tlsversion",
    "s3:requestobjecttagkeys",
];

/// The lowercase form of a key name, shared for common keys.
pub(crate) fn key_name(key: &str) -> Cow<'static, str> {
    match COMMON_KEYS
        .iter()
        .find(|k| k.len() == key.len() && k.eq_ignore_ascii_case(key))
    {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(key.to_ascii_lowercase()),
    }
}

impl Resolver for RequestContext {
    fn single_value(&self, key: &str) -> Option<&str> {
        let e = self
            .entries
            .iter()
            .find(|e| bytes_eq(e.name.as_bytes(), key.as_bytes()))?;
        match e.values.as_slice() {
            [v] if !e.multi => Some(v),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive_and_multi_valued() {
        let mut c = RequestContext::new("s3:GetObject", "arn:aws:s3:::b/k", Principal::Anonymous);
        c.set("aws:SourceIp", "1.2.3.4");
        assert_eq!(c.get("AWS:SOURCEIP"), Some(&["1.2.3.4".to_string()][..]));
        c.set("aws:sourceip", "5.6.7.8");
        assert_eq!(c.get("aws:SourceIp").map(<[String]>::len), Some(1));
        c.add("cognito-identity.amazonaws.com:amr", "authenticated");
        c.add("Cognito-Identity.amazonaws.com:amr", "accounts.google.com");
        assert_eq!(
            c.get("cognito-identity.amazonaws.com:amr")
                .map(<[String]>::len),
            Some(2)
        );
        // Multi-valued keys never resolve as variables, even with one value.
        c.add("x:multi", "one");
        assert_eq!(c.single_value("x:multi"), None);
        assert_eq!(c.single_value("aws:sourceip"), Some("5.6.7.8"));
        assert!(c.remove("x:MULTI"));
        assert!(c.get("x:multi").is_none());
    }

    #[test]
    fn principal_keys_are_populated() {
        let c = RequestContext::new(
            "s3:GetObject",
            "arn:aws:s3:::b/k",
            Principal::AssumedRole {
                role_arn: "arn:aws:iam::123456789012:role/R".into(),
                session_arn: "arn:aws:sts::123456789012:assumed-role/R/s".into(),
                account: "123456789012".into(),
                role_id: "AROAEXAMPLE".into(),
                session_name: "s".into(),
            },
        );
        assert_eq!(c.single_value("aws:userid"), Some("AROAEXAMPLE:s"));
        assert_eq!(
            c.single_value("aws:principalarn"),
            Some("arn:aws:iam::123456789012:role/R")
        );
        assert_eq!(c.single_value("aws:username"), None);
        let u = RequestContext::new(
            "s3:GetObject",
            "*",
            Principal::User {
                arn: "arn:aws:iam::123456789012:user/alice".into(),
                account: "123456789012".into(),
                user_id: "AIDAEXAMPLE".into(),
                name: "alice".into(),
            },
        );
        assert_eq!(u.single_value("aws:username"), Some("alice"));
        assert_eq!(u.single_value("aws:principaltype"), Some("User"));
    }
}
