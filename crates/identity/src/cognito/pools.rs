//! Identity pool administration: Create/Describe/Update/Delete/ListIdentityPools,
//! Set/GetIdentityPoolRoles, Set/GetPrincipalTagAttributeMap, Tag/Untag/ListTagsForResource.

use super::{Admin, CiError, In, check_id};
use crate::model::{CognitoProvider, IdentityPool, IdentityRecord, RoleMapping, TagMap, login_key};
use crate::store::{Edit, NS_IDENTITY, NS_LOGIN, NS_POOL, NS_POOL_IDENTITY};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

fn pool_json(p: &IdentityPool) -> Value {
    let mut v = json!({
        "IdentityPoolId": p.id,
        "IdentityPoolName": p.name,
        "AllowUnauthenticatedIdentities": p.allow_unauthenticated,
        "AllowClassicFlow": p.allow_classic_flow,
    });
    if !p.supported_login_providers.is_empty() {
        v["SupportedLoginProviders"] = json!(p.supported_login_providers);
    }
    if let Some(d) = &p.developer_provider_name {
        v["DeveloperProviderName"] = json!(d);
    }
    if !p.open_id_connect_provider_arns.is_empty() {
        v["OpenIdConnectProviderARNs"] = json!(p.open_id_connect_provider_arns);
    }
    if !p.cognito_identity_providers.is_empty() {
        v["CognitoIdentityProviders"] = json!(p.cognito_identity_providers);
    }
    if !p.saml_provider_arns.is_empty() {
        v["SamlProviderARNs"] = json!(p.saml_provider_arns);
    }
    if !p.tags.is_empty() {
        v["IdentityPoolTags"] = json!(p.tags);
    }
    v
}

fn check_pool_name(name: &str) -> Result<(), CiError> {
    let ok = !name.is_empty()
        && name.chars().count() <= 128
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c.is_whitespace() || "+=,.@-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(CiError::invalid(format!(
            "1 validation error detected: Value '{name}' at 'identityPoolName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w\\s+=,.@-]+"
        )))
    }
}

fn tag_map(inp: &In<'_>, name: &str) -> Result<BTreeMap<String, String>, CiError> {
    let tags = inp.str_map(name)?;
    if tags.len() > 50 {
        return Err(CiError::invalid("Too many tags (at most 50)."));
    }
    Ok(tags.into_iter().collect())
}

