//! `cubby admin …`: everyday operator chores through the AWS APIs with the root keys, with
//! pools named by their id or by their name.

use crate::apply::{Clients, api_err};
use crate::client::ServerArgs;
use std::process::ExitCode;

/// Admin subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum AdminCommand {
    /// List the identity pools and user pools (ids and names).
    Pools {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the identities of an identity pool.
    Identities {
        /// Identity pool id or name.
        pool: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Delete identities (AWS has no "disable"; a deleted identity's credentials stop working
    /// when they expire, and its next sign-in gets a new identity id).
    DeleteIdentity {
        /// Identity ids (`us-east-1:<uuid>`).
        #[arg(required = true)]
        identity_ids: Vec<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Rotate an IAM user's access key: create a new key (printed once), then deactivate the
    /// old ones (`--delete` deletes them). Requests signed with an old key fail from then on.
    RotateAccessKey {
        /// IAM user name.
        user: String,
        /// Delete the old keys instead of deactivating them.
        #[arg(long)]
        delete: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the users of a user pool.
    Users {
        /// User pool id or name.
        pool: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Create a confirmed user with a permanent password (AdminCreateUser + AdminSetUserPassword).
    CreateUser {
        /// User pool id or name.
        pool: String,
        /// User name (an email address in pools that sign in by email).
        username: String,
        /// Password (ask the user to change it); read from CUBBY_NEW_PASSWORD when absent.
        #[arg(long, env = "CUBBY_NEW_PASSWORD", hide_env_values = true)]
        password: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Disable a user: sign-ins fail and their refresh tokens stop working.
    DisableUser {
        /// User pool id or name.
        pool: String,
        /// User name.
        username: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Enable a disabled user.
    EnableUser {
        /// User pool id or name.
        pool: String,
        /// User name.
        username: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Sign a user out everywhere (AdminUserGlobalSignOut: their refresh tokens are revoked).
    SignOutUser {
        /// User pool id or name.
        pool: String,
        /// User name.
        username: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Delete a user.
    DeleteUser {
        /// User pool id or name.
        pool: String,
        /// User name.
        username: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Revoke every session of these roles issued until now — what the IAM console's "Revoke
    /// active sessions" does: the inline policy `AWSRevokeOlderSessions` denies everything to
    /// sessions whose `aws:TokenIssueTime` is earlier. Identity-pool credentials (guests and
    /// signed-in users) are such sessions: their next GetCredentialsForIdentity gets working
    /// ones. Applies on every node within a second; run it again to move the cut-off.
    RevokeSessions {
        /// Role names.
        #[arg(required = true)]
        roles: Vec<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// The name the IAM console gives the policy (kept, so tools that know it recognise it).
const REVOKE_POLICY: &str = "AWSRevokeOlderSessions";

/// The policy that refuses sessions issued before `cutoff` (ISO 8601, UTC).
fn revoke_policy(cutoff: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Deny",
            "Action": ["*"],
            "Resource": ["*"],
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}}
        }]
    })
    .to_string()
}

/// Now rounded up to the next whole second, as ISO 8601: session issue times have whole
/// seconds, so every session issued before this command ran is strictly earlier.
fn revoke_cutoff() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64 + 1)
        .unwrap_or(0);
    cubby_auth::format_iso8601(now)
}

async fn identity_pool_id(c: &Clients, pool: &str) -> anyhow::Result<String> {
    if pool.contains(':') {
        return Ok(pool.to_owned());
    }
    let out =
        c.ci.list_identity_pools()
            .max_results(60)
            .send()
            .await
            .map_err(|e| api_err("ListIdentityPools", e))?;
    out.identity_pools()
        .iter()
        .find(|p| p.identity_pool_name() == Some(pool))
        .and_then(|p| p.identity_pool_id())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no identity pool named {pool}"))
}

/// `us-east-1_AbC123`: a region (letters, dashes, a digit), `_`, alphanumerics.
fn looks_like_user_pool_id(s: &str) -> bool {
    let Some((region, rest)) = s.split_once('_') else {
        return false;
    };
    region.split('-').count() >= 3
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && region.ends_with(|c: char| c.is_ascii_digit())
        && !rest.is_empty()
        && rest.bytes().all(|b| b.is_ascii_alphanumeric())
}

async fn user_pool_id(c: &Clients, pool: &str) -> anyhow::Result<String> {
    if looks_like_user_pool_id(pool) {
        return Ok(pool.to_owned());
    }
    let out = c
        .idp
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .map_err(|e| api_err("ListUserPools", e))?;
    out.user_pools()
        .iter()
        .find(|p| p.name() == Some(pool))
        .and_then(|p| p.id())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no user pool named {pool}"))
}

/// Run one admin command.
pub async fn run(cmd: AdminCommand) -> anyhow::Result<ExitCode> {
    use AdminCommand as A;
    let server = match &cmd {
        A::Pools { server }
        | A::Identities { server, .. }
        | A::DeleteIdentity { server, .. }
        | A::RotateAccessKey { server, .. }
        | A::Users { server, .. }
        | A::CreateUser { server, .. }
        | A::DisableUser { server, .. }
        | A::EnableUser { server, .. }
        | A::SignOutUser { server, .. }
        | A::DeleteUser { server, .. }
        | A::RevokeSessions { server, .. } => server,
    };
    let c = Clients::new(&server.target()?);
    match &cmd {
        A::Pools { .. } => {
            let ip =
                c.ci.list_identity_pools()
                    .max_results(60)
                    .send()
                    .await
                    .map_err(|e| api_err("ListIdentityPools", e))?;
            for p in ip.identity_pools() {
                println!(
                    "identity_pool  {}  {}",
                    p.identity_pool_id().unwrap_or_default(),
                    p.identity_pool_name().unwrap_or_default()
                );
            }
            let up = c
                .idp
                .list_user_pools()
                .max_results(60)
                .send()
                .await
                .map_err(|e| api_err("ListUserPools", e))?;
            for p in up.user_pools() {
                println!(
                    "user_pool      {}  {}",
                    p.id().unwrap_or_default(),
                    p.name().unwrap_or_default()
                );
            }
        }
        A::Identities { pool, .. } => {
            let id = identity_pool_id(&c, pool).await?;
            let mut next = None;
            loop {
                let out =
                    c.ci.list_identities()
                        .identity_pool_id(&id)
                        .max_results(60)
                        .set_next_token(next)
                        .send()
                        .await
                        .map_err(|e| api_err("ListIdentities", e))?;
                for i in out.identities() {
                    let logins = i.logins().join(",");
                    println!(
                        "{}  {}",
                        i.identity_id().unwrap_or_default(),
                        if logins.is_empty() {
                            "(guest)"
                        } else {
                            &logins
                        }
                    );
                }
                next = out.next_token().map(str::to_owned);
                if next.is_none() {
                    break;
                }
            }
        }
        A::DeleteIdentity { identity_ids, .. } => {
            let out =
                c.ci.delete_identities()
                    .set_identity_ids_to_delete(Some(identity_ids.clone()))
                    .send()
                    .await
                    .map_err(|e| api_err("DeleteIdentities", e))?;
            let failed = out.unprocessed_identity_ids();
            for f in failed {
                eprintln!(
                    "not deleted: {} ({:?})",
                    f.identity_id().unwrap_or_default(),
                    f.error_code()
                );
            }
            if !failed.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
            println!("deleted {} identities", identity_ids.len());
        }
        A::RevokeSessions { roles, .. } => {
            let cutoff = revoke_cutoff();
            for role in roles {
                c.iam
                    .put_role_policy()
                    .role_name(role)
                    .policy_name(REVOKE_POLICY)
                    .policy_document(revoke_policy(&cutoff))
                    .send()
                    .await
                    .map_err(|e| api_err("PutRolePolicy", e))?;
                println!("{role}: sessions issued before {cutoff} are revoked");
            }
        }
        A::RotateAccessKey { user, delete, .. } => {
            let old: Vec<String> = c
                .iam
                .list_access_keys()
                .user_name(user)
                .send()
                .await
                .map_err(|e| api_err("ListAccessKeys", e))?
                .access_key_metadata()
                .iter()
                .filter_map(|k| k.access_key_id().map(str::to_owned))
                .collect();
            if old.len() >= 2 {
                anyhow::bail!(
                    "{user} already has two access keys ({}); delete one first (IAM allows two)",
                    old.join(", ")
                );
            }
            let created = c
                .iam
                .create_access_key()
                .user_name(user)
                .send()
                .await
                .map_err(|e| api_err("CreateAccessKey", e))?;
            let key = created
                .access_key()
                .ok_or_else(|| anyhow::anyhow!("CreateAccessKey returned no key"))?;
            for id in &old {
                if *delete {
                    c.iam
                        .delete_access_key()
                        .user_name(user)
                        .access_key_id(id)
                        .send()
                        .await
                        .map_err(|e| api_err("DeleteAccessKey", e))?;
                } else {
                    c.iam
                        .update_access_key()
                        .user_name(user)
                        .access_key_id(id)
                        .status(aws_sdk_iam::types::StatusType::Inactive)
                        .send()
                        .await
                        .map_err(|e| api_err("UpdateAccessKey", e))?;
                }
            }
            println!("access key id:     {}", key.access_key_id());
            println!("secret access key: {}", key.secret_access_key());
            let verb = if *delete { "deleted" } else { "deactivated" };
            for id in &old {
                eprintln!("{verb} {id}");
            }
        }
        A::Users { pool, .. } => {
            let id = user_pool_id(&c, pool).await?;
            let mut next = None;
            loop {
                let out = c
                    .idp
                    .list_users()
                    .user_pool_id(&id)
                    .limit(60)
                    .set_pagination_token(next)
                    .send()
                    .await
                    .map_err(|e| api_err("ListUsers", e))?;
                for u in out.users() {
                    println!(
                        "{}  {}  {}",
                        u.username().unwrap_or_default(),
                        u.user_status().map(|s| s.as_str()).unwrap_or("?"),
                        if u.enabled() { "enabled" } else { "disabled" }
                    );
                }
                next = out.pagination_token().map(str::to_owned);
                if next.is_none() {
                    break;
                }
            }
        }
        A::CreateUser {
            pool,
            username,
            password,
            ..
        } => {
            let id = user_pool_id(&c, pool).await?;
            c.idp
                .admin_create_user()
                .user_pool_id(&id)
                .username(username)
                .message_action(aws_sdk_cognitoidentityprovider::types::MessageActionType::Suppress)
                .send()
                .await
                .map_err(|e| api_err("AdminCreateUser", e))?;
            c.idp
                .admin_set_user_password()
                .user_pool_id(&id)
                .username(username)
                .password(password)
                .permanent(true)
                .send()
                .await
                .map_err(|e| api_err("AdminSetUserPassword", e))?;
            println!("created {username} in {id}");
        }
        A::DisableUser { pool, username, .. } => {
            let id = user_pool_id(&c, pool).await?;
            c.idp
                .admin_disable_user()
                .user_pool_id(&id)
                .username(username)
                .send()
                .await
                .map_err(|e| api_err("AdminDisableUser", e))?;
            println!("disabled {username}");
        }
        A::EnableUser { pool, username, .. } => {
            let id = user_pool_id(&c, pool).await?;
            c.idp
                .admin_enable_user()
                .user_pool_id(&id)
                .username(username)
                .send()
                .await
                .map_err(|e| api_err("AdminEnableUser", e))?;
            println!("enabled {username}");
        }
        A::SignOutUser { pool, username, .. } => {
            let id = user_pool_id(&c, pool).await?;
            c.idp
                .admin_user_global_sign_out()
                .user_pool_id(&id)
                .username(username)
                .send()
                .await
                .map_err(|e| api_err("AdminUserGlobalSignOut", e))?;
            println!("signed {username} out everywhere");
        }
        A::DeleteUser { pool, username, .. } => {
            let id = user_pool_id(&c, pool).await?;
            c.idp
                .admin_delete_user()
                .user_pool_id(&id)
                .username(username)
                .send()
                .await
                .map_err(|e| api_err("AdminDeleteUser", e))?;
            println!("deleted {username}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_pool_ids_are_told_from_names() {
        assert!(super::looks_like_user_pool_id("us-east-1_AbC123"));
        assert!(super::looks_like_user_pool_id("eu-central-1_x"));
        assert!(!super::looks_like_user_pool_id("users"));
        assert!(!super::looks_like_user_pool_id("my-web_pool"));
        assert!(!super::looks_like_user_pool_id("us-east-1_"));
    }
}
