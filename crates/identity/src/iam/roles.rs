//! Roles: CRUD, trust policy, tags, inline policies, attached managed policies.

use super::{
    IamResult, Req, already_exists, check_name, check_path, check_policy, date, delete_conflict,
    limit_exceeded, merge_tags, no_such_entity, paginate, tags_param, truncation,
};
use crate::entities::name_key;
use crate::model::Role;
use crate::query::ApiError;
use crate::store::{Edit, NS_POLICY, NS_ROLE};
use crate::util::url_encode;
use crate::xml::Xml;
use cubby_policy::PolicyKind;

/// `<Role>…</Role>` body.
pub(crate) fn role_xml(x: &mut Xml, r: &Role, tags: bool) {
    x.elem("Path", &r.path)
        .elem("RoleName", &r.name)
        .elem("RoleId", &r.id)
        .elem("Arn", &r.arn);
    date(x, "CreateDate", r.created);
    x.elem("AssumeRolePolicyDocument", &url_encode(&r.trust))
        .opt("Description", r.description.as_deref())
        .elem("MaxSessionDuration", &r.max_session.to_string());
    if tags && !r.tags.is_empty() {
        x.tags(
            "Tags",
            r.tags.iter().map(|t| (t.key.as_str(), t.value.as_str())),
        );
    }
}

fn no_role(name: &str) -> ApiError {
    no_such_entity(format!("The role with name {name} cannot be found."))
}

fn check_max_session(v: i64) -> Result<(), ApiError> {
    if (3600..=43200).contains(&v) {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "1 validation error detected: Value '{v}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value {} {}",
            if v < 3600 {
                "greater than or equal to"
            } else {
                "less than or equal to"
            },
            if v < 3600 { 3600 } else { 43200 }
        )))
    }
}

impl Req<'_> {
    /// The ARN of an existing role (for authorization), or the ARN it would have.
    async fn role_arn_for(&self, name: &str) -> Result<String, ApiError> {
        if let Some(e) = self.id.role_entry(name, self.now).await? {
            return Ok(e.role.arn.clone());
        }
        let path = self.p.get("Path").unwrap_or("/");
        Ok(format!("arn:aws:iam::{}:role{path}{name}", self.acct()))
    }

    async fn get_role(&self, name: &str) -> Result<Role, ApiError> {
        match self.id.store.get::<Role>(NS_ROLE, &name_key(name)).await? {
            Some((r, _)) => Ok(r),
            None => Err(no_role(name)),
        }
    }

    /// Read-modify-write a role; `NoSuchEntity` if it does not exist.
    async fn edit_role<R>(
        &self,
        name: &str,
        f: impl FnMut(&mut Role) -> Result<Edit<R>, ApiError>,
    ) -> Result<R, ApiError> {
        let key = name_key(name);
        let r = self.id.store.update(NS_ROLE, &key, f).await?;
        self.id.roles.remove(&key);
        r.ok_or_else(|| no_role(name))
    }

    /// Adjust a managed policy's attachment count.
    pub(crate) async fn count_attachment(&self, arn: &str, delta: i64) -> Result<(), ApiError> {
        self.id
            .store
            .update(NS_POLICY, arn, |p: &mut crate::model::ManagedPolicy| {
                p.attachments = (p.attachments + delta).max(0);
                Ok::<_, ApiError>(Edit::Write(()))
            })
            .await?;
        self.id.managed.remove(arn);
        Ok(())
    }

    /// The managed policy must exist to be attached.
    pub(crate) async fn require_attachable(&self, arn: &str) -> Result<(), ApiError> {
        match self.id.managed_entry(arn, self.now).await? {
            Some(_) => Ok(()),
            None => Err(no_such_entity(format!(
                "Policy {arn} does not exist or is not attachable."
            ))),
        }
    }
}

