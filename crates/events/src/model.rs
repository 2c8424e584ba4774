//! The event body, exactly as S3 sends it (event structure version 2.1), and the
//! `s3:TestEvent` sent when a notification configuration is saved.

use serde_json::json;
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

/// Everything one S3 event record says. Built at request time from the request and the
/// committed row and stored in the outbox in [`stored_form`]; the delivered body is
/// expanded from that, so a redelivery is byte-identical (same `sequencer`).
#[derive(Clone, Debug)]
pub struct ObjectEvent<'a> {
    /// Event name without the `s3:` prefix (`ObjectCreated:Put`).
    pub name: &'a str,
    /// Region (`us-east-1`).
    pub region: &'a str,
    /// Event time, milliseconds since the epoch.
    pub time_ms: i64,
    /// The caller's principal id as S3 reports it (`AWS:AROA…:session`).
    pub principal_id: &'a str,
    /// The caller's Cognito identity id, when the credentials came from an identity pool.
    pub cognito_identity_id: Option<&'a str>,
    /// Source IP of the request.
    pub source_ip: &'a str,
    /// `x-amz-request-id` of the request.
    pub request_id: &'a str,
    /// `x-amz-id-2` of the request. Never empty: the stored form keeps an empty host id for
    /// one equal to the request id (cubby's), and an empty one is expanded to the request id.
    pub host_id: &'a str,
    /// Id of the notification configuration that matched.
    pub configuration_id: &'a str,
    /// Bucket name.
    pub bucket: &'a str,
    /// Bucket owner's canonical id.
    pub bucket_owner: &'a str,
    /// Object key (raw; encoded here).
    pub key: &'a str,
    /// Object size (created events only).
    pub size: Option<i64>,
    /// ETag without quotes (created events only).
    pub etag: Option<&'a str>,
    /// Version id (versioned buckets only; S3 leaves it out otherwise).
    pub version_id: Option<&'a str>,
    /// Hex sequencer, see [`next_sequencer`].
    pub sequencer: &'a str,
}

/// Render `time_ms` as S3 does in events: `2026-01-01T00:00:00.000Z`.
pub fn event_time(time_ms: i64) -> String {
    let mut out = String::with_capacity(24);
    push_event_time(&mut out, time_ms);
    out
}

/// [`event_time`] appended to `out`. By hand, into a fixed buffer pushed once: a calendar
/// library's general formatting, or a push per character, cost more than the rest of an
/// event body together, on every notified upload.
fn push_event_time(out: &mut String, time_ms: i64) {
    let secs = time_ms.div_euclid(1000);
    let millis = time_ms.rem_euclid(1000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    if !(0..=9999).contains(&year) {
        // Outside the 4-digit years: written unpadded, through the formatter.
        out.push_str(&year.to_string());
        let mut rest = *b"-00-00T00:00:00.000Z";
        put_digits(&mut rest[1..3], month);
        put_digits(&mut rest[4..6], day);
        put_time_of_day(&mut rest[6..], sod, millis);
        push_ascii(out, &rest);
        return;
    }
    let mut b = *b"0000-00-00T00:00:00.000Z";
    put_digits(&mut b[0..4], year);
    put_digits(&mut b[5..7], month);
    put_digits(&mut b[8..10], day);
    put_time_of_day(&mut b[10..], sod, millis);
    push_ascii(out, &b);
}

/// `Thh:mm:ss.mmmZ` into `b` (14 bytes, pre-filled with that pattern).
fn put_time_of_day(b: &mut [u8], sod: i64, millis: i64) {
    put_digits(&mut b[1..3], sod / 3600);
    put_digits(&mut b[4..6], sod / 60 % 60);
    put_digits(&mut b[7..9], sod % 60);
    put_digits(&mut b[10..13], millis);
}

/// The last `slot.len()` decimal digits of `n` (which is ≥ 0) into `slot`, zero-padded.
fn put_digits(slot: &mut [u8], n: i64) {
    let mut rest = n.unsigned_abs();
    for d in slot.iter_mut().rev() {
        // A single decimal digit: the cast cannot truncate.
        *d = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
}

/// Append ASCII bytes built by hand (always valid UTF-8, so nothing is ever dropped).
fn push_ascii(out: &mut String, bytes: &[u8]) {
    if let Ok(s) = std::str::from_utf8(bytes) {
        out.push_str(s);
    }
}

/// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`: eras of 400 years, March-based years).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// S3 puts the key into events form-URL-encoded (space → `+`, `/` → `%2F`, `:` → `%3A`).
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    push_encoded_key(&mut out, key);
    out
}

/// [`encode_key`] appended to `out`. Form encoding leaves only ASCII letters, digits and
/// `*-._+%`: nothing a JSON string must escape.
fn push_encoded_key(out: &mut String, key: &str) {
    out.extend(url::form_urlencoded::byte_serialize(key.as_bytes()));
}

static LAST_SEQUENCER: AtomicU64 = AtomicU64::new(0);

/// A sequencer for an event committed now: upper-case hex, strictly increasing within this
/// process and time-based across restarts, so later changes of a key compare greater (S3's
/// rule: compare after left-padding with zeros).
pub fn next_sequencer(now_nanos: u64) -> String {
    let mut prev = LAST_SEQUENCER.load(Ordering::Relaxed);
    loop {
        let next = now_nanos.max(prev.saturating_add(1));
        match LAST_SEQUENCER.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => return upper_hex_18(next),
            Err(p) => prev = p,
        }
    }
}

