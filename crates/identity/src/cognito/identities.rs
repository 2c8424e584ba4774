//! Identities: GetId, GetCredentialsForIdentity, GetOpenIdToken, UnlinkIdentity (unsigned),
//! developer-authenticated identities and the admin identity operations (signed). Lifecycle as
//! SPEC §1.6: guests, linking (one login per provider), merging, disabled identities.

use super::logins::{LoginKind, VerifiedLogin};
use super::roles::{MappingInput, RoleError, resolve_role};
use super::{Admin, CiError, In, check_id};
use crate::Identity;
use crate::assume::SessionSpec;
use crate::jwt::{COGNITO_ISSUER, COGNITO_PROVIDER, claim_strings};
use crate::model::{IdentityPool, IdentityRecord, login_key};
use crate::store::{Edit, NS_IDENTITY, NS_LOGIN, NS_POOL_IDENTITY};
use cubby_policy::Principal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Lifetime of credentials from GetCredentialsForIdentity (fixed, as on AWS).
const CREDENTIALS_SECS: i64 = 3600;
/// Lifetime of GetOpenIdToken tokens.
const OPEN_ID_TOKEN_SECS: i64 = 600;
/// The session name Cognito uses.
const SESSION_NAME: &str = "CognitoIdentityCredentials";

/// A login-index document.
#[derive(Serialize, Deserialize)]
struct LoginIndex {
    id: String,
}

/// Who may use an identity, after checking the presented logins.
struct Access {
    identity_id: String,
    authenticated: bool,
    linkable: Vec<VerifiedLogin>,
    amr: Vec<String>,
    /// Claims of a presented identity-pool token (its tags carry over).
    token_claims: Option<Map<String, Value>>,
}

fn logins_dont_match() -> CiError {
    CiError::not_authorized(
        "Logins don't match. Please include at least one valid login for this identity or identity pool.",
    )
}

fn unauth_disabled() -> CiError {
    CiError::not_authorized("Unauthenticated access is not supported for this identity pool.")
}

fn describe(r: &IdentityRecord) -> Value {
    json!({
        "IdentityId": r.id,
        "Logins": r.logins.keys().collect::<Vec<_>>(),
        "CreationDate": r.created,
        "LastModifiedDate": r.modified,
    })
}

impl Identity {
    pub(crate) async fn load_pool(&self, id: &str, now: i64) -> Result<Arc<IdentityPool>, CiError> {
        check_id("identityPoolId", id)?;
        self.pool(id, now)
            .await?
            .ok_or_else(|| CiError::pool_not_found(id))
    }

    async fn load_identity(&self, id: &str) -> Result<IdentityRecord, CiError> {
        check_id("identityId", id)?;
        match self.store.get::<IdentityRecord>(NS_IDENTITY, id).await? {
            Some((r, _)) => Ok(r),
            None => Err(CiError::not_found(format!("Identity '{id}' not found."))),
        }
    }

    async fn owner_of(
        &self,
        pool: &str,
        provider: &str,
        subject: &str,
    ) -> Result<Option<String>, CiError> {
        Ok(self
            .store
            .get::<LoginIndex>(NS_LOGIN, &login_key(pool, provider, subject))
            .await?
            .map(|(l, _)| l.id))
    }

