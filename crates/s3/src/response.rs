//! Response builders.

use crate::body::{RespBody, empty, full};
use http::{HeaderValue, Response, StatusCode};

/// 200 with an XML body.
pub(crate) fn xml(body: String) -> Response<RespBody> {
    xml_status(StatusCode::OK, body)
}

/// An XML body with a status.
pub(crate) fn xml_status(status: StatusCode, body: String) -> Response<RespBody> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    r
}

/// An empty response with a status.
pub(crate) fn status(status: StatusCode) -> Response<RespBody> {
    let mut r = Response::new(empty());
    *r.status_mut() = status;
    r
}

/// Set a header from a string, skipping values that are not valid header text.
pub(crate) fn set(r: &mut Response<RespBody>, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// Set a header from bytes (user metadata may be non-ASCII UTF-8 and must come back as sent).
pub(crate) fn set_bytes(r: &mut Response<RespBody>, name: &str, value: &[u8]) {
    if let (Ok(n), Ok(v)) = (
        http::header::HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_bytes(value),
    ) {
        r.headers_mut().insert(n, v);
    }
}
