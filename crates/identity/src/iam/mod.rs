//! The IAM query API (`Version=2010-05-08`): roles, inline and managed policies, users and
//! access keys, OIDC providers. Callable by root, or by principals whose policies allow
//! `iam:<Action>` on the entity's ARN.

mod oidc_providers;
mod policies;
mod roles;
mod users;

pub(crate) use oidc_providers::provider_key;

use crate::Identity;
use crate::authority::Who;
use crate::query::{ApiError, Params};
use crate::xml::Xml;
use cubby_policy::{PolicyError, PolicyKind};
use http::StatusCode;
use http::request::Parts;
use std::net::SocketAddr;

/// Result of one IAM action: the inner XML of `<ActionResult>`, or `None` for no result element.
pub(crate) type IamResult = Result<Option<Xml>, ApiError>;

/// Per-request context of an IAM action.
pub(crate) struct Req<'a> {
    pub id: &'a Identity,
    pub who: &'a Who,
    pub p: &'a Params,
    pub action: &'a str,
    pub now: i64,
    pub keys: Vec<(&'static str, String)>,
}

impl Req<'_> {
    pub(crate) fn acct(&self) -> &str {
        &self.id.cfg.account_id
    }

    /// Authorize `iam:<Action>` on `resource`.
    pub(crate) async fn allow(&self, resource: &str) -> Result<(), ApiError> {
        let action = format!("iam:{}", self.action);
        if self
            .id
            .decide(
                Some(self.who),
                &action,
                resource,
                &self.keys,
                None,
                self.now,
            )
            .await?
        {
            Ok(())
        } else {
            Err(ApiError::access_denied(format!(
                "User: {} is not authorized to perform: {action} on resource: {resource}",
                self.who.arn(self.acct())
            )))
        }
    }
}

/// Handle one IAM action.
pub(crate) async fn handle(
    id: &Identity,
    parts: &Parts,
    action: &str,
    p: &Params,
    body: &[u8],
    peer: SocketAddr,
    now: i64,
) -> IamResult {
    let who = match id.authenticate(parts, body, "iam", now).await {
        Ok(Some(w)) => w,
        Ok(None) => return Err(crate::query::AuthFailure::Missing.to_query_error()),
        Err(e) => return Err(e.to_query_error()),
    };
    let keys = base_keys(parts, peer, now);
    let r = Req {
        id,
        who: &who,
        p,
        action,
        now,
        keys,
    };
    match action {
        "CreateRole"
        | "GetRole"
        | "UpdateRole"
        | "UpdateRoleDescription"
        | "DeleteRole"
        | "ListRoles"
        | "UpdateAssumeRolePolicy"
        | "TagRole"
        | "UntagRole"
        | "ListRoleTags"
        | "PutRolePolicy"
        | "GetRolePolicy"
        | "DeleteRolePolicy"
        | "ListRolePolicies"
        | "AttachRolePolicy"
        | "DetachRolePolicy"
        | "ListAttachedRolePolicies" => roles::handle(&r).await,
        "CreatePolicy"
        | "GetPolicy"
        | "DeletePolicy"
        | "ListPolicies"
        | "CreatePolicyVersion"
        | "GetPolicyVersion"
        | "ListPolicyVersions"
        | "DeletePolicyVersion"
        | "SetDefaultPolicyVersion" => policies::handle(&r).await,
        "CreateUser"
        | "GetUser"
        | "DeleteUser"
        | "ListUsers"
        | "CreateAccessKey"
        | "ListAccessKeys"
        | "DeleteAccessKey"
        | "UpdateAccessKey"
        | "PutUserPolicy"
        | "GetUserPolicy"
        | "DeleteUserPolicy"
        | "ListUserPolicies"
        | "AttachUserPolicy"
        | "DetachUserPolicy"
        | "ListAttachedUserPolicies"
        | "ListGroups" => users::handle(&r).await,
        "CreateOpenIDConnectProvider"
        | "GetOpenIDConnectProvider"
        | "DeleteOpenIDConnectProvider"
        | "ListOpenIDConnectProviders"
        | "AddClientIDToOpenIDConnectProvider"
        | "RemoveClientIDFromOpenIDConnectProvider"
        | "UpdateOpenIDConnectProviderThumbprint" => oidc_providers::handle(&r).await,
        _ => Err(ApiError::new(
            "InvalidAction",
            StatusCode::BAD_REQUEST,
            format!("The action {action} is not valid for this web service."),
        )),
    }
}

