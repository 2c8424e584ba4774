//! Bucket notification configurations (S3's `NotificationConfiguration` XML) and the events a
//! committed change produces. Events are built here, on the request path, from the bucket
//! configuration already loaded for the request, and handed to `cubby-meta` to commit in the
//! same transaction as the object row; `cubby-events` delivers them later.

use crate::service::{Ctx, S3Service};
use crate::xml::{elem, end, start};
use crate::{S3Error, S3Result};
use cubby_events::model::{ObjectEvent, next_sequencer, stored_form, test_event_json};
use cubby_meta::NewEvent;
use serde::{Deserialize, Serialize};

/// Event types S3 accepts in a configuration. cubby emits the `ObjectCreated:*` and
/// `ObjectRemoved:Delete` ones; the others are accepted (configurations written for AWS
/// keep working) and never fire.
const KNOWN_EVENTS: &[&str] = &[
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectRestore:*",
    "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed",
    "s3:ObjectRestore:Delete",
    "s3:ReducedRedundancyLostObject",
    "s3:Replication:*",
    "s3:Replication:OperationFailedReplication",
    "s3:Replication:OperationNotTracked",
    "s3:Replication:OperationMissedThreshold",
    "s3:Replication:OperationReplicatedAfterThreshold",
    "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete",
    "s3:LifecycleExpiration:DeleteMarkerCreated",
    "s3:LifecycleTransition",
    "s3:IntelligentTiering",
    "s3:ObjectTagging:*",
    "s3:ObjectTagging:Put",
    "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put",
];

/// Which configuration element a rule came from (kept to render it back the same way).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum RuleKind {
    /// `QueueConfiguration` / `Queue`.
    Queue,
    /// `TopicConfiguration` / `Topic`.
    Topic,
    /// `CloudFunctionConfiguration` / `CloudFunction` (the SDKs' LambdaFunctionConfiguration).
    CloudFunction,
}

impl RuleKind {
    fn elements(self) -> (&'static str, &'static str) {
        match self {
            RuleKind::Queue => ("QueueConfiguration", "Queue"),
            RuleKind::Topic => ("TopicConfiguration", "Topic"),
            RuleKind::CloudFunction => ("CloudFunctionConfiguration", "CloudFunction"),
        }
    }
}

/// One notification configuration, as stored in the bucket's configuration document.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NotifyRule {
    /// Configuration id (`s3.configurationId` in events).
    pub id: String,
    /// Element kind.
    pub kind: RuleKind,
    /// Destination ARN as given.
    pub arn: String,
    /// Target id the ARN names.
    pub target: String,
    /// Event patterns (`s3:ObjectCreated:*`).
    pub events: Vec<String>,
    /// Key prefix filter.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Key suffix filter.
    #[serde(default)]
    pub suffix: Option<String>,
}

impl NotifyRule {
    fn matches_event(&self, name: &str) -> bool {
        self.events.iter().any(|p| event_pattern_matches(p, name))
    }

    fn matches(&self, name: &str, key: &str) -> bool {
        self.matches_event(name)
            && self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && self.suffix.as_deref().is_none_or(|s| key.ends_with(s))
    }
}

/// `s3:ObjectCreated:*` matches `ObjectCreated:Put`; `s3:ObjectCreated:Put` only itself.
fn event_pattern_matches(pattern: &str, name: &str) -> bool {
    let Some(p) = pattern.strip_prefix("s3:") else {
        return false;
    };
    match p.strip_suffix('*') {
        Some(stem) => name.starts_with(stem),
        None => p == name,
    }
}

fn invalid(msg: &str, name: &str, value: &str) -> S3Error {
    S3Error::invalid_argument(msg)
        .with("ArgumentName1", name.to_owned())
        .with("ArgumentValue1", value.to_owned())
}