/// Read the configurable fields of Create/UpdateIdentityPool into `p`.
async fn read_config(
    a: &Admin<'_>,
    inp: &In<'_>,
    p: &mut IdentityPool,
    creating: bool,
) -> Result<(), CiError> {
    let name = inp.req("IdentityPoolName")?;
    check_pool_name(name)?;
    p.name = name.to_owned();
    p.allow_unauthenticated = inp.bool("AllowUnauthenticatedIdentities")?.ok_or_else(|| {
        CiError::invalid(
            "1 validation error detected: Value null at 'allowUnauthenticatedIdentities' failed to satisfy constraint: Member must not be null",
        )
    })?;
    // Absent = disabled (safer than AWS, which enables it for pools created without it).
    p.allow_classic_flow = inp.bool("AllowClassicFlow")?.unwrap_or(false);
    let slp = inp.str_map("SupportedLoginProviders")?;
    if slp.len() > 10 {
        return Err(CiError::invalid("At most 10 SupportedLoginProviders."));
    }
    p.supported_login_providers = slp.into_iter().collect();
    match inp.str("DeveloperProviderName")? {
        Some(d) => {
            let ok = !d.is_empty()
                && d.len() <= 128
                && d.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            if !ok {
                return Err(CiError::invalid(format!(
                    "Invalid DeveloperProviderName {d}."
                )));
            }
            if !creating
                && p.developer_provider_name
                    .as_deref()
                    .is_some_and(|old| old != d)
            {
                return Err(CiError::invalid(
                    "DeveloperProviderName cannot be changed once set.",
                ));
            }
            p.developer_provider_name = Some(d.to_owned());
        }
        None if creating => p.developer_provider_name = None,
        None => {}
    }
    let oidc = inp.str_list("OpenIdConnectProviderARNs")?;
    for arn in &oidc {
        let key = arn
            .strip_prefix(&format!(
                "arn:aws:iam::{}:oidc-provider/",
                a.id.cfg.account_id
            ))
            .ok_or_else(|| CiError::invalid(format!("Invalid OpenIdConnectProviderARN {arn}")))?;
        if a.id
            .store
            .get_raw(crate::store::NS_OIDC, key)
            .await?
            .is_none()
        {
            return Err(CiError::invalid(format!(
                "Invalid OpenIdConnectProviderARN {arn}: no such provider"
            )));
        }
    }
    p.open_id_connect_provider_arns = oidc;
    p.cognito_identity_providers = match inp.0.get("CognitoIdentityProviders") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value::<Vec<CognitoProvider>>(v.clone())
            .map_err(|e| CiError::new("SerializationException", e.to_string()))?,
    };
    for c in &p.cognito_identity_providers {
        if c.provider_name.as_deref().is_none_or(str::is_empty) {
            return Err(CiError::invalid(
                "CognitoIdentityProviders entries need a ProviderName.",
            ));
        }
    }
    p.saml_provider_arns = inp.str_list("SamlProviderARNs")?;
    if creating || inp.0.contains_key("IdentityPoolTags") {
        p.tags = tag_map(inp, "IdentityPoolTags")?;
    }
    Ok(())
}

/// Whether `key` names a provider configured on the pool (for role mappings / tag maps).
fn configured_provider(p: &IdentityPool, key: &str, acct: &str, with_client: bool) -> bool {
    let user_pool = p.cognito_identity_providers.iter().any(|c| {
        let name = c.provider_name.as_deref().unwrap_or_default();
        if with_client {
            c.client_id
                .as_deref()
                .is_some_and(|client| key == format!("{name}:{client}"))
        } else {
            key == name
        }
    });
    user_pool
        || p.supported_login_providers.contains_key(key)
        || p.open_id_connect_provider_arns
            .contains(&format!("arn:aws:iam::{acct}:oidc-provider/{key}"))
}

fn validate_mapping(key: &str, m: &RoleMapping) -> Result<(), CiError> {
    match m.kind.as_str() {
        "Token" | "Rules" => {}
        other => {
            return Err(CiError::invalid(format!(
                "Invalid RoleMapping Type {other}."
            )));
        }
    }
    match m.ambiguous_role_resolution.as_deref() {
        Some("AuthenticatedRole") | Some("Deny") => {}
        _ => {
            return Err(CiError::invalid(format!(
                "AmbiguousRoleResolution must be specified for RoleMapping {key}."
            )));
        }
    }
    if m.kind == "Rules" {
        let rules = m
            .rules_configuration
            .as_ref()
            .map(|r| r.rules.as_slice())
            .unwrap_or_default();
        if rules.is_empty() || rules.len() > 25 {
            return Err(CiError::invalid(format!(
                "RulesConfiguration for {key} must have between 1 and 25 rules."
            )));
        }
        for r in rules {
            if !matches!(
                r.match_type.as_str(),
                "Equals" | "Contains" | "StartsWith" | "NotEqual"
            ) {
                return Err(CiError::invalid(format!(
                    "Invalid MatchType {}.",
                    r.match_type
                )));
            }
            if r.claim.is_empty() || r.claim.len() > 64 || r.value.is_empty() || r.value.len() > 128
            {
                return Err(CiError::invalid("Invalid rule Claim or Value."));
            }
            if !r.role_arn.starts_with("arn:") {
                return Err(CiError::invalid(format!("Invalid RoleARN {}.", r.role_arn)));
            }
        }
    }
    Ok(())
}

