//! Answers herald reads many times and that rarely change: a repository's configuration
//! file and its template overrides, read by every job of an incident. Each answer is kept
//! per installation and trusted for a short while without asking, and never for a job that
//! became due after it was read; otherwise GitHub is asked again with its ETag, and a 304
//! (which costs no rate limit) keeps the answer.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Entries kept before the stale ones are dropped: far more than the files of the
/// repositories one installation serves at a time.
const MAX_ENTRIES: usize = 20_000;

/// What GitHub answered for one path: the body (`None`: 404) and its ETag.
#[derive(Clone)]
pub struct Cached {
    pub body: Option<Arc<[u8]>>,
    pub etag: Option<String>,
    checked: Instant,
    /// `checked` on the wall clock, to compare with when a job became due.
    checked_at: DateTime<Utc>,
}

pub struct ReadCache {
    fresh_for: Duration,
    entries: Mutex<HashMap<String, Cached>>,
}

/// What the cache knows of a path.
pub enum Lookup {
    /// Checked within the fresh period: use it without asking.
    Fresh(Option<Arc<[u8]>>),
    /// Known but to be checked again (with this ETag, when there is one).
    Stale(Cached),
    Unknown,
}

impl ReadCache {
    pub fn new(fresh_for: Duration) -> ReadCache {
        ReadCache {
            fresh_for,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What is known of `path` for a reader that needs it read at `since` or later.
    pub fn lookup(&self, path: &str, since: Option<DateTime<Utc>>) -> Lookup {
        match self.entries().get(path) {
            Some(cached)
                if cached.checked.elapsed() < self.fresh_for
                    && since.is_none_or(|since| cached.checked_at >= since) =>
            {
                Lookup::Fresh(cached.body.clone())
            }
            Some(cached) => Lookup::Stale(cached.clone()),
            None => Lookup::Unknown,
        }
    }

    /// Records what GitHub answered for `path` just now.
    pub fn store(&self, path: &str, body: Option<Arc<[u8]>>, etag: Option<String>) {
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            let fresh_for = self.fresh_for;
            entries.retain(|_, cached| cached.checked.elapsed() < fresh_for);
        }
        entries.insert(
            path.to_owned(),
            Cached {
                body,
                etag,
                checked: Instant::now(),
                checked_at: Utc::now(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_fresh_for_jobs_due_before_it_then_stale_with_its_etag() {
        let cache = ReadCache::new(Duration::from_millis(30));
        assert!(matches!(cache.lookup("/a", None), Lookup::Unknown));
        let before = Utc::now();
        cache.store(
            "/a",
            Some(Arc::from(&b"text"[..])),
            Some("\"e1\"".to_owned()),
        );
        cache.store("/missing", None, None);
        assert!(
            matches!(cache.lookup("/a", Some(before)), Lookup::Fresh(Some(body)) if &*body == b"text")
        );
        assert!(matches!(
            cache.lookup("/missing", None),
            Lookup::Fresh(None)
        ));
        // A job that became due after the read asks again.
        let later = Utc::now() + chrono::Duration::milliseconds(1);
        assert!(matches!(cache.lookup("/a", Some(later)), Lookup::Stale(_)));
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            matches!(cache.lookup("/a", None), Lookup::Stale(cached) if cached.etag.as_deref() == Some("\"e1\""))
        );
    }
}
