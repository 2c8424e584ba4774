//! Who is calling (root, IAM user, session) and what they may do: the `cubby_s3::Authority`
//! implementation, and the same decision logic for the IAM, STS and Cognito admin APIs.

use crate::Identity;
use crate::opened::OpenedSession;
use crate::session::{SessionClaims, SessionError, open_session};
use crate::store::StoreError;
use cubby_auth::session::derive_secret;
use cubby_policy::{Pattern, Policy, PolicyKind, PolicySet, Principal, RequestContext, decide};
use cubby_rules::SubjectKind;
use cubby_s3::{
    AccessRequest, Authority, Caller, CallerKind, ResolvedKey, S3Error, S3Result, UploadSubject,
};
use http::StatusCode;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// An IAM user as a caller.
#[derive(Debug, Clone)]
pub(crate) struct UserRef {
    pub name: String,
    pub id: String,
    pub arn: String,
}

/// The authenticated principal behind a [`Caller`] (its `detail`).
#[derive(Debug, Clone)]
pub(crate) enum Who {
    /// The account root.
    Root,
    /// An IAM user.
    User(UserRef),
    /// A role session.
    Session(Arc<SessionClaims>),
}

impl Who {
    /// The principal ARN.
    pub(crate) fn arn(&self, account: &str) -> String {
        match self {
            Who::Root => format!("arn:aws:iam::{account}:root"),
            Who::User(u) => u.arn.clone(),
            Who::Session(c) => c.session_arn(),
        }
    }

    /// The unique id (`UserId` of GetCallerIdentity).
    pub(crate) fn user_id(&self, account: &str) -> String {
        match self {
            Who::Root => account.to_owned(),
            Who::User(u) => u.id.clone(),
            Who::Session(c) => c.user_id(),
        }
    }

    /// The policy-engine principal.
    pub(crate) fn principal(&self, account: &str) -> Principal {
        match self {
            Who::Root => Principal::Root {
                account: account.to_owned(),
            },
            Who::User(u) => Principal::User {
                arn: u.arn.clone(),
                account: account.to_owned(),
                user_id: u.id.clone(),
                name: u.name.clone(),
            },
            Who::Session(c) => Principal::AssumedRole {
                role_arn: c.role_arn.clone(),
                session_arn: c.session_arn(),
                account: c.account.clone(),
                role_id: c.role_id.clone(),
                session_name: c.session_name.clone(),
            },
        }
    }
}

/// The [`Who`] attached to an S3 caller, if any.
pub(crate) fn who_of(caller: &Caller) -> Option<Arc<Who>> {
    caller.detail.clone()?.downcast::<Who>().ok()
}

/// Why a key could not be resolved.
#[derive(Debug)]
pub(crate) enum KeyError {
    /// No such (active) key.
    Unknown,
    /// Session token tampered / for another key / a token on a long-term key.
    InvalidToken,
    /// Session token expired.
    Expired,
    /// Storage failed.
    Store(StoreError),
}

impl From<StoreError> for KeyError {
    fn from(e: StoreError) -> Self {
        KeyError::Store(e)
    }
}

/// The identity and session policies of a caller, compiled.
pub(crate) struct CallerPolicies {
    pub identity: Vec<Arc<Policy>>,
    pub session: Vec<Arc<Policy>>,
    /// A session policy was passed (even if it compiled to nothing usable).
    pub has_session: bool,
    /// Something the caller's permissions depend on is gone: deny everything.
    pub broken: bool,
}

impl Identity {
    fn root_caller(&self) -> Caller {
        Caller {
            kind: CallerKind::Root,
            arn: format!("arn:aws:iam::{}:root", self.cfg.account_id),
            principal_id: self.cfg.account_id.clone(),
            display_name: "root".into(),
            access_key_id: Some(self.cfg.root_access_key_id.clone()),
            expires_at: None,
            detail: Some(Arc::new(Who::Root)),
        }
    }

