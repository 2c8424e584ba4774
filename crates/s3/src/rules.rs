//! Upload rules, enforced: which of a bucket's rules cover an upload, and the checks in the
//! order that rejects earliest — key pattern, declared size, declared content type, upload
//! rates, quota reservation — before a byte of the body is read; then the body's first bytes
//! (content sniffing, in `body::ingest`). The rule model, sniffing and rate windows are the
//! pure `cubby-rules` crate.
//!
//! Quotas: usage is counted from the metadata rows (`Meta::usage`: objects by owner, plus
//! multipart uploads in progress). An upload in flight holds a *reservation* in this process
//! until its row is committed, so concurrent uploads cannot overshoot: the check (usage +
//! reservations + this upload ≤ limit) and the commit (row written, reservation dropped) of
//! one owner are serialized by a striped lock. A crash loses only reservations, never usage.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cubby_rules::{CompiledRule, RateWindows, Subject, sniff};
use http::StatusCode;

use crate::service::Ctx;
use crate::{BucketConfig, CallerKind, S3Error, S3Result, S3Service};

/// A bucket's compiled rules, with the configuration text they came from.
type CompiledFor = (String, Arc<Vec<CompiledRule>>);

/// Per-process state of upload-rule enforcement.
#[derive(Default)]
pub(crate) struct RulesState {
    /// Compiled rules per bucket, with the configuration text they came from: reused while
    /// the bucket row (read on every request anyway) still says the same.
    compiled: Mutex<HashMap<String, CompiledFor>>,
    rates: RateWindows,
    quotas: Quotas,
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
    /// The compiled upload rules of a bucket, from its configuration text.
    pub(crate) fn upload_rules_of(&self, bucket: &str, config: &str) -> Arc<Vec<CompiledRule>> {
        // Most buckets have none: skip parsing and the lock.
        if !config.contains("\"upload_rules\":[{") {
            return Arc::default();
        }
        let st = &self.rules;
        if let Ok(map) = st.compiled.lock()
            && let Some((text, rules)) = map.get(bucket)
            && text == config
        {
            return rules.clone();
        }
        let cfg = BucketConfig::from_json(config);
        let rules = match cubby_rules::compile(cfg.upload_rules.as_deref().unwrap_or_default()) {
            Ok(r) => Arc::new(r),
            Err(e) => {
                // Validated when stored; a document that no longer compiles is an operator
                // problem, and failing closed would stop every upload.
                tracing::error!(bucket, error = %e, "stored upload rules do not compile");
                Arc::default()
            }
        };
        if let Ok(mut map) = st.compiled.lock() {
            map.insert(bucket.to_owned(), (config.to_owned(), rules.clone()));
        }
        rules
    }

    /// Admit one upload step, or refuse it with the S3 error naming the rule. `None`: no rule
    /// covers it (or the caller is the account root).
    pub(crate) async fn admit_upload(
        &self,
        ctx: &Ctx,
        req: &Request<'_>,
    ) -> S3Result<Option<Admission>> {
        let caller = &ctx.caller;
        let rules = &ctx.upload_rules;
        if caller.kind == CallerKind::Root || rules.is_empty() {
            return Ok(None);
        }
        let (peer_ip, now_ms) = (ctx.peer.ip(), ctx.now_ms());
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
            self.admit_rates(&matching, &owner, peer_ip, req.bucket, now_ms)?
        } else {
            Vec::new()
        };

        let ticket = match self.reserve_quota(&matching, &owner, req, max_len).await {
            Ok(t) => t,
            Err(e) => {
                // A refused upload does not use up the caller's rate allowance.
                for k in &rated {
                    self.rules.rates.refund(k, now_ms);
                }
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

    fn admit_rates(
        &self,
        matching: &[&CompiledRule],
        owner: &str,
        ip: std::net::IpAddr,
        bucket: &str,
        now_ms: i64,
    ) -> S3Result<Vec<String>> {
        let mut admitted: Vec<String> = Vec::new();
        let refund = |admitted: &[String]| {
            for k in admitted {
                self.rules.rates.refund(k, now_ms);
            }
        };
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
                let key = format!("{bucket}\u{0}{}\u{0}{what}\u{0}{who}", r.rule.id);
                if let Err(retry) = self.rules.rates.admit(&key, limit, now_ms) {
                    refund(&admitted);
                    return Err(slow_down(r, &format!("{limit} {what}"), retry));
                }
                admitted.push(key);
            }
        }
        Ok(admitted)
    }

