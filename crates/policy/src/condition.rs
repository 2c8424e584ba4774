//! Condition operators: parsing operator names, compiling values, evaluating against a request.
//!
//! Block semantics (SPEC §4.5): operators are AND-ed, keys within an operator AND-ed, values
//! within a key OR-ed. A negated operator is the complement of its positive form when the key is
//! present (so several values mean "matches none of them") and true when the key is absent.
//! `…IfExists` makes any operator true when the key is absent. `ForAnyValue:` is false and
//! `ForAllValues:` true when the key is absent or empty.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::net::IpAddr;

use base64::Engine as _;

use crate::arn::{self, ArnPattern};
use crate::context::{RequestContext, key_name};
use crate::glob::Glob;
use crate::json::Pos;
use crate::vars::Syntax;

/// The set qualifier of an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Qualifier {
    None,
    ForAnyValue,
    ForAllValues,
}

/// The operator without qualifier and `IfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Base {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

const BASES: &[(&str, Base)] = &[
    ("StringEquals", Base::StringEquals),
    ("StringNotEquals", Base::StringNotEquals),
    ("StringEqualsIgnoreCase", Base::StringEqualsIgnoreCase),
    ("StringNotEqualsIgnoreCase", Base::StringNotEqualsIgnoreCase),
    ("StringLike", Base::StringLike),
    ("StringNotLike", Base::StringNotLike),
    ("NumericEquals", Base::NumericEquals),
    ("NumericNotEquals", Base::NumericNotEquals),
    ("NumericLessThan", Base::NumericLessThan),
    ("NumericLessThanEquals", Base::NumericLessThanEquals),
    ("NumericGreaterThan", Base::NumericGreaterThan),
    ("NumericGreaterThanEquals", Base::NumericGreaterThanEquals),
    ("DateEquals", Base::DateEquals),
    ("DateNotEquals", Base::DateNotEquals),
    ("DateLessThan", Base::DateLessThan),
    ("DateLessThanEquals", Base::DateLessThanEquals),
    ("DateGreaterThan", Base::DateGreaterThan),
    ("DateGreaterThanEquals", Base::DateGreaterThanEquals),
    ("Bool", Base::Bool),
    ("BinaryEquals", Base::BinaryEquals),
    ("IpAddress", Base::IpAddress),
    ("NotIpAddress", Base::NotIpAddress),
    ("ArnEquals", Base::ArnEquals),
    ("ArnLike", Base::ArnLike),
    ("ArnNotEquals", Base::ArnNotEquals),
    ("ArnNotLike", Base::ArnNotLike),
    ("Null", Base::Null),
];

impl Base {
    pub fn name(self) -> &'static str {
        BASES
            .iter()
            .find(|(_, b)| *b == self)
            .map_or("Null", |(n, _)| n)
    }

    /// Negated operators: true when the key is absent, NOR over values.
    pub fn negated(self) -> bool {
        matches!(
            self,
            Base::StringNotEquals
                | Base::StringNotEqualsIgnoreCase
                | Base::StringNotLike
                | Base::NumericNotEquals
                | Base::DateNotEquals
                | Base::NotIpAddress
                | Base::ArnNotEquals
                | Base::ArnNotLike
        )
    }

    /// Operators whose values may contain policy variables.
    pub fn allows_variables(self) -> bool {
        matches!(
            self,
            Base::StringEquals
                | Base::StringNotEquals
                | Base::StringEqualsIgnoreCase
                | Base::StringNotEqualsIgnoreCase
                | Base::StringLike
                | Base::StringNotLike
                | Base::ArnEquals
                | Base::ArnLike
                | Base::ArnNotEquals
                | Base::ArnNotLike
        )
    }

    fn cmp(self) -> Cmp {
        match self {
            Base::NumericLessThan | Base::DateLessThan => Cmp::Lt,
            Base::NumericLessThanEquals | Base::DateLessThanEquals => Cmp::Le,
            Base::NumericGreaterThan | Base::DateGreaterThan => Cmp::Gt,
            Base::NumericGreaterThanEquals | Base::DateGreaterThanEquals => Cmp::Ge,
            _ => Cmp::Eq,
        }
    }
}

