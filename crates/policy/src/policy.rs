//! Policy documents: validation and compilation from JSON, canonical printing, public accessors.

use std::sync::Arc;

use crate::PolicyError;
use crate::arn::ArnPattern;
use crate::condition::{Base, ConditionBlock, ConditionEntry, Operator, Qualifier, RawValue};
use crate::glob::Glob;
use crate::json::{self, Json, Member, Node, Pos};
use crate::principal::PrincipalSpec;
use crate::vars::Syntax;

/// The policy language version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `2012-10-17`: policy variables are substituted.
    V2012_10_17,
    /// `2008-10-17`: `${…}` is literal text.
    V2008_10_17,
}

impl Version {
    /// The version string as written in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V2012_10_17 => "2012-10-17",
            Version::V2008_10_17 => "2008-10-17",
        }
    }
}

/// Which kind of policy a document is; decides which elements are required or forbidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Identity-based (user/role policies, managed policies, session policies, permissions
    /// boundaries): `Resource`/`NotResource` required, `Principal`/`NotPrincipal` forbidden.
    Identity,
    /// Any resource-based policy: `Principal`/`NotPrincipal` required (`Allow` with
    /// `NotPrincipal` rejected); `Resource` optional (absent = every resource).
    Resource,
    /// An S3 bucket policy: like [`Resource`](Self::Resource) but `Resource` is required.
    Bucket,
    /// A role trust policy: `Principal` required, `NotPrincipal` and `Resource` forbidden.
    Trust,
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Grants, subject to the rest of the evaluation.
    Allow,
    /// Denies; an explicit deny always wins.
    Deny,
}

