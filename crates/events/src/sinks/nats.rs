//! NATS JetStream: publish to the URL's subject and wait for the stream's ack. A stream that
//! already captures the subject is used as it is; if none does, cubby creates one
//! (`CUBBY_<ID>`), so a fresh NATS server works without set-up.
//!
//! A JetStream publish is a NATS publish whose reply subject receives the stream's ack.
//! Rather than `jetstream::Context::publish` (per event: a reply inbox, a response channel
//! and a timer), each connection subscribes once to `<inbox>.*` and numbers its events'
//! reply subjects; a batch's acks are matched to its events by that number.

use super::Outcome;
use crate::targets::TargetSpec;
use async_nats::jetstream;
use futures_util::StreamExt;

pub(crate) struct Nats {
    server: String,
    user: Option<(String, String)>,
    subject: async_nats::Subject,
    stream_name: String,
    conn: Option<Conn>,
}

/// A connection with its ack subscription.
struct Conn {
    client: async_nats::Client,
    /// Receives the acks: subscribed to `<inbox>.*`.
    acks: async_nats::Subscriber,
    /// `<inbox>.`, to which an event's number is appended for its reply subject.
    reply_prefix: String,
    /// Number of the next event published on this connection.
    next: u64,
}

/// What a JetStream ack says (`{"stream":"…","seq":N}`, or an `error` object).
#[derive(serde::Deserialize)]
struct PubAck {
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    seq: Option<u64>,
}

impl Nats {
    pub(crate) fn new(spec: &TargetSpec) -> Self {
        let u = &spec.url;
        let server = format!(
            "nats://{}:{}",
            u.host_str().unwrap_or("127.0.0.1"),
            u.port().unwrap_or(4222)
        );
        let user = (!u.username().is_empty()).then(|| {
            (
                u.username().to_owned(),
                u.password().unwrap_or("").to_owned(),
            )
        });
        let stream_name = format!(
            "CUBBY_{}",
            spec.id
                .to_ascii_uppercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        Nats {
            server,
            user,
            subject: super::path_name(u).into(),
            stream_name,
            conn: None,
        }
    }

    async fn connect(&mut self) -> Result<&mut Conn, String> {
        if self.conn.is_none() {
            self.conn = Some(self.open().await?);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| "nats: no connection".to_owned())
    }

    async fn open(&self) -> Result<Conn, String> {
        let opts = match &self.user {
            Some((u, p)) => {
                async_nats::ConnectOptions::with_user_and_password(u.clone(), p.clone())
            }
            None => async_nats::ConnectOptions::new(),
        }
        .connection_timeout(super::CONNECT_TIMEOUT)
        .request_timeout(Some(super::ACK_TIMEOUT))
        // The client would check every publish's subject and reply subject. Ours are fixed:
        // the target's subject, checked here once (a bad one keeps the client's checks, which
        // then fail each publish with their own error), and replies under our own inbox.
        .skip_subject_validation(is_publish_subject(&self.subject));
        let client = opts
            .connect(self.server.as_str())
            .await
            .map_err(|e| format!("nats connect: {e}"))?;
        let js = jetstream::new(client.clone());
        if js
            .stream_by_subject(self.subject.to_string())
            .await
            .is_err()
        {
            js.get_or_create_stream(jetstream::stream::Config {
                name: self.stream_name.clone(),
                subjects: vec![self.subject.to_string()],
                ..Default::default()
            })
            .await
            .map_err(|e| format!("nats stream for {}: {e}", self.subject))?;
        }
        let inbox = client.new_inbox();
        let acks = client
            .subscribe(format!("{inbox}.*"))
            .await
            .map_err(|e| format!("nats subscribe: {e}"))?;
        Ok(Conn {
            client,
            acks,
            reply_prefix: format!("{inbox}."),
            next: 0,
        })
    }

    pub(crate) async fn deliver(&mut self, payloads: &[bytes::Bytes]) -> Outcome {
        let subject = self.subject.clone();
        let conn = match self.connect().await {
            Ok(c) => c,
            Err(e) => {
                return Outcome {
                    delivered: 0,
                    error: Some(e),
                };
            }
        };
        let outcome = conn.publish_batch(subject, payloads).await;
        if outcome.error.is_some() {
            // Acks still on their way for this batch must not be taken for a later one's.
            self.conn = None;
        }
        outcome
    }
}

impl Conn {
    /// The reply subjects of the next `n` events (`<inbox>.<number>`), numbered from
    /// `self.next`: written into one buffer that they share, rather than a string each.
    fn reply_subjects(&mut self, n: usize) -> Vec<async_nats::Subject> {
        let first = self.next;
        let mut all = String::with_capacity(n * (self.reply_prefix.len() + 20));
        let mut ends = Vec::with_capacity(n);
        for _ in 0..n {
            all.push_str(&self.reply_prefix);
            crate::model::push_unsigned(&mut all, self.next);
            self.next += 1;
            ends.push(all.len());
        }
        (first..)
            .zip(super::shared_pieces(all, ends))
            .map(|(number, reply)| {
                // Cut from a string between the pieces pushed: always UTF-8. Should that
                // ever fail, the subject is written again on its own.
                async_nats::Subject::from_utf8(reply)
                    .unwrap_or_else(|_| format!("{}{number}", self.reply_prefix).into())
            })
            .collect()
    }

