//! Users, their access keys and their policies.

use super::{
    IamResult, Req, already_exists, check_name, check_path, check_policy, date, delete_conflict,
    limit_exceeded, no_such_entity, paginate, tags_param, truncation,
};
use crate::authority::Who;
use crate::entities::name_key;
use crate::model::{AccessKey, User};
use crate::query::ApiError;
use crate::store::{Edit, NS_ACCESS_KEY, NS_USER};
use crate::util::url_encode;
use crate::xml::Xml;
use cubby_policy::PolicyKind;

fn user_xml(x: &mut Xml, u: &User) {
    x.elem("Path", &u.path)
        .elem("UserName", &u.name)
        .elem("UserId", &u.id)
        .elem("Arn", &u.arn);
    date(x, "CreateDate", u.created);
    if !u.tags.is_empty() {
        x.tags(
            "Tags",
            u.tags.iter().map(|t| (t.key.as_str(), t.value.as_str())),
        );
    }
}

fn no_user(name: &str) -> ApiError {
    no_such_entity(format!("The user with name {name} cannot be found."))
}

impl Req<'_> {
    /// `UserName`, or the calling user's name for operations that default to the caller.
    fn user_name(&self) -> Result<String, ApiError> {
        if let Some(n) = self.p.get("UserName").filter(|n| !n.is_empty()) {
            check_name("userName", n, 64)?;
            return Ok(n.to_owned());
        }
        match self.who {
            Who::User(u) => Ok(u.name.clone()),
            _ => Err(ApiError::validation(
                "Must specify userName when calling with non-User credentials",
            )),
        }
    }

    async fn get_user(&self, name: &str) -> Result<User, ApiError> {
        match self.id.store.get::<User>(NS_USER, &name_key(name)).await? {
            Some((u, _)) => Ok(u),
            None => Err(no_user(name)),
        }
    }

    async fn edit_user<R>(
        &self,
        name: &str,
        f: impl FnMut(&mut User) -> Result<Edit<R>, ApiError>,
    ) -> Result<R, ApiError> {
        let key = name_key(name);
        let r = self.id.store.update(NS_USER, &key, f).await?;
        self.id.users.remove(&key);
        r.ok_or_else(|| no_user(name))
    }

    async fn user_arn_for(&self, name: &str) -> Result<String, ApiError> {
        if let Some(e) = self.id.user_entry(name, self.now).await? {
            return Ok(e.user.arn.clone());
        }
        let path = self.p.get("Path").unwrap_or("/");
        Ok(format!("arn:aws:iam::{}:user{path}{name}", self.acct()))
    }
}