impl Effect {
    /// `"Allow"` or `"Deny"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "Allow",
            Effect::Deny => "Deny",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ActionEntry {
    pub text: String,
    pub pos: Pos,
    pub glob: Glob,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ActionSpec {
    pub negated: bool,
    pub pos: Pos,
    pub entries: Vec<ActionEntry>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResourceEntry {
    pub text: String,
    pub pos: Pos,
    pub pattern: ArnPattern,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResourceSpec {
    pub negated: bool,
    pub pos: Pos,
    pub entries: Vec<ResourceEntry>,
}

/// One compiled statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub(crate) sid: Option<Arc<str>>,
    pub(crate) sid_pos: Option<Pos>,
    pub(crate) effect: Effect,
    pub(crate) principal: Option<PrincipalSpec>,
    pub(crate) action: ActionSpec,
    pub(crate) resource: Option<ResourceSpec>,
    pub(crate) conditions: Vec<ConditionBlock>,
    pub(crate) pos: Pos,
}

impl Statement {
    /// The statement id, if any.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// `Allow` or `Deny`.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// 1-based line of the statement's opening `{`.
    pub fn line(&self) -> usize {
        self.pos.line
    }

    /// 1-based column of the statement's opening `{`.
    pub fn column(&self) -> usize {
        self.pos.column
    }

    /// True if the statement uses `NotAction`.
    pub fn is_not_action(&self) -> bool {
        self.action.negated
    }

    /// The `Action`/`NotAction` patterns as written.
    pub fn actions(&self) -> impl Iterator<Item = &str> {
        self.action.entries.iter().map(|e| e.text.as_str())
    }

    /// True if the statement uses `NotResource`.
    pub fn is_not_resource(&self) -> bool {
        self.resource.as_ref().is_some_and(|r| r.negated)
    }

    /// The `Resource`/`NotResource` patterns as written (empty if the element is absent, as in
    /// trust policies).
    pub fn resources(&self) -> impl Iterator<Item = &str> {
        self.resource
            .iter()
            .flat_map(|r| r.entries.iter().map(|e| e.text.as_str()))
    }

    /// True if the statement has a `Principal` or `NotPrincipal` element.
    pub fn has_principal(&self) -> bool {
        self.principal.is_some()
    }

    /// True if the statement uses `NotPrincipal`.
    pub fn is_not_principal(&self) -> bool {
        self.principal.as_ref().is_some_and(|p| p.negated)
    }

    /// True if the statement has at least one condition.
    pub fn has_conditions(&self) -> bool {
        self.conditions.iter().any(|b| !b.entries.is_empty())
    }

    /// The condition operators used, by canonical name, with their keys as written.
    pub fn condition_keys(&self) -> impl Iterator<Item = (String, &str)> {
        self.conditions
            .iter()
            .flat_map(|b| b.entries.iter().map(move |e| (b.op.name(), e.key.as_str())))
    }
}

/// A parsed, validated and compiled policy document.
///
/// Parsing is the expensive step; cache the `Policy` (per role/policy version) so the request
/// path only evaluates.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub(crate) version: Option<Version>,
    pub(crate) id: Option<String>,
    pub(crate) statements: Vec<Statement>,
    pub(crate) kind: PolicyKind,
}

impl Policy {
    /// Parses, validates and compiles an identity-based policy (`Principal` forbidden,
    /// `Resource` required). Errors carry a 1-based line/column and what was expected.
    pub fn parse(json: &str) -> Result<Policy, PolicyError> {
        Policy::parse_as(json, PolicyKind::Identity)
    }

    /// Parses a resource-based policy (bucket policy, role trust policy): `Principal` or
    /// `NotPrincipal` required in every statement, `Allow` with `NotPrincipal` rejected,
    /// `Resource` optional (trust policies have none).
    pub fn parse_resource_policy(json: &str) -> Result<Policy, PolicyError> {
        Policy::parse_as(json, PolicyKind::Resource)
    }

    /// Parses a policy with the element rules of `kind`.
    pub fn parse_as(json: &str, kind: PolicyKind) -> Result<Policy, PolicyError> {
        let root = json::parse(json)?;
        compile_policy(&root, kind)
    }

    /// The statements, in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }

    /// The `Version` element (`None` when absent: variables are then literal text).
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The `Id` element.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The kind this policy was parsed as.
    pub fn kind(&self) -> PolicyKind {
        self.kind
    }

    /// True if policy variables are substituted (Version 2012-10-17).
    pub fn variables_enabled(&self) -> bool {
        self.version == Some(Version::V2012_10_17)
    }

    /// Canonical compact JSON: fixed element order, single values as strings, several as
    /// arrays, condition values as strings. `parse → to_json → parse` is stable.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push('{');
        let mut first = true;
        let mut field = |out: &mut String, name: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            json::write_string(out, name);
            out.push(':');
        };
        if let Some(v) = self.version {
            field(&mut out, "Version");
            json::write_string(&mut out, v.as_str());
        }
        if let Some(id) = &self.id {
            field(&mut out, "Id");
            json::write_string(&mut out, id);
        }
        field(&mut out, "Statement");
        out.push('[');
        for (i, st) in self.statements.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_statement(&mut out, st);
        }
        out.push_str("]}");
        out
    }

    /// True if some `Allow` statement grants to everyone (`"Principal": "*"`,
    /// `{"AWS": "*"}`, or `NotPrincipal`) without a condition that pins the caller or source
    /// to fixed values (`aws:SourceIp` with a narrow CIDR, `aws:SourceArn`, `aws:SourceVpc(e)`,
    /// `aws:SourceAccount`, `aws:SourceOwner`, `aws:PrincipalAccount`, `aws:PrincipalArn`,
    /// `aws:PrincipalOrgID`, `aws:userid`, `s3:DataAccessPointArn`, …) — AWS's definition, used
    /// for the public-access block's `BlockPublicPolicy`/`RestrictPublicBuckets`.
    pub fn is_public(&self) -> bool {
        self.statements
            .iter()
            .any(|s| s.effect == Effect::Allow && statement_is_public(s))
    }
}

