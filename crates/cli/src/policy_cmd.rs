//! `cubby policy check` and `cubby policy simulate`: the IAM policy engine offline, exactly as
//! the server runs it. Output formats and exit codes are fixed (tooling depends on them).

use cubby_policy::{Policy, PolicyKind, PolicySet, Principal, RequestContext};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `cubby policy …`
#[derive(clap::Subcommand, Debug)]
pub enum PolicyCommand {
    /// Validate policy documents: syntax errors with file:line:column, plus warnings for
    /// over-broad grants, unknown actions, per-user folders without a variable, Allow with
    /// NotAction. Exit 0 when every file is valid, 1 otherwise.
    Check {
        /// Policy JSON files (identity, bucket or trust policies; the kind is inferred).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Decide one request. The first output line is exactly `allowed`, `explicitDeny` or
    /// `implicitDeny`; the deciding statements follow. Exit 0; invalid input exits 2.
    Simulate(SimulateArgs),
}

/// Arguments of `cubby policy simulate`.
#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Identity policy file (repeatable: the caller's role or user policies).
    #[arg(long = "policy", required = true)]
    policies: Vec<PathBuf>,
    /// Session policy file (intersected with the identity policies).
    #[arg(long)]
    session_policy: Option<PathBuf>,
    /// Resource policy file (a bucket policy).
    #[arg(long)]
    resource_policy: Option<PathBuf>,
    /// Permissions boundary file.
    #[arg(long)]
    boundary: Option<PathBuf>,
    /// Action, e.g. `s3:PutObject`.
    #[arg(long)]
    action: String,
    /// Resource ARN, e.g. `arn:aws:s3:::bucket/key`.
    #[arg(long)]
    resource: String,
    /// Caller: `arn:aws:iam::<acct>:user/<name>`, `arn:aws:iam::<acct>:root`,
    /// `arn:aws:sts::<acct>:assumed-role/<role>/<session>` or `anonymous`
    /// (default: `arn:aws:iam::000000000000:user/simulated`).
    #[arg(long)]
    principal: Option<String>,
    /// Condition key value, `KEY=VALUE` (repeatable; a repeated key is multi-valued).
    #[arg(long = "context")]
    context: Vec<String>,
}

/// Infer the kind of a policy document: a statement with Principal makes it a resource
/// policy; one that allows `sts:AssumeRole*` to a principal is a role trust policy.
fn kind_of(json: &str) -> PolicyKind {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return PolicyKind::Identity;
    };
    let stmts: Vec<&serde_json::Value> = match v.get("Statement") {
        Some(serde_json::Value::Array(a)) => a.iter().collect(),
        Some(s) => vec![s],
        None => Vec::new(),
    };
    let has_principal = stmts
        .iter()
        .any(|s| s.get("Principal").is_some() || s.get("NotPrincipal").is_some());
    if !has_principal {
        return PolicyKind::Identity;
    }
    let trust = stmts.iter().any(|s| {
        let actions = match s.get("Action") {
            Some(serde_json::Value::String(a)) => vec![a.as_str()],
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|x| x.as_str()).collect(),
            _ => Vec::new(),
        };
        actions
            .iter()
            .any(|a| a.to_ascii_lowercase().starts_with("sts:assumerole"))
    });
    if trust {
        PolicyKind::Trust
    } else {
        PolicyKind::Resource
    }
}