/// `n` as 18 upper-case hex digits (`format!("{n:018X}")`, without the formatter).
fn upper_hex_18(n: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    // Nibbles above the 16th of a u64 are zero: the first two digits stay '0'.
    let mut b = [b'0'; 18];
    for (i, d) in b[2..].iter_mut().rev().enumerate() {
        *d = HEX[((n >> (4 * i)) & 0xf) as usize];
    }
    let mut out = String::with_capacity(18);
    push_ascii(&mut out, &b);
    out
}

/// `n` in decimal, appended without going through the formatter.
fn push_decimal(out: &mut String, n: i64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// `n` in decimal, appended without going through the formatter (which costs more than the
/// rest of an event's numbers, a NATS publish or an IPv4 address together).
pub fn push_unsigned(out: &mut String, n: u64) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// The full delivery body (`{"Records":[…]}`) for one event, keys in S3's order: the
/// expansion of its [`stored_form`].
pub fn record_json(e: &ObjectEvent<'_>) -> String {
    delivery_body(&stored_form(e)).into_owned()
}

/// Separates the fields of a [`stored_form`]: a control character, which JSON text never
/// holds raw (inside strings it is escaped), so no field can contain it.
const SEP: char = '\u{1f}';

/// How a [`stored_form`] starts (its layout version); a JSON body never starts so.
const STORED_V1: &str = "\u{1f}v1\u{1f}";

/// Fields of a [`stored_form`].
const STORED_FIELDS: usize = 16;

/// What the outbox keeps for an object event: the pieces of its delivery body that vary,
/// already in JSON syntax (strings escaped; optional values quoted, or empty when absent),
/// separated by [`SEP`]. That is about a third of the body, whose field names and fixed
/// values make up most of it, and [`delivery_body`] expands it by concatenation alone: no
/// parsing, no escaping at delivery. The outbox row is written in the upload's transaction
/// and read back once per delivery, so its size is paid on every notified upload; the
/// expansion is deterministic, so a redelivery is byte-identical. A host id equal to the
/// request id (cubby's) is left empty and restored at expansion.
pub fn stored_form(e: &ObjectEvent<'_>) -> String {
    let mut o = String::with_capacity(
        128 + e.principal_id.len()
            + e.request_id.len()
            + e.host_id.len()
            + e.configuration_id.len()
            + e.bucket.len()
            + e.bucket_owner.len()
            + 3 * e.key.len(),
    );
    o.push_str(STORED_V1);
    let field = |o: &mut String, v: &str| {
        push_json_str_body(o, v);
        o.push(SEP);
    };
    let quoted = |o: &mut String, v: Option<&str>| {
        if let Some(v) = v {
            push_json_str(o, v);
        }
        o.push(SEP);
    };
    field(&mut o, e.region);
    push_event_time(&mut o, e.time_ms);
    o.push(SEP);
    field(&mut o, e.name);
    field(&mut o, e.principal_id);
    quoted(&mut o, e.cognito_identity_id);
    field(&mut o, e.source_ip);
    field(&mut o, e.request_id);
    // cubby's host id is the request id: written once (an empty host id is read back as
    // the request id, so one that really is empty cannot be stored; S3 never sends one).
    field(
        &mut o,
        if e.host_id == e.request_id {
            ""
        } else {
            e.host_id
        },
    );
    field(&mut o, e.configuration_id);
    field(&mut o, e.bucket);
    field(&mut o, e.bucket_owner);
    push_encoded_key(&mut o, e.key);
    o.push(SEP);
    if let Some(size) = e.size {
        push_decimal(&mut o, size);
    }
    o.push(SEP);
    quoted(&mut o, e.etag);
    quoted(&mut o, e.version_id);
    push_json_str_body(&mut o, e.sequencer);
    o
}

/// The body to deliver for an outbox payload: a [`stored_form`] expanded into S3's event
/// JSON; anything else (a test event, a row written before the stored form existed) is
/// delivered as it is.
pub fn delivery_body(stored: &str) -> Cow<'_, str> {
    if !stored.starts_with(STORED_V1) {
        return Cow::Borrowed(stored);
    }
    let mut o = String::new();
    push_delivery_body(&mut o, stored);
    Cow::Owned(o)
}

