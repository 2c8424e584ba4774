//! IAM: roles (trust, inline and attached policies), customer-managed policies, OIDC
//! providers.

use super::{Action, Applier, UNKNOWN, api_err, code_of, iam_doc, same_json};
use crate::config::{Amr, ManagedPolicy, OidcProvider, Role};
use std::collections::BTreeMap;

/// The trust policy the AWS console writes for an identity pool's role.
pub(crate) fn cognito_trust(pool_id: &str, amr: Amr) -> String {
    let amr = match amr {
        Amr::Authenticated => "authenticated",
        Amr::Unauthenticated => "unauthenticated",
    };
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": "cognito-identity.amazonaws.com"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {"cognito-identity.amazonaws.com:aud": pool_id},
                "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": amr}
            }
        }]
    })
    .to_string()
}

pub(super) async fn role(a: &mut Applier, r: &Role) -> anyhow::Result<()> {
    let name = r.name.get_ref();
    let iam = a.c.iam.clone();
    let trust = match (&r.trust, &r.trust_policy_text) {
        (Some(t), _) => {
            let pool = a
                .plan
                .ids
                .identity_pools
                .get(t.identity_pool.get_ref())
                .cloned()
                .unwrap_or_else(|| UNKNOWN.to_owned());
            cognito_trust(&pool, t.amr)
        }
        (None, Some(doc)) => doc.clone(),
        (None, None) => anyhow::bail!("role {name} has no trust policy"),
    };
    let existing = match iam.get_role().role_name(name).send().await {
        Ok(o) => o.role().cloned(),
        Err(e) if code_of(&e) == Some("NoSuchEntity") => None,
        Err(e) => return Err(api_err("GetRole", e)),
    };
    let mut details = Vec::new();
    let exists = existing.is_some();
    match existing {
        None => {
            let arn = if a.dry_run {
                format!("arn:aws:iam::{UNKNOWN}:role/{name}")
            } else {
                let out = iam
                    .create_role()
                    .role_name(name)
                    .assume_role_policy_document(&trust)
                    .set_description(r.description.clone())
                    .set_max_session_duration(r.max_session_duration)
                    .send()
                    .await
                    .map_err(|e| api_err("CreateRole", e))?;
                out.role()
                    .map(|x| x.arn().to_owned())
                    .ok_or_else(|| anyhow::anyhow!("CreateRole returned no role"))?
            };
            a.plan.ids.roles.insert(name.clone(), arn);
        }
        Some(have) => {
            a.plan.ids.roles.insert(name.clone(), have.arn().to_owned());
            let have_trust = have.assume_role_policy_document().map(iam_doc);
            if !have_trust.as_deref().is_some_and(|h| same_json(h, &trust)) {
                details.push("trust policy".to_owned());
                if !a.dry_run {
                    iam.update_assume_role_policy()
                        .role_name(name)
                        .policy_document(&trust)
                        .send()
                        .await
                        .map_err(|e| api_err("UpdateAssumeRolePolicy", e))?;
                }
            }
            let desc_differs =
                r.description.is_some() && have.description() != r.description.as_deref();
            let max_differs = r.max_session_duration.is_some()
                && have.max_session_duration() != r.max_session_duration;
            if desc_differs || max_differs {
                details.push("description/max session".to_owned());
                if !a.dry_run {
                    iam.update_role()
                        .role_name(name)
                        .set_description(r.description.clone())
                        .set_max_session_duration(r.max_session_duration)
                        .send()
                        .await
                        .map_err(|e| api_err("UpdateRole", e))?;
                }
            }
        }
    }

    for p in &r.inline_policies {
        let pname = p.name.get_ref();
        let have = if exists {
            match iam
                .get_role_policy()
                .role_name(name)
                .policy_name(pname)
                .send()
                .await
            {
                Ok(o) => Some(iam_doc(o.policy_document())),
                Err(e) if code_of(&e) == Some("NoSuchEntity") => None,
                Err(e) => return Err(api_err("GetRolePolicy", e)),
            }
        } else {
            None
        };
        if !have.as_deref().is_some_and(|h| same_json(h, &p.text)) {
            if exists {
                details.push(format!("inline policy {pname}"));
            }
            if !a.dry_run {
                iam.put_role_policy()
                    .role_name(name)
                    .policy_name(pname)
                    .policy_document(&p.text)
                    .send()
                    .await
                    .map_err(|e| api_err("PutRolePolicy", e))?;
            }
        }
    }

    if !r.managed_policies.is_empty() {
        let attached: Vec<String> = if exists {
            iam.list_attached_role_policies()
                .role_name(name)
                .max_items(1000)
                .send()
                .await
                .map_err(|e| api_err("ListAttachedRolePolicies", e))?
                .attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_owned))
                .collect()
        } else {
            Vec::new()
        };
        for m in &r.managed_policies {
            let m = m.get_ref();
            let arn = if m.starts_with("arn:") {
                m.clone()
            } else {
                a.plan
                    .ids
                    .policies
                    .get(m)
                    .cloned()
                    .unwrap_or_else(|| UNKNOWN.to_owned())
            };
            if !attached.contains(&arn) {
                if exists {
                    details.push(format!("attach {m}"));
                }
                if !a.dry_run {
                    iam.attach_role_policy()
                        .role_name(name)
                        .policy_arn(&arn)
                        .send()
                        .await
                        .map_err(|e| api_err("AttachRolePolicy", e))?;
                }
            }
        }
    }
    let action = match (exists, details.is_empty()) {
        (false, _) => Action::Create,
        (true, true) => Action::Unchanged,
        (true, false) => Action::Update,
    };
    a.record("role", name, action, details);
    Ok(())
}