/// Condition keys whose fixed values make a grant to `*` non-public (AWS "The meaning of public").
const RESTRICTING_KEYS: &[&str] = &[
    "aws:sourceip",
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceowner",
    "aws:sourceaccount",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:userid",
    "s3:dataaccesspointarn",
    "s3:dataaccesspointaccount",
];

pub(crate) fn statement_is_public(s: &Statement) -> bool {
    let Some(p) = &s.principal else {
        return false;
    };
    if !p.is_public() {
        return false;
    }
    let restricted = s.conditions.iter().any(|b| {
        let positive = !b.op.base.negated()
            && !b.op.if_exists
            && b.op.qualifier != Qualifier::ForAllValues
            && matches!(
                b.op.base,
                Base::StringEquals
                    | Base::StringEqualsIgnoreCase
                    | Base::StringLike
                    | Base::ArnEquals
                    | Base::ArnLike
                    | Base::IpAddress
            );
        positive
            && b.entries
                .iter()
                .any(|e| RESTRICTING_KEYS.contains(&&*e.key_lower) && e.is_fixed())
    });
    !restricted
}

fn write_list<'a>(out: &mut String, items: impl ExactSizeIterator<Item = &'a str>) {
    if items.len() == 1 {
        for s in items {
            json::write_string(out, s);
        }
        return;
    }
    out.push('[');
    for (i, s) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::write_string(out, s);
    }
    out.push(']');
}

fn write_statement(out: &mut String, st: &Statement) {
    out.push('{');
    if let Some(sid) = &st.sid {
        out.push_str("\"Sid\":");
        json::write_string(out, sid);
        out.push(',');
    }
    out.push_str("\"Effect\":");
    json::write_string(out, st.effect.as_str());
    if let Some(p) = &st.principal {
        out.push_str(if p.negated {
            ",\"NotPrincipal\":"
        } else {
            ",\"Principal\":"
        });
        if p.star {
            out.push_str("\"*\"");
        } else {
            out.push('{');
            for (i, (ty, values)) in p.groups.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json::write_string(out, ty.name());
                out.push(':');
                write_list(out, values.iter().map(|v| v.text.as_str()));
            }
            out.push('}');
        }
    }
    out.push_str(if st.action.negated {
        ",\"NotAction\":"
    } else {
        ",\"Action\":"
    });
    write_list(out, st.action.entries.iter().map(|e| e.text.as_str()));
    if let Some(r) = &st.resource {
        out.push_str(if r.negated {
            ",\"NotResource\":"
        } else {
            ",\"Resource\":"
        });
        write_list(out, r.entries.iter().map(|e| e.text.as_str()));
    }
    if !st.conditions.is_empty() {
        out.push_str(",\"Condition\":{");
        for (i, b) in st.conditions.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json::write_string(out, &b.op.name());
            out.push_str(":{");
            for (j, e) in b.entries.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                json::write_string(out, &e.key);
                out.push(':');
                write_list(out, e.values.iter().map(|v| v.text.as_str()));
            }
            out.push('}');
        }
        out.push('}');
    }
    out.push('}');
}

// ---------------------------------------------------------------------------------------------
// Compilation from the JSON tree.

fn found(node: &Node<'_>) -> String {
    match &node.value {
        Json::String(s) => format!("\"{s}\""),
        other => other.kind().to_string(),
    }
}

/// A string, or a non-empty array of strings.
fn strings(node: &Node<'_>, what: &str) -> Result<Vec<(String, Pos)>, PolicyError> {
    map_strings(node, what, |s, pos| Ok((s.to_string(), pos)))
}

