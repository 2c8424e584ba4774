//! The S3 service: one request in, one response out.

use crate::auth::{AccessRequest, Authority, Caller, CallerKind};
use crate::body::{Payload, ReqBody, RespBody};
use crate::router::{self, Op, Route};
use crate::{S3Error, S3Result, response};
use cubby_auth::chunked::ChunkedDecoder;
use cubby_auth::sigv4::{self, PayloadMode, SignedRequest};
use cubby_blob::{BlobId, FsBlobStore};
use cubby_meta::{BucketRow, Meta, ObjectRow};
use http::request::Parts;
use http::{Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Static configuration of the S3 front.
#[derive(Clone, Debug)]
pub struct S3Config {
    /// Region (`us-east-1`).
    pub region: String,
    /// Account id (12 digits).
    pub account_id: String,
    /// Base domain for virtual-host-style requests.
    pub domain: Option<String>,
    /// New buckets start as before April 2023: no ownership controls (ACLs count, as under
    /// ObjectWriter) and no public access block.
    pub legacy_bucket_defaults: bool,
    /// Largest single PUT / part (5 GiB).
    pub max_object_size: u64,
    /// How long replaced blobs are kept for readers still streaming them.
    pub gc_grace: Duration,
    /// Start-up sweep: only temp files and unreferenced blobs at least this old are removed.
    /// Zero when this process owns the blob store; with a store shared by several nodes, long
    /// enough that no other node's upload or commit can still be in progress.
    pub sweep_min_age: Duration,
    /// Ids of the declared event targets (`CUBBY_NOTIFY_<KIND>_<ID>`), which notification
    /// configurations may name.
    pub event_targets: Vec<String>,
    /// Key-encryption key of SSE-S3 data keys (a subkey of the master key); without it
    /// encrypted writes and reads fail with InternalError.
    pub sse_kek: Option<cubby_blob::sse::Kek>,
    /// Cluster mode (PostgreSQL): how long a quota hold lives unless its node renews it, so
    /// how long a crashed node's uploads in flight keep counting.
    pub quota_lease: Duration,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            region: "us-east-1".into(),
            account_id: "000000000000".into(),
            domain: None,
            legacy_bucket_defaults: false,
            max_object_size: 5 * 1024 * 1024 * 1024,
            gc_grace: Duration::from_secs(600),
            sweep_min_age: Duration::ZERO,
            event_targets: Vec::new(),
            sse_kek: None,
            quota_lease: Duration::from_secs(15),
        }
    }
}

/// The S3 API over a metadata store and a blob store.
#[derive(Clone)]
pub struct S3Service {
    pub(crate) cfg: Arc<S3Config>,
    pub(crate) meta: Meta,
    pub(crate) blobs: FsBlobStore,
    pub(crate) authority: Arc<dyn Authority>,
    /// Upload-rule enforcement state (compiled rules, rate windows, quota reservations).
    pub(crate) rules: Arc<crate::rules::RulesState>,
    /// Parsed bucket configurations (see `bucket_view`).
    views: Arc<crate::bucket_view::BucketViews>,
}

/// Everything a handler needs about the current request.
pub(crate) struct Ctx {
    pub route: Route,
    pub parts: Parts,
    pub caller: Caller,
    pub signed: Option<SignedRequest>,
    pub verified: Option<cubby_auth::sigv4::Verified>,
    pub peer: SocketAddr,
    pub now: i64,
    /// `x-amz-request-id` of this request (also in event bodies).
    pub request_id: String,
    /// Notification rules of the bucket, for operations that can produce events.
    pub events: Option<Arc<crate::notify::EventScope>>,
    /// The bucket encrypts new objects by default (SSE-S3), for operations that create one.
    pub sse_default: bool,
    /// The bucket's upload rules, for operations that upload.
    pub upload_rules: Arc<Vec<cubby_rules::CompiledRule>>,
    /// The object's row, read before authorization by operations whose decision may depend
    /// on it (`s3:ExistingObjectTag/…`, the object's ACL); `Some(None)`: read, and missing.
    /// The handler takes it instead of reading again.
    pub preloaded: Option<Option<ObjectRow>>,
}

impl Ctx {
    /// A request header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn bucket(&self) -> S3Result<&str> {
        self.route
            .bucket
            .as_deref()
            .ok_or_else(|| S3Error::invalid_request("missing bucket"))
    }
    pub fn key(&self) -> S3Result<&str> {
        self.route
            .key
            .as_deref()
            .ok_or_else(|| S3Error::invalid_request("missing key"))
    }
    pub fn now_ms(&self) -> i64 {
        self.now * 1000
    }
}

