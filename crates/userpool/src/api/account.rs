//! End-user self-service: sign-up and confirmation, forgotten passwords, the signed-in user's
//! profile, password change, sign-out and token revocation.

use super::users::{apply_attributes, check_alias_free, check_attributes, new_user};
use super::{ApiResult, Req};
use crate::UserPools;
use crate::codes::{CodeKind, CodeMessage};
use crate::core::{mask, new_code, tick_ms};
use crate::error::ApiError;
use crate::model::{ClientDoc, CodeDoc, PoolDoc, UserDoc, status};
use crate::passwords::check_policy;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

/// Wrong guesses allowed per code.
const MAX_CODE_ATTEMPTS: u32 = 5;
/// Sign-up codes live a day, reset codes an hour (as on AWS).
const SIGNUP_CODE_TTL: i64 = 86_400;
const FORGOT_CODE_TTL: i64 = 3_600;

async fn client_of(up: &UserPools, req: &Req) -> Result<(PoolDoc, ClientDoc), ApiError> {
    up.client_and_pool(req.str("ClientId")?).await
}

/// Where a code for `u` goes: the pool's auto-verified attribute the user has.
fn delivery(pool: &PoolDoc, u: &UserDoc) -> Option<(&'static str, &'static str, String)> {
    let verified = |a: &str| pool.auto_verified_attributes.iter().any(|x| x == a);
    match (u.attributes.get("email"), u.attributes.get("phone_number")) {
        (Some(e), _) if verified("email") => Some(("EMAIL", "email", e.clone())),
        (_, Some(p)) if verified("phone_number") => Some(("SMS", "phone_number", p.clone())),
        _ => None,
    }
}

/// A fresh code for `purpose` on the user document; returns the clear code.
fn put_code(
    up: &UserPools,
    pool: &PoolDoc,
    u: &mut UserDoc,
    purpose: &str,
    ttl: i64,
    now: i64,
) -> String {
    let code = new_code();
    u.codes.retain(|c| c.purpose != purpose);
    u.codes.push(CodeDoc {
        purpose: purpose.to_owned(),
        mac: up.code_mac(&pool.id, &u.username, purpose, &code),
        expires: now + ttl,
        attempts: 0,
    });
    code
}

/// Check (and on success consume) a code. The outer result is for the store update, the inner
/// one is the verdict (attempt counts are written either way).
fn use_code(
    up: &UserPools,
    pool: &PoolDoc,
    u: &mut UserDoc,
    purpose: &str,
    code: &str,
    now: i64,
) -> Result<(), ApiError> {
    let expected_mac = up.code_mac(&pool.id, &u.username, purpose, code);
    let Some(c) = u.codes.iter_mut().find(|c| c.purpose == purpose) else {
        return Err(ApiError::new(
            "ExpiredCodeException",
            "Invalid code provided, please request a code again.",
        ));
    };
    if c.expires < now {
        return Err(ApiError::new(
            "ExpiredCodeException",
            "Invalid code provided, please request a code again.",
        ));
    }
    if c.attempts >= MAX_CODE_ATTEMPTS {
        return Err(ApiError::new(
            "LimitExceededException",
            "Attempt limit exceeded, please try after some time.",
        ));
    }
    if !bool::from(c.mac.as_bytes().ct_eq(expected_mac.as_bytes())) {
        c.attempts += 1;
        return Err(ApiError::new(
            "CodeMismatchException",
            "Invalid verification code provided, please try again.",
        ));
    }
    u.codes.retain(|c| c.purpose != purpose);
    Ok(())
}

fn delivery_json(d: &Option<(&'static str, &'static str, String)>) -> Option<Value> {
    d.as_ref().map(|(medium, attr, dest)| {
        json!({"Destination": mask(dest), "DeliveryMedium": medium, "AttributeName": attr})
    })
}

