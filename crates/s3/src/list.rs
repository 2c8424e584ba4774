//! Listings: ListObjects (V1, V2) and ListObjectVersions, with prefixes, delimiters, markers,
//! continuation tokens and URL encoding, in S3's byte order.

use crate::body::RespBody;
use crate::response::xml;
use crate::router::Op;
use crate::service::{Ctx, S3Service};
use crate::xml::{elem, end, iso8601, start};
use crate::{S3Error, S3Result};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use cubby_meta::ListedObject;
use http::Response;

/// One entry of a listing page.
pub(crate) enum Entry {
    Object(ListedObject),
    Prefix(String),
}

/// The smallest byte string greater than every string starting with `p` (None: no bound).
pub(crate) fn prefix_end(p: &[u8]) -> Option<Vec<u8>> {
    let mut v = p.to_vec();
    while let Some(last) = v.pop() {
        if last < 0xFF {
            v.push(last + 1);
            return Some(v);
        }
    }
    None
}

/// Rows per query after the walk has jumped past a common prefix (see [`collect`]).
const JUMP_BATCH: usize = 32;

/// A page of a listing: entries (objects and common prefixes), and whether more follow.
pub(crate) struct Page {
    pub entries: Vec<Entry>,
    pub truncated: bool,
}

/// Walk the bucket from `from` (inclusive), grouping by delimiter, up to `max` entries.
pub(crate) async fn collect(
    svc: &S3Service,
    bucket: &str,
    prefix: &str,
    delimiter: &str,
    mut from: Vec<u8>,
    max: usize,
) -> S3Result<Page> {
    let upper = prefix_end(prefix.as_bytes());
    if from.as_slice() < prefix.as_bytes() {
        from = prefix.as_bytes().to_vec();
    }
    let mut entries = Vec::new();
    // Rows asked for per query. After a common prefix the walk jumps past it and usually
    // needs only the next few keys (the next folder's first), so the next query asks for
    // few rows instead of reading a thousand to keep one; a run of plain objects doubles
    // it back.
    let mut want = (max + 1).min(1000);
    loop {
        let batch = svc
            .meta
            .list_objects(bucket, &from, upper.as_deref(), None, want as i64)
            .await?;
        if batch.is_empty() {
            return Ok(Page {
                entries,
                truncated: false,
            });
        }
        let mut jumped = false;
        let n = batch.len();
        for (i, obj) in batch.into_iter().enumerate() {
            let rest = obj.key.get(prefix.len()..).unwrap_or("");
            let cp = (!delimiter.is_empty())
                .then(|| rest.find(delimiter))
                .flatten()
                .map(|idx| format!("{prefix}{}", &rest[..idx + delimiter.len()]));
            if entries.len() == max {
                return Ok(Page {
                    entries,
                    truncated: true,
                });
            }
            match cp {
                Some(cp) => {
                    let next = prefix_end(cp.as_bytes());
                    entries.push(Entry::Prefix(cp));
                    match next {
                        Some(next) => {
                            from = next;
                            jumped = true;
                            want = want.min(JUMP_BATCH);
                            break;
                        }
                        None => {
                            return Ok(Page {
                                entries,
                                truncated: false,
                            });
                        }
                    }
                }
                None => {
                    if i + 1 == n {
                        let mut k = obj.key.clone().into_bytes();
                        k.push(0);
                        from = k;
                    }
                    entries.push(Entry::Object(obj));
                }
            }
        }
        if !jumped && n < want {
            // Fewer rows than asked for: the range is exhausted.
            return Ok(Page {
                entries,
                truncated: false,
            });
        }
        if !jumped {
            // A run of plain objects: grow the queries back (few round trips on PostgreSQL).
            want = (want * 2).min((max + 1).min(1000));
        }
    }
}

/// S3's `encoding-type=url`: percent-encode everything but unreserved characters and `/`
/// (so `+` becomes `%2B` and a space `%20`; clients decode with plain percent-decoding).
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn parse_max(ctx: &Ctx, name: &str) -> S3Result<usize> {
    match ctx.route.q(name) {
        None => Ok(1000),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| n.min(1000) as usize)
            .ok_or_else(|| {
                S3Error::invalid_argument(format!(
                    "Provided {name} not an integer or within integer range"
                ))
            }),
    }
}

