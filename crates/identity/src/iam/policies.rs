//! Customer managed policies and their versions.

use super::{
    IamResult, Req, already_exists, check_name, check_path, check_policy, date, delete_conflict,
    limit_exceeded, no_such_entity, paginate, tags_param, truncation,
};
use crate::model::{ManagedPolicy, PolicyVersion};
use crate::query::ApiError;
use crate::store::{Edit, NS_POLICY};
use crate::util::url_encode;
use crate::xml::Xml;
use cubby_policy::PolicyKind;

fn policy_xml(x: &mut Xml, p: &ManagedPolicy) {
    x.elem("PolicyName", &p.name)
        .elem("PolicyId", &p.id)
        .elem("Arn", &p.arn)
        .elem("Path", &p.path)
        .elem("DefaultVersionId", &p.default_version)
        .elem("AttachmentCount", &p.attachments.to_string())
        .elem("PermissionsBoundaryUsageCount", "0")
        .elem("IsAttachable", "true")
        .opt("Description", p.description.as_deref());
    date(x, "CreateDate", p.created);
    date(x, "UpdateDate", p.updated);
    if !p.tags.is_empty() {
        x.tags(
            "Tags",
            p.tags.iter().map(|t| (t.key.as_str(), t.value.as_str())),
        );
    }
}

fn version_xml(x: &mut Xml, p: &ManagedPolicy, v: &PolicyVersion, document: bool) {
    if document {
        x.elem("Document", &url_encode(&v.document));
    }
    x.elem("VersionId", &v.id).elem(
        "IsDefaultVersion",
        if v.id == p.default_version {
            "true"
        } else {
            "false"
        },
    );
    date(x, "CreateDate", v.created);
}

fn no_policy(arn: &str) -> ApiError {
    no_such_entity(format!("Policy {arn} does not exist or is not attachable."))
}

impl Req<'_> {
    async fn get_policy(&self, arn: &str) -> Result<ManagedPolicy, ApiError> {
        match self.id.store.get::<ManagedPolicy>(NS_POLICY, arn).await? {
            Some((p, _)) => Ok(p),
            None => Err(no_policy(arn)),
        }
    }

    async fn edit_policy<R>(
        &self,
        arn: &str,
        f: impl FnMut(&mut ManagedPolicy) -> Result<Edit<R>, ApiError>,
    ) -> Result<R, ApiError> {
        let r = self.id.store.update(NS_POLICY, arn, f).await?;
        self.id.managed.remove(arn);
        r.ok_or_else(|| no_policy(arn))
    }
}

pub(crate) async fn handle(r: &Req<'_>) -> IamResult {
    let p = r.p;
    let acct = r.acct().to_owned();
    match r.action {
        "CreatePolicy" => {
            let name = p.req("PolicyName")?.to_owned();
            check_name("policyName", &name, 128)?;
            let path = p.get("Path").unwrap_or("/").to_owned();
            check_path(&path)?;
            let arn = format!("arn:aws:iam::{acct}:policy{path}{name}");
            r.allow(&arn).await?;
            let doc = p.req("PolicyDocument")?.to_owned();
            check_policy(&doc, PolicyKind::Identity)?;
            let all = r.id.store.list_all::<ManagedPolicy>(NS_POLICY, "").await?;
            if all.iter().any(|(_, m)| m.name.eq_ignore_ascii_case(&name)) {
                return Err(already_exists(format!(
                    "A policy called {name} already exists. Duplicate names are not allowed."
                )));
            }
            let policy = ManagedPolicy {
                name,
                path,
                id: crate::util::unique_id("ANPA"),
                arn: arn.clone(),
                description: p.get("Description").map(str::to_owned),
                created: r.now,
                updated: r.now,
                default_version: "v1".into(),
                versions: vec![PolicyVersion {
                    id: "v1".into(),
                    document: doc,
                    created: r.now,
                }],
                next_version: 2,
                attachments: 0,
                tags: tags_param(p)?,
            };
            if !r.id.store.insert(NS_POLICY, &arn, &policy).await? {
                return Err(already_exists(format!(
                    "A policy called {} already exists. Duplicate names are not allowed.",
                    policy.name
                )));
            }
            r.id.managed.remove(&arn);
            let mut x = Xml::new();
            x.open("Policy");
            policy_xml(&mut x, &policy);
            x.close("Policy");
            Ok(Some(x))
        }
        "ListPolicies" => {
            r.allow(&format!("arn:aws:iam::{acct}:policy/")).await?;
            let scope = p.get("Scope").unwrap_or("All");
            let only_attached = p.get("OnlyAttached") == Some("true");
            let prefix = p.get("PathPrefix").unwrap_or("/");
            let items: Vec<(String, ManagedPolicy)> = if scope == "AWS" {
                Vec::new()
            } else {
                r.id.store
                    .list_all::<ManagedPolicy>(NS_POLICY, "")
                    .await?
                    .into_iter()
                    .filter(|(_, m)| m.path.starts_with(prefix))
                    .filter(|(_, m)| !only_attached || m.attachments > 0)
                    .collect()
            };
            let (page, next) = paginate(p, items)?;
            let mut x = Xml::new();
            x.open("Policies");
            for m in &page {
                x.open("member");
                policy_xml(&mut x, m);
                x.close("member");
            }
            x.close("Policies");
            truncation(&mut x, next);
            Ok(Some(x))
        }
        _ => {
            let arn = p.req("PolicyArn")?.to_owned();
            r.allow(&arn).await?;
            versions(r, &arn).await
        }
    }
}