impl S3Service {
    /// Build the service and run the start-up sweep (orphan blobs, stale temp files).
    pub async fn new(
        cfg: S3Config,
        meta: Meta,
        blobs: FsBlobStore,
        authority: Arc<dyn Authority>,
    ) -> S3Result<Self> {
        let rules = Arc::new(crate::rules::RulesState::new(&meta, cfg.quota_lease));
        let svc = S3Service {
            cfg: Arc::new(cfg),
            meta,
            blobs,
            authority,
            rules,
            views: Default::default(),
        };
        svc.sweep().await?;
        Ok(svc)
    }

    /// The metadata store.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Delete temp files and blobs no metadata references (crash leftovers).
    async fn sweep(&self) -> S3Result<()> {
        let min_age = self.cfg.sweep_min_age;
        let tmp = if min_age.is_zero() {
            self.blobs.clear_tmp()?
        } else {
            self.blobs.clear_tmp_older_than(min_age)?
        };
        // Completed uploads are remembered for a day to answer repeated Completes.
        let day_ago = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
            - 86_400_000;
        self.meta.purge_completed_uploads(day_ago).await?;
        let (layouts, parts) = self
            .meta
            .all_blob_references(crate::objects::Layout::BLOBLESS_PREFIX)
            .await?;
        let mut referenced: std::collections::HashSet<String> = parts.into_iter().collect();
        for l in layouts {
            referenced.extend(crate::objects::Layout::blob_ids_in(&l)?);
        }
        let mut orphans = 0usize;
        // The store lists only blobs older than its sweep grace (an hour when it is shared),
        // listed after the references were read: a blob another node committed since is
        // young, and is left alone.
        for id in self.blobs.list_committed().await? {
            if !referenced.contains(id.as_str()) {
                self.blobs.delete(&id).await?;
                orphans += 1;
            }
        }
        if tmp + orphans > 0 {
            tracing::info!(
                temp_files = tmp,
                orphan_blobs = orphans,
                "start-up sweep removed leftovers"
            );
        }
        Ok(())
    }

    /// The parsed configuration of a bucket row (cached per configuration text).
    pub(crate) fn bucket_view(&self, row: &BucketRow) -> Arc<crate::bucket_view::BucketView> {
        self.views.of(row)
    }

