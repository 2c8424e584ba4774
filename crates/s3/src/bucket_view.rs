//! A bucket's configuration document, parsed once per version of its text: the bucket row is
//! read on every request anyway (so a change made on another node applies at once), but
//! parsing the JSON (policy, CORS, ACL, notification and upload rules) several times per
//! request cost more than most of the request's own bookkeeping.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use cubby_meta::BucketRow;
use cubby_rules::CompiledRule;

use crate::config::BucketConfig;
use crate::notify::EventScope;

/// Bound on cached buckets (cleared wholesale when exceeded; entries are cheap to rebuild).
const MAX_BUCKETS: usize = 10_000;

/// What a request needs from a bucket's configuration.
pub(crate) struct BucketView {
    /// The parsed document.
    pub config: BucketConfig,
    /// Notification rules with the bucket owner (`None`: the bucket sends no events).
    pub events: Option<Arc<EventScope>>,
    /// Compiled upload rules (empty: none).
    pub upload_rules: Arc<Vec<CompiledRule>>,
}

impl BucketView {
    fn build(row: &BucketRow) -> BucketView {
        let config = BucketConfig::from_json(&row.config);
        let events = EventScope::of(&config, &row.owner);
        let upload_rules = match cubby_rules::compile(
            config.upload_rules.as_deref().unwrap_or_default(),
        ) {
            Ok(r) => Arc::new(r),
            Err(e) => {
                // Validated when stored; a document that no longer compiles is an operator
                // problem, and failing closed would stop every upload.
                tracing::error!(bucket = %row.name, error = %e, "stored upload rules do not compile");
                Arc::default()
            }
        };
        BucketView {
            config,
            events,
            upload_rules,
        }
    }
}

/// A cached view with the configuration text and owner it was built from.
struct Entry {
    text: String,
    owner: String,
    view: Arc<BucketView>,
}

/// Parsed views by bucket name.
#[derive(Default)]
pub(crate) struct BucketViews {
    map: RwLock<HashMap<String, Entry>>,
}

impl BucketViews {
    /// The view of `row`, parsed only when its configuration text changed.
    pub(crate) fn of(&self, row: &BucketRow) -> Arc<BucketView> {
        if let Ok(m) = self.map.read()
            && let Some(e) = m.get(&row.name)
            && e.text == row.config
            && e.owner == row.owner
        {
            return e.view.clone();
        }
        let view = Arc::new(BucketView::build(row));
        if let Ok(mut m) = self.map.write() {
            if m.len() >= MAX_BUCKETS {
                m.clear();
            }
            m.insert(
                row.name.clone(),
                Entry {
                    text: row.config.clone(),
                    owner: row.owner.clone(),
                    view: view.clone(),
                },
            );
        }
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(config: &str) -> BucketRow {
        BucketRow {
            name: "b".into(),
            created_ms: 0,
            owner: "o".into(),
            config: config.into(),
        }
    }

    #[test]
    fn a_view_is_reused_until_the_text_changes() {
        let views = BucketViews::default();
        let a = views.of(&row("{}"));
        let again = views.of(&row("{}"));
        assert!(Arc::ptr_eq(&a, &again));
        let rules = r#"{"upload_rules":[{"id":"small","max_size":10}]}"#;
        let changed = views.of(&row(rules));
        assert!(!Arc::ptr_eq(&a, &changed));
        assert_eq!(changed.upload_rules.len(), 1);
        assert!(a.upload_rules.is_empty());
    }
}
