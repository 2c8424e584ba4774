//! Upload events end to end: a real cubby, real brokers on this machine (Redis, NATS
//! JetStream, RabbitMQ, Mosquitto) and a webhook receiver inside the test. A broker test skips
//! — loudly — only when its broker cannot be reached.
#![allow(clippy::unwrap_used)]

mod common;
mod idhelp;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Event, FilterRule, FilterRuleName,
    NotificationConfiguration, NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
};
use common::*;
use hmac::Mac;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Webhook receiver

/// One received webhook call: the signature header and the raw body.
type Call = (Option<String>, String);

/// An HTTP receiver that records every POST and answers with a settable status.
struct Hook {
    port: u16,
    calls: Arc<Mutex<Vec<Call>>>,
    status: Arc<AtomicU16>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Hook {
    /// A receiver for `port` that is not listening yet (the target is down).
    fn down(port: u16) -> Hook {
        Hook {
            port,
            calls: Arc::default(),
            status: Arc::new(AtomicU16::new(200)),
            tasks: Arc::default(),
        }
    }

    async fn start() -> Hook {
        let h = Hook::down(cubby_tests::free_port());
        h.up().await;
        h
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Start listening.
    async fn up(&self) {
        use hyper::service::service_fn;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        let (calls, status, tasks) = (self.calls.clone(), self.status.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (calls, status) = (calls.clone(), status.clone());
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (calls, status) = (calls.clone(), status.clone());
                    async move {
                        use http_body_util::BodyExt;
                        let sig = req
                            .headers()
                            .get("x-cubby-signature")
                            .map(|v| v.to_str().unwrap().to_owned());
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let code = status.load(Ordering::SeqCst);
                        if code == 200 {
                            calls
                                .lock()
                                .unwrap()
                                .push((sig, String::from_utf8(body.to_vec()).unwrap()));
                        }
                        let mut r = hyper::Response::new(http_body_util::Full::new(
                            bytes::Bytes::from_static(b"ok"),
                        ));
                        *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
                        Ok::<_, std::convert::Infallible>(r)
                    }
                });
                let conn = tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
                drop(conn);
            }
        });
        tasks.lock().unwrap().push(accept);
    }

    /// Every event body received so far.
    fn bodies(&self) -> Vec<Value> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| serde_json::from_str(b).unwrap())
            .collect()
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn unique() -> String {
    format!("{:016x}", rand::random::<u64>())
}

async fn wait_until<F: FnMut() -> bool>(what: &str, secs: u64, mut f: F) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Object-created/removed records (S3 event bodies), skipping `s3:TestEvent`s.
fn records(bodies: &[Value]) -> Vec<Value> {
    bodies
        .iter()
        .filter_map(|b| b.get("Records").map(|r| r[0].clone()))
        .collect()
}

fn arn(id: &str) -> String {
    format!("arn:cubby:sqs:us-east-1:000000000000:{id}")
}

