//! Canonical request and string to sign (SigV4 tasks 1 and 2).

use http::HeaderMap;

use super::ALGORITHM;
use crate::crypto::hex32;
use crate::encoding::{canonical_query, canonical_uri_normalized, canonical_uri_s3};
use sha2::{Digest, Sha256};

/// What the canonical request is computed from, independent of where the
/// request came from (a parsed server request or the client-side signer).
pub(crate) struct CanonicalInput<'a> {
    pub method: &'a str,
    /// Raw path as sent (still percent-encoded).
    pub path: &'a str,
    /// Raw query as sent, without `?`.
    pub query: &'a str,
    pub service: &'a str,
    pub presigned: bool,
    pub headers: &'a HeaderMap,
    /// Used for `host` when the request has no Host header (HTTP/2).
    pub authority: Option<&'a str>,
    pub payload_hash: &'a str,
}

/// Sorted, de-duplicated signed header names: SigV4 requires sorted order in both the
/// canonical headers and the signed-headers line. The names are lower-case already (the
/// parser lower-cases them; `HeaderMap` keys are lower-case), so they are borrowed.
pub(crate) fn normalize_signed_headers<S: AsRef<str>>(names: &[S]) -> Vec<&str> {
    let mut v: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Append a header value trimmed, with inner whitespace runs collapsed to a
/// single space (what botocore's `' '.join(v.split())` and the JS SDK do).
fn push_trimmed(out: &mut Vec<u8>, value: &[u8]) {
    // Most values are already canonical: no space or control byte at all (the session token,
    // dates, hashes). One pass that compiles to vector compares settles those; anything with
    // a space goes the careful way.
    // (A fold, not `any`: a loop without an early exit is what the compiler vectorizes.)
    if !value.iter().fold(false, |seen, &b| seen | (b <= b' ')) {
        out.extend_from_slice(value);
        return;
    }
    let mut pending_space = false;
    let mut any = false;
    for &b in value {
        if b.is_ascii_whitespace() {
            pending_space = any;
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(b);
            any = true;
        }
    }
}

/// Build the canonical request bytes. Header values may be arbitrary bytes
/// (non-ASCII metadata), so this works on bytes, not `str`.
pub(crate) fn canonical_request(input: &CanonicalInput<'_>, signed: &[&str]) -> Vec<u8> {
    // Room for the signed headers too (a session token alone is over 1 KB): growing into
    // them cost three reallocations per request. One 2 KB allocation costs what a small one
    // does.
    let mut out = Vec::with_capacity(2048 + input.path.len() + input.query.len());
    out.extend_from_slice(input.method.as_bytes());
    out.push(b'\n');
    if input.service == "s3" {
        canonical_uri_s3(input.path, &mut out);
    } else {
        canonical_uri_normalized(input.path, &mut out);
    }
    out.push(b'\n');
    let skip = input.presigned.then_some("X-Amz-Signature");
    canonical_query(input.query, skip, &mut out);
    out.push(b'\n');
    for name in signed {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut first = true;
        for v in input.headers.get_all(*name) {
            if !first {
                out.push(b',');
            }
            first = false;
            push_trimmed(&mut out, v.as_bytes());
        }
        if first
            && *name == "host"
            && let Some(a) = input.authority
        {
            out.extend_from_slice(a.as_bytes());
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    for (i, name) in signed.iter().enumerate() {
        if i > 0 {
            out.push(b';');
        }
        out.extend_from_slice(name.as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(input.payload_hash.as_bytes());
    out
}

/// The string to sign for a canonical request.
pub(crate) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    let mut sts = String::with_capacity(ALGORITHM.len() + amz_date.len() + scope.len() + 67);
    sts.push_str(ALGORITHM);
    sts.push('\n');
    sts.push_str(amz_date);
    sts.push('\n');
    sts.push_str(scope);
    sts.push('\n');
    sts.push_str(&hex32(&Sha256::digest(canonical_request).into()));
    sts
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_collapses() {
        let mut v = Vec::new();
        push_trimmed(&mut v, b"  a   b\t\tc  ");
        assert_eq!(v, b"a b c");
        v.clear();
        push_trimmed(&mut v, b"   ");
        assert_eq!(v, b"");
        for (raw, want) in [
            (&b"already canonical"[..], &b"already canonical"[..]),
            (b"tab	here", b"tab here"),
            (b"two  spaces", b"two spaces"),
            (b" lead", b"lead"),
            (b"trail ", b"trail"),
            (b"", b""),
            // Not ASCII whitespace: kept as sent, as the SDKs do.
            (b"v\x0bt", b"v\x0bt"),
            (b"caf\xc3\xa9", b"caf\xc3\xa9"),
            (b"a\r\nb", b"a b"),
        ] {
            v.clear();
            push_trimmed(&mut v, raw);
            assert_eq!(v, want);
        }
    }
}