async fn send(
    up: &UserPools,
    pool: &PoolDoc,
    u: &UserDoc,
    kind: CodeKind,
    code: String,
    d: &Option<(&'static str, &'static str, String)>,
) -> Result<(), ApiError> {
    up.send_code(CodeMessage {
        kind,
        user_pool_id: pool.id.clone(),
        username: u.username.clone(),
        code,
        delivery_medium: d.as_ref().map(|(m, _, _)| (*m).to_owned()),
        destination: d.as_ref().map(|(_, _, dest)| dest.clone()),
    })
    .await
}

pub(crate) async fn sign_up(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let (pool, client) = client_of(up, req).await?;
    if pool.admin_create_user_only {
        return Err(ApiError::not_authorized(
            "SignUp is not permitted for this user pool",
        ));
    }
    let name = req.str("Username")?;
    let password = req.str("Password")?;
    up.check_secret_hash(&client, &[name], req.opt_str("SecretHash")?)?;
    let attrs = req.attributes("UserAttributes")?;
    if attrs.iter().any(|(n, _)| n.ends_with("_verified")) {
        return Err(ApiError::invalid(
            "Attributes did not conform to the schema: verified flags cannot be set at sign-up.",
        ));
    }
    let mut u = new_user(&pool, name, &attrs, now)?;
    check_policy(&pool.password_policy, password)
        .map_err(|m| ApiError::new("InvalidPasswordException", m))?;
    if up.find_user(&pool, name).await?.is_some() {
        return Err(ApiError::new(
            "UsernameExistsException",
            "User already exists",
        ));
    }
    let all: Vec<(String, String)> = u.attributes.clone().into_iter().collect();
    check_alias_free(up, &pool, &all, None).await?;
    u.password = Some(
        up.make_password(&pool.id, &u.username, password, false, now)
            .await?,
    );
    let code = put_code(up, &pool, &mut u, "signup", SIGNUP_CODE_TTL, now);
    if !up.insert_user(&pool, &u).await? {
        return Err(ApiError::new(
            "UsernameExistsException",
            "User already exists",
        ));
    }
    let d = delivery(&pool, &u);
    send(up, &pool, &u, CodeKind::SignUp, code, &d).await?;
    let mut out = json!({"UserConfirmed": false, "UserSub": u.sub});
    if let Some(cd) = delivery_json(&d) {
        out["CodeDeliveryDetails"] = cd;
    }
    Ok(out)
}

/// The user a self-service request names, or the existence-hiding / not-found error.
async fn named_user(
    up: &UserPools,
    pool: &PoolDoc,
    client: &ClientDoc,
    name: &str,
    hidden: ApiError,
) -> Result<UserDoc, ApiError> {
    match up.find_user(pool, name).await? {
        Some(u) => Ok(u),
        None if client.prevent_user_existence_errors => Err(hidden),
        None => Err(ApiError::user_not_found()),
    }
}

pub(crate) async fn confirm_sign_up(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let (pool, client) = client_of(up, req).await?;
    let name = req.str("Username")?;
    let code = req.str("ConfirmationCode")?;
    let u = named_user(
        up,
        &pool,
        &client,
        name,
        ApiError::new(
            "CodeMismatchException",
            "Invalid verification code provided, please try again.",
        ),
    )
    .await?;
    up.check_secret_hash(&client, &[name, &u.username], req.opt_str("SecretHash")?)?;
    if u.status != status::UNCONFIRMED {
        return Err(ApiError::not_authorized(format!(
            "User cannot be confirmed. Current status is {}",
            u.status
        )));
    }
    let d = delivery(&pool, &u);
    let (_, verdict) = up
        .update_user(&pool, &u.username, |u| {
            let v = use_code(up, &pool, u, "signup", code, now);
            if v.is_ok() {
                u.status = status::CONFIRMED.into();
                if let Some((_, attr, _)) = &d {
                    u.attributes
                        .insert(format!("{attr}_verified"), "true".into());
                }
                u.modified = now;
            }
            Ok(v)
        })
        .await?;
    verdict?;
    Ok(json!({}))
}

