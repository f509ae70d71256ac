//! What a running job reports: completeness, log entries, a result set by `error_finish`, and
//! heartbeats. A report costs the job a lock and a few stores in memory; the worker's keeper
//! thread writes the latest state to the document in the background (within
//! [`FLUSH_INTERVAL`]), and the worker flushes once more before it records the outcome, so the
//! document never misses a report.

use crate::clock;
use crate::error::Result;
use crate::job::{log_entry, LogList};
use crate::store::{Patch, Store};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// `set_completeness(..., enforceMinInterval=True)` skips updates closer than this to the last.
pub const MIN_UPDATE_INTERVAL: Duration = Duration::from_secs(2);
/// The longest a completeness value or a log entry waits before it reaches the document.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// A heartbeat alone (no other change) is written at most this often.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// `track_completeness(start, end, intervals)` state.
#[derive(Clone, Copy, Debug)]
struct Track {
    start: f64,
    end: f64,
    intervals: f64,
    current: u64,
}

#[derive(Debug, Default)]
struct State {
    /// The last accepted completeness, and whether the document has it yet.
    completeness: f64,
    completeness_dirty: bool,
    last_accepted: Option<Instant>,
    track: Option<Track>,
    logs: Vec<(LogList, Value)>,
    new_errors: i64,
    result_code: Option<i64>,
    heartbeat_dirty: bool,
    last_flush: Option<Instant>,
}

/// Stops the running job from another thread (see [`RunContext::set_interrupt`]).
pub type Interrupt = Box<dyn Fn() + Send + Sync>;

/// The reporting state of the one job a worker is running.
pub struct RunContext {
    store: Arc<dyn Store>,
    key: String,
    state: Mutex<State>,
    /// Serialises flushes, so a background flush and the final one never interleave.
    flushing: Mutex<()>,
    /// The document showed a cancel request: every report from the job now says so.
    cancelled: AtomicBool,
    /// When the document was last read for a cancel request (the claim read it first).
    cancel_checked: Mutex<Instant>,
    /// How the job runner stops the job when it is cancelled; taken when used.
    interrupt: Mutex<Option<Interrupt>>,
}

/// What `set_completeness` did with a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Accepted {
    /// Stored (the value, after clamping to 0..=1).
    Yes(f64),
    /// Skipped by the minimum interval.
    Throttled,
}

impl RunContext {
    pub fn new(store: Arc<dyn Store>, key: String, completeness: f64) -> RunContext {
        RunContext {
            store,
            key,
            state: Mutex::new(State {
                completeness,
                ..State::default()
            }),
            flushing: Mutex::new(()),
            cancelled: AtomicBool::new(false),
            cancel_checked: Mutex::new(Instant::now()),
            interrupt: Mutex::new(None),
        }
    }