    /// Find the secret and caller of an access key (and session token).
    pub(crate) async fn resolve_key(
        &self,
        access_key_id: &str,
        token: Option<&str>,
        now: i64,
    ) -> Result<(String, Caller), KeyError> {
        if let Some(token) = token {
            if !access_key_id.starts_with("ASIA") {
                return Err(KeyError::InvalidToken);
            }
            if let Some(s) = self.opened.get(access_key_id, token, now) {
                return Ok((s.secret.clone(), s.caller.clone()));
            }
            let claims =
                open_session(&self.master, access_key_id, token, now).map_err(|e| match e {
                    SessionError::Invalid => KeyError::InvalidToken,
                    SessionError::Expired => KeyError::Expired,
                })?;
            let secret = derive_secret(&self.master, access_key_id);
            let claims = Arc::new(claims);
            let caller = Caller {
                kind: CallerKind::Session,
                arn: claims.session_arn(),
                principal_id: claims.user_id(),
                display_name: claims.session_name.clone(),
                access_key_id: Some(access_key_id.to_owned()),
                expires_at: Some(claims.expires_at),
                detail: Some(Arc::new(Who::Session(claims))),
            };
            self.opened.insert(
                access_key_id,
                Arc::new(OpenedSession::new(token, secret.clone(), caller.clone())),
            );
            return Ok((secret, caller));
        }
        let root = &self.cfg.root_access_key_id;
        let is_root: bool = access_key_id.as_bytes().ct_eq(root.as_bytes()).into();
        if is_root && !root.is_empty() {
            return Ok((self.cfg.root_secret_access_key.clone(), self.root_caller()));
        }
        if access_key_id.starts_with("ASIA") {
            // A session key without its token.
            return Err(KeyError::Unknown);
        }
        if !access_key_id.starts_with("AKIA") || access_key_id.len() > 128 {
            return Err(KeyError::Unknown);
        }
        let Some(key) = self.key_entry(access_key_id, now).await? else {
            return Err(KeyError::Unknown);
        };
        if key.key.status != "Active" {
            return Err(KeyError::Unknown);
        }
        let Some(user) = self.user_entry(&key.key.user, now).await? else {
            return Err(KeyError::Unknown);
        };
        let u = &user.user;
        let caller = Caller {
            kind: CallerKind::User,
            arn: u.arn.clone(),
            principal_id: u.id.clone(),
            display_name: u.name.clone(),
            access_key_id: Some(access_key_id.to_owned()),
            expires_at: None,
            detail: Some(Arc::new(Who::User(UserRef {
                name: u.name.clone(),
                id: u.id.clone(),
                arn: u.arn.clone(),
            }))),
        };
        Ok((key.secret.clone(), caller))
    }

    async fn managed_into(
        &self,
        arns: &[String],
        out: &mut Vec<Arc<Policy>>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut ok = true;
        for arn in arns {
            match self.managed_entry(arn, now).await? {
                Some(m) => match &m.compiled {
                    Some(p) => out.push(p.clone()),
                    None => ok = false,
                },
                None => ok = false,
            }
        }
        Ok(ok)
    }

