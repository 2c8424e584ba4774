//! SQLite: point reads of object rows on the calling thread, through a few connections of
//! this crate's own, instead of through sqlx.
//!
//! sqlx runs each SQLite connection on a thread of its own, so every query is a channel send
//! and two thread wake-ups; for a GET of a small object that hand-off cost more CPU than
//! the rest of the request's metadata work. A primary-key read of one row touches pages that
//! are nearly always in SQLite's or the OS's cache and takes microseconds, less than the two
//! context switches it replaces, so it runs where the request runs. A read that has to go to
//! the disk holds one runtime worker for that read; the others go on.

use crate::MetaError;
use std::sync::Mutex;
use std::time::Duration;

/// Idle connections kept (about one per core: a read holds its connection only while it
/// runs, on a runtime worker). Each caches up to SQLite's default 2 MiB of pages.
const MAX_IDLE: usize = 2;

/// Read-only connections to the database file, opened when needed and kept while idle.
#[derive(Debug)]
pub(crate) struct SqliteReaders {
    path: String,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl SqliteReaders {
    /// Readers of the (already migrated, WAL-mode) database at `path`.
    pub(crate) fn new(path: &str) -> Self {
        SqliteReaders {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Only while the WAL is being reset after a checkpoint can a reader be told to wait.
        conn.busy_timeout(Duration::from_secs(10))?;
        Ok(conn)
    }

    /// Run `read` on an idle connection, or on a new one when all are in use.
    pub(crate) fn read<R>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<R>,
    ) -> Result<R, MetaError> {
        // The lock guards only the list: a panic elsewhere cannot leave it inconsistent.
        let lock = || {
            self.idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let taken = lock().pop();
        let conn = match taken {
            Some(c) => c,
            None => self.open()?,
        };
        let result = read(&conn);
        let mut idle = lock();
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        Ok(result?)
    }
}
