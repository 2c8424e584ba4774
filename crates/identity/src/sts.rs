//! STS (`Version=2011-06-15`): AssumeRoleWithWebIdentity (unsigned), AssumeRole and
//! GetCallerIdentity (signed).

use crate::Identity;
use crate::assume::SessionSpec;
use crate::authority::Who;
use crate::iam::base_keys;
use crate::jwt::{self, COGNITO_ISSUER, COGNITO_PROVIDER, Expect, JwtError};
use crate::model::OidcProvider;
use crate::query::{ApiError, AuthFailure, Params};
use crate::session::Minted;
use crate::store::NS_OIDC;
use crate::xml::Xml;
use cubby_policy::{PolicyKind, Principal};
use http::StatusCode;
use http::request::Parts;
use serde_json::Value;
use std::net::SocketAddr;

/// Largest inline session policy (characters), as STS.
const MAX_SESSION_POLICY: usize = 2048;
/// Budget for session policy + tags, the base of `PackedPolicySize` (percent).
const PACKED_BUDGET: usize = 2048;

fn invalid_token(message: impl Into<String>) -> ApiError {
    ApiError::new("InvalidIdentityToken", StatusCode::BAD_REQUEST, message)
}

fn not_authorized(action: &str) -> ApiError {
    ApiError::access_denied(format!("Not authorized to perform {action}"))
}

/// `<Credentials>…</Credentials>`.
pub(crate) fn credentials_xml(x: &mut Xml, m: &Minted) {
    x.open("Credentials")
        .elem("AccessKeyId", &m.access_key_id)
        .elem("SecretAccessKey", &m.secret_access_key)
        .elem("SessionToken", &m.session_token)
        .elem("Expiration", &crate::util::iso8601(m.expires_at))
        .close("Credentials");
}

fn check_session_name(name: &str) -> Result<(), ApiError> {
    let constraint = if name.len() < 2 {
        "Member must have length greater than or equal to 2"
    } else if name.len() > 64 {
        "Member must have length less than or equal to 64"
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        "Member must satisfy regular expression pattern: [\\w+=,.@-]*"
    } else {
        return Ok(());
    };
    Err(ApiError::validation(format!(
        "1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: {constraint}"
    )))
}

/// Session policy parameters: `Policy` and `PolicyArns.member.N.arn`.
async fn session_policies(
    id: &Identity,
    p: &Params,
    now: i64,
) -> Result<(Option<String>, Vec<String>), ApiError> {
    let policy = match p.get("Policy").filter(|s| !s.is_empty()) {
        Some(text) => {
            if text.chars().count() > MAX_SESSION_POLICY {
                return Err(ApiError::new(
                    "PackedPolicyTooLarge",
                    StatusCode::BAD_REQUEST,
                    "Packed policy consumes more than 100% of the allotted space.",
                ));
            }
            cubby_policy::Policy::parse_as(text, PolicyKind::Identity).map_err(|e| {
                ApiError::new(
                    "MalformedPolicyDocument",
                    StatusCode::BAD_REQUEST,
                    format!("The policy is not in the valid JSON format: {e}"),
                )
            })?;
            Some(text.to_owned())
        }
        None => None,
    };
    let mut arns = Vec::new();
    for i in 1..=11 {
        let Some(arn) = p.get(&format!("PolicyArns.member.{i}.arn")) else {
            break;
        };
        if i > 10 {
            return Err(ApiError::validation(
                "1 validation error detected: Value at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to 10",
            ));
        }
        if id.managed_entry(arn, now).await?.is_none() {
            return Err(ApiError::new(
                "MalformedPolicyDocument",
                StatusCode::BAD_REQUEST,
                format!("Policy {arn} does not exist or is not attachable."),
            ));
        }
        arns.push(arn.to_owned());
    }
    Ok((policy, arns))
}

fn packed_size(policy: Option<&str>, tags: &[(String, String)]) -> Result<usize, ApiError> {
    let used = policy.map_or(0, str::len)
        + tags
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum::<usize>();
    let pct = used * 100 / PACKED_BUDGET;
    if pct > 100 {
        return Err(ApiError::new(
            "PackedPolicyTooLarge",
            StatusCode::BAD_REQUEST,
            format!(
                "Packed policy consumes {pct}% of the allotted space, please use smaller policy."
            ),
        ));
    }
    Ok(pct)
}