    /// Create an identity linked to `logins` (provider, subject). If the first login got
    /// linked concurrently, its owner is returned instead.
    async fn create_identity(
        &self,
        pool: &str,
        logins: &[(String, String)],
        now: i64,
    ) -> Result<String, CiError> {
        let id = format!("{}:{}", self.cfg.region, crate::util::uuid());
        let rec = IdentityRecord {
            id: id.clone(),
            pool: pool.to_owned(),
            logins: logins.iter().cloned().collect(),
            created: now,
            modified: now,
            disabled: false,
            merged_into: None,
        };
        if !self.store.insert(NS_IDENTITY, &id, &rec).await? {
            return Err(CiError::internal("identity id collision"));
        }
        self.store
            .insert(
                NS_POOL_IDENTITY,
                &format!("{pool}|{id}"),
                &LoginIndex { id: id.clone() },
            )
            .await?;
        for (i, (provider, subject)) in logins.iter().enumerate() {
            let key = login_key(pool, provider, subject);
            if !self
                .store
                .insert(NS_LOGIN, &key, &LoginIndex { id: id.clone() })
                .await?
            {
                if i == 0 {
                    self.delete_identity_docs(pool, &id).await?;
                    if let Some(owner) = self.owner_of(pool, provider, subject).await? {
                        return Ok(owner);
                    }
                }
                return Err(CiError::conflict(
                    "A login is already linked to another identity.",
                ));
            }
        }
        Ok(id)
    }

    async fn delete_identity_docs(&self, pool: &str, id: &str) -> Result<(), CiError> {
        self.store.delete(NS_IDENTITY, id).await?;
        self.store
            .delete(NS_POOL_IDENTITY, &format!("{pool}|{id}"))
            .await?;
        Ok(())
    }

    /// Link one login to an identity (one login per provider).
    async fn link(
        &self,
        pool: &str,
        identity: &str,
        provider: &str,
        subject: &str,
        now: i64,
    ) -> Result<(), CiError> {
        let linked = self
            .store
            .update(NS_IDENTITY, identity, |r: &mut IdentityRecord| {
                match r.logins.get(provider) {
                    Some(s) if s == subject => Ok(Edit::Keep(())),
                    Some(_) => Err(CiError::conflict(format!(
                        "Identity '{identity}' is already linked to another login of provider {provider}."
                    ))),
                    None => {
                        r.logins.insert(provider.to_owned(), subject.to_owned());
                        r.modified = now;
                        Ok(Edit::Write(()))
                    }
                }
            })
            .await?;
        if linked.is_none() {
            return Err(CiError::not_found(format!(
                "Identity '{identity}' not found."
            )));
        }
        let key = login_key(pool, provider, subject);
        if !self
            .store
            .insert(
                NS_LOGIN,
                &key,
                &LoginIndex {
                    id: identity.to_owned(),
                },
            )
            .await?
        {
            let owner = self.owner_of(pool, provider, subject).await?;
            if owner.as_deref() != Some(identity) {
                self.store
                    .update(NS_IDENTITY, identity, |r: &mut IdentityRecord| {
                        r.logins.remove(provider);
                        Ok::<_, CiError>(Edit::Write(()))
                    })
                    .await?;
                return Err(CiError::conflict(
                    "The login is already linked to another identity.",
                ));
            }
        }
        Ok(())
    }

    /// Merge identity `from` into `into`: its logins move, it is disabled.
    async fn merge(&self, pool: &str, from: &str, into: &str, now: i64) -> Result<(), CiError> {
        let moved = self
            .store
            .update(NS_IDENTITY, from, |r: &mut IdentityRecord| {
                let logins = std::mem::take(&mut r.logins);
                r.disabled = true;
                r.merged_into = Some(into.to_owned());
                r.modified = now;
                Ok::<_, CiError>(Edit::Write(logins))
            })
            .await?
            .unwrap_or_default();
        for (provider, subject) in moved {
            let key = login_key(pool, &provider, &subject);
            self.store.delete(NS_LOGIN, &key).await?;
            self.link(pool, into, &provider, &subject, now).await?;
        }
        Ok(())
    }

