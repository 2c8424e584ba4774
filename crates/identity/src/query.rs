//! The query protocol (form-encoded `Action=…&Version=…`, XML responses) shared by IAM and
//! STS, and SigV4 authentication of the non-S3 APIs.

use crate::Identity;
use crate::authority::{KeyError, Who, who_of};
use crate::xml::{Xml, escape_into};
use bytes::Bytes;
use cubby_auth::AuthError;
use http::request::Parts;
use http::{Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;

/// IAM's XML namespace.
pub(crate) const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
/// STS's XML namespace.
pub(crate) const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Which query API a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryService {
    /// `Version=2011-06-15`.
    Sts,
    /// `Version=2010-05-08`.
    Iam,
}

/// Classify merged query/form parameters: `Some` when they name an `Action` of STS or IAM.
pub fn query_service(params: &[(String, String)]) -> Option<QueryService> {
    let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    get("Action")?;
    match get("Version")? {
        "2011-06-15" => Some(QueryService::Sts),
        "2010-05-08" => Some(QueryService::Iam),
        _ => None,
    }
}

/// Decoded request parameters.
pub(crate) struct Params(pub Vec<(String, String)>);

impl Params {
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A required parameter.
    pub(crate) fn req(&self, name: &str) -> Result<&str, ApiError> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::validation(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_first(name)
            ))),
        }
    }

    /// An integer parameter.
    pub(crate) fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                ApiError::validation(format!("Invalid value for parameter {name}: {v}"))
            }),
        }
    }

    /// `prefix.member.N` values in N order.
    pub(crate) fn list(&self, prefix: &str) -> Vec<String> {
        let head = format!("{prefix}.member.");
        let mut v: Vec<(u32, String)> = self
            .0
            .iter()
            .filter_map(|(k, val)| {
                let n = k.strip_prefix(&head)?;
                if n.contains('.') {
                    return None;
                }
                Some((n.parse().ok()?, val.clone()))
            })
            .collect();
        v.sort_by_key(|(n, _)| *n);
        v.into_iter().map(|(_, s)| s).collect()
    }

    /// `prefix.member.N.Key` / `.Value` pairs in N order.
    pub(crate) fn tags(&self, prefix: &str) -> Vec<(String, String)> {
        let head = format!("{prefix}.member.");
        let mut v: Vec<(u32, String, String)> = Vec::new();
        for (k, val) in &self.0 {
            let Some(rest) = k.strip_prefix(&head) else {
                continue;
            };
            let Some((n, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else { continue };
            let i = match v.iter().position(|(m, _, _)| *m == n) {
                Some(i) => i,
                None => {
                    v.push((n, String::new(), String::new()));
                    v.len() - 1
                }
            };
            if let Some(e) = v.get_mut(i) {
                match field {
                    "Key" => e.1.clone_from(val),
                    "Value" => e.2.clone_from(val),
                    _ => {}
                }
            }
        }
        v.sort_by_key(|(n, _, _)| *n);
        v.into_iter().map(|(_, k, val)| (k, val)).collect()
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// A query-protocol error.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub code: String,
    pub message: String,
    pub status: StatusCode,
    /// `Sender` (client fault) or `Receiver`.
    pub sender: bool,
}

impl ApiError {
    pub(crate) fn new(code: &str, status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            code: code.to_owned(),
            message: message.into(),
            status,
            sender: status.as_u16() < 500,
        }
    }
    pub(crate) fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationError", StatusCode::BAD_REQUEST, message)
    }
    pub(crate) fn access_denied(message: impl Into<String>) -> Self {
        Self::new("AccessDenied", StatusCode::FORBIDDEN, message)
    }
    pub(crate) fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(%detail, "internal error");
        Self::new(
            "InternalFailure",
            StatusCode::INTERNAL_SERVER_ERROR,
            "The request processing has failed because of an unknown error, exception or failure.",
        )
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::internal(e)
    }
}

/// A failure authenticating a signed request of a non-S3 API.
#[derive(Debug)]
pub(crate) enum AuthFailure {
    /// No credentials at all.
    Missing,
    /// Unknown or inactive key.
    UnknownKey,
    /// Invalid session token.
    InvalidToken,
    /// Expired session token.
    Expired,
    /// Wrong signature.
    Signature,
    /// Malformed authorization / wrong scope / skew.
    Malformed(String),
    /// Internal error.
    Internal(String),
}

impl From<KeyError> for AuthFailure {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Unknown => AuthFailure::UnknownKey,
            KeyError::InvalidToken => AuthFailure::InvalidToken,
            KeyError::Expired => AuthFailure::Expired,
            KeyError::Store(e) => AuthFailure::Internal(e.to_string()),
        }
    }
}

impl From<AuthError> for AuthFailure {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::SignatureDoesNotMatch(_) => AuthFailure::Signature,
            AuthError::InvalidToken => AuthFailure::InvalidToken,
            AuthError::ExpiredToken => AuthFailure::Expired,
            AuthError::RequestTimeTooSkewed { .. } => AuthFailure::Malformed(
                "Signature expired: the request time is too far from the server time (15 minutes allowed).".into(),
            ),
            other => AuthFailure::Malformed(other.message()),
        }
    }
}

