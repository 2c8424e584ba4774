//! In-memory caches: compiled policies by content hash (bucket and session policies) and
//! documents by key with their store version (roles, users, managed policies, pools, keys).
//! Versioned entries are re-validated against the store (one indexed read of the version)
//! after [`REVALIDATE`], so edits made on another node apply within a second; edits made here
//! invalidate immediately.

use cubby_policy::{Policy, PolicyError, PolicyKind};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long a versioned entry is trusted without asking the store. Nodes share nothing but
/// the database, so this bounds how stale another node's edit can look (the scale-out
/// promise is 1 s); it is measured on a monotonic clock, not the request's `now`.
pub(crate) const REVALIDATE: Duration = Duration::from_millis(500);
/// Bound on entries per cache (cleared wholesale when exceeded; they are cheap to rebuild).
const MAX_ENTRIES: usize = 10_000;

/// Compiled policies keyed by (kind, SHA-256 of the text).
#[derive(Default)]
pub(crate) struct CompiledPolicies {
    map: RwLock<HashMap<[u8; 32], Arc<Policy>>>,
}

fn kind_tag(kind: PolicyKind) -> u8 {
    match kind {
        PolicyKind::Identity => 1,
        PolicyKind::Resource => 2,
        PolicyKind::Bucket => 3,
        PolicyKind::Trust => 4,
    }
}

impl CompiledPolicies {
    /// The compiled form of `text` as `kind`, compiling on a miss.
    pub(crate) fn get(&self, text: &str, kind: PolicyKind) -> Result<Arc<Policy>, PolicyError> {
        let mut buf = Vec::with_capacity(text.len() + 1);
        buf.push(kind_tag(kind));
        buf.extend_from_slice(text.as_bytes());
        let h = crate::util::sha256(&buf);
        if let Ok(m) = self.map.read()
            && let Some(p) = m.get(&h)
        {
            return Ok(p.clone());
        }
        let p = Arc::new(Policy::parse_as(text, kind)?);
        if let Ok(mut m) = self.map.write() {
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
            m.insert(h, p.clone());
        }
        Ok(p)
    }
}

struct Entry<T> {
    version: i64,
    checked: Instant,
    value: Arc<T>,
}

/// Documents (or values derived from them) keyed by store key, with the store version.
pub(crate) struct Versioned<T> {
    map: RwLock<HashMap<String, Entry<T>>>,
}

impl<T> Default for Versioned<T> {
    fn default() -> Self {
        Versioned {
            map: RwLock::new(HashMap::new()),
        }
    }
}

/// A cache probe's result.
pub(crate) enum Probe<T> {
    /// Recently validated: use it.
    Fresh(Arc<T>),
    /// Present but due for re-validation; carries the version it was built from.
    Stale(i64),
    /// Not cached.
    Missing,
}

impl<T> Versioned<T> {
    pub(crate) fn probe(&self, key: &str) -> Probe<T> {
        let Ok(m) = self.map.read() else {
            return Probe::Missing;
        };
        match m.get(key) {
            Some(e) if e.checked.elapsed() < REVALIDATE => Probe::Fresh(e.value.clone()),
            Some(e) => Probe::Stale(e.version),
            None => Probe::Missing,
        }
    }

    /// Mark an entry validated now (its version did not change) and return it.
    pub(crate) fn touch(&self, key: &str) -> Option<Arc<T>> {
        let mut m = self.map.write().ok()?;
        let e = m.get_mut(key)?;
        e.checked = Instant::now();
        Some(e.value.clone())
    }

    pub(crate) fn put(&self, key: &str, version: i64, value: Arc<T>) {
        if let Ok(mut m) = self.map.write() {
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
            m.insert(
                key.to_owned(),
                Entry {
                    version,
                    checked: Instant::now(),
                    value,
                },
            );
        }
    }

    pub(crate) fn remove(&self, key: &str) {
        if let Ok(mut m) = self.map.write() {
            m.remove(key);
        }
    }
}