/// Where to resume after a marker: past every key starting with the marker's common prefix
/// when the marker is one, else just after the marker.
fn resume_after(marker: &str, prefix: &str, delimiter: &str) -> Vec<u8> {
    if !delimiter.is_empty()
        && let Some(rest) = marker.strip_prefix(prefix)
        && let Some(idx) = rest.find(delimiter)
    {
        let cp = format!("{prefix}{}", &rest[..idx + delimiter.len()]);
        if cp == marker
            && let Some(e) = prefix_end(cp.as_bytes())
        {
            return e;
        }
    }
    let mut v = marker.as_bytes().to_vec();
    v.push(0);
    v
}

pub(crate) async fn list_objects(svc: &S3Service, ctx: &Ctx) -> S3Result<Response<RespBody>> {
    let v2 = ctx.route.op == Op::ListObjectsV2;
    let bucket = ctx.bucket()?;
    let prefix = ctx.route.q("prefix").unwrap_or("");
    let delimiter = ctx.route.q("delimiter").unwrap_or("");
    let max = parse_max(ctx, "max-keys")?;
    let encode = match ctx.route.q("encoding-type") {
        None => false,
        Some("url") => true,
        Some(_) => {
            return Err(S3Error::invalid_argument(
                "Invalid Encoding Method specified in Request",
            ));
        }
    };
    let enc = |s: &str| if encode { url_encode(s) } else { s.to_owned() };
    let token = ctx.route.q("continuation-token");
    let start_after = ctx.route.q("start-after").unwrap_or("");
    let marker = ctx.route.q("marker").unwrap_or("");
    let from: Vec<u8> = if v2 {
        match token {
            Some(t) => B64.decode(t).map_err(|_| {
                S3Error::invalid_argument("The continuation token provided is incorrect")
            })?,
            None if !start_after.is_empty() => resume_after(start_after, prefix, delimiter),
            None => Vec::new(),
        }
    } else if marker.is_empty() {
        Vec::new()
    } else {
        resume_after(marker, prefix, delimiter)
    };
    let page = if max == 0 {
        Page {
            entries: Vec::new(),
            truncated: false,
        }
    } else {
        collect(svc, bucket, prefix, delimiter, from, max).await?
    };
    let fetch_owner = !v2 || ctx.route.q("fetch-owner") == Some("true");
    let root = "ListBucketResult";
    let mut x = start(root);
    elem(&mut x, "Name", bucket);
    // S3 URL-encodes the echoed Prefix in V2 only (V1 clients do not decode it).
    elem(
        &mut x,
        "Prefix",
        &if v2 { enc(prefix) } else { prefix.to_owned() },
    );
    if v2 {
        if let Some(t) = token {
            elem(&mut x, "ContinuationToken", t);
        }
        if !start_after.is_empty() {
            elem(&mut x, "StartAfter", &enc(start_after));
        }
        elem(&mut x, "KeyCount", &page.entries.len().to_string());
    } else {
        elem(&mut x, "Marker", &enc(marker));
    }
    elem(&mut x, "MaxKeys", &max.to_string());
    if !delimiter.is_empty() {
        elem(&mut x, "Delimiter", &enc(delimiter));
    }
    if encode {
        elem(&mut x, "EncodingType", "url");
    }
    elem(
        &mut x,
        "IsTruncated",
        if page.truncated { "true" } else { "false" },
    );
    let last = page.entries.last().map(|e| match e {
        Entry::Object(o) => o.key.clone(),
        Entry::Prefix(p) => p.clone(),
    });
    if page.truncated
        && let Some(last) = &last
    {
        if v2 {
            let next = resume_after(last, prefix, delimiter);
            elem(&mut x, "NextContinuationToken", &B64.encode(next));
        } else if !delimiter.is_empty() {
            elem(&mut x, "NextMarker", &enc(last));
        }
    }
    let owner = crate::buckets::owner_id(svc);
    for e in &page.entries {
        if let Entry::Object(o) = e {
            x.push_str("<Contents>");
            elem(&mut x, "Key", &enc(&o.key));
            elem(&mut x, "LastModified", &iso8601(o.last_modified_ms));
            elem(&mut x, "ETag", &format!("\"{}\"", o.etag));
            if let Some(c) = o
                .checksum
                .as_deref()
                .and_then(|c| serde_json::from_str::<crate::checksum::Stored>(c).ok())
            {
                elem(&mut x, "ChecksumAlgorithm", c.algo.name());
                elem(&mut x, "ChecksumType", &c.kind);
            }
            elem(&mut x, "Size", &o.size.to_string());
            if fetch_owner {
                x.push_str("<Owner>");
                elem(&mut x, "ID", &owner);
                elem(&mut x, "DisplayName", "cubby");
                x.push_str("</Owner>");
            }
            elem(&mut x, "StorageClass", "STANDARD");
            x.push_str("</Contents>");
        }
    }
    for e in &page.entries {
        if let Entry::Prefix(p) = e {
            x.push_str("<CommonPrefixes>");
            elem(&mut x, "Prefix", &enc(p));
            x.push_str("</CommonPrefixes>");
        }
    }
    Ok(xml(end(x, root)))
}