pub(crate) async fn handle(r: &Req<'_>) -> IamResult {
    let p = r.p;
    match r.action {
        "ListUsers" | "ListGroups" => {
            let prefix = p.get("PathPrefix").unwrap_or("/");
            let kind = if r.action == "ListUsers" {
                "user"
            } else {
                "group"
            };
            r.allow(&format!("arn:aws:iam::{}:{kind}{prefix}", r.acct()))
                .await?;
            let mut x = Xml::new();
            if r.action == "ListGroups" {
                x.open("Groups")
                    .close("Groups")
                    .elem("IsTruncated", "false");
                return Ok(Some(x));
            }
            let users: Vec<(String, User)> =
                r.id.store
                    .list_all::<User>(NS_USER, "")
                    .await?
                    .into_iter()
                    .filter(|(_, u)| u.path.starts_with(prefix))
                    .collect();
            let (page, next) = paginate(p, users)?;
            x.open("Users");
            for u in &page {
                x.open("member");
                user_xml(&mut x, u);
                x.close("member");
            }
            x.close("Users");
            truncation(&mut x, next);
            return Ok(Some(x));
        }
        "GetUser" if p.get("UserName").is_none_or(str::is_empty) => {
            // The caller itself; no permission needed for one's own identity.
            let mut x = Xml::new();
            x.open("User");
            match r.who {
                Who::Root => {
                    x.elem("UserId", r.acct())
                        .elem("Arn", &format!("arn:aws:iam::{}:root", r.acct()));
                    date(&mut x, "CreateDate", 0);
                }
                Who::User(u) => {
                    let u = r.get_user(&u.name).await?;
                    user_xml(&mut x, &u);
                }
                Who::Session(_) => {
                    return Err(ApiError::validation(
                        "Must specify userName when calling with non-User credentials",
                    ));
                }
            }
            x.close("User");
            return Ok(Some(x));
        }
        _ => {}
    }
    let name = r.user_name()?;
    let arn = r.user_arn_for(&name).await?;
    r.allow(&arn).await?;
    match r.action {
        "CreateUser" => {
            let path = p.get("Path").unwrap_or("/").to_owned();
            check_path(&path)?;
            let user = User {
                arn: format!("arn:aws:iam::{}:user{path}{name}", r.acct()),
                name: name.clone(),
                path,
                id: crate::util::unique_id("AIDA"),
                created: r.now,
                tags: tags_param(p)?,
                inline: Default::default(),
                attached: Vec::new(),
                keys: Vec::new(),
            };
            if !r.id.store.insert(NS_USER, &name_key(&name), &user).await? {
                return Err(already_exists(format!(
                    "User with name {name} already exists."
                )));
            }
            r.id.users.remove(&name_key(&name));
            let mut x = Xml::new();
            x.open("User");
            user_xml(&mut x, &user);
            x.close("User");
            Ok(Some(x))
        }
        "GetUser" => {
            let u = r.get_user(&name).await?;
            let mut x = Xml::new();
            x.open("User");
            user_xml(&mut x, &u);
            x.close("User");
            Ok(Some(x))
        }
        "DeleteUser" => {
            let u = r.get_user(&name).await?;
            if !u.keys.is_empty() {
                return Err(delete_conflict(
                    "Cannot delete entity, must delete access keys first.",
                ));
            }
            if !u.inline.is_empty() {
                return Err(delete_conflict(
                    "Cannot delete entity, must delete policies first.",
                ));
            }
            if !u.attached.is_empty() {
                return Err(delete_conflict(
                    "Cannot delete entity, must detach all policies first.",
                ));
            }
            r.id.store.delete(NS_USER, &name_key(&name)).await?;
            r.id.users.remove(&name_key(&name));
            Ok(None)
        }
        "CreateAccessKey" => {
            let u = r.get_user(&name).await?;
            if u.keys.len() >= 2 {
                return Err(limit_exceeded(
                    "Cannot exceed quota for AccessKeysPerUser: 2",
                ));
            }
            let akid = crate::util::long_term_key_id();
            let secret = crate::util::new_secret();
            let key = AccessKey {
                id: akid.clone(),
                user: name_key(&u.name),
                secret_sealed: r.id.seal_secret(&akid, &secret),
                status: "Active".into(),
                created: r.now,
            };
            r.edit_user(&name, |u| {
                if u.keys.len() >= 2 {
                    return Err(limit_exceeded(
                        "Cannot exceed quota for AccessKeysPerUser: 2",
                    ));
                }
                u.keys.push(akid.clone());
                Ok(Edit::Write(()))
            })
            .await?;
            if !r.id.store.insert(NS_ACCESS_KEY, &akid, &key).await? {
                return Err(ApiError::internal("access key id collision"));
            }
            r.id.keys.remove(&akid);
            let mut x = Xml::new();
            x.open("AccessKey")
                .elem("UserName", &u.name)
                .elem("AccessKeyId", &akid)
                .elem("Status", "Active")
                .elem("SecretAccessKey", &secret);
            date(&mut x, "CreateDate", r.now);
            x.close("AccessKey");
            Ok(Some(x))
        }
        "ListAccessKeys" => {
            let u = r.get_user(&name).await?;
            let mut x = Xml::new();
            x.open("AccessKeyMetadata");
            for k in &u.keys {
                if let Some((key, _)) = r.id.store.get::<AccessKey>(NS_ACCESS_KEY, k).await? {
                    x.open("member")
                        .elem("UserName", &u.name)
                        .elem("AccessKeyId", &key.id)
                        .elem("Status", &key.status);
                    date(&mut x, "CreateDate", key.created);
                    x.close("member");
                }
            }
            x.close("AccessKeyMetadata").elem("IsTruncated", "false");
            Ok(Some(x))
        }
        "DeleteAccessKey" | "UpdateAccessKey" => {
            let akid = p.req("AccessKeyId")?.to_owned();
            let missing =
                || no_such_entity(format!("The Access Key with id {akid} cannot be found."));
            let u = r.get_user(&name).await?;
            if !u.keys.contains(&akid) {
                return Err(missing());
            }
            if r.action == "DeleteAccessKey" {
                r.id.store.delete(NS_ACCESS_KEY, &akid).await?;
                r.edit_user(&name, |u| {
                    u.keys.retain(|k| *k != akid);
                    Ok(Edit::Write(()))
                })
                .await?;
            } else {
                let status = p.req("Status")?.to_owned();
                if status != "Active" && status != "Inactive" {
                    return Err(ApiError::validation(format!(
                        "1 validation error detected: Value '{status}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]"
                    )));
                }
                let found =
                    r.id.store
                        .update(NS_ACCESS_KEY, &akid, |k: &mut AccessKey| {
                            k.status.clone_from(&status);
                            Ok::<_, ApiError>(Edit::Write(()))
                        })
                        .await?;
                if found.is_none() {
                    return Err(missing());
                }
            }
            r.id.keys.remove(&akid);
            Ok(None)
        }
        "PutUserPolicy" => {
            let pname = p.req("PolicyName")?.to_owned();
            check_name("policyName", &pname, 128)?;
            let doc = p.req("PolicyDocument")?.to_owned();
            check_policy(&doc, PolicyKind::Identity)?;
            r.edit_user(&name, |u| {
                u.inline.insert(pname.clone(), doc.clone());
                Ok(Edit::Write(()))
            })
            .await?;
            Ok(None)
        }
        "GetUserPolicy" => {
            let pname = p.req("PolicyName")?;
            let u = r.get_user(&name).await?;
            let doc = u.inline.get(pname).ok_or_else(|| {
                no_such_entity(format!(
                    "The user policy with name {pname} cannot be found."
                ))
            })?;
            let mut x = Xml::new();
            x.elem("UserName", &u.name)
                .elem("PolicyName", pname)
                .elem("PolicyDocument", &url_encode(doc));
            Ok(Some(x))
        }
        "DeleteUserPolicy" => {
            let pname = p.req("PolicyName")?.to_owned();
            r.edit_user(&name, |u| match u.inline.remove(&pname) {
                Some(_) => Ok(Edit::Write(())),
                None => Err(no_such_entity(format!(
                    "The user policy with name {pname} cannot be found."
                ))),
            })
            .await?;
            Ok(None)
        }
        "ListUserPolicies" => {
            let u = r.get_user(&name).await?;
            let items: Vec<(String, String)> =
                u.inline.keys().map(|k| (k.clone(), k.clone())).collect();
            let (page, next) = paginate(p, items)?;
            let mut x = Xml::new();
            x.members("PolicyNames", page.iter().map(String::as_str));
            truncation(&mut x, next);
            Ok(Some(x))
        }
        "AttachUserPolicy" => {
            let parn = p.req("PolicyArn")?.to_owned();
            r.require_attachable(&parn).await?;
            let added = r
                .edit_user(&name, |u| {
                    if u.attached.contains(&parn) {
                        return Ok(Edit::Keep(false));
                    }
                    if u.attached.len() >= 20 {
                        return Err(limit_exceeded(
                            "Cannot exceed quota for PoliciesPerUser: 20",
                        ));
                    }
                    u.attached.push(parn.clone());
                    Ok(Edit::Write(true))
                })
                .await?;
            if added {
                r.count_attachment(&parn, 1).await?;
            }
            Ok(None)
        }
        "DetachUserPolicy" => {
            let parn = p.req("PolicyArn")?.to_owned();
            r.edit_user(&name, |u| {
                let before = u.attached.len();
                u.attached.retain(|a| *a != parn);
                if u.attached.len() == before {
                    return Err(no_such_entity(format!("Policy {parn} was not found.")));
                }
                Ok(Edit::Write(()))
            })
            .await?;
            r.count_attachment(&parn, -1).await?;
            Ok(None)
        }
        "ListAttachedUserPolicies" => {
            let u = r.get_user(&name).await?;
            super::roles::attached_xml(&u.attached, p)
        }
        _ => Err(ApiError::validation("unsupported user action")),
    }
}
