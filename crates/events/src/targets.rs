//! Event targets, declared by the fixed environment form `CUBBY_NOTIFY_<KIND>_<ID>=<url>`
//! (KIND: WEBHOOK, NATS, AMQP, REDIS, MQTT) and `CUBBY_NOTIFY_SECRET_<ID>` (webhook HMAC key).
//! `<ID>` lower-cased is the target id that notification ARNs name:
//! `arn:cubby:sqs:<region>:<account>:<id>`.

use crate::EventsError;

/// What kind of broker a target is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// HTTP(S) POST of the event JSON.
    Webhook,
    /// NATS JetStream publish with ack.
    Nats,
    /// AMQP 0-9-1 publish to an operator-declared exchange, with publisher confirms.
    Amqp,
    /// Redis stream (`XADD`).
    Redis,
    /// MQTT publish, QoS 1.
    Mqtt,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "WEBHOOK" => Kind::Webhook,
            "NATS" => Kind::Nats,
            "AMQP" => Kind::Amqp,
            "REDIS" => Kind::Redis,
            "MQTT" => Kind::Mqtt,
            _ => return None,
        })
    }

    fn schemes(self) -> &'static [&'static str] {
        match self {
            Kind::Webhook => &["http", "https"],
            Kind::Nats => &["nats"],
            Kind::Amqp => &["amqp", "amqps"],
            Kind::Redis => &["redis", "rediss"],
            Kind::Mqtt => &["mqtt"],
        }
    }
}

/// One declared target.
#[derive(Clone)]
pub struct TargetSpec {
    /// Target id (lower case).
    pub id: String,
    /// Broker kind.
    pub kind: Kind,
    /// Where to deliver.
    pub url: url::Url,
    /// Webhook signing key (`CUBBY_NOTIFY_SECRET_<ID>`).
    pub secret: Option<String>,
}

impl std::fmt::Debug for TargetSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry broker credentials and the secret is a key: neither is logged.
        f.debug_struct("TargetSpec")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("host", &self.url.host_str())
            .finish()
    }
}

/// Dispatcher settings that share the prefix (see `DispatchConfig::from_env`).
const SETTINGS: &[&str] = &[
    "MAX_ATTEMPTS",
    "RETRY_BASE_MS",
    "RETRY_MAX_MS",
    "LINGER_MS",
    "LEASE_MS",
];

/// Parse the targets declared in `vars` (pass `std::env::vars()`). Anything malformed is an
/// error, so a typo stops the server at start rather than silently dropping events.
pub fn from_env(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<TargetSpec>, EventsError> {
    let mut targets: Vec<TargetSpec> = Vec::new();
    let mut secrets: Vec<(String, String)> = Vec::new();
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix("CUBBY_NOTIFY_") else {
            continue;
        };
        if SETTINGS.contains(&rest) {
            continue;
        }
        let bad = |why: &str| EventsError::Config(format!("{name}: {why}"));
        let Some((kind, id)) = rest.split_once('_') else {
            return Err(bad("expected CUBBY_NOTIFY_<KIND>_<ID>"));
        };
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(bad("the id may hold letters, digits, '_' and '-'"));
        }
        let id = id.to_ascii_lowercase();
        if kind == "SECRET" {
            secrets.push((id, value));
            continue;
        }
        let Some(kind) = Kind::parse(kind) else {
            return Err(bad("KIND must be WEBHOOK, NATS, AMQP, REDIS or MQTT"));
        };
        let url = url::Url::parse(value.trim()).map_err(|e| bad(&format!("bad URL: {e}")))?;
        if !kind.schemes().contains(&url.scheme()) {
            return Err(bad(&format!(
                "URL scheme must be one of {:?}",
                kind.schemes()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("URL has no host"));
        }
        let has = |q: &str| url.query_pairs().any(|(k, v)| k == q && !v.is_empty());
        match kind {
            Kind::Nats | Kind::Mqtt if url.path().trim_start_matches('/').is_empty() => {
                return Err(bad(
                    "the URL path names the subject/topic and must not be empty",
                ));
            }
            Kind::Redis if !has("stream") => return Err(bad("missing ?stream=<name>")),
            Kind::Amqp if !has("exchange") && !has("routing_key") => {
                return Err(bad("missing ?exchange=…&routing_key=…"));
            }
            _ => {}
        }
        if targets.iter().any(|t| t.id == id) {
            return Err(bad("target id declared twice"));
        }
        targets.push(TargetSpec {
            id,
            kind,
            url,
            secret: None,
        });
    }
    for (id, secret) in secrets {
        match targets.iter_mut().find(|t| t.id == id) {
            Some(t) if t.kind == Kind::Webhook => t.secret = Some(secret),
            Some(_) => {
                return Err(EventsError::Config(format!(
                    "CUBBY_NOTIFY_SECRET_{}: only webhook targets are signed",
                    id.to_ascii_uppercase()
                )));
            }
            None => {
                return Err(EventsError::Config(format!(
                    "CUBBY_NOTIFY_SECRET_{}: no target with that id",
                    id.to_ascii_uppercase()
                )));
            }
        }
    }
    targets.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(targets)
}

/// The ARN that names target `id` in a notification configuration.
pub fn target_arn(region: &str, account: &str, id: &str) -> String {
    format!("arn:cubby:sqs:{region}:{account}:{id}")
}

/// The target id an ARN names (`arn:cubby:<sqs|sns|lambda>:<region>:<account>:<id>`; the
/// `aws` partition is accepted too, so configurations written for AWS only change the id).
pub fn arn_target_id(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", "cubby" | "aws", "sqs" | "sns" | "lambda", _, _, id] if !id.is_empty() => {
            // Lambda ARNs may carry `function:<name>`.
            let id = id.strip_prefix("function:").unwrap_or(id);
            Some(id.to_ascii_lowercase())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn parses_the_fixed_form() {
        let t = from_env(env(&[
            ("CUBBY_NOTIFY_WEBHOOK_THUMBS", "http://127.0.0.1:8080/hook"),
            ("CUBBY_NOTIFY_SECRET_THUMBS", "k"),
            (
                "CUBBY_NOTIFY_NATS_IOT_IN",
                "nats://127.0.0.1:4222/uploads.new",
            ),
            ("PATH", "/bin"),
        ]))
        .unwrap_or_default();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].id, "iot_in");
        assert_eq!(t[0].kind, Kind::Nats);
        assert_eq!(t[1].id, "thumbs");
        assert_eq!(t[1].secret.as_deref(), Some("k"));
    }

    #[test]
    fn rejects_mistakes() {
        for bad in [
            ("CUBBY_NOTIFY_KAFKA_X", "kafka://h/t"),
            ("CUBBY_NOTIFY_WEBHOOK_X", "nats://h/t"),
            ("CUBBY_NOTIFY_SECRET_NOPE", "k"),
            ("CUBBY_NOTIFY_WEBHOOK_", "http://h/"),
            ("CUBBY_NOTIFY_REDIS_X", "redis://h:6379/0"),
            ("CUBBY_NOTIFY_NATS_X", "nats://h:4222/"),
        ] {
            assert!(from_env(env(&[bad])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn arns() {
        assert_eq!(
            target_arn("us-east-1", "000000000000", "thumbs"),
            "arn:cubby:sqs:us-east-1:000000000000:thumbs"
        );
        assert_eq!(
            arn_target_id("arn:cubby:sqs:us-east-1:000000000000:Thumbs").as_deref(),
            Some("thumbs")
        );
        assert_eq!(arn_target_id("arn:cubby:s3:::x"), None);
    }
}
