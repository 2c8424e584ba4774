//! Sign-in: InitiateAuth / AdminInitiateAuth (USER_SRP_AUTH, USER_PASSWORD_AUTH,
//! ADMIN_USER_PASSWORD_AUTH, REFRESH_TOKEN_AUTH), RespondToAuthChallenge (PASSWORD_VERIFIER,
//! NEW_PASSWORD_REQUIRED) and GetTokensFromRefreshToken.

use super::pools::effective_flows;
use super::users::{apply_attributes, check_alias_free, check_attributes};
use super::{ApiResult, Req, param};
use crate::UserPools;
use crate::core::Family;
use crate::error::ApiError;
use crate::model::{ClientDoc, PoolDoc, UserDoc, status};
use crate::passwords::check_policy;
use crate::srp;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

const WRONG_PASSWORD: &str = "Incorrect username or password.";
const SESSION_EXPIRED: &str = "Invalid session for the user, session is expired.";

/// The server state of an SRP challenge, sealed into `SECRET_BLOCK`.
#[derive(Serialize, Deserialize)]
struct SecretBlock {
    /// Single-use id.
    id: String,
    /// Pool id.
    p: String,
    /// Client id.
    c: String,
    /// USER_ID_FOR_SRP (internal username, or the typed name for a decoy).
    u: String,
    /// No such user: the challenge is a decoy and always fails.
    d: bool,
    /// Server secret `b` (hex).
    b: String,
    /// Client public `A` (hex).
    a: String,
    /// Server public `B` (hex), so checking the answer saves one modular exponentiation.
    /// Empty in blocks sealed before it was kept: then `B` is recomputed from `b` and `v`.
    #[serde(default)]
    bp: String,
    /// Issued at.
    t: i64,
    /// Started by AdminInitiateAuth.
    adm: bool,
}

/// The state of a NEW_PASSWORD_REQUIRED challenge, sealed into `Session`.
#[derive(Serialize, Deserialize)]
struct SessionClaims {
    id: String,
    p: String,
    c: String,
    u: String,
    k: String,
    e: i64,
    adm: bool,
}

const SESSION_AAD: &[u8] = b"cubby-userpool-session";

fn random_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

async fn client_for(
    up: &UserPools,
    req: &Req,
    admin: bool,
) -> Result<(PoolDoc, ClientDoc), ApiError> {
    let client_id = req.str("ClientId")?;
    let (pool, client) = up.client_and_pool(client_id).await?;
    if admin && req.str("UserPoolId")? != pool.id {
        return Err(ApiError::not_found(format!(
            "User pool client {client_id} does not exist."
        )));
    }
    Ok((pool, client))
}

fn missing(name: &str) -> ApiError {
    ApiError::invalid(format!("Missing required parameter {name}"))
}

fn tokens_response(result: Value) -> Value {
    json!({ "ChallengeParameters": {}, "AuthenticationResult": result })
}

pub(crate) async fn initiate_auth(up: &UserPools, req: &Req, admin: bool, now: i64) -> ApiResult {
    let (pool, client) = client_for(up, req, admin).await?;
    let flow = req.str("AuthFlow")?;
    let params = req.str_map("AuthParameters")?;
    let flows = effective_flows(&client);
    let not_enabled = |f: &str| ApiError::invalid(format!("{f} flow not enabled for this client"));
    match flow {
        "USER_SRP_AUTH" => {
            if !flows.contains(&"ALLOW_USER_SRP_AUTH") {
                return Err(not_enabled(flow));
            }
            srp_start(up, &pool, &client, &params, admin, now).await
        }
        "USER_PASSWORD_AUTH" if !admin => {
            if !flows.contains(&"ALLOW_USER_PASSWORD_AUTH") {
                return Err(not_enabled(flow));
            }
            password_auth(up, &pool, &client, &params, admin, now).await
        }
        "ADMIN_USER_PASSWORD_AUTH" | "ADMIN_NO_SRP_AUTH" if admin => {
            if !flows.contains(&"ALLOW_ADMIN_USER_PASSWORD_AUTH") {
                return Err(ApiError::invalid("Auth flow not enabled for this client"));
            }
            password_auth(up, &pool, &client, &params, admin, now).await
        }
        "REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN" => {
            let token = param(&params, "REFRESH_TOKEN").ok_or_else(|| missing("REFRESH_TOKEN"))?;
            let rc = up
                .open_refresh(token)
                .ok_or_else(|| ApiError::not_authorized("Invalid Refresh Token"))?;
            let mut names = vec![rc.u.as_str()];
            if let Some(u) = param(&params, "USERNAME") {
                names.push(u);
            }
            up.check_secret_hash(&client, &names, param(&params, "SECRET_HASH"))?;
            let result = refresh(up, &pool, &client, token, now).await?;
            Ok(tokens_response(result))
        }
        "CUSTOM_AUTH" | "USER_AUTH" => Err(ApiError::invalid(format!(
            "The {flow} flow is not supported by cubby's user pools."
        ))),
        other => Err(ApiError::invalid(format!("Invalid AuthFlow {other}"))),
    }
}