    async fn reserve_quota(
        &self,
        matching: &[&CompiledRule],
        owner: &str,
        req: &Request<'_>,
        max_len: Option<u64>,
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
        let holds: Vec<Hold> = quota_rules
            .iter()
            .map(|r| Hold {
                key: format!("{}\u{0}{}\u{0}{owner}", req.bucket, r.rule.id),
                objects,
                bytes,
            })
            .collect();
        let quotas = &self.rules.quotas;
        let _locks = quotas.lock(&holds).await;
        for (r, hold) in quota_rules.iter().zip(&holds) {
            let used = self.meta.usage(req.bucket, owner, &r.rule.prefix).await?;
            let (res_objects, res_bytes) = quotas.reserved(&hold.key);
            let objects_after = used.objects.max(0) as u64 + res_objects + hold.objects;
            let bytes_after = used.bytes.max(0) as u64 + res_bytes + hold.bytes;
            if let Some(max) = r.rule.max_objects
                && hold.objects > 0
                && objects_after > max
            {
                return Err(refused(
                    r,
                    "max_objects",
                    &format!("the quota of {max} objects per identity is used up"),
                ));
            }
            if let Some(max) = r.rule.max_bytes
                && bytes_after > max
            {
                return Err(refused(
                    r,
                    "max_bytes",
                    &format!(
                        "the quota of {max} bytes per identity would be exceeded ({} in use)",
                        used.bytes.max(0) as u64 + res_bytes
                    ),
                ));
            }
        }
        for h in &holds {
            quotas.add(h);
        }
        Ok(Some(Ticket {
            quotas: self.rules_handle(),
            holds,
            done: false,
        }))
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
        self.rules
            .quotas
            .held
            .lock()
            .map(|m| m.values().fold((0, 0), |(o, b), (ho, hb)| (o + ho, b + hb)))
            .unwrap_or((0, 0))
    }
}

/// One reservation: bytes and objects held for an owner under one rule.
#[derive(Clone, Debug)]
struct Hold {
    key: String,
    objects: u64,
    bytes: u64,
}

/// Reservations in this process, and the striped locks that serialize one owner's quota
/// checks with its commits.
pub(crate) struct Quotas {
    held: Mutex<HashMap<String, (u64, u64)>>,
    stripes: Vec<tokio::sync::Mutex<()>>,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            held: Mutex::default(),
            stripes: (0..64).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }
}

impl Quotas {
    fn stripe(&self, key: &str) -> usize {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        (h.finish() % self.stripes.len() as u64) as usize
    }

    /// Lock the stripes of `holds` in ascending order (so two uploads never deadlock).
    async fn lock(&self, holds: &[Hold]) -> Vec<tokio::sync::MutexGuard<'_, ()>> {
        let mut idx: Vec<usize> = holds.iter().map(|h| self.stripe(&h.key)).collect();
        idx.sort_unstable();
        idx.dedup();
        let mut guards = Vec::with_capacity(idx.len());
        for i in idx {
            if let Some(m) = self.stripes.get(i) {
                guards.push(m.lock().await);
            }
        }
        guards
    }

    fn reserved(&self, key: &str) -> (u64, u64) {
        self.held
            .lock()
            .ok()
            .and_then(|m| m.get(key).copied())
            .unwrap_or((0, 0))
    }

    fn add(&self, h: &Hold) {
        if let Ok(mut m) = self.held.lock() {
            let e = m.entry(h.key.clone()).or_insert((0, 0));
            e.0 += h.objects;
            e.1 += h.bytes;
        }
    }

    fn remove(&self, h: &Hold) {
        if let Ok(mut m) = self.held.lock()
            && let Some(e) = m.get_mut(&h.key)
        {
            e.0 = e.0.saturating_sub(h.objects);
            e.1 = e.1.saturating_sub(h.bytes);
            if *e == (0, 0) {
                m.remove(&h.key);
            }
        }
    }
}

/// A quota reservation. Dropped: released. [`Ticket::commit`]: the metadata write that makes
/// the upload count in `Meta::usage` runs under the owner's lock, and the reservation goes
/// in the same step, so no check ever sees the upload twice or not at all.
pub(crate) struct Ticket {
    quotas: Arc<RulesState>,
    holds: Vec<Hold>,
    done: bool,
}

impl Ticket {
    /// Run the commit `write`, then release the reservation, under the owner's lock.
    pub async fn commit<T>(mut self, write: impl std::future::Future<Output = T>) -> T {
        let state = self.quotas.clone();
        let _locks = state.quotas.lock(&self.holds).await;
        let out = write.await;
        self.release();
        out
    }

    fn release(&mut self) {
        if !self.done {
            for h in &self.holds {
                self.quotas.quotas.remove(h);
            }
            self.done = true;
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.release();
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
