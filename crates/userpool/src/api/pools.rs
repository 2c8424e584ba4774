//! Admin operations on pools, app clients and groups.

use super::{ApiResult, Req, ts};
use crate::UserPools;
use crate::core::{new_client_id, new_client_secret, new_pool_id};
use crate::error::ApiError;
use crate::model::{ClientDoc, GroupDoc, PasswordPolicy, PoolDoc};
use crate::store::{NS_ALIAS, NS_CLIENT, NS_FAIL, NS_GROUP, NS_POOL, NS_POOL_CLIENT, NS_USER};
use serde_json::{Map, Value, json};

/// Standard attributes of every pool.
pub(crate) const STANDARD_ATTRIBUTES: &[&str] = &[
    "address",
    "birthdate",
    "email",
    "email_verified",
    "family_name",
    "gender",
    "given_name",
    "locale",
    "middle_name",
    "name",
    "nickname",
    "phone_number",
    "phone_number_verified",
    "picture",
    "preferred_username",
    "profile",
    "updated_at",
    "website",
    "zoneinfo",
];

/// Fields of CreateUserPool / UpdateUserPool that are interpreted; the rest is echoed.
const POOL_FIELDS: &[&str] = &[
    "PoolName",
    "UserPoolId",
    "Policies",
    "UsernameAttributes",
    "AliasAttributes",
    "AutoVerifiedAttributes",
    "UsernameConfiguration",
    "AdminCreateUserConfig",
    "DeletionProtection",
];

/// Fields of Create/UpdateUserPoolClient that are interpreted; the rest is echoed.
const CLIENT_FIELDS: &[&str] = &[
    "UserPoolId",
    "ClientId",
    "ClientName",
    "GenerateSecret",
    "ExplicitAuthFlows",
    "AccessTokenValidity",
    "IdTokenValidity",
    "RefreshTokenValidity",
    "PreventUserExistenceErrors",
    "EnableTokenRevocation",
    "AuthSessionValidity",
];

fn max_results(req: &Req, field: &str, required: bool) -> Result<i64, ApiError> {
    match req.opt_i64(field)? {
        Some(n) if (1..=60).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid(format!(
            "1 validation error detected: Value at '{}' failed to satisfy constraint: Member must have value between 1 and 60",
            super::lower_first(field)
        ))),
        None if required => Err(super::null_error(field)),
        None => Ok(60),
    }
}