/// The checks after a proven password: enabled, status, temporary password.
async fn after_password(
    up: &UserPools,
    pool: &PoolDoc,
    client: &ClientDoc,
    u: &UserDoc,
    admin: bool,
    now: i64,
) -> ApiResult {
    if !u.enabled {
        return Err(ApiError::not_authorized("User is disabled."));
    }
    match u.status.as_str() {
        status::UNCONFIRMED => Err(ApiError::new(
            "UserNotConfirmedException",
            "User is not confirmed.",
        )),
        status::RESET_REQUIRED => Err(ApiError::new(
            "PasswordResetRequiredException",
            "Password reset required for the user",
        )),
        status::FORCE_CHANGE_PASSWORD => {
            let set_at = u.password.as_ref().map(|p| p.set_at).unwrap_or(0);
            let validity =
                i64::from(pool.password_policy.temporary_password_validity_days) * 86_400;
            if now > set_at + validity {
                return Err(ApiError::not_authorized(
                    "Temporary password has expired and must be reset by an administrator.",
                ));
            }
            let claims = SessionClaims {
                id: random_id(),
                p: pool.id.clone(),
                c: client.client_id.clone(),
                u: u.username.clone(),
                k: "NEW_PASSWORD_REQUIRED".into(),
                e: now + client.auth_session_validity * 60,
                adm: admin,
            };
            let plain = serde_json::to_vec(&claims).map_err(ApiError::internal)?;
            let session = up.keys().session.seal_url(SESSION_AAD, &plain);
            let attrs: Map<String, Value> = u
                .attributes
                .iter()
                .filter(|(k, _)| !k.ends_with("_verified"))
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            Ok(json!({
                "ChallengeName": "NEW_PASSWORD_REQUIRED",
                "Session": session,
                "ChallengeParameters": {
                    "USER_ID_FOR_SRP": u.username,
                    "requiredAttributes": "[]",
                    "userAttributes": Value::Object(attrs).to_string(),
                }
            }))
        }
        _ => Ok(tokens_response(
            up.issue_tokens(pool, client, u, None, now).await?,
        )),
    }
}

async fn password_auth(
    up: &UserPools,
    pool: &PoolDoc,
    client: &ClientDoc,
    params: &Map<String, Value>,
    admin: bool,
    now: i64,
) -> ApiResult {
    let name = param(params, "USERNAME").ok_or_else(|| missing("USERNAME"))?;
    let password = param(params, "PASSWORD").ok_or_else(|| missing("PASSWORD"))?;
    let user = up.find_user(pool, name).await?;
    let internal = user.as_ref().map(|u| u.username.as_str()).unwrap_or(name);
    up.check_secret_hash(client, &[name, internal], param(params, "SECRET_HASH"))?;
    let failures = up.check_throttle(pool, internal, now).await?;
    let Some(u) = user else {
        up.verify_dummy(password).await?;
        up.record_failure(pool, name, now).await?;
        return Err(if client.prevent_user_existence_errors {
            ApiError::not_authorized(WRONG_PASSWORD)
        } else {
            ApiError::user_not_found()
        });
    };
    if !up.verify_password(&u, password).await? {
        up.record_failure(pool, &u.username, now).await?;
        return Err(ApiError::not_authorized(WRONG_PASSWORD));
    }
    up.clear_failures(pool, &u.username, failures).await?;
    after_password(up, pool, client, &u, admin, now).await
}