/// Run `cubby policy check`.
pub fn check(files: &[PathBuf]) -> ExitCode {
    let mut ok = true;
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                println!("{}: error: cannot read: {e}", file.display());
                ok = false;
                continue;
            }
        };
        match Policy::parse_as(&text, kind_of(&text)) {
            Ok(policy) => {
                let warnings = cubby_policy::lint(&policy);
                for w in &warnings {
                    println!(
                        "{}:{}:{}: warning[{}]: {}",
                        file.display(),
                        w.line,
                        w.column,
                        w.code.as_str(),
                        w.message
                    );
                }
                println!(
                    "{}: valid ({} statement{}, {} warning{})",
                    file.display(),
                    policy.statements().len(),
                    if policy.statements().len() == 1 {
                        ""
                    } else {
                        "s"
                    },
                    warnings.len(),
                    if warnings.len() == 1 { "" } else { "s" }
                );
            }
            Err(e) => {
                println!(
                    "{}:{}:{}: error: {}",
                    file.display(),
                    e.line,
                    e.column,
                    e.message
                );
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn load(path: &Path, kind: PolicyKind) -> Result<Policy, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    Policy::parse_as(&text, kind)
        .map_err(|e| format!("{}:{}:{}: {}", path.display(), e.line, e.column, e.message))
}

/// Parse a principal ARN (or `anonymous`).
fn principal(arn: Option<&str>) -> Result<Principal, String> {
    let arn = arn.unwrap_or("arn:aws:iam::000000000000:user/simulated");
    if arn == "anonymous" || arn == "*" {
        return Ok(Principal::Anonymous);
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, _, service, _, account, resource] = parts.as_slice() else {
        return Err(format!("--principal {arn}: not an ARN"));
    };
    let account = (*account).to_owned();
    match (*service, *resource) {
        ("iam", "root") => Ok(Principal::Root { account }),
        ("iam", r) if r.starts_with("user/") => {
            let name = r.rsplit('/').next().unwrap_or(r).to_owned();
            Ok(Principal::User {
                arn: arn.to_owned(),
                account,
                user_id: format!("AIDA{}", name.to_ascii_uppercase()),
                name,
            })
        }
        ("sts", r) if r.starts_with("assumed-role/") => {
            let mut it = r.splitn(3, '/').skip(1);
            let (Some(role), Some(session)) = (it.next(), it.next()) else {
                return Err(format!(
                    "--principal {arn}: expected assumed-role/<role>/<session>"
                ));
            };
            Ok(Principal::AssumedRole {
                role_arn: format!("arn:aws:iam::{account}:role/{role}"),
                session_arn: arn.to_owned(),
                role_id: format!("AROA{}", role.to_ascii_uppercase()),
                session_name: session.to_owned(),
                account,
            })
        }
        _ => Err(format!(
            "--principal {arn}: expected a user, root or assumed-role ARN, or `anonymous`"
        )),
    }
}

/// Run `cubby policy simulate`.
pub fn simulate(args: &SimulateArgs) -> ExitCode {
    match simulate_inner(args) {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cubby policy simulate: {e}");
            ExitCode::from(2)
        }
    }
}

fn simulate_inner(args: &SimulateArgs) -> Result<Vec<String>, String> {
    let identity: Vec<Policy> = args
        .policies
        .iter()
        .map(|p| load(p, PolicyKind::Identity))
        .collect::<Result<_, _>>()?;
    let session = args
        .session_policy
        .as_deref()
        .map(|p| load(p, PolicyKind::Identity))
        .transpose()?;
    let resource = args
        .resource_policy
        .as_deref()
        .map(|p| load(p, PolicyKind::Resource))
        .transpose()?;
    let boundary = args
        .boundary
        .as_deref()
        .map(|p| load(p, PolicyKind::Identity))
        .transpose()?;
    if !args.action.contains(':') {
        return Err(format!("--action {}: expected service:Action", args.action));
    }
    let mut ctx = RequestContext::new(
        args.action.clone(),
        args.resource.clone(),
        principal(args.principal.as_deref())?,
    );
    let mut seen: Vec<String> = Vec::new();
    for kv in &args.context {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("--context {kv}: expected KEY=VALUE"))?;
        let key = k.to_ascii_lowercase();
        if seen.contains(&key) {
            ctx.add(k, v);
        } else {
            // The first value sets the key; repeats make it multi-valued.
            let repeated = args
                .context
                .iter()
                .filter(|o| {
                    o.split_once('=')
                        .is_some_and(|(k2, _)| k2.eq_ignore_ascii_case(k))
                })
                .count()
                > 1;
            if repeated {
                ctx.add(k, v);
            } else {
                ctx.set(k, v);
            }
            seen.push(key);
        }
    }
    let identity_refs: Vec<&Policy> = identity.iter().collect();
    let session_refs: Vec<&Policy> = session.iter().collect();
    let set = PolicySet {
        identity: &identity_refs,
        session: session.as_ref().map(|_| session_refs.as_slice()),
        resource: resource.as_ref(),
        boundary: boundary.as_ref(),
    };
    let eval = cubby_policy::evaluate(&set, &ctx);
    let mut lines = vec![eval.decision.as_str().to_owned()];
    for s in &eval.deciding {
        lines.push(format!("  {s}"));
    }
    if eval.deciding.is_empty() {
        lines.push("  no statement matched (default deny)".to_owned());
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_inferred() {
        assert!(matches!(
            kind_of(r#"{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#),
            PolicyKind::Identity
        ));
        assert!(matches!(
            kind_of(
                r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}}"#
            ),
            PolicyKind::Resource
        ));
        assert!(matches!(
            kind_of(
                r#"{"Statement":[{"Effect":"Allow","Principal":{"Federated":"x"},"Action":"sts:AssumeRoleWithWebIdentity"}]}"#
            ),
            PolicyKind::Trust
        ));
    }

    #[test]
    fn principals_parse() {
        assert!(matches!(
            principal(Some("anonymous")),
            Ok(Principal::Anonymous)
        ));
        assert!(matches!(
            principal(Some("arn:aws:sts::000000000000:assumed-role/R/S")),
            Ok(Principal::AssumedRole { .. })
        ));
        assert!(principal(Some("nonsense")).is_err());
    }
}