fn duration(p: &Params, max: i64) -> Result<i64, ApiError> {
    let d = p.int("DurationSeconds")?.unwrap_or(3600);
    if d < 900 {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
        )));
    }
    if d > max {
        return Err(ApiError::validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    Ok(d)
}

/// A verified web identity: who issued it and the keys it puts in the context.
pub(crate) struct WebIdentity {
    /// Trust-policy principal (`cognito-identity.amazonaws.com` or an OIDC provider ARN).
    pub principal: String,
    /// Value of `<Provider>` in the response.
    pub provider_display: String,
    pub subject: String,
    pub audience: String,
    pub web_keys: Vec<(String, Vec<String>)>,
    pub claims: serde_json::Map<String, Value>,
}

fn jwt_to_sts(e: JwtError, now: i64) -> ApiError {
    match e {
        JwtError::Expired { exp, .. } => ApiError::new(
            "ExpiredTokenException",
            StatusCode::BAD_REQUEST,
            format!(
                "Token expired: current date/time {} must be before the expiration date/time {}",
                crate::util::iso8601(now),
                crate::util::iso8601(exp)
            ),
        ),
        JwtError::WrongAudience => invalid_token("Incorrect token audience"),
        other => invalid_token(other.to_string().replace("Invalid login token. ", "")),
    }
}

impl Identity {
    /// Verify a web-identity token for STS (identity-pool tokens and IAM OIDC providers).
    async fn verify_web_identity(&self, token: &str, now: i64) -> Result<WebIdentity, ApiError> {
        let unverified = jwt::peek(token).map_err(|e| jwt_to_sts(e, now))?;
        let iss = unverified
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid_token("Missing a required claim: iss"))?
            .to_owned();
        if iss == COGNITO_ISSUER {
            let signer = self.signer().await.map_err(ApiError::internal)?;
            let claims = jwt::verify(
                token,
                signer.jwks(),
                &Expect {
                    issuer: COGNITO_ISSUER,
                    audiences: None,
                    exp_grace: 0,
                    id_token: false,
                },
                now,
            )
            .map_err(|e| jwt_to_sts(e, now))?;
            let aud = jwt::claim_strings(&claims, "aud")
                .into_iter()
                .next()
                .unwrap_or_default();
            let sub = claims
                .get("sub")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let pool = self
                .pool(&aud, now)
                .await?
                .ok_or_else(|| invalid_token("Incorrect token audience"))?;
            if !pool.allow_classic_flow {
                return Err(invalid_token(format!(
                    "Basic (classic) flow is not enabled for identity pool {aud}."
                )));
            }
            let amr = jwt::claim_strings(&claims, "amr");
            let web_keys = vec![
                (format!("{COGNITO_PROVIDER}:aud"), vec![aud.clone()]),
                (format!("{COGNITO_PROVIDER}:sub"), vec![sub.clone()]),
                (format!("{COGNITO_PROVIDER}:amr"), amr),
            ];
            return Ok(WebIdentity {
                principal: COGNITO_PROVIDER.to_owned(),
                provider_display: COGNITO_PROVIDER.to_owned(),
                subject: sub,
                audience: aud,
                web_keys,
                claims,
            });
        }
        let key = crate::iam::provider_key(&iss);
        let provider = self
            .store
            .get::<OidcProvider>(NS_OIDC, &key)
            .await?
            .map(|(p, _)| p)
            .ok_or_else(|| {
                invalid_token(format!(
                    "No OpenIDConnect provider found in your account for {iss}"
                ))
            })?;
        let kid = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid);
        let jwks = match self.issuers.lookup(&key).await {
            Some(local) => std::sync::Arc::new(local.jwks),
            None => {
                let base = if provider.issuer.is_empty() {
                    format!("https://{key}")
                } else {
                    provider.issuer.clone()
                };
                self.jwks
                    .get(&base, kid.as_deref(), now)
                    .await
                    .map_err(|e| {
                        ApiError::new("IDPCommunicationError", StatusCode::BAD_REQUEST, e.0)
                    })?
            }
        };
        let claims = jwt::verify(
            token,
            &jwks,
            &Expect {
                issuer: &iss,
                audiences: Some(&provider.client_ids),
                exp_grace: 0,
                id_token: false,
            },
            now,
        )
        .map_err(|e| jwt_to_sts(e, now))?;
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let azp = jwt::claim_strings(&claims, "azp");
        let aud_all = jwt::claim_strings(&claims, "aud");
        let aud = azp
            .first()
            .or_else(|| aud_all.iter().find(|a| provider.client_ids.contains(a)))
            .cloned()
            .unwrap_or_default();
        let mut web_keys = vec![
            (format!("{key}:aud"), vec![aud.clone()]),
            (format!("{key}:sub"), vec![sub.clone()]),
        ];
        if !azp.is_empty() {
            web_keys.push((format!("{key}:azp"), azp));
            web_keys.push((format!("{key}:oaud"), aud_all));
        }
        let amr = jwt::claim_strings(&claims, "amr");
        if !amr.is_empty() {
            web_keys.push((format!("{key}:amr"), amr));
        }
        Ok(WebIdentity {
            principal: provider.arn.clone(),
            provider_display: iss,
            subject: sub,
            audience: aud,
            web_keys,
            claims,
        })
    }
}