    /// Apply presented logins to identity `ident` (SPEC §1.6); returns the identity to use.
    async fn link_logins(
        &self,
        pool: &IdentityPool,
        ident: &IdentityRecord,
        linkable: &[VerifiedLogin],
        now: i64,
    ) -> Result<String, CiError> {
        let mut owners = Vec::with_capacity(linkable.len());
        for l in linkable {
            owners.push(self.owner_of(&pool.id, &l.provider, &l.subject).await?);
        }
        let target = if ident.logins.is_empty() {
            // A guest: adopt the owner of a presented login (merge), else upgrade in place.
            match owners.iter().flatten().find(|o| **o != ident.id) {
                Some(y) => {
                    let y = y.clone();
                    let owner = self.load_identity(&y).await?;
                    if owner.disabled {
                        return Err(CiError::forbidden(&y));
                    }
                    self.merge(&pool.id, &ident.id, &y, now).await?;
                    y
                }
                None => ident.id.clone(),
            }
        } else {
            if !owners.iter().flatten().any(|o| *o == ident.id) {
                return Err(logins_dont_match());
            }
            if owners.iter().flatten().any(|o| *o != ident.id) {
                return Err(CiError::conflict(
                    "A presented login is linked to a different identity.",
                ));
            }
            ident.id.clone()
        };
        for (l, owner) in linkable.iter().zip(&owners) {
            if owner.is_none() {
                self.link(&pool.id, &target, &l.provider, &l.subject, now)
                    .await?;
            }
        }
        Ok(target)
    }

    /// Check the logins presented for an identity and link/merge as needed.
    async fn access(
        &self,
        identity_id: &str,
        logins: &[(String, String)],
        classic: bool,
        now: i64,
    ) -> Result<(Arc<IdentityPool>, Access), CiError> {
        let ident = self.load_identity(identity_id).await?;
        let pool = self
            .pool(&ident.pool, now)
            .await?
            .ok_or_else(|| CiError::pool_not_found(&ident.pool))?;
        if classic {
            if !pool.allow_classic_flow {
                return Err(CiError::invalid(
                    "Basic (classic) flow is not enabled, please use enhanced flow.",
                ));
            }
            if !pool.role_mappings.is_empty() {
                return Err(CiError::invalid(
                    "Basic (classic) flow is not supported with RoleMappings, please use enhanced flow.",
                ));
            }
        }
        if ident.disabled {
            return Err(CiError::forbidden(identity_id));
        }
        if logins.is_empty() {
            if !pool.allow_unauthenticated {
                return Err(unauth_disabled());
            }
            if !ident.logins.is_empty() {
                return Err(CiError::forbidden(identity_id));
            }
            return Ok((
                pool,
                Access {
                    identity_id: ident.id,
                    authenticated: false,
                    linkable: Vec::new(),
                    amr: vec!["unauthenticated".into()],
                    token_claims: None,
                },
            ));
        }
        let verified = self.verify_logins(&pool, logins, now).await?;
        let (tokens, linkable): (Vec<_>, Vec<_>) = verified
            .into_iter()
            .partition(|l| l.kind == LoginKind::Cognito);
        if tokens.iter().any(|t| t.subject != ident.id) {
            return Err(logins_dont_match());
        }
        if linkable.is_empty() {
            let claims = tokens
                .into_iter()
                .next()
                .map(|t| t.claims)
                .unwrap_or_default();
            let amr = claim_strings(&claims, "amr");
            let authenticated = amr.iter().any(|a| a == "authenticated");
            if !authenticated && !pool.allow_unauthenticated {
                return Err(unauth_disabled());
            }
            return Ok((
                pool,
                Access {
                    identity_id: ident.id,
                    authenticated,
                    linkable: Vec::new(),
                    amr,
                    token_claims: Some(claims),
                },
            ));
        }
        let final_id = self.link_logins(&pool, &ident, &linkable, now).await?;
        let mut amr = vec!["authenticated".to_owned()];
        for l in &linkable {
            amr.push(l.provider.clone());
            amr.push(l.amr_entry());
        }
        Ok((
            pool,
            Access {
                identity_id: final_id,
                authenticated: true,
                linkable,
                amr,
                token_claims: tokens.into_iter().next().map(|t| t.claims),
            },
        ))
    }