/// Applies `f` to a string, or to each string of a non-empty array of strings.
fn map_strings<T>(
    node: &Node<'_>,
    what: &str,
    mut f: impl FnMut(&str, Pos) -> Result<T, PolicyError>,
) -> Result<Vec<T>, PolicyError> {
    match &node.value {
        Json::String(s) => Ok(vec![f(s, node.pos)?]),
        Json::Array(items) => {
            if items.is_empty() {
                return Err(node.pos.error(format!("{what} must not be an empty array")));
            }
            let mut out = Vec::with_capacity(items.len());
            for n in items {
                match &n.value {
                    Json::String(s) => out.push(f(s, n.pos)?),
                    _ => {
                        return Err(n.pos.error(format!(
                            "expected a string in the {what} array, found {}",
                            found(n)
                        )));
                    }
                }
            }
            Ok(out)
        }
        _ => Err(node.pos.error(format!(
            "{what} must be a string or an array of strings, found {}",
            found(node)
        ))),
    }
}

fn string<'a>(node: &'a Node<'_>, what: &str) -> Result<&'a str, PolicyError> {
    match &node.value {
        Json::String(s) => Ok(s.as_ref()),
        _ => Err(node
            .pos
            .error(format!("{what} must be a string, found {}", found(node)))),
    }
}

fn compile_policy(root: &Node<'_>, kind: PolicyKind) -> Result<Policy, PolicyError> {
    let Json::Object(members) = &root.value else {
        return Err(root.pos.error(format!(
            "expected a policy object ({{\"Version\": …, \"Statement\": …}}), found {}",
            found(root)
        )));
    };
    let mut version = None;
    let mut id = None;
    let mut statement_node = None;
    for m in members {
        match m.key.as_ref() {
            "Version" => {
                version = Some(match string(&m.value, "Version")? {
                    "2012-10-17" => Version::V2012_10_17,
                    "2008-10-17" => Version::V2008_10_17,
                    other => {
                        return Err(m.value.pos.error(format!(
                            "Version must be \"2012-10-17\" or \"2008-10-17\", found \"{other}\""
                        )));
                    }
                });
            }
            "Id" => id = Some(string(&m.value, "Id")?.to_string()),
            "Statement" => statement_node = Some(&m.value),
            other => {
                return Err(m.key_pos.error(format!(
                    "unknown policy element \"{other}\"; expected \"Version\", \"Id\" or \"Statement\""
                )));
            }
        }
    }
    let Some(st_node) = statement_node else {
        return Err(root
            .pos
            .error("policy is missing the \"Statement\" element"));
    };
    let variables = version == Some(Version::V2012_10_17);
    let statement_objects: Vec<&Node<'_>> = match &st_node.value {
        Json::Object(_) => vec![st_node],
        Json::Array(items) if items.is_empty() => {
            return Err(st_node
                .pos
                .error("Statement must contain at least one statement"));
        }
        Json::Array(items) => items.iter().collect(),
        _ => {
            return Err(st_node.pos.error(format!(
                "Statement must be an object or an array of objects, found {}",
                found(st_node)
            )));
        }
    };
    let mut statements = Vec::with_capacity(statement_objects.len());
    for node in statement_objects {
        let Json::Object(members) = &node.value else {
            return Err(node.pos.error(format!(
                "expected a statement object in the Statement array, found {}",
                found(node)
            )));
        };
        statements.push(compile_statement(node.pos, members, kind, variables)?);
    }
    Ok(Policy {
        version,
        id,
        statements,
        kind,
    })
}

/// The statement elements, as bits, to detect `Action` + `NotAction` and the like.
fn element_bit(key: &str) -> u16 {
    match key {
        "Principal" => 1,
        "NotPrincipal" => 2,
        "Action" => 4,
        "NotAction" => 8,
        "Resource" => 16,
        "NotResource" => 32,
        _ => 0,
    }
}

fn pair_conflict(seen: u16, key: &Member<'_>, other: &str) -> Result<(), PolicyError> {
    if seen & element_bit(other) != 0 {
        return Err(key.key_pos.error(format!(
            "a statement cannot contain both {other} and {}",
            key.key
        )));
    }
    Ok(())
}

