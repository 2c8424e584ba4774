//! Schema migrations: an ordered list of steps, each written for both engines, applied once and
//! recorded in `schema_version`.

use crate::{Engine, Meta, MetaError};

struct Step {
    version: i64,
    sqlite: &'static str,
    postgres: &'static str,
}

/// Byte-string type for object keys: compares byte-wise on both engines.
const STEPS: &[Step] = &[
    Step {
        version: 1,
        sqlite: r#"
CREATE TABLE buckets (
  name TEXT PRIMARY KEY,
  created_ms BIGINT NOT NULL,
  owner TEXT NOT NULL,
  config TEXT NOT NULL
);
CREATE TABLE objects (
  bucket TEXT NOT NULL,
  key BLOB NOT NULL,
  version_id TEXT,
  size BIGINT NOT NULL,
  etag TEXT NOT NULL,
  last_modified_ms BIGINT NOT NULL,
  headers TEXT NOT NULL,
  checksum TEXT,
  layout TEXT NOT NULL,
  PRIMARY KEY (bucket, key)
);
CREATE TABLE uploads (
  upload_id TEXT PRIMARY KEY,
  bucket TEXT NOT NULL,
  key BLOB NOT NULL,
  initiated_ms BIGINT NOT NULL,
  info TEXT NOT NULL
);
CREATE INDEX uploads_by_key ON uploads (bucket, key, initiated_ms);
CREATE TABLE parts (
  upload_id TEXT NOT NULL REFERENCES uploads(upload_id) ON DELETE CASCADE,
  part_number INTEGER NOT NULL,
  size BIGINT NOT NULL,
  etag TEXT NOT NULL,
  blob_id TEXT NOT NULL,
  checksum TEXT,
  last_modified_ms BIGINT NOT NULL,
  PRIMARY KEY (upload_id, part_number)
);
CREATE TABLE kv (
  ns TEXT NOT NULL,
  k TEXT NOT NULL,
  v TEXT NOT NULL,
  version BIGINT NOT NULL,
  PRIMARY KEY (ns, k)
);
"#,
        postgres: r#"
CREATE TABLE buckets (
  name TEXT COLLATE "C" PRIMARY KEY,
  created_ms BIGINT NOT NULL,
  owner TEXT NOT NULL,
  config TEXT NOT NULL
);
CREATE TABLE objects (
  bucket TEXT COLLATE "C" NOT NULL,
  key BYTEA NOT NULL,
  version_id TEXT,
  size BIGINT NOT NULL,
  etag TEXT NOT NULL,
  last_modified_ms BIGINT NOT NULL,
  headers TEXT NOT NULL,
  checksum TEXT,
  layout TEXT NOT NULL,
  PRIMARY KEY (bucket, key)
);
CREATE TABLE uploads (
  upload_id TEXT PRIMARY KEY,
  bucket TEXT COLLATE "C" NOT NULL,
  key BYTEA NOT NULL,
  initiated_ms BIGINT NOT NULL,
  info TEXT NOT NULL
);
CREATE INDEX uploads_by_key ON uploads (bucket, key, initiated_ms);
CREATE TABLE parts (
  upload_id TEXT NOT NULL REFERENCES uploads(upload_id) ON DELETE CASCADE,
  part_number INTEGER NOT NULL,
  size BIGINT NOT NULL,
  etag TEXT NOT NULL,
  blob_id TEXT NOT NULL,
  checksum TEXT,
  last_modified_ms BIGINT NOT NULL,
  PRIMARY KEY (upload_id, part_number)
);
CREATE TABLE kv (
  ns TEXT COLLATE "C" NOT NULL,
  k TEXT COLLATE "C" NOT NULL,
  v TEXT NOT NULL,
  version BIGINT NOT NULL,
  PRIMARY KEY (ns, k)
);
"#,
    },
    Step {
        version: 2,
        // A completed upload is remembered (with its result) so that a repeated
        // CompleteMultipartUpload answers as the first did, as S3 does.
        sqlite: "ALTER TABLE uploads ADD COLUMN completed TEXT",
        postgres: "ALTER TABLE uploads ADD COLUMN completed TEXT",
    },
    Step {
        version: 3,
        // The event outbox: rows are written in the same transaction as the object change
        // and deleted once delivered; `dead` rows stay for the operator.
        sqlite: r#"
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  target TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  due_ms BIGINT NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0,
  dead BIGINT NOT NULL DEFAULT 0,
  claimed_until BIGINT NOT NULL DEFAULT 0,
  last_error TEXT
);
CREATE INDEX outbox_by_target ON outbox (target, dead, id);
"#,
        postgres: r#"
CREATE TABLE outbox (
  id BIGSERIAL PRIMARY KEY,
  target TEXT COLLATE "C" NOT NULL,
  payload TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  due_ms BIGINT NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0,
  dead BIGINT NOT NULL DEFAULT 0,
  claimed_until BIGINT NOT NULL DEFAULT 0,
  last_error TEXT
);
CREATE INDEX outbox_by_target ON outbox (target, dead, id);
"#,
    },
    Step {
        version: 4,
        // Upload quotas: who wrote each object and started each upload, so usage per
        // identity is counted from the rows themselves (it cannot drift or leak on a crash).
        sqlite: r#"
ALTER TABLE objects ADD COLUMN owner TEXT;
CREATE INDEX objects_by_owner ON objects (bucket, owner, key);
ALTER TABLE uploads ADD COLUMN owner TEXT;
CREATE INDEX uploads_by_owner ON uploads (bucket, owner, key)
"#,
        postgres: r#"
ALTER TABLE objects ADD COLUMN owner TEXT COLLATE "C";
CREATE INDEX objects_by_owner ON objects (bucket, owner, key);
ALTER TABLE uploads ADD COLUMN owner TEXT COLLATE "C";
CREATE INDEX uploads_by_owner ON uploads (bucket, owner, key)
"#,
    },
    Step {
        version: 5,
        // PostgreSQL only: a batch of object writes in one round trip (see `group.rs`). On
        // SQLite the statements run in-process, so there is nothing to save.
        sqlite: "",
        postgres: PUT_OBJECTS_FUNCTION,
    },
    Step {
        version: 6,
        // Quota readings (`Meta::usage`) sum sizes by owner: with the size in the index they
        // are answered from the index alone.
        sqlite: r#"
DROP INDEX objects_by_owner;
CREATE INDEX objects_by_owner ON objects (bucket, owner, key, size)
"#,
        postgres: r#"
DROP INDEX objects_by_owner;
CREATE INDEX objects_by_owner ON objects (bucket, owner, key) INCLUDE (size)
"#,
    },
    Step {
        version: 7,
        // PostgreSQL only: upload-quota holds shared by every node (`holds.rs`). One process
        // on SQLite keeps its reservations in memory.
        sqlite: "",
        postgres: QUOTA_HOLDS,
    },
    Step {
        version: 8,
        // PostgreSQL only: upload-rate windows shared by every node (`rates.rs`). One process
        // on SQLite keeps its windows in memory.
        sqlite: "",
        postgres: UPLOAD_RATES,
    },
    Step {
        version: 9,
        // Outbox rows may hold several events (`events`: how many; see `outbox.rs`). On
        // SQLite also: no AUTOINCREMENT (cubby numbers the rows itself, see
        // `Meta::next_outbox_id`), and an index only where events wait for a retry or are
        // dead. Every notified upload wrote the `sqlite_sequence` row and an index entry, two
        // more pages into each commit's WAL; a healthy target's claims read the table in id
        // order from above what they delivered and need no index.
        sqlite: r#"
CREATE TABLE outbox_v9 (
  id INTEGER PRIMARY KEY,
  target TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  due_ms BIGINT NOT NULL,
  attempts BIGINT NOT NULL DEFAULT 0,
  dead BIGINT NOT NULL DEFAULT 0,
  claimed_until BIGINT NOT NULL DEFAULT 0,
  last_error TEXT,
  events BIGINT NOT NULL DEFAULT 1
);
INSERT INTO outbox_v9 (id, target, payload, created_ms, due_ms, attempts, dead, claimed_until, last_error)
  SELECT id, target, payload, created_ms, due_ms, attempts, dead, claimed_until, last_error FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v9 RENAME TO outbox;
CREATE INDEX outbox_retrying ON outbox (target, dead, id) WHERE attempts > 0
"#,
        // Rows hold one event here (`outbox.rs`); the column keeps the queries the same.
        postgres: "ALTER TABLE outbox ADD COLUMN events BIGINT NOT NULL DEFAULT 1",
    },
];