/// Handle one STS action.
pub(crate) async fn handle(
    id: &Identity,
    parts: &Parts,
    action: &str,
    p: &Params,
    body: &[u8],
    peer: SocketAddr,
    now: i64,
) -> Result<Option<Xml>, ApiError> {
    let keys = base_keys(parts, peer, now);
    if action == "AssumeRoleWithWebIdentity" {
        return web_identity(id, p, &keys, now).await;
    }
    let who = match id.authenticate(parts, body, "sts", now).await {
        Ok(Some(w)) => w,
        Ok(None) => return Err(AuthFailure::Missing.to_query_error()),
        Err(e) => return Err(e.to_query_error()),
    };
    match action {
        "GetCallerIdentity" => {
            let acct = id.account_id();
            let mut x = Xml::new();
            x.elem("Arn", &who.arn(acct))
                .elem("UserId", &who.user_id(acct))
                .elem("Account", acct);
            Ok(Some(x))
        }
        "AssumeRole" => assume_role(id, &who, p, &keys, now).await,
        _ => Err(ApiError::new(
            "InvalidAction",
            StatusCode::BAD_REQUEST,
            format!("Could not find operation {action} for version 2011-06-15"),
        )),
    }
}

async fn web_identity(
    id: &Identity,
    p: &Params,
    keys: &[(&'static str, String)],
    now: i64,
) -> Result<Option<Xml>, ApiError> {
    const ACTION: &str = "sts:AssumeRoleWithWebIdentity";
    let role_arn = p.req("RoleArn")?;
    let session_name = p.req("RoleSessionName")?;
    check_session_name(session_name)?;
    let token = p.req("WebIdentityToken")?;
    if token.len() < 4 || token.len() > 20_000 {
        return Err(ApiError::validation(
            "1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: Member must have length less than or equal to 20000",
        ));
    }
    let wi = id.verify_web_identity(token, now).await?;
    let role = id
        .role_by_arn(role_arn, now)
        .await?
        .ok_or_else(|| not_authorized(ACTION))?;
    let tags = principal_tags_of(&wi.claims);
    let principal = Principal::WebIdentity {
        provider: wi.principal.clone(),
    };
    if !id.trust_allows(&role, &principal, ACTION, keys, &wi.web_keys, &tags) {
        return Err(not_authorized(ACTION));
    }
    let duration = duration(p, role.role.max_session)?;
    let (policy, arns) = session_policies(id, p, now).await?;
    let packed = packed_size(policy.as_deref(), &tags)?;
    let identity_id = (wi.principal == COGNITO_PROVIDER).then(|| wi.subject.clone());
    let (claims, minted) = id.issue_session(
        &role,
        SessionSpec {
            session_name: session_name.to_owned(),
            duration,
            identity_id,
            provider: Some(wi.principal.clone()),
            web_identity: wi.web_keys.clone(),
            session_policy: policy.clone(),
            policy_arns: arns.clone(),
            tags: tags.clone(),
            source_identity: None,
        },
        now,
    );
    let mut x = Xml::new();
    x.elem("SubjectFromWebIdentityToken", &wi.subject)
        .elem("Audience", &wi.audience)
        .open("AssumedRoleUser")
        .elem("Arn", &claims.session_arn())
        .elem("AssumedRoleId", &claims.user_id())
        .close("AssumedRoleUser");
    credentials_xml(&mut x, &minted);
    if policy.is_some() || !arns.is_empty() || !tags.is_empty() {
        x.elem("PackedPolicySize", &packed.to_string());
    }
    x.elem("Provider", &wi.provider_display);
    Ok(Some(x))
}

/// Session tags a token carries in `https://aws.amazon.com/tags` → `principal_tags`.
pub(crate) fn principal_tags_of(claims: &serde_json::Map<String, Value>) -> Vec<(String, String)> {
    let Some(Value::Object(m)) = claims
        .get("https://aws.amazon.com/tags")
        .and_then(|t| t.get("principal_tags"))
    else {
        return Vec::new();
    };
    m.iter()
        .filter_map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Array(a) => a.first()?.as_str()?.to_owned(),
                _ => return None,
            };
            Some((k.clone(), v))
        })
        .collect()
}