    /// Session tags from the pool's principal-tag maps (and a presented pool token).
    fn principal_tags(&self, pool: &IdentityPool, acc: &Access) -> Vec<(String, String)> {
        let mut tags: Vec<(String, String)> = Vec::new();
        if let Some(c) = &acc.token_claims {
            tags.extend(crate::sts::principal_tags_of(c));
        }
        for l in &acc.linkable {
            let Some(m) = pool.tag_maps.get(&l.provider) else {
                continue;
            };
            let pairs: Vec<(String, String)> = if m.use_defaults {
                vec![
                    ("client".into(), "aud".into()),
                    ("username".into(), "sub".into()),
                ]
            } else {
                m.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            };
            for (tag, claim) in pairs {
                let value = if claim == "aud" {
                    Some(l.audience.clone())
                } else {
                    claim_strings(&l.claims, &claim).into_iter().next()
                };
                if let Some(v) = value {
                    tags.retain(|(k, _)| *k != tag);
                    tags.push((tag, v));
                }
            }
        }
        tags
    }

    /// Sign an identity-pool OIDC token.
    async fn open_id_token(
        &self,
        pool: &str,
        identity: &str,
        amr: &[String],
        tags: &[(String, String)],
        lifetime: i64,
        now: i64,
    ) -> Result<String, CiError> {
        let signer = self.signer().await.map_err(CiError::internal)?;
        let mut claims = json!({
            "sub": identity,
            "aud": pool,
            "amr": amr,
            "iss": COGNITO_ISSUER,
            "https://cognito-identity.amazonaws.com/identity-pool-arn": self.pool_arn(pool),
            "exp": now + lifetime,
            "iat": now,
        });
        if !tags.is_empty() {
            let t: Map<String, Value> = tags.iter().map(|(k, v)| (k.clone(), json!([v]))).collect();
            claims["https://aws.amazon.com/tags"] = json!({ "principal_tags": t });
        }
        signer.sign(&claims).map_err(CiError::internal)
    }
}

pub(crate) async fn unsigned(
    id: &Identity,
    op: &str,
    inp: &In<'_>,
    now: i64,
) -> Result<Value, CiError> {
    match op {
        "GetId" => get_id(id, inp, now).await,
        "GetCredentialsForIdentity" => get_credentials(id, inp, now).await,
        "GetOpenIdToken" => {
            let identity_id = inp.req("IdentityId")?;
            let logins = inp.str_map("Logins")?;
            let (pool, acc) = id.access(identity_id, &logins, true, now).await?;
            let tags = id.principal_tags(&pool, &acc);
            let token = id
                .open_id_token(
                    &pool.id,
                    &acc.identity_id,
                    &acc.amr,
                    &tags,
                    OPEN_ID_TOKEN_SECS,
                    now,
                )
                .await?;
            Ok(json!({"IdentityId": acc.identity_id, "Token": token}))
        }
        "UnlinkIdentity" => {
            let identity_id = inp.req("IdentityId")?;
            let logins = inp.str_map("Logins")?;
            let remove = inp.str_list("LoginsToRemove")?;
            if logins.is_empty() {
                return Err(CiError::invalid(
                    "1 validation error detected: Value null at 'logins' failed to satisfy constraint: Member must not be null",
                ));
            }
            let (pool, acc) = id.access(identity_id, &logins, false, now).await?;
            if !acc.authenticated {
                return Err(logins_dont_match());
            }
            let ident = id.load_identity(&acc.identity_id).await?;
            for provider in &remove {
                if let Some(subject) = ident.logins.get(provider) {
                    id.store
                        .delete(NS_LOGIN, &login_key(&pool.id, provider, subject))
                        .await?;
                }
            }
            id.store
                .update(NS_IDENTITY, &ident.id, |r: &mut IdentityRecord| {
                    for p in &remove {
                        r.logins.remove(p);
                    }
                    r.modified = now;
                    Ok::<_, CiError>(Edit::Write(()))
                })
                .await?;
            Ok(json!({}))
        }
        _ => Err(CiError::new("UnknownOperationException", op.to_owned())),
    }
}

