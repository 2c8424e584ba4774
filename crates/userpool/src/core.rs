//! Internal building blocks shared by the operations: lookups, aliases, password material,
//! throttling, token issuance and revocation, codes.

use crate::codes::CodeMessage;
use crate::error::{ApiError, Error};
use crate::model::{ClientDoc, FailDoc, GroupDoc, PasswordDoc, PoolDoc, UserDoc};
use crate::store::{
    NS_ALIAS, NS_CLIENT, NS_FAIL, NS_GROUP, NS_POOL, NS_POOL_CLIENT, NS_REVOKED, NS_SRP_USED,
    NS_USER,
};
use crate::{UserPools, passwords, srp, tokens};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use num_bigint_dig::BigUint;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use subtle::ConstantTimeEq;

/// Consecutive failures before the lockout starts.
pub(crate) const FAILURES_BEFORE_LOCKOUT: u32 = 5;
/// Longest lockout, seconds.
pub(crate) const MAX_LOCKOUT: i64 = 900;
/// How long a retired signing key stays published (longest ID/access-token life).
pub(crate) const RETIRED_KEY_PUBLISH: i64 = 86_400;

/// Wall-clock seconds.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

static LAST_TICK: AtomicI64 = AtomicI64::new(0);

/// A millisecond stamp for token families and sign-outs: the wall clock's milliseconds when it
/// agrees with `now`, else `now * 1000`; strictly increasing within the process so a sign-in
/// right after a global sign-out is never mistaken for an older one.
pub(crate) fn tick_ms(now: i64) -> i64 {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let base = if wall / 1000 == now {
        wall
    } else {
        now.saturating_mul(1000)
    };
    let mut prev = LAST_TICK.load(Ordering::Relaxed);
    loop {
        let next = base.max(prev + 1);
        match LAST_TICK.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn random_from(alphabet: &[u8], len: usize) -> String {
    use rand::Rng as _;
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| {
            char::from(
                alphabet
                    .get(rng.gen_range(0..alphabet.len()))
                    .copied()
                    .unwrap_or(b'a'),
            )
        })
        .collect()
}

/// `{region}_{9 alphanumerics}`.
pub(crate) fn new_pool_id(region: &str) -> String {
    format!("{region}_{}", random_from(ALNUM, 9))
}

/// 26 lower-case alphanumerics.
pub(crate) fn new_client_id() -> String {
    random_from(LOWER_ALNUM, 26)
}

/// 51 lower-case alphanumerics (the shape of Cognito client secrets).
pub(crate) fn new_client_secret() -> String {
    random_from(LOWER_ALNUM, 51)
}

/// `[\w-]+_[0-9a-zA-Z]+`, at most 55 characters.
pub(crate) fn valid_pool_id(id: &str) -> bool {
    let Some((region, name)) = id.split_once('_') else {
        return false;
    };
    id.len() <= 55
        && !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A six-digit code.
pub(crate) fn new_code() -> String {
    use rand::Rng as _;
    format!("{:06}", rand::thread_rng().gen_range(0..1_000_000u32))
}

/// Mask an address the way Cognito shows it (`a***@e***`).
pub(crate) fn mask(dest: &str) -> String {
    match dest.split_once('@') {
        Some((user, domain)) => format!(
            "{}***@{}***",
            user.chars().next().unwrap_or('*'),
            domain.chars().next().unwrap_or('*')
        ),
        None => {
            let tail: String = dest
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("+*******{tail}")
        }
    }
}

/// The sealed contents of a refresh token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RefreshClaims {
    /// Pool id.
    pub p: String,
    /// Client id.
    pub c: String,
    /// Internal username.
    pub u: String,
    /// `sub`.
    pub s: String,
    /// Family (`origin_jti`).
    pub f: String,
    /// `auth_time`.
    pub a: i64,
    /// Issued at.
    pub i: i64,
    /// Expires at.
    pub e: i64,
}

const REFRESH_AAD: &[u8] = b"cubby-userpool-refresh";

/// A sign-in's token family: its `origin_jti` and `auth_time`.
#[derive(Clone, Debug)]
pub(crate) struct Family {
    pub origin_jti: String,
    pub auth_time: i64,
}

/// Whether a user had failed sign-in attempts on record when [`UserPools::check_throttle`]
/// looked.
#[derive(Clone, Copy, Debug)]
#[must_use]
pub(crate) struct FailuresOnRecord(bool);

impl UserPools {
    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    pub(crate) fn pool_arn(&self, id: &str) -> String {
        format!(
            "arn:aws:cognito-idp:{}:{}:userpool/{id}",
            self.region, self.account_id
        )
    }

    pub(crate) async fn pool(&self, id: &str) -> Result<Option<PoolDoc>, Error> {
        if !valid_pool_id(id) {
            return Ok(None);
        }
        Ok(self
            .store
            .get::<PoolDoc>(NS_POOL, id)
            .await?
            .map(|(p, _)| p))
    }

    /// The pool or `ResourceNotFoundException`.
    pub(crate) async fn pool_or_404(&self, id: &str) -> Result<PoolDoc, ApiError> {
        self.pool(id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("User pool {id} does not exist.")))
    }

    /// The client and its pool, or `ResourceNotFoundException`.
    pub(crate) async fn client_and_pool(
        &self,
        client_id: &str,
    ) -> Result<(PoolDoc, ClientDoc), ApiError> {
        let missing =
            || ApiError::not_found(format!("User pool client {client_id} does not exist."));
        if client_id.is_empty() || client_id.len() > 128 {
            return Err(missing());
        }
        let (client, _) = self
            .store
            .get::<ClientDoc>(NS_CLIENT, client_id)
            .await?
            .ok_or_else(missing)?;
        let pool = self.pool(&client.pool_id).await?.ok_or_else(missing)?;
        Ok((pool, client))
    }

    pub(crate) async fn client_ids(&self, pool_id: &str) -> Result<Vec<String>, Error> {
        let prefix = format!("{pool_id}/");
        Ok(self
            .store
            .keys(NS_POOL_CLIENT, &prefix)
            .await?
            .into_iter()
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned))
            .collect())
    }

    /// The clear client secret.
    pub(crate) fn client_secret(&self, c: &ClientDoc) -> Option<String> {
        let sealed = c.sealed_secret.as_deref()?;
        let raw = self
            .keys
            .client_secret
            .open_url(c.client_id.as_bytes(), sealed)?;
        String::from_utf8(raw).ok()
    }

    pub(crate) fn seal_client_secret(&self, client_id: &str, secret: &str) -> String {
        self.keys
            .client_secret
            .seal_url(client_id.as_bytes(), secret.as_bytes())
    }

    /// `SECRET_HASH = base64(HMAC-SHA256(client_secret, username ‖ client_id))`, checked for
    /// clients with a secret against any of `usernames` (the name as typed, the internal one).
    pub(crate) fn check_secret_hash(
        &self,
        c: &ClientDoc,
        usernames: &[&str],
        provided: Option<&str>,
    ) -> Result<(), ApiError> {
        let Some(secret) = self.client_secret(c) else {
            return Ok(());
        };
        let Some(provided) = provided.filter(|p| !p.is_empty()) else {
            return Err(ApiError::not_authorized(format!(
                "Client {} is configured with secret but SECRET_HASH was not received",
                c.client_id
            )));
        };
        let provided = STANDARD.decode(provided.trim()).unwrap_or_default();
        let mut ok = false;
        for u in usernames {
            let mac = srp::hmac_sha256(secret.as_bytes(), format!("{u}{}", c.client_id).as_bytes());
            ok |= bool::from(mac.as_slice().ct_eq(&provided));
        }
        if ok {
            Ok(())
        } else {
            Err(ApiError::not_authorized(format!(
                "Unable to verify secret hash for client {}",
                c.client_id
            )))
        }
    }

    /// `ClientSecret` of GetTokensFromRefreshToken / RevokeToken.
    pub(crate) fn check_client_secret(
        &self,
        c: &ClientDoc,
        provided: Option<&str>,
    ) -> Result<(), ApiError> {
        let Some(secret) = self.client_secret(c) else {
            return Ok(());
        };
        let ok = provided.is_some_and(|p| bool::from(p.as_bytes().ct_eq(secret.as_bytes())));
        if ok {
            Ok(())
        } else {
            Err(ApiError::not_authorized(format!(
                "Client {} is configured with secret but the client secret was not received or is wrong",
                c.client_id
            )))
        }
    }

    // ---- users -------------------------------------------------------------------------

    fn norm(pool: &PoolDoc, name: &str) -> String {
        if pool.case_sensitive {
            name.to_owned()
        } else {
            name.to_lowercase()
        }
    }

    /// The store key of a user.
    pub(crate) fn user_key(pool: &PoolDoc, username: &str) -> String {
        format!("{}/{}", pool.id, Self::norm(pool, username))
    }

    fn alias_key(pool: &PoolDoc, attr: &str, value: &str) -> String {
        let v = if attr == "phone_number" {
            value.to_owned()
        } else {
            value.to_lowercase()
        };
        format!("{}/{attr}/{v}", pool.id)
    }

    /// Aliases a user should be findable under.
    fn aliases_of(pool: &PoolDoc, u: &UserDoc) -> Vec<String> {
        let mut out = Vec::new();
        for attr in &pool.username_attributes {
            if let Some(v) = u.attributes.get(attr) {
                out.push(Self::alias_key(pool, attr, v));
            }
        }
        for attr in &pool.alias_attributes {
            let Some(v) = u.attributes.get(attr) else {
                continue;
            };
            let verified = match attr.as_str() {
                "email" => u.attributes.get("email_verified").map(String::as_str) == Some("true"),
                "phone_number" => {
                    u.attributes
                        .get("phone_number_verified")
                        .map(String::as_str)
                        == Some("true")
                }
                _ => true,
            };
            if verified {
                out.push(Self::alias_key(pool, attr, v));
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Whether `attr = value` already names a user other than `except`.
    pub(crate) async fn alias_owner(
        &self,
        pool: &PoolDoc,
        attr: &str,
        value: &str,
    ) -> Result<Option<String>, Error> {
        Ok(self
            .store
            .get::<String>(NS_ALIAS, &Self::alias_key(pool, attr, value))
            .await?
            .map(|(u, _)| u))
    }

    /// Bring the alias index from `old`'s aliases to `new`'s.
    pub(crate) async fn sync_aliases(
        &self,
        pool: &PoolDoc,
        old: Option<&UserDoc>,
        new: Option<&UserDoc>,
    ) -> Result<(), Error> {
        let before = old.map(|u| Self::aliases_of(pool, u)).unwrap_or_default();
        let after = new.map(|u| Self::aliases_of(pool, u)).unwrap_or_default();
        for k in before.iter().filter(|k| !after.contains(k)) {
            // Only remove it if it still points at this user.
            if let (Some(u), Some((owner, _))) = (old, self.store.get::<String>(NS_ALIAS, k).await?)
                && owner == u.username
            {
                self.store.delete(NS_ALIAS, k).await?;
            }
        }
        if let Some(u) = new {
            for k in after.iter().filter(|k| !before.contains(k)) {
                self.store.put(NS_ALIAS, k, &u.username).await?;
            }
        }
        Ok(())
    }

    /// Find a user by username, or by an alias / username attribute.
    pub(crate) async fn find_user(
        &self,
        pool: &PoolDoc,
        name: &str,
    ) -> Result<Option<UserDoc>, Error> {
        if name.is_empty() || name.len() > 256 {
            return Ok(None);
        }
        if let Some((u, _)) = self
            .store
            .get::<UserDoc>(NS_USER, &Self::user_key(pool, name))
            .await?
        {
            return Ok(Some(u));
        }
        let attrs: Vec<&String> = pool
            .username_attributes
            .iter()
            .chain(pool.alias_attributes.iter())
            .collect();
        for attr in attrs {
            if let Some(owner) = self.alias_owner(pool, attr, name).await?
                && let Some((u, _)) = self
                    .store
                    .get::<UserDoc>(NS_USER, &Self::user_key(pool, &owner))
                    .await?
            {
                return Ok(Some(u));
            }
        }
        Ok(None)
    }

    /// Find a user or `UserNotFoundException`.
    pub(crate) async fn user_or_404(
        &self,
        pool: &PoolDoc,
        name: &str,
    ) -> Result<UserDoc, ApiError> {
        self.find_user(pool, name)
            .await?
            .ok_or_else(ApiError::user_not_found)
    }

    /// Insert a new user; `false` when the username is taken.
    pub(crate) async fn insert_user(&self, pool: &PoolDoc, u: &UserDoc) -> Result<bool, Error> {
        if !self
            .store
            .insert(NS_USER, &Self::user_key(pool, &u.username), u)
            .await?
        {
            return Ok(false);
        }
        self.sync_aliases(pool, None, Some(u)).await?;
        Ok(true)
    }

    /// Read-modify-write a user (by internal username), keeping the alias index in step.
    pub(crate) async fn update_user<R>(
        &self,
        pool: &PoolDoc,
        username: &str,
        mut f: impl FnMut(&mut UserDoc) -> Result<R, ApiError>,
    ) -> Result<(UserDoc, R), ApiError> {
        let key = Self::user_key(pool, username);
        let mut before: Option<UserDoc> = None;
        let r = self
            .store
            .update::<UserDoc, R>(NS_USER, &key, |u| {
                before = Some(u.clone());
                f(u)
            })
            .await?
            .ok_or_else(ApiError::user_not_found)?;
        self.sync_aliases(pool, before.as_ref(), Some(&r.0)).await?;
        Ok(r)
    }

    /// Delete a user and its aliases.
    pub(crate) async fn delete_user(&self, pool: &PoolDoc, u: &UserDoc) -> Result<(), Error> {
        self.store
            .delete(NS_USER, &Self::user_key(pool, &u.username))
            .await?;
        self.sync_aliases(pool, Some(u), None).await?;
        self.store
            .delete(NS_FAIL, &Self::user_key(pool, &u.username))
            .await?;
        Ok(())
    }

    /// `[{Name, Value}]` with `sub` first, as GetUser / AdminGetUser answer.
    pub(crate) fn attributes_json(u: &UserDoc) -> Vec<Value> {
        let mut out = vec![json!({"Name": "sub", "Value": u.sub})];
        out.extend(
            u.attributes
                .iter()
                .map(|(k, v)| json!({"Name": k, "Value": v})),
        );
        out
    }

    // ---- passwords ---------------------------------------------------------------------

    /// Argon2id hash, SRP salt and sealed verifier for `password` (on the blocking pool).
    pub(crate) async fn make_password(
        &self,
        pool_id: &str,
        username: &str,
        password: &str,
        temporary: bool,
        now: i64,
    ) -> Result<PasswordDoc, Error> {
        let argon = self.hasher.argon2()?;
        let pool_name = srp::pool_name(pool_id).to_owned();
        let (user, pw) = (username.to_owned(), password.to_owned());
        let salt = srp::new_salt(rand::random());
        let salt2 = salt.clone();
        let (hash, v) = self
            .hasher
            .run(move || {
                let hash = passwords::hash_blocking(&argon, &pw);
                let v = srp::verifier(&pool_name, &user, &pw, &salt2);
                (hash, v)
            })
            .await?;
        let sealed_verifier = self.keys.verifier.seal_url(
            format!("{pool_id}/{username}").as_bytes(),
            srp::to_hex(&v).as_bytes(),
        );
        Ok(PasswordDoc {
            argon2: hash?,
            srp_salt: salt,
            sealed_verifier,
            temporary,
            set_at: now,
        })
    }

    /// The SRP verifier of a user.
    pub(crate) fn open_verifier(&self, pool_id: &str, u: &UserDoc) -> Option<BigUint> {
        let pw = u.password.as_ref()?;
        let raw = self.keys.verifier.open_url(
            format!("{pool_id}/{}", u.username).as_bytes(),
            &pw.sealed_verifier,
        )?;
        srp::parse_hex(std::str::from_utf8(&raw).ok()?)
    }

    /// A consistent fake salt and verifier for a name that is no user (so SRP answers look
    /// the same whether or not the user exists).
    pub(crate) fn decoy_srp(&self, pool_id: &str, name: &str) -> (String, BigUint) {
        let s = srp::hmac_sha256(
            &self.keys.mac,
            format!("decoy-salt/{pool_id}/{name}").as_bytes(),
        );
        let mut salt = [0u8; 16];
        salt.copy_from_slice(s.get(..16).unwrap_or(&[0u8; 16]));
        let x = srp::hmac_sha256(
            &self.keys.mac,
            format!("decoy-x/{pool_id}/{name}").as_bytes(),
        );
        let grp = &*srp::GROUP;
        (
            srp::new_salt(salt),
            grp.g.modpow(&BigUint::from_bytes_be(&x), &grp.n),
        )
    }

    /// Check a password against the Argon2id hash (on the blocking pool).
    pub(crate) async fn verify_password(&self, u: &UserDoc, password: &str) -> Result<bool, Error> {
        let Some(pw) = u.password.as_ref() else {
            return Ok(false);
        };
        let (phc, password) = (pw.argon2.clone(), password.to_owned());
        self.hasher
            .run(move || passwords::verify_blocking(&phc, &password))
            .await
    }

    /// Burn comparable time for an unknown user (so timing does not reveal existence).
    pub(crate) async fn verify_dummy(&self, password: &str) -> Result<(), Error> {
        let argon = self.hasher.argon2()?;
        let password = password.to_owned();
        self.hasher
            .run(move || {
                let _ = passwords::hash_blocking(&argon, &password);
            })
            .await
    }

    // ---- throttling --------------------------------------------------------------------

    /// `NotAuthorizedException "Password attempts exceeded"` while locked out. Otherwise
    /// whether failed attempts are on record, which a successful sign-in then clears
    /// ([`UserPools::clear_failures`]).
    pub(crate) async fn check_throttle(
        &self,
        pool: &PoolDoc,
        name: &str,
        now: i64,
    ) -> Result<FailuresOnRecord, ApiError> {
        match self
            .store
            .get::<FailDoc>(NS_FAIL, &Self::user_key(pool, name))
            .await?
        {
            Some((f, _)) if f.locked_until > now => {
                Err(ApiError::not_authorized("Password attempts exceeded"))
            }
            found => Ok(FailuresOnRecord(found.is_some())),
        }
    }

    /// After a successful sign-in: reset the failure count, if [`UserPools::check_throttle`]
    /// found one. Most sign-ins have none, and a delete would take the metadata writer (and
    /// so delay uploads' commits) for nothing. A failure recorded by a concurrent attempt
    /// after the check stays until the next success clears it.
    pub(crate) async fn clear_failures(
        &self,
        pool: &PoolDoc,
        name: &str,
        seen: FailuresOnRecord,
    ) -> Result<(), Error> {
        if seen.0 {
            self.record_success(pool, name).await?;
        }
        Ok(())
    }

    /// Count a failed sign-in; from the fifth on, lock out for 1 s doubling up to 15 min.
    pub(crate) async fn record_failure(
        &self,
        pool: &PoolDoc,
        name: &str,
        now: i64,
    ) -> Result<(), Error> {
        let key = Self::user_key(pool, name);
        let mut f = self
            .store
            .get::<FailDoc>(NS_FAIL, &key)
            .await?
            .map(|(f, _)| f)
            .unwrap_or_default();
        f.failures = f.failures.saturating_add(1);
        if f.failures >= FAILURES_BEFORE_LOCKOUT {
            let exp = (f.failures - FAILURES_BEFORE_LOCKOUT).min(20);
            f.locked_until = now + (1i64 << exp).min(MAX_LOCKOUT);
        }
        self.store.put(NS_FAIL, &key, &f).await
    }

    /// Reset the failure count after a successful sign-in.
    pub(crate) async fn record_success(&self, pool: &PoolDoc, name: &str) -> Result<(), Error> {
        self.store
            .delete(NS_FAIL, &Self::user_key(pool, name))
            .await?;
        Ok(())
    }

    // ---- tokens ------------------------------------------------------------------------

    /// The active signing key of a pool, unwrapped (cached by kid).
    async fn signing_key(&self, pool: &PoolDoc) -> Result<Arc<tokens::TokenSigner>, ApiError> {
        let k = tokens::active_key(pool)
            .ok_or_else(|| ApiError::internal(format!("pool {} has no signing key", pool.id)))?;
        let cache_key = format!("{}/{}", pool.id, k.kid);
        if let Ok(cache) = self.signing_keys.lock()
            && let Some(ek) = cache.get(&cache_key)
        {
            return Ok(ek.clone());
        }
        let ek = Arc::new(tokens::signer(&self.keys.signing_key, &pool.id, k)?);
        if let Ok(mut cache) = self.signing_keys.lock() {
            cache.insert(cache_key, ek.clone());
        }
        Ok(ek)
    }

    /// A fresh signing key. RSA generation runs on tokio's blocking pool at normal priority,
    /// not on the idle-class credential workers: it happens only when a pool is created or
    /// its key rotated, and an idle-class thread can wait without end on cores that uploads
    /// keep busy — which made creating a pool (the seed setup at start-up) hang there.
    pub(crate) async fn new_signing_key(
        &self,
        pool_id: &str,
        now: i64,
    ) -> Result<crate::model::SigningKeyDoc, Error> {
        let sealer = self.keys.signing_key.clone();
        let pool_id = pool_id.to_owned();
        tokio::task::spawn_blocking(move || tokens::generate_key(&sealer, &pool_id, now))
            .await
            .map_err(|e| Error::Crypto(format!("key generation: {e}")))?
    }

    async fn group_claims(
        &self,
        pool: &PoolDoc,
        u: &UserDoc,
    ) -> Result<(Vec<String>, Vec<String>, Option<String>), Error> {
        let mut groups: Vec<GroupDoc> = Vec::new();
        for g in &u.groups {
            if let Some((doc, _)) = self
                .store
                .get::<GroupDoc>(NS_GROUP, &format!("{}/{g}", pool.id))
                .await?
            {
                groups.push(doc);
            }
        }
        let names = groups.iter().map(|g| g.name.clone()).collect();
        let mut roles: Vec<String> = groups.iter().filter_map(|g| g.role_arn.clone()).collect();
        roles.sort();
        roles.dedup();
        // Preferred role: the role of the lowest-precedence group; unset on a tie with
        // different roles.
        let mut with_role: Vec<(i64, &String)> = groups
            .iter()
            .filter_map(|g| Some((g.precedence.unwrap_or(i64::MAX), g.role_arn.as_ref()?)))
            .collect();
        with_role.sort();
        let preferred = match with_role.as_slice() {
            [] => None,
            [(p, r), rest @ ..] => {
                if rest.iter().any(|(p2, r2)| p2 == p && r2 != r) {
                    None
                } else {
                    Some((*r).clone())
                }
            }
        };
        Ok((names, roles, preferred))
    }

    /// Mint ID and access tokens (and, for a new sign-in, a refresh token):
    /// `AuthenticationResult`.
    pub(crate) async fn issue_tokens(
        &self,
        pool: &PoolDoc,
        client: &ClientDoc,
        u: &UserDoc,
        family: Option<Family>,
        now: i64,
    ) -> Result<Value, ApiError> {
        let new_sign_in = family.is_none();
        let family = family.unwrap_or_else(|| Family {
            origin_jti: tokens::family_id(tick_ms(now)),
            auth_time: now,
        });
        let iss = self.issuer(&pool.id);
        let (groups, roles, preferred) = self.group_claims(pool, u).await?;
        let key = self.signing_key(pool).await?;

        let mut id = Map::new();
        id.insert("sub".into(), json!(u.sub));
        if !groups.is_empty() {
            id.insert("cognito:groups".into(), json!(groups));
        }
        if !roles.is_empty() {
            id.insert("cognito:roles".into(), json!(roles));
        }
        if let Some(p) = &preferred {
            id.insert("cognito:preferred_role".into(), json!(p));
        }
        for (k, v) in &u.attributes {
            let val = match k.as_str() {
                "email_verified" | "phone_number_verified" => json!(v == "true"),
                "updated_at" => v.parse::<i64>().map(|n| json!(n)).unwrap_or(json!(v)),
                _ => json!(v),
            };
            id.insert(k.clone(), val);
        }
        id.insert("iss".into(), json!(iss));
        id.insert("cognito:username".into(), json!(u.username));
        id.insert("origin_jti".into(), json!(family.origin_jti));
        id.insert("aud".into(), json!(client.client_id));
        let event_id = uuid::Uuid::new_v4().to_string();
        id.insert("event_id".into(), json!(event_id));
        id.insert("token_use".into(), json!("id"));
        id.insert("auth_time".into(), json!(family.auth_time));
        id.insert("exp".into(), json!(now + client.id_validity));
        id.insert("iat".into(), json!(now));
        id.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));

        let mut access = Map::new();
        access.insert("sub".into(), json!(u.sub));
        if !groups.is_empty() {
            access.insert("cognito:groups".into(), json!(groups));
        }
        access.insert("iss".into(), json!(iss));
        access.insert("client_id".into(), json!(client.client_id));
        access.insert("origin_jti".into(), json!(family.origin_jti));
        access.insert("event_id".into(), json!(event_id));
        access.insert("token_use".into(), json!("access"));
        access.insert("scope".into(), json!("aws.cognito.signin.user.admin"));
        access.insert("auth_time".into(), json!(family.auth_time));
        access.insert("exp".into(), json!(now + client.access_validity));
        access.insert("iat".into(), json!(now));
        access.insert("jti".into(), json!(uuid::Uuid::new_v4().to_string()));
        access.insert("username".into(), json!(u.username));

        // Two RSA signatures (~0.6 ms each): on the credential workers, like the SRP and
        // Argon2id work, so sign-ins never hold up the async workers that serve uploads;
        // with a pause between them (see `passwords::pause`).
        let (access_jwt, id_jwt) = self
            .hasher_run(move || {
                let access_jwt = key.sign(&access)?;
                crate::passwords::pause();
                Ok::<_, Error>((access_jwt, key.sign(&id)?))
            })
            .await??;
        let mut result = Map::new();
        result.insert("AccessToken".into(), json!(access_jwt));
        result.insert("ExpiresIn".into(), json!(client.access_validity));
        result.insert("TokenType".into(), json!("Bearer"));
        result.insert("IdToken".into(), json!(id_jwt));
        if new_sign_in {
            let rc = RefreshClaims {
                p: pool.id.clone(),
                c: client.client_id.clone(),
                u: u.username.clone(),
                s: u.sub.clone(),
                f: family.origin_jti.clone(),
                a: family.auth_time,
                i: now,
                e: now + client.refresh_validity,
            };
            let plain = serde_json::to_vec(&rc).map_err(ApiError::internal)?;
            result.insert(
                "RefreshToken".into(),
                json!(self.keys.refresh.seal_url(REFRESH_AAD, &plain)),
            );
        }
        Ok(Value::Object(result))
    }

    /// Open a refresh token (no validity checks).
    pub(crate) fn open_refresh(&self, token: &str) -> Option<RefreshClaims> {
        let raw = self.keys.refresh.open_url(REFRESH_AAD, token)?;
        serde_json::from_slice(&raw).ok()
    }

    /// Is a token family revoked (RevokeToken) or older than the user's global sign-out?
    pub(crate) async fn family_revoked(
        &self,
        pool_id: &str,
        family: &str,
        u: &UserDoc,
    ) -> Result<bool, Error> {
        let Some(started) = tokens::family_time(family) else {
            return Ok(true);
        };
        if started < u.signed_out_ms {
            return Ok(true);
        }
        Ok(self
            .store
            .get::<Value>(NS_REVOKED, &format!("{pool_id}/{family}"))
            .await?
            .is_some())
    }

    /// Revoke a family until `exp` (when its last refresh token expires).
    pub(crate) async fn revoke_family(
        &self,
        pool_id: &str,
        family: &str,
        exp: i64,
    ) -> Result<(), Error> {
        self.store
            .put(
                NS_REVOKED,
                &format!("{pool_id}/{family}"),
                &json!({ "exp": exp }),
            )
            .await
    }

    /// The pool a token claims to come from (its `iss`), before verification.
    fn token_pool_id(&self, token: &str) -> Option<String> {
        let payload = token.split('.').nth(1)?;
        let raw = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let v: Value = serde_json::from_slice(&raw).ok()?;
        let iss = v.get("iss")?.as_str()?;
        let id = iss.strip_prefix(&self.public_url)?.strip_prefix('/')?;
        valid_pool_id(id).then(|| id.to_owned())
    }

    /// Verify an access token for the end-user operations (GetUser, ChangePassword, …):
    /// signature, expiry, revocation, user enabled.
    pub(crate) async fn access_token_user(
        &self,
        token: &str,
        now: i64,
    ) -> Result<(PoolDoc, UserDoc, Map<String, Value>), ApiError> {
        let invalid = || ApiError::not_authorized("Invalid Access Token");
        let pool_id = self.token_pool_id(token).ok_or_else(invalid)?;
        let pool = self.pool(&pool_id).await?.ok_or_else(invalid)?;
        let claims = tokens::verify(&pool, &self.issuer(&pool_id), token, "access", now).map_err(
            |e| match e {
                tokens::TokenError::Expired => ApiError::not_authorized("Access Token has expired"),
                tokens::TokenError::Invalid => invalid(),
            },
        )?;
        let username = claims
            .get("username")
            .and_then(Value::as_str)
            .ok_or_else(invalid)?;
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or_else(invalid)?;
        let u = match self
            .store
            .get::<UserDoc>(NS_USER, &Self::user_key(&pool, username))
            .await?
        {
            Some((u, _)) if u.sub == sub => u,
            _ => return Err(ApiError::not_authorized("Access Token has been revoked")),
        };
        let family = claims
            .get("origin_jti")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if self.family_revoked(&pool.id, family, &u).await? {
            return Err(ApiError::not_authorized("Access Token has been revoked"));
        }
        if !u.enabled {
            return Err(ApiError::not_authorized("User is disabled."));
        }
        Ok((pool, u, claims))
    }

    /// The revocation check behind [`UserPools::is_token_revoked`].
    pub(crate) async fn token_revoked(&self, pool_id: &str, claims: &Value) -> Result<bool, Error> {
        let Some(pool) = self.pool(pool_id).await? else {
            return Ok(true);
        };
        let username = claims
            .get("cognito:username")
            .or_else(|| claims.get("username"))
            .and_then(Value::as_str);
        let (Some(username), Some(sub)) = (username, claims.get("sub").and_then(Value::as_str))
        else {
            return Ok(true);
        };
        let Some((u, _)) = self
            .store
            .get::<UserDoc>(NS_USER, &Self::user_key(&pool, username))
            .await?
        else {
            return Ok(true);
        };
        if u.sub != sub || !u.enabled {
            return Ok(true);
        }
        let family = claims
            .get("origin_jti")
            .and_then(Value::as_str)
            .unwrap_or_default();
        self.family_revoked(pool_id, family, &u).await
    }

    /// Rotate the signing key of a pool.
    pub(crate) async fn rotate_key(&self, pool_id: &str, now: i64) -> Result<String, ApiError> {
        let fresh = self.new_signing_key(pool_id, now).await?;
        let kid = fresh.kid.clone();
        self.store
            .update::<PoolDoc, ()>(NS_POOL, pool_id, |p| {
                for k in p.keys.iter_mut().filter(|k| k.retired.is_none()) {
                    k.retired = Some(now);
                    k.publish_until = Some(now + RETIRED_KEY_PUBLISH);
                }
                p.keys.retain(|k| k.publish_until.is_none_or(|t| t > now));
                p.keys.push(fresh.clone());
                Ok(())
            })
            .await?
            .ok_or_else(|| ApiError::not_found(format!("User pool {pool_id} does not exist.")))?;
        Ok(kid)
    }

    /// Remove expired single-use markers.
    pub(crate) async fn sweep_expired(&self, now: i64) -> Result<usize, Error> {
        let mut n = 0;
        for ns in [NS_SRP_USED, NS_REVOKED] {
            let mut after = String::new();
            loop {
                let page = self.store.list::<Value>(ns, "", &after, 500).await?;
                let Some((last, _)) = page.last() else { break };
                after = last.clone();
                let full = page.len() == 500;
                for (k, v) in page {
                    if v.get("exp")
                        .and_then(Value::as_i64)
                        .is_some_and(|e| e < now)
                    {
                        self.store.delete(ns, &k).await?;
                        n += 1;
                    }
                }
                if !full {
                    break;
                }
            }
        }
        Ok(n)
    }

    /// Mark a secret block used; `false` if it already was.
    pub(crate) async fn consume_secret_block(&self, id: &str, exp: i64) -> Result<bool, Error> {
        // Committed without waiting for an fsync: a sign-in must not hold SQLite's one writer
        // (and the uploads behind it) for a disk flush. The mark survives the process being
        // killed; only a power cut right after could forget it, reopening this one
        // TLS-protected response to a replay until the block expires.
        self.store
            .insert_mark(NS_SRP_USED, id, &json!({ "exp": exp }))
            .await
    }

    // ---- codes -------------------------------------------------------------------------

    /// The stored MAC of a code.
    pub(crate) fn code_mac(
        &self,
        pool_id: &str,
        username: &str,
        purpose: &str,
        code: &str,
    ) -> String {
        hex::encode(srp::hmac_sha256(
            &self.keys.mac,
            format!("code/{pool_id}/{username}/{purpose}/{code}").as_bytes(),
        ))
    }

    /// Deliver a code through the configured sender.
    pub(crate) async fn send_code(&self, msg: CodeMessage) -> Result<(), ApiError> {
        self.sender.send(&msg).await.map_err(|e| {
            tracing::warn!(error = %e, "code delivery failed");
            ApiError::new(
                "CodeDeliveryFailureException",
                "Unable to deliver the verification code.",
            )
        })
    }

    /// Run CPU-heavy work (SRP arithmetic) on the bounded blocking pool.
    pub(crate) async fn hasher_run<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, Error> {
        self.hasher.run(f).await
    }

    pub(crate) fn authorizer(&self) -> &dyn crate::AdminAuthorizer {
        self.authorizer.as_ref()
    }

    pub(crate) fn store(&self) -> &crate::store::Store {
        &self.store
    }

    pub(crate) fn keys(&self) -> &crate::seal::Keys {
        &self.keys
    }
}