    /// The compiled policies that apply to `who` (not meaningful for root).
    pub(crate) async fn caller_policies(
        &self,
        who: &Who,
        now: i64,
    ) -> Result<CallerPolicies, StoreError> {
        let mut out = CallerPolicies {
            identity: Vec::new(),
            session: Vec::new(),
            has_session: false,
            broken: false,
        };
        match who {
            Who::Root => {}
            Who::User(u) => match self.user_entry(&u.name, now).await? {
                Some(e) if e.user.id == u.id => {
                    out.identity.extend(e.inline.iter().cloned());
                    // A missing attached policy only loses its grants.
                    self.managed_into(&e.user.attached, &mut out.identity, now)
                        .await?;
                }
                _ => out.broken = true,
            },
            // A server-minted service session (upload URLs) has no role: its sealed session
            // policy is its whole permission set.
            Who::Session(c) if c.role_id == crate::upload_url::SERVICE_ROLE_ID => {
                match c
                    .session_policy
                    .as_deref()
                    .map(|text| self.compiled.get(text, PolicyKind::Identity))
                {
                    Some(Ok(p)) => out.identity.push(p),
                    _ => out.broken = true,
                }
            }
            Who::Session(c) => {
                match self.role_by_arn(&c.role_arn, now).await? {
                    // A role deleted and re-created under the same name is another role.
                    Some(r) if r.role.id == c.role_id => {
                        out.identity.extend(r.inline.iter().cloned());
                        self.managed_into(&r.role.attached, &mut out.identity, now)
                            .await?;
                    }
                    _ => out.broken = true,
                }
                if c.session_policy.is_some() || !c.policy_arns.is_empty() {
                    out.has_session = true;
                    if let Some(text) = &c.session_policy {
                        match self.compiled.get(text, PolicyKind::Identity) {
                            Ok(p) => out.session.push(p),
                            Err(_) => out.broken = true,
                        }
                    }
                    if !self
                        .managed_into(&c.policy_arns, &mut out.session, now)
                        .await?
                    {
                        out.broken = true;
                    }
                }
            }
        }
        Ok(out)
    }

    /// The request context for `who` (None = anonymous) doing `action` on `resource`.
    pub(crate) fn request_context(
        &self,
        who: Option<&Who>,
        action: &str,
        resource: &str,
        keys: &[(&str, String)],
    ) -> RequestContext {
        let principal = who.map_or(Principal::Anonymous, |w| w.principal(&self.cfg.account_id));
        let mut ctx = RequestContext::new(action, resource, principal);
        ctx.set("aws:RequestedRegion", self.cfg.region.clone());
        for (k, v) in keys {
            ctx.set(k, v.clone());
        }
        if let Some(Who::Session(c)) = who {
            ctx.set("aws:TokenIssueTime", crate::util::iso8601(c.issued_at));
            if let Some(p) = &c.provider {
                ctx.set("aws:FederatedProvider", p.clone());
            }
            if let Some(s) = &c.source_identity {
                ctx.set("aws:SourceIdentity", s.clone());
            }
            for (k, v) in &c.tags {
                ctx.set(&format!("aws:PrincipalTag/{k}"), v.clone());
            }
            for (k, vals) in &c.web_identity {
                if vals.len() == 1 && !k.ends_with(":amr") {
                    if let Some(v) = vals.first() {
                        ctx.set(k, v.clone());
                    }
                } else {
                    for v in vals {
                        ctx.add(k, v.clone());
                    }
                }
            }
        }
        ctx
    }

    /// Decide one request. Root may do everything; anonymous callers only what the resource
    /// policy grants.
    pub(crate) async fn decide(
        &self,
        who: Option<&Who>,
        action: &str,
        resource: &str,
        keys: &[(&str, String)],
        resource_policy: Option<&Policy>,
        now: i64,
    ) -> Result<bool, StoreError> {
        Ok(self
            .decide_full(who, action, resource, keys, resource_policy, now)
            .await?
            .is_allowed())
    }

    /// Like [`Identity::decide`], but distinguishing explicit from implicit denials (an ACL
    /// grant can turn only the latter into an allow).
    pub(crate) async fn decide_full(
        &self,
        who: Option<&Who>,
        action: &str,
        resource: &str,
        keys: &[(&str, String)],
        resource_policy: Option<&Policy>,
        now: i64,
    ) -> Result<cubby_policy::Decision, StoreError> {
        if matches!(who, Some(Who::Root)) {
            return Ok(root_decision(
                resource_policy,
                &self.request_context(who, action, resource, keys),
                false,
            ));
        }
        let ctx = self.request_context(who, action, resource, keys);
        let pols = match who {
            Some(w) => self.caller_policies(w, now).await?,
            None => CallerPolicies {
                identity: Vec::new(),
                session: Vec::new(),
                has_session: false,
                broken: false,
            },
        };
        if pols.broken {
            return Ok(cubby_policy::Decision::ExplicitDeny);
        }
        let identity: Vec<&Policy> = pols.identity.iter().map(|p| p.as_ref()).collect();
        let session: Vec<&Policy> = pols.session.iter().map(|p| p.as_ref()).collect();
        let set = PolicySet {
            identity: &identity,
            session: pols.has_session.then_some(session.as_slice()),
            resource: resource_policy,
            boundary: None,
        };
        Ok(decide(&set, &ctx))
    }
}

