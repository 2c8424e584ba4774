//! `Principal` / `NotPrincipal`: parsing and matching against the caller.

use crate::PolicyError;
use crate::arn;
use crate::context::Principal;
use crate::json::{Json, Node, Pos};

/// The principal types a policy may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrincipalType {
    Aws,
    Federated,
    Service,
    CanonicalUser,
}

impl PrincipalType {
    /// `Principal.AWS`, `NotPrincipal.Federated`, … for messages.
    fn element_name(self, negated: bool) -> &'static str {
        match (negated, self) {
            (false, PrincipalType::Aws) => "Principal.AWS",
            (false, PrincipalType::Federated) => "Principal.Federated",
            (false, PrincipalType::Service) => "Principal.Service",
            (false, PrincipalType::CanonicalUser) => "Principal.CanonicalUser",
            (true, PrincipalType::Aws) => "NotPrincipal.AWS",
            (true, PrincipalType::Federated) => "NotPrincipal.Federated",
            (true, PrincipalType::Service) => "NotPrincipal.Service",
            (true, PrincipalType::CanonicalUser) => "NotPrincipal.CanonicalUser",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PrincipalType::Aws => "AWS",
            PrincipalType::Federated => "Federated",
            PrincipalType::Service => "Service",
            PrincipalType::CanonicalUser => "CanonicalUser",
        }
    }
}

/// What a principal value designates.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// `{"AWS": "*"}`: every caller except web identities (which are `Federated`).
    AnyAws,
    /// An account id or `arn:aws:iam::<acct>:root`: every principal of that account.
    Account(String),
    /// An IAM user ARN.
    User(String),
    /// An IAM role ARN: every session of that role.
    Role(String),
    /// An STS assumed-role session ARN.
    Session(String),
    /// A unique id (`AIDA…` user or `AROA…` role), as AWS rewrites ARNs of deleted principals.
    UniqueId(String),
    /// `{"Federated": "<provider>"}`.
    Federated(String),
    /// `{"Federated": "*"}`.
    AnyFederated,
    /// Service principals, canonical users, federated users: never a cubby caller.
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrincipalValue {
    pub text: String,
    pub pos: Pos,
    target: Target,
}

/// A compiled `Principal` or `NotPrincipal` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrincipalSpec {
    pub negated: bool,
    pub pos: Pos,
    /// `"Principal": "*"`.
    pub star: bool,
    /// Principal types in document order with their values.
    pub groups: Vec<(PrincipalType, Vec<PrincipalValue>)>,
}

/// How directly a resource-policy statement names the caller. A statement naming the exact
/// user or session is not limited by session policies or permissions boundaries; one naming the
/// role, the account or everyone is (SPEC §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum MatchKind {
    Indirect,
    Direct,
}