async fn versions(r: &Req<'_>, arn: &str) -> IamResult {
    let p = r.p;
    match r.action {
        "GetPolicy" => {
            let m = r.get_policy(arn).await?;
            let mut x = Xml::new();
            x.open("Policy");
            policy_xml(&mut x, &m);
            x.close("Policy");
            Ok(Some(x))
        }
        "DeletePolicy" => {
            let m = r.get_policy(arn).await?;
            if m.attachments > 0 {
                return Err(delete_conflict(
                    "Cannot delete a policy attached to entities.",
                ));
            }
            if m.versions.len() > 1 {
                return Err(delete_conflict(
                    "This policy has more than one version. Before you delete a policy, you must delete the policy's versions. The default version is deleted with the policy.",
                ));
            }
            r.id.store.delete(NS_POLICY, arn).await?;
            r.id.managed.remove(arn);
            Ok(None)
        }
        "CreatePolicyVersion" => {
            let doc = p.req("PolicyDocument")?.to_owned();
            check_policy(&doc, PolicyKind::Identity)?;
            let set_default = p.get("SetAsDefault") == Some("true");
            let now = r.now;
            let (m, v) = r
                .edit_policy(arn, |m| {
                    if m.versions.len() >= 5 {
                        return Err(limit_exceeded(
                            "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing version.",
                        ));
                    }
                    let v = PolicyVersion {
                        id: format!("v{}", m.next_version),
                        document: doc.clone(),
                        created: now,
                    };
                    m.next_version += 1;
                    m.versions.push(v.clone());
                    if set_default {
                        m.default_version.clone_from(&v.id);
                    }
                    m.updated = now;
                    Ok(Edit::Write((m.clone(), v)))
                })
                .await?;
            let mut x = Xml::new();
            x.open("PolicyVersion");
            version_xml(&mut x, &m, &v, false);
            x.close("PolicyVersion");
            Ok(Some(x))
        }
        "GetPolicyVersion" => {
            let vid = p.req("VersionId")?;
            let m = r.get_policy(arn).await?;
            let v = m.versions.iter().find(|v| v.id == vid).ok_or_else(|| {
                no_such_entity(format!("Policy {arn} version {vid} does not exist."))
            })?;
            let mut x = Xml::new();
            x.open("PolicyVersion");
            version_xml(&mut x, &m, v, true);
            x.close("PolicyVersion");
            Ok(Some(x))
        }
        "ListPolicyVersions" => {
            let m = r.get_policy(arn).await?;
            let mut x = Xml::new();
            x.open("Versions");
            for v in m.versions.iter().rev() {
                x.open("member");
                version_xml(&mut x, &m, v, false);
                x.close("member");
            }
            x.close("Versions");
            x.elem("IsTruncated", "false");
            Ok(Some(x))
        }
        "DeletePolicyVersion" => {
            let vid = p.req("VersionId")?.to_owned();
            r.edit_policy(arn, |m| {
                if m.default_version == vid {
                    return Err(delete_conflict(
                        "Cannot delete the default version of a policy.",
                    ));
                }
                let before = m.versions.len();
                m.versions.retain(|v| v.id != vid);
                if m.versions.len() == before {
                    return Err(no_such_entity(format!(
                        "Policy {arn} version {vid} does not exist."
                    )));
                }
                Ok(Edit::Write(()))
            })
            .await?;
            Ok(None)
        }
        "SetDefaultPolicyVersion" => {
            let vid = p.req("VersionId")?.to_owned();
            let now = r.now;
            r.edit_policy(arn, |m| {
                if !m.versions.iter().any(|v| v.id == vid) {
                    return Err(no_such_entity(format!(
                        "Policy {arn} version {vid} does not exist."
                    )));
                }
                m.default_version.clone_from(&vid);
                m.updated = now;
                Ok(Edit::Write(()))
            })
            .await?;
            Ok(None)
        }
        _ => Err(ApiError::validation("unsupported policy action")),
    }
}
