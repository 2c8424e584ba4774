//! Upload rules, enforced: which of a bucket's rules cover an upload, and the checks in the
//! order that rejects earliest — key pattern, declared size, declared content type, upload
//! rates, quota reservation — before a byte of the body is read; then the body's first bytes
//! (content sniffing, in `body::ingest`). The rule model, sniffing and rate windows are the
//! pure `cubby-rules` crate.
//!
//! Quotas: usage is counted from the metadata rows (`Meta::usage`: objects by owner, plus
//! multipart uploads in progress), read once per owner and then kept current with this
//! process's own commits ([`Quotas`]). An upload in flight holds a
//! *reservation* until its row is committed, so concurrent uploads cannot overshoot. A crash
//! loses only reservations, never usage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cubby_rules::{CompiledRule, RateWindows, Subject, sniff};
use http::StatusCode;

use crate::service::Ctx;
use crate::shared_quota::{self, SharedHolds};
use crate::{BucketConfig, CallerKind, S3Error, S3Result, S3Service};

/// Per-process state of upload-rule enforcement.
#[derive(Default)]
pub(crate) struct RulesState {
    rates: RateWindows,
    pub(crate) quotas: Quotas,
    /// PostgreSQL (several nodes): quota holds and rate windows live in the database, not
    /// in `quotas` and `rates`.
    shared: Option<Arc<SharedHolds>>,
}

/// Why a rate window refused an upload.
enum RateRefusal {
    /// The window is full; room comes back in this many milliseconds.
    Full(i64),
    /// The shared window could not be read.
    Failed(S3Error),
}

/// An upload counted in a rate window, kept so that a later refusal can take it back.
enum RateTicket {
    /// In this process's windows: the key and the admission's time.
    Local { key: String, at_ms: i64 },
    /// In the database's windows: the admission's row.
    Shared(i64),
}

impl RulesState {
    /// On PostgreSQL quotas are held cluster-wide, with leases of `lease`; on SQLite (one
    /// process) in memory.
    pub(crate) fn new(meta: &cubby_meta::Meta, lease: std::time::Duration) -> Self {
        RulesState {
            shared: (meta.engine() == cubby_meta::Engine::Postgres)
                .then(|| Arc::new(SharedHolds::new(meta.clone(), lease))),
            ..RulesState::default()
        }
    }
}

/// What kind of upload step is being admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// PutObject (also presigned and upload-URL PUTs).
    Put,
    /// A POST form upload.
    Post,
    /// CreateMultipartUpload: counts as one object from now on.
    CreateMultipart,
    /// UploadPart: `others` is what the upload's other parts already hold.
    Part { others: u64 },
    /// CompleteMultipartUpload with the object's final size.
    Complete,
    /// CopyObject / UploadPartCopy: the source's bytes land under this key.
    Copy,
}

impl Step {
    /// Steps that start an upload count against upload rates and add an object.
    fn starts_upload(self) -> bool {
        matches!(
            self,
            Step::Put | Step::Post | Step::CreateMultipart | Step::Copy
        )
    }
}

/// Whether an admission holds what it checks, or only looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// A real upload: rate allowances are used and the quota reserved.
    Hold,
    /// An upload URL being issued: every check runs, nothing is used or reserved (the PUT
    /// made with the URL is admitted again, for real).
    Look,
}

/// One upload step to admit.
pub(crate) struct Request<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    /// This body's length when known before reading it.
    pub len: Option<u64>,
    /// When the length is not known: the most it can be (a form upload's request length), so
    /// a quota reservation can hold that much.
    pub bound: Option<u64>,
    /// The declared `Content-Type`.
    pub content_type: Option<&'a str>,
    pub step: Step,
}

/// An admitted upload: what the body must still satisfy, and the quota it holds.
pub(crate) struct Admission {
    /// Whose quota the upload counts against (recorded as the row's owner).
    pub owner: String,
    /// Bodies longer than this are refused while streaming.
    pub max_len: Option<u64>,
    /// The rule that set `max_len`.
    pub limit_rule: Option<String>,
    /// Content check on the body's first bytes.
    pub sniff: Option<ContentCheck>,
    /// Quota reservation, released when the row is committed or the upload fails.
    pub ticket: Option<Ticket>,
}

impl Admission {
    /// Tighten an ingest plan: the rules' size limit and content check.
    pub fn shape(&mut self, plan: &mut crate::body::IngestPlan) {
        if let Some(m) = self.max_len
            && m < plan.max_len
        {
            plan.max_len = m;
            plan.limit_rule = self.limit_rule.clone();
        }
        plan.sniff = self.sniff.take();
    }
}

/// The content-type part of the matching rules, checked against the body's first bytes.
#[derive(Clone)]
pub(crate) struct ContentCheck {
    /// The bucket's compiled rules (shared, not copied per upload) …
    rules: Arc<Vec<CompiledRule>>,
    /// … and which of them restrict content types for this upload.
    which: Vec<usize>,
    declared: Option<String>,
}