/// A full condition operator, e.g. `ForAnyValue:StringLikeIfExists`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Operator {
    pub qualifier: Qualifier,
    pub base: Base,
    pub if_exists: bool,
}

impl Operator {
    /// Parses an operator name (case-sensitive, as AWS documents them).
    pub fn parse(name: &str) -> Result<Operator, String> {
        let (qualifier, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (Qualifier::ForAnyValue, r)
        } else if let Some(r) = name.strip_prefix("ForAllValues:") {
            (Qualifier::ForAllValues, r)
        } else {
            (Qualifier::None, name)
        };
        let (if_exists, base_name) = match rest.strip_suffix("IfExists") {
            Some(b) => (true, b),
            None => (false, rest),
        };
        let Some(&(_, base)) = BASES.iter().find(|(n, _)| *n == base_name) else {
            let hint = BASES
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(base_name))
                .map(|(n, _)| format!(" (did you mean \"{n}\"? operator names are case-sensitive)"))
                .unwrap_or_default();
            return Err(format!(
                "unknown condition operator \"{name}\"{hint}; expected one of the String*, Numeric*, Date*, Bool, BinaryEquals, IpAddress, NotIpAddress, Arn* or Null operators, optionally with a ForAnyValue:/ForAllValues: prefix and an IfExists suffix"
            ));
        };
        if base == Base::Null && if_exists {
            return Err("\"NullIfExists\" is not a valid operator: Null already tests whether the key exists".into());
        }
        if base == Base::Null && qualifier != Qualifier::None {
            return Err(format!(
                "\"{name}\" is not a valid operator: Null cannot take a ForAnyValue:/ForAllValues: qualifier"
            ));
        }
        Ok(Operator {
            qualifier,
            base,
            if_exists,
        })
    }

    /// The canonical name.
    pub fn name(&self) -> String {
        let q = match self.qualifier {
            Qualifier::None => "",
            Qualifier::ForAnyValue => "ForAnyValue:",
            Qualifier::ForAllValues => "ForAllValues:",
        };
        let ie = if self.if_exists { "IfExists" } else { "" };
        format!("{q}{}{ie}", self.base.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds(self, o: Ordering) -> bool {
        match self {
            Cmp::Eq => o == Ordering::Equal,
            Cmp::Lt => o == Ordering::Less,
            Cmp::Le => o != Ordering::Greater,
            Cmp::Gt => o == Ordering::Greater,
            Cmp::Ge => o != Ordering::Less,
        }
    }
}

/// Policy values compiled for their operator.
#[derive(Debug, Clone, PartialEq)]
enum Values {
    /// Equals (no wildcards) or Like (wildcards); variables substituted literally.
    Str(Vec<Glob>),
    /// Case-insensitive equality; rendered then compared with Unicode lowercase folding.
    StrFold(Vec<Glob>),
    Num(Vec<Num>, Cmp),
    Date(Vec<i128>, Cmp),
    Bool(Vec<bool>),
    Binary(Vec<Vec<u8>>),
    Ip(Vec<Cidr>),
    Arn(Vec<ArnPattern>),
    /// `true` = "the key must be absent".
    Null(Vec<bool>),
}

/// One policy value as written (numbers and booleans kept as their text).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawValue {
    pub text: String,
    pub pos: Pos,
}

/// One `"key": value(s)` entry under an operator.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConditionEntry {
    /// The key as written.
    pub key: String,
    /// ASCII-lowercased key, for lookups.
    pub key_lower: Cow<'static, str>,
    pub key_pos: Pos,
    pub values: Vec<RawValue>,
    compiled: Values,
}

/// One operator with its keys.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConditionBlock {
    pub op: Operator,
    pub op_pos: Pos,
    pub entries: Vec<ConditionEntry>,
}

impl ConditionBlock {
    /// All keys hold.
    pub fn holds(&self, ctx: &RequestContext) -> bool {
        self.entries.iter().all(|e| e.holds(&self.op, ctx))
    }
}

