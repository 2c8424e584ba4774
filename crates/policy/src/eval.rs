//! The decision: which statements match a request, and what they add up to (SPEC §4.2).

use std::fmt;
use std::sync::Arc;

use crate::arn;
use crate::context::RequestContext;
use crate::policy::{Effect, Policy, Statement};
use crate::principal::MatchKind;
use crate::vars::NoVars;

/// The policies that apply to one request (single account).
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicySet<'a> {
    /// Identity-based policies of the caller (inline and attached).
    pub identity: &'a [&'a Policy],
    /// Session policies. `None` or `Some(&[])`: no session policy was passed.
    pub session: Option<&'a [&'a Policy]>,
    /// The resource-based policy (bucket policy, trust policy).
    pub resource: Option<&'a Policy>,
    /// The caller's permissions boundary.
    pub boundary: Option<&'a Policy>,
}

/// The outcome of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Some applicable statement allows and nothing denies.
    Allowed,
    /// A matching `Deny` statement (final).
    ExplicitDeny,
    /// Nothing allows (the default).
    ImplicitDeny,
}

impl Decision {
    /// `allowed`, `explicitDeny` or `implicitDeny` (the `cubby policy simulate` spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allowed => "allowed",
            Decision::ExplicitDeny => "explicitDeny",
            Decision::ImplicitDeny => "implicitDeny",
        }
    }

    /// True for [`Decision::Allowed`].
    pub fn is_allowed(self) -> bool {
        self == Decision::Allowed
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a statement came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// An identity-based policy (`PolicySet::identity`).
    Identity,
    /// A session policy (`PolicySet::session`).
    Session,
    /// The resource-based policy (`PolicySet::resource`, or the policy of [`evaluate_one`]).
    Resource,
    /// The permissions boundary.
    Boundary,
}

impl Source {
    /// Lowercase name: `identity`, `session`, `resource`, `boundary`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Identity => "identity",
            Source::Session => "session",
            Source::Resource => "resource",
            Source::Boundary => "boundary",
        }
    }
}

/// A statement that took part in a decision.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StatementRef {
    /// Which part of the [`PolicySet`] it belongs to.
    pub source: Source,
    /// Index of the policy within its part (0 for `resource`/`boundary`).
    pub policy: usize,
    /// Index of the statement within the policy.
    pub statement: usize,
    /// The statement's `Sid`, if any.
    pub sid: Option<Arc<str>>,
    /// The statement's effect.
    pub effect: Effect,
    /// 1-based line of the statement in its document.
    pub line: usize,
    /// 1-based column of the statement in its document.
    pub column: usize,
}

impl fmt::Display for StatementRef {
    /// E.g. `identity policy 0, statement 1 (Sid "OwnFolder"), Allow, line 3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} policy {}, statement {}",
            self.source.as_str(),
            self.policy,
            self.statement
        )?;
        if let Some(sid) = &self.sid {
            write!(f, " (Sid {sid:?})")?;
        }
        write!(f, ", {}, line {}", self.effect.as_str(), self.line)
    }
}

/// A decision and the statement(s) that decided it: every matching `Deny` for
/// `ExplicitDeny`; the matching `Allow` statements of the granting path(s) for `Allowed`;
/// none for `ImplicitDeny`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The outcome.
    pub decision: Decision,
    /// The deciding statements.
    pub deciding: Vec<StatementRef>,
}

/// How principals are checked for statements without a `Principal` element.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NoPrincipal {
    /// Identity-side policies: the statement applies to the caller.
    Applies,
    /// The resource slot of a policy set: an `Allow` without `Principal` grants to nobody, a
    /// `Deny` without `Principal` still denies (fail closed).
    ResourceSlot,
}