    /// Delete blobs of `bucket` that are no longer referenced (something was deleted or
    /// replaced), after a grace period so that readers that resolved the old layout can finish
    /// streaming it. The bucket's quota usage is read again at its next upload.
    pub(crate) fn discard_blobs(&self, bucket: &str, ids: Vec<String>) {
        self.rules.quotas.bucket_changed(bucket);
        if ids.is_empty() {
            return;
        }
        let blobs = self.blobs.clone();
        let grace = self.cfg.gc_grace;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            for id in ids {
                if let Some(id) = BlobId::parse(&id)
                    && let Err(e) = blobs.delete(&id).await
                {
                    tracing::warn!(error = %e, "blob delete failed; the next start-up sweep retries");
                }
            }
        });
    }

    /// Delete a blob now (it was never referenced).
    pub(crate) async fn discard_now(&self, id: &BlobId) {
        if let Err(e) = self.blobs.delete(id).await {
            tracing::warn!(error = %e, "blob delete failed");
        }
    }

    /// Handle one S3 request.
    pub async fn handle(
        &self,
        req: Request<ReqBody>,
        peer: SocketAddr,
        now: i64,
    ) -> Response<RespBody> {
        let request_id = new_request_id();
        let (parts, body) = req.into_parts();
        let is_head = parts.method == http::Method::HEAD;
        let is_options = parts.method == http::Method::OPTIONS;
        let origin = parts.headers.get("origin").cloned();
        // An actual request naming Access-Control-Request-Method is matched on that method,
        // as S3 does (ceph/s3-tests `test_cors_origin_response` pins this).
        let cors_method = parts
            .headers
            .get("access-control-request-method")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| parts.method.as_str().to_owned());
        let mut resource = parts.uri.path().to_owned();
        let mut bucket = None;
        let mut info = crate::RequestInfo::default();
        let result = self
            .handle_inner(
                parts,
                body,
                peer,
                now,
                &request_id,
                &mut Seen {
                    resource: &mut resource,
                    bucket: &mut bucket,
                    info: &mut info,
                },
            )
            .await;
        let mut resp = match result {
            Ok(r) => r,
            Err(e) => error_response(&e, &resource, &request_id, is_head),
        };
        // Actual (non-preflight) browser requests get the matching CORS rule's headers, on
        // errors too, so scripts can read S3's error responses.
        if let (Some(origin), Some(bucket), false) = (origin, bucket, is_options)
            && let Ok(origin) = origin.to_str()
        {
            self.apply_cors(&mut resp, &bucket, origin, &cors_method)
                .await;
        }
        response::set(&mut resp, "x-amz-request-id", &request_id);
        response::set(&mut resp, "x-amz-id-2", &request_id);
        resp.headers_mut()
            .insert("server", http::HeaderValue::from_static("cubby"));
        resp.extensions_mut().insert(info);
        resp
    }

    /// `seen` collects what the error path and the access log need to know.
    async fn handle_inner(
        &self,
        parts: Parts,
        body: ReqBody,
        peer: SocketAddr,
        now: i64,
        request_id: &str,
        seen: &mut Seen<'_>,
    ) -> S3Result<Response<RespBody>> {
        let resource = &mut *seen.resource;
        let bucket_name = &mut *seen.bucket;
        let info = &mut *seen.info;
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()));
        let raw_path = parts.uri.path();
        let (bucket, key) = router::split_target(host, self.cfg.domain.as_deref(), raw_path)?;
        let query = router::parse_query(parts.uri.query().unwrap_or(""));
        let route = router::route(&parts.method, bucket, key, query, &parts.headers)?;
        *resource = route.resource_path();
        bucket_name.clone_from(&route.bucket);
        info.operation = route.op.name();
        if let Some(key) = &route.key {
            validate_key(key)?;
        }

        if route.op == Op::Options {
            return crate::buckets::preflight(self, &route, &parts).await;
        }
        if route.op == Op::PostObject {
            // Form uploads carry their credentials in the form, not in the request head.
            return crate::post_object::post_object(
                self, route, parts, body, peer, now, request_id,
            )
            .await;
        }

        // Authenticate.
        let (caller, signed, verified) = match self.authenticate(&parts, &route, now).await {
            Ok(x) => x,
            Err(e) => {
                info.auth_failure = Some(e.code);
                return Err(e);
            }
        };
        if caller.kind != crate::CallerKind::Anonymous {
            info.principal = Some(caller.arn.clone());
            info.identity_id = self.authority.cognito_identity_id(&caller);
        }
        let mut ctx = Ctx {
            route,
            parts,
            caller,
            signed,
            verified,
            peer,
            now,
            request_id: request_id.to_owned(),
            events: None,
            sse_default: false,
            upload_rules: Arc::default(),
            preloaded: None,
        };

        // Authorize before touching storage or reading the body.
        let bucket_row = match &ctx.route.bucket {
            Some(b) if ctx.route.op != Op::CreateBucket => self.meta.get_bucket(b).await?,
            _ => None,
        };
        // Bucket names are public in S3: a missing bucket is 404 for every caller.
        if ctx.route.bucket.is_some() && ctx.route.op != Op::CreateBucket && bucket_row.is_none() {
            return Err(S3Error::no_such_bucket(ctx.bucket()?));
        }
        // x-amz-expected-bucket-owner (and the copy source's): every bucket here belongs to
        // this account, so another account id is refused as S3 refuses it.
        for h in [
            "x-amz-expected-bucket-owner",
            "x-amz-source-expected-bucket-owner",
        ] {
            if ctx
                .header(h)
                .is_some_and(|v| v.trim() != self.cfg.account_id)
            {
                return Err(S3Error::access_denied());
            }
        }
        if ctx.route.op.reads_existing_object()
            && let (Some(b), Some(k)) = (&ctx.route.bucket, &ctx.route.key)
        {
            ctx.preloaded = Some(self.meta.get_object(b, k).await?);
        }
        let decision = self.authorize_op(&ctx, bucket_row.as_ref()).await;
        info.decision = match &decision {
            Ok(()) => Some(crate::Decision::Allow),
            Err(e) if e.code == "AccessDenied" => Some(crate::Decision::Deny),
            Err(_) => None,
        };
        decision?;
        if matches!(
            ctx.route.op,
            Op::PutObject
                | Op::PostObject
                | Op::CopyObject
                | Op::CompleteMultipartUpload
                | Op::DeleteObject
                | Op::DeleteObjects
        ) {
            ctx.events = bucket_row
                .as_ref()
                .and_then(|b| self.bucket_view(b).events.clone());
        }
        if matches!(
            ctx.route.op,
            Op::PutObject | Op::PostObject | Op::CopyObject | Op::CreateMultipartUpload
        ) {
            ctx.sse_default = bucket_row
                .as_ref()
                .is_some_and(|b| crate::sse::bucket_default(&self.bucket_view(b).config));
        }
        if matches!(
            ctx.route.op,
            Op::PutObject
                | Op::CopyObject
                | Op::CreateMultipartUpload
                | Op::UploadPart
                | Op::UploadPartCopy
                | Op::CompleteMultipartUpload
        ) && let Some(b) = &bucket_row
        {
            ctx.upload_rules = self.bucket_view(b).upload_rules.clone();
        }
        let resp = self.dispatch(&mut ctx, bucket_row, body).await?;
        Ok(resp)
    }

    /// Add CORS headers of the first rule matching this origin and method.
    async fn apply_cors(
        &self,
        resp: &mut Response<RespBody>,
        bucket: &str,
        origin: &str,
        method: &str,
    ) {
        let Ok(Some(row)) = self.meta.get_bucket(bucket).await else {
            return;
        };
        let view = self.bucket_view(&row);
        if let Some(rules) = &view.config.cors
            && let Some(rule) = crate::cors::find_rule(rules, origin, method, &[])
        {
            crate::cors::apply(resp, rule, origin);
        }
    }

    async fn dispatch(
        &self,
        ctx: &mut Ctx,
        bucket: Option<BucketRow>,
        body: ReqBody,
    ) -> S3Result<Response<RespBody>> {
        use Op::*;
        let need = || {
            bucket
                .clone()
                .ok_or_else(|| S3Error::invalid_request("no bucket"))
        };
        if matches!(ctx.route.op, PutObject | CopyObject | CreateMultipartUpload)
            && let Some(b) = &bucket
            && let Some(mut acl) = crate::acl::from_headers(&ctx.parts.headers)?
        {
            self.name_grantees(&mut acl).await?;
            crate::acl::check_request_acl(
                &self.bucket_view(b).config,
                Some(&acl),
                &crate::buckets::owner_id(self),
            )?;
        }
        match ctx.route.op {
            ListBuckets => crate::buckets::list_buckets(self, ctx).await,
            CreateBucket => crate::buckets::create_bucket(self, ctx, body).await,
            DeleteBucket => crate::buckets::delete_bucket(self, ctx).await,
            HeadBucket => Ok(crate::buckets::head_bucket(self, ctx, &need()?)),
            GetBucketLocation => Ok(crate::buckets::location(&need()?)),
            ListObjects | ListObjectsV2 => crate::list::list_objects(self, ctx).await,
            ListObjectVersions => crate::list::list_versions(self, ctx).await,
            ListMultipartUploads => crate::multipart::list_uploads(self, ctx).await,
            DeleteObjects => crate::objects::delete_objects(self, ctx, body).await,
            GetBucketCors
            | PutBucketCors
            | DeleteBucketCors
            | GetPublicAccessBlock
            | PutPublicAccessBlock
            | DeletePublicAccessBlock
            | GetBucketPolicy
            | PutBucketPolicy
            | DeleteBucketPolicy
            | GetBucketPolicyStatus
            | GetBucketVersioning
            | PutBucketVersioning
            | GetBucketTagging
            | PutBucketTagging
            | DeleteBucketTagging
            | GetBucketAcl
            | PutBucketAcl
            | GetBucketOwnershipControls
            | PutBucketOwnershipControls
            | DeleteBucketOwnershipControls
            | GetBucketEncryption
            | PutBucketEncryption
            | DeleteBucketEncryption
            | GetBucketNotificationConfiguration
            | PutBucketNotificationConfiguration
            | GetBucketLifecycleConfiguration
            | PutBucketLifecycleConfiguration
            | DeleteBucketLifecycle => crate::buckets::subresource(self, ctx, need()?, body).await,
            PutObject => crate::objects::put_object(self, ctx, body).await,
            CopyObject => crate::objects::copy_object(self, ctx).await,
            GetObject | HeadObject => crate::objects::get_object(self, ctx).await,
            DeleteObject => crate::objects::delete_object(self, ctx).await,
            GetObjectAttributes => crate::objects::get_attributes(self, ctx).await,
            CreateMultipartUpload => crate::multipart::create(self, ctx).await,
            UploadPart => crate::multipart::upload_part(self, ctx, body).await,
            UploadPartCopy => crate::multipart::upload_part_copy(self, ctx).await,
            CompleteMultipartUpload => crate::multipart::complete(self, ctx, body).await,
            AbortMultipartUpload => crate::multipart::abort(self, ctx).await,
            ListParts => crate::multipart::list_parts(self, ctx).await,
            GetObjectTagging | PutObjectTagging | DeleteObjectTagging | GetObjectAcl
            | PutObjectAcl => crate::objects::object_subresource(self, ctx, body).await,
            PostObject | Options => Err(S3Error::not_implemented("operation")),
        }
    }

    async fn authenticate(
        &self,
        parts: &Parts,
        route: &Route,
        now: i64,
    ) -> S3Result<(Caller, Option<SignedRequest>, Option<sigv4::Verified>)> {
        let Some(signed) = sigv4::parse(parts)? else {
            return Ok((Caller::anonymous(), None, None));
        };
        let _ = route;
        let resolved = self
            .authority
            .resolve(&signed.access_key_id, signed.security_token.as_deref(), now)
            .await?;
        let payload_hash = payload_hash_for_signature(parts, &signed);
        let verified = sigv4::verify(
            &signed,
            parts,
            &resolved.secret,
            &payload_hash,
            now,
            &self.cfg.region,
        )?;
        // A presigned URL never outlives the credentials that signed it.
        if let (Some(exp), Some(_)) = (resolved.caller.expires_at, signed.presigned_expires)
            && now >= exp
        {
            return Err(S3Error::new(
                "ExpiredToken",
                StatusCode::BAD_REQUEST,
                "The provided token has expired.",
            ));
        }
        Ok((resolved.caller, Some(signed), Some(verified)))
    }

    /// Authorize the routed operation (object ops on `bucket/key`, bucket ops on the bucket).
    async fn authorize_op(&self, ctx: &Ctx, bucket: Option<&BucketRow>) -> S3Result<()> {
        let op = ctx.route.op;
        let arn = ctx.route.resource_arn();
        if op == Op::DeleteObjects {
            // Authorized per key, in the handler.
            return Ok(());
        }
        if !self.allowed(ctx, op.action(), &arn, bucket).await? {
            // An object's own ACL may grant the read (public-read objects in private buckets),
            // and a missing key is 404 for callers who may list the bucket, 403 otherwise.
            if matches!(op, Op::GetObject | Op::HeadObject)
                && let (Some(b), Some(k)) = (&ctx.route.bucket, &ctx.route.key)
            {
                match &ctx.preloaded {
                    Some(Some(obj)) => {
                        let stored = crate::objects::StoredHeaders::from_json(&obj.headers);
                        if self
                            .allowed_by_object_acl(ctx, op, &arn, bucket, &stored)
                            .await?
                        {
                            return Ok(());
                        }
                    }
                    _ => {
                        if self.may_learn_missing(ctx, b, k, bucket).await? {
                            return Err(S3Error::no_such_key(k));
                        }
                    }
                }
            }
            // The object's ACL may grant reading or writing that ACL.
            if matches!(op, Op::GetObjectAcl | Op::PutObjectAcl)
                && let Some(Some(obj)) = &ctx.preloaded
            {
                let stored = crate::objects::StoredHeaders::from_json(&obj.headers);
                if self
                    .allowed_by_object_acl(ctx, op, &arn, bucket, &stored)
                    .await?
                {
                    return Ok(());
                }
            }
            return Err(crate::auth::deny());
        }
        Ok(())
    }

    /// Ask again, weighing the object's own ACL (when it has a non-default one).
    async fn allowed_by_object_acl(
        &self,
        ctx: &Ctx,
        op: Op,
        arn: &str,
        bucket: Option<&BucketRow>,
        stored: &crate::objects::StoredHeaders,
    ) -> S3Result<bool> {
        if stored.acl.is_none() && stored.grants.is_none() {
            return Ok(false);
        }
        let acl = crate::acl::ObjectAcl {
            canned: stored.acl.as_deref(),
            grants: stored.grants.as_deref(),
        };
        self.allowed_with_acl(ctx, op.action(), arn, bucket, Some(acl))
            .await
    }

    /// The ACL a PutBucketAcl / PutObjectAcl sets: from its headers or its
    /// `AccessControlPolicy` body (not both; neither means `private`), with every canonical
    /// user it names known, and allowed by the bucket's settings.
    pub(crate) async fn request_acl(
        &self,
        ctx: &Ctx,
        body: &[u8],
        cfg: &crate::config::BucketConfig,
    ) -> S3Result<crate::acl::AclSpec> {
        let owner = crate::buckets::owner_id(self);
        let has_body = body.iter().any(|b| !b.is_ascii_whitespace());
        let mut acl = match (crate::acl::from_headers(&ctx.parts.headers)?, has_body) {
            (Some(_), true) => {
                return Err(S3Error::new(
                    "UnexpectedContent",
                    StatusCode::BAD_REQUEST,
                    "This request does not support content",
                ));
            }
            (Some(acl), false) => acl,
            (None, true) => crate::acl::from_xml(body, &owner)?,
            (None, false) => crate::acl::AclSpec::Canned("private".into()),
        };
        self.name_grantees(&mut acl).await?;
        crate::acl::check_request_acl(cfg, Some(&acl), &owner)?;
        Ok(acl)
    }

    /// Check that every canonical user an ACL names exists, and record their display names.
    pub(crate) async fn name_grantees(&self, acl: &mut crate::acl::AclSpec) -> S3Result<()> {
        let owner = crate::buckets::owner_id(self);
        let mut names = std::collections::HashMap::new();
        for id in acl.user_ids() {
            let name = if id == owner {
                Some("cubby".to_owned())
            } else {
                self.authority.canonical_user(id).await?
            };
            names.insert(id.to_owned(), name);
        }
        acl.name_users(|id| names.get(id).cloned().flatten())
    }

    /// Ask the authority.
    pub(crate) async fn allowed(
        &self,
        ctx: &Ctx,
        action: &str,
        resource: &str,
        bucket: Option<&BucketRow>,
    ) -> S3Result<bool> {
        self.allowed_with_acl(ctx, action, resource, bucket, None)
            .await
    }

    /// Ask the authority, also weighing the bucket's canned ACL and, when given, the object's.
    pub(crate) async fn allowed_with_acl(
        &self,
        ctx: &Ctx,
        action: &str,
        resource: &str,
        bucket: Option<&BucketRow>,
        object_acl: Option<crate::acl::ObjectAcl<'_>>,
    ) -> S3Result<bool> {
        self.decide(ctx, action, resource, bucket, object_acl, None)
            .await
    }

    /// Whether a caller refused a read of the missing object `key` may learn that it is
    /// missing (404, not 403). S3 tells those allowed to list the bucket, judging a policy's
    /// `s3:prefix` condition against the key itself, so a grant to list `public/*` reveals
    /// missing keys there and nowhere else.
    pub(crate) async fn may_learn_missing(
        &self,
        ctx: &Ctx,
        bucket_name: &str,
        key: &str,
        bucket: Option<&BucketRow>,
    ) -> S3Result<bool> {
        let arn = format!("arn:aws:s3:::{bucket_name}");
        self.decide(
            ctx,
            "s3:ListBucket",
            &arn,
            bucket,
            None,
            Some(("s3:prefix", key.to_owned())),
        )
        .await
    }

    /// [`Self::allowed_with_acl`], with one more condition key when given.
    async fn decide(
        &self,
        ctx: &Ctx,
        action: &str,
        resource: &str,
        bucket: Option<&BucketRow>,
        object_acl: Option<crate::acl::ObjectAcl<'_>>,
        extra_key: Option<(&'static str, String)>,
    ) -> S3Result<bool> {
        // Root is refused only by an explicit Deny in a bucket policy (the authority decides).
        if ctx.caller.kind == CallerKind::Root
            && !bucket.is_some_and(|b| b.config.contains("\"policy\":\""))
        {
            return Ok(true);
        }
        let view = bucket.map(|b| self.bucket_view(b));
        let cfg = view.as_ref().map(|v| &v.config);
        let acl_grant = cfg.as_ref().is_some_and(|c| {
            c.ownership.as_deref() != Some("BucketOwnerEnforced")
                && crate::acl::grants(
                    c,
                    object_acl,
                    action,
                    &ctx.caller,
                    &crate::buckets::owner_id(self),
                )
        });
        let tags = existing_tag_keys(ctx);
        let mut keys: Vec<(&str, String)> = self.condition_keys(ctx);
        keys.extend(tags.iter().map(|(k, v)| (k.as_str(), v.clone())));
        keys.extend(extra_key);
        let req = AccessRequest {
            action,
            resource,
            keys: &keys,
            bucket_policy: cfg.as_ref().and_then(|c| c.policy.as_deref()),
            restrict_public: cfg
                .as_ref()
                .and_then(|c| c.public_access_block)
                .is_some_and(|p| p.restrict_public_buckets),
            acl_grant,
            policy_binds_root: cfg.is_some_and(|c| c.policy_binds_root),
        };
        self.authority.authorize(&ctx.caller, &req).await
    }

    fn condition_keys(&self, ctx: &Ctx) -> Vec<(&'static str, String)> {
        let mut keys: Vec<(&'static str, String)> = Vec::with_capacity(12);
        keys.push(("aws:SourceIp", ctx.peer.ip().to_string()));
        keys.push(("aws:SecureTransport", "false".into()));
        keys.push((
            "aws:CurrentTime",
            crate::xml::iso8601(ctx.now_ms()).replace(".000", ""),
        ));
        keys.push(("aws:EpochTime", ctx.now.to_string()));
        if let Some(ua) = ctx.header("user-agent") {
            keys.push(("aws:UserAgent", ua.to_owned()));
        }
        if let Some(r) = ctx.header("referer") {
            keys.push(("aws:Referer", r.to_owned()));
        }
        if let Some(s) = &ctx.signed {
            keys.push(("s3:signatureversion", "AWS4-HMAC-SHA256".into()));
            keys.push((
                "s3:authType",
                if s.presigned_expires.is_some() {
                    "REST-QUERY-STRING".into()
                } else {
                    "REST-HEADER".into()
                },
            ));
            keys.push((
                "s3:signatureAge",
                ((ctx.now - s.timestamp).max(0) * 1000).to_string(),
            ));
        }
        if ctx.route.op == Op::PostObject && ctx.caller.kind != CallerKind::Anonymous {
            keys.push(("s3:authType", "POST".into()));
        }
        if let Some(v) = ctx.header("x-amz-content-sha256") {
            keys.push(("s3:x-amz-content-sha256", v.to_owned()));
        }
        for (h, k) in [
            ("x-amz-acl", "s3:x-amz-acl"),
            (
                "x-amz-server-side-encryption",
                "s3:x-amz-server-side-encryption",
            ),
            ("x-amz-storage-class", "s3:x-amz-storage-class"),
            ("x-amz-copy-source", "s3:x-amz-copy-source"),
            ("x-amz-metadata-directive", "s3:x-amz-metadata-directive"),
        ] {
            if let Some(v) = ctx.header(h) {
                keys.push((k, v.to_owned()));
            }
        }
        if matches!(
            ctx.route.op,
            Op::ListObjects | Op::ListObjectsV2 | Op::ListObjectVersions
        ) {
            keys.push(("s3:prefix", ctx.route.q("prefix").unwrap_or("").to_owned()));
            if let Some(d) = ctx.route.q("delimiter") {
                keys.push(("s3:delimiter", d.to_owned()));
            }
            if let Some(m) = ctx.route.q("max-keys") {
                keys.push(("s3:max-keys", m.to_owned()));
            }
        }
        keys
    }

    /// Build the ingest plan for a request body (PutObject, UploadPart).
    pub(crate) fn ingest_plan(&self, ctx: &mut Ctx) -> S3Result<crate::body::IngestPlan> {
        let headers = &ctx.parts.headers;
        let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let content_length = match h("content-length") {
            Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                S3Error::new(
                    "BadRequest",
                    StatusCode::BAD_REQUEST,
                    "An error occurred when parsing the HTTP request: invalid Content-Length.",
                )
            })?),
            None => None,
        };
        let is_chunked_encoding = h("content-encoding").is_some_and(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("aws-chunked"))
        });
        let mode = ctx.signed.as_ref().map(|s| &s.payload);
        let decoded_len = h("x-amz-decoded-content-length")
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| S3Error::invalid_argument("Invalid x-amz-decoded-content-length"))
            })
            .transpose()?;
        let payload = match mode {
            Some(PayloadMode::Sha256(h)) => Payload::Sha256(*h),
            Some(PayloadMode::StreamingSigned) | Some(PayloadMode::StreamingSignedTrailer) => {
                let v = ctx
                    .verified
                    .as_ref()
                    .ok_or_else(|| S3Error::internal("streaming without verification"))?;
                let s = ctx
                    .signed
                    .as_ref()
                    .ok_or_else(|| S3Error::internal("streaming without signature"))?;
                Payload::Chunked(Box::new(ChunkedDecoder::signed(
                    v.signing_key,
                    v.seed_signature.clone(),
                    s.amz_date.clone(),
                    v.scope.clone(),
                    matches!(mode, Some(PayloadMode::StreamingSignedTrailer)),
                )))
            }
            Some(PayloadMode::StreamingUnsignedTrailer) => {
                Payload::Chunked(Box::new(ChunkedDecoder::unsigned(true)))
            }
            _ if is_chunked_encoding => Payload::Chunked(Box::new(ChunkedDecoder::unsigned(
                h("x-amz-trailer").is_some(),
            ))),
            _ => Payload::Unsigned,
        };
        let declared_len = match &payload {
            Payload::Chunked(_) => decoded_len,
            _ => content_length,
        };
        let content_md5 = match h("content-md5") {
            Some(v) => {
                use base64::Engine as _;
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .map_err(|_| S3Error::invalid_digest())?;
                Some(<[u8; 16]>::try_from(raw.as_slice()).map_err(|_| S3Error::invalid_digest())?)
            }
            None => None,
        };
        // A presigned URL may carry the checksum in its query (the JS SDK bakes one in); it is
        // enforced exactly like the header, as S3 does.
        let presigned_query = ctx
            .signed
            .as_ref()
            .filter(|s| s.presigned_expires.is_some())
            .map(|_| ctx.route.query.as_slice());
        let checksum = requested_checksum(headers, presigned_query)?;
        let trailer_required = matches!(&checksum, Some((a, None)) if h("x-amz-trailer").is_some_and(|t| t.trim().eq_ignore_ascii_case(a.header())));
        Ok(crate::body::IngestPlan {
            payload,
            declared_len,
            max_len: self.cfg.max_object_size,
            content_md5,
            checksum,
            trailer_required,
            seal: crate::sse::Seal::Plain,
            sniff: None,
            limit_rule: None,
            inline: false,
        })
    }
}

