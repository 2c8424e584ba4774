//! Date conversions needed by SigV4, done by hand so they are total (no
//! panics, no clock) and cheap on the hot path.

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parse exactly `n` ASCII digits.
fn digits(s: &[u8]) -> Option<i64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0i64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

/// Parse `yyyymmddTHHMMSSZ` into epoch seconds, validating every field.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let y = digits(b.get(0..4)?)?;
    let mo = digits(b.get(4..6)?)?;
    let d = digits(b.get(6..8)?)?;
    let h = digits(b.get(9..11)?)?;
    let mi = digits(b.get(11..13)?)?;
    let sec = digits(b.get(13..15)?)?;
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60
    {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec)
}

/// Parse an HTTP date (RFC 1123, also RFC 850 / asctime) into epoch seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(s).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

fn split(epoch: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = epoch.div_euclid(86_400);
    let rem = epoch.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Format epoch seconds as `yyyymmddTHHMMSSZ`.
pub fn format_amz_date(epoch: i64) -> String {
    let (y, m, d, h, mi, s) = split(epoch);
    format!("{y:04}{m:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// Format epoch seconds as ISO 8601 (`2013-05-24T00:00:00Z`), the form S3
/// uses for `ServerTime` and `Expires` in error bodies.
pub fn format_iso8601(epoch: i64) -> String {
    let (y, m, d, h, mi, s) = split(epoch);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_round_trip() {
        for t in [
            0i64,
            1_369_353_600,
            951_782_400,
            4_102_444_799,
            1_709_164_800,
        ] {
            assert_eq!(parse_amz_date(&format_amz_date(t)), Some(t));
        }
        assert_eq!(parse_amz_date("20130524T000000Z"), Some(1_369_353_600));
        assert_eq!(format_iso8601(1_369_353_600), "2013-05-24T00:00:00Z");
    }

    #[test]
    fn amz_date_rejects_garbage() {
        for s in [
            "",
            "20130524T000000",
            "2013052XT000000Z",
            "20130230T000000Z",
            "20131324T000000Z",
            "20130524T240000Z",
            "20130524t000000Z",
            "+0130524T000000Z",
            "20130524T00000ZZ",
        ] {
            assert_eq!(parse_amz_date(s), None, "{s}");
        }
    }

    #[test]
    fn http_date() {
        assert_eq!(
            parse_http_date("Fri, 24 May 2013 00:00:00 GMT"),
            Some(1_369_353_600)
        );
        assert_eq!(parse_http_date("nonsense"), None);
    }
}