pub(crate) async fn handle(r: &Req<'_>) -> IamResult {
    let p = r.p;
    if r.action == "ListRoles" {
        let prefix = p.get("PathPrefix").unwrap_or("/");
        r.allow(&format!("arn:aws:iam::{}:role{prefix}", r.acct()))
            .await?;
        let mut roles: Vec<(String, Role)> =
            r.id.store
                .list_all::<Role>(NS_ROLE, "")
                .await?
                .into_iter()
                .filter(|(_, role)| role.path.starts_with(prefix))
                .collect();
        roles.sort_by(|a, b| a.0.cmp(&b.0));
        let (page, next) = paginate(p, roles)?;
        let mut x = Xml::new();
        x.open("Roles");
        for role in &page {
            x.open("member");
            role_xml(&mut x, role, false);
            x.close("member");
        }
        x.close("Roles");
        truncation(&mut x, next);
        return Ok(Some(x));
    }
    let name = p.req("RoleName")?.to_owned();
    check_name("roleName", &name, 64)?;
    let arn = r.role_arn_for(&name).await?;
    r.allow(&arn).await?;
    match r.action {
        "CreateRole" => {
            let path = p.get("Path").unwrap_or("/").to_owned();
            check_path(&path)?;
            let trust = p.req("AssumeRolePolicyDocument")?.to_owned();
            check_policy(&trust, PolicyKind::Trust)?;
            let max_session = p.int("MaxSessionDuration")?.unwrap_or(3600);
            check_max_session(max_session)?;
            let role = Role {
                arn: format!("arn:aws:iam::{}:role{path}{name}", r.acct()),
                name: name.clone(),
                path,
                id: crate::util::unique_id("AROA"),
                trust,
                description: p.get("Description").map(str::to_owned),
                max_session,
                created: r.now,
                tags: tags_param(p)?,
                inline: Default::default(),
                attached: Vec::new(),
            };
            if !r.id.store.insert(NS_ROLE, &name_key(&name), &role).await? {
                return Err(already_exists(format!(
                    "Role with name {name} already exists."
                )));
            }
            r.id.roles.remove(&name_key(&name));
            let mut x = Xml::new();
            x.open("Role");
            role_xml(&mut x, &role, true);
            x.close("Role");
            Ok(Some(x))
        }
        "GetRole" => {
            let role = r.get_role(&name).await?;
            let mut x = Xml::new();
            x.open("Role");
            role_xml(&mut x, &role, true);
            x.close("Role");
            Ok(Some(x))
        }
        "UpdateRole" | "UpdateRoleDescription" => {
            let desc = p.get("Description").map(str::to_owned);
            let max = p.int("MaxSessionDuration")?;
            if let Some(m) = max {
                check_max_session(m)?;
            }
            let role = r
                .edit_role(&name, |role| {
                    if let Some(d) = &desc {
                        role.description = Some(d.clone());
                    }
                    if let Some(m) = max {
                        role.max_session = m;
                    }
                    Ok(Edit::Write(role.clone()))
                })
                .await?;
            let mut x = Xml::new();
            if r.action == "UpdateRoleDescription" {
                x.open("Role");
                role_xml(&mut x, &role, true);
                x.close("Role");
            }
            Ok(Some(x))
        }
        "DeleteRole" => {
            let role = r.get_role(&name).await?;
            if !role.inline.is_empty() {
                return Err(delete_conflict(
                    "Cannot delete entity, must delete policies first.",
                ));
            }
            if !role.attached.is_empty() {
                return Err(delete_conflict(
                    "Cannot delete entity, must detach all policies first.",
                ));
            }
            r.id.store.delete(NS_ROLE, &name_key(&name)).await?;
            r.id.roles.remove(&name_key(&name));
            Ok(None)
        }
        "UpdateAssumeRolePolicy" => {
            let doc = p.req("PolicyDocument")?.to_owned();
            check_policy(&doc, PolicyKind::Trust)?;
            r.edit_role(&name, |role| {
                role.trust.clone_from(&doc);
                Ok(Edit::Write(()))
            })
            .await?;
            Ok(None)
        }
        "TagRole" => {
            let new = tags_param(p)?;
            r.edit_role(&name, |role| {
                merge_tags(&mut role.tags, new.clone());
                if role.tags.len() > 50 {
                    return Err(limit_exceeded(
                        "The number of tags has reached the maximum limit.",
                    ));
                }
                Ok(Edit::Write(()))
            })
            .await?;
            Ok(None)
        }
        "UntagRole" => {
            let keys = p.list("TagKeys");
            r.edit_role(&name, |role| {
                role.tags.retain(|t| !keys.contains(&t.key));
                Ok(Edit::Write(()))
            })
            .await?;
            Ok(None)
        }
        "ListRoleTags" => {
            let role = r.get_role(&name).await?;
            let mut x = Xml::new();
            x.tags(
                "Tags",
                role.tags.iter().map(|t| (t.key.as_str(), t.value.as_str())),
            );
            x.elem("IsTruncated", "false");
            Ok(Some(x))
        }
        "PutRolePolicy" => {
            let pname = p.req("PolicyName")?.to_owned();
            check_name("policyName", &pname, 128)?;
            let doc = p.req("PolicyDocument")?.to_owned();
            check_policy(&doc, PolicyKind::Identity)?;
            r.edit_role(&name, |role| {
                role.inline.insert(pname.clone(), doc.clone());
                Ok(Edit::Write(()))
            })
            .await?;
            Ok(None)
        }
        "GetRolePolicy" => {
            let pname = p.req("PolicyName")?;
            let role = r.get_role(&name).await?;
            let doc = role.inline.get(pname).ok_or_else(|| {
                no_such_entity(format!(
                    "The role policy with name {pname} cannot be found."
                ))
            })?;
            let mut x = Xml::new();
            x.elem("RoleName", &role.name)
                .elem("PolicyName", pname)
                .elem("PolicyDocument", &url_encode(doc));
            Ok(Some(x))
        }
        "DeleteRolePolicy" => {
            let pname = p.req("PolicyName")?.to_owned();
            r.edit_role(&name, |role| match role.inline.remove(&pname) {
                Some(_) => Ok(Edit::Write(())),
                None => Err(no_such_entity(format!(
                    "The role policy with name {pname} cannot be found."
                ))),
            })
            .await?;
            Ok(None)
        }
        "ListRolePolicies" => {
            let role = r.get_role(&name).await?;
            let items: Vec<(String, String)> =
                role.inline.keys().map(|k| (k.clone(), k.clone())).collect();
            let (page, next) = paginate(p, items)?;
            let mut x = Xml::new();
            x.members("PolicyNames", page.iter().map(String::as_str));
            truncation(&mut x, next);
            Ok(Some(x))
        }
        "AttachRolePolicy" => {
            let parn = p.req("PolicyArn")?.to_owned();
            r.require_attachable(&parn).await?;
            let added = r
                .edit_role(&name, |role| {
                    if role.attached.contains(&parn) {
                        return Ok(Edit::Keep(false));
                    }
                    if role.attached.len() >= 20 {
                        return Err(limit_exceeded(
                            "Cannot exceed quota for PoliciesPerRole: 20",
                        ));
                    }
                    role.attached.push(parn.clone());
                    Ok(Edit::Write(true))
                })
                .await?;
            if added {
                r.count_attachment(&parn, 1).await?;
            }
            Ok(None)
        }
        "DetachRolePolicy" => {
            let parn = p.req("PolicyArn")?.to_owned();
            r.edit_role(&name, |role| {
                let before = role.attached.len();
                role.attached.retain(|a| *a != parn);
                if role.attached.len() == before {
                    return Err(no_such_entity(format!("Policy {parn} was not found.")));
                }
                Ok(Edit::Write(()))
            })
            .await?;
            r.count_attachment(&parn, -1).await?;
            Ok(None)
        }
        "ListAttachedRolePolicies" => {
            let role = r.get_role(&name).await?;
            attached_xml(&role.attached, p)
        }
        _ => Err(ApiError::validation("unsupported role action")),
    }
}

/// `<AttachedPolicies><member><PolicyName/><PolicyArn/></member>…` + truncation.
pub(crate) fn attached_xml(attached: &[String], p: &crate::query::Params) -> IamResult {
    let prefix = p.get("PathPrefix").unwrap_or("/");
    let items: Vec<(String, String)> = attached
        .iter()
        .filter(|a| {
            a.splitn(6, ':')
                .nth(5)
                .and_then(|r| r.strip_prefix("policy"))
                .is_some_and(|r| r.starts_with(prefix))
        })
        .map(|a| (a.clone(), a.clone()))
        .collect();
    let (page, next) = paginate(p, items)?;
    let mut x = Xml::new();
    x.open("AttachedPolicies");
    for arn in &page {
        let name = arn.rsplit('/').next().unwrap_or(arn);
        x.open("member")
            .elem("PolicyName", name)
            .elem("PolicyArn", arn)
            .close("member");
    }
    x.close("AttachedPolicies");
    truncation(&mut x, next);
    Ok(Some(x))
}