    /// Whether the job's document asked for it to be cancelled (as far as this context has seen:
    /// every flush reads the document, and so does [`RunContext::check_cancel`]).
    pub fn cancel_requested(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// What a read of the document says about cancellation.
    fn saw(&self, doc: &crate::job::Doc) {
        *self
            .cancel_checked
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Instant::now();
        if crate::job::cancel::is_requested(doc) {
            self.cancelled.store(true, Ordering::Relaxed);
        }
    }

    /// Reads the document for a cancel request unless it was read within `max_age` (by a flush
    /// or an earlier check). Returns whether cancellation was requested. A failed read is
    /// retried after `max_age` too.
    pub fn check_cancel(&self, max_age: Duration) -> Result<bool> {
        if self.cancel_requested() {
            return Ok(true);
        }
        {
            let mut checked = self
                .cancel_checked
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if checked.elapsed() < max_age {
                return Ok(false);
            }
            *checked = Instant::now();
        }
        if let Some(v) = self.store.get(&self.key)? {
            self.saw(&v.doc);
        }
        Ok(self.cancel_requested())
    }

    /// The job runner says how to stop this job from another thread (the bindings interrupt the
    /// Python code running it). Used once, by the worker's keeper, when it sees the request.
    pub fn set_interrupt(&self, f: Interrupt) {
        *self.interrupt.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
    }

    /// Drops the interrupt (the run is over). Once it returns, the interrupt is not running and
    /// will not be.
    pub fn clear_interrupt(&self) {
        self.interrupt
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }

    /// Stops the job through the runner's interrupt, if it gave one and it was not used yet.
    /// Returns whether it was used. [`RunContext::clear_interrupt`] waits for it to return.
    pub fn interrupt(&self) -> bool {
        let mut guard = self.interrupt.lock().unwrap_or_else(|p| p.into_inner());
        match guard.take() {
            Some(f) => {
                f();
                true
            }
            None => false,
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not silence progress reporting: the state stays usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The latest completeness the job reported (or the stored one at start).
    pub fn completeness(&self) -> f64 {
        self.lock().completeness
    }

    /// Records a completeness value, clamped to 0..=1. With `enforce_min_interval`, a value
    /// within [`MIN_UPDATE_INTERVAL`] of the last accepted one is skipped.
    pub fn set_completeness(&self, value: f64, enforce_min_interval: bool) -> Accepted {
        let mut st = self.lock();
        st.heartbeat_dirty = true;
        let now = Instant::now();
        if enforce_min_interval {
            if let Some(last) = st.last_accepted {
                if now.duration_since(last) < MIN_UPDATE_INTERVAL {
                    return Accepted::Throttled;
                }
            }
        }
        let clamped = if value.is_nan() {
            st.completeness
        } else {
            value.clamp(0.0, 1.0)
        };
        st.completeness = clamped;
        st.completeness_dirty = true;
        st.last_accepted = Some(now);
        Accepted::Yes(clamped)
    }

    /// Starts counting `intervals` equal steps from `start` to `end`.
    pub fn track_completeness(&self, start: f64, end: f64, intervals: f64) {
        let mut st = self.lock();
        st.heartbeat_dirty = true;
        st.track = Some(Track {
            start,
            end,
            intervals: if intervals > 0.0 { intervals } else { 1.0 },
            current: 0,
        });
    }

    /// One more step of the tracked range: completeness becomes start + (end-start) * i /
    /// intervals, capped at end, under the minimum interval. Because the value is absolute, a
    /// throttled step is caught up by the next accepted one. Without tracking it is only a
    /// heartbeat. Returns the value it tried to set.
    pub fn increment_completeness(&self) -> Option<(f64, Accepted)> {
        let value = {
            let mut st = self.lock();
            st.heartbeat_dirty = true;
            let t = st.track.as_mut()?;
            t.current += 1;
            let v = t.start + (t.end - t.start) * t.current as f64 / t.intervals;
            if t.end >= t.start {
                v.min(t.end)
            } else {
                v.max(t.end)
            }
        };
        Some((value, self.set_completeness(value, true)))
    }

    /// Stores a log entry (an event, a warning, or an error with its code).
    pub fn log(&self, list: LogList, msg: &str, error_code: Option<i64>) {
        let mut st = self.lock();
        st.heartbeat_dirty = true;
        st.logs.push((list, log_entry(msg, error_code)));
        if list == LogList::Errors {
            st.new_errors += 1;
        }
    }

    /// Sets the result code (as `error_finish` does); the worker also finishes the job with it.
    pub fn set_result(&self, code: i64) {
        let mut st = self.lock();
        st.result_code = Some(code);
        if crate::job::completes(code) {
            st.completeness = 1.0;
            st.completeness_dirty = true;
        }
    }

    /// The job showed it is alive.
    pub fn heartbeat(&self) {
        self.lock().heartbeat_dirty = true;
    }

    /// Whether the background writer should flush now.
    pub fn flush_due(&self) -> bool {
        let st = self.lock();
        let since = st.last_flush.map(|t| t.elapsed()).unwrap_or(Duration::MAX);
        let content = st.completeness_dirty || !st.logs.is_empty() || st.result_code.is_some();
        (content && since >= FLUSH_INTERVAL) || (st.heartbeat_dirty && since >= HEARTBEAT_INTERVAL)
    }

    /// Writes everything not yet in the document, in one compare-and-swap update. On failure the
    /// pending state is kept, so the next flush writes it.
    pub fn flush(&self) -> Result<()> {
        let _one_at_a_time = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
        self.write_pending(|patch| {
            self.store
                .patch(&self.key, patch)
                .map(|p| self.saw(&p.fields))
        })
    }

    /// What the job reported that is not in the document yet, as a patch, taken out of this
    /// context: for a final write that carries it (the outcome, when the last flush failed).
    pub fn take_unsaved(&self) -> Option<Patch> {
        let _one_at_a_time = self.flushing.lock().unwrap_or_else(|p| p.into_inner());
        let mut taken = None;
        let _ = self.write_pending(|patch| {
            taken = Some(patch.clone());
            Ok(())
        });
        taken
    }

    /// Hands the pending state, as a patch, to `write`; puts it back if that fails.
    fn write_pending(&self, write: impl FnOnce(&Patch) -> Result<()>) -> Result<()> {
        let (completeness, logs, new_errors, result, heartbeat) = {
            let mut st = self.lock();
            if !(st.completeness_dirty
                || st.heartbeat_dirty
                || !st.logs.is_empty()
                || st.result_code.is_some())
            {
                return Ok(());
            }
            st.last_flush = Some(Instant::now());
            let out = (
                st.completeness_dirty.then_some(st.completeness),
                std::mem::take(&mut st.logs),
                std::mem::take(&mut st.new_errors),
                st.result_code.take(),
                st.heartbeat_dirty,
            );
            st.completeness_dirty = false;
            st.heartbeat_dirty = false;
            out
        };
        let now = clock::now_iso();
        // A patch, not a rewrite: Couchbase sends only these fields, SQLite applies them in
        // one compare-and-swap update. The fields read back show a cancel request for free.
        let mut patch = Patch {
            read: crate::job::cancel::FIELDS_READ.to_vec(),
            ..Patch::default()
        };
        if let Some(c) = completeness {
            patch.set.push(("completeness", c.into()));
        }
        patch.push.extend(logs.iter().cloned());
        if new_errors > 0 {
            patch.add.push(("errorCount", new_errors));
        }
        if let Some(code) = result {
            patch.set.push(("resultCode", code.into()));
        }
        if heartbeat {
            patch.set.push(("heartbeatAt", now.clone().into()));
        }
        patch.set.push(("updatedAt", now.into()));
        if let Err(e) = write(&patch) {
            // Put it all back so nothing reported is lost; the next flush tries again.
            let mut st = self.lock();
            if completeness.is_some() {
                st.completeness_dirty = true;
            }
            let newer = std::mem::replace(&mut st.logs, logs);
            st.logs.extend(newer);
            st.new_errors += new_errors;
            if st.result_code.is_none() {
                st.result_code = result;
            }
            st.heartbeat_dirty |= heartbeat;
            return Err(e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::SqliteStore;
    use crate::job::{key_for, new_document, Doc, DocExt};

    fn ctx() -> (tempfile::TempDir, Arc<dyn Store>, RunContext) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("p.db")).unwrap());
        let key = key_for("u1");
        store
            .insert(&key, &new_document("u1", "t", "q", Doc::new()))
            .unwrap();
        let ctx = RunContext::new(store.clone(), key, 0.0);
        (dir, store, ctx)
    }

    fn stored(store: &Arc<dyn Store>) -> Doc {
        store.get(&key_for("u1")).unwrap().unwrap().doc
    }

    #[test]
    fn completeness_is_clamped_and_flushed() {
        let (_d, store, ctx) = ctx();
        assert_eq!(ctx.set_completeness(1.7, false), Accepted::Yes(1.0));
        assert_eq!(ctx.set_completeness(-0.5, false), Accepted::Yes(0.0));
        assert_eq!(ctx.set_completeness(0.25, false), Accepted::Yes(0.25));
        assert_eq!(
            stored(&store).f64_field("completeness"),
            0.0,
            "not written before a flush"
        );
        ctx.flush().unwrap();
        let doc = stored(&store);
        assert_eq!(doc.f64_field("completeness"), 0.25);
        assert!(doc.str_field("heartbeatAt").is_some());
    }

    #[test]
    fn the_min_interval_skips_close_updates() {
        let (_d, _s, ctx) = ctx();
        assert_eq!(ctx.set_completeness(0.1, true), Accepted::Yes(0.1));
        assert_eq!(ctx.set_completeness(0.2, true), Accepted::Throttled);
        assert_eq!(ctx.completeness(), 0.1);
        // Without the flag an update always lands.
        assert_eq!(ctx.set_completeness(0.3, false), Accepted::Yes(0.3));
    }

    #[test]
    fn tracked_steps_are_absolute_and_capped() {
        let (_d, _s, ctx) = ctx();
        assert!(
            ctx.increment_completeness().is_none(),
            "no tracking yet: only a heartbeat"
        );
        ctx.track_completeness(0.2, 0.6, 4.0);
        assert_eq!(
            ctx.increment_completeness().unwrap(),
            (0.3, Accepted::Yes(0.3))
        );
        // The next three land within 2 s and are throttled ...
        for _ in 0..3 {
            assert_eq!(ctx.increment_completeness().unwrap().1, Accepted::Throttled);
        }
        // ... and the fifth is capped at the end of the range.
        let (v, _) = ctx.increment_completeness().unwrap();
        assert!((v - 0.6).abs() < 1e-9, "{v}");
    }

    #[test]
    fn logs_and_error_counts_reach_the_document_in_order() {
        let (_d, store, ctx) = ctx();
        ctx.log(LogList::Events, "one", None);
        ctx.log(LogList::Events, "two", None);
        ctx.log(LogList::Warnings, "careful", None);
        ctx.log(LogList::Errors, "bad", Some(512));
        ctx.flush().unwrap();
        let doc = stored(&store);
        let events: Vec<&str> = doc["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["msg"].as_str().unwrap())
            .collect();
        assert_eq!(events, ["one", "two"]);
        assert_eq!(doc["warnings"][0]["msg"], "careful");
        assert_eq!(doc["errors"][0]["errorCode"], 512);
        assert_eq!(doc.i64_field("errorCount"), 1);
        assert!(doc["events"][0]["timeStamp"]
            .as_str()
            .unwrap()
            .contains('T'));
    }

    #[test]
    fn a_failed_flush_keeps_its_reports_for_the_next() {
        let (_d, store, ctx) = ctx();
        ctx.log(LogList::Events, "kept", None);
        store.delete(&key_for("u1")).unwrap();
        assert!(ctx.flush().is_err());
        store
            .insert(&key_for("u1"), &new_document("u1", "t", "q", Doc::new()))
            .unwrap();
        ctx.flush().unwrap();
        assert_eq!(stored(&store)["events"][0]["msg"], "kept");
    }
}