async fn srp_start(
    up: &UserPools,
    pool: &PoolDoc,
    client: &ClientDoc,
    params: &Map<String, Value>,
    admin: bool,
    now: i64,
) -> ApiResult {
    let name = param(params, "USERNAME").ok_or_else(|| missing("USERNAME"))?;
    let a_hex = param(params, "SRP_A").ok_or_else(|| missing("SRP_A"))?;
    let a_pub = srp::parse_hex(a_hex).ok_or_else(|| ApiError::invalid("Invalid SRP_A"))?;
    srp::check_a(&a_pub).map_err(|_| ApiError::invalid("Invalid SRP_A"))?;
    let user = up.find_user(pool, name).await?;
    let internal = user.as_ref().map(|u| u.username.clone());
    up.check_secret_hash(
        client,
        &[name, internal.as_deref().unwrap_or(name)],
        param(params, "SECRET_HASH"),
    )?;
    let (user_id, salt, v, decoy) = match &user {
        Some(u) => match (up.open_verifier(&pool.id, u), u.password.as_ref()) {
            (Some(v), Some(pw)) => (u.username.clone(), pw.srp_salt.clone(), v, false),
            _ => {
                let (s, v) = up.decoy_srp(&pool.id, &u.username);
                (u.username.clone(), s, v, true)
            }
        },
        None => {
            if !client.prevent_user_existence_errors {
                return Err(ApiError::user_not_found());
            }
            let (s, v) = up.decoy_srp(&pool.id, name);
            (name.to_owned(), s, v, true)
        }
    };
    // Only looks: InitiateAuth proves nothing, so it clears nothing.
    let _ = up.check_throttle(pool, &user_id, now).await?;
    let (b, b_pub) = up
        .hasher_run(move || {
            srp::server_ephemeral_paced(&v, rand::random, &mut crate::passwords::pause)
        })
        .await?;
    let block = SecretBlock {
        id: random_id(),
        p: pool.id.clone(),
        c: client.client_id.clone(),
        u: user_id.clone(),
        d: decoy,
        b: srp::to_hex(&b),
        a: srp::to_hex(&a_pub),
        bp: srp::to_hex(&b_pub),
        t: now,
        adm: admin,
    };
    let plain = serde_json::to_vec(&block).map_err(ApiError::internal)?;
    let secret_block = up.keys().secret_block.seal_b64(pool.id.as_bytes(), &plain);
    Ok(json!({
        "ChallengeName": "PASSWORD_VERIFIER",
        "ChallengeParameters": {
            "SALT": salt,
            "SECRET_BLOCK": secret_block,
            "SRP_B": srp::to_hex(&b_pub),
            "USERNAME": user_id,
            "USER_ID_FOR_SRP": user_id,
        }
    }))
}

pub(crate) async fn respond_to_auth_challenge(
    up: &UserPools,
    req: &Req,
    admin: bool,
    now: i64,
) -> ApiResult {
    let (pool, client) = client_for(up, req, admin).await?;
    let challenge = req.str("ChallengeName")?;
    let responses = req.str_map("ChallengeResponses")?;
    match challenge {
        "PASSWORD_VERIFIER" => password_verifier(up, &pool, &client, &responses, admin, now).await,
        "NEW_PASSWORD_REQUIRED" => {
            new_password_required(up, &pool, &client, req, &responses, admin, now).await
        }
        other => Err(ApiError::invalid(format!(
            "The challenge {other} is not supported by cubby's user pools."
        ))),
    }
}

