//! Test support: a real store with faults switched on and off by the test, as production's
//! stores fail: in-place changes (progress reports) refused while whole-document writes still
//! go through, or every call stalled for a while (a store that stops answering). Every call is
//! forwarded to the real store underneath.

use super::{Cas, FinishCursor, ListQuery, Page, Patch, Patched, Store, Versioned};
use crate::error::{Error, Result};
use crate::job::{Doc, EncodedDoc, LogList, Status};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) struct Faulty {
    inner: Arc<dyn Store>,
    /// `patch` and `append` fail, as a store that refuses partial updates for a while.
    pub(crate) fail_patches: AtomicBool,
    /// Every call waits until then, as a store that stops answering for a while.
    stalled_until: Mutex<Option<Instant>>,
    /// Whole-document writes (`replace`) fail until then, as a file turned read-only.
    replaces_fail_until: Mutex<Option<Instant>>,
}

impl Faulty {
    pub(crate) fn new(inner: Arc<dyn Store>) -> Faulty {
        Faulty {
            inner,
            fail_patches: AtomicBool::new(false),
            stalled_until: Mutex::new(None),
            replaces_fail_until: Mutex::new(None),
        }
    }

    /// From now on, `replace` fails until `for_` has passed.
    pub(crate) fn fail_replaces(&self, for_: Duration) {
        *self.replaces_fail_until.lock().unwrap() = Some(Instant::now() + for_);
    }

    /// From now on, every call waits until `for_` has passed.
    pub(crate) fn stall(&self, for_: Duration) {
        *self.stalled_until.lock().unwrap() = Some(Instant::now() + for_);
    }

    fn wait_out_stall(&self) {
        let until = *self.stalled_until.lock().unwrap();
        if let Some(t) = until {
            std::thread::sleep(t.saturating_duration_since(Instant::now()));
        }
    }

    fn patches_fail(&self, key: &str) -> Result<()> {
        self.wait_out_stall();
        if self.fail_patches.load(Ordering::Relaxed) {
            return Err(Error::backend(
                "faulty",
                "test",
                format!("{key}: in-place changes are failing (a fault the test switched on)"),
            ));
        }
        Ok(())
    }
}

impl Store for Faulty {
    fn insert_encoded(&self, key: &str, doc: &EncodedDoc) -> Result<Cas> {
        self.wait_out_stall();
        self.inner.insert_encoded(key, doc)
    }
    fn get(&self, key: &str) -> Result<Option<Versioned>> {
        self.wait_out_stall();
        self.inner.get(key)
    }
    fn replace(&self, key: &str, doc: &Doc, cas: Cas) -> Result<Cas> {
        self.wait_out_stall();
        if self
            .replaces_fail_until
            .lock()
            .unwrap()
            .is_some_and(|t| Instant::now() < t)
        {
            return Err(Error::backend(
                "faulty",
                "test",
                format!(
                    "{key}: attempt to write a readonly database (a fault the test switched on)"
                ),
            ));
        }
        self.inner.replace(key, doc, cas)
    }
    fn append(&self, key: &str, list: LogList, entry: &Value) -> Result<Cas> {
        self.patches_fail(key)?;
        self.inner.append(key, list, entry)
    }
    fn patch(&self, key: &str, patch: &Patch) -> Result<Patched> {
        self.patches_fail(key)?;
        self.inner.patch(key, patch)
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.wait_out_stall();
        self.inner.delete(key)
    }
    fn list(&self, query: &ListQuery) -> Result<Page> {
        self.wait_out_stall();
        self.inner.list(query)
    }
    fn expire_finished(&self, finished_before: &str) -> Result<usize> {
        self.wait_out_stall();
        self.inner.expire_finished(finished_before)
    }
    fn count_by_status(&self) -> Result<Vec<(Status, u64)>> {
        self.wait_out_stall();
        self.inner.count_by_status()
    }
    fn finished_after(
        &self,
        after: &FinishCursor,
        until: &str,
        limit: usize,
    ) -> Result<(Vec<Doc>, FinishCursor)> {
        self.wait_out_stall();
        self.inner.finished_after(after, until, limit)
    }
}