pub(crate) async fn resend_confirmation_code(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let (pool, client) = client_of(up, req).await?;
    let name = req.str("Username")?;
    let u = named_user(
        up,
        &pool,
        &client,
        name,
        ApiError::new("InvalidParameterException", "User is already confirmed."),
    )
    .await?;
    up.check_secret_hash(&client, &[name, &u.username], req.opt_str("SecretHash")?)?;
    if u.status != status::UNCONFIRMED {
        return Err(ApiError::invalid("User is already confirmed."));
    }
    let (u, code) = up
        .update_user(&pool, &u.username, |u| {
            Ok(put_code(up, &pool, u, "signup", SIGNUP_CODE_TTL, now))
        })
        .await?;
    let d = delivery(&pool, &u);
    send(up, &pool, &u, CodeKind::SignUp, code, &d).await?;
    let mut out = json!({});
    if let Some(cd) = delivery_json(&d) {
        out["CodeDeliveryDetails"] = cd;
    }
    Ok(out)
}

/// Issue and deliver a password-reset code; `admin` (AdminResetUserPassword) also forces the
/// reset (status RESET_REQUIRED).
pub(crate) async fn start_forgot(
    up: &UserPools,
    pool: &PoolDoc,
    u: &UserDoc,
    now: i64,
    admin: bool,
) -> Result<Option<Value>, ApiError> {
    let (u, code) = up
        .update_user(pool, &u.username, |u| {
            if admin {
                u.status = status::RESET_REQUIRED.into();
                u.modified = now;
            }
            Ok(put_code(up, pool, u, "forgot", FORGOT_CODE_TTL, now))
        })
        .await?;
    let d = delivery(pool, &u).or_else(|| {
        u.attributes
            .get("email")
            .map(|e| ("EMAIL", "email", e.clone()))
    });
    send(up, pool, &u, CodeKind::ForgotPassword, code, &d).await?;
    Ok(delivery_json(&d))
}

pub(crate) async fn forgot_password(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let (pool, client) = client_of(up, req).await?;
    let name = req.str("Username")?;
    let Some(u) = up.find_user(&pool, name).await? else {
        if client.prevent_user_existence_errors {
            up.check_secret_hash(&client, &[name], req.opt_str("SecretHash")?)?;
            // Look the same as a real delivery.
            return Ok(json!({"CodeDeliveryDetails": {
                "Destination": mask(&format!("{name}@example.com")), "DeliveryMedium": "EMAIL",
                "AttributeName": "email"}}));
        }
        return Err(ApiError::user_not_found());
    };
    up.check_secret_hash(&client, &[name, &u.username], req.opt_str("SecretHash")?)?;
    if !u.enabled {
        return Err(ApiError::not_authorized("User is disabled."));
    }
    let d = start_forgot(up, &pool, &u, now, false).await?;
    let mut out = json!({});
    if let Some(cd) = d {
        out["CodeDeliveryDetails"] = cd;
    }
    Ok(out)
}

pub(crate) async fn confirm_forgot_password(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let (pool, client) = client_of(up, req).await?;
    let name = req.str("Username")?;
    let code = req.str("ConfirmationCode")?;
    let password = req.str("Password")?;
    let u = named_user(
        up,
        &pool,
        &client,
        name,
        ApiError::new(
            "CodeMismatchException",
            "Invalid verification code provided, please try again.",
        ),
    )
    .await?;
    up.check_secret_hash(&client, &[name, &u.username], req.opt_str("SecretHash")?)?;
    check_policy(&pool.password_policy, password)
        .map_err(|m| ApiError::new("InvalidPasswordException", m))?;
    let pw = up
        .make_password(&pool.id, &u.username, password, false, now)
        .await?;
    let (_, verdict) = up
        .update_user(&pool, &u.username, |u| {
            let v = use_code(up, &pool, u, "forgot", code, now);
            if v.is_ok() {
                u.password = Some(pw.clone());
                u.status = status::CONFIRMED.into();
                u.modified = now;
            }
            Ok(v)
        })
        .await?;
    verdict?;
    up.record_success(&pool, &u.username).await?;
    Ok(json!({}))
}