/// Parse and validate a `NotificationConfiguration` document against the declared targets.
pub(crate) fn parse(raw: &[u8], targets: &[String]) -> S3Result<Vec<NotifyRule>> {
    let doc = crate::xml::Node::parse(raw)?;
    if doc.name != "NotificationConfiguration" {
        return Err(S3Error::malformed_xml());
    }
    let mut rules = Vec::new();
    let mut unknown = Vec::new();
    for c in &doc.children {
        let kind = match c.name.as_str() {
            "QueueConfiguration" => RuleKind::Queue,
            "TopicConfiguration" => RuleKind::Topic,
            "CloudFunctionConfiguration" | "LambdaFunctionConfiguration" => RuleKind::CloudFunction,
            // Accepted and ignored: cubby has no EventBridge.
            "EventBridgeConfiguration" => continue,
            _ => return Err(S3Error::malformed_xml()),
        };
        let arn_el = c
            .child(kind.elements().1)
            .or_else(|| c.child("LambdaFunctionArn"))
            .or_else(|| c.child("QueueArn"))
            .or_else(|| c.child("TopicArn"))
            .ok_or_else(S3Error::malformed_xml)?;
        let arn = arn_el.text.trim().to_owned();
        let id = match c.child("Id").map(|i| i.text.trim()) {
            Some(i) if !i.is_empty() => i.to_owned(),
            // S3 names unnamed configurations itself.
            _ => format!("cubby-{}", uuid::Uuid::new_v4().simple()),
        };
        let mut events = Vec::new();
        for e in c.all("Event") {
            let e = e.text.trim();
            if !KNOWN_EVENTS.contains(&e) {
                return Err(invalid(
                    "The event is not supported for notifications",
                    "Event",
                    e,
                ));
            }
            events.push(e.to_owned());
        }
        if events.is_empty() {
            return Err(S3Error::malformed_xml());
        }
        let (mut prefix, mut suffix) = (None, None);
        if let Some(f) = c.child("Filter") {
            let s3key = f.child("S3Key").ok_or_else(S3Error::malformed_xml)?;
            for r in s3key.all("FilterRule") {
                let name = r.child("Name").map(|n| n.text.trim()).unwrap_or("");
                let value = r.child("Value").map(|v| v.text.clone()).unwrap_or_default();
                let slot = if name.eq_ignore_ascii_case("prefix") {
                    &mut prefix
                } else if name.eq_ignore_ascii_case("suffix") {
                    &mut suffix
                } else {
                    return Err(invalid(
                        "filter rule name must be either prefix or suffix",
                        "FilterRule",
                        name,
                    ));
                };
                if slot.is_some() {
                    return Err(invalid(
                        "Cannot specify more than one prefix or suffix rule in a filter.",
                        "FilterRule",
                        name,
                    ));
                }
                *slot = Some(value);
            }
        }
        match cubby_events::targets::arn_target_id(&arn) {
            Some(t) if targets.contains(&t) => rules.push(NotifyRule {
                id,
                kind,
                arn,
                target: t,
                events,
                prefix,
                suffix,
            }),
            _ => unknown.push(arn),
        }
    }
    if let Some(arn) = unknown.first() {
        // As S3 answers for a destination it cannot validate.
        return Err(invalid(
            "Unable to validate the following destination configurations",
            arn,
            "The destination does not exist or is not a cubby event target",
        ));
    }
    check_overlap(&rules)?;
    Ok(rules)
}

/// S3 refuses two configurations that could both fire for one event of one key.
fn check_overlap(rules: &[NotifyRule]) -> S3Result<()> {
    let opt_overlap =
        |a: &Option<String>, b: &Option<String>, f: fn(&str, &str) -> bool| match (a, b) {
            (Some(a), Some(b)) => f(a, b) || f(b, a),
            _ => true,
        };
    for (i, a) in rules.iter().enumerate() {
        for b in &rules[i + 1..] {
            let events = a.events.iter().any(|ea| {
                b.events.iter().any(|eb| {
                    let (x, y) = (ea.trim_end_matches('*'), eb.trim_end_matches('*'));
                    x.starts_with(y) || y.starts_with(x)
                })
            });
            if events
                && opt_overlap(&a.prefix, &b.prefix, |x, y| x.starts_with(y))
                && opt_overlap(&a.suffix, &b.suffix, |x, y| x.ends_with(y))
            {
                return Err(invalid(
                    "Configurations overlap. Configurations on the same bucket cannot share a common event type.",
                    "Event",
                    &a.id,
                ));
            }
        }
    }
    Ok(())
}