/// A customer-managed policy as listed: (ARN, default version id).
pub(super) type Listed = BTreeMap<String, (String, String)>;

/// Every customer-managed policy, by name.
pub(super) async fn local_policies(a: &Applier) -> anyhow::Result<Listed> {
    let mut out = BTreeMap::new();
    let mut marker = None;
    loop {
        let page =
            a.c.iam
                .list_policies()
                .scope(aws_sdk_iam::types::PolicyScopeType::Local)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| api_err("ListPolicies", e))?;
        for p in page.policies() {
            if let (Some(n), Some(arn)) = (p.policy_name(), p.arn()) {
                let v = p.default_version_id().unwrap_or("v1").to_owned();
                out.insert(n.to_owned(), (arn.to_owned(), v));
            }
        }
        if !page.is_truncated() {
            break;
        }
        marker = page.marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    Ok(out)
}

pub(super) async fn managed_policy(
    a: &mut Applier,
    p: &ManagedPolicy,
    existing: &Listed,
) -> anyhow::Result<()> {
    let name = p.name.get_ref();
    let iam = a.c.iam.clone();
    let Some((arn, version)) = existing.get(name) else {
        let arn = if a.dry_run {
            UNKNOWN.to_owned()
        } else {
            iam.create_policy()
                .policy_name(name)
                .policy_document(&p.text)
                .set_description(p.description.clone())
                .send()
                .await
                .map_err(|e| api_err("CreatePolicy", e))?
                .policy()
                .and_then(|x| x.arn())
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("CreatePolicy returned no ARN"))?
        };
        a.plan.ids.policies.insert(name.clone(), arn);
        a.record("policy", name, Action::Create, Vec::new());
        return Ok(());
    };
    a.plan.ids.policies.insert(name.clone(), arn.clone());
    let have = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .map_err(|e| api_err("GetPolicyVersion", e))?
        .policy_version()
        .and_then(|v| v.document())
        .map(iam_doc);
    if have.as_deref().is_some_and(|h| same_json(h, &p.text)) {
        a.record("policy", name, Action::Unchanged, Vec::new());
        return Ok(());
    }
    if !a.dry_run {
        // AWS keeps at most five versions: make room by deleting the oldest non-default one.
        let versions = iam
            .list_policy_versions()
            .policy_arn(arn)
            .send()
            .await
            .map_err(|e| api_err("ListPolicyVersions", e))?;
        let old: Vec<_> = versions
            .versions()
            .iter()
            .filter(|v| !v.is_default_version())
            .collect();
        if versions.versions().len() >= 5
            && let Some(oldest) = old
                .iter()
                .min_by_key(|v| v.create_date().map(|d| d.secs()).unwrap_or(0))
            && let Some(id) = oldest.version_id()
        {
            iam.delete_policy_version()
                .policy_arn(arn)
                .version_id(id)
                .send()
                .await
                .map_err(|e| api_err("DeletePolicyVersion", e))?;
        }
        iam.create_policy_version()
            .policy_arn(arn)
            .policy_document(&p.text)
            .set_as_default(true)
            .send()
            .await
            .map_err(|e| api_err("CreatePolicyVersion", e))?;
    }
    a.record(
        "policy",
        name,
        Action::Update,
        vec!["new default version".into()],
    );
    Ok(())
}