pub(crate) async fn get_user(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let (_, u, _) = up.access_token_user(req.str("AccessToken")?, now).await?;
    Ok(json!({"Username": u.username, "UserAttributes": UserPools::attributes_json(&u)}))
}

pub(crate) async fn update_user_attributes(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let (pool, u, _) = up.access_token_user(req.str("AccessToken")?, now).await?;
    let attrs = req.attributes("UserAttributes")?;
    if attrs.iter().any(|(n, _)| n.ends_with("_verified")) {
        return Err(ApiError::not_authorized(
            "A client attempted to write unauthorized attribute",
        ));
    }
    check_attributes(&pool, &attrs)?;
    check_alias_free(up, &pool, &attrs, Some(&u.username)).await?;
    up.update_user(&pool, &u.username, |u| {
        apply_attributes(u, &attrs);
        u.modified = now;
        Ok(())
    })
    .await?;
    Ok(json!({ "CodeDeliveryDetailsList": [] }))
}

pub(crate) async fn delete_user(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let (pool, u, _) = up.access_token_user(req.str("AccessToken")?, now).await?;
    up.delete_user(&pool, &u).await?;
    Ok(json!({}))
}

pub(crate) async fn change_password(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let (pool, u, _) = up.access_token_user(req.str("AccessToken")?, now).await?;
    let previous = req.str("PreviousPassword")?;
    let proposed = req.str("ProposedPassword")?;
    let failures = up.check_throttle(&pool, &u.username, now).await?;
    if !up.verify_password(&u, previous).await? {
        up.record_failure(&pool, &u.username, now).await?;
        return Err(ApiError::not_authorized("Incorrect username or password."));
    }
    check_policy(&pool.password_policy, proposed)
        .map_err(|m| ApiError::new("InvalidPasswordException", m))?;
    let pw = up
        .make_password(&pool.id, &u.username, proposed, false, now)
        .await?;
    up.update_user(&pool, &u.username, |u| {
        u.password = Some(pw.clone());
        u.modified = now;
        Ok(())
    })
    .await?;
    up.clear_failures(&pool, &u.username, failures).await?;
    Ok(json!({}))
}

pub(crate) async fn global_sign_out(up: &UserPools, req: &Req, now: i64) -> ApiResult {
    let (pool, u, _) = up.access_token_user(req.str("AccessToken")?, now).await?;
    let stamp = tick_ms(now);
    up.update_user(&pool, &u.username, |u| {
        u.signed_out_ms = u.signed_out_ms.max(stamp);
        Ok(())
    })
    .await?;
    Ok(json!({}))
}

pub(crate) async fn revoke_token(up: &UserPools, req: &Req, _now: i64) -> ApiResult {
    let (pool, client) = client_of(up, req).await?;
    let token = req.str("Token")?;
    up.check_client_secret(&client, req.opt_str("ClientSecret")?)?;
    if !client.enable_token_revocation {
        return Err(ApiError::new(
            "UnsupportedOperationException",
            "Token revocation is not enabled for this client.",
        ));
    }
    let Some(rc) = up.open_refresh(token) else {
        if token.split('.').count() == 3 {
            return Err(ApiError::new(
                "UnsupportedTokenTypeException",
                "Only refresh tokens can be revoked.",
            ));
        }
        return Err(ApiError::not_authorized("Invalid token"));
    };
    if rc.p != pool.id || rc.c != client.client_id {
        return Err(ApiError::not_authorized(
            "The token was not issued to this client.",
        ));
    }
    up.revoke_family(&pool.id, &rc.f, rc.e).await?;
    Ok(json!({}))
}