fn compile_statement(
    pos: Pos,
    members: &[Member<'_>],
    kind: PolicyKind,
    variables: bool,
) -> Result<Statement, PolicyError> {
    let mut seen: u16 = 0;
    let mut sid = None;
    let mut sid_pos = None;
    let mut effect = None;
    let mut principal = None;
    let mut action = None;
    let mut resource = None;
    let mut conditions = Vec::new();
    for m in members {
        match m.key.as_ref() {
            "Sid" => {
                sid = Some(Arc::from(string(&m.value, "Sid")?));
                sid_pos = Some(m.value.pos);
            }
            "Effect" => {
                effect = Some(match &m.value.value {
                    Json::String(s) if s == "Allow" => Effect::Allow,
                    Json::String(s) if s == "Deny" => Effect::Deny,
                    _ => {
                        return Err(m.value.pos.error(format!(
                            "Effect must be \"Allow\" or \"Deny\" (case-sensitive), found {}",
                            found(&m.value)
                        )));
                    }
                });
            }
            "Principal" | "NotPrincipal" => {
                let negated = m.key == "NotPrincipal";
                pair_conflict(seen, m, if negated { "Principal" } else { "NotPrincipal" })?;
                if kind == PolicyKind::Identity {
                    return Err(m.key_pos.error(format!(
                        "{} is not allowed in an identity-based policy; it belongs in resource-based policies such as bucket and trust policies",
                        m.key
                    )));
                }
                if negated && kind == PolicyKind::Trust {
                    return Err(m
                        .key_pos
                        .error("NotPrincipal is not allowed in a role trust policy"));
                }
                principal = Some(PrincipalSpec::parse(&m.value, negated, strings)?);
            }
            "Action" | "NotAction" => {
                let negated = m.key == "NotAction";
                pair_conflict(seen, m, if negated { "Action" } else { "NotAction" })?;
                let entries = map_strings(&m.value, &m.key, |text, pos| {
                    let glob = compile_action(text, pos)?;
                    Ok(ActionEntry {
                        text: text.to_string(),
                        pos,
                        glob,
                    })
                })?;
                action = Some(ActionSpec {
                    negated,
                    pos: m.value.pos,
                    entries,
                });
            }
            "Resource" | "NotResource" => {
                let negated = m.key == "NotResource";
                pair_conflict(seen, m, if negated { "Resource" } else { "NotResource" })?;
                if kind == PolicyKind::Trust {
                    return Err(m.key_pos.error(format!(
                        "{} is not allowed in a role trust policy (the resource is the role itself)",
                        m.key
                    )));
                }
                let syntax = Syntax {
                    variables,
                    wildcards: true,
                };
                let entries = map_strings(&m.value, &m.key, |text, pos| {
                    let pattern = ArnPattern::compile(text, syntax)
                        .map_err(|msg| pos.error(format!("invalid {} \"{text}\": {msg}", m.key)))?;
                    Ok(ResourceEntry {
                        text: text.to_string(),
                        pos,
                        pattern,
                    })
                })?;
                resource = Some(ResourceSpec {
                    negated,
                    pos: m.value.pos,
                    entries,
                });
            }
            "Condition" => conditions = compile_conditions(&m.value, variables)?,
            other => {
                return Err(m.key_pos.error(format!(
                    "unknown statement element \"{other}\"; expected one of Sid, Effect, Principal, NotPrincipal, Action, NotAction, Resource, NotResource, Condition"
                )));
            }
        }
        seen |= element_bit(&m.key);
    }
    let Some(effect) = effect else {
        return Err(pos.error("statement is missing \"Effect\" (\"Allow\" or \"Deny\")"));
    };
    let Some(action) = action else {
        return Err(pos.error("statement is missing \"Action\" or \"NotAction\""));
    };
    if resource.is_none() && matches!(kind, PolicyKind::Identity | PolicyKind::Bucket) {
        return Err(pos.error("statement is missing \"Resource\" or \"NotResource\""));
    }
    if kind != PolicyKind::Identity {
        match &principal {
            None => {
                return Err(pos.error(
                    "statement is missing \"Principal\" or \"NotPrincipal\" (required in resource-based policies)",
                ));
            }
            Some(p) if p.negated && effect == Effect::Allow => {
                return Err(p.pos.error(
                    "NotPrincipal cannot be used with \"Effect\": \"Allow\"; use Principal, or NotPrincipal with Deny",
                ));
            }
            Some(_) => {}
        }
    }
    Ok(Statement {
        sid,
        sid_pos,
        effect,
        principal,
        action,
        resource,
        conditions,
        pos,
    })
}

fn compile_action(text: &str, pos: Pos) -> Result<Glob, PolicyError> {
    if text == "*" {
        return Ok(Glob::compile(vec![crate::vars::Token::Star], true));
    }
    let bad = || {
        pos.error(format!(
            "invalid action \"{text}\"; expected \"*\" or \"<service>:<action>\" such as \"s3:GetObject\" (wildcards * and ? allowed in the action name)"
        ))
    };
    let Some((service, name)) = text.split_once(':') else {
        return Err(bad());
    };
    let service_ok = !service.is_empty()
        && service
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'*' | b'?' | b'-' | b'_'));
    if !service_ok || !name_ok {
        return Err(bad());
    }
    Glob::from_text(
        text,
        Syntax {
            variables: false,
            wildcards: true,
        },
        true,
    )
    .map_err(|msg| pos.error(msg))
}