async fn password_verifier(
    up: &UserPools,
    pool: &PoolDoc,
    client: &ClientDoc,
    r: &Map<String, Value>,
    admin: bool,
    now: i64,
) -> ApiResult {
    let name = param(r, "USERNAME").ok_or_else(|| missing("USERNAME"))?;
    let block_b64 = param(r, "PASSWORD_CLAIM_SECRET_BLOCK")
        .ok_or_else(|| missing("PASSWORD_CLAIM_SECRET_BLOCK"))?;
    let timestamp = param(r, "TIMESTAMP").ok_or_else(|| missing("TIMESTAMP"))?;
    let signature =
        param(r, "PASSWORD_CLAIM_SIGNATURE").ok_or_else(|| missing("PASSWORD_CLAIM_SIGNATURE"))?;
    if timestamp.len() > 64 {
        return Err(ApiError::invalid("Invalid TIMESTAMP"));
    }
    let wrong = || ApiError::not_authorized(WRONG_PASSWORD);
    let plain = up
        .keys()
        .secret_block
        .open_b64(pool.id.as_bytes(), block_b64)
        .ok_or_else(wrong)?;
    let block: SecretBlock = serde_json::from_slice(&plain).map_err(|_| wrong())?;
    if block.p != pool.id || block.c != client.client_id || block.adm != admin {
        return Err(wrong());
    }
    let expires = block.t + client.auth_session_validity * 60;
    if now > expires {
        return Err(ApiError::not_authorized(SESSION_EXPIRED));
    }
    up.check_secret_hash(client, &[name, &block.u], param(r, "SECRET_HASH"))?;
    // USERNAME must name the challenged user (clients echo USERNAME or USER_ID_FOR_SRP).
    if name != block.u {
        let same = up
            .find_user(pool, name)
            .await?
            .is_some_and(|u| u.username == block.u);
        if !same {
            return Err(wrong());
        }
    }
    if !up.consume_secret_block(&block.id, expires).await? {
        return Err(wrong());
    }
    let failures = up.check_throttle(pool, &block.u, now).await?;
    let user = if block.d {
        None
    } else {
        up.store()
            .get::<UserDoc>(crate::store::NS_USER, &UserPools::user_key(pool, &block.u))
            .await?
            .map(|(u, _)| u)
    };
    let verifier = user.as_ref().and_then(|u| up.open_verifier(&pool.id, u));
    let (Some(u), Some(v)) = (user, verifier) else {
        up.record_failure(pool, &block.u, now).await?;
        return Err(wrong());
    };
    let (a_pub, b) = match (srp::parse_hex(&block.a), srp::parse_hex(&block.b)) {
        (Some(a), Some(b)) => (a, b),
        _ => return Err(wrong()),
    };
    let b_pub = srp::parse_hex(&block.bp);
    let block_bytes = STANDARD.decode(block_b64.trim()).map_err(|_| wrong())?;
    let pool_name = srp::pool_name(&pool.id).to_owned();
    let user_id = block.u.clone();
    let ts = timestamp.to_owned();
    let expected = up
        .hasher_run(move || {
            let b_pub = b_pub
                .unwrap_or_else(|| srp::server_public_paced(&v, &b, &mut crate::passwords::pause));
            srp::server_key_paced(&a_pub, &b_pub, &b, &v, &mut crate::passwords::pause)
                .map(|k| srp::claim_signature(&k, &pool_name, &user_id, &block_bytes, &ts))
        })
        .await?;
    let provided = STANDARD.decode(signature.trim()).unwrap_or_default();
    let ok = expected.is_ok_and(|e| srp::signature_matches(&e, &provided));
    if !ok {
        up.record_failure(pool, &u.username, now).await?;
        return Err(wrong());
    }
    up.clear_failures(pool, &u.username, failures).await?;
    after_password(up, pool, client, &u, admin, now).await
}