/// Whether `st` applies to the request; `Some(kind)` says how directly the caller was named.
fn statement_applies(
    st: &Statement,
    ctx: &RequestContext,
    parts: Option<&[&str; 6]>,
    no_principal: NoPrincipal,
) -> Option<MatchKind> {
    let action_hit = st
        .action
        .entries
        .iter()
        .any(|e| e.glob.matches(&ctx.action, &NoVars));
    if action_hit == st.action.negated {
        return None;
    }
    if let Some(res) = &st.resource {
        let hit = res.entries.iter().any(|e| e.pattern.matches(parts, ctx));
        if res.negated {
            if hit {
                return None;
            }
            // An unresolvable variable in NotResource must not widen an Allow: fail closed.
            if st.effect == Effect::Allow
                && !res.entries.iter().all(|e| e.pattern.variables_resolve(ctx))
            {
                return None;
            }
        } else if !hit {
            return None;
        }
    }
    let kind = match (&st.principal, no_principal) {
        (Some(p), _) => p.applies_to(&ctx.principal)?,
        (None, NoPrincipal::Applies) => MatchKind::Indirect,
        (None, NoPrincipal::ResourceSlot) => match st.effect {
            Effect::Deny => MatchKind::Indirect,
            Effect::Allow => return None,
        },
    };
    if !st.conditions.iter().all(|b| b.holds(ctx)) {
        return None;
    }
    Some(kind)
}

#[derive(Clone, Copy)]
struct Hit {
    source: Source,
    policy: usize,
    statement: usize,
    effect: Effect,
    kind: MatchKind,
}

#[derive(Default)]
struct Tally {
    deny: bool,
    identity: bool,
    session: bool,
    boundary: bool,
    resource_direct: bool,
    resource_indirect: bool,
}

struct Scan<'c> {
    ctx: &'c RequestContext,
    parts: Option<[&'c str; 6]>,
    tally: Tally,
    hits: Option<Vec<Hit>>,
}

impl Scan<'_> {
    fn policy(&mut self, source: Source, index: usize, policy: &Policy, no_principal: NoPrincipal) {
        for (si, st) in policy.statements.iter().enumerate() {
            let Some(kind) = statement_applies(st, self.ctx, self.parts.as_ref(), no_principal)
            else {
                continue;
            };
            let t = &mut self.tally;
            match (st.effect, source) {
                (Effect::Deny, _) => t.deny = true,
                (Effect::Allow, Source::Identity) => t.identity = true,
                (Effect::Allow, Source::Session) => t.session = true,
                (Effect::Allow, Source::Boundary) => t.boundary = true,
                (Effect::Allow, Source::Resource) => match kind {
                    MatchKind::Direct => t.resource_direct = true,
                    MatchKind::Indirect => t.resource_indirect = true,
                },
            }
            if let Some(hits) = &mut self.hits {
                hits.push(Hit {
                    source,
                    policy: index,
                    statement: si,
                    effect: st.effect,
                    kind,
                });
            }
        }
    }
}

fn statement_ref(set_policy: &Policy, hit: &Hit) -> Option<StatementRef> {
    let st = set_policy.statements.get(hit.statement)?;
    Some(StatementRef {
        source: hit.source,
        policy: hit.policy,
        statement: hit.statement,
        sid: st.sid.clone(),
        effect: hit.effect,
        line: st.pos.line,
        column: st.pos.column,
    })
}