impl ConditionEntry {
    /// Compiles the values of one key. `variables`: the policy's Version allows variables.
    pub fn compile(
        op: &Operator,
        key: String,
        key_pos: Pos,
        values: Vec<RawValue>,
        variables: bool,
    ) -> Result<ConditionEntry, crate::PolicyError> {
        let key_lower = key_name(&key);
        let base = op.base;
        let syntax = |wildcards| Syntax {
            variables: variables && base.allows_variables(),
            wildcards,
        };
        let glob = |v: &RawValue, wildcards: bool| {
            Glob::from_text(&v.text, syntax(wildcards), false).map_err(|m| v.pos.error(m))
        };
        let name = base.name();
        let compiled = match base {
            Base::StringEquals | Base::StringNotEquals => {
                Values::Str(each(&values, |v| glob(v, false))?)
            }
            Base::StringLike | Base::StringNotLike => {
                Values::Str(each(&values, |v| glob(v, true))?)
            }
            Base::StringEqualsIgnoreCase | Base::StringNotEqualsIgnoreCase => {
                Values::StrFold(each(&values, |v| glob(v, false))?)
            }
            Base::NumericEquals
            | Base::NumericNotEquals
            | Base::NumericLessThan
            | Base::NumericLessThanEquals
            | Base::NumericGreaterThan
            | Base::NumericGreaterThanEquals => Values::Num(
                each(&values, |v| {
                    parse_num(&v.text).ok_or_else(|| {
                        v.pos
                            .error(format!("{name} expects a number, found \"{}\"", v.text))
                    })
                })?,
                base.cmp(),
            ),
            Base::DateEquals
            | Base::DateNotEquals
            | Base::DateLessThan
            | Base::DateLessThanEquals
            | Base::DateGreaterThan
            | Base::DateGreaterThanEquals => Values::Date(
                each(&values, |v| {
                    parse_date(&v.text).ok_or_else(|| {
                        v.pos.error(format!(
                            "{name} expects an ISO 8601 date (e.g. 2024-01-31T12:00:00Z) or epoch seconds, found \"{}\"",
                            v.text
                        ))
                    })
                })?,
                base.cmp(),
            ),
            Base::Bool => Values::Bool(each(&values, |v| {
                parse_bool(&v.text).ok_or_else(|| {
                    v.pos.error(format!(
                        "Bool expects \"true\" or \"false\", found \"{}\"",
                        v.text
                    ))
                })
            })?),
            Base::Null => Values::Null(each(&values, |v| {
                parse_bool(&v.text).ok_or_else(|| {
                    v.pos.error(format!(
                        "Null expects \"true\" or \"false\", found \"{}\"",
                        v.text
                    ))
                })
            })?),
            Base::BinaryEquals => Values::Binary(each(&values, |v| {
                base64::engine::general_purpose::STANDARD
                    .decode(v.text.as_bytes())
                    .map_err(|_| {
                        v.pos.error(format!(
                            "BinaryEquals expects a base64 value, found \"{}\"",
                            v.text
                        ))
                    })
            })?),
            Base::IpAddress | Base::NotIpAddress => Values::Ip(each(&values, |v| {
                Cidr::parse(&v.text).ok_or_else(|| {
                    v.pos.error(format!(
                        "{name} expects an IPv4 or IPv6 address or CIDR block (e.g. 203.0.113.0/24), found \"{}\"",
                        v.text
                    ))
                })
            })?),
            Base::ArnEquals | Base::ArnLike | Base::ArnNotEquals | Base::ArnNotLike => {
                Values::Arn(each(&values, |v| {
                    ArnPattern::compile(&v.text, syntax(true))
                        .map_err(|m| v.pos.error(format!("{name}: {m}")))
                })?)
            }
        };
        Ok(ConditionEntry {
            key,
            key_lower,
            key_pos,
            values,
            compiled,
        })
    }

