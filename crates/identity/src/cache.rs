//! In-memory caches: compiled policies by content hash (bucket and session policies) and
//! documents by key with their store version (roles, users, managed policies, pools, keys).
//! Versioned entries are re-validated against the store after [`REVALIDATE_SECS`], so edits
//! made on another node apply within seconds; edits made here invalidate immediately.

use cubby_policy::{Policy, PolicyError, PolicyKind};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// How long a versioned entry is trusted without asking the store.
pub(crate) const REVALIDATE_SECS: i64 = 2;
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
    checked: i64,
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
    pub(crate) fn probe(&self, key: &str, now: i64) -> Probe<T> {
        let Ok(m) = self.map.read() else {
            return Probe::Missing;
        };
        match m.get(key) {
            Some(e) if now.saturating_sub(e.checked) < REVALIDATE_SECS && now >= e.checked => {
                Probe::Fresh(e.value.clone())
            }
            Some(e) => Probe::Stale(e.version),
            None => Probe::Missing,
        }
    }

    /// Mark an entry validated at `now` (its version did not change) and return it.
    pub(crate) fn touch(&self, key: &str, now: i64) -> Option<Arc<T>> {
        let mut m = self.map.write().ok()?;
        let e = m.get_mut(key)?;
        e.checked = now;
        Some(e.value.clone())
    }

    pub(crate) fn put(&self, key: &str, version: i64, now: i64, value: Arc<T>) {
        if let Ok(mut m) = self.map.write() {
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
            m.insert(
                key.to_owned(),
                Entry {
                    version,
                    checked: now,
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