async fn get_id(id: &Identity, inp: &In<'_>, now: i64) -> Result<Value, CiError> {
    let pool_id = inp.req("IdentityPoolId")?;
    let _account = inp.str("AccountId")?;
    let pool = id.load_pool(pool_id, now).await?;
    let logins = inp.str_map("Logins")?;
    if logins.is_empty() {
        if !pool.allow_unauthenticated {
            return Err(unauth_disabled());
        }
        let new = id.create_identity(&pool.id, &[], now).await?;
        return Ok(json!({ "IdentityId": new }));
    }
    let identity = identity_for_logins(id, &pool, &logins, now).await?;
    Ok(json!({ "IdentityId": identity }))
}

/// GetId for a non-empty `Logins` map: verify the logins, then find the identity they
/// are linked to (linking further logins presented together) or create one.
pub(crate) async fn identity_for_logins(
    id: &Identity,
    pool: &IdentityPool,
    logins: &[(String, String)],
    now: i64,
) -> Result<String, CiError> {
    let verified = id.verify_logins(pool, logins, now).await?;
    let (tokens, linkable): (Vec<_>, Vec<_>) = verified
        .into_iter()
        .partition(|l| l.kind == LoginKind::Cognito);
    if let Some(t) = tokens.first() {
        let ident = id.load_identity(&t.subject).await?;
        if ident.disabled || ident.pool != pool.id {
            return Err(CiError::forbidden(&t.subject));
        }
        return Ok(ident.id);
    }
    let mut owner = None;
    for l in &linkable {
        if let Some(o) = id.owner_of(&pool.id, &l.provider, &l.subject).await? {
            owner = Some(o);
            break;
        }
    }
    let identity = match owner {
        Some(o) => {
            // Further logins presented together are linked to the same identity.
            for l in &linkable {
                if id
                    .owner_of(&pool.id, &l.provider, &l.subject)
                    .await?
                    .is_none()
                {
                    id.link(&pool.id, &o, &l.provider, &l.subject, now).await?;
                }
            }
            o
        }
        None => {
            let pairs: Vec<(String, String)> = linkable
                .iter()
                .map(|l| (l.provider.clone(), l.subject.clone()))
                .collect();
            id.create_identity(&pool.id, &pairs, now).await?
        }
    };
    Ok(identity)
}

async fn get_credentials(id: &Identity, inp: &In<'_>, now: i64) -> Result<Value, CiError> {
    let identity_id = inp.req("IdentityId")?;
    let logins = inp.str_map("Logins")?;
    let custom = inp.str("CustomRoleArn")?;
    let (pool, acc) = id.access(identity_id, &logins, false, now).await?;
    let inputs: Vec<MappingInput<'_>> = acc
        .linkable
        .iter()
        .map(|l| MappingInput {
            key: l.mapping_key(),
            claims: &l.claims,
        })
        .collect();
    let role_arn =
        resolve_role(&pool, acc.authenticated, &inputs, custom).map_err(|e| match e {
            RoleError::NoRole => CiError::bad_config(),
            RoleError::AmbiguousDenied(k) => CiError::not_authorized(format!(
                "The ambiguous role mapping rules for: {k} denied this request."
            )),
            RoleError::CustomRoleNotAllowed(r) => CiError::not_authorized(format!(
                "The role {r} is not among the roles of the presented token."
            )),
            RoleError::SeveralMappings => CiError::invalid(
                "Logins from several providers with role mappings were presented; present one.",
            ),
        })?;
    let role = id
        .role_by_arn(&role_arn, now)
        .await?
        .ok_or_else(CiError::bad_config)?;
    let web = vec![
        (format!("{COGNITO_PROVIDER}:aud"), vec![pool.id.clone()]),
        (
            format!("{COGNITO_PROVIDER}:sub"),
            vec![acc.identity_id.clone()],
        ),
        (format!("{COGNITO_PROVIDER}:amr"), acc.amr.clone()),
    ];
    let tags = id.principal_tags(&pool, &acc);
    let principal = Principal::WebIdentity {
        provider: COGNITO_PROVIDER.to_owned(),
    };
    let keys = [
        ("aws:CurrentTime", crate::util::iso8601(now)),
        ("aws:EpochTime", now.to_string()),
    ];
    if !id.trust_allows(
        &role,
        &principal,
        "sts:AssumeRoleWithWebIdentity",
        &keys,
        &web,
        &tags,
    ) {
        return Err(CiError::bad_config());
    }
    let (_, minted) = id.issue_session(
        &role,
        SessionSpec {
            session_name: SESSION_NAME.to_owned(),
            duration: CREDENTIALS_SECS,
            identity_id: Some(acc.identity_id.clone()),
            provider: Some(COGNITO_PROVIDER.to_owned()),
            web_identity: web,
            tags,
            ..SessionSpec::default()
        },
        now,
    );
    Ok(json!({
        "IdentityId": acc.identity_id,
        "Credentials": {
            "AccessKeyId": minted.access_key_id,
            "SecretKey": minted.secret_access_key,
            "SessionToken": minted.session_token,
            "Expiration": minted.expires_at,
        }
    }))
}