pub(super) async fn oidc_provider(a: &mut Applier, o: &OidcProvider) -> anyhow::Result<()> {
    let url = o.url.get_ref();
    let iam = a.c.iam.clone();
    let suffix = format!(
        "oidc-provider/{}",
        url.trim_start_matches("https://").trim_end_matches('/')
    );
    let list = iam
        .list_open_id_connect_providers()
        .send()
        .await
        .map_err(|e| api_err("ListOpenIDConnectProviders", e))?;
    let found = list
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .find(|arn| arn.ends_with(&suffix))
        .map(str::to_owned);
    let Some(arn) = found else {
        let arn = if a.dry_run {
            UNKNOWN.to_owned()
        } else {
            iam.create_open_id_connect_provider()
                .url(url)
                .set_client_id_list(Some(o.client_ids.clone()))
                .set_thumbprint_list((!o.thumbprints.is_empty()).then(|| o.thumbprints.clone()))
                .send()
                .await
                .map_err(|e| api_err("CreateOpenIDConnectProvider", e))?
                .open_id_connect_provider_arn()
                .map(str::to_owned)
                .ok_or_else(|| anyhow::anyhow!("CreateOpenIDConnectProvider returned no ARN"))?
        };
        a.plan.ids.oidc.insert(url.clone(), arn);
        a.record("oidc_provider", url, Action::Create, Vec::new());
        return Ok(());
    };
    a.plan.ids.oidc.insert(url.clone(), arn.clone());
    let have = iam
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(&arn)
        .send()
        .await
        .map_err(|e| api_err("GetOpenIDConnectProvider", e))?;
    let mut details = Vec::new();
    for c in &o.client_ids {
        if !have.client_id_list().contains(c) {
            details.push(format!("add client id {c}"));
            if !a.dry_run {
                iam.add_client_id_to_open_id_connect_provider()
                    .open_id_connect_provider_arn(&arn)
                    .client_id(c)
                    .send()
                    .await
                    .map_err(|e| api_err("AddClientIDToOpenIDConnectProvider", e))?;
            }
        }
    }
    // The file declares the provider whole: audiences it does not list are removed.
    for c in have.client_id_list() {
        if !o.client_ids.contains(c) {
            details.push(format!("remove client id {c}"));
            if !a.dry_run {
                iam.remove_client_id_from_open_id_connect_provider()
                    .open_id_connect_provider_arn(&arn)
                    .client_id(c)
                    .send()
                    .await
                    .map_err(|e| api_err("RemoveClientIDFromOpenIDConnectProvider", e))?;
            }
        }
    }
    if !o.thumbprints.is_empty() && have.thumbprint_list() != o.thumbprints.as_slice() {
        details.push("thumbprints".into());
        if !a.dry_run {
            iam.update_open_id_connect_provider_thumbprint()
                .open_id_connect_provider_arn(&arn)
                .set_thumbprint_list(Some(o.thumbprints.clone()))
                .send()
                .await
                .map_err(|e| api_err("UpdateOpenIDConnectProviderThumbprint", e))?;
        }
    }
    let action = if details.is_empty() {
        Action::Unchanged
    } else {
        Action::Update
    };
    a.record("oidc_provider", url, action, details);
    Ok(())
}
