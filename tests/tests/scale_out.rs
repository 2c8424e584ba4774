//! Scale-out: three cubby nodes sharing one fresh PostgreSQL database, one blob store, the
//! master key and the root keys — nothing else. Every check runs twice: with a shared blob
//! directory (`--blob-url file://…`) and with a fourth cubby as the upstream S3 store
//! (`--blob-url s3://…?endpoint=…`). Runs only when `CUBBY_TEST_POSTGRES_URL` is set
//! (scripts/test sets it); otherwise each test prints that it was skipped.
#![allow(clippy::unwrap_used)]

mod common;
mod idhelp;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Event, NotificationConfiguration, QueueConfiguration,
};
use common::*;
use cubby_meta::pgtest::{self, FreshDb};
use idhelp::*;
use serde_json::json;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The URL the cluster would have behind a load balancer (never dialled by the tests).
const PUBLIC_URL: &str = "http://cubby.cluster.test";

/// Where the cluster's blobs live.
#[derive(Clone, Copy, Debug)]
enum Blobs {
    /// One directory all nodes mount (`file://`).
    SharedDir,
    /// Another cubby, used as an S3-compatible upstream (`s3://`).
    UpstreamCubby,
}

/// Three nodes on one database and one blob store, and a webhook receiver.
struct Cluster {
    nodes: Vec<Server>,
    db: Option<FreshDb>,
    shared: std::path::PathBuf,
    hook: Hook,
    /// The upstream cubby holding the blobs (`Blobs::UpstreamCubby`).
    upstream: Option<Server>,
}

impl Cluster {
    /// `None` (and a printed reason) when no PostgreSQL is configured.
    async fn start(test: &str, blobs: Blobs) -> Option<Cluster> {
        let Some(base) = pgtest::base_url() else {
            pgtest::say(&format!("skipped: {test} ({} is not set)", pgtest::ENV));
            return None;
        };
        let db = FreshDb::create(&base).await.unwrap();
        let shared = std::env::temp_dir().join(format!("cubby-shared-{:x}", rand_u64()));
        std::fs::create_dir_all(shared.join("blobs")).unwrap();
        let key_file = shared.join("master.key");
        std::fs::write(&key_file, hex::encode(rand_bytes())).unwrap();
        let hook = Hook::start().await;
        let (blob_url, upstream) = match blobs {
            Blobs::SharedDir => (format!("file://{}", shared.join("blobs").display()), None),
            Blobs::UpstreamCubby => {
                let up = Server::start();
                root(&up)
                    .create_bucket()
                    .bucket("cluster-blobs")
                    .send()
                    .await
                    .unwrap();
                let url = format!(
                    "s3://cluster-blobs/nodes?endpoint={}&region=us-east-1",
                    up.endpoint
                );
                (url, Some(up))
            }
        };
        let env = [
            ("CUBBY_BLOB_ACCESS_KEY_ID", ROOT_KEY.to_owned()),
            ("CUBBY_BLOB_SECRET_ACCESS_KEY", ROOT_SECRET.to_owned()),
            ("CUBBY_MASTER_KEY_FILE", key_file.display().to_string()),
            ("CUBBY_NOTIFY_WEBHOOK_HOOK", hook.url()),
            // A killed node's claimed events come back to the others after this.
            ("CUBBY_NOTIFY_LEASE_MS", "3000".into()),
            ("CUBBY_NOTIFY_RETRY_BASE_MS", "100".into()),
            ("CUBBY_NOTIFY_RETRY_MAX_MS", "1000".into()),
            // A killed node's quota holds lapse after this.
            ("CUBBY_QUOTA_LEASE_MS", "2000".into()),
        ];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        // Every node has the balancer's URL as its public URL: user-pool tokens name it as
        // their issuer, so a token from one node is good on every node.
        let args = [
            "--metadata-url",
            &db.url,
            "--blob-url",
            &blob_url,
            "--public-url",
            PUBLIC_URL,
        ];
        // All at once: each node applies the seed setup at start, under a cluster-wide lock,
        // so the later ones find by name what the first created instead of creating it again.
        let nodes = std::thread::scope(|s| {
            let starting: Vec<_> = (0..3)
                .map(|_| s.spawn(|| Server::start_seeded_with(&env, &args)))
                .collect();
            starting.into_iter().map(|t| t.join().unwrap()).collect()
        });
        Some(Cluster {
            nodes,
            db: Some(db),
            shared,
            hook,
            upstream,
        })
    }