pub(crate) async fn admin(a: &Admin<'_>, inp: &In<'_>) -> Result<Value, CiError> {
    let id = a.id;
    let now = a.now;
    match a.op {
        "DescribeIdentity" => {
            let identity_id = inp.req("IdentityId")?;
            let r = id.load_identity(identity_id).await?;
            a.allow(&a.pool_arn(&r.pool)).await?;
            Ok(describe(&r))
        }
        "DeleteIdentities" => {
            let ids = inp.str_list("IdentityIdsToDelete")?;
            if ids.is_empty() || ids.len() > 60 {
                return Err(CiError::invalid(
                    "1 validation error detected: Value at 'identityIdsToDelete' failed to satisfy constraint: Member must have length between 1 and 60",
                ));
            }
            let mut unprocessed = Vec::new();
            for i in &ids {
                let Ok(r) = id.load_identity(i).await else {
                    continue;
                };
                if a.allow(&a.pool_arn(&r.pool)).await.is_err() {
                    unprocessed.push(json!({"IdentityId": i, "ErrorCode": "AccessDenied"}));
                    continue;
                }
                for (p, s) in &r.logins {
                    id.store.delete(NS_LOGIN, &login_key(&r.pool, p, s)).await?;
                }
                id.delete_identity_docs(&r.pool, &r.id).await?;
            }
            Ok(json!({ "UnprocessedIdentityIds": unprocessed }))
        }
        _ => {
            let pool_id = inp.req("IdentityPoolId")?;
            let pool = id.load_pool(pool_id, now).await?;
            a.allow(&a.pool_arn(&pool.id)).await?;
            pool_admin(a, &pool, inp).await
        }
    }
}

fn dev_provider(pool: &IdentityPool, given: Option<&str>) -> Result<String, CiError> {
    match (&pool.developer_provider_name, given) {
        (Some(d), None) => Ok(d.clone()),
        (Some(d), Some(g)) if d == g => Ok(d.clone()),
        _ => Err(CiError::invalid(
            "The developer provider name does not match the identity pool's DeveloperProviderName.",
        )),
    }
}