/// `upload_rates`: one row per upload admitted in the last minute, per rate key (bucket,
/// rule, limit kind, identity or address). `cubby_rate_admit(...)`: count the key's window
/// and, if there is room, add to it, atomically for the whole cluster (see `rates.rs`).
const UPLOAD_RATES: &str = r#"
-- Unlogged: a window is worth a minute, so after a database crash it starts empty.
CREATE UNLOGGED TABLE upload_rates (
  id BIGSERIAL PRIMARY KEY,
  key TEXT COLLATE "C" NOT NULL,
  at_ms BIGINT NOT NULL
);
CREATE INDEX upload_rates_by_key ON upload_rates (key, at_ms);
CREATE FUNCTION cubby_rate_admit(k TEXT, lim BIGINT, take BOOLEAN)
RETURNS TABLE (hit_id BIGINT, retry_after_ms BIGINT)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  now_ms BIGINT;
  n BIGINT;
BEGIN
  -- One key is decided by one caller at a time, cluster-wide; the lock ends with the
  -- transaction, after the new row is visible to the next caller.
  PERFORM pg_advisory_xact_lock(731027, hashtext(k));
  now_ms := cubby_db_now_ms();
  DELETE FROM upload_rates WHERE key = k AND at_ms <= now_ms - 60000;
  SELECT count(*) INTO n FROM upload_rates WHERE key = k;
  hit_id := NULL;
  retry_after_ms := NULL;
  IF n >= lim THEN
    -- Room comes back when the admission that puts the window at its limit leaves it.
    SELECT GREATEST(r.at_ms + 60000 - now_ms, 1) INTO retry_after_ms FROM upload_rates r
      WHERE r.key = k ORDER BY r.at_ms OFFSET n - lim LIMIT 1;
    retry_after_ms := COALESCE(retry_after_ms, 60000);
  ELSIF take THEN
    INSERT INTO upload_rates (key, at_ms) VALUES (k, now_ms) RETURNING id INTO hit_id;
  END IF;
  RETURN NEXT;
