//! The event body, exactly as S3 sends it (event structure version 2.1), and the
//! `s3:TestEvent` sent when a notification configuration is saved.

use serde::Serialize;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};

/// Everything one S3 event record says. Built at request time from the request and the
/// committed row; serialized once and stored in the outbox, so a redelivery is byte-identical
/// (same `sequencer`).
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
    /// `x-amz-id-2` of the request.
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
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(time_ms) * 1_000_000)
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

/// S3 puts the key into events form-URL-encoded (space → `+`, `/` → `%2F`, `:` → `%3A`).
pub fn encode_key(key: &str) -> String {
    url::form_urlencoded::byte_serialize(key.as_bytes()).collect()
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
            Ok(_) => return format!("{next:018X}"),
            Err(p) => prev = p,
        }
    }
}

/// The full delivery body (`{"Records":[…]}`) for one event, keys in S3's order.
///
/// Serialized straight from borrowed structs: this runs on every notified PUT, and building a
/// `serde_json::Value` tree first cost several allocations per field.
pub fn record_json(e: &ObjectEvent<'_>) -> String {
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

    #[test]
    fn keys_are_form_encoded() {
        assert_eq!(
            encode_key("us-east-1:abc/my photo.jpg"),
            "us-east-1%3Aabc%2Fmy+photo.jpg"
        );
        assert_eq!(encode_key("a*b-c_d.e~"), "a*b-c_d.e%7E");
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
