//! Upload-quota usage, counted from the rows themselves: objects an owner wrote under a
//! prefix, plus its multipart uploads in progress (each counts as one object, with the bytes
//! of the parts uploaded so far). Nothing is kept that a crash could leave stale.

use sqlx::Row;

use crate::{Meta, MetaError};

/// What one owner holds under a prefix.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Objects (committed, plus multipart uploads in progress).
    pub objects: i64,
    /// Bytes (committed objects, plus parts of uploads in progress).
    pub bytes: i64,
}

/// One owner's usage, for reports.
#[derive(Clone, Debug)]
pub struct OwnerUsage {
    /// Identity id or principal ARN.
    pub owner: String,
    /// What it holds.
    pub usage: Usage,
}

/// Four counts in one round trip: objects, their bytes, uploads in progress, their parts'
/// bytes — of owner `$2` in bucket `$1`, `{range}` replaced by [`key_range`]'s condition.
/// SUM is cast: PostgreSQL sums BIGINT as NUMERIC.
pub(crate) const USAGE_COUNTS: &str = "\
    (SELECT COUNT(*) FROM objects WHERE bucket = $1 AND owner = $2{range}), \
    (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM objects \
      WHERE bucket = $1 AND owner = $2{range}), \
    (SELECT COUNT(*) FROM uploads WHERE bucket = $1 AND owner = $2 \
      AND completed IS NULL{range}), \
    (SELECT CAST(COALESCE(SUM(p.size), 0) AS BIGINT) FROM parts p \
      WHERE p.upload_id IN (SELECT upload_id FROM uploads WHERE bucket = $1 \
      AND owner = $2 AND completed IS NULL{range}))";

/// The [`Usage`] in the first four columns of a [`USAGE_COUNTS`] row.
pub(crate) fn usage_of(r: &sqlx::any::AnyRow) -> Result<Usage, MetaError> {
    let objects: i64 = r.try_get(0)?;
    let bytes: i64 = r.try_get(1)?;
    let uploads: i64 = r.try_get(2)?;
    let part_bytes: i64 = r.try_get(3)?;
    Ok(Usage {
        objects: objects + uploads,
        bytes: bytes + part_bytes,
    })
}

/// The smallest byte string greater than every string starting with `prefix`, if any.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// `AND key >= $n [AND key < $n+1]` for a prefix, with the values to bind.
pub(crate) fn key_range(prefix: &str, first: usize) -> (String, Vec<Vec<u8>>) {
    if prefix.is_empty() {
        return (String::new(), Vec::new());
    }
    let start = prefix.as_bytes().to_vec();
    match prefix_end(prefix.as_bytes()) {
        Some(end) => (
            format!(" AND key >= ${first} AND key < ${}", first + 1),
            vec![start, end],
        ),
        None => (format!(" AND key >= ${first}"), vec![start]),
    }
}

impl Meta {
    /// `owner`'s usage of `bucket` under `prefix`.
    pub async fn usage(&self, bucket: &str, owner: &str, prefix: &str) -> Result<Usage, MetaError> {
        let (range, bounds) = key_range(prefix, 3);
        let sql = format!("SELECT {}", USAGE_COUNTS.replace("{range}", &range));
        let mut q = sqlx::query(&sql).bind(bucket).bind(owner);
        for b in bounds {
            q = q.bind(b);
        }
        usage_of(&q.fetch_one(self.pool()).await?)
    }

    /// Every owner's usage of `bucket` under `prefix`, largest first (at most `limit`).
    pub async fn usage_by_owner(
        &self,
        bucket: &str,
        prefix: &str,
        limit: i64,
    ) -> Result<Vec<OwnerUsage>, MetaError> {
        let (range, bounds) = key_range(prefix, 2);
        let sql = format!(
            "SELECT owner, COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM objects \
             WHERE bucket = $1 AND owner IS NOT NULL{range} GROUP BY owner"
        );
        let mut q = sqlx::query(&sql).bind(bucket);
        for b in &bounds {
            q = q.bind(b.clone());
        }
        let mut by_owner: std::collections::BTreeMap<String, Usage> = Default::default();
        for r in q.fetch_all(self.pool()).await? {
            let u = by_owner.entry(r.try_get(0)?).or_default();
            u.objects += r.try_get::<i64, _>(1)?;
            u.bytes += r.try_get::<i64, _>(2)?;
        }
        let sql = format!(
            "SELECT u.owner, COUNT(DISTINCT u.upload_id), \
               CAST(COALESCE(SUM(p.size), 0) AS BIGINT) \
             FROM uploads u LEFT JOIN parts p ON p.upload_id = u.upload_id \
             WHERE u.bucket = $1 AND u.owner IS NOT NULL AND u.completed IS NULL{} \
             GROUP BY u.owner",
            range.replace("key", "u.key")
        );
        let mut q = sqlx::query(&sql).bind(bucket);
        for b in bounds {
            q = q.bind(b);
        }
        for r in q.fetch_all(self.pool()).await? {
            let u = by_owner.entry(r.try_get(0)?).or_default();
            u.objects += r.try_get::<i64, _>(1)?;
            u.bytes += r.try_get::<i64, _>(2)?;
        }
        let mut out: Vec<OwnerUsage> = by_owner
            .into_iter()
            .map(|(owner, usage)| OwnerUsage { owner, usage })
            .collect();
        out.sort_by(|a, b| {
            b.usage
                .bytes
                .cmp(&a.usage.bytes)
                .then(a.owner.cmp(&b.owner))
        });
        out.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_increment_the_last_byte() {
        assert_eq!(prefix_end(b"abc"), Some(b"abd".to_vec()));
        assert_eq!(prefix_end(b"a\xFF"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xFF\xFF"), None);
    }
}
