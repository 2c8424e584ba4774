//! Admin operations on users and group membership.

use super::pools::{STANDARD_ATTRIBUTES, custom_attributes, group_json, group_or_404};
use super::{ApiResult, Req, ts};
use crate::UserPools;
use crate::codes::{CodeKind, CodeMessage};
use crate::core::tick_ms;
use crate::error::ApiError;
use crate::model::{PoolDoc, UserDoc, status};
use crate::passwords::{check_policy, temporary_password};
use crate::store::NS_USER;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Check attribute names and values against the pool's schema.
pub(crate) fn check_attributes(pool: &PoolDoc, attrs: &[(String, String)]) -> Result<(), ApiError> {
    let custom = custom_attributes(pool);
    for (name, value) in attrs {
        if name == "sub" {
            return Err(ApiError::invalid(
                "Attributes did not conform to the schema: sub: Attribute cannot be updated.",
            ));
        }
        if !STANDARD_ATTRIBUTES.contains(&name.as_str()) && !custom.contains(name) {
            return Err(ApiError::invalid(format!(
                "Attributes did not conform to the schema: Type for attribute {{{name}}} could not be determined"
            )));
        }
        if value.chars().count() > 2048 {
            return Err(ApiError::invalid(format!(
                "Attributes did not conform to the schema: {name}: String must be no longer than 2048 characters"
            )));
        }
        if name.ends_with("_verified") && value != "true" && value != "false" {
            return Err(ApiError::invalid(format!(
                "Attributes did not conform to the schema: {name}: must be true or false"
            )));
        }
        if name == "email" && !value.contains('@') {
            return Err(ApiError::invalid("Invalid email address format."));
        }
    }
    Ok(())
}

/// Apply attribute changes; a changed email / phone number loses its verified flag unless the
/// same request sets it.
pub(crate) fn apply_attributes(u: &mut UserDoc, attrs: &[(String, String)]) {
    for (name, value) in attrs {
        let changed = u.attributes.get(name) != Some(value);
        u.attributes.insert(name.clone(), value.clone());
        let flag = format!("{name}_verified");
        if changed
            && (name == "email" || name == "phone_number")
            && !attrs.iter().any(|(n, _)| *n == flag)
        {
            u.attributes.insert(flag, "false".into());
        }
    }
}

/// Refuse an attribute change that would take another user's sign-in alias.
pub(crate) async fn check_alias_free(
    up: &UserPools,
    pool: &PoolDoc,
    attrs: &[(String, String)],
    me: Option<&str>,
) -> Result<(), ApiError> {
    for (name, value) in attrs {
        let relevant =
            pool.username_attributes.contains(name) || pool.alias_attributes.contains(name);
        if !relevant {
            continue;
        }
        if let Some(owner) = up.alias_owner(pool, name, value).await?
            && Some(owner.as_str()) != me
        {
            let what = if name == "phone_number" {
                "phone number"
            } else {
                name.as_str()
            };
            return Err(if me.is_some() {
                ApiError::new(
                    "AliasExistsException",
                    format!("An account with the given {what} already exists."),
                )
            } else {
                ApiError::new(
                    "UsernameExistsException",
                    format!("An account with the given {what} already exists."),
                )
            });
        }
    }
    Ok(())
}

/// For pools with username attributes: the attribute a sign-up name fills.
pub(crate) fn username_attribute(pool: &PoolDoc, name: &str) -> Result<Option<String>, ApiError> {
    if pool.username_attributes.is_empty() {
        return Ok(None);
    }
    let looks_email = name.contains('@');
    let looks_phone = name.starts_with('+') && name[1..].bytes().all(|b| b.is_ascii_digit());
    if looks_email && pool.username_attributes.iter().any(|a| a == "email") {
        return Ok(Some("email".into()));
    }
    if looks_phone && pool.username_attributes.iter().any(|a| a == "phone_number") {
        return Ok(Some("phone_number".into()));
    }
    Err(ApiError::invalid(
        "Username should be either an email or a phone number.",
    ))
}

/// A new user document (no password yet).
pub(crate) fn new_user(
    pool: &PoolDoc,
    name: &str,
    attrs: &[(String, String)],
    now: i64,
) -> Result<UserDoc, ApiError> {
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid(
            "1 validation error detected: Value at 'username' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{M}\\p{S}\\p{N}\\p{P}]+",
        ));
    }
    check_attributes(pool, attrs)?;
    let sub = uuid::Uuid::new_v4().to_string();
    let mut u = UserDoc {
        username: name.to_owned(),
        sub: sub.clone(),
        attributes: BTreeMap::new(),
        enabled: true,
        status: status::UNCONFIRMED.into(),
        created: now,
        modified: now,
        password: None,
        codes: Vec::new(),
        signed_out_ms: 0,
        groups: Vec::new(),
    };
    apply_attributes(&mut u, attrs);
    if let Some(attr) = username_attribute(pool, name)? {
        u.username = sub;
        if u.attributes.get(&attr).is_some_and(|v| v != name) {
            return Err(ApiError::invalid(format!(
                "The {attr} attribute must match the username."
            )));
        }
        u.attributes.insert(attr.clone(), name.to_owned());
        u.attributes
            .entry(format!("{attr}_verified"))
            .or_insert_with(|| "false".into());
    }
    Ok(u)
}