impl ContentCheck {
    /// The check of the rules in `rules` that cover `key` for `who` and restrict types;
    /// `None` when there are none.
    fn of(
        rules: &Arc<Vec<CompiledRule>>,
        key: &str,
        who: Subject<'_>,
        declared: Option<&str>,
    ) -> Option<ContentCheck> {
        let which: Vec<usize> = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.restricts_types() && r.applies(key, who))
            .map(|(i, _)| i)
            .collect();
        (!which.is_empty()).then(|| ContentCheck {
            rules: rules.clone(),
            which,
            declared: declared.map(str::to_owned),
        })
    }

    /// Decide on the body's first bytes (up to `sniff::SNIFF_LEN`, fewer for short bodies).
    pub fn check(&self, head: &[u8]) -> S3Result<()> {
        let detected = sniff::detect(head);
        for r in self.which.iter().filter_map(|&i| self.rules.get(i)) {
            if !r.allows_content(self.declared.as_deref(), detected) {
                return Err(refused(
                    r,
                    "content_type",
                    &format!(
                        "the content is {}{}; allowed: {}",
                        detected.unwrap_or("of an unrecognised type"),
                        match &self.declared {
                            Some(d) if detected.is_some() => format!(" (declared {d})"),
                            _ => String::new(),
                        },
                        r.allowed_types().join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Refusals per (rule id, reason), for `/_cubby/metrics`.
static REFUSALS: Mutex<std::collections::BTreeMap<(String, &'static str), u64>> =
    Mutex::new(std::collections::BTreeMap::new());

fn count_refusal(rule: &CompiledRule, reason: &'static str) {
    if let Ok(mut m) = REFUSALS.lock() {
        *m.entry((rule.rule.id.clone(), reason)).or_insert(0) += 1;
    }
}

/// Uploads refused by upload rules since start: (rule id, reason, count). Reasons:
/// `key_pattern`, `max_size`, `content_type`, `rate`, `max_objects`, `max_bytes`.
pub fn refusal_counts() -> Vec<(String, &'static str, u64)> {
    REFUSALS
        .lock()
        .map(|m| {
            m.iter()
                .map(|((r, why), n)| (r.clone(), *why, *n))
                .collect()
        })
        .unwrap_or_default()
}

fn refused(rule: &CompiledRule, reason: &'static str, why: &str) -> S3Error {
    count_refusal(rule, reason);
    S3Error::new(
        "AccessDenied",
        StatusCode::FORBIDDEN,
        format!("Upload rule '{}': {why}.", rule.rule.id),
    )
}

fn too_large(rule: &CompiledRule, max: u64, proposed: u64) -> S3Error {
    count_refusal(rule, "max_size");
    S3Error::new(
        "EntityTooLarge",
        StatusCode::BAD_REQUEST,
        format!(
            "Your proposed upload exceeds the maximum allowed size (upload rule '{}').",
            rule.rule.id
        ),
    )
    .with("ProposedSize", proposed.to_string())
    .with("MaxSizeAllowed", max.to_string())
}

fn slow_down(rule: &CompiledRule, what: &str, retry_after_ms: i64) -> S3Error {
    count_refusal(rule, "rate");
    let secs = (retry_after_ms + 999) / 1000;
    let mut e = S3Error::new(
        "SlowDown",
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "Please reduce your request rate (upload rule '{}': {what}).",
            rule.rule.id
        ),
    );
    e.headers.push(("retry-after", secs.max(1).to_string()));
    e
}

impl S3Service {
    /// Admit one upload step, or refuse it with the S3 error naming the rule. `None`: no rule
    /// covers it (or the caller is the account root).
    pub(crate) async fn admit_upload(
        &self,
        ctx: &Ctx,
        req: &Request<'_>,
    ) -> S3Result<Option<Admission>> {
        let rules = &ctx.upload_rules;
        self.admit(
            &ctx.caller,
            rules,
            ctx.peer.ip(),
            ctx.now_ms(),
            req,
            Mode::Hold,
        )
        .await
    }

    /// Would a PUT of `len` bytes declared as `content_type` to `bucket/key`, made with these
    /// credentials from `peer`, pass the bucket's upload rules now? For the upload-URL
    /// endpoint, which refuses to issue a URL whose upload would be refused anyway. Nothing is
    /// used up or reserved; the PUT itself is admitted again when it arrives.
    #[allow(clippy::too_many_arguments)]
    pub async fn check_upload(
        &self,
        access_key_id: &str,
        session_token: Option<&str>,
        bucket: &str,
        key: &str,
        content_type: &str,
        len: Option<u64>,
        peer: std::net::IpAddr,
        now: i64,
    ) -> S3Result<()> {
        let Some(row) = self.meta.get_bucket(bucket).await? else {
            return Err(S3Error::no_such_bucket(bucket));
        };
        let rules = self.bucket_view(&row).upload_rules.clone();
        if rules.is_empty() {
            // Most buckets: no need to open the session at all.
            return Ok(());
        }
        let caller = self
            .authority
            .resolve(access_key_id, session_token, now)
            .await?
            .caller;
        let req = Request {
            bucket,
            key,
            len,
            bound: None,
            content_type: Some(content_type),
            step: Step::Put,
        };
        self.admit(&caller, &rules, peer, now * 1000, &req, Mode::Look)
            .await
            .map(|_| ())
    }

    async fn admit(
        &self,
        caller: &crate::Caller,
        rules: &Arc<Vec<CompiledRule>>,
        peer_ip: std::net::IpAddr,
        now_ms: i64,
        req: &Request<'_>,
        mode: Mode,
    ) -> S3Result<Option<Admission>> {
        if caller.kind == CallerKind::Root || rules.is_empty() {
            return Ok(None);
        }
        let subject = self.authority.upload_subject(caller);
        let who = Subject {
            kind: subject.kind,
            role_name: subject.role_name.as_deref(),
        };
        let owner = if caller.kind == CallerKind::Anonymous {
            "anonymous".to_owned()
        } else {
            subject.owner.clone()
        };
        // (Same rule as `upload_owner`, without asking the authority twice.)
        let matching: Vec<&CompiledRule> =
            rules.iter().filter(|r| r.applies(req.key, who)).collect();
        if matching.is_empty() {
            return Ok(None);
        }

        let mut max_len: Option<u64> = None;
        let mut limit_rule: Option<String> = None;
        for r in &matching {
            if let Some(p) = &r.key_pattern
                && !self.authority.key_matches(caller, p, req.key)
            {
                return Err(refused(
                    r,
                    "key_pattern",
                    &format!("the key must match {}", p.as_str()),
                ));
            }
            if let Some(max) = r.rule.max_size {
                let proposed = match req.step {
                    Step::Part { others } => req.len.map(|l| l + others),
                    _ => req.len,
                };
                if let Some(p) = proposed
                    && p > max
                {
                    return Err(too_large(r, max, p));
                }
                if max_len.is_none_or(|m| max < m) {
                    max_len = Some(max);
                    limit_rule = Some(r.rule.id.clone());
                }
            }
            if matches!(req.step, Step::Put | Step::Post | Step::CreateMultipart)
                && !r.allows_declared(req.content_type)
            {
                return Err(refused(
                    r,
                    "content_type",
                    &format!(
                        "content type {} is not allowed; allowed: {}",
                        req.content_type.unwrap_or_default(),
                        r.allowed_types().join(", ")
                    ),
                ));
            }
        }
        // For a part, the stream limit is what is left of the object's maximum.
        if let (Step::Part { others }, Some(m)) = (req.step, max_len) {
            max_len = Some(m.saturating_sub(others));
        }

        let rated = if req.step.starts_upload() {
            self.admit_rates(&matching, &owner, peer_ip, req.bucket, now_ms, mode)
                .await?
        } else {
            Vec::new()
        };

        let ticket = match self
            .reserve_quota(&matching, &owner, req, max_len, mode)
            .await
        {
            Ok(t) => t,
            Err(e) => {
                // A refused upload does not use up the caller's rate allowance.
                self.refund_rates(rated).await;
                return Err(e);
            }
        };

        // Content is judged on the first bytes of the object: a PUT/POST body, or part 1.
        let sniffs = match req.step {
            Step::Put | Step::Post => true,
            Step::Part { .. } | Step::CreateMultipart | Step::Complete | Step::Copy => false,
        };
        let sniff = sniffs
            .then(|| ContentCheck::of(rules, req.key, who, req.content_type))
            .flatten();
        Ok(Some(Admission {
            owner,
            max_len,
            limit_rule,
            sniff,
            ticket,
        }))
    }

    /// The content check of the rules covering `key`, for bodies judged after admission
    /// (the first part of a multipart upload, a copy source).
    pub(crate) fn content_check_for(
        &self,
        ctx: &Ctx,
        key: &str,
        content_type: Option<&str>,
    ) -> Option<ContentCheck> {
        let rules = &ctx.upload_rules;
        if ctx.caller.kind == CallerKind::Root || rules.is_empty() {
            return None;
        }
        let subject = self.authority.upload_subject(&ctx.caller);
        let who = Subject {
            kind: subject.kind,
            role_name: subject.role_name.as_deref(),
        };
        ContentCheck::of(rules, key, who, content_type)
    }

    /// Count the upload in each matching rule's rate windows (per identity, per address),
    /// or refuse it with SlowDown when one is full. On PostgreSQL the windows are the
    /// cluster's (`Meta::admit_rate`), so a balancer cannot multiply an identity's rate.
    async fn admit_rates(
        &self,
        matching: &[&CompiledRule],
        owner: &str,
        ip: std::net::IpAddr,
        bucket: &str,
        now_ms: i64,
        mode: Mode,
    ) -> S3Result<Vec<RateTicket>> {
        let mut admitted: Vec<RateTicket> = Vec::new();
        for r in matching {
            let checks = [
                (
                    r.rule.uploads_per_minute,
                    owner.to_owned(),
                    "uploads per minute per identity",
                ),
                (
                    r.rule.uploads_per_minute_per_ip,
                    ip.to_string(),
                    "uploads per minute per address",
                ),
            ];
            for (limit, who, what) in checks {
                let Some(limit) = limit else { continue };
                // `\u{1f}` separates: PostgreSQL text cannot hold a NUL.
                let key = format!("{bucket}\u{1f}{}\u{1f}{what}\u{1f}{who}", r.rule.id);
                let verdict = self.rate_verdict(key, limit, now_ms, mode).await;
                match verdict {
                    Ok(Some(ticket)) => admitted.push(ticket),
                    Ok(None) => {}
                    Err(e) => {
                        self.refund_rates(admitted).await;
                        return Err(match e {
                            RateRefusal::Full(retry) => {
                                slow_down(r, &format!("{limit} {what}"), retry)
                            }
                            RateRefusal::Failed(e) => e,
                        });
                    }
                }
            }
        }
        Ok(admitted)
    }

    /// One window's verdict: the ticket of a counted upload (`None` when only looking).
    async fn rate_verdict(
        &self,
        key: String,
        limit: u32,
        now_ms: i64,
        mode: Mode,
    ) -> Result<Option<RateTicket>, RateRefusal> {
        let take = mode == Mode::Hold;
        if let Some(shared) = &self.rules.shared {
            // Its housekeeping also forgets rate rows of keys nobody checks any more.
            shared.start_renewing();
            return match self.meta.admit_rate(&key, limit, take).await {
                Ok(cubby_meta::RateVerdict::Admitted(id)) => Ok(id.map(RateTicket::Shared)),
                Ok(cubby_meta::RateVerdict::Full { retry_after_ms }) => {
                    Err(RateRefusal::Full(retry_after_ms))
                }
                Err(e) => Err(RateRefusal::Failed(e.into())),
            };
        }
        let rates = &self.rules.rates;
        if take {
            rates
                .admit(&key, limit, now_ms)
                .map_err(RateRefusal::Full)?;
            Ok(Some(RateTicket::Local { key, at_ms: now_ms }))
        } else {
            rates
                .check(&key, limit, now_ms)
                .map_err(RateRefusal::Full)?;
            Ok(None)
        }
    }

    /// Take back uploads counted in rate windows (a later check refused them).
    async fn refund_rates(&self, tickets: Vec<RateTicket>) {
        for t in tickets {
            match t {
                RateTicket::Local { key, at_ms } => self.rules.rates.refund(&key, at_ms),
                RateTicket::Shared(id) => {
                    if let Err(e) = self.meta.refund_rate(id).await {
                        // The admission then counts until it leaves the window: a refusal
                        // uses up one place for a minute at most.
                        tracing::warn!(error = %e, "refunding an upload-rate admission failed");
                    }
                }
            }
        }
    }

    async fn reserve_quota(
        &self,
        matching: &[&CompiledRule],
        owner: &str,
        req: &Request<'_>,
        max_len: Option<u64>,
        mode: Mode,
    ) -> S3Result<Option<Ticket>> {
        let quota_rules: Vec<&CompiledRule> =
            matching.iter().copied().filter(|r| r.has_quota()).collect();
        if quota_rules.is_empty() || req.step == Step::Complete {
            // Completing adds nothing: the upload was counted when it was created and its
            // parts when they were stored.
            return Ok(None);
        }
        let objects: u64 = u64::from(req.step.starts_upload());
        // Unknown length (form uploads): hold the most the body may be.
        let bytes = match req.step {
            Step::CreateMultipart => 0,
            _ => match (req.len, req.bound, max_len) {
                (Some(l), _, _) => l,
                (None, Some(b), Some(m)) => b.min(m),
                (None, b, m) => b.or(m).unwrap_or(0),
            },
        };
        if let Some(shared) = &self.rules.shared {
            return self
                .hold_shared(shared, &quota_rules, owner, req, (objects, bytes), mode)
                .await;
        }
        let holds: Vec<Hold> = quota_rules
            .iter()
            .map(|r| Hold {
                key: format!("{}\u{0}{}\u{0}{owner}", req.bucket, r.rule.id),
                objects,
                bytes,
            })
            .collect();
        // A refusal that a figure too high (`Account::doubtful`) may cause is decided again on
        // a fresh reading, once.
        let mut recheck = true;
        loop {
            match self
                .try_reserve(&quota_rules, &holds, owner, req, mode, &mut recheck)
                .await?
            {
                Pass::ReadAgain => {}
                Pass::Allowed => return Ok(None),
                Pass::Reserved => {
                    return Ok(Some(Ticket {
                        quotas: self.rules_handle(),
                        holds,
                        shared: Vec::new(),
                        done: false,
                    }));
                }
            }
        }
    }

    /// One pass of [`Self::reserve_quota`] on this node: read what needs reading, then decide
    /// and (in [`Mode::Hold`]) reserve.
    async fn try_reserve(
        &self,
        quota_rules: &[&CompiledRule],
        holds: &[Hold],
        owner: &str,
        req: &Request<'_>,
        mode: Mode,
        recheck: &mut bool,
    ) -> S3Result<Pass> {
        let quotas = &self.rules.quotas;
        // Readings happen outside the lock, so one owner's uploads never wait on each other.
        for (r, hold) in quota_rules.iter().zip(holds) {
            match quotas.needs_reading(&hold.key) {
                Reading::NotNeeded => {}
                Reading::Now(_) => {
                    let gate = quotas.reading_gate(&hold.key);
                    let _reading = gate.lock().await;
                    // Another upload may have taken the reading while this one waited.
                    let since = match quotas.needs_reading(&hold.key) {
                        Reading::NotNeeded => continue,
                        Reading::Now(since) | Reading::InBackground(since) => since,
                    };
                    let used = self.meta.usage(req.bucket, owner, &r.rule.prefix).await;
                    match used {
                        Ok(used) => quotas.read(&hold.key, used, since),
                        Err(e) => {
                            quotas.reading_failed(&hold.key);
                            return Err(e.into());
                        }
                    }
                }
                Reading::InBackground(since) => {
                    // The current figure can only be too high (a reading that raced commits)
                    // or, through a change no path reported, stale: this upload goes on with
                    // it while one task reads the rows again.
                    let (meta, state) = (self.meta.clone(), self.rules.clone());
                    let (bucket, owner, prefix, key) = (
                        req.bucket.to_owned(),
                        owner.to_owned(),
                        r.rule.prefix.clone(),
                        hold.key.clone(),
                    );
                    tokio::spawn(async move {
                        match meta.usage(&bucket, &owner, &prefix).await {
                            Ok(used) => state.quotas.read(&key, used, since),
                            Err(e) => {
                                tracing::warn!(bucket, error = %e, "quota usage reading failed");
                                state.quotas.reading_failed(&key);
                            }
                        }
                    });
                }
            }
        }
        // Decide and reserve for every rule at once, so a refusal by one rule holds nothing
        // under another.
        let mut book = quotas.lock();
        for (r, hold) in quota_rules.iter().zip(holds) {
            let a = book.accounts.entry(hold.key.clone()).or_default();
            if let Some(e) = over_quota(r, (hold.objects, hold.bytes), a.used()) {
                if std::mem::take(recheck) && Quotas::doubt_refusal(&mut book, &hold.key) {
                    return Ok(Pass::ReadAgain);
                }
                return Err(e);
            }
        }
        if mode == Mode::Look {
            return Ok(Pass::Allowed);
        }
        for h in holds {
            let a = book.accounts.entry(h.key.clone()).or_default();
            a.reserved.0 += h.objects;
            a.reserved.1 += h.bytes;
        }
        Ok(Pass::Reserved)
    }

    /// [`Self::reserve_quota`] on a cluster: each rule's account is checked and held in the
    /// database, one after the other; a refusal releases the holds already taken.
    async fn hold_shared(
        &self,
        shared: &Arc<SharedHolds>,
        quota_rules: &[&CompiledRule],
        owner: &str,
        req: &Request<'_>,
        want: (u64, u64),
        mode: Mode,
    ) -> S3Result<Option<Ticket>> {
        let mut ticket = Ticket {
            quotas: self.rules_handle(),
            holds: Vec::new(),
            shared: Vec::new(),
            done: false,
        };
        let epoch = self.rules.quotas.epoch(req.bucket);
        for r in quota_rules {
            // `\u{1f}` separates: PostgreSQL text cannot hold the in-memory key's NUL.
            let account = format!("{}\u{1f}{}\u{1f}{owner}", req.bucket, r.rule.id);
            let held = shared
                .hold(&shared_quota::Check {
                    account: &account,
                    bucket: req.bucket,
                    owner,
                    prefix: &r.rule.prefix,
                    epoch,
                    want,
                    max_objects: r.rule.max_objects,
                    max_bytes: r.rule.max_bytes,
                    take: mode == Mode::Hold,
                })
                .await?;
            match held {
                Ok(Some(id)) => ticket.shared.push(id),
                Ok(None) => {}
                Err(used) => {
                    // Refused for a reason the caller can see; a lost race with another
                    // upload of the same owner is refused the same way.
                    let e = over_quota(r, want, used).unwrap_or_else(|| {
                        refused(
                            r,
                            "max_objects",
                            "the quota is used up by uploads in flight",
                        )
                    });
                    return Err(e);
                }
            }
        }
        Ok((mode == Mode::Hold).then_some(ticket))
    }

    fn rules_handle(&self) -> Arc<RulesState> {
        self.rules.clone()
    }

    /// Whose quota a write by this caller counts against (recorded on every object row and
    /// multipart upload, so a quota added later counts what is already stored).
    pub(crate) fn upload_owner(&self, ctx: &Ctx) -> String {
        if ctx.caller.kind == CallerKind::Anonymous {
            return "anonymous".to_owned();
        }
        self.authority.upload_subject(&ctx.caller).owner
    }

    /// Quota reservations held by uploads in flight in this process: (objects, bytes).
    pub fn upload_reservations(&self) -> (u64, u64) {
        match &self.rules.shared {
            Some(shared) => shared.held(),
            None => self.rules.quotas.held(),
        }
    }
}

/// The refusal when adding `want` (objects, bytes) to `used` breaks one of `r`'s limits.
fn over_quota(r: &CompiledRule, want: (u64, u64), used: (u64, u64)) -> Option<S3Error> {
    if let Some(max) = r.rule.max_objects
        && want.0 > 0
        && used.0 + want.0 > max
    {
        return Some(refused(
            r,
            "max_objects",
            &format!("the quota of {max} objects per identity is used up"),
        ));
    }
    if let Some(max) = r.rule.max_bytes
        && used.1 + want.1 > max
    {
        return Some(refused(
            r,
            "max_bytes",
            &format!(
                "the quota of {max} bytes per identity would be exceeded ({} in use)",
                used.1
            ),
        ));
    }
    None
}

/// What one pass of a node-local quota check decided.
enum Pass {
    /// Within every limit; nothing reserved ([`Mode::Look`]).
    Allowed,
    /// Within every limit, and the holds are taken.
    Reserved,
    /// A refusal rested on a figure that may be too high: it is marked for a fresh reading,
    /// and the check runs again (once).
    ReadAgain,
}

/// One reservation: bytes and objects held for an owner under one rule.
#[derive(Clone, Debug)]
struct Hold {
    key: String,
    objects: u64,
    bytes: u64,
}

/// How long a reading is trusted. This process is the only writer of the rows (on PostgreSQL
/// quotas are held in the database instead, `shared_quota.rs`), and it tracks every change
/// itself: its commits move into the account; its deletes and overwrites can only leave the
/// figure too high, which is settled when it matters ([`Account::doubtful`]). The renewal only
/// bounds what a change no path reported could leave wrong, while a reading costs
/// `O(objects of the owner)`, so it is rare.
const READING_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// Accounts idle this long (nothing reserved) are forgotten.
const ACCOUNT_IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// One owner's quota account under one rule: the committed usage as last read from the
/// metadata rows, kept current with this process's own commits, and the reservations of its
/// uploads in flight. All numbers are `(objects, bytes)`.
#[derive(Debug, Default)]
pub(crate) struct Account {
    /// Committed usage: the last reading plus what this process committed since.
    committed: (u64, u64),
    /// When `committed` was read (`None`: never, or it must be read again before a check).
    read_at: Option<std::time::Instant>,
    /// `committed` may count more than the rows hold: an upload that committed while the
    /// reading ran, or was in flight when it landed, may be counted twice, and what this node
    /// deleted or replaced in the bucket since is still counted. That can only make a check
    /// refuse too early, so a refusal while this is set reads the rows again and decides once
    /// more, instead of the figure being read again soon: an owner who uploads without pause
    /// may race every renewal, and where keys are overwritten every upload would follow a
    /// change, so the rows (`O(objects)`) would be counted all the time.
    doubtful: bool,
    /// Held by uploads in flight.
    reserved: (u64, u64),
    /// The bucket's change count when `committed` was read.
    epoch: u64,
    /// A reading is under way (at most one at a time is started in the background).
    reading: bool,
    /// Everything moved from `reserved` to `committed` since start (a running total, so a
    /// reading can tell which commits it may have missed).
    moved: (u64, u64),
    /// Held while a reading that checks must wait for is taken: uploads that find the account
    /// unread wait for one reading instead of each taking their own (see
    /// [`Quotas::reading_gate`]).
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl Account {
    fn used(&self) -> (u64, u64) {
        (
            self.committed.0 + self.reserved.0,
            self.committed.1 + self.reserved.1,
        )
    }
}

/// The quota accounts of this process.
///
/// A check is `committed + reserved + this upload ≤ limit`, decided and reserved under one
/// short lock, so concurrent uploads of one owner cannot overshoot. A commit moves its
/// reservation into `committed` after the row is written; no lock is held while writing.
///
/// Readings are conservative: a reading races the commits that finish while it runs (the row
/// may or may not be in it), so those are added on top (the `moved` total before and after).
/// An upload can be counted twice, never not at all. What this process deletes or replaces in a
/// bucket leaves its accounts too high until a reading. A refusal that either may cause is
/// decided on a fresh reading ([`Account::doubtful`]).
/// A crash loses the accounts, never the rows they are read from.
#[derive(Default)]
pub(crate) struct Quotas {
    book: Mutex<Book>,
    /// When idle accounts were last forgotten.
    pruned: Mutex<Option<std::time::Instant>>,
}

/// The accounts, keyed `bucket \0 rule \0 owner`, and per bucket how often something in it
/// was deleted or replaced here.
#[derive(Default)]
struct Book {
    accounts: HashMap<String, Account>,
    changes: HashMap<String, u64>,
}

impl Book {
    fn epoch_of(&self, key: &str) -> u64 {
        let bucket = key.split('\0').next().unwrap_or_default();
        self.changes.get(bucket).copied().unwrap_or(0)
    }
}

/// The account's `moved` total and its bucket's change count when a reading started.
pub(crate) struct ReadingStart((u64, u64), u64);

/// Whether an account's usage must be read from the rows before a check.
pub(crate) enum Reading {
    /// The account is current enough.
    NotNeeded,
    /// Read now, before checking: the account was never read, or this node deleted or
    /// replaced something in the bucket since (the figure may be too high).
    Now(ReadingStart),
    /// The reading is older than it is trusted: check with it, and read again in the
    /// background.
    InBackground(ReadingStart),
}

impl Quotas {
    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        // A panic while holding this lock cannot leave an account half-updated in a way
        // that matters more than refusing every upload would.
        self.book
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Something in `bucket` was deleted or replaced: its accounts are read again.
    pub(crate) fn bucket_changed(&self, bucket: &str) {
        let mut book = self.lock();
        match book.changes.get_mut(bucket) {
            Some(n) => *n += 1,
            None => {
                book.changes.insert(bucket.to_owned(), 1);
            }
        }
    }

    /// How often something in `bucket` was deleted or replaced by this process.
    pub(crate) fn epoch(&self, bucket: &str) -> u64 {
        self.lock().changes.get(bucket).copied().unwrap_or(0)
    }

    /// Whether `key`'s usage must be read from the rows, and how.
    fn needs_reading(&self, key: &str) -> Reading {
        let now = std::time::Instant::now();
        let mut book = self.lock();
        if book.accounts.len() > 4096 {
            self.prune(&mut book.accounts, now);
        }
        let epoch = book.epoch_of(key);
        let a = book.accounts.entry(key.to_owned()).or_default();
        let start = ReadingStart(a.moved, epoch);
        if a.read_at.is_some() && a.epoch != epoch {
            // Something in the bucket was deleted or replaced since the reading (or while it
            // ran): the figure can only be too high now.
            a.epoch = epoch;
            a.doubtful = true;
        }
        match a.read_at {
            None => Reading::Now(start),
            Some(t) if now.duration_since(t) < READING_TTL || a.reading => Reading::NotNeeded,
            Some(_) => {
                a.reading = true;
                Reading::InBackground(start)
            }
        }
    }

    /// The gate of `key`'s account. Readings overlap commits conservatively (a commit that
    /// lands during a reading counts twice until the next one), so when a burst of uploads
    /// finds an account unread, one of them reads while the others wait for its figure:
    /// nothing of this owner is reserved or committed before the first reading, so it is
    /// exact, and the burst is decided on it one upload at a time.
    fn reading_gate(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.lock()
            .accounts
            .entry(key.to_owned())
            .or_default()
            .gate
            .clone()
    }

    /// Take a reading of the rows begun at `since`.
    fn read(&self, key: &str, rows: cubby_meta::Usage, since: ReadingStart) {
        let mut book = self.lock();
        let a = book.accounts.entry(key.to_owned()).or_default();
        let (o0, b0) = since.0;
        // Commits that finished while reading may or may not be in the rows: count them. They,
        // and uploads still in flight (committed in the rows, not yet moved here), may then
        // be counted twice.
        a.committed = (
            rows.objects.max(0) as u64 + a.moved.0.saturating_sub(o0),
            rows.bytes.max(0) as u64 + a.moved.1.saturating_sub(b0),
        );
        a.doubtful = a.moved != since.0 || a.reserved != (0, 0);
        a.read_at = Some(std::time::Instant::now());
        // A change during the reading may be missing from it: the next look marks the figure
        // doubtful.
        a.epoch = since.1;
        a.reading = false;
    }

    /// A check of `key` would refuse: if the account's figure may be too high, mark it for a
    /// fresh reading and say so (the caller reads and decides again).
    fn doubt_refusal(book: &mut Book, key: &str) -> bool {
        let epoch = book.epoch_of(key);
        match book.accounts.get_mut(key) {
            Some(a) if a.doubtful || a.epoch != epoch => {
                a.read_at = None;
                a.doubtful = false;
                true
            }
            _ => false,
        }
    }

    /// A reading failed: the next upload tries again.
    fn reading_failed(&self, key: &str) {
        if let Some(a) = self.lock().accounts.get_mut(key) {
            a.reading = false;
        }
    }

    /// Forget accounts with nothing reserved that were not read for a while (at most every
    /// ten seconds; their usage is read again when needed).
    fn prune(&self, accounts: &mut HashMap<String, Account>, now: std::time::Instant) {
        let mut last = self
            .pruned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|t| now.duration_since(t) < std::time::Duration::from_secs(10)) {
            return;
        }
        *last = Some(now);
        accounts.retain(|_, a| {
            a.reserved != (0, 0)
                || a.read_at
                    .is_some_and(|t| now.duration_since(t) < ACCOUNT_IDLE)
        });
    }

    /// Release `h`; `committed`: its upload's row was written, so it now counts as usage.
    fn release(&self, h: &Hold, committed: bool) {
        let mut book = self.lock();
        if let Some(a) = book.accounts.get_mut(&h.key) {
            a.reserved.0 = a.reserved.0.saturating_sub(h.objects);
            a.reserved.1 = a.reserved.1.saturating_sub(h.bytes);
            if committed {
                a.committed.0 += h.objects;
                a.committed.1 += h.bytes;
                a.moved.0 += h.objects;
                a.moved.1 += h.bytes;
            }
        }
    }

    /// Reservations held by uploads in flight: (objects, bytes).
    fn held(&self) -> (u64, u64) {
        self.lock()
            .accounts
            .values()
            .fold((0, 0), |(o, b), a| (o + a.reserved.0, b + a.reserved.1))
    }
}

/// A quota reservation. Dropped: released. [`Ticket::commit`]: released into the owner's
/// committed usage once the metadata write that makes the upload count has succeeded.
pub(crate) struct Ticket {
    quotas: Arc<RulesState>,
    holds: Vec<Hold>,
    /// Ids of the holds in the database (cluster mode).
    shared: Vec<i64>,
    done: bool,
}

impl Ticket {
    /// Run the commit `write`; on success the reservation becomes committed usage.
    pub async fn commit<T, E>(
        mut self,
        write: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let out = write.await;
        self.release(out.is_ok());
        // The row is committed (or not written): the holds go before the answer does, so the
        // owner's next upload finds its usage in the rows alone.
        if let Some(shared) = &self.quotas.shared
            && !self.shared.is_empty()
        {
            shared.release(std::mem::take(&mut self.shared)).await;
        }
        out
    }

    fn release(&mut self, committed: bool) {
        if !self.done {
            for h in &self.holds {
                self.quotas.quotas.release(h, committed);
            }
            self.done = true;
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.release(false);
        if let Some(shared) = &self.quotas.shared
            && !self.shared.is_empty()
        {
            shared.release_later(std::mem::take(&mut self.shared));
        }
    }
}

/// Why an admin call on upload rules failed.
#[derive(Debug, thiserror::Error)]
pub enum RulesAdminError {
    /// No such bucket.
    #[error("The specified bucket does not exist")]
    NoSuchBucket,
    /// The rules do not validate.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Meta(#[from] cubby_meta::MetaError),
}

impl S3Service {
    /// A bucket's upload rules as stored (`None`: the bucket has none).
    pub async fn upload_rules(
        &self,
        bucket: &str,
    ) -> Result<Option<Vec<cubby_rules::UploadRule>>, RulesAdminError> {
        let row = self
            .meta
            .get_bucket(bucket)
            .await?
            .ok_or(RulesAdminError::NoSuchBucket)?;
        Ok(BucketConfig::from_json(&row.config).upload_rules)
    }

    /// Replace (or, with `None` or an empty list, remove) a bucket's upload rules, after
    /// validating them. Takes effect with the next request on every node (rules are read
    /// with the bucket row).
    pub async fn set_upload_rules(
        &self,
        bucket: &str,
        rules: Option<Vec<cubby_rules::UploadRule>>,
    ) -> Result<(), RulesAdminError> {
        let rules = rules.filter(|r| !r.is_empty());
        if let Some(r) = &rules {
            cubby_rules::compile(r).map_err(|e| RulesAdminError::Invalid(e.to_string()))?;
        }
        let row = self
            .meta
            .get_bucket(bucket)
            .await?
            .ok_or(RulesAdminError::NoSuchBucket)?;
        let mut cfg = BucketConfig::from_json(&row.config);
        cfg.upload_rules = rules;
        self.meta.set_bucket_config(bucket, &cfg.to_json()).await?;
        Ok(())
    }

    /// Usage of a bucket per owner under `prefix`, largest first.
    pub async fn upload_usage(
        &self,
        bucket: &str,
        prefix: &str,
        limit: i64,
    ) -> Result<Vec<cubby_meta::OwnerUsage>, RulesAdminError> {
        if self.meta.get_bucket(bucket).await?.is_none() {
            return Err(RulesAdminError::NoSuchBucket);
        }
        Ok(self.meta.usage_by_owner(bucket, prefix, limit).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(key: &str, objects: u64, bytes: u64) -> Hold {
        Hold {
            key: key.to_owned(),
            objects,
            bytes,
        }
    }

    /// The start of a reading that must happen now.
    fn now(r: Reading) -> ReadingStart {
        match r {
            Reading::Now(s) => s,
            _ => panic!("expected an immediate reading"),
        }
    }

    fn usage(objects: i64, bytes: i64) -> cubby_meta::Usage {
        cubby_meta::Usage { objects, bytes }
    }

    fn reserve(q: &Quotas, h: &Hold) {
        let mut book = q.lock();
        let a = book.accounts.entry(h.key.clone()).or_default();
        a.reserved.0 += h.objects;
        a.reserved.1 += h.bytes;
    }

    fn used(q: &Quotas, key: &str) -> (u64, u64) {
        q.lock()
            .accounts
            .get(key)
            .map(Account::used)
            .unwrap_or_default()
    }

    #[test]
    fn a_commit_racing_a_reading_is_counted_not_lost() {
        let q = Quotas::default();
        let k = "b\0r\0alice";
        let h = hold(k, 1, 10);
        let start = now(q.needs_reading(k));
        reserve(&q, &h);
        // The upload commits while the rows are being read; the reading may have missed it.
        q.release(&h, true);
        q.read(k, usage(2, 100), start);
        assert_eq!(used(&q, k), (3, 110));
        // Fresh: no new reading.
        assert!(matches!(q.needs_reading(k), Reading::NotNeeded));
    }

    /// Ages `key`'s reading by `by`.
    fn age(q: &Quotas, key: &str, by: std::time::Duration) {
        if let Some(a) = q.lock().accounts.get_mut(key)
            && let Some(t) = a.read_at
        {
            a.read_at = t.checked_sub(by);
        }
    }

    #[test]
    fn a_raced_reading_is_kept_and_read_again_only_to_refuse() {
        let q = Quotas::default();
        let (exact, raced) = ("b\0r\0erin", "b\0r\0frank");
        let start = now(q.needs_reading(exact));
        q.read(exact, usage(1, 1), start);
        let start = now(q.needs_reading(raced));
        let h = hold(raced, 1, 1);
        reserve(&q, &h);
        q.release(&h, true);
        q.read(raced, usage(1, 1), start);
        // Both figures are kept for the minute: a reading costs O(objects of the owner), and
        // an owner uploading without pause would race every renewal.
        for key in [exact, raced] {
            age(&q, key, READING_TTL - std::time::Duration::from_secs(1));
            assert!(matches!(q.needs_reading(key), Reading::NotNeeded), "{key}");
        }
        // A refusal of the exact figure stands; the raced one may count its commit twice, so
        // its refusal asks for a fresh reading, once.
        let mut book = q.lock();
        assert!(!Quotas::doubt_refusal(&mut book, exact));
        assert!(Quotas::doubt_refusal(&mut book, raced));
        assert!(!Quotas::doubt_refusal(&mut book, raced));
        drop(book);
        assert!(matches!(q.needs_reading(raced), Reading::Now(_)));
        age(&q, exact, std::time::Duration::from_secs(1));
        assert!(matches!(q.needs_reading(exact), Reading::InBackground(_)));
    }

    #[test]
    fn a_failed_upload_gives_its_reservation_back() {
        let q = Quotas::default();
        let k = "b\0r\0bob";
        let start = now(q.needs_reading(k));
        q.read(k, usage(0, 0), start);
        let h = hold(k, 1, 5);
        reserve(&q, &h);
        assert_eq!(used(&q, k), (1, 5));
        q.release(&h, false);
        assert_eq!(used(&q, k), (0, 0));
    }

    #[test]
    fn a_delete_in_the_bucket_is_settled_by_a_reading_before_a_refusal() {
        let q = Quotas::default();
        let (k, other) = ("b\0r\0carol", "c\0r\0carol");
        for key in [k, other] {
            let start = now(q.needs_reading(key));
            q.read(key, usage(1, 1), start);
        }
        q.bucket_changed("b");
        // The figure is kept (it can only be too high now): no reading per upload …
        assert!(matches!(q.needs_reading(k), Reading::NotNeeded));
        assert_eq!(used(&q, k), (1, 1));
        // … but a refusal in that bucket reads first; another bucket is untouched.
        let mut book = q.lock();
        assert!(!Quotas::doubt_refusal(&mut book, other));
        assert!(Quotas::doubt_refusal(&mut book, k));
        drop(book);
        // A change during a reading leaves the new figure doubtful as well.
        let start = now(q.needs_reading(k));
        q.bucket_changed("b");
        q.read(k, usage(0, 0), start);
        assert!(matches!(q.needs_reading(k), Reading::NotNeeded));
        assert!(Quotas::doubt_refusal(&mut q.lock(), k));
    }

    #[test]
    fn an_upload_in_flight_when_a_reading_lands_leaves_it_doubtful() {
        let q = Quotas::default();
        let k = "b\0r\0gina";
        let start = now(q.needs_reading(k));
        let h = hold(k, 1, 10);
        reserve(&q, &h);
        // Its row may already be in what is read: it may now be counted twice.
        q.read(k, usage(1, 10), start);
        q.release(&h, true);
        assert_eq!(used(&q, k), (2, 20));
        assert!(Quotas::doubt_refusal(&mut q.lock(), k));
    }

    #[test]
    fn an_old_reading_is_renewed_once_in_the_background() {
        let q = Quotas::default();
        let k = "b\0r\0dave";
        let start = now(q.needs_reading(k));
        q.read(k, usage(4, 40), start);
        if let Some(a) = q.lock().accounts.get_mut(k) {
            a.read_at = Some(std::time::Instant::now() - READING_TTL);
        }
        let start = match q.needs_reading(k) {
            Reading::InBackground(s) => s,
            _ => panic!("expected a background reading"),
        };
        // While it runs, others go on with the current figure instead of reading too.
        assert!(matches!(q.needs_reading(k), Reading::NotNeeded));
        assert_eq!(used(&q, k), (4, 40));
        q.read(k, usage(6, 60), start);
        assert_eq!(used(&q, k), (6, 60));
    }
}