    fn root(&self, i: usize) -> aws_sdk_s3::Client {
        root(&self.nodes[i])
    }

    async fn stop(mut self) {
        for n in &mut self.nodes {
            n.kill9();
        }
        if let Some(db) = self.db.take() {
            db.drop_db().await.unwrap();
        }
        if let Some(mut up) = self.upstream.take() {
            up.kill9();
        }
        let _ = std::fs::remove_dir_all(&self.shared);
    }
}

fn rand_u64() -> u64 {
    u64::from_le_bytes(rand_bytes()[..8].try_into().unwrap())
}

fn rand_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    for chunk in b.chunks_mut(8) {
        chunk.copy_from_slice(&rand::random::<u64>().to_le_bytes());
    }
    b
}

/// A webhook receiver that records every body it is sent and answers 200.
struct Hook {
    port: u16,
    bodies: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Hook {
    async fn start() -> Hook {
        use hyper::service::service_fn;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let bodies: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = bodies.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let sink = sink.clone();
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let sink = sink.clone();
                    async move {
                        use http_body_util::BodyExt;
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        sink.lock()
                            .unwrap()
                            .push(String::from_utf8(body.to_vec()).unwrap());
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Full::new(bytes::Bytes::from_static(b"ok")),
                        ))
                    }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Hook { port, bodies, task }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Keys of every `ObjectCreated` record received so far.
    fn created_keys(&self) -> HashSet<String> {
        let bodies = self.bodies.lock().unwrap().clone();
        let mut keys = HashSet::new();
        for b in bodies {
            let v: serde_json::Value = serde_json::from_str(&b).unwrap();
            for r in v["Records"].as_array().into_iter().flatten() {
                if r["eventName"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("ObjectCreated:"))
                {
                    keys.insert(r["s3"]["object"]["key"].as_str().unwrap().to_owned());
                }
            }
        }
        keys
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn get_bytes(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    c.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {key}: {e:?}"))
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec()
}

/// A user of the seed's user pool, signed in across the nodes: created through node 1,
/// signed in (USER_PASSWORD_AUTH) through node 2, its ID token traded for the identity pool's
/// authenticated credentials on node 3. Returns the identity id and the credentials.
async fn signed_in_member(cl: &Cluster, pool_id: &str) -> (String, Keys) {
    let (n1, n2, n3) = (&cl.nodes[0], &cl.nodes[1], &cl.nodes[2]);
    let pools = idp(n1, "ListUserPools", json!({"MaxResults": 60}), true).await;
    let up_id = pools["UserPools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["Name"] == "users")
        .and_then(|p| p["Id"].as_str())
        .unwrap()
        .to_owned();
    let clients = idp(
        n1,
        "ListUserPoolClients",
        json!({"UserPoolId": up_id, "MaxResults": 60}),
        true,
    )
    .await;
    let client_id = clients["UserPoolClients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["ClientName"] == "web")
        .and_then(|c| c["ClientId"].as_str())
        .unwrap()
        .to_owned();
    let email = "ada@example.com";
    idp(
        n1,
        "AdminCreateUser",
        json!({"UserPoolId": up_id, "Username": email, "MessageAction": "SUPPRESS",
               "TemporaryPassword": "Temp-passw0rd!",
               "UserAttributes": [{"Name": "email", "Value": email},
                                  {"Name": "email_verified", "Value": "true"}]}),
        true,
    )
    .await;
    idp(
        n1,
        "AdminSetUserPassword",
        json!({"UserPoolId": up_id, "Username": email, "Password": "Corr3ct-horse!",
               "Permanent": true}),
        true,
    )
    .await;
    let auth = idp(
        n2,
        "InitiateAuth",
        json!({"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id,
               "AuthParameters": {"USERNAME": email, "PASSWORD": "Corr3ct-horse!"}}),
        false,
    )
    .await;
    let id_token = auth["AuthenticationResult"]["IdToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let provider = format!("{}/{up_id}", PUBLIC_URL.trim_start_matches("http://"));
    let ci = cognito_anon(n3);
    let member = ci
        .get_id()
        .identity_pool_id(pool_id)
        .logins(&provider, &id_token)
        .send()
        .await
        .unwrap()
        .identity_id()
        .unwrap()
        .to_owned();
    let creds = ci
        .get_credentials_for_identity()
        .identity_id(&member)
        .logins(&provider, &id_token)
        .send()
        .await
        .unwrap();
    (member, Keys::from(creds.credentials().unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_flow_multipart_and_cache_changes_across_nodes() {
    seed_flow_multipart_and_cache_changes_across_nodes_on(Blobs::SharedDir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_flow_multipart_and_cache_changes_across_nodes_upstream_cubby() {
    seed_flow_multipart_and_cache_changes_across_nodes_on(Blobs::UpstreamCubby).await;
}

async fn seed_flow_multipart_and_cache_changes_across_nodes_on(blobs: Blobs) {
    let Some(cl) = Cluster::start(
        &format!("seed_flow_multipart_and_cache_changes_across_nodes ({blobs:?})"),
        blobs,
    )
    .await
    else {
        return;
    };
    // The three nodes started together and applied the seed setup once.
    let pools = cognito(&cl.nodes[2])
        .list_identity_pools()
        .max_results(60)
        .send()
        .await
        .unwrap();
    let uploads: Vec<_> = pools
        .identity_pools()
        .iter()
        .filter(|p| p.identity_pool_name() == Some("uploads"))
        .collect();
    assert_eq!(uploads.len(), 1, "{pools:?}");
    let pool_id = uploads[0].identity_pool_id().unwrap().to_owned();

    // Guest credentials minted on node 1 upload through node 2; root reads through node 3.
    let (id, guest) = new_guest(&cl.nodes[0], &pool_id).await;
    let key = format!("guest/{id}/photo.jpg");
    let body = data(100_000, 1);
    guest
        .s3(&cl.nodes[1])
        .put_object()
        .bucket("uploads")
        .key(&key)
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(get_bytes(&cl.root(2), "uploads", &key).await, body);

    // Signed in: a user created through node 1 signs in to the user pool through node 2,
    // trades the ID token for credentials on node 3 and uploads to its own folder through
    // node 1; another identity's folder stays closed on every node.
    let (member, member_keys) = signed_in_member(&cl, &pool_id).await;
    let own = format!("private/{member}/notes.txt");
    member_keys
        .s3(&cl.nodes[0])
        .put_object()
        .bucket("uploads")
        .key(&own)
        .body(ByteStream::from_static(b"mine"))
        .send()
        .await
        .unwrap();
    let got = member_keys
        .s3(&cl.nodes[1])
        .get_object()
        .bucket("uploads")
        .key(&own)
        .send()
        .await
        .unwrap();
    assert_eq!(&got.body.collect().await.unwrap().into_bytes()[..], b"mine");
    let e = member_keys
        .s3(&cl.nodes[2])
        .put_object()
        .bucket("uploads")
        .key(format!("private/{id}/notes.txt"))
        .body(ByteStream::from_static(b"not mine"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");

    // Multipart: created on node 1, parts through nodes 1 and 2, completed on node 3.
    let part1 = data(5 * 1024 * 1024, 2);
    let part2 = data(1234, 3);
    let up = cl
        .root(0)
        .create_multipart_upload()
        .bucket("uploads")
        .key("big.bin")
        .send()
        .await
        .unwrap();
    let upload_id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, (node, bytes)) in [(0, &part1), (1, &part2)].into_iter().enumerate() {
        let r = cl
            .root(node)
            .upload_part()
            .bucket("uploads")
            .key("big.bin")
            .upload_id(upload_id)
            .part_number(n as i32 + 1)
            .body(ByteStream::from(bytes.clone()))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n as i32 + 1)
                .e_tag(r.e_tag().unwrap())
                .build(),
        );
    }
    let listed = cl
        .root(2)
        .list_parts()
        .bucket("uploads")
        .key("big.bin")
        .upload_id(upload_id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.parts().len(), 2);
    cl.root(2)
        .complete_multipart_upload()
        .bucket("uploads")
        .key("big.bin")
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut whole = part1.clone();
    whole.extend_from_slice(&part2);
    assert_eq!(get_bytes(&cl.root(1), "uploads", "big.bin").await, whole);

    // A role change made through node 1 reaches node 2's cached role within a second.
    let guest_on_2 = guest.s3(&cl.nodes[1]);
    let iam1 = iam(&cl.nodes[0]);
    iam1.put_role_policy()
        .role_name("CubbyGuestUpload")
        .policy_name("scale-out-freeze")
        .policy_document(policy(serde_json::json!([{
            "Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"
        }])))
        .send()
        .await
        .unwrap();
    let changed = Instant::now();
    let mut denied_after = None;
    while changed.elapsed() < Duration::from_secs(5) {
        let r = guest_on_2
            .put_object()
            .bucket("uploads")
            .key(format!("guest/{id}/after.txt"))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await;
        if r.is_err() {
            denied_after = Some(changed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let denied_after = denied_after.expect("node 2 never saw the role change");
    pgtest::say(&format!(
        "role change visible on another node after {denied_after:?}"
    ));
    assert!(
        denied_after <= Duration::from_secs(1),
        "took {denied_after:?}"
    );
    cl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_uploads_with_a_node_killed_lose_nothing() {
    hundred_uploads_with_a_node_killed_lose_nothing_on(Blobs::SharedDir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_uploads_with_a_node_killed_lose_nothing_upstream_cubby() {
    hundred_uploads_with_a_node_killed_lose_nothing_on(Blobs::UpstreamCubby).await;
}

async fn hundred_uploads_with_a_node_killed_lose_nothing_on(blobs: Blobs) {
    let Some(mut cl) = Cluster::start(
        &format!("hundred_uploads_with_a_node_killed_lose_nothing ({blobs:?})"),
        blobs,
    )
    .await
    else {
        return;
    };
    let c = cl.root(0);
    c.create_bucket().bucket("scale").send().await.unwrap();
    c.put_bucket_notification_configuration()
        .bucket("scale")
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .id("all")
                        .queue_arn("arn:cubby:sqs:us-east-1:000000000000:hook")
                        .events(Event::from("s3:ObjectCreated:*"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let clients: Vec<aws_sdk_s3::Client> = (0..3).map(|i| cl.root(i)).collect();
    let acked: Arc<Mutex<Vec<usize>>> = Arc::default();
    let done = Arc::new(AtomicUsize::new(0));
    let sem = Arc::new(tokio::sync::Semaphore::new(12));
    let mut tasks = Vec::new();
    for i in 0..100usize {
        let c = clients[i % 3].clone();
        let (acked, done, sem) = (acked.clone(), done.clone(), sem.clone());
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            let r = c
                .put_object()
                .bucket("scale")
                .key(format!("k{i:03}"))
                .body(ByteStream::from(data(65_536 + i, i as u64)))
                .send()
                .await;
            if r.is_ok() {
                acked.lock().unwrap().push(i);
            }
            done.fetch_add(1, Ordering::SeqCst);
        }));
    }
    // Node 3 dies mid-way, with uploads to it in flight.
    while done.load(Ordering::SeqCst) < 35 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cl.nodes[2].kill9();
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    pgtest::say(&format!("{} of 100 uploads acknowledged", acked.len()));
    assert!(acked.len() >= 66, "the survivors took their share");
    assert!(
        acked.len() < 100,
        "node 3 died before taking all of its uploads"
    );

    // Every acknowledged object is intact, read through either survivor.
    for &i in &acked {
        let got = get_bytes(&clients[i % 2], "scale", &format!("k{i:03}")).await;
        assert!(got == data(65_536 + i, i as u64), "k{i:03} damaged");
    }
    // Every acknowledged object's event is delivered once the survivors catch up (events the
    // dead node had claimed come back when its lease runs out).
    let want: HashSet<String> = acked.iter().map(|i| format!("k{i:03}")).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = cl.hook.created_keys();
        if want.is_subset(&got) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "missing events: {:?}",
            want.difference(&got).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cl.stop().await;
}

/// A guest of the seed's identity pool, minted on `node`.
async fn seed_guest(cl: &Cluster, node: usize) -> (String, Keys) {
    let pools = cognito(&cl.nodes[node])
        .list_identity_pools()
        .max_results(60)
        .send()
        .await
        .unwrap();
    let pool_id = pools
        .identity_pools()
        .iter()
        .find(|p| p.identity_pool_name() == Some("uploads"))
        .and_then(|p| p.identity_pool_id())
        .unwrap()
        .to_owned();
    new_guest(&cl.nodes[node], &pool_id).await
}

/// Objects and bytes `owner` holds in the `uploads` bucket, and what `node`'s uploads in
/// flight hold, from the admin API.
async fn quota_usage(cl: &Cluster, node: usize, owner: &str) -> (i64, i64) {
    let r = admin_as(
        &cl.nodes[node],
        &root_keys(),
        "GET",
        "/_cubby/admin/usage/uploads",
        "",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let stored = v["owners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["owner"] == owner)
        .map_or(0, |o| o["objects"].as_i64().unwrap());
    (
        stored,
        v["reservationsInFlight"]["objects"].as_i64().unwrap(),
    )
}

/// Put the `uploads` bucket's upload rules through node 1 and wait until every node has
/// reread the bucket's configuration (each does within half a second).
async fn set_upload_rules(cl: &Cluster, rules: serde_json::Value) {
    let r = admin_as(
        &cl.nodes[0],
        &root_keys(),
        "PUT",
        "/_cubby/admin/upload-rules/uploads",
        &rules.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    tokio::time::sleep(Duration::from_millis(1200)).await;
}

/// A quota holds for the whole cluster: uploads racing through three nodes cannot overshoot
/// it, uploads in flight on one node count on the others, and a node killed with uploads in
/// flight gives its holds back when their lease lapses.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn quotas_hold_across_nodes_and_a_dead_nodes_holds_lapse() {
    let Some(mut cl) = Cluster::start(
        "quotas_hold_across_nodes_and_a_dead_nodes_holds_lapse",
        Blobs::SharedDir,
    )
    .await
    else {
        return;
    };
    set_upload_rules(
        &cl,
        json!({"rules": [{"id": "five", "applies_to": ["guests"], "max_objects": 5}]}),
    )
    .await;

    // Twenty uploads of one guest, spread over the three nodes at once: exactly five fit.
    let (id, guest) = seed_guest(&cl, 0).await;
    let clients: Vec<aws_sdk_s3::Client> = (0..3).map(|i| guest.s3(&cl.nodes[i])).collect();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let c = clients[i % 3].clone();
            let key = format!("guest/{id}/race/{i}");
            tokio::spawn(async move {
                c.put_object()
                    .bucket("uploads")
                    .key(key)
                    .body(ByteStream::from(data(4096, i as u64)))
                    .send()
                    .await
                    .map_err(|e| err_code(&e))
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(code) => assert_eq!(code, "AccessDenied"),
        }
    }
    assert_eq!(ok, 5, "exactly the quota fits, cluster-wide");
    for node in 0..3 {
        assert_eq!(quota_usage(&cl, node, &id).await, (5, 0));
    }

    // Another guest: three uploads stall on node 3 and hold three of its five objects.
    let (id, guest) = seed_guest(&cl, 1).await;
    let clients: Vec<aws_sdk_s3::Client> = (0..3).map(|i| guest.s3(&cl.nodes[i])).collect();
    let mut stalled = Vec::new();
    for i in 0..3 {
        let key = format!("guest/{id}/stalled/{i}");
        stalled.push(StalledPut::start(&clients[2], "uploads", &key).await);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while quota_usage(&cl, 2, &id).await.1 < 3 {
        assert!(
            Instant::now() < deadline,
            "the stalled uploads hold nothing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let put = |node: usize, name: String| {
        let c = clients[node].clone();
        let key = format!("guest/{id}/{name}");
        async move {
            c.put_object()
                .bucket("uploads")
                .key(key)
                .body(ByteStream::from_static(b"x"))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| err_code(&e))
        }
    };
    // Node 1 sees node 3's holds: two more fit, not three.
    put(0, "a".into()).await.unwrap();
    put(1, "b".into()).await.unwrap();
    assert_eq!(put(0, "c".into()).await.unwrap_err(), "AccessDenied");

    // Node 3 dies with the three uploads in flight. Their holds lapse with their lease (two
    // seconds here) and nothing of them is stored: the three slots come back.
    cl.nodes[2].kill9();
    drop(stalled);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match put(0, "c".into()).await {
            Ok(()) => break,
            Err(code) => assert_eq!(code, "AccessDenied"),
        }
        assert!(
            Instant::now() < deadline,
            "the dead node's holds never lapsed"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // An upload is counted twice while its row has committed and its hold is not yet
    // released (one round trip, longer on a loaded machine) if a reading falls in between;
    // a refusal is checked again on a reading 250 ms newer, so a retry soon fits.
    for (node, name) in [(1, "d"), (0, "e")] {
        let deadline = Instant::now() + Duration::from_secs(3);
        while let Err(code) = put(node, name.into()).await {
            assert_eq!(code, "AccessDenied");
            assert!(Instant::now() < deadline, "{name} never fitted");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    assert_eq!(put(1, "f".into()).await.unwrap_err(), "AccessDenied");
    assert_eq!(quota_usage(&cl, 0, &id).await, (5, 0));

    // Bytes, through a multipart upload spread over the two survivors: the parts of an
    // upload in progress count, so with 10 MiB of parts stored neither node lets 3 MiB more in.
    set_upload_rules(
        &cl,
        json!({"rules": [{"id": "bytes", "applies_to": ["guests"], "max_bytes": "12 MiB"}]}),
    )
    .await;
    let (id, guest) = seed_guest(&cl, 0).await;
    let (c0, c1) = (guest.s3(&cl.nodes[0]), guest.s3(&cl.nodes[1]));
    let key = format!("guest/{id}/big.bin");
    let up = c0
        .create_multipart_upload()
        .bucket("uploads")
        .key(&key)
        .send()
        .await
        .unwrap();
    let upload_id = up.upload_id().unwrap();
    let part = |c: &aws_sdk_s3::Client, n: i32| {
        c.upload_part()
            .bucket("uploads")
            .key(&key)
            .upload_id(upload_id)
            .part_number(n)
            .body(ByteStream::from(data(5 << 20, n as u64)))
            .send()
    };
    part(&c0, 1).await.unwrap();
    part(&c1, 2).await.unwrap();
    assert_eq!(err_code(&part(&c0, 3).await.unwrap_err()), "AccessDenied");
    let small = |c: &aws_sdk_s3::Client, len: usize| {
        c.put_object()
            .bucket("uploads")
            .key(format!("guest/{id}/small"))
            .body(ByteStream::from(data(len, 9)))
            .send()
    };
    assert_eq!(
        err_code(&small(&c1, 3 << 20).await.unwrap_err()),
        "AccessDenied"
    );
    small(&c1, 2 << 20).await.unwrap();
    cl.stop().await;
}

/// Upload-rate windows are the cluster's: a guest whose uploads a balancer spreads over
/// three nodes gets the rule's rate once, not once per node.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upload_rates_hold_across_nodes() {
    let Some(cl) = Cluster::start("upload_rates_hold_across_nodes", Blobs::SharedDir).await else {
        return;
    };
    set_upload_rules(
        &cl,
        json!({"rules": [{"id": "four", "applies_to": ["guests"], "uploads_per_minute": 4}]}),
    )
    .await;
    let (id, guest) = seed_guest(&cl, 0).await;
    // No client retries: a SlowDown must reach the test, not be retried away.
    let clients: Vec<aws_sdk_s3::Client> = (0..3)
        .map(|i| {
            let conf = guest
                .s3(&cl.nodes[i])
                .config()
                .to_builder()
                .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
                .build();
            aws_sdk_s3::Client::from_conf(conf)
        })
        .collect();
    // Nine uploads round the three nodes: three per node, which per-node windows of four
    // would all let through.
    let mut ok = 0;
    for i in 0..9 {
        let r = clients[i % 3]
            .put_object()
            .bucket("uploads")
            .key(format!("guest/{id}/rate/{i}"))
            .body(ByteStream::from(data(1024, i as u64)))
            .send()
            .await;
        match r {
            Ok(_) => ok += 1,
            Err(e) => {
                assert_eq!(err_code(&e), "SlowDown", "upload {i}");
                let raw = e.raw_response().unwrap();
                assert_eq!(raw.status().as_u16(), 503);
                let retry_after: i64 = raw.headers().get("retry-after").unwrap().parse().unwrap();
                assert!((1..=60).contains(&retry_after), "{retry_after}");
            }
        }
    }
    assert_eq!(ok, 4, "the rule's rate, cluster-wide");
    // Another guest has an allowance of its own.
    let (other_id, other) = seed_guest(&cl, 2).await;
    other
        .s3(&cl.nodes[1])
        .put_object()
        .bucket("uploads")
        .key(format!("guest/{other_id}/rate/0"))
        .body(ByteStream::from(data(1024, 0)))
        .send()
        .await
        .unwrap();
    cl.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_to_one_key_last_writer_wins_whole() {
    concurrent_puts_to_one_key_last_writer_wins_whole_on(Blobs::SharedDir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_puts_to_one_key_last_writer_wins_whole_upstream_cubby() {
    concurrent_puts_to_one_key_last_writer_wins_whole_on(Blobs::UpstreamCubby).await;
}

async fn concurrent_puts_to_one_key_last_writer_wins_whole_on(blobs: Blobs) {
    let Some(cl) = Cluster::start(
        &format!("concurrent_puts_to_one_key_last_writer_wins_whole ({blobs:?})"),
        blobs,
    )
    .await
    else {
        return;
    };
    cl.root(0)
        .create_bucket()
        .bucket("hot")
        .send()
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..30usize {
        let c = cl.root(i % 3);
        tasks.push(tokio::spawn(async move {
            c.put_object()
                .bucket("hot")
                .key("one")
                .body(ByteStream::from(data(20_000 + i, i as u64)))
                .send()
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Whatever won is one writer's complete body, with its own ETag, on every node.
    let bodies: Vec<Vec<u8>> = (0..30usize).map(|i| data(20_000 + i, i as u64)).collect();
    let mut seen = Vec::new();
    for n in 0..3 {
        let got = get_bytes(&cl.root(n), "hot", "one").await;
        let i = bodies
            .iter()
            .position(|b| *b == got)
            .expect("a torn object");
        let head = cl
            .root(n)
            .head_object()
            .bucket("hot")
            .key("one")
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.e_tag().unwrap().trim_matches('"'),
            hex::encode(<md5::Md5 as md5::Digest>::digest(&bodies[i]))
        );
        seen.push(i);
    }
    assert!(
        seen.windows(2).all(|w| w[0] == w[1]),
        "nodes disagree: {seen:?}"
    );
    cl.stop().await;
}