fn run(set: &PolicySet<'_>, ctx: &RequestContext, collect: bool) -> Evaluation {
    let mut scan = Scan {
        ctx,
        parts: arn::split(&ctx.resource),
        tally: Tally::default(),
        hits: collect.then(Vec::new),
    };
    for (i, p) in set.identity.iter().enumerate() {
        scan.policy(Source::Identity, i, p, NoPrincipal::Applies);
    }
    let sessions = set.session.unwrap_or_default();
    for (i, p) in sessions.iter().enumerate() {
        scan.policy(Source::Session, i, p, NoPrincipal::Applies);
    }
    if let Some(p) = set.resource {
        scan.policy(Source::Resource, 0, p, NoPrincipal::ResourceSlot);
    }
    if let Some(p) = set.boundary {
        scan.policy(Source::Boundary, 0, p, NoPrincipal::Applies);
    }
    let t = &scan.tally;
    let anonymous = ctx.principal.is_anonymous();
    let session_ok = sessions.is_empty() || t.session;
    let boundary_ok = set.boundary.is_none() || t.boundary;
    let identity_path = !anonymous && t.identity && session_ok && boundary_ok;
    let resource_limited_ok = t.resource_indirect && session_ok && boundary_ok;
    let resource_path = t.resource_direct || resource_limited_ok;
    let decision = if t.deny {
        Decision::ExplicitDeny
    } else if identity_path || resource_path {
        Decision::Allowed
    } else {
        Decision::ImplicitDeny
    };
    let mut deciding = Vec::new();
    if let Some(hits) = &scan.hits {
        let keep = |h: &Hit| match decision {
            Decision::ExplicitDeny => h.effect == Effect::Deny,
            Decision::ImplicitDeny => false,
            Decision::Allowed => match h.source {
                Source::Identity => identity_path,
                Source::Session | Source::Boundary => identity_path || resource_limited_ok,
                Source::Resource => h.kind == MatchKind::Direct || resource_limited_ok,
            },
        };
        let policy_of = |h: &Hit| -> Option<&Policy> {
            match h.source {
                Source::Identity => set.identity.get(h.policy).copied(),
                Source::Session => sessions.get(h.policy).copied(),
                Source::Resource => set.resource,
                Source::Boundary => set.boundary,
            }
        };
        deciding = hits
            .iter()
            .filter(|h| keep(h))
            .filter_map(|h| statement_ref(policy_of(h)?, h))
            .collect();
    }
    Evaluation { decision, deciding }
}

/// Decides a request against a policy set (SPEC §4.2, single account):
///
/// 1. any matching `Deny` in any policy → [`Decision::ExplicitDeny`];
/// 2. allowed if an identity policy allows **and** (no session policy, or a session policy
///    allows) **and** (no boundary, or the boundary allows) — never for anonymous callers;
/// 3. or if the resource policy allows with a `Principal` naming the caller's user ARN or
///    session ARN directly (not limited by session policies or the boundary), or naming the
///    role, the account or everyone (then still limited by session policies and boundary);
/// 4. otherwise [`Decision::ImplicitDeny`].
///
/// `Principal::Root` gets no special treatment here; the caller decides any root bypass.
pub fn evaluate(set: &PolicySet<'_>, ctx: &RequestContext) -> Evaluation {
    run(set, ctx, true)
}

/// Like [`evaluate`] but without collecting the deciding statements (no allocation).
pub fn decide(set: &PolicySet<'_>, ctx: &RequestContext) -> Decision {
    run(set, ctx, false).decision
}

/// Evaluates one policy on its own (e.g. a role trust policy): `Allowed` only if a statement
/// allows and none denies. Statements with `Principal`/`NotPrincipal` must match the caller;
/// statements without apply to everyone. Deciding statements are reported as [`Source::Resource`].
pub fn evaluate_one(policy: &Policy, ctx: &RequestContext) -> Evaluation {
    let parts = arn::split(&ctx.resource);
    let mut denies = Vec::new();
    let mut allows = Vec::new();
    for (si, st) in policy.statements.iter().enumerate() {
        if statement_applies(st, ctx, parts.as_ref(), NoPrincipal::Applies).is_none() {
            continue;
        }
        let r = StatementRef {
            source: Source::Resource,
            policy: 0,
            statement: si,
            sid: st.sid.clone(),
            effect: st.effect,
            line: st.pos.line,
            column: st.pos.column,
        };
        match st.effect {
            Effect::Deny => denies.push(r),
            Effect::Allow => allows.push(r),
        }
    }
    if !denies.is_empty() {
        Evaluation {
            decision: Decision::ExplicitDeny,
            deciding: denies,
        }
    } else if !allows.is_empty() {
        Evaluation {
            decision: Decision::Allowed,
            deciding: allows,
        }
    } else {
        Evaluation {
            decision: Decision::ImplicitDeny,
            deciding: Vec::new(),
        }
    }
}