fn pool_id_of_arn<'a>(a: &Admin<'_>, arn: &'a str) -> Result<&'a str, CiError> {
    arn.strip_prefix(&format!(
        "arn:aws:cognito-identity:{}:{}:identitypool/",
        a.id.cfg.region, a.id.cfg.account_id
    ))
    .ok_or_else(|| CiError::invalid(format!("Invalid ResourceArn {arn}.")))
}

impl Admin<'_> {
    async fn edit_pool<R>(
        &self,
        pool_id: &str,
        f: impl FnMut(&mut IdentityPool) -> Result<Edit<R>, CiError>,
    ) -> Result<R, CiError> {
        let r = self.id.store.update(NS_POOL, pool_id, f).await?;
        self.id.pools.remove(pool_id);
        r.ok_or_else(|| CiError::pool_not_found(pool_id))
    }
}

pub(crate) async fn handle(a: &Admin<'_>, inp: &In<'_>) -> Result<Value, CiError> {
    let id = a.id;
    let acct = id.cfg.account_id.clone();
    match a.op {
        "CreateIdentityPool" => {
            a.allow(&format!(
                "arn:aws:cognito-identity:{}:{acct}:identitypool/*",
                id.cfg.region
            ))
            .await?;
            let mut p = IdentityPool {
                id: format!("{}:{}", id.cfg.region, crate::util::uuid()),
                name: String::new(),
                allow_unauthenticated: false,
                allow_classic_flow: false,
                supported_login_providers: BTreeMap::new(),
                developer_provider_name: None,
                open_id_connect_provider_arns: Vec::new(),
                cognito_identity_providers: Vec::new(),
                saml_provider_arns: Vec::new(),
                tags: BTreeMap::new(),
                roles: BTreeMap::new(),
                role_mappings: BTreeMap::new(),
                tag_maps: BTreeMap::new(),
                created: a.now,
            };
            read_config(a, inp, &mut p, true).await?;
            let all = id.store.list_all::<IdentityPool>(NS_POOL, "").await?;
            if all.iter().any(|(_, q)| q.name == p.name) {
                return Err(CiError::conflict(format!(
                    "An identity pool with the name {} already exists.",
                    p.name
                )));
            }
            if all.len() >= 1000 {
                return Err(CiError::new(
                    "LimitExceededException",
                    "Too many identity pools.",
                ));
            }
            if !id.store.insert(NS_POOL, &p.id, &p).await? {
                return Err(CiError::internal("identity pool id collision"));
            }
            Ok(pool_json(&p))
        }
        "ListIdentityPools" => {
            a.allow(&format!(
                "arn:aws:cognito-identity:{}:{acct}:identitypool/*",
                id.cfg.region
            ))
            .await?;
            let max = inp.int("MaxResults")?.unwrap_or(0);
            if !(1..=60).contains(&max) {
                return Err(CiError::invalid(
                    "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 60",
                ));
            }
            let after = inp.str("NextToken")?.unwrap_or_default();
            let page = id
                .store
                .list_page::<IdentityPool>(NS_POOL, "", after, max)
                .await?;
            let next = (page.len() as i64 == max)
                .then(|| page.last().map(|(k, _)| k.clone()))
                .flatten();
            let pools: Vec<Value> = page
                .iter()
                .map(|(_, p)| json!({"IdentityPoolId": p.id, "IdentityPoolName": p.name}))
                .collect();
            let mut v = json!({ "IdentityPools": pools });
            if let Some(n) = next {
                v["NextToken"] = json!(n);
            }
            Ok(v)
        }
        "TagResource" | "UntagResource" | "ListTagsForResource" => {
            let arn = inp.req("ResourceArn")?;
            a.allow(arn).await?;
            let pool_id = pool_id_of_arn(a, arn)?.to_owned();
            match a.op {
                "TagResource" => {
                    let tags = tag_map(inp, "Tags")?;
                    a.edit_pool(&pool_id, |p| {
                        p.tags.extend(tags.clone());
                        if p.tags.len() > 50 {
                            return Err(CiError::invalid("Too many tags (at most 50)."));
                        }
                        Ok(Edit::Write(()))
                    })
                    .await?;
                    Ok(json!({}))
                }
                "UntagResource" => {
                    let keys = inp.str_list("TagKeys")?;
                    a.edit_pool(&pool_id, |p| {
                        for k in &keys {
                            p.tags.remove(k);
                        }
                        Ok(Edit::Write(()))
                    })
                    .await?;
                    Ok(json!({}))
                }
                _ => {
                    let p = id.load_pool(&pool_id, a.now).await?;
                    Ok(json!({ "Tags": p.tags }))
                }
            }
        }
        _ => {
            let pool_id = inp.req("IdentityPoolId")?.to_owned();
            check_id("identityPoolId", &pool_id)?;
            a.allow(&a.pool_arn(&pool_id)).await?;
            one_pool(a, inp, &pool_id).await
        }
    }
}