END
$$
"#;

/// `quota_holds`: what uploads hold against a quota account, on any node: from admission
/// until their row has committed (`released_ms`; kept 30 s more), or until their lease lapses
/// (a crashed node's holds go away by themselves). `cubby_quota_hold(...)`: check an account
/// against a reading of its rows plus the holds that reading may miss, and take a hold,
/// atomically for the whole cluster (see `holds.rs`).
const QUOTA_HOLDS: &str = r#"
-- Unlogged: a hold is worth nothing after a database crash (its upload failed with the
-- database), so holds cost no WAL and no fsync.
CREATE UNLOGGED TABLE quota_holds (
  id BIGSERIAL PRIMARY KEY,
  account TEXT COLLATE "C" NOT NULL,
  node TEXT NOT NULL,
  objects BIGINT NOT NULL,
  bytes BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL,
  released_ms BIGINT
);
-- By account and end (live holds end at their lease): a check reads only the holds that
-- ended after its reading began, however many ended before.
CREATE INDEX quota_holds_by_end ON quota_holds (account, (COALESCE(released_ms, expires_ms)));
CREATE FUNCTION cubby_db_now_ms() RETURNS BIGINT LANGUAGE sql VOLATILE AS $$
  SELECT CAST(floor(extract(epoch FROM clock_timestamp()) * 1000) AS BIGINT)
$$;
CREATE FUNCTION cubby_quota_hold(acct TEXT, rows_objects BIGINT, rows_bytes BIGINT,
  rows_ms BIGINT, want_objects BIGINT, want_bytes BIGINT, max_objects BIGINT,
  max_bytes BIGINT, holder TEXT, lease_ms BIGINT, take BOOLEAN)