/// Render the stored rules as S3 returns them.
pub(crate) fn to_xml(rules: &[NotifyRule]) -> String {
    let mut x = start("NotificationConfiguration");
    for kind in [RuleKind::Topic, RuleKind::Queue, RuleKind::CloudFunction] {
        let (outer, arn_el) = kind.elements();
        for r in rules.iter().filter(|r| r.kind == kind) {
            x.push('<');
            x.push_str(outer);
            x.push('>');
            elem(&mut x, "Id", &r.id);
            elem(&mut x, arn_el, &r.arn);
            for e in &r.events {
                elem(&mut x, "Event", e);
            }
            if r.prefix.is_some() || r.suffix.is_some() {
                x.push_str("<Filter><S3Key>");
                for (name, v) in [("Prefix", &r.prefix), ("Suffix", &r.suffix)] {
                    if let Some(v) = v {
                        x.push_str("<FilterRule>");
                        elem(&mut x, "Name", name);
                        elem(&mut x, "Value", v);
                        x.push_str("</FilterRule>");
                    }
                }
                x.push_str("</S3Key></Filter>");
            }
            x.push_str("</");
            x.push_str(outer);
            x.push('>');
        }
    }
    end(x, "NotificationConfiguration")
}

/// The notification rules of the request's bucket and the bucket's owner, loaded once per
/// request for operations that can produce events.
#[derive(Debug)]
pub(crate) struct EventScope {
    pub rules: Vec<NotifyRule>,
    pub owner: String,
}

impl EventScope {
    /// From a bucket's parsed configuration (`None`: it has no notification rules).
    pub(crate) fn of(
        config: &crate::config::BucketConfig,
        owner: &str,
    ) -> Option<std::sync::Arc<EventScope>> {
        let rules = config.notify.clone().filter(|r| !r.is_empty())?;
        Some(std::sync::Arc::new(EventScope {
            rules,
            owner: owner.to_owned(),
        }))
    }
}

fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// `ip` as `Display` writes it; IPv4, nearly every caller, by hand (the formatter's four
/// `u8` renderings cost more than the rest of an event's fields together).
fn ip_text(ip: std::net::IpAddr) -> String {
    let std::net::IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut out = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        cubby_events::model::push_unsigned(&mut out, u64::from(octet));
    }
    out
}

/// What changed, for [`events_for`].
pub(crate) struct Change<'a> {
    /// Event name without `s3:` (`ObjectCreated:Put`).
    pub name: &'a str,
    pub bucket: &'a str,
    pub key: &'a str,
    pub size: Option<i64>,
    pub etag: Option<&'a str>,
}

/// The outbox rows for `change`: one per matching configuration. Empty (and allocation-free)
/// when the bucket has no notification configuration.
pub(crate) fn events_for(svc: &S3Service, ctx: &Ctx, change: &Change<'_>) -> Vec<NewEvent> {
    let Some(scope) = &ctx.events else {
        return Vec::new();
    };
    let matching: Vec<&NotifyRule> = scope
        .rules
        .iter()
        .filter(|r| r.matches(change.name, change.key))
        .collect();
    if matching.is_empty() {
        return Vec::new();
    }
    let sequencer = next_sequencer(unix_nanos());
    let principal = match ctx.caller.kind {
        crate::CallerKind::Anonymous => "anonymous".to_owned(),
        _ => ["AWS:", ctx.caller.principal_id.as_str()].concat(),
    };
    let identity_id = svc.authority.cognito_identity_id(&ctx.caller);
    let source_ip = ip_text(ctx.peer.ip());
    matching
        .into_iter()
        .map(|r| NewEvent {
            target: r.target.clone(),
            payload: stored_form(&ObjectEvent {
                name: change.name,
                region: &svc.cfg.region,
                time_ms: ctx.now_ms(),
                principal_id: &principal,
                cognito_identity_id: identity_id.as_deref(),
                source_ip: &source_ip,
                request_id: &ctx.request_id,
                host_id: &ctx.request_id,
                configuration_id: &r.id,
                bucket: change.bucket,
                bucket_owner: &scope.owner,
                key: change.key,
                size: change.size,
                etag: change.etag,
                version_id: None,
                sequencer: &sequencer,
            }),
        })
        .collect()
}