/// `UserType` (AdminCreateUser, ListUsers).
pub(crate) fn user_type(u: &UserDoc, only: Option<&[String]>) -> Value {
    let attrs: Vec<Value> = UserPools::attributes_json(u)
        .into_iter()
        .filter(|a| {
            only.is_none_or(|names| {
                a.get("Name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| names.iter().any(|x| x == n))
            })
        })
        .collect();
    json!({"Username": u.username, "Attributes": attrs, "UserCreateDate": ts(u.created),
           "UserLastModifiedDate": ts(u.modified), "Enabled": u.enabled, "UserStatus": u.status})
}

async fn pool_and_user(up: &UserPools, req: &Req) -> Result<(PoolDoc, UserDoc), ApiError> {
    let pool = up.pool_or_404(req.str("UserPoolId")?).await?;
    let u = up.user_or_404(&pool, req.str("Username")?).await?;
    Ok((pool, u))
}

pub(crate) async fn admin_create_user(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let pool = up.pool_or_404(req.str("UserPoolId")?).await?;
    let name = req.str("Username")?;
    let attrs = req.attributes("UserAttributes")?;
    let action = req.opt_str("MessageAction")?;
    if let Some(a) = action
        && a != "RESEND"
        && a != "SUPPRESS"
    {
        return Err(ApiError::invalid(
            "MessageAction must be RESEND or SUPPRESS.",
        ));
    }
    let temp = match req.opt_str("TemporaryPassword")? {
        Some(p) => {
            check_policy(&pool.password_policy, p)
                .map_err(|m| ApiError::new("InvalidPasswordException", m))?;
            p.to_owned()
        }
        None => temporary_password(&pool.password_policy),
    };
    if action == Some("RESEND") {
        let u = up.user_or_404(&pool, name).await?;
        if u.status != status::FORCE_CHANGE_PASSWORD {
            return Err(ApiError::new(
                "UnsupportedUserStateException",
                "Resend not possible. User is not in FORCE_CHANGE_PASSWORD state.",
            ));
        }
        let pw = up
            .make_password(&pool.id, &u.username, &temp, true, now)
            .await?;
        let (u, ()) = up
            .update_user(&pool, &u.username, |u| {
                u.password = Some(pw.clone());
                u.modified = now;
                Ok(())
            })
            .await?;
        send_temporary(up, &pool, &u, &temp).await?;
        return Ok(json!({ "User": user_type(&u, None) }));
    }
    let mut u = new_user(&pool, name, &attrs, now)?;
    check_alias_free(
        up,
        &pool,
        &u.attributes.clone().into_iter().collect::<Vec<_>>(),
        None,
    )
    .await?;
    u.status = status::FORCE_CHANGE_PASSWORD.into();
    u.password = Some(
        up.make_password(&pool.id, &u.username, &temp, true, now)
            .await?,
    );
    if !up.insert_user(&pool, &u).await? {
        return Err(ApiError::new(
            "UsernameExistsException",
            "User account already exists",
        ));
    }
    if action != Some("SUPPRESS") {
        send_temporary(up, &pool, &u, &temp).await?;
    }
    Ok(json!({ "User": user_type(&u, None) }))
}

async fn send_temporary(
    up: &UserPools,
    pool: &PoolDoc,
    u: &UserDoc,
    temp: &str,
) -> Result<(), ApiError> {
    let (medium, dest) = match (u.attributes.get("email"), u.attributes.get("phone_number")) {
        (Some(e), _) => (Some("EMAIL".to_owned()), Some(e.clone())),
        (None, Some(p)) => (Some("SMS".to_owned()), Some(p.clone())),
        _ => (None, None),
    };
    up.send_code(CodeMessage {
        kind: CodeKind::TemporaryPassword,
        user_pool_id: pool.id.clone(),
        username: u.username.clone(),
        code: temp.to_owned(),
        delivery_medium: medium,
        destination: dest,
    })
    .await
}

pub(crate) async fn admin_set_user_password(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let (pool, u) = pool_and_user(up, req).await?;
    let password = req.str("Password")?;
    check_policy(&pool.password_policy, password)
        .map_err(|m| ApiError::new("InvalidPasswordException", m))?;
    let permanent = req.opt_bool("Permanent")?.unwrap_or(false);
    let pw = up
        .make_password(&pool.id, &u.username, password, !permanent, now)
        .await?;
    up.update_user(&pool, &u.username, |u| {
        u.password = Some(pw.clone());
        u.status = if permanent {
            status::CONFIRMED
        } else {
            status::FORCE_CHANGE_PASSWORD
        }
        .into();
        u.codes.retain(|c| c.purpose != "forgot");
        u.modified = now;
        Ok(())
    })
    .await?;
    up.record_success(&pool, &u.username).await?;
    Ok(json!({}))
}

pub(crate) async fn admin_get_user(up: &UserPools, req: &Req) -> ApiResult {
    let (_, u) = pool_and_user(up, req).await?;
    Ok(
        json!({"Username": u.username, "UserAttributes": UserPools::attributes_json(&u),
              "UserCreateDate": ts(u.created), "UserLastModifiedDate": ts(u.modified),
              "Enabled": u.enabled, "UserStatus": u.status}),
    )
}

pub(crate) async fn admin_delete_user(up: &UserPools, req: &Req) -> ApiResult {
    let (pool, u) = pool_and_user(up, req).await?;
    up.delete_user(&pool, &u).await?;
    Ok(json!({}))
}

pub(crate) async fn admin_confirm_sign_up(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let (pool, u) = pool_and_user(up, req).await?;
    up.update_user(&pool, &u.username, |u| {
        if u.status != status::UNCONFIRMED {
            return Err(ApiError::not_authorized(format!(
                "User cannot be confirmed. Current status is {}",
                u.status
            )));
        }
        u.status = status::CONFIRMED.into();
        u.codes.retain(|c| c.purpose != "signup");
        u.modified = now;
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub(crate) async fn admin_set_enabled(
    up: &UserPools,
    req: &Req,
    enabled: bool,
    now: i64,
) -> ApiResult {
    let (pool, u) = pool_and_user(up, req).await?;
    up.update_user(&pool, &u.username, |u| {
        u.enabled = enabled;
        u.modified = now;
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub(crate) async fn admin_update_attributes(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let (pool, u) = pool_and_user(up, req).await?;
    let attrs = req.attributes("UserAttributes")?;
    check_attributes(&pool, &attrs)?;
    check_alias_free(up, &pool, &attrs, Some(&u.username)).await?;
    up.update_user(&pool, &u.username, |u| {
        apply_attributes(u, &attrs);
        u.modified = now;
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub(crate) async fn admin_delete_attributes(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let (pool, u) = pool_and_user(up, req).await?;
    let names = req
        .opt_str_list("UserAttributeNames")?
        .ok_or_else(|| super::null_error("UserAttributeNames"))?;
    if names
        .iter()
        .any(|n| pool.username_attributes.contains(n) || n == "sub")
    {
        return Err(ApiError::invalid(
            "Cannot delete a required or username attribute.",
        ));
    }
    up.update_user(&pool, &u.username, |u| {
        for n in &names {
            u.attributes.remove(n);
        }
        u.modified = now;
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub(crate) async fn admin_reset_password(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let (pool, u) = pool_and_user(up, req).await?;
    super::account::start_forgot(up, &pool, &u, now, true).await?;
    Ok(json!({}))
}

pub(crate) async fn admin_global_sign_out(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let (pool, u) = pool_and_user(up, req).await?;
    let stamp = tick_ms(now);
    up.update_user(&pool, &u.username, |u| {
        u.signed_out_ms = u.signed_out_ms.max(stamp);
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

/// One `ListUsers` filter: `attribute = "value"` or `attribute ^= "prefix"`.
struct Filter {
    attr: String,
    prefix: bool,
    value: String,
}

fn parse_filter(f: &str) -> Result<Option<Filter>, ApiError> {
    let f = f.trim();
    if f.is_empty() {
        return Ok(None);
    }
    let bad = || ApiError::invalid("Invalid search filter.");
    let (attr, rest, prefix) = if let Some((a, r)) = f.split_once("^=") {
        (a, r, true)
    } else if let Some((a, r)) = f.split_once('=') {
        (a, r, false)
    } else {
        return Err(bad());
    };
    let attr = attr.trim().trim_matches('"');
    const SEARCHABLE: &[&str] = &[
        "username",
        "email",
        "phone_number",
        "name",
        "given_name",
        "family_name",
        "preferred_username",
        "cognito:user_status",
        "status",
        "sub",
    ];
    if !SEARCHABLE.contains(&attr) {
        return Err(bad());
    }
    let v = rest.trim();
    let value = v
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .ok_or_else(bad)?;
    Ok(Some(Filter {
        attr: attr.to_owned(),
        prefix,
        value: value.to_owned(),
    }))
}

fn matches(f: &Filter, u: &UserDoc) -> bool {
    let actual: Option<String> = match f.attr.as_str() {
        "username" => Some(u.username.clone()),
        "sub" => Some(u.sub.clone()),
        "cognito:user_status" => Some(u.status.clone()),
        "status" => Some(if u.enabled { "Enabled" } else { "Disabled" }.to_owned()),
        a => u.attributes.get(a).cloned(),
    };
    let Some(actual) = actual else { return false };
    let (a, v) = if f.attr == "username" || f.attr == "email" {
        (actual.to_lowercase(), f.value.to_lowercase())
    } else {
        (actual, f.value.clone())
    };
    if f.prefix { a.starts_with(&v) } else { a == v }
}

async fn scan_users(
    up: &UserPools,
    pool: &PoolDoc,
    token: Option<&str>,
    limit: usize,
    mut keep: impl FnMut(&UserDoc) -> bool,
) -> Result<(Vec<UserDoc>, Option<String>), ApiError> {
    let prefix = format!("{}/", pool.id);
    let mut after = token.map(|t| format!("{prefix}{t}")).unwrap_or_default();
    let mut out = Vec::new();
    loop {
        let page = up
            .store()
            .list::<UserDoc>(NS_USER, &prefix, &after, 200)
            .await?;
        let full = page.len() == 200;
        for (k, u) in page {
            after = k;
            if keep(&u) {
                if out.len() == limit {
                    // There is at least one more: continue after the last returned.
                    let last: Option<&UserDoc> = out.last();
                    let next = last.map(|l: &UserDoc| {
                        UserPools::user_key(pool, &l.username)
                            .strip_prefix(&prefix)
                            .unwrap_or_default()
                            .to_owned()
                    });
                    return Ok((out, next));
                }
                out.push(u);
            }
        }
        if !full {
            return Ok((out, None));
        }
    }
}

pub(crate) async fn list_users(up: &UserPools, req: &Req) -> ApiResult {
    let pool = up.pool_or_404(req.str("UserPoolId")?).await?;
    let limit = match req.opt_i64("Limit")? {
        None => 60,
        Some(n) if (0..=60).contains(&n) => n.max(1) as usize,
        Some(_) => return Err(ApiError::invalid("Limit must be between 0 and 60.")),
    };
    let filter = parse_filter(req.opt_str("Filter")?.unwrap_or_default())?;
    let only = req.opt_str_list("AttributesToGet")?;
    let (users, next) = scan_users(up, &pool, req.opt_str("PaginationToken")?, limit, |u| {
        filter.as_ref().is_none_or(|f| matches(f, u))
    })
    .await?;
    let mut out =
        json!({ "Users": users.iter().map(|u| user_type(u, only.as_deref())).collect::<Vec<_>>() });
    if let Some(n) = next {
        out["PaginationToken"] = json!(n);
    }
    Ok(out)
}

pub(crate) async fn add_to_group(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let (pool, u) = pool_and_user(up, req).await?;
    let g = group_or_404(up, &pool.id, req.str("GroupName")?).await?;
    up.update_user(&pool, &u.username, |u| {
        if !u.groups.contains(&g.name) {
            u.groups.push(g.name.clone());
            u.modified = now;
        }
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub(crate) async fn remove_from_group(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let (pool, u) = pool_and_user(up, req).await?;
    let g = group_or_404(up, &pool.id, req.str("GroupName")?).await?;
    up.update_user(&pool, &u.username, |u| {
        u.groups.retain(|x| *x != g.name);
        u.modified = now;
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub(crate) async fn groups_for_user(up: &UserPools, req: &Req) -> ApiResult {
    let (pool, u) = pool_and_user(up, req).await?;
    let mut groups = Vec::new();
    for name in &u.groups {
        if let Ok(g) = group_or_404(up, &pool.id, name).await {
            groups.push(group_json(&pool.id, &g));
        }
    }
    Ok(json!({ "Groups": groups }))
}

pub(crate) async fn users_in_group(up: &UserPools, req: &Req) -> ApiResult {
    let pool = up.pool_or_404(req.str("UserPoolId")?).await?;
    let g = group_or_404(up, &pool.id, req.str("GroupName")?).await?;
    let limit = req.opt_i64("Limit")?.unwrap_or(60).clamp(1, 60) as usize;
    let (users, next) = scan_users(up, &pool, req.opt_str("NextToken")?, limit, |u| {
        u.groups.contains(&g.name)
    })
    .await?;
    let mut out = json!({ "Users": users.iter().map(|u| user_type(u, None)).collect::<Vec<_>>() });
    if let Some(n) = next {
        out["NextToken"] = json!(n);
    }
    Ok(out)
}
