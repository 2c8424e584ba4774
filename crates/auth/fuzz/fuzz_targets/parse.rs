//! Fuzz `sigv4::parse` + `verify` on arbitrary header/query bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Layout: first line = path?query, remaining lines = "name: value".
    let mut lines = data.split(|&b| b == b'\n');
    let Some(target) = lines.next() else { return };
    let Ok(target) = std::str::from_utf8(target) else {
        return;
    };
    let mut b = http::Request::builder().method("PUT").uri(target);
    for l in lines {
        let Some(i) = l.iter().position(|&c| c == b':') else {
            continue;
        };
        let (n, v) = l.split_at(i);
        let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(n),
            http::HeaderValue::from_bytes(&v[1..]),
        ) else {
            continue;
        };
        b = b.header(n, v);
    }
    let Ok(req) = b.body(()) else { return };
    let (parts, ()) = req.into_parts();
    if let Ok(Some(sr)) = cubby_auth::sigv4::parse(&parts) {
        let hash = sr.canonical_payload_hash().unwrap_or("").to_owned();
        let _ = cubby_auth::sigv4::verify(&sr, &parts, "secret", &hash, sr.timestamp, "us-east-1");
    }
});
