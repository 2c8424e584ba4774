//! Throw-away PostgreSQL databases for tests and benchmarks.
//!
//! `CUBBY_TEST_POSTGRES_URL` (set by `scripts/test`) names a server and a database-name
//! prefix, e.g. `postgres://postgres@127.0.0.1:5432/cubby_run_1234`. Each caller gets its own
//! database `<prefix>_<random>`, so tests running in parallel never see each other's rows,
//! and drops it when done (`scripts/test` also drops every `<prefix>_%` left by a failed test).

use crate::MetaError;
use sqlx::{Connection, Executor};

/// The environment variable naming the test server and database prefix.
pub const ENV: &str = "CUBBY_TEST_POSTGRES_URL";

/// A database created for one test.
#[derive(Clone, Debug)]
pub struct FreshDb {
    /// URL of the new database (give it to `Meta::connect` or `--metadata-url`).
    pub url: String,
    /// Its name.
    pub name: String,
    admin_url: String,
}

/// `(url without the database path, database name, query string)`.
fn split(url: &str) -> Option<(&str, &str, &str)> {
    let (base, query) = match url.find('?') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    let scheme_end = base.find("://")? + 3;
    let slash = base[scheme_end..].find('/')? + scheme_end;
    Some((&base[..slash], &base[slash + 1..], query))
}

/// The base URL from [`ENV`], or `None` (the caller prints that it skipped).
pub fn base_url() -> Option<String> {
    std::env::var(ENV).ok().filter(|s| !s.trim().is_empty())
}

impl FreshDb {
    /// Create `<prefix>_<random>` on the server `base` names.
    pub async fn create(base: &str) -> Result<FreshDb, MetaError> {
        sqlx::any::install_default_drivers();
        let (server, prefix, query) =
            split(base).ok_or_else(|| MetaError::Corrupt(format!("bad {ENV}: {base}")))?;
        let prefix = if prefix.is_empty() {
            "cubby_test"
        } else {
            prefix
        };
        let suffix: String = format!("{:x}", rand_u64());
        let name = format!("{prefix}_{}", &suffix[..suffix.len().min(10)]);
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(MetaError::Corrupt(format!("bad database name {name}")));
        }
        let admin_url = format!("{server}/postgres{query}");
        let mut conn = sqlx::AnyConnection::connect(&admin_url).await?;
        conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await?;
        conn.close().await?;
        Ok(FreshDb {
            url: format!("{server}/{name}{query}"),
            name,
            admin_url,
        })
    }

    /// Drop the database (closing whatever connections are still open to it).
    pub async fn drop_db(self) -> Result<(), MetaError> {
        let mut conn = sqlx::AnyConnection::connect(&self.admin_url).await?;
        conn.execute(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name).as_str())
            .await?;
        conn.close().await?;
        Ok(())
    }
}

/// The metadata URL for a test suite that runs on either engine: a fresh PostgreSQL database
/// when [`ENV`] is set (named `<prefix>_<random>`; `scripts/test` drops them all when the run
/// ends), else a SQLite file in `dir`. Says on stderr which one, so a run without PostgreSQL
/// is visible as such.
pub async fn test_url(dir: &std::path::Path) -> Result<String, MetaError> {
    match base_url() {
        Some(base) => {
            let db = FreshDb::create(&base).await?;
            say(&format!("metadata on PostgreSQL ({})", db.name));
            Ok(db.url)
        }
        None => {
            say(&format!(
                "metadata on SQLite; PostgreSQL skipped ({ENV} is not set)"
            ));
            Ok(format!("sqlite://{}", dir.join("meta.db").display()))
        }
    }
}

/// Print a line that the test harness does not capture (a skipped PostgreSQL half must show
/// in a passing run's output, not only in a failing one's).
pub fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Enough randomness for a unique name without another dependency.
fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn splits_server_database_and_query() {
        assert_eq!(
            split("postgres://u@h:5432/run_1?sslmode=disable"),
            Some(("postgres://u@h:5432", "run_1", "?sslmode=disable"))
        );
        assert_eq!(split("postgres://h/x"), Some(("postgres://h", "x", "")));
        assert_eq!(split("postgres://h"), None);
    }
}