RETURNS TABLE (hold_id BIGINT, used_objects BIGINT, used_bytes BIGINT)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  now_ms BIGINT;
BEGIN
  -- One account is decided by one caller at a time, cluster-wide; the lock ends with the
  -- transaction, after the new hold is visible to the next caller.
  PERFORM pg_advisory_xact_lock(731026, hashtext(acct));
  now_ms := cubby_db_now_ms();
  -- Ended holds are kept for 30 s: readings up to 10 s old still need them.
  DELETE FROM quota_holds
    WHERE account = acct AND COALESCE(released_ms, expires_ms) < now_ms - 30000;
  -- The reading counted rows committed before `rows_ms`. A hold ends only after its row has
  -- committed, so every upload the reading may have missed is a hold that ended at or after
  -- `rows_ms`, or one still live.
  SELECT COALESCE(SUM(h.objects), 0), CAST(COALESCE(SUM(h.bytes), 0) AS BIGINT)
    INTO used_objects, used_bytes FROM quota_holds h
    WHERE h.account = acct AND COALESCE(h.released_ms, h.expires_ms) >= rows_ms;
  used_objects := used_objects + rows_objects;
  used_bytes := used_bytes + rows_bytes;
  hold_id := NULL;
  IF (max_objects IS NOT NULL AND want_objects > 0 AND used_objects + want_objects > max_objects)
     OR (max_bytes IS NOT NULL AND used_bytes + want_bytes > max_bytes) OR NOT take THEN
    RETURN NEXT;
    RETURN;
  END IF;
  INSERT INTO quota_holds (account, node, objects, bytes, expires_ms)
    VALUES (acct, holder, want_objects, want_bytes, now_ms + lease_ms)
    RETURNING id INTO hold_id;
  RETURN NEXT;
END
$$
"#;

/// `cubby_put_objects(jobs, now_ms)`: for each job of the JSON array, in order — claim or
/// lock the key's row (a placeholder row for an absent key, `FOR UPDATE` for a present one,
/// exactly as `objects::lock_current` does), check the precondition, write the row and its
/// outbox events, or drop the placeholder. One row out per job: its index, `ok`,
/// `precondition` or `not_found`, and the replaced layout. Called outside an explicit
/// transaction, the whole call is one atomic statement: one round trip for the batch.
const PUT_OBJECTS_FUNCTION: &str = r#"
CREATE FUNCTION cubby_put_objects(jobs TEXT, now_ms BIGINT)
RETURNS TABLE (idx INT, status TEXT, replaced TEXT)
LANGUAGE plpgsql AS $$
DECLARE
  j JSONB;
  n BIGINT;
  b TEXT;
  k BYTEA;
  cur_etag TEXT;
  cur_layout TEXT;
  claimed BOOLEAN;
  pre TEXT;
  hit BOOLEAN;
  verdict TEXT;