    /// Whether some policy value matches one request value (the operator's positive form).
    fn positive(&self, v: &str, ctx: &RequestContext) -> bool {
        match &self.compiled {
            Values::Str(globs) => globs.iter().any(|g| g.matches(v, ctx)),
            Values::StrFold(globs) => globs
                .iter()
                .any(|g| g.render(ctx).is_some_and(|p| eq_fold(&p, v))),
            Values::Num(nums, cmp) => match parse_num(v) {
                Some(req) => nums
                    .iter()
                    .any(|p| num_cmp(req, *p).is_some_and(|o| cmp.holds(o))),
                None => false,
            },
            Values::Date(dates, cmp) => match parse_date(v) {
                Some(req) => dates.iter().any(|p| cmp.holds(req.cmp(p))),
                None => false,
            },
            Values::Bool(bools) => parse_bool(v).is_some_and(|b| bools.contains(&b)),
            Values::Binary(blobs) => base64::engine::general_purpose::STANDARD
                .decode(v.as_bytes())
                .is_ok_and(|b| blobs.contains(&b)),
            Values::Ip(cidrs) => match v.parse::<IpAddr>() {
                Ok(ip) => cidrs.iter().any(|c| c.contains(ip)),
                Err(_) => false,
            },
            Values::Arn(pats) => {
                let parts = arn::split(v);
                pats.iter().any(|p| p.matches(parts.as_ref(), ctx))
            }
            Values::Null(_) => false,
        }
    }

    /// Evaluates this key under `op`.
    pub fn holds(&self, op: &Operator, ctx: &RequestContext) -> bool {
        let req = ctx.values_lower(&self.key_lower);
        if let Values::Null(wants_absent) = &self.compiled {
            let absent = req.is_none();
            return wants_absent.contains(&absent);
        }
        let negated = op.base.negated();
        let Some(vals) = req else {
            if op.if_exists {
                return true;
            }
            return match op.qualifier {
                Qualifier::None => negated,
                Qualifier::ForAnyValue => false,
                Qualifier::ForAllValues => true,
            };
        };
        let pred = |v: &String| self.positive(v, ctx) != negated;
        match op.qualifier {
            // Unqualified on a multi-valued key: positive = any value matches; negated = the
            // complement (no value matches).
            Qualifier::None if negated => vals.iter().all(pred),
            Qualifier::None | Qualifier::ForAnyValue => vals.iter().any(pred),
            Qualifier::ForAllValues => vals.iter().all(pred),
        }
    }

    /// True if any value contains a policy variable (after compilation).
    pub fn has_variables(&self) -> bool {
        match &self.compiled {
            Values::Str(g) | Values::StrFold(g) => g.iter().any(Glob::has_variables),
            Values::Arn(p) => p.iter().any(ArnPattern::has_variables),
            _ => false,
        }
    }

    /// True if any value contains a wildcard (Like operators) or is a broad CIDR.
    pub fn is_fixed(&self) -> bool {
        match &self.compiled {
            Values::Str(g) | Values::StrFold(g) => {
                g.iter().all(|g| !g.has_wildcards() && !g.has_variables())
            }
            Values::Arn(p) => p.iter().all(|p| !p.has_wildcards() && !p.has_variables()),
            Values::Ip(c) => c.iter().all(Cidr::is_narrow),
            _ => false,
        }
    }
}

fn each<T>(
    values: &[RawValue],
    f: impl Fn(&RawValue) -> Result<T, crate::PolicyError>,
) -> Result<Vec<T>, crate::PolicyError> {
    values.iter().map(f).collect()
}

fn eq_fold(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_lowercase)
        .eq(b.chars().flat_map(char::to_lowercase))
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A number from a policy or a request: exact integers where possible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    Int(i128),
    Float(f64),
}

/// Parses `-?digits(.digits)?([eE][+-]?digits)?`; rejects NaN/infinity and other spellings.
pub(crate) fn parse_num(s: &str) -> Option<Num> {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (body.get(..i)?, Some(body.get(i + 1..)?)),
        None => (body, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f)) {
        return None;
    }
    if let Some(e) = exp {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        if !digits(e) {
            return None;
        }
    }
    if frac.is_none()
        && exp.is_none()
        && let Ok(i) = s.parse::<i128>()
    {
        return Some(Num::Int(i));
    }
    s.parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(Num::Float)
}

fn num_cmp(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        (x, y) => {
            #[allow(clippy::cast_precision_loss)]
            let f = |n: Num| match n {
                Num::Int(i) => i as f64,
                Num::Float(f) => f,
            };
            f(x).partial_cmp(&f(y))
        }
    }
}

