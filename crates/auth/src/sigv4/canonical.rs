//! Canonical request and string to sign (SigV4 tasks 1 and 2).

use http::HeaderMap;

use super::ALGORITHM;
use crate::crypto::sha256_hex;
use crate::encoding::{canonical_query, canonical_uri_normalized, canonical_uri_s3};

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

/// Sorted, de-duplicated, lower-cased signed header names: SigV4 requires
/// sorted order in both the canonical headers and the signed-headers line.
pub(crate) fn normalize_signed_headers<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    let mut v: Vec<String> = names
        .iter()
        .map(|s| s.as_ref().to_ascii_lowercase())
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Append a header value trimmed, with inner whitespace runs collapsed to a
/// single space (what botocore's `' '.join(v.split())` and the JS SDK do).
fn push_trimmed(out: &mut Vec<u8>, value: &[u8]) {
    // Most values are already canonical (no outer spaces, no runs, no tabs): copy them whole.
    let canonical = value.first().is_none_or(|b| *b != b' ')
        && value.last().is_none_or(|b| *b != b' ')
        && !value.iter().any(|b| b.is_ascii_whitespace() && *b != b' ')
        && !value.windows(2).any(|w| w == b"  ");
    if canonical {
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
pub(crate) fn canonical_request(input: &CanonicalInput<'_>, signed: &[String]) -> Vec<u8> {
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
        for v in input.headers.get_all(name.as_str()) {
            if !first {
                out.push(b',');
            }
            first = false;
            push_trimmed(&mut out, v.as_bytes());
        }
        if first
            && name == "host"
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
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request)
    )
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
        ] {
            v.clear();
            push_trimmed(&mut v, raw);
            assert_eq!(v, want);
        }
    }
}