async fn assume_role(
    id: &Identity,
    who: &Who,
    p: &Params,
    keys: &[(&'static str, String)],
    now: i64,
) -> Result<Option<Xml>, ApiError> {
    const ACTION: &str = "sts:AssumeRole";
    let role_arn = p.req("RoleArn")?;
    let session_name = p.req("RoleSessionName")?;
    check_session_name(session_name)?;
    let acct = id.account_id().to_owned();
    let denied = || {
        ApiError::access_denied(format!(
            "User: {} is not authorized to perform: {ACTION} on resource: {role_arn}",
            who.arn(&acct)
        ))
    };
    let role = id.role_by_arn(role_arn, now).await?.ok_or_else(denied)?;
    let tags = p.tags("Tags");
    let mut keys: Vec<(&str, String)> = keys.iter().map(|(k, v)| (*k, v.clone())).collect();
    if let Some(ext) = p.get("ExternalId") {
        keys.push(("sts:ExternalId", ext.to_owned()));
    }
    if let Some(src) = p.get("SourceIdentity") {
        keys.push(("sts:SourceIdentity", src.to_owned()));
    }
    let principal = who.principal(&acct);
    // The trust policy must allow the caller; in the same account, a trust policy naming the
    // account (rather than the caller) also needs the caller's own policies to allow it.
    let trusted = id.trust_allows(&role, &principal, ACTION, &keys, &[], &tags);
    let allowed = trusted
        && match who {
            Who::Root => true,
            _ => {
                let trust = role.trust.as_deref();
                id.decide(Some(who), ACTION, role_arn, &keys, trust, now)
                    .await?
            }
        };
    if !allowed {
        return Err(denied());
    }
    // Role chaining is limited to one hour, as on AWS.
    let max = if matches!(who, Who::Session(_)) {
        3600
    } else {
        role.role.max_session
    };
    let duration = duration(p, max)?;
    let (policy, arns) = session_policies(id, p, now).await?;
    let packed = packed_size(policy.as_deref(), &tags)?;
    let source_identity = match who {
        Who::Session(c) => c.source_identity.clone(),
        _ => None,
    }
    .or_else(|| p.get("SourceIdentity").map(str::to_owned));
    let (claims, minted) = id.issue_session(
        &role,
        SessionSpec {
            session_name: session_name.to_owned(),
            duration,
            session_policy: policy.clone(),
            policy_arns: arns.clone(),
            tags: tags.clone(),
            source_identity: source_identity.clone(),
            ..SessionSpec::default()
        },
        now,
    );
    let mut x = Xml::new();
    credentials_xml(&mut x, &minted);
    x.open("AssumedRoleUser")
        .elem("AssumedRoleId", &claims.user_id())
        .elem("Arn", &claims.session_arn())
        .close("AssumedRoleUser");
    if policy.is_some() || !arns.is_empty() || !tags.is_empty() {
        x.elem("PackedPolicySize", &packed.to_string());
    }
    x.opt("SourceIdentity", source_identity.as_deref());
    Ok(Some(x))
}