/// Parses a date: epoch seconds (`-?digits(.fraction)?`) or ISO 8601 / W3C-DTF
/// (`YYYY-MM`, `YYYY-MM-DD`, `YYYY-MM-DDThh:mm[:ss[.fff]][Z|±hh:mm]`; no zone = UTC).
/// Returns nanoseconds since the Unix epoch.
pub(crate) fn parse_date(s: &str) -> Option<i128> {
    const NANOS: i128 = 1_000_000_000;
    let is_epoch = !s.is_empty()
        && s.strip_prefix('-')
            .unwrap_or(s)
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.');
    if is_epoch {
        let neg = s.starts_with('-');
        let body = s.strip_prefix('-').unwrap_or(s);
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        if int.is_empty()
            || int.len() > 18
            || frac.contains('.')
            || (body.contains('.') && frac.is_empty())
        {
            return None;
        }
        let secs: i128 = int.parse().ok()?;
        let nanos = frac_nanos(frac)?;
        let total = secs * NANOS + nanos;
        return Some(if neg { -total } else { total });
    }
    let mut c = Cursor {
        s: s.as_bytes(),
        i: 0,
    };
    let year = c.num(4)?;
    c.lit(b'-')?;
    let month = c.num(2)?;
    let day = if c.eat(b'-') { c.num(2)? } else { 1 };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let (mut h, mut mi, mut sec, mut nanos, mut offset) = (0, 0, 0, 0i128, 0i64);
    if c.eat(b'T') || c.eat(b't') {
        h = c.num(2)?;
        c.lit(b':')?;
        mi = c.num(2)?;
        if c.eat(b':') {
            sec = c.num(2)?;
            if c.eat(b'.') {
                let start = c.i;
                while c.peek().is_some_and(|b| b.is_ascii_digit()) {
                    c.i += 1;
                }
                let frac = std::str::from_utf8(s.as_bytes().get(start..c.i)?).ok()?;
                if frac.is_empty() {
                    return None;
                }
                nanos = frac_nanos(frac.get(..frac.len().min(9))?)?;
            }
        }
        if h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        match c.peek() {
            Some(b'Z' | b'z') => c.i += 1,
            Some(sign @ (b'+' | b'-')) => {
                c.i += 1;
                let oh = c.num(2)?;
                c.eat(b':');
                let om = c.num(2)?;
                if oh > 23 || om > 59 {
                    return None;
                }
                let o = oh * 3600 + om * 60;
                offset = if sign == b'+' { o } else { -o };
            }
            _ => {}
        }
    }
    if c.i != s.len() {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs =
        i128::from(days) * 86_400 + i128::from(h * 3600 + mi * 60 + sec) - i128::from(offset);
    Some(secs * NANOS + nanos)
}

fn frac_nanos(frac: &str) -> Option<i128> {
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if frac.is_empty() {
        return Some(0);
    }
    let v: i128 = frac.parse().ok()?;
    Some(v * 10i128.pow(9 - u32::try_from(frac.len()).ok()?))
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn lit(&mut self, b: u8) -> Option<()> {
        self.eat(b).then_some(())
    }
    fn num(&mut self, width: usize) -> Option<i64> {
        let digits = self.s.get(self.i..self.i + width)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i += width;
        Some(
            digits
                .iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')),
        )
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (proleptic Gregorian), after Howard Hinnant's algorithm.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An address block; the address is stored with its host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr` or `addr/prefix` (IPv4 or IPv6; IPv4-mapped IPv6 blocks become IPv4).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|&p| p <= max)?
            }
            Some(_) => return None,
            None => max,
        };
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (addr, prefix),
            },
            _ => (addr, prefix),
        };
        Some(Cidr {
            addr: mask(addr, prefix),
            prefix,
        })
    }

    /// True if `ip` lies in the block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
                mask(ip, self.prefix) == self.addr
            }
            _ => false,
        }
    }

    /// Narrow enough to count as a fixed source for "is this policy public" (AWS treats
    /// very wide ranges as public): at least /8 for IPv4, /32 for IPv6.
    pub fn is_narrow(&self) -> bool {
        match self.addr {
            IpAddr::V4(_) => self.prefix >= 8,
            IpAddr::V6(_) => self.prefix >= 32,
        }
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn operator_names() {
        let op = Operator::parse("ForAnyValue:StringLikeIfExists").unwrap();
        assert_eq!(op.qualifier, Qualifier::ForAnyValue);
        assert_eq!(op.base, Base::StringLike);
        assert!(op.if_exists);
        assert_eq!(op.name(), "ForAnyValue:StringLikeIfExists");
        for (n, _) in BASES {
            assert_eq!(Operator::parse(n).unwrap().name(), *n);
        }
        let e = Operator::parse("stringequals").unwrap_err();
        assert!(e.contains("did you mean \"StringEquals\""), "{e}");
        assert!(Operator::parse("StringMatches").is_err());
        assert!(Operator::parse("NullIfExists").is_err());
        assert!(Operator::parse("ForAnyValue:Null").is_err());
        assert!(Operator::parse("ForSomeValues:StringLike").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_num("10"), Some(Num::Int(10)));
        assert_eq!(parse_num("-3"), Some(Num::Int(-3)));
        assert_eq!(parse_num("1.5"), Some(Num::Float(1.5)));
        assert_eq!(parse_num("1e3"), Some(Num::Float(1000.0)));
        for bad in [
            "", "abc", "1.", ".5", "NaN", "inf", "+1", "1e", "0x10", " 1", "1e999",
        ] {
            assert_eq!(parse_num(bad), None, "{bad}");
        }
        assert_eq!(num_cmp(Num::Int(2), Num::Float(2.0)), Some(Ordering::Equal));
        assert_eq!(
            num_cmp(
                Num::Int(9_007_199_254_740_993),
                Num::Int(9_007_199_254_740_992)
            ),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn dates() {
        let n = 1_000_000_000i128;
        assert_eq!(parse_date("0"), Some(0));
        assert_eq!(parse_date("1700000000"), Some(1_700_000_000 * n));
        assert_eq!(parse_date("1.5"), Some(n + n / 2));
        assert_eq!(parse_date("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_date("2023-11-14T22:13:20Z"), Some(1_700_000_000 * n));
        assert_eq!(
            parse_date("2023-11-14T22:13:20.25Z"),
            Some(1_700_000_000 * n + n / 4)
        );
        assert_eq!(
            parse_date("2023-11-15T00:13:20+02:00"),
            Some(1_700_000_000 * n)
        );
        assert_eq!(parse_date("2023-11-14T22:13Z"), Some(1_699_999_980 * n));
        assert_eq!(parse_date("2023-11-14"), Some(1_699_920_000 * n));
        assert_eq!(parse_date("2024-02-29"), Some(1_709_164_800 * n));
        assert_eq!(parse_date("1969-12-31T23:59:59Z"), Some(-n));
        for bad in [
            "",
            "2023-13-01",
            "2023-02-29",
            "2023-11-14T25:00Z",
            "2023-11-14T22:13:20Zx",
            "yesterday",
            "1.",
            "2023-1-1",
            "2023-11-14T22",
            "--1",
            "1.2.3",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("203.0.113.0/24").unwrap();
        assert!(c.contains("203.0.113.77".parse().unwrap()));
        assert!(!c.contains("203.0.114.1".parse().unwrap()));
        assert!(c.contains("::ffff:203.0.113.5".parse().unwrap()));
        let h = Cidr::parse("203.0.113.9/24").unwrap();
        assert!(h.contains("203.0.113.1".parse().unwrap()));
        let one = Cidr::parse("10.0.0.1").unwrap();
        assert!(one.contains("10.0.0.1".parse().unwrap()));
        assert!(!one.contains("10.0.0.2".parse().unwrap()));
        let v6 = Cidr::parse("2001:DB8:1234:5678::/64").unwrap();
        assert!(v6.contains("2001:db8:1234:5678:ffff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db8:1234:5679::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        let all = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        assert!(!all.is_narrow());
        for bad in [
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0/8",
            "::/129",
            "x",
            "10.0.0.0/+8",
        ] {
            assert!(Cidr::parse(bad).is_none(), "{bad}");
        }
    }
}
