//! Role resolution for GetCredentialsForIdentity (SPEC §1.7): default roles, `Token` and
//! `Rules` role mappings, `CustomRoleArn`, `AmbiguousRoleResolution`. Pure.

use crate::jwt::claim_strings;
use crate::model::IdentityPool;
use serde_json::{Map, Value};

/// One verified login as role mappings see it.
#[derive(Debug, Clone)]
pub(crate) struct MappingInput<'a> {
    /// The `RoleMappings` key that would apply (`<user-pool provider>:<client id>` for user
    /// pools, the provider name otherwise).
    pub key: String,
    /// Token claims.
    pub claims: &'a Map<String, Value>,
}

/// Why no role could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RoleError {
    /// The pool has no role for this kind of identity.
    NoRole,
    /// `AmbiguousRoleResolution: Deny` for this mapping key.
    AmbiguousDenied(String),
    /// `CustomRoleArn` is not among the roles the token allows.
    CustomRoleNotAllowed(String),
    /// Several logins have role mappings (cubby refuses to guess).
    SeveralMappings,
}

/// Claim values as strings (strings, arrays, numbers, booleans); `cognito:roles` may also be
/// a comma-separated string.
fn values(claims: &Map<String, Value>, name: &str) -> Vec<String> {
    match claims.get(name) {
        Some(Value::String(s)) if name == "cognito:roles" => s
            .split(',')
            .map(|x| x.trim().to_owned())
            .filter(|x| !x.is_empty())
            .collect(),
        Some(Value::Number(n)) => vec![n.to_string()],
        Some(Value::Bool(b)) => vec![b.to_string()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
            .collect(),
        _ => claim_strings(claims, name),
    }
}

fn rule_matches(claims: &Map<String, Value>, claim: &str, match_type: &str, value: &str) -> bool {
    let vals = values(claims, claim);
    if vals.is_empty() {
        // Not evaluated when the claim is absent (NotEqual included).
        return false;
    }
    match match_type {
        "Equals" => vals.iter().any(|v| v == value),
        "NotEqual" => vals.iter().all(|v| v != value),
        "StartsWith" => vals.iter().any(|v| v.starts_with(value)),
        "Contains" => vals.iter().any(|v| v.contains(value)),
        _ => false,
    }
}

/// Choose the role for an identity.
pub(crate) fn resolve_role(
    pool: &IdentityPool,
    authenticated: bool,
    logins: &[MappingInput<'_>],
    custom_role_arn: Option<&str>,
) -> Result<String, RoleError> {
    let default = |kind: &str| pool.roles.get(kind).cloned().ok_or(RoleError::NoRole);
    if !authenticated {
        return default("unauthenticated");
    }
    let mapped: Vec<(&MappingInput<'_>, &crate::model::RoleMapping)> = logins
        .iter()
        .filter_map(|l| pool.role_mappings.get(&l.key).map(|m| (l, m)))
        .collect();
    let (login, mapping) = match mapped.as_slice() {
        [] => return default("authenticated"),
        [one] => *one,
        _ => return Err(RoleError::SeveralMappings),
    };
    let chosen: Option<String> = match mapping.kind.as_str() {
        "Token" => {
            let roles = values(login.claims, "cognito:roles");
            let preferred = login
                .claims
                .get("cognito:preferred_role")
                .and_then(Value::as_str);
            match custom_role_arn {
                Some(c) if roles.iter().any(|r| r == c) => Some(c.to_owned()),
                Some(c) => return Err(RoleError::CustomRoleNotAllowed(c.to_owned())),
                None => match (preferred, roles.as_slice()) {
                    (Some(p), _) => Some(p.to_owned()),
                    (None, [only]) => Some(only.clone()),
                    _ => None,
                },
            }
        }
        "Rules" => {
            let rules = mapping
                .rules_configuration
                .as_ref()
                .map(|r| r.rules.as_slice())
                .unwrap_or_default();
            let matching: Vec<&str> = rules
                .iter()
                .filter(|r| rule_matches(login.claims, &r.claim, &r.match_type, &r.value))
                .map(|r| r.role_arn.as_str())
                .collect();
            match custom_role_arn {
                Some(c) if matching.contains(&c) => Some(c.to_owned()),
                _ => matching.first().map(|s| (*s).to_owned()),
            }
        }
        _ => None,
    };
    match chosen {
        Some(r) => Ok(r),
        None => match mapping.ambiguous_role_resolution.as_deref() {
            Some("AuthenticatedRole") => default("authenticated"),
            _ => Err(RoleError::AmbiguousDenied(login.key.clone())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MappingRule, RoleMapping, RulesConfiguration};
    use serde_json::json;

    fn pool() -> IdentityPool {
        IdentityPool {
            id: "us-east-1:00000000-0000-0000-0000-000000000001".into(),
            name: "p".into(),
            allow_unauthenticated: true,
            allow_classic_flow: false,
            supported_login_providers: Default::default(),
            developer_provider_name: None,
            open_id_connect_provider_arns: vec![],
            cognito_identity_providers: vec![],
            saml_provider_arns: vec![],
            tags: Default::default(),
            roles: [
                (
                    "authenticated".to_string(),
                    "arn:aws:iam::000000000000:role/Auth".to_string(),
                ),
                (
                    "unauthenticated".to_string(),
                    "arn:aws:iam::000000000000:role/Guest".to_string(),
                ),
            ]
            .into_iter()
            .collect(),
            role_mappings: Default::default(),
            tag_maps: Default::default(),
            created: 0,
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn defaults() {
        let p = pool();
        assert_eq!(
            resolve_role(&p, false, &[], None).unwrap(),
            "arn:aws:iam::000000000000:role/Guest"
        );
        let c = claims(json!({}));
        let l = [MappingInput {
            key: "x".into(),
            claims: &c,
        }];
        assert_eq!(
            resolve_role(&p, true, &l, None).unwrap(),
            "arn:aws:iam::000000000000:role/Auth"
        );
        let mut p2 = pool();
        p2.roles.clear();
        assert_eq!(resolve_role(&p2, false, &[], None), Err(RoleError::NoRole));
        assert_eq!(resolve_role(&p2, true, &l, None), Err(RoleError::NoRole));
    }

    #[test]
    fn token_mapping() {
        let mut p = pool();
        p.role_mappings.insert(
            "up:client".into(),
            RoleMapping {
                kind: "Token".into(),
                ambiguous_role_resolution: Some("Deny".into()),
                rules_configuration: None,
            },
        );
        let c = claims(
            json!({"cognito:roles": ["arn:r1", "arn:r2"], "cognito:preferred_role": "arn:r2"}),
        );
        let l = [MappingInput {
            key: "up:client".into(),
            claims: &c,
        }];
        assert_eq!(resolve_role(&p, true, &l, None).unwrap(), "arn:r2");
        assert_eq!(
            resolve_role(&p, true, &l, Some("arn:r1")).unwrap(),
            "arn:r1"
        );
        assert_eq!(
            resolve_role(&p, true, &l, Some("arn:r3")),
            Err(RoleError::CustomRoleNotAllowed("arn:r3".into()))
        );
        let c2 = claims(json!({"cognito:roles": ["arn:r1", "arn:r2"]}));
        let l2 = [MappingInput {
            key: "up:client".into(),
            claims: &c2,
        }];
        assert_eq!(
            resolve_role(&p, true, &l2, None),
            Err(RoleError::AmbiguousDenied("up:client".into()))
        );
        let c3 = claims(json!({"cognito:roles": "arn:r1"}));
        let l3 = [MappingInput {
            key: "up:client".into(),
            claims: &c3,
        }];
        assert_eq!(resolve_role(&p, true, &l3, None).unwrap(), "arn:r1");
        if let Some(m) = p.role_mappings.get_mut("up:client") {
            m.ambiguous_role_resolution = Some("AuthenticatedRole".into());
        }
        assert_eq!(
            resolve_role(&p, true, &l2, None).unwrap(),
            "arn:aws:iam::000000000000:role/Auth"
        );
    }

    #[test]
    fn rules_mapping() {
        let mut p = pool();
        let rule = |claim: &str, mt: &str, v: &str, r: &str| MappingRule {
            claim: claim.into(),
            match_type: mt.into(),
            value: v.into(),
            role_arn: r.into(),
        };
        p.role_mappings.insert(
            "issuer.example".into(),
            RoleMapping {
                kind: "Rules".into(),
                ambiguous_role_resolution: Some("Deny".into()),
                rules_configuration: Some(RulesConfiguration {
                    rules: vec![
                        rule("custom:dept", "Equals", "Sales", "arn:sales"),
                        rule("cognito:groups", "Contains", "admin", "arn:admin"),
                        rule("email", "StartsWith", "ops@", "arn:ops"),
                        rule("tier", "NotEqual", "free", "arn:paid"),
                    ],
                }),
            },
        );
        let run = |v: Value, custom: Option<&str>| {
            let c = claims(v);
            let l = [MappingInput {
                key: "issuer.example".into(),
                claims: &c,
            }];
            resolve_role(&p, true, &l, custom)
        };
        assert_eq!(
            run(json!({"custom:dept": "Sales"}), None).unwrap(),
            "arn:sales"
        );
        assert_eq!(
            run(json!({"cognito:groups": ["x", "superadmins"]}), None).unwrap(),
            "arn:admin"
        );
        assert_eq!(run(json!({"email": "ops@x"}), None).unwrap(), "arn:ops");
        assert_eq!(run(json!({"tier": "gold"}), None).unwrap(), "arn:paid");
        // NotEqual is not evaluated when the claim is absent
        assert_eq!(
            run(json!({}), None),
            Err(RoleError::AmbiguousDenied("issuer.example".into()))
        );
        // first match wins, CustomRoleArn may pick another matching rule
        let both = json!({"custom:dept": "Sales", "email": "ops@x"});
        assert_eq!(run(both.clone(), None).unwrap(), "arn:sales");
        assert_eq!(run(both.clone(), Some("arn:ops")).unwrap(), "arn:ops");
        assert_eq!(run(both, Some("arn:admin")).unwrap(), "arn:sales");
    }

    #[test]
    fn several_mappings_are_refused() {
        let mut p = pool();
        for k in ["a", "b"] {
            p.role_mappings.insert(
                k.into(),
                RoleMapping {
                    kind: "Token".into(),
                    ambiguous_role_resolution: Some("AuthenticatedRole".into()),
                    rules_configuration: None,
                },
            );
        }
        let c = claims(json!({}));
        let l = [
            MappingInput {
                key: "a".into(),
                claims: &c,
            },
            MappingInput {
                key: "b".into(),
                claims: &c,
            },
        ];
        assert_eq!(
            resolve_role(&p, true, &l, None),
            Err(RoleError::SeveralMappings)
        );
    }
}
