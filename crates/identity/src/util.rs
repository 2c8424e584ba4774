//! Small helpers: identifiers, timestamps, encodings.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// An IAM unique id: `prefix` + 17 upper-case base32 characters (`AROA…`, `AIDA…`, `ANPA…`),
/// 21 characters like AWS's.
pub(crate) fn unique_id(prefix: &str) -> String {
    let mut s = String::with_capacity(21);
    s.push_str(prefix);
    for _ in 0..17 {
        let i = usize::from(rand::random::<u8>() & 31);
        s.push(char::from(ID_ALPHABET.get(i).copied().unwrap_or(b'A')));
    }
    s
}

/// A long-term access key id: `AKIA` + 16 base32 characters.
pub(crate) fn long_term_key_id() -> String {
    let mut s = String::from("AKIA");
    for _ in 0..16 {
        let i = usize::from(rand::random::<u8>() & 31);
        s.push(char::from(ID_ALPHABET.get(i).copied().unwrap_or(b'A')));
    }
    s
}

/// A 40-character secret access key (base64 alphabet, like AWS's).
pub(crate) fn new_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..40)
        .map(|_| {
            let i = usize::from(rand::random::<u8>() & 63);
            char::from(ALPHABET.get(i).copied().unwrap_or(b'A'))
        })
        .collect()
}

/// A lower-case v4 UUID.
pub(crate) fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// ISO-8601 UTC with seconds precision: `2026-01-01T00:00:00Z`.
pub(crate) fn iso8601(secs: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Characters AWS leaves unescaped in URL-encoded policy documents.
const URL_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// URL-encode a policy document as IAM returns it (`%7B%22Version%22…`).
pub(crate) fn url_encode(s: &str) -> String {
    utf8_percent_encode(s, URL_ENCODE).to_string()
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Random bytes from the thread RNG.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    for x in &mut b {
        *x = rand::random();
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        assert_eq!(unique_id("AROA").len(), 21);
        assert!(long_term_key_id().starts_with("AKIA"));
        assert_eq!(new_secret().len(), 40);
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(url_encode("{\"a\": 1}"), "%7B%22a%22%3A%201%7D");
    }
}