async fn pool_admin(a: &Admin<'_>, pool: &IdentityPool, inp: &In<'_>) -> Result<Value, CiError> {
    let id = a.id;
    let now = a.now;
    match a.op {
        "ListIdentities" => {
            let max = inp.int("MaxResults")?.unwrap_or(0);
            if !(1..=60).contains(&max) {
                return Err(CiError::invalid(
                    "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 60",
                ));
            }
            let hide_disabled = inp.bool("HideDisabled")?.unwrap_or(false);
            let after = inp.str("NextToken")?.unwrap_or_default();
            let prefix = format!("{}|", pool.id);
            let page = id
                .store
                .list_page::<LoginIndex>(NS_POOL_IDENTITY, &prefix, after, max)
                .await?;
            let next = (page.len() as i64 == max)
                .then(|| page.last().map(|(k, _)| k.clone()))
                .flatten();
            let mut out = Vec::new();
            for (_, e) in &page {
                if let Some((r, _)) = id.store.get::<IdentityRecord>(NS_IDENTITY, &e.id).await? {
                    if hide_disabled && r.disabled {
                        continue;
                    }
                    out.push(describe(&r));
                }
            }
            let mut v = json!({"IdentityPoolId": pool.id, "Identities": out});
            if let Some(n) = next {
                v["NextToken"] = json!(n);
            }
            Ok(v)
        }
        "GetOpenIdTokenForDeveloperIdentity" => {
            let dev = dev_provider(pool, None)?;
            let logins = inp.str_map("Logins")?;
            super::logins::check_logins(&logins)?;
            let user = logins
                .iter()
                .find(|(k, _)| *k == dev)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| {
                    CiError::invalid(format!("Logins must contain the developer provider {dev}."))
                })?;
            let others: Vec<(String, String)> =
                logins.iter().filter(|(k, _)| *k != dev).cloned().collect();
            let duration = inp.int("TokenDuration")?.unwrap_or(900);
            if !(1..=86_400).contains(&duration) {
                return Err(CiError::invalid(
                    "1 validation error detected: Value at 'tokenDuration' failed to satisfy constraint: Member must have value between 1 and 86400",
                ));
            }
            let tags = inp.str_map("PrincipalTags")?;
            if tags.len() > 50 || tags.iter().any(|(k, v)| k.len() > 128 || v.len() > 256) {
                return Err(CiError::invalid("Invalid PrincipalTags."));
            }
            let owner = id.owner_of(&pool.id, &dev, &user).await?;
            let identity = match (inp.str("IdentityId")?, owner) {
                (Some(given), owner) => {
                    let r = id.load_identity(given).await?;
                    if r.pool != pool.id || r.disabled {
                        return Err(CiError::forbidden(given));
                    }
                    match owner {
                        Some(o) if o != r.id => {
                            return Err(CiError::new(
                                "DeveloperUserAlreadyRegisteredException",
                                "The developer user identifier is already registered with a different identity.",
                            ));
                        }
                        Some(_) => {}
                        None => id.link(&pool.id, &r.id, &dev, &user, now).await?,
                    }
                    r.id
                }
                (None, Some(o)) => o,
                (None, None) => {
                    id.create_identity(&pool.id, &[(dev.clone(), user.clone())], now)
                        .await?
                }
            };
            let verified = id.verify_logins(pool, &others, now).await?;
            for l in verified.iter().filter(|l| l.kind != LoginKind::Cognito) {
                match id.owner_of(&pool.id, &l.provider, &l.subject).await? {
                    None => {
                        id.link(&pool.id, &identity, &l.provider, &l.subject, now)
                            .await?
                    }
                    Some(o) if o == identity => {}
                    Some(_) => {
                        return Err(CiError::conflict(
                            "A presented login is linked to a different identity.",
                        ));
                    }
                }
            }
            let amr = vec![
                "authenticated".to_owned(),
                dev.clone(),
                format!("{dev}:{}:{user}", pool.id),
            ];
            let token = id
                .open_id_token(&pool.id, &identity, &amr, &tags, duration, now)
                .await?;
            Ok(json!({"IdentityId": identity, "Token": token}))
        }
        "LookupDeveloperIdentity" => {
            let dev = dev_provider(pool, None)?;
            let given = inp.str("IdentityId")?;
            let user = inp.str("DeveloperUserIdentifier")?;
            let identity = match (given, user) {
                (_, Some(u)) => {
                    let o = id.owner_of(&pool.id, &dev, u).await?.ok_or_else(|| {
                        CiError::not_found("Developer user identifier not found.")
                    })?;
                    if let Some(g) = given
                        && g != o
                    {
                        return Err(CiError::conflict(
                            "The identity id and developer user identifier do not match.",
                        ));
                    }
                    o
                }
                (Some(g), None) => g.to_owned(),
                (None, None) => {
                    return Err(CiError::invalid(
                        "Either IdentityId or DeveloperUserIdentifier must be given.",
                    ));
                }
            };
            let r = id.load_identity(&identity).await?;
            let list: Vec<&String> = r.logins.get(&dev).into_iter().collect();
            Ok(json!({"IdentityId": r.id, "DeveloperUserIdentifierList": list}))
        }
        "MergeDeveloperIdentities" => {
            let dev = dev_provider(pool, inp.str("DeveloperProviderName")?)?;
            let src = inp.req("SourceUserIdentifier")?;
            let dst = inp.req("DestinationUserIdentifier")?;
            let s = id
                .owner_of(&pool.id, &dev, src)
                .await?
                .ok_or_else(|| CiError::not_found("Source user identifier not found."))?;
            let d = id
                .owner_of(&pool.id, &dev, dst)
                .await?
                .ok_or_else(|| CiError::not_found("Destination user identifier not found."))?;
            if s != d {
                let dest = id.load_identity(&d).await?;
                let source = id.load_identity(&s).await?;
                if dest.logins.len() + source.logins.len() > 20 {
                    return Err(CiError::new(
                        "LimitExceededException",
                        "An identity can have at most 20 linked logins.",
                    ));
                }
                // Both carry a login of the developer provider: only the destination's stays
                // on the destination; the source's developer id is re-linked as well (AWS
                // keeps both developer ids on the merged identity).
                let moved = id
                    .store
                    .update(NS_IDENTITY, &s, |r: &mut IdentityRecord| {
                        let logins = std::mem::take(&mut r.logins);
                        r.disabled = true;
                        r.merged_into = Some(d.clone());
                        r.modified = now;
                        Ok::<_, CiError>(Edit::Write(logins))
                    })
                    .await?
                    .unwrap_or_default();
                for (provider, subject) in moved {
                    id.store
                        .put_login(&login_key(&pool.id, &provider, &subject), &d)
                        .await?;
                    if provider != dev {
                        let _ = id.link(&pool.id, &d, &provider, &subject, now).await;
                    }
                }
            }
            Ok(json!({"IdentityId": d}))
        }
        "UnlinkDeveloperIdentity" => {
            let dev = dev_provider(pool, inp.str("DeveloperProviderName")?)?;
            let identity = inp.req("IdentityId")?;
            let user = inp.req("DeveloperUserIdentifier")?;
            let owner = id.owner_of(&pool.id, &dev, user).await?;
            if owner.as_deref() != Some(identity) {
                return Err(CiError::not_found("Developer user identifier not found."));
            }
            id.store
                .delete(NS_LOGIN, &login_key(&pool.id, &dev, user))
                .await?;
            id.store
                .update(NS_IDENTITY, identity, |r: &mut IdentityRecord| {
                    if r.logins.get(&dev).map(String::as_str) == Some(user) {
                        r.logins.remove(&dev);
                    }
                    r.modified = now;
                    Ok::<_, CiError>(Edit::Write(()))
                })
                .await?;
            Ok(json!({}))
        }
        _ => Err(CiError::new("UnknownOperationException", a.op.to_owned())),
    }
}

impl crate::store::Store {
    /// Point a login-index entry at `identity` (insert or replace).
    async fn put_login(&self, key: &str, identity: &str) -> Result<(), crate::store::StoreError> {
        self.delete(NS_LOGIN, key).await?;
        self.insert(
            NS_LOGIN,
            key,
            &LoginIndex {
                id: identity.to_owned(),
            },
        )
        .await?;
        Ok(())
    }
}
