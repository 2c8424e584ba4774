//! Assuming a role: trust-policy evaluation and session minting, shared by STS and the
//! identity pools.

use crate::Identity;
use crate::entities::RoleEntry;
use crate::session::{Minted, SessionClaims, mint};
use cubby_policy::{Policy, Principal, RequestContext, evaluate_one};

/// What a new session carries besides the role.
#[derive(Default, Debug, Clone)]
pub(crate) struct SessionSpec {
    pub session_name: String,
    pub duration: i64,
    pub identity_id: Option<String>,
    pub provider: Option<String>,
    pub web_identity: Vec<(String, Vec<String>)>,
    pub session_policy: Option<String>,
    pub policy_arns: Vec<String>,
    pub tags: Vec<(String, String)>,
    pub source_identity: Option<String>,
}

/// Put web-identity keys into a context (`amr` and multi-valued keys with `add`).
pub(crate) fn add_web_keys(ctx: &mut RequestContext, web: &[(String, Vec<String>)]) {
    for (k, vals) in web {
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

/// Evaluate a trust policy (as a resource policy of `role_arn`) for `principal` doing
/// `action`, plus `sts:TagSession` when session tags are passed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn trust_allows(
    trust: &Policy,
    role_arn: &str,
    region: &str,
    principal: &Principal,
    action: &str,
    keys: &[(&str, String)],
    web: &[(String, Vec<String>)],
    tags: &[(String, String)],
) -> bool {
    let check = |action: &str| {
        let mut ctx = RequestContext::new(action, role_arn, principal.clone());
        ctx.set("aws:RequestedRegion", region);
        for (k, v) in keys {
            ctx.set(k, v.clone());
        }
        add_web_keys(&mut ctx, web);
        for (k, v) in tags {
            ctx.set(&format!("aws:RequestTag/{k}"), v.clone());
            ctx.add("aws:TagKeys", k.clone());
        }
        evaluate_one(trust, &ctx).decision.is_allowed()
    };
    check(action) && (tags.is_empty() || check("sts:TagSession"))
}

impl Identity {
    /// Whether `role`'s trust policy lets `principal` do `action` (and `sts:TagSession` when
    /// tags are passed), with these condition keys.
    pub(crate) fn trust_allows(
        &self,
        role: &RoleEntry,
        principal: &Principal,
        action: &str,
        keys: &[(&str, String)],
        web: &[(String, Vec<String>)],
        tags: &[(String, String)],
    ) -> bool {
        let Some(trust) = &role.trust else {
            return false;
        };
        trust_allows(
            trust,
            &role.role.arn,
            &self.cfg.region,
            principal,
            action,
            keys,
            web,
            tags,
        )
    }

    /// Mint a session of `role`.
    pub(crate) fn issue_session(
        &self,
        role: &RoleEntry,
        spec: SessionSpec,
        now: i64,
    ) -> (SessionClaims, Minted) {
        let mut c = SessionClaims::new(
            &role.role.arn,
            &role.role.id,
            &spec.session_name,
            &self.cfg.account_id,
            now,
            now + spec.duration,
        );
        c.identity_id = spec.identity_id;
        c.provider = spec.provider;
        c.web_identity = spec.web_identity;
        c.session_policy = spec.session_policy;
        c.policy_arns = spec.policy_arns;
        c.tags = spec.tags;
        c.source_identity = spec.source_identity;
        let minted = mint(&self.master, &c, crate::util::random_bytes::<34>());
        (c, minted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cubby_policy::PolicyKind;

    const POOL: &str = "us-east-1:11111111-2222-3333-4444-555555555555";
    const ROLE: &str = "arn:aws:iam::000000000000:role/Auth";

    fn seed_trust(amr: &str) -> Policy {
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow",
              "Principal":{{"Federated":"cognito-identity.amazonaws.com"}},
              "Action":"sts:AssumeRoleWithWebIdentity",
              "Condition":{{"StringEquals":{{"cognito-identity.amazonaws.com:aud":"{POOL}"}},
                           "ForAnyValue:StringLike":{{"cognito-identity.amazonaws.com:amr":"{amr}"}}}}}}]}}"#
        );
        Policy::parse_as(&doc, PolicyKind::Trust).unwrap()
    }

    fn web(aud: &str, amr: &[&str]) -> Vec<(String, Vec<String>)> {
        vec![
            (
                "cognito-identity.amazonaws.com:aud".into(),
                vec![aud.into()],
            ),
            (
                "cognito-identity.amazonaws.com:sub".into(),
                vec!["us-east-1:abc".into()],
            ),
            (
                "cognito-identity.amazonaws.com:amr".into(),
                amr.iter().map(|s| (*s).to_owned()).collect(),
            ),
        ]
    }

    fn cognito() -> Principal {
        Principal::WebIdentity {
            provider: "cognito-identity.amazonaws.com".into(),
        }
    }

    const ACTION: &str = "sts:AssumeRoleWithWebIdentity";

    #[test]
    fn seed_trust_policy() {
        let auth = seed_trust("authenticated");
        let signed_in = web(
            POOL,
            &[
                "authenticated",
                "login.example.app",
                "login.example.app:p:u",
            ],
        );
        assert!(trust_allows(
            &auth,
            ROLE,
            "us-east-1",
            &cognito(),
            ACTION,
            &[],
            &signed_in,
            &[]
        ));
        // amr mismatch, other pool, other provider, other action
        let guest = web(POOL, &["unauthenticated"]);
        assert!(!trust_allows(
            &auth,
            ROLE,
            "us-east-1",
            &cognito(),
            ACTION,
            &[],
            &guest,
            &[]
        ));
        let other_pool = web(
            "us-east-1:00000000-0000-0000-0000-000000000000",
            &["authenticated"],
        );
        assert!(!trust_allows(
            &auth,
            ROLE,
            "us-east-1",
            &cognito(),
            ACTION,
            &[],
            &other_pool,
            &[]
        ));
        let oidc = Principal::WebIdentity {
            provider: "arn:aws:iam::000000000000:oidc-provider/x".into(),
        };
        assert!(!trust_allows(
            &auth,
            ROLE,
            "us-east-1",
            &oidc,
            ACTION,
            &[],
            &signed_in,
            &[]
        ));
        assert!(!trust_allows(
            &auth,
            ROLE,
            "us-east-1",
            &cognito(),
            "sts:AssumeRole",
            &[],
            &signed_in,
            &[]
        ));
        let guest_role = seed_trust("unauthenticated");
        assert!(trust_allows(
            &guest_role,
            ROLE,
            "us-east-1",
            &cognito(),
            ACTION,
            &[],
            &guest,
            &[]
        ));
    }

    #[test]
    fn session_tags_need_tag_session() {
        let auth = seed_trust("authenticated");
        let w = web(POOL, &["authenticated"]);
        let tags = vec![("team".to_owned(), "blue".to_owned())];
        assert!(!trust_allows(
            &auth,
            ROLE,
            "us-east-1",
            &cognito(),
            ACTION,
            &[],
            &w,
            &tags
        ));
        let doc = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow",
              "Principal":{{"Federated":"cognito-identity.amazonaws.com"}},
              "Action":["sts:AssumeRoleWithWebIdentity","sts:TagSession"],
              "Condition":{{"StringEquals":{{"cognito-identity.amazonaws.com:aud":"{POOL}"}}}}}}]}}"#
        );
        let with_tags = Policy::parse_as(&doc, PolicyKind::Trust).unwrap();
        assert!(trust_allows(
            &with_tags,
            ROLE,
            "us-east-1",
            &cognito(),
            ACTION,
            &[],
            &w,
            &tags
        ));
    }

    #[test]
    fn user_trust_for_assume_role() {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow",
            "Principal":{"AWS":"arn:aws:iam::000000000000:user/alice"},"Action":"sts:AssumeRole",
            "Condition":{"StringEquals":{"sts:ExternalId":"x1"}}}]}"#;
        let trust = Policy::parse_as(doc, PolicyKind::Trust).unwrap();
        let alice = Principal::User {
            arn: "arn:aws:iam::000000000000:user/alice".into(),
            account: "000000000000".into(),
            user_id: "AIDAEXAMPLE".into(),
            name: "alice".into(),
        };
        let ext = [("sts:ExternalId", "x1".to_owned())];
        assert!(trust_allows(
            &trust,
            ROLE,
            "us-east-1",
            &alice,
            "sts:AssumeRole",
            &ext,
            &[],
            &[]
        ));
        assert!(!trust_allows(
            &trust,
            ROLE,
            "us-east-1",
            &alice,
            "sts:AssumeRole",
            &[],
            &[],
            &[]
        ));
        let bob = Principal::User {
            arn: "arn:aws:iam::000000000000:user/bob".into(),
            account: "000000000000".into(),
            user_id: "AIDAEXAMPLE2".into(),
            name: "bob".into(),
        };
        assert!(!trust_allows(
            &trust,
            ROLE,
            "us-east-1",
            &bob,
            "sts:AssumeRole",
            &ext,
            &[],
            &[]
        ));
    }
}