async fn one_pool(a: &Admin<'_>, inp: &In<'_>, pool_id: &str) -> Result<Value, CiError> {
    let id = a.id;
    let acct = id.cfg.account_id.clone();
    match a.op {
        "DescribeIdentityPool" => {
            let p = id.load_pool(pool_id, a.now).await?;
            Ok(pool_json(&p))
        }
        "UpdateIdentityPool" => {
            let current = id.load_pool(pool_id, a.now).await?;
            let mut next = (*current).clone();
            read_config(a, inp, &mut next, false).await?;
            let all = id.store.list_all::<IdentityPool>(NS_POOL, "").await?;
            if all.iter().any(|(k, q)| q.name == next.name && k != pool_id) {
                return Err(CiError::conflict(format!(
                    "An identity pool with the name {} already exists.",
                    next.name
                )));
            }
            let updated = a
                .edit_pool(pool_id, |p| {
                    let roles = std::mem::take(&mut p.roles);
                    let mappings = std::mem::take(&mut p.role_mappings);
                    let tag_maps = std::mem::take(&mut p.tag_maps);
                    *p = next.clone();
                    p.roles = roles;
                    p.role_mappings = mappings;
                    p.tag_maps = tag_maps;
                    Ok(Edit::Write(p.clone()))
                })
                .await?;
            Ok(pool_json(&updated))
        }
        "DeleteIdentityPool" => {
            let pool = id.load_pool(pool_id, a.now).await?;
            let prefix = format!("{}|", pool.id);
            let entries = id
                .store
                .list_all::<Value>(NS_POOL_IDENTITY, &prefix)
                .await?;
            for (k, _) in entries {
                let identity = k.strip_prefix(&prefix).unwrap_or_default().to_owned();
                if let Some((r, _)) = id
                    .store
                    .get::<IdentityRecord>(NS_IDENTITY, &identity)
                    .await?
                {
                    for (p, s) in &r.logins {
                        id.store
                            .delete(NS_LOGIN, &login_key(&pool.id, p, s))
                            .await?;
                    }
                }
                id.store.delete(NS_IDENTITY, &identity).await?;
                id.store.delete(NS_POOL_IDENTITY, &k).await?;
            }
            id.store.delete(NS_POOL, pool_id).await?;
            id.pools.remove(pool_id);
            Ok(json!({}))
        }
        "SetIdentityPoolRoles" => {
            let pool = id.load_pool(pool_id, a.now).await?;
            let roles = match inp.0.get("Roles") {
                Some(Value::Object(m)) => m.clone(),
                None | Some(Value::Null) => {
                    return Err(CiError::invalid(
                        "1 validation error detected: Value null at 'roles' failed to satisfy constraint: Member must not be null",
                    ));
                }
                Some(_) => {
                    return Err(CiError::new(
                        "SerializationException",
                        "Roles must be a map",
                    ));
                }
            };
            let mut new_roles = BTreeMap::new();
            for (k, v) in roles {
                if k != "authenticated" && k != "unauthenticated" {
                    return Err(CiError::invalid(format!(
                        "Invalid role key {k}; expected authenticated or unauthenticated."
                    )));
                }
                let arn = v.as_str().ok_or_else(|| {
                    CiError::new("SerializationException", "role ARN must be a string")
                })?;
                if !arn.starts_with("arn:") || arn.len() < 20 || arn.len() > 2048 {
                    return Err(CiError::invalid(format!("Invalid role ARN {arn}.")));
                }
                new_roles.insert(k, arn.to_owned());
            }
            let mappings: BTreeMap<String, RoleMapping> = match inp.0.get("RoleMappings") {
                None | Some(Value::Null) => BTreeMap::new(),
                Some(v) => serde_json::from_value(v.clone())
                    .map_err(|e| CiError::new("SerializationException", e.to_string()))?,
            };
            if mappings.len() > 10 {
                return Err(CiError::invalid("At most 10 RoleMappings."));
            }
            for (k, m) in &mappings {
                if !configured_provider(&pool, k, &acct, true)
                    && !configured_provider(&pool, k, &acct, false)
                {
                    return Err(CiError::invalid(format!(
                        "{k} is not a valid RoleMapping ProviderName or is not a configured provider."
                    )));
                }
                validate_mapping(k, m)?;
            }
            if !matches!(a.who, crate::authority::Who::Root) {
                let mut all: Vec<&String> = new_roles.values().collect();
                for m in mappings.values() {
                    if let Some(rc) = &m.rules_configuration {
                        all.extend(rc.rules.iter().map(|r| &r.role_arn));
                    }
                }
                for arn in all {
                    a.allow_pass_role(arn).await?;
                }
            }
            a.edit_pool(pool_id, |p| {
                p.roles.clone_from(&new_roles);
                p.role_mappings.clone_from(&mappings);
                Ok(Edit::Write(()))
            })
            .await?;
            Ok(json!({}))
        }
        "GetIdentityPoolRoles" => {
            let p = id.load_pool(pool_id, a.now).await?;
            let mut v = json!({"IdentityPoolId": p.id, "Roles": p.roles});
            if !p.role_mappings.is_empty() {
                v["RoleMappings"] = json!(p.role_mappings);
            }
            Ok(v)
        }
        "SetPrincipalTagAttributeMap" | "GetPrincipalTagAttributeMap" => {
            let provider = inp.req("IdentityProviderName")?.to_owned();
            let pool = id.load_pool(pool_id, a.now).await?;
            if !configured_provider(&pool, &provider, &acct, false) {
                return Err(CiError::invalid(format!(
                    "{provider} is not a configured provider of this identity pool."
                )));
            }
            let map = if a.op == "SetPrincipalTagAttributeMap" {
                let tags = inp.str_map("PrincipalTags")?;
                if tags.len() > 50 {
                    return Err(CiError::invalid("At most 50 PrincipalTags."));
                }
                let m = TagMap {
                    use_defaults: inp.bool("UseDefaults")?.unwrap_or(false),
                    tags: tags.into_iter().collect(),
                };
                let stored = m.clone();
                let prov = provider.clone();
                a.edit_pool(pool_id, move |p| {
                    p.tag_maps.insert(prov.clone(), stored.clone());
                    Ok(Edit::Write(()))
                })
                .await?;
                m
            } else {
                pool.tag_maps.get(&provider).cloned().unwrap_or_default()
            };
            let tags: Map<String, Value> = map
                .tags
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            Ok(json!({
                "IdentityPoolId": pool_id,
                "IdentityProviderName": provider,
                "UseDefaults": map.use_defaults,
                "PrincipalTags": tags,
            }))
        }
        _ => Err(CiError::new("UnknownOperationException", a.op.to_owned())),
    }
}
