//! Content sniffing: what a body *is*, from its first bytes (magic numbers), whatever the
//! client declared. Only formats with unambiguous signatures are recognised; anything else is
//! `None` ("unidentified"), which a rule listing content types rejects.

/// How many leading bytes [`detect`] looks at. Shorter bodies are judged on what there is.
pub const SNIFF_LEN: usize = 512;

/// The media type `head` (the first bytes of a body) starts like, if recognised.
///
/// Executables are recognised too, so that a refusal can name what was really sent.
pub fn detect(head: &[u8]) -> Option<&'static str> {
    let starts = |sig: &[u8]| head.starts_with(sig);
    if starts(b"\xFF\xD8\xFF") {
        return Some("image/jpeg");
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return Some("image/gif");
    }
    if starts(b"RIFF") && head.get(8..12) == Some(b"WEBP") {
        return Some("image/webp");
    }
    if starts(b"%PDF-") {
        return Some("application/pdf");
    }
    if starts(b"MZ") {
        return Some("application/x-msdownload");
    }
    if starts(b"\x7FELF") {
        return Some("application/x-executable");
    }
    if starts(b"\xCF\xFA\xED\xFE") || starts(b"\xCE\xFA\xED\xFE") || starts(b"\xCA\xFE\xBA\xBE") {
        return Some("application/x-mach-binary");
    }
    if starts(b"PK\x03\x04") {
        return Some("application/zip");
    }
    if let Some(t) = iso_media(head) {
        return Some(t);
    }
    if looks_like_text(head) {
        return Some("text/plain");
    }
    None
}

/// ISO base media files (MP4, MOV, HEIC, AVIF) start with an `ftyp` box naming brands; old
/// QuickTime files may start with another top-level atom.
fn iso_media(head: &[u8]) -> Option<&'static str> {
    let box_type = head.get(4..8)?;
    if box_type != b"ftyp" {
        return match box_type {
            b"moov" | b"mdat" | b"wide" | b"free" | b"skip" | b"pnot" => Some("video/quicktime"),
            _ => None,
        };
    }
    let size = u32::from_be_bytes(head.get(0..4)?.try_into().ok()?) as usize;
    let major = head.get(8..12)?;
    // Compatible brands follow the minor version, up to the end of the box.
    let end = size.clamp(16, head.len().max(16)).min(head.len());
    let compatible = head.get(16..end).unwrap_or_default();
    let has = |brand: &[u8]| major == brand || compatible.chunks_exact(4).any(|c| c == brand);
    if has(b"avif") || has(b"avis") {
        return Some("image/avif");
    }
    if [
        b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1",
    ]
    .iter()
    .any(|b| major == *b)
    {
        return Some("image/heic");
    }
    if major == b"qt  " {
        return Some("video/quicktime");
    }
    const MP4: &[&[u8]] = &[
        b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ",
        b"M4A ", b"dash", b"3gp4", b"3gp5", b"3g2a", b"f4v ",
    ];
    if MP4.contains(&major) {
        return Some("video/mp4");
    }
    None
}

/// UTF-8 without control characters other than tab, line feed, form feed and carriage
/// return. A multi-byte character cut off at the end of the sample is allowed.
fn looks_like_text(head: &[u8]) -> bool {
    if head.is_empty() {
        return false;
    }
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() => match head.get(..e.valid_up_to()) {
            Some(valid) => std::str::from_utf8(valid).unwrap_or_default(),
            None => return false,
        },
        Err(_) => return false,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c'))
}

/// The canonical spelling of a declared media type: parameters dropped, lower-cased, common
/// aliases folded (`image/jpg` → `image/jpeg`, `image/heif` → `image/heic`).
pub fn normalize(declared: &str) -> String {
    let base = declared.split(';').next().unwrap_or_default().trim();
    let lower = base.to_ascii_lowercase();
    match lower.as_str() {
        "image/jpg" | "image/pjpeg" => "image/jpeg".into(),
        "image/heif" | "image/heic-sequence" | "image/heif-sequence" => "image/heic".into(),
        "video/mov" => "video/quicktime".into(),
        _ => lower,
    }
}

/// Is this declared type compatible with what the bytes are? Equal after normalisation;
/// plain text may be declared as any textual type (`text/*`, JSON, XML, CSV, SVG…).
pub fn declared_matches(declared: &str, detected: &str) -> bool {
    let declared = normalize(declared);
    if declared == detected {
        return true;
    }
    detected == "text/plain" && is_textual(&declared)
}

/// Media types whose bodies are text.
pub fn is_textual(media_type: &str) -> bool {
    media_type.starts_with("text/")
        || matches!(
            media_type,
            "application/json" | "application/xml" | "image/svg+xml" | "application/x-ndjson"
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_common_formats() {
        assert_eq!(detect(b"\xFF\xD8\xFF\xE0\0\x10JFIF"), Some("image/jpeg"));
        assert_eq!(detect(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(detect(b"GIF89a\x01\0"), Some("image/gif"));
        assert_eq!(detect(b"RIFF\x24\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(detect(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(
            detect(b"MZ\x90\0\x03\0\0\0"),
            Some("application/x-msdownload")
        );
        assert_eq!(detect(b"\x7FELF\x02\x01"), Some("application/x-executable"));
        assert_eq!(
            detect(b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41"),
            Some("video/mp4")
        );
        assert_eq!(
            detect(b"\0\0\0\x14ftypqt  \0\0\0\0qt  "),
            Some("video/quicktime")
        );
        assert_eq!(
            detect(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"),
            Some("image/heic")
        );
        assert_eq!(
            detect(b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf"),
            Some("image/avif")
        );
        // AVIF declared through a generic HEIF major brand with avif compatible.
        assert_eq!(
            detect(b"\0\0\0\x1cftypmif1\0\0\0\0mif1avifmiaf"),
            Some("image/avif")
        );
        assert_eq!(detect(b"hello, world\n"), Some("text/plain"));
        assert_eq!(detect("héllo".as_bytes()), Some("text/plain"));
        // A multi-byte character cut at the end of the sample is still text.
        assert_eq!(detect(&"aé".as_bytes()[..2]), Some("text/plain"));
        assert_eq!(detect(b"\0\x01\x02binary"), None);
        assert_eq!(detect(b""), None);
    }

    #[test]
    fn declared_types_are_normalised() {
        assert!(declared_matches("image/JPG; charset=x", "image/jpeg"));
        assert!(declared_matches("text/csv", "text/plain"));
        assert!(declared_matches("application/json", "text/plain"));
        assert!(!declared_matches("image/png", "image/jpeg"));
        assert!(!declared_matches("image/jpeg", "application/x-msdownload"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = detect(&bytes);
        }
    }
}