/// [`delivery_body`] appended to `o`: a dispatcher expands a whole batch into one buffer
/// (one allocation, shared by the batch's bodies, instead of one per event).
pub fn push_delivery_body(o: &mut String, stored: &str) {
    let Some(rest) = stored.strip_prefix(STORED_V1) else {
        o.push_str(stored);
        return;
    };
    let mut f = [""; STORED_FIELDS];
    let mut n = 0;
    let mut start = 0;
    // One pass for all separators (`str::split` searches afresh per field).
    let mut field = |end: usize| {
        if let (Some(slot), Some(piece)) = (f.get_mut(n), rest.get(start..end)) {
            *slot = piece;
        }
        n += 1;
        start = end + 1;
    };
    for_each_byte(rest.as_bytes(), SEP as u8, &mut field);
    field(rest.len());
    if n != STORED_FIELDS {
        // Only cubby writes outbox rows; a row it cannot read is passed on rather than
        // blocking its target's queue.
        tracing::error!(
            payload = stored,
            "outbox payload in an unknown layout; delivered as stored"
        );
        o.push_str(stored);
        return;
    }
    let [
        region,
        time,
        name,
        principal,
        cognito,
        source_ip,
        request_id,
        host_id,
        configuration_id,
        bucket,
        owner,
        key,
        size,
        etag,
        version_id,
        sequencer,
    ] = f;
    // One push per piece, each literal in its own call: the copies of constant length are
    // inlined, where a loop over the pieces called `memcpy` for every one of them.
    // The request id goes in twice when the host id was left out.
    o.reserve(560 + rest.len() + bucket.len() + request_id.len());
    o.push_str(r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":""#);
    o.push_str(region);
    o.push_str(r#"","eventTime":""#);
    o.push_str(time);
    o.push_str(r#"","eventName":""#);
    o.push_str(name);
    o.push_str(r#"","userIdentity":{"principalId":""#);
    o.push_str(principal);
    o.push('"');
    // Not in S3's schema: the caller's identity-pool identity, so a backend can file the
    // upload under the user without parsing the key.
    if !cognito.is_empty() {
        o.push_str(r#","cognitoIdentityId":"#);
        o.push_str(cognito);
    }
    o.push_str(r#"},"requestParameters":{"sourceIPAddress":""#);
    o.push_str(source_ip);
    o.push_str(r#""},"responseElements":{"x-amz-request-id":""#);
    o.push_str(request_id);
    o.push_str(r#"","x-amz-id-2":""#);
    // Left empty in the stored form when it repeats the request id (see `stored_form`).
    o.push_str(if host_id.is_empty() {
        request_id
    } else {
        host_id
    });
    o.push_str(r#""},"s3":{"s3SchemaVersion":"1.0","configurationId":""#);
    o.push_str(configuration_id);
    o.push_str(r#"","bucket":{"name":""#);
    o.push_str(bucket);
    o.push_str(r#"","ownerIdentity":{"principalId":""#);
    o.push_str(owner);
    o.push_str(r#""},"arn":"arn:aws:s3:::"#);
    o.push_str(bucket);
    o.push_str(r#""},"object":{"key":""#);
    o.push_str(key);
    o.push('"');
    if !size.is_empty() {
        o.push_str(r#","size":"#);
        o.push_str(size);
    }
    if !etag.is_empty() {
        o.push_str(r#","eTag":"#);
        o.push_str(etag);
    }
    if !version_id.is_empty() {
        o.push_str(r#","versionId":"#);
        o.push_str(version_id);
    }
    o.push_str(r#","sequencer":""#);
    o.push_str(sequencer);
    o.push_str("\"}}}]}");
}

/// `s` as a JSON string literal, escaped as `serde_json` escapes it.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    push_json_str_body(out, s);
    out.push('"');
}

/// The inside of [`push_json_str`]'s literal.
fn push_json_str_body(out: &mut String, s: &str) {
    // Nearly every value needs no escape: check the whole string first, without an early
    // exit, which the compiler turns into a vectorized scan (measured: cheaper than a
    // word-at-a-time check for these short strings).
    let plain = s
        .bytes()
        .fold(true, |ok, b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        out.push_str(s);
        return;
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[run..i]);
        run = i + 1;
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        } else {
            out.push_str(short);
        }
    }
    out.push_str(&s[run..]);
}

/// Each byte of a word at 1, and the top bit of each byte.
const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The top bit of each byte of `w` that is zero, and no other bit (exact: the carries of
/// the sum stay inside their byte).
fn zero_bytes(w: u64) -> u64 {
    let low7 = !HIGH_BITS;
    !(((w & low7).wrapping_add(low7)) | w | low7)
}

/// Call `at` with the position of every `needle` in `hay`, in order. A word at a time: for
/// the short fields of an event a general search costs more to set up than to run.
fn for_each_byte(hay: &[u8], needle: u8, mut at: impl FnMut(usize)) {
    let pattern = LOW_BITS * u64::from(needle);
    let mut words = hay.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        let mut hits = zero_bytes(u64::from_le_bytes(bytes) ^ pattern);
        while hits != 0 {
            at(base + hits.trailing_zeros() as usize / 8);
            hits &= hits - 1;
        }
        base += 8;
    }
    for (i, b) in words.remainder().iter().enumerate() {
        if *b == needle {
            at(base + i);
        }
    }
}

/// The `s3:TestEvent` S3 sends to a destination when a configuration naming it is saved.
pub fn test_event_json(bucket: &str, time_ms: i64, request_id: &str, host_id: &str) -> String {
    json!({
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": event_time(time_ms),
        "Bucket": bucket,
        "RequestId": request_id,
        "HostId": host_id,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The serde-derived serialization the hand-written [`record_json`] must equal.
    mod reference {
        use super::super::{ObjectEvent, encode_key};
        use serde::Serialize;

        pub(super) fn event_time(time_ms: i64) -> String {
            let t =
                time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(time_ms) * 1_000_000)
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.millisecond()
            )
        }

        pub(super) fn serde_record_json(e: &ObjectEvent<'_>) -> String {
            let arn = format!("arn:aws:s3:::{}", e.bucket);
            let body = Records {
                records: [Record {
                    event_version: "2.1",
                    event_source: "aws:s3",
                    aws_region: e.region,
                    event_time: event_time(e.time_ms),
                    event_name: e.name,
                    user_identity: UserIdentity {
                        principal_id: e.principal_id,
                        // Not in S3's schema: the caller's identity-pool identity, so a backend can
                        // file the upload under the user without parsing the key.
                        cognito_identity_id: e.cognito_identity_id,
                    },
                    request_parameters: RequestParameters {
                        source_ip_address: e.source_ip,
                    },
                    response_elements: ResponseElements {
                        request_id: e.request_id,
                        host_id: e.host_id,
                    },
                    s3: S3Entity {
                        s3_schema_version: "1.0",
                        configuration_id: e.configuration_id,
                        bucket: BucketEntity {
                            name: e.bucket,
                            owner_identity: OwnerIdentity {
                                principal_id: e.bucket_owner,
                            },
                            arn: &arn,
                        },
                        object: ObjectEntity {
                            key: encode_key(e.key),
                            size: e.size,
                            e_tag: e.etag,
                            version_id: e.version_id,
                            sequencer: e.sequencer,
                        },
                    },
                }],
            };
            // Plain structs of strings and integers: serialization cannot fail.
            serde_json::to_string(&body).unwrap_or_default()
        }

        #[derive(Serialize)]
        struct Records<'a> {
            #[serde(rename = "Records")]
            records: [Record<'a>; 1],
        }

        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Record<'a> {
            event_version: &'static str,
            event_source: &'static str,
            aws_region: &'a str,
            event_time: String,
            event_name: &'a str,
            user_identity: UserIdentity<'a>,
            request_parameters: RequestParameters<'a>,
            response_elements: ResponseElements<'a>,
            s3: S3Entity<'a>,
        }

        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct UserIdentity<'a> {
            principal_id: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            cognito_identity_id: Option<&'a str>,
        }

        #[derive(Serialize)]
        struct RequestParameters<'a> {
            #[serde(rename = "sourceIPAddress")]
            source_ip_address: &'a str,
        }

        #[derive(Serialize)]
        struct ResponseElements<'a> {
            #[serde(rename = "x-amz-request-id")]
            request_id: &'a str,
            #[serde(rename = "x-amz-id-2")]
            host_id: &'a str,
        }

        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct S3Entity<'a> {
            s3_schema_version: &'static str,
            configuration_id: &'a str,
            bucket: BucketEntity<'a>,
            object: ObjectEntity<'a>,
        }

        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct BucketEntity<'a> {
            name: &'a str,
            owner_identity: OwnerIdentity<'a>,
            arn: &'a str,
        }

        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct OwnerIdentity<'a> {
            principal_id: &'a str,
        }

        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct ObjectEntity<'a> {
            key: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            size: Option<i64>,
            #[serde(rename = "eTag", skip_serializing_if = "Option::is_none")]
            e_tag: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            version_id: Option<&'a str>,
            sequencer: &'a str,
        }
    }

    fn sample<'a>(key: &'a str, text: &'a str) -> ObjectEvent<'a> {
        ObjectEvent {
            name: "ObjectCreated:Put",
            region: "us-east-1",
            time_ms: 1_767_225_600_123,
            principal_id: text,
            cognito_identity_id: Some("us-east-1:4f7c"),
            source_ip: "::1",
            request_id: "R1",
            host_id: "H1",
            configuration_id: text,
            bucket: "photos",
            bucket_owner: "0a1b",
            key,
            size: Some(4096),
            etag: Some("9e107d9d372bb6826bd81d3542a419d6"),
            version_id: None,
            sequencer: "0018A2B3C4D5E6F700",
        }
    }

    #[test]
    fn hand_written_bodies_equal_serdes() {
        let texts = [
            "plain",
            "quote \" back \\ slash",
            "ctl \u{0} \u{1f} \n\r\t\u{8}\u{c} del \u{7f}",
            "unicode é 漢 🎞",
            "",
        ];
        for text in texts {
            for key in ["a b/c:d", text, "x"] {
                let mut e = sample(key, text);
                assert_eq!(record_json(&e), reference::serde_record_json(&e));
                e.cognito_identity_id = None;
                e.size = None;
                e.etag = None;
                e.version_id = Some(text);
                e.time_ms = 0;
                assert_eq!(record_json(&e), reference::serde_record_json(&e));
                // cubby's own events: the host id is the request id (stored once).
                e.host_id = e.request_id;
                assert_eq!(record_json(&e), reference::serde_record_json(&e));
            }
        }
    }

    #[test]
    fn the_stored_form_is_small_and_only_stored_forms_are_expanded() {
        // `hand_written_bodies_equal_serdes` holds the expansion to serde's body; here, what
        // the outbox keeps is well under half of it.
        let e = sample("photos/user-7/img-1.jpg", "AWS:AROAEXAMPLE:session");
        let stored = stored_form(&e);
        assert!(stored.len() * 2 < record_json(&e).len(), "{stored}");
        // Test events and older rows hold the body itself.
        let test = test_event_json("b", 0, "R", "H");
        assert_eq!(delivery_body(&test), test);
        assert_eq!(delivery_body("1"), "1");
        // A stored form of another layout is passed on as it is, not half expanded.
        let truncated = "\u{1f}v1\u{1f}us-east-1\u{1f}2026";
        assert_eq!(delivery_body(truncated), truncated);
    }

    #[test]
    fn word_scans_find_what_byte_scans_find() {
        let mut samples: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"plain-ascii.key".to_vec(),
            "\u{1f}a\u{1f}\u{1f}bc\u{1f}d\u{1e}\u{1f}"
                .as_bytes()
                .to_vec(),
            "caf\u{e9} \u{7f}\u{80}\u{ff}".as_bytes().to_vec(),
            // Several bytes to escape in one word, beside bytes with the top bit set.
            "\u{ff}\u{0}\"\\\u{1f} \u{80}!".as_bytes().to_vec(),
            "\u{a0}\u{a0}\u{a0}\u{a0}\"".as_bytes().to_vec(),
        ];
        // Every byte value at every position of a word and of the tail.
        for b in 0..=255u8 {
            for at in 0..13 {
                let mut v = vec![b'x'; 13];
                v[at] = b;
                samples.push(v);
            }
        }
        for s in &samples {
            let mut found = Vec::new();
            for_each_byte(s, 0x1f, |i| found.push(i));
            let want: Vec<usize> = (0..s.len()).filter(|i| s[*i] == 0x1f).collect();
            assert_eq!(found, want, "{s:?}");
            if let Ok(text) = std::str::from_utf8(s) {
                let mut out = String::new();
                push_json_str_body(&mut out, text);
                let json = serde_json::to_string(text).unwrap_or_default();
                assert_eq!(format!("\"{out}\""), json);
            }
        }
    }

    #[test]
    fn event_times_match_the_calendar() {
        // Leap days, century rules, the epoch, millisecond edges and a spread of instants.
        let mut times = vec![
            0,
            999,
            -1,
            951_782_400_000,     // 2000-02-29
            4_107_542_400_000,   // 2100-03-01
            253_402_300_799_999, // 9999-12-31T23:59:59.999
            1_767_225_600_123,
        ];
        let mut t: i64 = 86_399_999;
        while t < 4_200_000_000_000 {
            times.push(t);
            t += 7_777_777_777;
        }
        for t in times {
            assert_eq!(event_time(t), reference::event_time(t), "{t}");
        }
        // Past the four-digit years the year is written unpadded, the rest as always.
        assert_eq!(event_time(253_402_300_800_001), "10000-01-01T00:00:00.001Z");
    }

    #[test]
    fn keys_are_form_encoded() {
        assert_eq!(
            encode_key("us-east-1:abc/my photo.jpg"),
            "us-east-1%3Aabc%2Fmy+photo.jpg"
        );
        assert_eq!(encode_key("a*b-c_d.e~"), "a*b-c_d.e%7E");
    }

    #[test]
    fn hand_written_numbers_match_the_formatter() {
        for n in [0u64, 1, 0xf, 0x1234_5678_9abc_def0, u64::MAX] {
            assert_eq!(upper_hex_18(n), format!("{n:018X}"));
        }
        for n in [0i64, 7, 10, 4096, -1, -4096, i64::MAX, i64::MIN] {
            let mut s = String::new();
            push_decimal(&mut s, n);
            assert_eq!(s, n.to_string());
        }
        for n in [0u64, 9, 907, u64::MAX] {
            let mut s = String::from("x");
            push_unsigned(&mut s, n);
            assert_eq!(s, format!("x{n}"));
        }
    }

    #[test]
    fn sequencers_increase_even_when_the_clock_does_not() {
        let a = next_sequencer(5);
        let b = next_sequencer(5);
        assert!(b > a, "{b} > {a}");
        assert_eq!(a.len(), 18);
    }

    #[test]
    fn record_has_s3_shape() {
        let body = record_json(&ObjectEvent {
            name: "ObjectCreated:Put",
            region: "us-east-1",
            time_ms: 1_767_225_600_123,
            principal_id: "AWS:AIDAX",
            cognito_identity_id: None,
            source_ip: "203.0.113.5",
            request_id: "R",
            host_id: "H",
            configuration_id: "uploads",
            bucket: "b",
            bucket_owner: "o",
            key: "a b",
            size: Some(3),
            etag: Some("e"),
            version_id: None,
            sequencer: "00AB",
        });
        // S3's key order, and nothing left out or added.
        assert!(
            body.starts_with(r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"#),
            "{body}"
        );
        let v: Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(
            v["Records"][0]["s3"]["bucket"]["ownerIdentity"]["principalId"],
            "o"
        );
        assert_eq!(
            v["Records"][0]["requestParameters"]["sourceIPAddress"],
            "203.0.113.5"
        );
        assert_eq!(v["Records"][0]["responseElements"]["x-amz-id-2"], "H");
        assert_eq!(v["Records"][0]["s3"]["object"]["eTag"], "e");
        assert_eq!(v["Records"][0]["s3"]["object"]["sequencer"], "00AB");
        let r = &v["Records"][0];
        assert_eq!(r["eventTime"], "2026-01-01T00:00:00.123Z");
        assert_eq!(r["s3"]["object"]["key"], "a+b");
        assert_eq!(r["s3"]["object"]["size"], 3);
        assert_eq!(r["s3"]["bucket"]["arn"], "arn:aws:s3:::b");
        assert!(r["s3"]["object"].get("versionId").is_none());
        assert!(r["userIdentity"].get("cognitoIdentityId").is_none());
    }
}