fn compile_conditions(
    node: &Node<'_>,
    variables: bool,
) -> Result<Vec<ConditionBlock>, PolicyError> {
    let Json::Object(ops) = &node.value else {
        return Err(node.pos.error(format!(
            "Condition must be an object such as {{\"StringEquals\": {{\"aws:username\": \"alice\"}}}}, found {}",
            found(node)
        )));
    };
    let mut blocks = Vec::with_capacity(ops.len());
    for op_member in ops {
        let op = Operator::parse(&op_member.key).map_err(|m| op_member.key_pos.error(m))?;
        let Json::Object(keys) = &op_member.value.value else {
            return Err(op_member.value.pos.error(format!(
                "the {} condition must be an object mapping condition keys to values, found {}",
                op_member.key,
                found(&op_member.value)
            )));
        };
        if keys.is_empty() {
            return Err(op_member.value.pos.error(format!(
                "the {} condition must contain at least one condition key",
                op_member.key
            )));
        }
        let mut entries = Vec::with_capacity(keys.len());
        for k in keys {
            if k.key.is_empty() || k.key.chars().any(char::is_whitespace) {
                return Err(k.key_pos.error(format!(
                    "invalid condition key \"{}\"; expected a key such as \"aws:SourceIp\"",
                    k.key
                )));
            }
            let values = condition_values(&k.value, &k.key)?;
            entries.push(ConditionEntry::compile(
                &op,
                k.key.to_string(),
                k.key_pos,
                values,
                variables,
            )?);
        }
        blocks.push(ConditionBlock {
            op,
            op_pos: op_member.key_pos,
            entries,
        });
    }
    Ok(blocks)
}

fn condition_value(node: &Node<'_>, key: &str) -> Result<RawValue, PolicyError> {
    let text = match &node.value {
        Json::String(s) => s.to_string(),
        Json::Number(n) => n.to_string(),
        Json::Bool(b) => b.to_string(),
        _ => {
            return Err(node.pos.error(format!(
                "the value of condition key \"{key}\" must be a string, number or boolean (or an array of them), found {}",
                found(node)
            )));
        }
    };
    Ok(RawValue {
        text,
        pos: node.pos,
    })
}

fn condition_values(node: &Node<'_>, key: &str) -> Result<Vec<RawValue>, PolicyError> {
    match &node.value {
        Json::Array(items) => {
            if items.is_empty() {
                return Err(node.pos.error(format!(
                    "condition key \"{key}\" must have at least one value"
                )));
            }
            items.iter().map(|n| condition_value(n, key)).collect()
        }
        _ => Ok(vec![condition_value(node, key)?]),
    }
}