fn queue(id: &str, target: &str, events: &[&str], prefix: Option<&str>) -> QueueConfiguration {
    let mut b = QueueConfiguration::builder().id(id).queue_arn(arn(target));
    for e in events {
        b = b.events(Event::from(*e));
    }
    if let Some(p) = prefix {
        b = b.filter(
            NotificationConfigurationFilter::builder()
                .key(
                    S3KeyFilter::builder()
                        .filter_rules(
                            FilterRule::builder()
                                .name(FilterRuleName::Prefix)
                                .value(p)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        );
    }
    b.build().unwrap()
}

async fn configure(c: &aws_sdk_s3::Client, bucket: &str, queues: Vec<QueueConfiguration>) {
    c.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .set_queue_configurations(Some(queues))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn put(c: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &[u8]) -> String {
    let r = c
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap();
    r.e_tag().unwrap().trim_matches('"').to_owned()
}

/// Check one ObjectCreated:Put record against what was uploaded.
fn check_put_record(r: &Value, bucket: &str, encoded_key: &str, size: usize, etag: &str) {
    assert_eq!(r["eventVersion"], "2.1");
    assert_eq!(r["eventSource"], "aws:s3");
    assert_eq!(r["awsRegion"], "us-east-1");
    assert_eq!(r["eventName"], "ObjectCreated:Put");
    let t = r["eventTime"].as_str().unwrap();
    assert!(
        t.len() == 24 && t.ends_with('Z') && t.as_bytes()[19] == b'.',
        "{t}"
    );
    assert_eq!(r["userIdentity"]["principalId"], "AWS:000000000000");
    assert_eq!(r["requestParameters"]["sourceIPAddress"], "127.0.0.1");
    let rid = r["responseElements"]["x-amz-request-id"].as_str().unwrap();
    assert_eq!(rid.len(), 16);
    assert!(r["responseElements"]["x-amz-id-2"].is_string());
    let s3 = &r["s3"];
    assert_eq!(s3["s3SchemaVersion"], "1.0");
    assert_eq!(s3["bucket"]["name"], bucket);
    assert_eq!(s3["bucket"]["arn"], format!("arn:aws:s3:::{bucket}"));
    assert!(s3["bucket"]["ownerIdentity"]["principalId"].is_string());
    assert_eq!(s3["object"]["key"], encoded_key);
    assert_eq!(s3["object"]["size"], size as u64);
    assert_eq!(s3["object"]["eTag"], etag);
    let seq = s3["object"]["sequencer"].as_str().unwrap();
    assert!(
        seq.len() >= 16 && seq.chars().all(|c| c.is_ascii_hexdigit()),
        "{seq}"
    );
}

// ---------------------------------------------------------------------------------------------
// Configuration

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_configuration_round_trip_validation_and_test_event() {
    let hook = Hook::start().await;
    let server = Server::start_with(&[("CUBBY_NOTIFY_WEBHOOK_THUMBS", &hook.url())]);
    let c = root(&server);
    c.create_bucket().bucket("cfg").send().await.unwrap();

    // Empty by default.
    let got = c
        .get_bucket_notification_configuration()
        .bucket("cfg")
        .send()
        .await
        .unwrap();
    assert!(got.queue_configurations().is_empty());

    // Unknown destination: InvalidArgument, and nothing stored.
    let e = c
        .put_bucket_notification_configuration()
        .bucket("cfg")
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(queue("x", "nope", &["s3:ObjectCreated:*"], None))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidArgument");
    // Unknown event type.
    let e = c
        .put_bucket_notification_configuration()
        .bucket("cfg")
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(queue("x", "thumbs", &["s3:ObjectCreated:Frobnicate"], None))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&e), "InvalidArgument");

    configure(
        &c,
        "cfg",
        vec![
            queue(
                "uploads",
                "thumbs",
                &["s3:ObjectCreated:*"],
                Some("photos/"),
            ),
            queue("removals", "thumbs", &["s3:ObjectRemoved:*"], None),
        ],
    )
    .await;
    let got = c
        .get_bucket_notification_configuration()
        .bucket("cfg")
        .send()
        .await
        .unwrap();
    let qs = got.queue_configurations();
    assert_eq!(qs.len(), 2);
    assert_eq!(qs[0].id(), Some("uploads"));
    assert_eq!(qs[0].queue_arn(), arn("thumbs"));
    assert_eq!(qs[0].events(), &[Event::from("s3:ObjectCreated:*")]);
    let rule = &qs[0].filter().unwrap().key().unwrap().filter_rules()[0];
    // S3 answers `Prefix` (capitalized), which the SDK keeps as an unknown variant.
    assert_eq!(rule.name().map(|n| n.as_str()), Some("Prefix"));
    assert_eq!(rule.value(), Some("photos/"));

    // The s3:TestEvent reaches the destination.
    wait_until("s3:TestEvent", 20, || {
        hook.bodies().iter().any(|b| b["Event"] == "s3:TestEvent")
    })
    .await;
    let t = hook
        .bodies()
        .into_iter()
        .find(|b| b["Event"] == "s3:TestEvent")
        .unwrap();
    assert_eq!(t["Service"], "Amazon S3");
    assert_eq!(t["Bucket"], "cfg");
    assert!(t["Time"].is_string() && t["RequestId"].is_string() && t["HostId"].is_string());

    // A key outside the prefix produces nothing; removing config stops events.
    put(&c, "cfg", "other/x.txt", b"x").await;
    put(&c, "cfg", "photos/in.jpg", b"y").await;
    wait_until("the photos/ event", 20, || {
        records(&hook.bodies()).len() == 1
    })
    .await;
    let r = records(&hook.bodies());
    assert_eq!(r[0]["s3"]["object"]["key"], "photos%2Fin.jpg");
    assert_eq!(r[0]["s3"]["configurationId"], "uploads");
}

// ---------------------------------------------------------------------------------------------
// Webhook: body, signature, every event kind

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_gets_signed_s3_events_for_put_copy_multipart_and_delete() {
    let hook = Hook::start().await;
    let secret = "hook-secret-1";
    let server = Server::start_with(&[
        ("CUBBY_NOTIFY_WEBHOOK_THUMBS", &hook.url()),
        ("CUBBY_NOTIFY_SECRET_THUMBS", secret),
    ]);
    let c = root(&server);
    c.create_bucket().bucket("events").send().await.unwrap();
    configure(
        &c,
        "events",
        vec![queue(
            "all",
            "thumbs",
            &["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
            None,
        )],
    )
    .await;

    let key = "us-east-1:1234abcd/my photo.jpg";
    let body = data(1000, 1);
    let etag = put(&c, "events", key, &body).await;
    c.copy_object()
        .bucket("events")
        .key("copy.jpg")
        .copy_source(format!("events/{}", "us-east-1:1234abcd/my%20photo.jpg"))
        .send()
        .await
        .unwrap();
    let up = c
        .create_multipart_upload()
        .bucket("events")
        .key("big.bin")
        .send()
        .await
        .unwrap();
    let part = c
        .upload_part()
        .bucket("events")
        .key("big.bin")
        .upload_id(up.upload_id().unwrap())
        .part_number(1)
        .body(ByteStream::from(data(10, 2)))
        .send()
        .await
        .unwrap();
    c.complete_multipart_upload()
        .bucket("events")
        .key("big.bin")
        .upload_id(up.upload_id().unwrap())
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.delete_object()
        .bucket("events")
        .key("copy.jpg")
        .send()
        .await
        .unwrap();
    // Deleting a key that does not exist removes nothing and sends nothing.
    c.delete_object()
        .bucket("events")
        .key("never-was")
        .send()
        .await
        .unwrap();

    wait_until("four events", 20, || records(&hook.bodies()).len() >= 4).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calls = hook.calls.lock().unwrap().clone();
    // Every call is signed with HMAC-SHA256 of the raw body.
    for (sig, raw) in &calls {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(raw.as_bytes());
        let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(sig.as_deref(), Some(want.as_str()));
    }
    let recs = records(&hook.bodies());
    let names: Vec<&str> = recs
        .iter()
        .map(|r| r["eventName"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "ObjectCreated:Put",
            "ObjectCreated:Copy",
            "ObjectCreated:CompleteMultipartUpload",
            "ObjectRemoved:Delete"
        ],
        "in commit order, nothing for the missing key"
    );
    check_put_record(
        &recs[0],
        "events",
        "us-east-1%3A1234abcd%2Fmy+photo.jpg",
        1000,
        &etag,
    );
    assert_eq!(recs[1]["s3"]["object"]["key"], "copy.jpg");
    assert_eq!(recs[1]["s3"]["object"]["eTag"], etag);
    let mp = &recs[2]["s3"]["object"];
    assert!(mp["eTag"].as_str().unwrap().ends_with("-1"));
    assert_eq!(mp["size"], 10);
    let del = &recs[3]["s3"]["object"];
    assert_eq!(del["key"], "copy.jpg");
    assert!(del.get("size").is_none() && del.get("eTag").is_none());
    // Sequencers of one key grow.
    assert!(
        recs[3]["s3"]["object"]["sequencer"].as_str()
            > recs[1]["s3"]["object"]["sequencer"].as_str()
    );
}

/// PUTs reach a caught-up dispatcher straight from the commit (the writer's hand-off);
/// deletes commit another way and send it back to reading the outbox table. Switching back
/// and forth must neither lose, repeat nor reorder an event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puts_and_deletes_interleaved_arrive_once_each_in_commit_order() {
    let hook = Hook::start().await;
    let server = Server::start_with(&[
        ("CUBBY_NOTIFY_WEBHOOK_ORDER", &hook.url()),
        ("CUBBY_NOTIFY_LINGER_MS", "1"),
    ]);
    let c = root(&server);
    c.create_bucket().bucket("order").send().await.unwrap();
    configure(
        &c,
        "order",
        vec![queue(
            "all",
            "order",
            &["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
            None,
        )],
    )
    .await;
    let mut expected = Vec::new();
    for i in 0..40 {
        let key = format!("p{i:02}");
        put(&c, "order", &key, &data(64, i)).await;
        expected.push(format!("ObjectCreated:Put {key}"));
        if i % 3 == 0 {
            c.delete_object()
                .bucket("order")
                .key(&key)
                .send()
                .await
                .unwrap();
            expected.push(format!("ObjectRemoved:Delete {key}"));
        }
        if i % 4 == 0 {
            // Let the dispatcher catch up, so that it takes the hand-off again.
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
    wait_until("every event", 20, || {
        records(&hook.bodies()).len() >= expected.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got: Vec<String> = records(&hook.bodies())
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["eventName"].as_str().unwrap(),
                r["s3"]["object"]["key"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(got, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_upload_event_names_the_session_and_the_cognito_identity() {
    let hook = Hook::start().await;
    let server = Server::start_with(&[("CUBBY_NOTIFY_WEBHOOK_THUMBS", &hook.url())]);
    let c = root(&server);
    notified_bucket(&c, "photos", "thumbs").await;
    let pool = idhelp::cognito(&server)
        .create_identity_pool()
        .identity_pool_name("guests")
        .allow_unauthenticated_identities(true)
        .send()
        .await
        .unwrap()
        .identity_pool_id()
        .to_owned();
    let role = idhelp::role(
        &server,
        "GuestUpload",
        &idhelp::cognito_trust(&pool, "unauthenticated"),
        Some(&idhelp::policy(serde_json::json!([idhelp::allow(
            &["s3:PutObject"],
            &["arn:aws:s3:::photos/uploads/*"]
        )]))),
    )
    .await;
    idhelp::cognito(&server)
        .set_identity_pool_roles()
        .identity_pool_id(&pool)
        .roles("unauthenticated", &role)
        .send()
        .await
        .unwrap();
    let anon = idhelp::cognito_anon(&server);
    let gid = anon
        .get_id()
        .identity_pool_id(&pool)
        .send()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_owned();
    let out = anon
        .get_credentials_for_identity()
        .identity_id(&gid)
        .send()
        .await
        .unwrap();
    let guest = idhelp::Keys::from(out.credentials().unwrap()).s3(&server);
    put(&guest, "photos", &format!("uploads/{gid}/pic.jpg"), b"img").await;
    wait_until("the guest's event", 20, || {
        !records(&hook.bodies()).is_empty()
    })
    .await;
    let r = &records(&hook.bodies())[0];
    assert_eq!(r["userIdentity"]["cognitoIdentityId"], gid.as_str());
    let principal = r["userIdentity"]["principalId"].as_str().unwrap();
    assert!(principal.starts_with("AWS:AROA"), "{principal}");
    assert_eq!(
        r["s3"]["object"]["key"],
        format!("uploads%2F{}%2Fpic.jpg", gid.replace(':', "%3A"))
    );
}

// ---------------------------------------------------------------------------------------------
// Reliability: target down, kill -9, dead letters

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_down_during_100_uploads_then_up_gets_all_100() {
    let hook = Hook::down(cubby_tests::free_port());
    let server = Server::start_with(&[
        ("CUBBY_NOTIFY_WEBHOOK_THUMBS", &hook.url()),
        ("CUBBY_NOTIFY_RETRY_BASE_MS", "100"),
        ("CUBBY_NOTIFY_RETRY_MAX_MS", "1000"),
    ]);
    let c = root(&server);
    notified_bucket(&c, "down", "thumbs").await;
    put_many(&c, "down", 100, 4096, 8).await;
    // Let the dispatcher fail a few times against the closed port.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(hook.bodies().is_empty());
    // The operator sees the backlog: 100 uploads (+ the configuration's TestEvent) pending.
    let pending = metric(&server, "cubby_outbox_pending").await;
    assert!(pending >= 100.0, "cubby_outbox_pending {pending}");
    let lag = metric(&server, "cubby_outbox_lag_seconds").await;
    assert!(lag >= 1.0, "cubby_outbox_lag_seconds {lag}");
    assert!(metric(&server, "cubby_events_failed_attempts").await >= 1.0);
    hook.up().await;
    let want: HashSet<String> = (0..100).map(|i| format!("k{i:03}")).collect();
    let got = || -> HashSet<String> {
        records(&hook.bodies())
            .iter()
            .map(|r| r["s3"]["object"]["key"].as_str().unwrap().to_owned())
            .collect()
    };
    wait_until("all 100 events after the target came back", 60, || {
        got() == want
    })
    .await;
    assert_outbox_drains(&server).await;
    assert_eq!(metric(&server, "cubby_outbox_lag_seconds").await, 0.0);
    assert!(metric(&server, "cubby_events_delivered").await >= 100.0);
}

/// Create `bucket` with one notification configuration (`u`): every `s3:ObjectCreated:*`
/// event goes to `target`.
async fn notified_bucket(c: &aws_sdk_s3::Client, bucket: &str, target: &str) {
    c.create_bucket().bucket(bucket).send().await.unwrap();
    configure(
        c,
        bucket,
        vec![queue("u", target, &["s3:ObjectCreated:*"], None)],
    )
    .await;
}

/// PUT `n` objects `k000`, `k001`, … of `size` bytes into `bucket`, `parallel` at a time.
async fn put_many(c: &aws_sdk_s3::Client, bucket: &str, n: u64, size: usize, parallel: usize) {
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (c, sem, bucket) = (c.clone(), sem.clone(), bucket.to_owned());
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            put(&c, &bucket, &format!("k{i:03}"), &data(size, i)).await
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// The outbox empties: acknowledgements are written just after delivery, so the last ones
/// get a moment (up to 5 s).
async fn assert_outbox_drains(server: &Server) {
    let mut pending = f64::NAN;
    for _ in 0..50 {
        pending = metric(server, "cubby_outbox_pending").await;
        if pending == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pending, 0.0, "outbox not empty after delivery");
}

/// The value of an unlabelled metric at `/_cubby/metrics`.
async fn metric(server: &Server, name: &str) -> f64 {
    let text = reqwest::get(format!("{}/_cubby/metrics", server.endpoint))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from /_cubby/metrics:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_after_acked_uploads_every_event_is_delivered_after_restart() {
    let hook = Hook::down(cubby_tests::free_port());
    let mut server = Server::start_with(&[
        ("CUBBY_NOTIFY_WEBHOOK_THUMBS", &hook.url()),
        ("CUBBY_NOTIFY_RETRY_BASE_MS", "100"),
        ("CUBBY_NOTIFY_RETRY_MAX_MS", "500"),
    ]);
    let c = root(&server);
    notified_bucket(&c, "crash", "thumbs").await;
    put_many(&c, "crash", 60, 4096, 60).await;
    // Every upload above was acknowledged; kill the server before it could deliver anything.
    server.kill9();
    hook.up().await;
    server.restart();
    let want: HashSet<String> = (0..60).map(|i| format!("k{i:03}")).collect();
    wait_until("all 60 events after the restart", 60, || {
        records(&hook.bodies())
            .iter()
            .map(|r| r["s3"]["object"]["key"].as_str().unwrap().to_owned())
            .collect::<HashSet<_>>()
            == want
    })
    .await;
    // A duplicate (at-least-once) carries the same sequencer.
    let mut seq: HashMap<String, String> = HashMap::new();
    for r in records(&hook.bodies()) {
        let k = r["s3"]["object"]["key"].as_str().unwrap().to_owned();
        let s = r["s3"]["object"]["sequencer"].as_str().unwrap().to_owned();
        if let Some(prev) = seq.insert(k, s.clone()) {
            assert_eq!(prev, s);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_target_dead_letters_after_max_attempts_visible_to_root_only() {
    let hook = Hook::start().await;
    hook.status.store(500, Ordering::SeqCst);
    let server = Server::start_with(&[
        ("CUBBY_NOTIFY_WEBHOOK_THUMBS", &hook.url()),
        ("CUBBY_NOTIFY_MAX_ATTEMPTS", "3"),
        ("CUBBY_NOTIFY_RETRY_BASE_MS", "20"),
        ("CUBBY_NOTIFY_RETRY_MAX_MS", "50"),
    ]);
    let c = root(&server);
    notified_bucket(&c, "deadletters", "thumbs").await;
    put(&c, "deadletters", "doomed.txt", b"x").await;

    let http = reqwest::Client::new();
    let url = format!("{}/_cubby/admin/events", server.endpoint);
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    let report = |ak: &'static str, sk: &'static str| {
        let signed =
            cubby_auth::sigv4::presign_url("GET", &url, ak, sk, None, "us-east-1", 300, now());
        let http = http.clone();
        async move {
            let r = http.get(signed).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    // Unsigned and non-root callers are refused.
    assert_eq!(http.get(&url).send().await.unwrap().status().as_u16(), 403);
    let (st, _) = report("AKIAOTHER0000000000X", "not-the-root-secret").await;
    assert_eq!(st, 403);

    let deadline = Instant::now() + Duration::from_secs(30);
    let v: Value = loop {
        let (st, body) = report(ROOT_KEY, ROOT_SECRET).await;
        assert_eq!(st, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        if v["deadLettered"].as_i64().unwrap() >= 2 || Instant::now() > deadline {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(v["deadLettered"], 2, "test event and upload event: {v}");
    assert_eq!(v["pending"], 0);
    let dead = v["deadLetters"].as_array().unwrap();
    let upload = dead
        .iter()
        .find(|d| d["event"]["Records"][0]["s3"]["object"]["key"] == "doomed.txt")
        .unwrap();
    assert_eq!(upload["attempts"], 3);
    assert_eq!(upload["target"], "thumbs");
    assert!(upload["lastError"].as_str().unwrap().contains("500"));
    assert!(hook.bodies().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Brokers

/// Skip (loudly) when a broker is not reachable.
fn reachable(name: &str, port: u16) -> bool {
    if std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    )
    .is_ok()
    {
        return true;
    }
    eprintln!(
        "\n!!! SKIPPED: {name} is not reachable on 127.0.0.1:{port} — scripts/test starts it\n"
    );
    false
}

/// Upload one object under `prefix` and return (key, etag).
async fn upload_one(server: &Server, target: &str, prefix: &str) -> (String, String) {
    let c = root(server);
    let bucket = format!("b{}", &unique()[..12]);
    c.create_bucket().bucket(&bucket).send().await.unwrap();
    configure(
        &c,
        &bucket,
        vec![queue("up", target, &["s3:ObjectCreated:*"], Some(prefix))],
    )
    .await;
    let key = format!("{prefix}a b.txt");
    let etag = put(&c, &bucket, &key, b"hello events").await;
    (format!("{bucket}/{key}"), etag)
}

fn check_broker_record(body: &str, bucket_key: &str, etag: &str) {
    let v: Value = serde_json::from_str(body).unwrap();
    let r = &v["Records"][0];
    let (bucket, key) = bucket_key.split_once('/').unwrap();
    let encoded: String = key.replace('/', "%2F").replace(' ', "+");
    check_put_record(r, bucket, &encoded, 12, etag);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stream_gets_the_event() {
    if !reachable("Redis", 6379) {
        return;
    }
    let stream = format!("cubby-test-{}", unique());
    let server = Server::start_with(&[(
        "CUBBY_NOTIFY_REDIS_R1",
        &format!("redis://127.0.0.1:6379/0?stream={stream}"),
    )]);
    let (bk, etag) = upload_one(&server, "r1", "in/").await;
    let client = redis::Client::open("redis://127.0.0.1:6379/0").unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut bodies: Vec<String> = Vec::new();
    while Instant::now() < deadline {
        let reply: redis::streams::StreamReadReply = redis::cmd("XREAD")
            .arg("STREAMS")
            .arg(&stream)
            .arg("0")
            .query_async(&mut conn)
            .await
            .unwrap();
        bodies = reply
            .keys
            .iter()
            .flat_map(|k| k.ids.iter())
            .map(|id| id.get::<String>("event").unwrap())
            .collect();
        if bodies.iter().any(|b| b.contains("Records")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _: () = redis::cmd("DEL")
        .arg(&stream)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(bodies[0].contains("s3:TestEvent"), "{bodies:?}");
    let ev = bodies.iter().find(|b| b.contains("Records")).unwrap();
    check_broker_record(ev, &bk, &etag);
}

/// Pull messages from a JetStream consumer, acking each, until `done` holds for the bodies
/// received so far or `wait` has passed; returns the bodies in arrival order.
async fn pull_until(
    consumer: &async_nats::jetstream::consumer::PullConsumer,
    wait: Duration,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    use futures_util::StreamExt;
    let mut bodies: Vec<String> = Vec::new();
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline && !done(&bodies) {
        let mut batch = consumer
            .fetch()
            .max_messages(100)
            .expires(Duration::from_millis(500))
            .messages()
            .await
            .unwrap();
        while let Some(m) = batch.next().await {
            let m = m.unwrap();
            bodies.push(String::from_utf8(m.payload.to_vec()).unwrap());
            m.ack().await.unwrap();
        }
    }
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_jetstream_gets_the_event_on_an_existing_stream() {
    if !reachable("NATS", 4222) {
        return;
    }
    let id = unique();
    let subject = format!("cubby.test.{id}");
    let nc = async_nats::connect("127.0.0.1:4222").await.unwrap();
    let js = async_nats::jetstream::new(nc);
    // The operator's own stream over the subject: cubby must use it, not fail or replace it.
    let stream = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: format!("TEST_{id}"),
            subjects: vec![subject.clone()],
            ..Default::default()
        })
        .await
        .unwrap();
    let server = Server::start_with(&[(
        "CUBBY_NOTIFY_NATS_N1",
        &format!("nats://127.0.0.1:4222/{subject}"),
    )]);
    let (bk, etag) = upload_one(&server, "n1", "in/").await;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
        .await
        .unwrap();
    let bodies = pull_until(&consumer, Duration::from_secs(20), |bodies| {
        bodies.iter().any(|b| b.contains("Records"))
    })
    .await;
    js.delete_stream(format!("TEST_{id}")).await.unwrap();
    assert!(bodies[0].contains("s3:TestEvent"), "{bodies:?}");
    let ev = bodies.iter().find(|b| b.contains("Records")).unwrap();
    check_broker_record(ev, &bk, &etag);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nats_refusing_events_mid_batch_then_accepting_gets_every_event() {
    if !reachable("NATS", 4222) {
        return;
    }
    use async_nats::jetstream::stream;
    let id = unique();
    let subject = format!("cubby.test.{id}");
    let js = async_nats::jetstream::new(async_nats::connect("127.0.0.1:4222").await.unwrap());
    // A stream that takes 10 messages and then refuses more: its acks turn to errors in the
    // middle of the dispatcher's batches (and of its outbox rows, which hold a group
    // commit's events).
    let mut config = stream::Config {
        name: format!("TEST_{id}"),
        subjects: vec![subject.clone()],
        max_messages: 10,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    };
    let s = js.create_stream(config.clone()).await.unwrap();
    let server = Server::start_with(&[
        (
            "CUBBY_NOTIFY_NATS_N2",
            &format!("nats://127.0.0.1:4222/{subject}"),
        ),
        ("CUBBY_NOTIFY_RETRY_BASE_MS", "100"),
        ("CUBBY_NOTIFY_RETRY_MAX_MS", "500"),
    ]);
    let c = root(&server);
    notified_bucket(&c, "natsfull", "n2").await;
    put_many(&c, "natsfull", 60, 1024, 16).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(&server, "cubby_events_failed_attempts").await < 1.0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(metric(&server, "cubby_events_failed_attempts").await >= 1.0);
    assert!(metric(&server, "cubby_outbox_pending").await >= 50.0);
    // Room again: every upload's event arrives (at least once).
    config.max_messages = -1;
    js.update_stream(config).await.unwrap();
    let consumer = s
        .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
        .await
        .unwrap();
    let want: HashSet<String> = (0..60).map(|i| format!("k{i:03}")).collect();
    let keys = |bodies: &[String]| -> HashSet<String> {
        bodies
            .iter()
            .filter_map(|b| {
                let v: Value = serde_json::from_str(b).unwrap();
                v["Records"][0]["s3"]["object"]["key"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    };
    let bodies = pull_until(&consumer, Duration::from_secs(40), |b| keys(b) == want).await;
    let got = keys(&bodies);
    js.delete_stream(format!("TEST_{id}")).await.unwrap();
    assert_eq!(got, want);
    assert_outbox_drains(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_queue_bound_to_the_operators_exchange_gets_the_event() {
    use lapin::options::*;
    use lapin::types::FieldTable;
    if !reachable("RabbitMQ", 5672) {
        return;
    }
    let id = unique();
    let exchange = format!("cubby-test-{id}");
    let conn = lapin::Connection::connect(
        "amqp://guest:guest@127.0.0.1:5672/%2f",
        lapin::ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let ch = conn.create_channel().await.unwrap();
    ch.exchange_declare(
        exchange.as_str().into(),
        lapin::ExchangeKind::Topic,
        ExchangeDeclareOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let q = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    ch.queue_bind(
        q.name().clone(),
        exchange.as_str().into(),
        "uploads.#".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let server = Server::start_with(&[(
        "CUBBY_NOTIFY_AMQP_A1",
        &format!(
            "amqp://guest:guest@127.0.0.1:5672/%2f?exchange={exchange}&routing_key=uploads.new"
        ),
    )]);
    let (bk, etag) = upload_one(&server, "a1", "in/").await;
    let mut bodies: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && !bodies.iter().any(|b| b.contains("Records")) {
        match ch
            .basic_get(q.name().clone(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
        {
            Some(m) => bodies.push(String::from_utf8(m.delivery.data.clone()).unwrap()),
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    ch.exchange_delete(exchange.as_str().into(), ExchangeDeleteOptions::default())
        .await
        .unwrap();
    assert!(bodies[0].contains("s3:TestEvent"), "{bodies:?}");
    let ev = bodies.iter().find(|b| b.contains("Records")).unwrap();
    check_broker_record(ev, &bk, &etag);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_subscriber_gets_the_event() {
    if !reachable("Mosquitto", 1883) {
        return;
    }
    let id = unique();
    let topic = format!("cubby/test/{id}/uploads");
    let mut opts = rumqttc::MqttOptions::new(format!("sub-{id}"), "127.0.0.1", 1883);
    opts.set_keep_alive(Duration::from_secs(30));
    let (client, mut el) = rumqttc::AsyncClient::new(opts, 64);
    client
        .subscribe(topic.clone(), rumqttc::QoS::AtLeastOnce)
        .await
        .unwrap();
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let subscribed = Arc::new(tokio::sync::Notify::new());
    let (g, s) = (got.clone(), subscribed.clone());
    let poller = tokio::spawn(async move {
        while let Ok(ev) = el.poll().await {
            match ev {
                rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)) => s.notify_one(),
                rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) => g
                    .lock()
                    .unwrap()
                    .push(String::from_utf8(p.payload.to_vec()).unwrap()),
                _ => {}
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), subscribed.notified())
        .await
        .unwrap();
    let server = Server::start_with(&[(
        "CUBBY_NOTIFY_MQTT_M1",
        &format!("mqtt://127.0.0.1:1883/{topic}"),
    )]);
    let (bk, etag) = upload_one(&server, "m1", "in/").await;
    wait_until("the MQTT event", 20, || {
        got.lock().unwrap().iter().any(|b| b.contains("Records"))
    })
    .await;
    poller.abort();
    let bodies = got.lock().unwrap().clone();
    assert!(bodies[0].contains("s3:TestEvent"), "{bodies:?}");
    let ev = bodies.iter().find(|b| b.contains("Records")).unwrap();
    check_broker_record(ev, &bk, &etag);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_declared_in_cubby_toml_gets_its_buckets_events() {
    let hook = Hook::start().await;
    let dir = std::env::temp_dir().join(format!("cubby-toml-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("cubby.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[event_target]]
id = "thumbs"
kind = "webhook"
url = "{}"
secret = "file-secret"

[[bucket]]
name = "fromfile"

[[bucket.notification]]
target = "thumbs"
events = ["s3:ObjectCreated:*"]
"#,
            hook.url()
        ),
    )
    .unwrap();
    let server = Server::start_seeded_with(&[], &["--config", config.to_str().unwrap()]);
    let c = root(&server);
    put(&c, "fromfile", "from-the-file.txt", b"hello").await;
    wait_until("the event", 15, || {
        records(&hook.bodies())
            .iter()
            .any(|r| r["s3"]["object"]["key"] == "from-the-file.txt")
    })
    .await;
    // Signed with the key the file gave the target.
    let calls = hook.calls.lock().unwrap().clone();
    let (sig, body) = calls
        .iter()
        .find(|(_, b)| b.contains("from-the-file.txt"))
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"file-secret").unwrap();
    mac.update(body.as_bytes());
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(sig.as_deref(), Some(want.as_str()));
    let _ = std::fs::remove_dir_all(&dir);
}