/// `s3:ExistingObjectTag/<key>` condition keys from the tags of the object read before
/// authorization (only operations S3 evaluates them for read it).
fn existing_tag_keys(ctx: &Ctx) -> Vec<(String, String)> {
    match &ctx.preloaded {
        // Tags are stored as `"tags":[["k","v"],…]`: skip the parse when there are none.
        Some(Some(obj)) if obj.headers.contains("\"tags\":[[") => {
            crate::objects::StoredHeaders::from_json(&obj.headers)
                .tags
                .into_iter()
                .map(|(k, v)| (format!("s3:ExistingObjectTag/{k}"), v))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Which flexible checksum the request asks for, and the header value to verify.
pub(crate) fn requested_checksum(
    headers: &http::HeaderMap,
    query: Option<&[(String, String)]>,
) -> S3Result<Option<(crate::checksum::Algo, Option<Vec<u8>>)>> {
    use crate::checksum::{Algo, decode};
    let h = |n: &str| {
        headers.get(n).and_then(|v| v.to_str().ok()).or_else(|| {
            query.and_then(|q| {
                q.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(n))
                    .map(|(_, v)| v.as_str())
            })
        })
    };
    let mut found: Option<(Algo, Option<Vec<u8>>)> = None;
    for algo in Algo::ALL {
        if let Some(v) = h(algo.header()) {
            if found.is_some() {
                return Err(S3Error::invalid_request(
                    "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
                ));
            }
            let raw = decode(algo, v).ok_or_else(|| crate::body::invalid_checksum(algo))?;
            found = Some((algo, Some(raw)));
        }
    }
    if found.is_some() {
        return Ok(found);
    }
    if let Some(t) = h("x-amz-trailer") {
        let t = t.trim().to_ascii_lowercase();
        if let Some(algo) = Algo::ALL.into_iter().find(|a| a.header() == t) {
            return Ok(Some((algo, None)));
        }
    }
    if let Some(a) = h("x-amz-sdk-checksum-algorithm").or_else(|| h("x-amz-checksum-algorithm")) {
        let algo = Algo::parse(a).ok_or_else(|| {
            S3Error::invalid_request("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
        })?;
        return Ok(Some((algo, None)));
    }
    Ok(None)
}

/// The payload hash string that goes into the canonical request.
fn payload_hash_for_signature(parts: &Parts, signed: &SignedRequest) -> String {
    if signed.presigned_expires.is_some() {
        return router::parse_query(parts.uri.query().unwrap_or(""))
            .into_iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("X-Amz-Content-Sha256"))
            .map(|(_, v)| v)
            .unwrap_or_else(|| "UNSIGNED-PAYLOAD".into());
    }
    parts
        .headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("UNSIGNED-PAYLOAD")
        .to_owned()
}

/// Keys: ≤ 1024 bytes UTF-8, no C1 control characters (S3 rejects them).
pub(crate) fn validate_key(key: &str) -> S3Result<()> {
    if key.len() > 1024 {
        return Err(S3Error::new(
            "KeyTooLongError",
            StatusCode::BAD_REQUEST,
            "Your key is too long",
        ));
    }
    if key.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)) {
        return Err(S3Error::new(
            "InvalidURI",
            StatusCode::BAD_REQUEST,
            "Couldn't parse the specified URI.",
        ));
    }
    Ok(())
}

/// 16 upper-case hex characters, like S3's request ids.
pub(crate) fn new_request_id() -> String {
    let n: u64 = rand::random();
    format!("{n:016X}")
}

/// Render an error (HEAD responses carry no body).
pub(crate) fn error_response(
    e: &S3Error,
    resource: &str,
    request_id: &str,
    is_head: bool,
) -> Response<RespBody> {
    let mut r = if is_head {
        response::status(e.status)
    } else {
        response::xml_status(e.status, e.to_xml(resource, request_id))
    };
    for (k, v) in &e.headers {
        response::set(&mut r, k, v);
    }
    r
}

/// Compile-time check: the request future must be Send (hyper runs it on any worker thread).
#[allow(dead_code)]
fn assert_handle_is_send(svc: &S3Service, req: Request<ReqBody>, peer: SocketAddr) {
    fn is_send<T: Send>(_: T) {}
    is_send(svc.handle(req, peer, 0));
}

/// What [`S3Service::handle_inner`] learns on the way, for error rendering (resource, bucket
/// for CORS headers) and the access log.
struct Seen<'a> {
    resource: &'a mut String,
    bucket: &'a mut Option<String>,
    info: &'a mut crate::RequestInfo,
}
