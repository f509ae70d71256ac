//! Cooperative cancellation, as a client asks for it: a request written into the job's document,
//! honoured by whichever worker holds or next claims the job.
//!
//! - [`request_cancel`] (what `zeroG.jobs.cancel(uuid)` calls) writes the request. A job that is
//!   not running (queued, or waiting for a requeue or a retry) is cancelled there and then: its
//!   document says `cancelled`, and the worker that reserves its queue entry deletes the entry
//!   without running it. A running job gets `cancelRequested: true`; its worker sees that (the
//!   keeper re-reads the document at least every second and at every lease renewal, and every
//!   progress write reads it too), stops the job through the runner's interrupt and by making
//!   the job's reports fail, and records it `cancelled`. A finished job is left as it is.
//! - A job claimed in a batch is marked running only in its worker's memory until it has run
//!   for 20 ms (see `LazyMark`), so a request made in that window finds it `queued` and cancels
//!   it at once: the run, if it started, is stopped like any running job and recorded
//!   `cancelled` (the mark is never written over a cancelled document).
//! - The document keeps the original zeroG's fields; the request adds `cancelRequested` and
//!   `cancelRequestedAt`, which the original's tools ignore. A cancelled job's `resultCode` is
//!   [`crate::job::CANCELLED`] (410), so those tools see it finished.
//!
//! Once requested, cancellation wins: however the run then ends (it stops at the request,
//! swallows it and returns, fails, asks to be requeued, or its worker dies), the job is recorded
//! `cancelled` and never runs again, unless it is enqueued anew.

use crate::clock;
use crate::error::{Error, Result};
use crate::job::cancel::apply_request;
use crate::job::{self, DocExt, Status};
use crate::store::{Store, MAX_CAS_ATTEMPTS};

/// Requests cancellation of the job `uuid` and returns its status afterwards: `cancelled` for a
/// job that was not running, `running` for a running one (it stops when its worker sees the
/// request), or the final status of a finished job, which is left unchanged. Compare-and-swap,
/// retried when another writer got there first. `DocNotFound` if there is no such job.
pub fn request_cancel(store: &dyn Store, uuid: &str) -> Result<Status> {
    request_cancel_because(store, uuid, None)
}