impl PrincipalSpec {
    pub fn parse(
        node: &Node<'_>,
        negated: bool,
        strings: impl Fn(&Node<'_>, &str) -> Result<Vec<(String, Pos)>, PolicyError>,
    ) -> Result<PrincipalSpec, PolicyError> {
        let element = if negated { "NotPrincipal" } else { "Principal" };
        let mut spec = PrincipalSpec {
            negated,
            pos: node.pos,
            star: false,
            groups: Vec::new(),
        };
        match &node.value {
            Json::String(s) if s == "*" => spec.star = true,
            Json::Object(members) => {
                if members.is_empty() {
                    return Err(node.pos.error(format!(
                        "{element} must name at least one principal, e.g. {{\"AWS\": \"arn:aws:iam::123456789012:root\"}}"
                    )));
                }
                for m in members {
                    let ty = match m.key.as_ref() {
                        "AWS" => PrincipalType::Aws,
                        "Federated" => PrincipalType::Federated,
                        "Service" => PrincipalType::Service,
                        "CanonicalUser" => PrincipalType::CanonicalUser,
                        other => {
                            return Err(m.key_pos.error(format!(
                                "unknown principal type \"{other}\"; expected \"AWS\", \"Federated\", \"Service\" or \"CanonicalUser\""
                            )));
                        }
                    };
                    let mut values = Vec::new();
                    for (text, pos) in strings(&m.value, ty.element_name(negated))? {
                        let target = compile_target(ty, &text).map_err(|msg| pos.error(msg))?;
                        values.push(PrincipalValue { text, pos, target });
                    }
                    spec.groups.push((ty, values));
                }
            }
            other => {
                return Err(node.pos.error(format!(
                    "{element} must be \"*\" or an object such as {{\"AWS\": \"arn:aws:iam::123456789012:root\"}}, found {}",
                    match other {
                        Json::String(s) => format!("\"{s}\""),
                        o => o.kind().to_string(),
                    }
                )));
            }
        }
        Ok(spec)
    }

    fn values(&self) -> impl Iterator<Item = &PrincipalValue> {
        self.groups.iter().flat_map(|(_, v)| v.iter())
    }

    /// The strongest positive match of any listed principal (ignores `negated`).
    fn names(&self, p: &Principal) -> Option<MatchKind> {
        if self.star {
            return Some(MatchKind::Indirect);
        }
        self.values()
            .filter_map(|v| target_matches(&v.target, p))
            .max()
    }

    /// Whether the statement applies to `p`, and how directly.
    pub fn applies_to(&self, p: &Principal) -> Option<MatchKind> {
        match (self.negated, self.names(p)) {
            (false, m) => m,
            (true, None) => Some(MatchKind::Indirect),
            (true, Some(_)) => None,
        }
    }

    /// True if the element grants to everyone (`*`, `{"AWS": "*"}`, `{"Federated": "*"}`, or
    /// any `NotPrincipal`).
    pub fn is_public(&self) -> bool {
        self.negated
            || self.star
            || self
                .values()
                .any(|v| matches!(v.target, Target::AnyAws | Target::AnyFederated))
    }

    /// The federated providers named (for lints).
    pub fn federated(&self) -> impl Iterator<Item = &PrincipalValue> {
        self.groups
            .iter()
            .filter(|(t, _)| *t == PrincipalType::Federated)
            .flat_map(|(_, v)| v.iter())
    }
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

fn compile_target(ty: PrincipalType, text: &str) -> Result<Target, String> {
    match ty {
        PrincipalType::Aws => compile_aws(text),
        PrincipalType::Federated => {
            if text == "*" {
                Ok(Target::AnyFederated)
            } else if text.is_empty() || has_wildcard(text) {
                Err(format!(
                    "invalid Federated principal \"{text}\"; expected a provider such as \"cognito-identity.amazonaws.com\" or an OIDC provider ARN (wildcards are not allowed)"
                ))
            } else {
                Ok(Target::Federated(text.to_string()))
            }
        }
        PrincipalType::Service | PrincipalType::CanonicalUser => {
            if text.is_empty() {
                Err(format!("empty {} principal", ty.name()))
            } else {
                Ok(Target::Nothing)
            }
        }
    }
}

fn compile_aws(text: &str) -> Result<Target, String> {
    const EXPECTED: &str = "expected \"*\", a 12-digit account id, or an ARN of an account (arn:aws:iam::<account>:root), IAM user, IAM role or STS assumed-role session";
    if text == "*" {
        return Ok(Target::AnyAws);
    }
    if has_wildcard(text) {
        return Err(format!(
            "wildcards are not allowed in principal \"{text}\"; use \"*\" alone, or a condition on aws:PrincipalArn"
        ));
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Target::Account(text.to_string()));
    }
    if (text.starts_with("AIDA") || text.starts_with("AROA"))
        && text.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Ok(Target::UniqueId(text.to_string()));
    }
    let Some([scheme, _partition, service, _region, account, resource]) = arn::split(text) else {
        return Err(format!("invalid principal \"{text}\"; {EXPECTED}"));
    };
    if scheme != "arn" || account.is_empty() {
        return Err(format!("invalid principal \"{text}\"; {EXPECTED}"));
    }
    let named = |prefix: &str| {
        resource
            .strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && !rest.ends_with('/'))
    };
    match service {
        "iam" if resource == "root" => Ok(Target::Account(account.to_string())),
        "iam" if named("user/") => Ok(Target::User(text.to_string())),
        "iam" if named("role/") => Ok(Target::Role(text.to_string())),
        "sts"
            if named("assumed-role/")
                && resource.split('/').count() == 3
                && !resource.contains("//") =>
        {
            Ok(Target::Session(text.to_string()))
        }
        "sts" if named("federated-user/") => Ok(Target::Nothing),
        _ => Err(format!("invalid principal \"{text}\"; {EXPECTED}")),
    }
}

fn target_matches(t: &Target, p: &Principal) -> Option<MatchKind> {
    use MatchKind::{Direct, Indirect};
    match (t, p) {
        (Target::AnyAws, Principal::WebIdentity { .. }) => None,
        (Target::AnyAws, _) => Some(Indirect),
        (Target::Account(a), p) => (p.account() == Some(a.as_str())).then_some(Indirect),
        (Target::User(arn), Principal::User { arn: caller, .. }) => {
            (arn == caller).then_some(Direct)
        }
        (Target::Role(arn), Principal::AssumedRole { role_arn, .. }) => {
            (arn == role_arn).then_some(Indirect)
        }
        (Target::Session(arn), Principal::AssumedRole { session_arn, .. }) => {
            (arn == session_arn).then_some(Direct)
        }
        (Target::UniqueId(id), Principal::User { user_id, .. }) => {
            (id == user_id).then_some(Direct)
        }
        (Target::UniqueId(id), Principal::AssumedRole { role_id, .. }) => {
            (id == role_id).then_some(Indirect)
        }
        (Target::Federated(f), Principal::WebIdentity { provider }) => {
            (f == provider).then_some(Direct)
        }
        (Target::AnyFederated, Principal::WebIdentity { .. }) => Some(Direct),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn aws_values() {
        assert_eq!(compile_aws("*"), Ok(Target::AnyAws));
        assert_eq!(
            compile_aws("123456789012"),
            Ok(Target::Account("123456789012".into()))
        );
        assert_eq!(
            compile_aws("arn:aws:iam::123456789012:root"),
            Ok(Target::Account("123456789012".into()))
        );
        assert!(matches!(
            compile_aws("arn:aws:iam::123456789012:user/a/b"),
            Ok(Target::User(_))
        ));
        assert!(matches!(
            compile_aws("arn:aws:iam::123456789012:role/r"),
            Ok(Target::Role(_))
        ));
        assert!(matches!(
            compile_aws("arn:aws:sts::123456789012:assumed-role/r/s"),
            Ok(Target::Session(_))
        ));
        assert!(matches!(
            compile_aws("AIDAEXAMPLE123"),
            Ok(Target::UniqueId(_))
        ));
        for bad in [
            "arn:aws:iam::123456789012:role/*",
            "arn:aws:iam::123456789012:group/g",
            "arn:aws:sts::123456789012:assumed-role/r",
            "arn:aws:iam::123456789012:user/",
            "alice",
            "",
            "arn:aws:iam:::root",
        ] {
            assert!(compile_aws(bad).is_err(), "{bad}");
        }
    }
}