/// One `s3:TestEvent` per distinct target of a newly saved configuration.
pub(crate) fn test_events(ctx: &Ctx, bucket: &str, rules: &[NotifyRule]) -> Vec<NewEvent> {
    let mut seen: Vec<&str> = Vec::new();
    for r in rules {
        if !seen.contains(&r.target.as_str()) {
            seen.push(&r.target);
        }
    }
    seen.into_iter()
        .map(|t| NewEvent {
            target: t.to_owned(),
            payload: test_event_json(bucket, ctx.now_ms(), &ctx.request_id, &ctx.request_id),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Vec<String> {
        vec!["thumbs".into(), "iot".into()]
    }

    #[test]
    fn ip_text_matches_display() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "192.168.100.255",
            "255.255.255.255",
            "::1",
            "::ffff:1.2.3.4",
            "2001:db8::8a2e:370:7334",
        ] {
            let parsed: std::net::IpAddr = ip.parse().unwrap_or(std::net::IpAddr::from([9; 4]));
            assert_eq!(ip_text(parsed), parsed.to_string());
            assert_eq!(ip_text(parsed), ip);
        }
    }

    #[test]
    fn parses_and_renders() {
        let xml = br#"<NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
          <QueueConfiguration><Id>uploads</Id><Queue>arn:cubby:sqs:us-east-1:000000000000:thumbs</Queue>
            <Event>s3:ObjectCreated:*</Event>
            <Filter><S3Key><FilterRule><Name>prefix</Name><Value>photos/</Value></FilterRule>
            <FilterRule><Name>Suffix</Name><Value>.jpg</Value></FilterRule></S3Key></Filter>
          </QueueConfiguration>
          <CloudFunctionConfiguration><Id>gone</Id><CloudFunction>arn:cubby:sqs:us-east-1:000000000000:iot</CloudFunction>
            <Event>s3:ObjectRemoved:*</Event></CloudFunctionConfiguration>
        </NotificationConfiguration>"#;
        let rules = parse(xml, &targets()).unwrap_or_default();
        assert_eq!(rules.len(), 2);
        assert!(rules[0].matches("ObjectCreated:Put", "photos/a.jpg"));
        assert!(!rules[0].matches("ObjectCreated:Put", "photos/a.png"));
        assert!(!rules[0].matches("ObjectRemoved:Delete", "photos/a.jpg"));
        assert!(rules[1].matches("ObjectRemoved:Delete", "x"));
        let out = to_xml(&rules);
        assert!(out.contains("<FilterRule><Name>Prefix</Name><Value>photos/</Value></FilterRule>"));
        assert_eq!(parse(out.as_bytes(), &targets()).unwrap_or_default(), rules);
    }

    #[test]
    fn rejects_unknown_targets_events_and_overlaps() {
        let doc = |arn: &str, ev: &str| {
            format!(
                "<NotificationConfiguration><QueueConfiguration><Queue>{arn}</Queue><Event>{ev}</Event></QueueConfiguration></NotificationConfiguration>"
            )
        };
        let e = parse(
            doc(
                "arn:cubby:sqs:us-east-1:000000000000:nope",
                "s3:ObjectCreated:*",
            )
            .as_bytes(),
            &targets(),
        );
        assert!(matches!(e, Err(e) if e.code == "InvalidArgument"));
        let e = parse(
            doc("arn:cubby:sqs:us-east-1:000000000000:thumbs", "s3:Bogus").as_bytes(),
            &targets(),
        );
        assert!(matches!(e, Err(e) if e.code == "InvalidArgument"));
        let two = "<NotificationConfiguration>\
            <QueueConfiguration><Queue>arn:cubby:sqs:us-east-1:0:thumbs</Queue><Event>s3:ObjectCreated:*</Event></QueueConfiguration>\
            <QueueConfiguration><Queue>arn:cubby:sqs:us-east-1:0:iot</Queue><Event>s3:ObjectCreated:Put</Event></QueueConfiguration>\
            </NotificationConfiguration>";
        assert!(parse(two.as_bytes(), &targets()).is_err());
    }
}