/// [`request_cancel`], with an error recorded in the document alongside the request when it is
/// written: the original zeroG's `killJob` ends a job with error 410 "Killed by user".
pub fn request_cancel_because(
    store: &dyn Store,
    uuid: &str,
    error: Option<(i64, &str)>,
) -> Result<Status> {
    let key = job::key_for(uuid);
    for attempt in 0..MAX_CAS_ATTEMPTS {
        let Some(found) = store.get(&key)? else {
            return Err(Error::DocNotFound { key });
        };
        let mut doc = found.doc;
        let Some(status) = apply_request(&mut doc, &clock::now_iso()) else {
            return Ok(doc.status());
        };
        if let Some((code, message)) = error {
            job::add_error(&mut doc, code, message);
        }
        match store.replace(&key, &doc, found.cas) {
            Ok(_) => return Ok(status),
            Err(Error::CasMismatch { .. }) => {
                std::thread::sleep(std::time::Duration::from_micros(50 * (attempt as u64 + 1)));
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::CasMismatch { key })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::SqliteStore;
    use crate::job::cancel::{is_requested, REQUESTED, REQUESTED_AT};
    use crate::job::CANCELLED;
    use crate::job::{new_document, Doc, NO_RESULT};
    use std::sync::Arc;

    fn store_with(uuid: &str, status: Status) -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("c.db")).unwrap());
        let mut doc = new_document(uuid, "t", "q", Doc::new());
        doc.set("status", status.as_str());
        if status == Status::Running {
            doc.set("running", true);
        }
        if status == Status::Done {
            doc.set("resultCode", 200);
        }
        store.insert(&job::key_for(uuid), &doc).unwrap();
        (dir, store)
    }

    fn doc_of(store: &Arc<dyn Store>, uuid: &str) -> Doc {
        store.get(&job::key_for(uuid)).unwrap().unwrap().doc
    }

    #[test]
    fn a_queued_or_waiting_job_is_cancelled_at_once() {
        for (status, event) in [
            (Status::Queued, "Cancelled before it ran"),
            (Status::Waiting, "Cancelled while waiting to run again"),
        ] {
            let (_d, store) = store_with("q1", status);
            assert_eq!(request_cancel(&*store, "q1").unwrap(), Status::Cancelled);
            let doc = doc_of(&store, "q1");
            assert_eq!(doc.status(), Status::Cancelled);
            assert_eq!(doc.i64_field("resultCode"), CANCELLED);
            assert!(doc.bool_field(REQUESTED) && !doc.bool_field("running"));
            assert!(doc.str_field("finishedAt").is_some());
            assert!(doc.str_field(REQUESTED_AT).is_some());
            assert_eq!(doc.f64_field("completeness"), 0.0, "left where it was");
            assert_eq!(job::event_messages(&doc), [event]);
            // Asking again changes nothing.
            let cas = store.get(&job::key_for("q1")).unwrap().unwrap().cas;
            assert_eq!(request_cancel(&*store, "q1").unwrap(), Status::Cancelled);
            assert_eq!(store.get(&job::key_for("q1")).unwrap().unwrap().cas, cas);
        }
    }

    #[test]
    fn a_running_job_gets_the_request_once() {
        let (_d, store) = store_with("r1", Status::Running);
        assert_eq!(request_cancel(&*store, "r1").unwrap(), Status::Running);
        let doc = doc_of(&store, "r1");
        assert_eq!(doc.status(), Status::Running);
        assert!(doc.bool_field(REQUESTED) && is_requested(&doc));
        assert_eq!(doc.i64_field("resultCode"), NO_RESULT);
        assert!(doc["finishedAt"].is_null());
        let at = doc.str_field(REQUESTED_AT).unwrap().to_owned();
        assert_eq!(request_cancel(&*store, "r1").unwrap(), Status::Running);
        let doc = doc_of(&store, "r1");
        assert_eq!(doc.str_field(REQUESTED_AT), Some(at.as_str()));
        assert_eq!(
            job::event_messages(&doc).len(),
            1,
            "one event for two requests"
        );
    }

    #[test]
    fn a_finished_job_is_left_unchanged() {
        let (_d, store) = store_with("f1", Status::Done);
        let before = store.get(&job::key_for("f1")).unwrap().unwrap();
        assert_eq!(request_cancel(&*store, "f1").unwrap(), Status::Done);
        assert_eq!(store.get(&job::key_for("f1")).unwrap().unwrap(), before);
        assert!(!is_requested(&before.doc));
    }

    #[test]
    fn an_unknown_job_is_not_found() {
        let (_d, store) = store_with("x", Status::Queued);
        assert!(matches!(
            request_cancel(&*store, "nobody"),
            Err(Error::DocNotFound { .. })
        ));
    }

    #[test]
    fn a_request_races_a_claim_and_both_writes_stand() {
        // A worker marks the job running between the request's read and its write: the request
        // is re-applied to the running document, so the job is stopped rather than cancelled
        // under the worker's feet.
        let (_d, store) = store_with("c1", Status::Queued);
        let key = job::key_for("c1");
        let stale = store.get(&key).unwrap().unwrap();
        crate::store::update(&*store, &key, |d| {
            d.set("status", "running");
            d.set("running", true);
            Ok(())
        })
        .unwrap();
        let mut doc = stale.doc;
        apply_request(&mut doc, &clock::now_iso());
        assert!(matches!(
            store.replace(&key, &doc, stale.cas),
            Err(Error::CasMismatch { .. })
        ));
        assert_eq!(request_cancel(&*store, "c1").unwrap(), Status::Running);
        let doc = doc_of(&store, "c1");
        assert_eq!(doc.status(), Status::Running);
        assert!(doc.bool_field(REQUESTED));
    }
}