/// The account root may do everything — except what a resource (bucket) policy explicitly
/// denies it, as on AWS. Managing the bucket policy itself stays allowed, so a policy that
/// locks everyone out can always be repaired (AWS's root-user exception).
fn root_decision(
    resource_policy: Option<&Policy>,
    ctx: &cubby_policy::RequestContext,
    policy_binds_root: bool,
) -> cubby_policy::Decision {
    const ALWAYS: [&str; 3] = [
        "s3:GetBucketPolicy",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
    ];
    match resource_policy {
        Some(p)
            if (policy_binds_root
                || !ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(&ctx.action)))
                && cubby_policy::evaluate_one(p, ctx).decision
                    == cubby_policy::Decision::ExplicitDeny =>
        {
            cubby_policy::Decision::ExplicitDeny
        }
        _ => cubby_policy::Decision::Allowed,
    }
}

/// The authority S3 asks: root keys, IAM users' keys and sessions; decisions by the policy
/// engine.
pub struct IamAuthority {
    id: Arc<Identity>,
}

impl IamAuthority {
    /// Wrap the identity service.
    pub fn new(id: Arc<Identity>) -> Self {
        IamAuthority { id }
    }
}

fn s3_key_error(e: KeyError, akid: &str) -> S3Error {
    match e {
        KeyError::Unknown => S3Error::new(
            "InvalidAccessKeyId",
            StatusCode::FORBIDDEN,
            "The AWS Access Key Id you provided does not exist in our records.",
        )
        .with("AWSAccessKeyId", akid),
        KeyError::InvalidToken => S3Error::new(
            "InvalidToken",
            StatusCode::FORBIDDEN,
            "The provided token is malformed or otherwise invalid.",
        ),
        KeyError::Expired => S3Error::new(
            "ExpiredToken",
            StatusCode::FORBIDDEN,
            "The provided token has expired.",
        ),
        KeyError::Store(e) => S3Error::internal(e),
    }
}

fn epoch_now(keys: &[(&str, String)]) -> i64 {
    keys.iter()
        .find(|(k, _)| *k == "aws:EpochTime")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        })
}

fn malformed_policy(msg: impl Into<String>) -> S3Error {
    S3Error::new("MalformedPolicy", StatusCode::BAD_REQUEST, msg)
}

#[async_trait::async_trait]
impl Authority for IamAuthority {
    async fn resolve(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
        now: i64,
    ) -> S3Result<ResolvedKey> {
        let (secret, caller) = self
            .id
            .resolve_key(access_key_id, session_token, now)
            .await
            .map_err(|e| s3_key_error(e, access_key_id))?;
        Ok(ResolvedKey { secret, caller })
    }