pub(crate) async fn list_versions(svc: &S3Service, ctx: &Ctx) -> S3Result<Response<RespBody>> {
    let bucket = ctx.bucket()?;
    let prefix = ctx.route.q("prefix").unwrap_or("");
    let delimiter = ctx.route.q("delimiter").unwrap_or("");
    let max = parse_max(ctx, "max-keys")?;
    let encode = ctx.route.q("encoding-type") == Some("url");
    let enc = |s: &str| if encode { url_encode(s) } else { s.to_owned() };
    let key_marker = ctx.route.q("key-marker").unwrap_or("");
    let from = if key_marker.is_empty() {
        Vec::new()
    } else {
        resume_after(key_marker, prefix, delimiter)
    };
    let page = if max == 0 {
        Page {
            entries: Vec::new(),
            truncated: false,
        }
    } else {
        collect(svc, bucket, prefix, delimiter, from, max).await?
    };
    let root = "ListVersionsResult";
    let mut x = start(root);
    elem(&mut x, "Name", bucket);
    elem(&mut x, "Prefix", &enc(prefix));
    elem(&mut x, "KeyMarker", &enc(key_marker));
    elem(
        &mut x,
        "VersionIdMarker",
        ctx.route.q("version-id-marker").unwrap_or(""),
    );
    elem(&mut x, "MaxKeys", &max.to_string());
    if !delimiter.is_empty() {
        elem(&mut x, "Delimiter", &enc(delimiter));
    }
    if encode {
        elem(&mut x, "EncodingType", "url");
    }
    elem(
        &mut x,
        "IsTruncated",
        if page.truncated { "true" } else { "false" },
    );
    if page.truncated
        && let Some(last) = page.entries.last()
    {
        let k = match last {
            Entry::Object(o) => &o.key,
            Entry::Prefix(p) => p,
        };
        elem(&mut x, "NextKeyMarker", &enc(k));
        elem(&mut x, "NextVersionIdMarker", "null");
    }
    let owner = crate::buckets::owner_id(svc);
    for e in &page.entries {
        if let Entry::Object(o) = e {
            x.push_str("<Version>");
            elem(&mut x, "Key", &enc(&o.key));
            elem(&mut x, "VersionId", "null");
            elem(&mut x, "IsLatest", "true");
            elem(&mut x, "LastModified", &iso8601(o.last_modified_ms));
            elem(&mut x, "ETag", &format!("\"{}\"", o.etag));
            elem(&mut x, "Size", &o.size.to_string());
            x.push_str("<Owner>");
            elem(&mut x, "ID", &owner);
            elem(&mut x, "DisplayName", "cubby");
            x.push_str("</Owner>");
            elem(&mut x, "StorageClass", "STANDARD");
            x.push_str("</Version>");
        }
    }
    for e in &page.entries {
        if let Entry::Prefix(p) = e {
            x.push_str("<CommonPrefixes>");
            elem(&mut x, "Prefix", &enc(p));
            x.push_str("</CommonPrefixes>");
        }
    }
    Ok(xml(end(x, root)))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn prefix_end_bounds() {
        assert_eq!(prefix_end(b"a/"), Some(b"a0".to_vec()));
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
        assert_eq!(url_encode("a b+c/d%"), "a%20b%2Bc/d%25");
    }
}