async fn new_password_required(
    up: &UserPools,
    pool: &PoolDoc,
    client: &ClientDoc,
    req: &Req,
    r: &Map<String, Value>,
    admin: bool,
    now: i64,
) -> ApiResult {
    let expired = || ApiError::not_authorized(SESSION_EXPIRED);
    let session = req.opt_str("Session")?.ok_or_else(|| missing("Session"))?;
    let plain = up
        .keys()
        .session
        .open_url(SESSION_AAD, session)
        .ok_or_else(expired)?;
    let s: SessionClaims = serde_json::from_slice(&plain).map_err(|_| expired())?;
    if s.p != pool.id
        || s.c != client.client_id
        || s.k != "NEW_PASSWORD_REQUIRED"
        || s.adm != admin
        || now > s.e
    {
        return Err(expired());
    }
    let name = param(r, "USERNAME").ok_or_else(|| missing("USERNAME"))?;
    up.check_secret_hash(client, &[name, &s.u], param(r, "SECRET_HASH"))?;
    let new_password = param(r, "NEW_PASSWORD").ok_or_else(|| missing("NEW_PASSWORD"))?;
    check_policy(&pool.password_policy, new_password)
        .map_err(|m| ApiError::new("InvalidPasswordException", m))?;
    let attrs: Vec<(String, String)> = r
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.strip_prefix("userAttributes.")?.to_owned(),
                v.as_str()?.to_owned(),
            ))
        })
        .collect();
    check_attributes(pool, &attrs)?;
    check_alias_free(up, pool, &attrs, Some(&s.u)).await?;
    if !up.consume_secret_block(&s.id, s.e).await? {
        return Err(expired());
    }
    let pw = up
        .make_password(&pool.id, &s.u, new_password, false, now)
        .await?;
    let (u, ()) = up
        .update_user(pool, &s.u, |u| {
            if u.status != status::FORCE_CHANGE_PASSWORD {
                return Err(expired());
            }
            u.password = Some(pw.clone());
            u.status = status::CONFIRMED.into();
            apply_attributes(u, &attrs);
            u.modified = now;
            Ok(())
        })
        .await?;
    after_password(up, pool, client, &u, admin, now).await
}

/// Validate a refresh token for `client` and mint new ID and access tokens.
pub(crate) async fn refresh(
    up: &UserPools,
    pool: &PoolDoc,
    client: &ClientDoc,
    token: &str,
    now: i64,
) -> Result<Value, ApiError> {
    let invalid = || ApiError::not_authorized("Invalid Refresh Token");
    let revoked = || ApiError::not_authorized("Refresh Token has been revoked");
    let rc = up.open_refresh(token).ok_or_else(invalid)?;
    if rc.p != pool.id || rc.c != client.client_id {
        return Err(invalid());
    }
    if rc.e <= now {
        return Err(ApiError::not_authorized("Refresh Token has expired"));
    }
    let u = match up
        .store()
        .get::<UserDoc>(crate::store::NS_USER, &UserPools::user_key(pool, &rc.u))
        .await?
    {
        Some((u, _)) if u.sub == rc.s => u,
        _ => return Err(revoked()),
    };
    if up.family_revoked(&pool.id, &rc.f, &u).await? {
        return Err(revoked());
    }
    if !u.enabled {
        return Err(ApiError::not_authorized("User is disabled."));
    }
    if u.status != status::CONFIRMED {
        return Err(revoked());
    }
    up.issue_tokens(
        pool,
        client,
        &u,
        Some(Family {
            origin_jti: rc.f,
            auth_time: rc.a,
        }),
        now,
    )
    .await
}

pub(crate) async fn get_tokens_from_refresh_token(
    up: &UserPools,
    req: &Req,
    now: i64,
) -> ApiResult {
    let (pool, client) = client_for(up, req, false).await?;
    let token = req.str("RefreshToken")?;
    up.check_client_secret(&client, req.opt_str("ClientSecret")?)?;
    let result = refresh(up, &pool, &client, token, now).await?;
    Ok(json!({ "AuthenticationResult": result }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A challenge issued by a server that did not yet keep `B` in the block (a rolling
    /// upgrade, or an answer in flight across a restart) is still answerable: `B` is recomputed.
    #[test]
    fn secret_blocks_without_b_still_open() {
        let old = r#"{"id":"x","p":"us-east-1_Ab","c":"c","u":"u","d":false,"b":"ff","a":"ee","t":1,"adm":false}"#;
        let block: SecretBlock = serde_json::from_str(old).unwrap();
        assert!(srp::parse_hex(&block.bp).is_none());
        let v = srp::verifier("Ab", "u", "pw", &srp::new_salt([1; 16]));
        let b = srp::parse_hex(&block.b).unwrap();
        let kept = SecretBlock {
            bp: srp::to_hex(&srp::server_public(&v, &b)),
            ..block
        };
        let round: SecretBlock =
            serde_json::from_slice(&serde_json::to_vec(&kept).unwrap()).unwrap();
        assert_eq!(srp::parse_hex(&round.bp), Some(srp::server_public(&v, &b)));
    }
}