BEGIN
  FOR j, n IN SELECT value, ordinality FROM jsonb_array_elements(jobs::jsonb) WITH ORDINALITY LOOP
    b := j->>'bucket';
    k := decode(j->>'key', 'hex');
    cur_etag := NULL;
    cur_layout := NULL;
    INSERT INTO objects (bucket, key, version_id, size, etag, last_modified_ms, headers,
                         checksum, layout)
      VALUES (b, k, NULL, 0, '', 0, '{}', NULL, '{}')
      ON CONFLICT (bucket, key) DO NOTHING;
    claimed := FOUND;
    IF NOT claimed THEN
      SELECT o.etag, o.layout INTO cur_etag, cur_layout FROM objects o
        WHERE o.bucket = b AND o.key = k FOR UPDATE;
    END IF;
    pre := j->>'pre';
    SELECT EXISTS (SELECT 1 FROM jsonb_array_elements_text(j->'tags') t
                   WHERE t = '*' OR btrim(t, '"') = cur_etag) INTO hit;
    verdict := CASE
      WHEN pre = 'absent' THEN CASE WHEN cur_etag IS NULL THEN 'ok' ELSE 'precondition' END
      WHEN pre = 'match' THEN CASE WHEN cur_etag IS NULL THEN 'not_found'
                                   WHEN hit THEN 'ok' ELSE 'precondition' END
      WHEN pre = 'no_match' THEN CASE WHEN cur_etag IS NULL OR NOT hit THEN 'ok'
                                      ELSE 'precondition' END
      ELSE 'ok' END;
    IF verdict = 'ok' THEN
      INSERT INTO objects (bucket, key, version_id, size, etag, last_modified_ms, headers,
                           checksum, layout, owner)
        VALUES (b, k, j->>'version_id', (j->>'size')::BIGINT, j->>'etag',
                (j->>'last_modified_ms')::BIGINT, j->>'headers', j->>'checksum',
                j->>'layout', j->>'owner')
        ON CONFLICT (bucket, key) DO UPDATE SET version_id = excluded.version_id,
          size = excluded.size, etag = excluded.etag,
          last_modified_ms = excluded.last_modified_ms, headers = excluded.headers,
          checksum = excluded.checksum, layout = excluded.layout, owner = excluded.owner;
      INSERT INTO outbox (target, payload, created_ms, due_ms, attempts, dead, claimed_until)
        SELECT e->>'target', e->>'payload', now_ms, now_ms, 0, 0, 0
        FROM jsonb_array_elements(j->'events') e;
    ELSIF claimed THEN
      DELETE FROM objects WHERE bucket = b AND key = k;
    END IF;
    idx := n - 1;
    status := verdict;
    replaced := CASE WHEN verdict = 'ok' THEN cur_layout END;
    RETURN NEXT;
  END LOOP;
END
$$
"#;

/// Key of the session-level advisory lock held while migrating (any constant unique to cubby).
const MIGRATION_LOCK: i64 = 7_310_267_718;

pub(crate) async fn run(meta: &Meta) -> Result<(), MetaError> {
    // Several nodes may start at once: on PostgreSQL one connection takes a session advisory
    // lock before touching the schema (even `CREATE TABLE IF NOT EXISTS` races on PostgreSQL's
    // catalogs), so exactly one node migrates and the others wait, then find nothing to do.
    let mut conn = meta.pool().acquire().await?;
    let pg = meta.engine() == Engine::Postgres;
    if pg {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let result = migrate(meta.engine(), &mut conn).await;
    if pg {
        // Unlock even after a failed step; if this fails the connection is closed below,
        // which releases the lock too.
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await;
        if unlocked.is_err() {
            let _ = conn.detach();
        }
    }
    result
}

async fn migrate(engine: Engine, conn: &mut sqlx::AnyConnection) -> Result<(), MetaError> {
    use sqlx::Connection;
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY)")
        .execute(&mut *conn)
        .await?;
    let mut tx = conn.begin().await?;
    let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
        .fetch_one(&mut *tx)
        .await?;
    let current = current.unwrap_or(0);
    for step in STEPS.iter().filter(|s| s.version > current) {
        let sql = match engine {
            Engine::Sqlite => step.sqlite,
            Engine::Postgres => step.postgres,
        };
        for stmt in statements(sql) {
            sqlx::query(stmt).execute(&mut *tx).await?;
        }
        sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
            .bind(step.version)
            .execute(&mut *tx)
            .await?;
        tracing::info!(version = step.version, "applied metadata migration");
    }
    tx.commit().await?;
    Ok(())
}

/// The statements of a migration step: split at `;`, except inside `$$`-quoted bodies.
fn statements(sql: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"$$") {
            quoted = !quoted;
            i += 2;
            continue;
        }
        if bytes[i] == b';' && !quoted {
            out.push(sql[start..i].trim());
            start = i + 1;
        }
        i += 1;
    }
    out.push(sql[start..].trim());
    out.retain(|s| !s.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::statements;

    #[test]
    fn dollar_quoted_bodies_stay_whole() {
        let got = statements(
            "CREATE TABLE a (x INT);\nCREATE FUNCTION f() AS $$ BEGIN x; y; END $$;\n ;",
        );
        assert_eq!(
            got,
            [
                "CREATE TABLE a (x INT)",
                "CREATE FUNCTION f() AS $$ BEGIN x; y; END $$"
            ]
        );
    }
}
