//! Upload-rate windows: "at most N uploads per minute" per key (rule + identity, or rule +
//! source address), exact over a sliding 60-second window. Time is passed in.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Window length.
pub const WINDOW_MS: i64 = 60_000;

/// Sliding-window counters for many keys.
#[derive(Debug, Default)]
pub struct RateWindows {
    // One lock: the critical section is a few comparisons, far cheaper than the upload.
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Admission times per key, oldest first; never longer than the key's limit.
    hits: HashMap<String, VecDeque<i64>>,
    /// When idle keys were last dropped.
    swept_ms: i64,
}

impl RateWindows {
    /// Count one upload for `key` at `now_ms` if fewer than `limit` were admitted in the last
    /// minute. `Err(retry_after_ms)` says when the oldest of them leaves the window.
    pub fn admit(&self, key: &str, limit: u32, now_ms: i64) -> Result<(), i64> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if now_ms - inner.swept_ms > WINDOW_MS {
            inner
                .hits
                .retain(|_, q| q.back().is_some_and(|t| now_ms - t < WINDOW_MS));
            inner.swept_ms = now_ms;
        }
        let q = match inner.hits.get_mut(key) {
            Some(q) => q,
            None => inner.hits.entry(key.to_owned()).or_default(),
        };
        while q.front().is_some_and(|t| now_ms - t >= WINDOW_MS) {
            q.pop_front();
        }
        if q.len() >= limit as usize {
            let oldest = q.front().copied().unwrap_or(now_ms);
            return Err((oldest + WINDOW_MS - now_ms).max(1));
        }
        q.push_back(now_ms);
        Ok(())
    }

    /// Would [`RateWindows::admit`] admit one more upload for `key` now? Counts nothing.
    pub fn check(&self, key: &str, limit: u32, now_ms: i64) -> Result<(), i64> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let empty = VecDeque::new();
        let q = inner.hits.get(key).unwrap_or(&empty);
        // Times are kept oldest first, so those still in the window are a suffix.
        let live = q
            .iter()
            .rev()
            .take_while(|t| now_ms - **t < WINDOW_MS)
            .count();
        if live >= limit as usize {
            let oldest = q.get(q.len() - live).copied().unwrap_or(now_ms);
            return Err((oldest + WINDOW_MS - now_ms).max(1));
        }
        Ok(())
    }

    /// Give back an admission made at `at_ms` that did not turn into an upload attempt after
    /// all (a later check refused it), so refusals do not eat the allowance.
    pub fn refund(&self, key: &str, at_ms: i64) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(q) = inner.hits.get_mut(key)
            && let Some(pos) = q.iter().rposition(|t| *t == at_ms)
        {
            q.remove(pos);
        }
    }

    /// Keys currently tracked (for metrics and tests).
    pub fn tracked(&self) -> usize {
        self.inner.lock().map(|i| i.hits.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_agrees_with_admit_and_counts_nothing() {
        let w = RateWindows::default();
        assert_eq!(w.check("k", 2, 0), Ok(()));
        assert_eq!(w.check("k", 0, 0), Err(WINDOW_MS));
        w.admit("k", 2, 0).unwrap();
        w.admit("k", 2, 10_000).unwrap();
        for _ in 0..3 {
            assert_eq!(w.check("k", 2, 20_000), Err(40_000));
        }
        assert_eq!(w.check("k", 3, 20_000), Ok(()));
        // The first admission has left the window: one place is free, and checking twice
        // does not take it.
        assert_eq!(w.check("k", 2, 60_000), Ok(()));
        assert_eq!(w.check("k", 2, 60_000), Ok(()));
        assert_eq!(w.admit("k", 2, 60_000), Ok(()));
        assert_eq!(w.check("k", 2, 60_001), Err(9_999));
    }

    #[test]
    fn admits_limit_per_sliding_minute() {
        let w = RateWindows::default();
        assert_eq!(w.admit("k", 2, 0), Ok(()));
        assert_eq!(w.admit("k", 2, 10_000), Ok(()));
        assert_eq!(w.admit("k", 2, 20_000), Err(40_000));
        // Other keys are independent.
        assert_eq!(w.admit("other", 2, 20_000), Ok(()));
        // The first admission leaves the window at 60 s.
        assert_eq!(w.admit("k", 2, 59_999), Err(1));
        assert_eq!(w.admit("k", 2, 60_000), Ok(()));
        assert_eq!(w.admit("k", 2, 60_001), Err(9_999));
    }

    #[test]
    fn refunds_return_the_allowance() {
        let w = RateWindows::default();
        assert_eq!(w.admit("k", 1, 5), Ok(()));
        assert!(w.admit("k", 1, 6).is_err());
        w.refund("k", 5);
        assert_eq!(w.admit("k", 1, 7), Ok(()));
    }

    #[test]
    fn idle_keys_are_dropped() {
        let w = RateWindows::default();
        for i in 0..10 {
            assert!(w.admit(&format!("k{i}"), 1, 0).is_ok());
        }
        assert_eq!(w.tracked(), 10);
        assert!(w.admit("fresh", 1, 2 * WINDOW_MS).is_ok());
        assert_eq!(w.tracked(), 1);
    }
}