fn check_values(field: &str, values: &[String], allowed: &[&str]) -> Result<(), ApiError> {
    for v in values {
        if !allowed.contains(&v.as_str()) {
            return Err(ApiError::invalid(format!(
                "Invalid value {v} for {field}; allowed: {}",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

fn extra_of(req: &Req, interpreted: &[&str]) -> Map<String, Value> {
    req.body()
        .iter()
        .filter(|(k, _)| !interpreted.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn apply_pool_settings(p: &mut PoolDoc, req: &Req, creating: bool) -> Result<(), ApiError> {
    if let Some(pol) = req
        .opt_obj("Policies")?
        .and_then(|o| o.get("PasswordPolicy"))
        .and_then(Value::as_object)
    {
        let d = PasswordPolicy::default();
        let b = |k: &str, dflt: bool| pol.get(k).and_then(Value::as_bool).unwrap_or(dflt);
        let n = |k: &str, dflt: u32| {
            pol.get(k)
                .and_then(Value::as_u64)
                .map(|v| v.min(u64::from(u32::MAX)) as u32)
                .unwrap_or(dflt)
        };
        let policy = PasswordPolicy {
            minimum_length: n("MinimumLength", d.minimum_length),
            require_uppercase: b("RequireUppercase", false),
            require_lowercase: b("RequireLowercase", false),
            require_numbers: b("RequireNumbers", false),
            require_symbols: b("RequireSymbols", false),
            temporary_password_validity_days: n(
                "TemporaryPasswordValidityDays",
                d.temporary_password_validity_days,
            ),
        };
        if !(6..=99).contains(&policy.minimum_length) {
            return Err(ApiError::invalid(
                "1 validation error detected: Value at 'policies.passwordPolicy.minimumLength' failed to satisfy constraint: Member must have value between 6 and 99",
            ));
        }
        if policy.temporary_password_validity_days > 365 {
            return Err(ApiError::invalid(
                "TemporaryPasswordValidityDays must be at most 365.",
            ));
        }
        p.password_policy = policy;
    }
    if creating {
        if let Some(v) = req.opt_str_list("UsernameAttributes")? {
            check_values("UsernameAttributes", &v, &["email", "phone_number"])?;
            p.username_attributes = v;
        }
        if let Some(v) = req.opt_str_list("AliasAttributes")? {
            check_values(
                "AliasAttributes",
                &v,
                &["email", "phone_number", "preferred_username"],
            )?;
            p.alias_attributes = v;
        }
        if !p.username_attributes.is_empty() && !p.alias_attributes.is_empty() {
            return Err(ApiError::invalid(
                "Only one of the aliasAttributes or usernameAttributes can be set in a User Pool.",
            ));
        }
        if let Some(c) = req
            .opt_obj("UsernameConfiguration")?
            .and_then(|o| o.get("CaseSensitive"))
            .and_then(Value::as_bool)
        {
            p.case_sensitive = c;
        }
    }
    if let Some(v) = req.opt_str_list("AutoVerifiedAttributes")? {
        check_values("AutoVerifiedAttributes", &v, &["email", "phone_number"])?;
        p.auto_verified_attributes = v;
    }
    if let Some(c) = req.opt_obj("AdminCreateUserConfig")? {
        p.admin_create_user_only = c
            .get("AllowAdminCreateUserOnly")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        p.extra
            .insert("AdminCreateUserConfig".into(), Value::Object(c.clone()));
    }
    if let Some(d) = req.opt_str("DeletionProtection")? {
        p.deletion_protection = match d {
            "ACTIVE" => true,
            "INACTIVE" => false,
            other => {
                return Err(ApiError::invalid(format!(
                    "Invalid DeletionProtection {other}; allowed: ACTIVE, INACTIVE"
                )));
            }
        };
    }
    for (k, v) in extra_of(req, POOL_FIELDS) {
        p.extra.insert(k, v);
    }
    Ok(())
}

/// Custom attribute names (`custom:…`) declared in the pool's `Schema`.
pub(crate) fn custom_attributes(p: &PoolDoc) -> Vec<String> {
    p.extra
        .get("Schema")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|it| it.get("Name").and_then(Value::as_str))
                .filter(|n| !STANDARD_ATTRIBUTES.contains(n))
                .map(|n| {
                    if n.starts_with("custom:") {
                        n.to_owned()
                    } else {
                        format!("custom:{n}")
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

fn pool_json(up: &UserPools, p: &PoolDoc, users: Option<usize>) -> Value {
    let mut out = p.extra.clone();
    out.remove("Schema");
    let mut schema: Vec<Value> = ["sub", "email", "email_verified", "phone_number", "name"]
        .iter()
        .map(|n| {
            json!({"Name": n, "AttributeDataType": if n.ends_with("verified") {"Boolean"} else {"String"},
                   "Mutable": *n != "sub", "Required": *n == "sub", "DeveloperOnlyAttribute": false})
        })
        .collect();
    if let Some(items) = p.extra.get("Schema").and_then(Value::as_array) {
        for it in items {
            let mut it = it.clone();
            if let Some(name) = it.get("Name").and_then(Value::as_str)
                && !STANDARD_ATTRIBUTES.contains(&name)
                && !name.starts_with("custom:")
            {
                let n = format!("custom:{name}");
                if let Some(o) = it.as_object_mut() {
                    o.insert("Name".into(), json!(n));
                }
            }
            schema.push(it);
        }
    }
    let pp = &p.password_policy;
    let mut set = |k: &str, v: Value| {
        out.insert(k.to_owned(), v);
    };
    set("Id", json!(p.id));
    set("Name", json!(p.name));
    set("Arn", json!(up.pool_arn(&p.id)));
    set(
        "Policies",
        json!({"PasswordPolicy": {
            "MinimumLength": pp.minimum_length, "RequireUppercase": pp.require_uppercase,
            "RequireLowercase": pp.require_lowercase, "RequireNumbers": pp.require_numbers,
            "RequireSymbols": pp.require_symbols,
            "TemporaryPasswordValidityDays": pp.temporary_password_validity_days }}),
    );
    set(
        "DeletionProtection",
        json!(if p.deletion_protection {
            "ACTIVE"
        } else {
            "INACTIVE"
        }),
    );
    set("SchemaAttributes", Value::Array(schema));
    set("AutoVerifiedAttributes", json!(p.auto_verified_attributes));
    if !p.username_attributes.is_empty() {
        set("UsernameAttributes", json!(p.username_attributes));
    }
    if !p.alias_attributes.is_empty() {
        set("AliasAttributes", json!(p.alias_attributes));
    }
    set(
        "UsernameConfiguration",
        json!({"CaseSensitive": p.case_sensitive}),
    );
    set("CreationDate", ts(p.created));
    set("LastModifiedDate", ts(p.modified));
    if !out.contains_key("MfaConfiguration") {
        out.insert("MfaConfiguration".into(), json!("OFF"));
    }
    if !out.contains_key("LambdaConfig") {
        out.insert("LambdaConfig".into(), json!({}));
    }
    if !out.contains_key("AdminCreateUserConfig") {
        out.insert(
            "AdminCreateUserConfig".into(),
            json!({"AllowAdminCreateUserOnly": p.admin_create_user_only, "UnusedAccountValidityDays": 7}),
        );
    }
    if let Some(n) = users {
        out.insert("EstimatedNumberOfUsers".into(), json!(n));
    }
    Value::Object(out)
}

pub(crate) async fn create_user_pool(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let name = req.str("PoolName")?;
    if name.len() > 128 {
        return Err(ApiError::invalid(
            "PoolName must be at most 128 characters.",
        ));
    }
    let id = new_pool_id(up.region());
    let mut p = PoolDoc {
        id: id.clone(),
        name: name.to_owned(),
        created: now,
        modified: now,
        password_policy: PasswordPolicy::default(),
        username_attributes: Vec::new(),
        alias_attributes: Vec::new(),
        auto_verified_attributes: Vec::new(),
        case_sensitive: true,
        admin_create_user_only: false,
        deletion_protection: false,
        extra: Map::new(),
        keys: Vec::new(),
    };
    apply_pool_settings(&mut p, req, true)?;
    p.keys.push(up.new_signing_key(&id, now).await?);
    if !up.store().insert(NS_POOL, &id, &p).await? {
        return Err(ApiError::internal("pool id collision"));
    }
    Ok(json!({ "UserPool": pool_json(up, &p, Some(0)) }))
}

async fn count_users(up: &UserPools, pool_id: &str) -> Result<usize, ApiError> {
    Ok(up
        .store()
        .keys(NS_USER, &format!("{pool_id}/"))
        .await?
        .len())
}

pub(crate) async fn describe_user_pool(up: &UserPools, req: &Req) -> ApiResult {
    let p = up.pool_or_404(req.str("UserPoolId")?).await?;
    let n = count_users(up, &p.id).await?;
    Ok(json!({ "UserPool": pool_json(up, &p, Some(n)) }))
}

pub(crate) async fn update_user_pool(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let id = req.str("UserPoolId")?;
    up.pool_or_404(id).await?;
    up.store()
        .update::<PoolDoc, ()>(NS_POOL, id, |p| {
            apply_pool_settings(p, req, false)?;
            p.modified = now;
            Ok(())
        })
        .await?
        .ok_or_else(|| ApiError::not_found(format!("User pool {id} does not exist.")))?;
    Ok(json!({}))
}

pub(crate) async fn delete_user_pool(up: &UserPools, req: &Req) -> ApiResult {
    let id = req.str("UserPoolId")?;
    let p = up.pool_or_404(id).await?;
    if p.deletion_protection {
        return Err(ApiError::invalid(
            "The user pool cannot be deleted because deletion protection is activated. Deletion protection must be inactivated first.",
        ));
    }
    let store = up.store();
    for client in up.client_ids(id).await? {
        store.delete(NS_CLIENT, &client).await?;
        store
            .delete(NS_POOL_CLIENT, &format!("{id}/{client}"))
            .await?;
    }
    for ns in [NS_USER, NS_ALIAS, NS_GROUP, NS_FAIL] {
        for k in store.keys(ns, &format!("{id}/")).await? {
            store.delete(ns, &k).await?;
        }
    }
    store.delete(NS_POOL, id).await?;
    Ok(json!({}))
}

pub(crate) async fn list_user_pools(up: &UserPools, req: &Req) -> ApiResult {
    let limit = max_results(req, "MaxResults", true)?;
    let after = req.opt_str("NextToken")?.unwrap_or_default();
    let page = up
        .store()
        .list::<PoolDoc>(NS_POOL, "", after, limit + 1)
        .await?;
    let more = page.len() as i64 > limit;
    let items: Vec<&PoolDoc> = page.iter().take(limit as usize).map(|(_, p)| p).collect();
    let pools: Vec<Value> = items
        .iter()
        .map(|p| {
            json!({"Id": p.id, "Name": p.name, "LambdaConfig": p.extra.get("LambdaConfig").cloned().unwrap_or(json!({})),
                   "CreationDate": ts(p.created), "LastModifiedDate": ts(p.modified)})
        })
        .collect();
    let mut out = json!({ "UserPools": pools });
    if more && let Some(last) = items.last() {
        out["NextToken"] = json!(last.id);
    }
    Ok(out)
}

// ---- clients ---------------------------------------------------------------------------

const FLOWS: &[&str] = &[
    "ADMIN_NO_SRP_AUTH",
    "CUSTOM_AUTH_FLOW_ONLY",
    "USER_PASSWORD_AUTH",
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_CUSTOM_AUTH",
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
    "ALLOW_USER_AUTH",
];

/// The effective `ALLOW_*` flows of a client (legacy names mapped, defaults applied).
pub(crate) fn effective_flows(c: &ClientDoc) -> Vec<&'static str> {
    if c.explicit_auth_flows.is_empty() {
        return vec![
            "ALLOW_USER_SRP_AUTH",
            "ALLOW_REFRESH_TOKEN_AUTH",
            "ALLOW_CUSTOM_AUTH",
        ];
    }
    let mut out = vec!["ALLOW_REFRESH_TOKEN_AUTH"];
    for f in &c.explicit_auth_flows {
        let mapped: &[&'static str] = match f.as_str() {
            "ADMIN_NO_SRP_AUTH" => &["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH"],
            "USER_PASSWORD_AUTH" => &["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH"],
            "CUSTOM_AUTH_FLOW_ONLY" => &["ALLOW_CUSTOM_AUTH"],
            "ALLOW_ADMIN_USER_PASSWORD_AUTH" => &["ALLOW_ADMIN_USER_PASSWORD_AUTH"],
            "ALLOW_CUSTOM_AUTH" => &["ALLOW_CUSTOM_AUTH"],
            "ALLOW_USER_PASSWORD_AUTH" => &["ALLOW_USER_PASSWORD_AUTH"],
            "ALLOW_USER_SRP_AUTH" => &["ALLOW_USER_SRP_AUTH"],
            "ALLOW_USER_AUTH" => &["ALLOW_USER_AUTH"],
            _ => &[],
        };
        out.extend_from_slice(mapped);
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn unit_seconds(unit: &str) -> Option<i64> {
    match unit {
        "seconds" => Some(1),
        "minutes" => Some(60),
        "hours" => Some(3600),
        "days" => Some(86_400),
        _ => None,
    }
}

fn units(c_extra: &Map<String, Value>, which: &str, dflt: &str) -> String {
    c_extra
        .get("TokenValidityUnits")
        .and_then(|u| u.get(which))
        .and_then(Value::as_str)
        .unwrap_or(dflt)
        .to_owned()
}

fn apply_client_settings(c: &mut ClientDoc, req: &Req) -> Result<(), ApiError> {
    if let Some(n) = req.opt_str("ClientName")? {
        c.name = n.to_owned();
    }
    if let Some(f) = req.opt_str_list("ExplicitAuthFlows")? {
        check_values("ExplicitAuthFlows", &f, FLOWS)?;
        c.explicit_auth_flows = f;
    }
    for (k, v) in extra_of(req, CLIENT_FIELDS) {
        c.extra.insert(k, v);
    }
    if let Some(u) = c.extra.get("TokenValidityUnits").and_then(Value::as_object) {
        for v in u.values() {
            if v.as_str().and_then(unit_seconds).is_none() {
                return Err(ApiError::invalid(
                    "TokenValidityUnits must be seconds, minutes, hours or days.",
                ));
            }
        }
    }
    let secs = |field: &str, which: &str, dflt_unit: &str| -> Result<Option<i64>, ApiError> {
        Ok(req.opt_i64(field)?.map(|n| {
            n.saturating_mul(unit_seconds(&units(&c.extra, which, dflt_unit)).unwrap_or(3600))
        }))
    };
    if let Some(s) = secs("AccessTokenValidity", "AccessToken", "hours")? {
        c.access_validity = s;
    }
    if let Some(s) = secs("IdTokenValidity", "IdToken", "hours")? {
        c.id_validity = s;
    }
    if let Some(s) = secs("RefreshTokenValidity", "RefreshToken", "days")? {
        c.refresh_validity = s;
    }
    for v in [c.access_validity, c.id_validity] {
        if !(300..=86_400).contains(&v) {
            return Err(ApiError::invalid(
                "Invalid range for token validity: access and ID tokens live 5 minutes to 1 day.",
            ));
        }
    }
    if !(3600..=3650 * 86_400).contains(&c.refresh_validity) {
        return Err(ApiError::invalid(
            "Invalid range for token validity: refresh tokens live 60 minutes to 3650 days.",
        ));
    }
    if let Some(p) = req.opt_str("PreventUserExistenceErrors")? {
        c.prevent_user_existence_errors = match p {
            "ENABLED" => true,
            "LEGACY" => false,
            other => {
                return Err(ApiError::invalid(format!(
                    "Invalid PreventUserExistenceErrors {other}; allowed: ENABLED, LEGACY"
                )));
            }
        };
    }
    if let Some(b) = req.opt_bool("EnableTokenRevocation")? {
        c.enable_token_revocation = b;
    }
    if let Some(m) = req.opt_i64("AuthSessionValidity")? {
        if !(3..=15).contains(&m) {
            return Err(ApiError::invalid(
                "AuthSessionValidity must be between 3 and 15 minutes.",
            ));
        }
        c.auth_session_validity = m;
    }
    Ok(())
}

fn client_json(up: &UserPools, c: &ClientDoc) -> Value {
    let mut out = c.extra.clone();
    let in_units = |secs: i64, which: &str, dflt: &str| {
        secs / unit_seconds(&units(&c.extra, which, dflt)).unwrap_or(1)
    };
    let mut set = |k: &str, v: Value| {
        out.insert(k.to_owned(), v);
    };
    set("UserPoolId", json!(c.pool_id));
    set("ClientName", json!(c.name));
    set("ClientId", json!(c.client_id));
    if let Some(s) = up.client_secret(c) {
        set("ClientSecret", json!(s));
    }
    set("CreationDate", ts(c.created));
    set("LastModifiedDate", ts(c.modified));
    set(
        "AccessTokenValidity",
        json!(in_units(c.access_validity, "AccessToken", "hours")),
    );
    set(
        "IdTokenValidity",
        json!(in_units(c.id_validity, "IdToken", "hours")),
    );
    set(
        "RefreshTokenValidity",
        json!(in_units(c.refresh_validity, "RefreshToken", "days")),
    );
    set(
        "TokenValidityUnits",
        json!({
            "AccessToken": units(&c.extra, "AccessToken", "hours"),
            "IdToken": units(&c.extra, "IdToken", "hours"),
            "RefreshToken": units(&c.extra, "RefreshToken", "days"),
        }),
    );
    set("ExplicitAuthFlows", json!(effective_flows(c)));
    set(
        "PreventUserExistenceErrors",
        json!(if c.prevent_user_existence_errors {
            "ENABLED"
        } else {
            "LEGACY"
        }),
    );
    set("EnableTokenRevocation", json!(c.enable_token_revocation));
    set("AuthSessionValidity", json!(c.auth_session_validity));
    Value::Object(out)
}

pub(crate) async fn create_client(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let pool = up.pool_or_404(req.str("UserPoolId")?).await?;
    req.str("ClientName")?;
    let client_id = new_client_id();
    let mut c = ClientDoc {
        pool_id: pool.id.clone(),
        client_id: client_id.clone(),
        name: String::new(),
        sealed_secret: None,
        explicit_auth_flows: Vec::new(),
        access_validity: 3600,
        id_validity: 3600,
        refresh_validity: 30 * 86_400,
        prevent_user_existence_errors: true,
        enable_token_revocation: true,
        auth_session_validity: 3,
        created: now,
        modified: now,
        extra: Map::new(),
    };
    apply_client_settings(&mut c, req)?;
    if req.opt_bool("GenerateSecret")?.unwrap_or(false) {
        c.sealed_secret = Some(up.seal_client_secret(&client_id, &new_client_secret()));
    }
    let store = up.store();
    if !store.insert(NS_CLIENT, &client_id, &c).await? {
        return Err(ApiError::internal("client id collision"));
    }
    store
        .put(
            NS_POOL_CLIENT,
            &format!("{}/{client_id}", pool.id),
            &json!({}),
        )
        .await?;
    Ok(json!({ "UserPoolClient": client_json(up, &c) }))
}

async fn client_of_pool(up: &UserPools, req: &Req) -> Result<ClientDoc, ApiError> {
    let pool_id = req.str("UserPoolId")?;
    up.pool_or_404(pool_id).await?;
    let client_id = req.str("ClientId")?;
    match up.client_and_pool(client_id).await {
        Ok((_, c)) if c.pool_id == pool_id => Ok(c),
        _ => Err(ApiError::not_found(format!(
            "User pool client {client_id} does not exist."
        ))),
    }
}

pub(crate) async fn describe_client(up: &UserPools, req: &Req) -> ApiResult {
    let c = client_of_pool(up, req).await?;
    Ok(json!({ "UserPoolClient": client_json(up, &c) }))
}

pub(crate) async fn update_client(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let c = client_of_pool(up, req).await?;
    let (c, ()) = up
        .store()
        .update::<ClientDoc, ()>(NS_CLIENT, &c.client_id, |c| {
            apply_client_settings(c, req)?;
            c.modified = now;
            Ok(())
        })
        .await?
        .ok_or_else(|| ApiError::not_found("User pool client does not exist."))?;
    Ok(json!({ "UserPoolClient": client_json(up, &c) }))
}

pub(crate) async fn delete_client(up: &UserPools, req: &Req) -> ApiResult {
    let c = client_of_pool(up, req).await?;
    up.store().delete(NS_CLIENT, &c.client_id).await?;
    up.store()
        .delete(NS_POOL_CLIENT, &format!("{}/{}", c.pool_id, c.client_id))
        .await?;
    Ok(json!({}))
}

pub(crate) async fn list_clients(up: &UserPools, req: &Req) -> ApiResult {
    let pool = up.pool_or_404(req.str("UserPoolId")?).await?;
    let limit = max_results(req, "MaxResults", false)?;
    let after = req
        .opt_str("NextToken")?
        .map(|t| format!("{}/{t}", pool.id))
        .unwrap_or_default();
    let prefix = format!("{}/", pool.id);
    let page = up
        .store()
        .list::<Value>(NS_POOL_CLIENT, &prefix, &after, limit + 1)
        .await?;
    let more = page.len() as i64 > limit;
    let mut items = Vec::new();
    let mut last = None;
    for (k, _) in page.iter().take(limit as usize) {
        let id = k.strip_prefix(&prefix).unwrap_or(k);
        last = Some(id.to_owned());
        if let Ok((_, c)) = up.client_and_pool(id).await {
            items.push(
                json!({"ClientId": c.client_id, "UserPoolId": c.pool_id, "ClientName": c.name}),
            );
        }
    }
    let mut out = json!({ "UserPoolClients": items });
    if more && let Some(l) = last {
        out["NextToken"] = json!(l);
    }
    Ok(out)
}

// ---- groups ----------------------------------------------------------------------------

pub(crate) fn group_json(pool_id: &str, g: &GroupDoc) -> Value {
    let mut v = json!({"GroupName": g.name, "UserPoolId": pool_id,
        "CreationDate": ts(g.created), "LastModifiedDate": ts(g.modified)});
    if let Some(d) = &g.description {
        v["Description"] = json!(d);
    }
    if let Some(r) = &g.role_arn {
        v["RoleArn"] = json!(r);
    }
    if let Some(p) = g.precedence {
        v["Precedence"] = json!(p);
    }
    v
}

fn group_name(req: &Req) -> Result<&str, ApiError> {
    let name = req.str("GroupName")?;
    if name.len() > 128 || name.contains('/') {
        return Err(ApiError::invalid("Invalid GroupName."));
    }
    Ok(name)
}

fn apply_group(g: &mut GroupDoc, req: &Req) -> Result<(), ApiError> {
    if let Some(d) = req.opt_str("Description")? {
        g.description = Some(d.to_owned());
    }
    if let Some(r) = req.opt_str("RoleArn")? {
        if !r.starts_with("arn:") {
            return Err(ApiError::invalid("RoleArn must be an IAM role ARN."));
        }
        g.role_arn = Some(r.to_owned());
    }
    if let Some(p) = req.opt_i64("Precedence")? {
        if p < 0 {
            return Err(ApiError::invalid("Precedence must be at least 0."));
        }
        g.precedence = Some(p);
    }
    Ok(())
}

pub(crate) async fn create_group(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let pool = up.pool_or_404(req.str("UserPoolId")?).await?;
    let name = group_name(req)?;
    let mut g = GroupDoc {
        name: name.to_owned(),
        description: None,
        role_arn: None,
        precedence: None,
        created: now,
        modified: now,
    };
    apply_group(&mut g, req)?;
    if !up
        .store()
        .insert(NS_GROUP, &format!("{}/{name}", pool.id), &g)
        .await?
    {
        return Err(ApiError::new(
            "GroupExistsException",
            format!("A group with the name {name} already exists."),
        ));
    }
    Ok(json!({ "Group": group_json(&pool.id, &g) }))
}

pub(crate) async fn group_or_404(
    up: &UserPools,
    pool_id: &str,
    name: &str,
) -> Result<GroupDoc, ApiError> {
    up.store()
        .get::<GroupDoc>(NS_GROUP, &format!("{pool_id}/{name}"))
        .await?
        .map(|(g, _)| g)
        .ok_or_else(|| ApiError::not_found("Group not found."))
}

pub(crate) async fn get_group(up: &UserPools, req: &Req) -> ApiResult {
    let pool = up.pool_or_404(req.str("UserPoolId")?).await?;
    let g = group_or_404(up, &pool.id, group_name(req)?).await?;
    Ok(json!({ "Group": group_json(&pool.id, &g) }))
}

pub(crate) async fn update_group(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let pool = up.pool_or_404(req.str("UserPoolId")?).await?;
    let name = group_name(req)?;
    let (g, ()) = up
        .store()
        .update::<GroupDoc, ()>(NS_GROUP, &format!("{}/{name}", pool.id), |g| {
            apply_group(g, req)?;
            g.modified = now;
            Ok(())
        })
        .await?
        .ok_or_else(|| ApiError::not_found("Group not found."))?;
    Ok(json!({ "Group": group_json(&pool.id, &g) }))
}

pub(crate) async fn delete_group(up: &UserPools, req: &Req) -> ApiResult {
    let pool = up.pool_or_404(req.str("UserPoolId")?).await?;
    let name = group_name(req)?;
    if !up
        .store()
        .delete(NS_GROUP, &format!("{}/{name}", pool.id))
        .await?
    {
        return Err(ApiError::not_found("Group not found."));
    }
    Ok(json!({}))
}

pub(crate) async fn list_groups(up: &UserPools, req: &Req) -> ApiResult {
    let pool = up.pool_or_404(req.str("UserPoolId")?).await?;
    let limit = max_results(req, "Limit", false)?;
    let prefix = format!("{}/", pool.id);
    let after = req
        .opt_str("NextToken")?
        .map(|t| format!("{prefix}{t}"))
        .unwrap_or_default();
    let page = up
        .store()
        .list::<GroupDoc>(NS_GROUP, &prefix, &after, limit + 1)
        .await?;
    let more = page.len() as i64 > limit;
    let items: Vec<&GroupDoc> = page.iter().take(limit as usize).map(|(_, g)| g).collect();
    let mut out =
        json!({ "Groups": items.iter().map(|g| group_json(&pool.id, g)).collect::<Vec<_>>() });
    if more && let Some(g) = items.last() {
        out["NextToken"] = json!(g.name);
    }
    Ok(out)
}