    /// Publish the whole batch, then collect its acks: one round trip per batch rather than
    /// per event.
    async fn publish_batch(
        &mut self,
        subject: async_nats::Subject,
        payloads: &[bytes::Bytes],
    ) -> Outcome {
        let first = self.next;
        let mut published = 0;
        let mut error = None;
        let replies = self.reply_subjects(payloads.len());
        for (p, reply) in payloads.iter().zip(replies) {
            let sent = self
                .client
                .publish_with_reply(subject.clone(), reply, p.clone())
                .await;
            if let Err(e) = sent {
                error = Some(format!("nats publish: {e}"));
                break;
            }
            published += 1;
        }
        // acked[i]: the stream stored event i.
        let mut acked = vec![false; published];
        let mut answered = 0;
        let collect = async {
            while answered < published {
                let Some(msg) = self.acks.next().await else {
                    return Err("nats: the ack subscription ended".to_owned());
                };
                let Some(i) = event_number(&msg.subject)
                    .and_then(|n| n.checked_sub(first))
                    .and_then(|i| usize::try_from(i).ok())
                    .filter(|i| *i < published)
                else {
                    // An ack for an earlier batch: already decided.
                    continue;
                };
                answered += 1;
                // A status instead of an ack: no stream captures the subject (503), or the
                // like.
                if let Some(status) = msg.status {
                    return Err(if status.as_u16() == 503 {
                        format!(
                            "nats: no JetStream stream captures subject {subject} (no responders)"
                        )
                    } else {
                        format!("nats ack: status {status}")
                    });
                }
                if is_plain_ack(&msg.payload) {
                    acked[i] = true;
                    continue;
                }
                match serde_json::from_slice::<PubAck>(&msg.payload) {
                    Ok(PubAck {
                        error: None,
                        seq: Some(_),
                    }) => acked[i] = true,
                    _ => {
                        return Err(format!(
                            "nats ack: {}",
                            String::from_utf8_lossy(&msg.payload)
                        ));
                    }
                }
            }
            Ok(())
        };
        match tokio::time::timeout(super::ACK_TIMEOUT, collect).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => error = error.or(Some(e)),
            Err(_) => error = error.or(Some("nats ack: timed out".to_owned())),
        }
        let delivered = acked.iter().take_while(|a| **a).count();
        if delivered < payloads.len() && error.is_none() {
            error = Some("nats: events without an ack".to_owned());
        }
        Outcome { delivered, error }
    }
}

/// The event number an ack's subject ends with (`<inbox>.<number>`).
fn event_number(subject: &str) -> Option<u64> {
    let digits = memchr::memrchr(b'.', subject.as_bytes())
        .and_then(|dot| subject.get(dot + 1..))
        .unwrap_or(subject);
    digits.parse().ok()
}

/// What the client checks of a publish subject: not empty, no whitespace (protocol framing).
fn is_publish_subject(subject: &str) -> bool {
    !subject.is_empty() && !subject.contains([' ', '\t', '\r', '\n'])
}

/// Is this the usual successful ack, exactly `{"stream":"<name>", "seq":<digits>}` (with or
/// without the space)? Checked
/// without a JSON parser, which cost more than the rest of an ack's handling. Anything else
/// (an error, a duplicate, a domain) is left to the parser.
fn is_plain_ack(body: &[u8]) -> bool {
    let Some(rest) = body.strip_prefix(br#"{"stream":""#) else {
        return false;
    };
    let Some(seq) = memchr::memchr(b'"', rest)
        .and_then(|end| rest.get(end + 1..))
        .and_then(|after| after.strip_prefix(b","))
        // The server writes a space there (`{"stream":"S", "seq":1}`); a JSON encoder would not.
        .map(|after| after.strip_prefix(b" ").unwrap_or(after))
        .and_then(|after| after.strip_prefix(br#""seq":"#))
        .and_then(|after| after.strip_suffix(b"}"))
    else {
        return false;
    };
    !seq.is_empty() && seq.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_with_whitespace_keep_the_client_checks() {
        assert!(is_publish_subject("cubby.uploads"));
        assert!(!is_publish_subject(""));
        assert!(!is_publish_subject("a b"));
        assert!(!is_publish_subject("a\tb"));
    }

    #[test]
    fn acks_are_matched_by_the_number_their_subject_ends_with() {
        assert_eq!(event_number("_INBOX.abc.42"), Some(42));
        assert_eq!(event_number("7"), Some(7));
        assert_eq!(event_number("_INBOX.abc."), None);
        assert_eq!(event_number("_INBOX.abc.x1"), None);
    }

    #[test]
    fn only_success_acks_take_the_fast_path() {
        assert!(is_plain_ack(br#"{"stream":"CUBBY_T", "seq":12}"#));
        assert!(is_plain_ack(br#"{"stream":"CUBBY_T","seq":12}"#));
        // Rarer successes go to the parser.
        assert!(!is_plain_ack(
            br#"{"stream":"S", "seq":3, "duplicate": true}"#
        ));
        assert!(!is_plain_ack(
            br#"{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"S","seq":0}"#
        ));
        assert!(!is_plain_ack(br#"{"stream":"S"}"#));
        assert!(!is_plain_ack(br#"{"stream":"S","seq":}"#));
        assert!(!is_plain_ack(
            br#"{"stream":"S","seq":0,"error":{"code":500}}"#
        ));
        assert!(!is_plain_ack(b""));
    }
}
