//! URI encoding for canonical requests (RFC 3986 "unreserved" kept, every
//! other byte `%XX` upper-case), and query-string splitting.

use std::borrow::Cow;

/// True for RFC 3986 unreserved bytes, the only ones SigV4 leaves bare.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

fn hex_upper(n: u8) -> u8 {
    let n = n & 0x0f;
    if n < 10 { b'0' + n } else { b'A' + n - 10 }
}

/// Append `bytes` URI-encoded (unreserved kept; `/` kept when `keep_slash`).
pub fn encode_into(out: &mut Vec<u8>, bytes: &[u8], keep_slash: bool) {
    for &b in bytes {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', hex_upper(b >> 4), hex_upper(b)]);
        }
    }
}

/// Percent-decode once. Invalid escapes stay literal (then get re-encoded as
/// `%25..`), matching how S3 treats them instead of failing the request.
pub fn decode(bytes: &[u8]) -> Cow<'_, [u8]> {
    percent_encoding::percent_decode(bytes).into()
}

/// S3's canonical URI: the path as sent, each `/`-separated segment decoded
/// once and re-encoded strictly. S3 keys are opaque, so S3 does not
/// normalise `.`/`..` nor collapse `//`, and does not double-encode.
pub fn canonical_uri_s3(path: &str, out: &mut Vec<u8>) {
    if path.is_empty() {
        out.push(b'/');
        return;
    }
    for (i, seg) in path.as_bytes().split(|&b| b == b'/').enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        encode_into(out, &decode(seg), false);
    }
}

/// Standard SigV4 canonical URI (STS, IAM, Cognito): remove empty, `.` and
/// `..` segments, then encode the (already encoded) path once more, exactly
/// as botocore and the JS SDK do for non-S3 services.
pub fn canonical_uri_normalized(path: &str, out: &mut Vec<u8>) {
    let mut segs: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segs.pop();
            }
            s => segs.push(s),
        }
    }
    out.push(b'/');
    for (i, seg) in segs.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        encode_into(out, seg.as_bytes(), false);
    }
    if !segs.is_empty() && path.ends_with('/') {
        out.push(b'/');
    }
}

/// One query parameter, raw (still percent-encoded) as it appeared.
#[derive(Debug, Clone, Copy)]
pub struct RawParam<'a> {
    /// Name before decoding.
    pub name: &'a [u8],
    /// Value before decoding (empty when the parameter had no `=`).
    pub value: &'a [u8],
}

/// Split a raw query string into parameters; empty pieces (`a&&b`) are
/// skipped, a parameter without `=` has an empty value.
pub fn split_query(raw: &str) -> impl Iterator<Item = RawParam<'_>> {
    raw.as_bytes()
        .split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|&b| b == b'=') {
            Some(i) => RawParam {
                name: p.get(..i).unwrap_or_default(),
                value: p.get(i + 1..).unwrap_or_default(),
            },
            None => RawParam {
                name: p,
                value: &[],
            },
        })
}

/// The canonical query string: each parameter decoded and re-encoded
/// strictly, sorted by encoded name then value; `skip` names (decoded) are
/// left out (the presigned `X-Amz-Signature`).
pub fn canonical_query(raw: &str, skip: Option<&str>, out: &mut Vec<u8>) {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for p in split_query(raw) {
        let name = decode(p.name);
        if skip.is_some_and(|s| s.as_bytes() == &*name) {
            continue;
        }
        let mut n = Vec::with_capacity(name.len());
        encode_into(&mut n, &name, false);
        let mut v = Vec::with_capacity(p.value.len());
        encode_into(&mut v, &decode(p.value), false);
        pairs.push((n, v));
    }
    pairs.sort_unstable();
    for (i, (n, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(n);
        out.push(b'=');
        out.extend_from_slice(v);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn s3(p: &str) -> String {
        let mut v = Vec::new();
        canonical_uri_s3(p, &mut v);
        String::from_utf8(v).unwrap()
    }

    fn norm(p: &str) -> String {
        let mut v = Vec::new();
        canonical_uri_normalized(p, &mut v);
        String::from_utf8(v).unwrap()
    }

    fn query(q: &str) -> String {
        let mut v = Vec::new();
        canonical_query(q, Some("X-Amz-Signature"), &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn s3_uri() {
        assert_eq!(s3(""), "/");
        assert_eq!(s3("/"), "/");
        assert_eq!(
            s3("/bucket/us-east-1%3Aabc/file.txt"),
            "/bucket/us-east-1%3Aabc/file.txt"
        );
        assert_eq!(s3("/b/us-east-1:abc"), "/b/us-east-1%3Aabc");
        assert_eq!(s3("/b/a+b c"), "/b/a%2Bb%20c");
        assert_eq!(s3("/b/a%2Bb%20c"), "/b/a%2Bb%20c");
        assert_eq!(s3("/b//x/./../y/"), "/b//x/./../y/");
        assert_eq!(s3("/b/a%2Fb"), "/b/a%2Fb");
        assert_eq!(s3("/b/%zz%"), "/b/%25zz%25");
        assert_eq!(s3("/b/%c3%a9"), "/b/%C3%A9");
        assert_eq!(s3("/b/~tilde"), "/b/~tilde");
    }

    #[test]
    fn normalized_uri() {
        assert_eq!(norm(""), "/");
        assert_eq!(norm("/"), "/");
        assert_eq!(norm("//a/./b/../c/"), "/a/c/");
        assert_eq!(norm("/a%20b"), "/a%2520b");
        assert_eq!(norm("/.."), "/");
    }

    #[test]
    fn query_canonical() {
        assert_eq!(query(""), "");
        assert_eq!(query("b=2&a=1&a=0"), "a=0&a=1&b=2");
        assert_eq!(query("uploads"), "uploads=");
        assert_eq!(query("prefix=a%20b&x=a+b"), "prefix=a%20b&x=a%2Bb");
        assert_eq!(query("X-Amz-Signature=abc&k=%7e"), "k=~");
        assert_eq!(query("a&&b="), "a=&b=");
        assert_eq!(query("k=a%2fb"), "k=a%2Fb");
    }
}