impl AuthFailure {
    /// The query-protocol (IAM/STS) error for this failure.
    pub(crate) fn to_query_error(&self) -> ApiError {
        match self {
            AuthFailure::Missing => ApiError::new(
                "MissingAuthenticationToken",
                StatusCode::FORBIDDEN,
                "Request is missing Authentication Token",
            ),
            AuthFailure::UnknownKey | AuthFailure::InvalidToken => ApiError::new(
                "InvalidClientTokenId",
                StatusCode::FORBIDDEN,
                "The security token included in the request is invalid.",
            ),
            AuthFailure::Expired => ApiError::new(
                "ExpiredToken",
                StatusCode::BAD_REQUEST,
                "The security token included in the request is expired",
            ),
            AuthFailure::Signature => ApiError::new(
                "SignatureDoesNotMatch",
                StatusCode::FORBIDDEN,
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            ),
            AuthFailure::Malformed(m) => {
                ApiError::new("IncompleteSignature", StatusCode::BAD_REQUEST, m.clone())
            }
            AuthFailure::Internal(d) => ApiError::internal(d),
        }
    }
}

impl Identity {
    /// Authenticate a SigV4-signed request of a non-S3 API (scope service `service`).
    /// `Ok(None)`: the request carries no signature.
    pub(crate) async fn authenticate(
        &self,
        parts: &Parts,
        body: &[u8],
        service: &str,
        now: i64,
    ) -> Result<Option<Arc<Who>>, AuthFailure> {
        let Some(signed) = cubby_auth::sigv4::parse(parts)? else {
            return Ok(None);
        };
        if signed.service != service {
            return Err(AuthFailure::Malformed(format!(
                "Credential should be scoped to correct service: '{service}'."
            )));
        }
        // IAM is a global service signed for us-east-1; accept the configured region too.
        if signed.region != self.cfg.region && signed.region != "us-east-1" {
            return Err(AuthFailure::Malformed(format!(
                "Credential should be scoped to a valid region, not '{}'.",
                signed.region
            )));
        }
        let (secret, caller) = self
            .resolve_key(&signed.access_key_id, signed.security_token.as_deref(), now)
            .await?;
        // Non-S3 services sign the body's hash, presigned URLs included (no UNSIGNED-PAYLOAD
        // default as in S3), unless the client stated the hash itself.
        let hash = match &signed.content_sha256 {
            Some(h) => h.clone(),
            None => hex::encode(crate::util::sha256(body)),
        };
        let region = signed.region.clone();
        cubby_auth::sigv4::verify(&signed, parts, &secret, &hash, now, &region)?;
        who_of(&caller)
            .map(Some)
            .ok_or_else(|| AuthFailure::Internal("caller without principal".into()))
    }

    /// Handle one IAM or STS query-protocol request. `params` are the merged query-string and
    /// form parameters; `body` the raw form body (its hash is signed).
    pub async fn query_api(
        &self,
        parts: &Parts,
        params: Vec<(String, String)>,
        body: &[u8],
        peer: SocketAddr,
        now: i64,
    ) -> Response<Bytes> {
        let request_id = crate::util::uuid();
        let Some(service) = query_service(&params) else {
            return render_error(
                IAM_NS,
                &ApiError::new(
                    "InvalidAction",
                    StatusCode::BAD_REQUEST,
                    "Could not find operation",
                ),
                &request_id,
            );
        };
        let params = Params(params);
        let action = params.get("Action").unwrap_or_default().to_owned();
        let (ns, result) = match service {
            QueryService::Sts => (
                STS_NS,
                crate::sts::handle(self, parts, &action, &params, body, peer, now).await,
            ),
            QueryService::Iam => (
                IAM_NS,
                crate::iam::handle(self, parts, &action, &params, body, peer, now).await,
            ),
        };
        match result {
            Ok(inner) => render_ok(ns, &action, inner.as_ref(), &request_id),
            Err(e) => render_error(ns, &e, &request_id),
        }
    }
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/xml"),
    );
    if let Ok(v) = http::HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    r
}

/// `<ActionResponse xmlns><ActionResult>inner</ActionResult><ResponseMetadata>…`.
pub(crate) fn render_ok(
    ns: &str,
    action: &str,
    inner: Option<&Xml>,
    request_id: &str,
) -> Response<Bytes> {
    let mut s = String::with_capacity(256 + inner.map_or(0, |x| x.0.len()));
    s.push_str(&format!("<{action}Response xmlns=\"{ns}\">"));
    if let Some(x) = inner {
        s.push_str(&format!("<{action}Result>"));
        s.push_str(&x.0);
        s.push_str(&format!("</{action}Result>"));
    }
    s.push_str("<ResponseMetadata><RequestId>");
    s.push_str(request_id);
    s.push_str(&format!(
        "</RequestId></ResponseMetadata></{action}Response>"
    ));
    xml_response(StatusCode::OK, s, request_id)
}

/// `<ErrorResponse xmlns><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`.
pub(crate) fn render_error(ns: &str, e: &ApiError, request_id: &str) -> Response<Bytes> {
    let mut s = format!("<ErrorResponse xmlns=\"{ns}\"><Error><Type>");
    s.push_str(if e.sender { "Sender" } else { "Receiver" });
    s.push_str("</Type><Code>");
    escape_into(&mut s, &e.code);
    s.push_str("</Code><Message>");
    escape_into(&mut s, &e.message);
    s.push_str("</Message></Error><RequestId>");
    s.push_str(request_id);
    s.push_str("</RequestId></ErrorResponse>");
    xml_response(e.status, s, request_id)
}

/// Parse a form-encoded body / query string into pairs.
pub fn parse_form(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw).into_owned().collect()
}

/// A query-protocol error answer for a request that could not be read (e.g. body too large).
pub fn query_error_response(code: &str, message: &str, status: StatusCode) -> Response<Bytes> {
    render_error(
        IAM_NS,
        &ApiError::new(code, status, message),
        &crate::util::uuid(),
    )
}