/// Global condition keys of a non-S3 request.
pub(crate) fn base_keys(parts: &Parts, peer: SocketAddr, now: i64) -> Vec<(&'static str, String)> {
    let mut keys = vec![
        ("aws:SourceIp", peer.ip().to_string()),
        ("aws:SecureTransport", "false".to_owned()),
        ("aws:CurrentTime", crate::util::iso8601(now)),
        ("aws:EpochTime", now.to_string()),
    ];
    if let Some(ua) = parts
        .headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
    {
        keys.push(("aws:UserAgent", ua.to_owned()));
    }
    keys
}

pub(crate) fn no_such_entity(message: impl Into<String>) -> ApiError {
    ApiError::new("NoSuchEntity", StatusCode::NOT_FOUND, message)
}

pub(crate) fn already_exists(message: impl Into<String>) -> ApiError {
    ApiError::new("EntityAlreadyExists", StatusCode::CONFLICT, message)
}

pub(crate) fn delete_conflict(message: impl Into<String>) -> ApiError {
    ApiError::new("DeleteConflict", StatusCode::CONFLICT, message)
}

pub(crate) fn limit_exceeded(message: impl Into<String>) -> ApiError {
    ApiError::new("LimitExceeded", StatusCode::CONFLICT, message)
}

pub(crate) fn invalid_input(message: impl Into<String>) -> ApiError {
    ApiError::new("InvalidInput", StatusCode::BAD_REQUEST, message)
}

pub(crate) fn malformed(e: &PolicyError) -> ApiError {
    ApiError::new(
        "MalformedPolicyDocument",
        StatusCode::BAD_REQUEST,
        format!("Syntax errors in policy: {e}"),
    )
}

/// Largest policy document accepted (IAM's largest quota is 10,240 characters for inline
/// role policies; cubby allows a margin over AWS's per-kind limits).
const MAX_POLICY_CHARS: usize = 131_072;

/// Validate a policy document of `kind`.
pub(crate) fn check_policy(doc: &str, kind: PolicyKind) -> Result<(), ApiError> {
    if doc.chars().count() > MAX_POLICY_CHARS {
        return Err(limit_exceeded("Cannot exceed quota for PolicySize."));
    }
    cubby_policy::Policy::parse_as(doc, kind)
        .map(|_| ())
        .map_err(|e| malformed(&e))
}

/// Entity names: `[\w+=,.@-]+`, 1..=max characters.
pub(crate) fn check_name(field: &str, name: &str, max: usize) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.chars().count() <= max
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "1 validation error detected: Value '{name}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"
        )))
    }
}

/// Paths: `/` or `/a/b/`.
pub(crate) fn check_path(path: &str) -> Result<(), ApiError> {
    let ok = path.starts_with('/')
        && path.ends_with('/')
        && path.len() <= 512
        && path.chars().all(|c| ('\u{21}'..='\u{7e}').contains(&c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters. ({path})"
        )))
    }
}

/// `<name>ISO date</name>`.
pub(crate) fn date(x: &mut Xml, name: &str, secs: i64) {
    x.elem(name, &crate::util::iso8601(secs));
}

/// Apply `Marker`/`MaxItems` to a sorted list of (key, item).
pub(crate) fn paginate<T>(
    p: &Params,
    items: Vec<(String, T)>,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let max = p.int("MaxItems")?.unwrap_or(100).clamp(1, 1000) as usize;
    let marker = p.get("Marker").unwrap_or("");
    let mut rest: Vec<(String, T)> = items
        .into_iter()
        .filter(|(k, _)| marker.is_empty() || k.as_str() > marker)
        .collect();
    let next = if rest.len() > max {
        rest.truncate(max);
        rest.last().map(|(k, _)| k.clone())
    } else {
        None
    };
    Ok((rest.into_iter().map(|(_, v)| v).collect(), next))
}

/// `<IsTruncated>` and `<Marker>`.
pub(crate) fn truncation(x: &mut Xml, next: Option<String>) {
    match next {
        Some(m) => {
            x.elem("IsTruncated", "true").elem("Marker", &m);
        }
        None => {
            x.elem("IsTruncated", "false");
        }
    }
}

/// Tags from `Tags.member.N.Key/Value`, validated (≤50).
pub(crate) fn tags_param(p: &Params) -> Result<Vec<crate::model::Tag>, ApiError> {
    let tags = p.tags("Tags");
    if tags.len() > 50 {
        return Err(limit_exceeded(
            "The number of tags has reached the maximum limit.",
        ));
    }
    Ok(tags
        .into_iter()
        .map(|(key, value)| crate::model::Tag { key, value })
        .collect())
}

/// Merge `new` tags into `tags` (same key replaces).
pub(crate) fn merge_tags(tags: &mut Vec<crate::model::Tag>, new: Vec<crate::model::Tag>) {
    for t in new {
        match tags.iter_mut().find(|x| x.key == t.key) {
            Some(x) => x.value = t.value,
            None => tags.push(t),
        }
    }
}