    async fn authorize(&self, caller: &Caller, req: &AccessRequest<'_>) -> S3Result<bool> {
        if caller.kind == CallerKind::Root && req.bucket_policy.is_none() {
            return Ok(true);
        }
        let who = who_of(caller);
        let anonymous = caller.kind == CallerKind::Anonymous || who.is_none();
        let bucket_policy = match req.bucket_policy {
            Some(text) => match self.id.compiled.get(text, PolicyKind::Bucket) {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::error!(error = %e, "stored bucket policy does not compile; denying");
                    return Ok(false);
                }
            },
            None => None,
        };
        if caller.kind == CallerKind::Root {
            let ctx = self
                .id
                .request_context(who.as_deref(), req.action, req.resource, req.keys);
            return Ok(
                root_decision(bucket_policy.as_deref(), &ctx, req.policy_binds_root)
                    == cubby_policy::Decision::Allowed,
            );
        }
        if anonymous {
            let Some(p) = &bucket_policy else {
                // Without a bucket policy nothing can deny: an ACL grant decides.
                return Ok(req.acl_grant);
            };
            // RestrictPublicBuckets: public grants count only for the account's own principals.
            if req.restrict_public && p.is_public() {
                return Ok(req.acl_grant);
            }
        }
        let now = epoch_now(req.keys);
        let decision = self
            .id
            .decide_full(
                if anonymous { None } else { who.as_deref() },
                req.action,
                req.resource,
                req.keys,
                bucket_policy.as_deref(),
                now,
            )
            .await
            .map_err(S3Error::internal)?;
        // An ACL grant allows what no policy explicitly denies.
        Ok(match decision {
            cubby_policy::Decision::Allowed => true,
            cubby_policy::Decision::ExplicitDeny => false,
            cubby_policy::Decision::ImplicitDeny => req.acl_grant,
        })
    }

    async fn canonical_user(&self, id: &str) -> S3Result<Option<String>> {
        // ACL grants are rare writes; a scan of the users is fine here.
        let users = self
            .id
            .store
            .list_all::<crate::model::User>(crate::store::NS_USER, "")
            .await
            .map_err(S3Error::internal)?;
        Ok(users
            .into_iter()
            .find(|(_, u)| u.id == id)
            .map(|(_, u)| u.name))
    }

    fn check_bucket_policy(&self, _bucket: &str, policy: &str) -> S3Result<bool> {
        let p = Policy::parse_as(policy, PolicyKind::Bucket)
            .map_err(|e| malformed_policy(e.to_string()))?;
        if p.statements().is_empty() {
            return Err(malformed_policy(
                "Could not parse the policy: Statement is empty!",
            ));
        }
        Ok(p.is_public())
    }

    fn cognito_identity_id(&self, caller: &Caller) -> Option<String> {
        match who_of(caller)?.as_ref() {
            Who::Session(claims) => claims.identity_id.clone(),
            _ => None,
        }
    }

    fn upload_subject(&self, caller: &Caller) -> UploadSubject {
        let Some(who) = who_of(caller) else {
            return UploadSubject {
                owner: caller.arn.clone(),
                kind: SubjectKind::Other,
                role_name: None,
            };
        };
        match who.as_ref() {
            Who::Session(c) => {
                let amr = c
                    .web_identity
                    .iter()
                    .find(|(k, _)| k == "cognito-identity.amazonaws.com:amr")
                    .map(|(_, v)| v.as_slice())
                    .unwrap_or_default();
                let kind = if c.identity_id.is_none() {
                    SubjectKind::Other
                } else if amr.iter().any(|v| v == "authenticated") {
                    SubjectKind::SignedIn
                } else if amr.iter().any(|v| v == "unauthenticated") {
                    SubjectKind::Guest
                } else {
                    SubjectKind::Other
                };
                UploadSubject {
                    owner: c.identity_id.clone().unwrap_or_else(|| c.session_arn()),
                    kind,
                    role_name: Some(c.role_name().to_owned()),
                }
            }
            other => UploadSubject {
                owner: other.arn(&self.id.cfg.account_id),
                kind: SubjectKind::Other,
                role_name: None,
            },
        }
    }

    fn key_matches(&self, caller: &Caller, pattern: &Pattern, key: &str) -> bool {
        let who = who_of(caller);
        let ctx = self
            .id
            .request_context(who.as_deref(), "s3:PutObject", "", &[]);
        pattern.matches(key, &ctx)
    }
}
