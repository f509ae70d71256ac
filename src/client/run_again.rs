//! Running a finished job again, as an operator asks from the dashboard or the terminal: a job
//! that failed or was cancelled goes back on its tube under its own uuid.
//!
//! Its history stays: events, warnings, errors and `attempts` keep counting, and an event says
//! it was run again. What decides how it runs starts afresh: `retries` and `errorCount` (its
//! retry budget), the cancel request, `completeness`, `resultCode`, `startedAt` and
//! `finishedAt` (so the new run is timed on its own).
//!
//! The document is changed first, by compare-and-swap from the status that was seen, so two
//! operators clicking at once queue it once; then the put, and the entry's id recorded. A put
//! that fails puts the document back as it was: a job is never left saying `queued` with no
//! entry, and the caller gets the queue's error.

use crate::clock;
use crate::error::{Error, Result};
use crate::job::{self, cancel, log_entry, Doc, DocExt, LogList, Status, NO_RESULT};
use crate::queue::{JobId, Queue};
use crate::store::{self, Store};

use super::reconcile::{put_request, REQUEUEING};

/// The statuses a job can be run again from.
pub const FROM: [Status; 2] = [Status::Failed, Status::Cancelled];

/// What asking for it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunAgain {
    /// Queued again: the new entry's id.
    Queued(JobId),
    /// Not failed or cancelled (still queued or running, or done): left as it is.
    Refused(Status),
}

/// Runs the job `uuid` again if it failed or was cancelled (see the module's docs).
/// `DocNotFound` if there is no such job.
pub fn run_again(store: &dyn Store, queue: &dyn Queue, uuid: &str) -> Result<RunAgain> {
    let key = job::key_for(uuid);
    let mut before: Option<Doc> = None;
    let mut refused = None;
    let changed = store::update(store, &key, |doc| {
        let status = doc.status();
        if !FROM.contains(&status) {
            refused = Some(status);
            return Err(LEFT_ALONE);
        }
        before = Some(doc.clone());
        reset(doc, status);
        Ok(())
    });
    match (changed, refused) {
        (Err(_), Some(status)) => return Ok(RunAgain::Refused(status)),
        (Err(e), None) => return Err(e),
        (Ok(_), _) => {}
    }
    let before = before.expect("the update ran and changed the document");
    let id = match queue.put(&put_request(&before)) {
        Ok(id) => id,
        Err(e) => {
            // Nothing was queued: the document goes back to what it said, unless a writer
            // (another operator, say) has changed it since.
            let restored = store::update(store, &key, |doc| {
                if doc.status() != Status::Queued || doc.i64_field("queueJobId") != REQUEUEING {
                    return Err(LEFT_ALONE);
                }
                *doc = before.clone();
                doc.set("updatedAt", clock::now_iso());
                Ok(())
            });
            if let Err(why) = restored.map(|_| ()).or_else(ignore_left_alone) {
                log::error!(target: "zeroG.client", "job {uuid}: its put failed ({e}) and its document could not be put back ({why}); `zerog reconcile` queues it");
            }
            return Err(e);
        }
    };
    store::update(store, &key, |doc| {
        if doc.i64_field("queueJobId") != REQUEUEING {
            return Err(LEFT_ALONE); // a worker took the entry first and recorded it
        }
        doc.set("queueJobId", id);
        Ok(())
    })
    .map(|_| ())
    .or_else(ignore_left_alone)?;
    Ok(RunAgain::Queued(id))
}

/// What an update's change returns to write nothing: `store::update` writes whatever the
/// change left, and a needless write would make a running worker's next write retry.
const LEFT_ALONE: Error = Error::Invalid(String::new());

fn ignore_left_alone(e: Error) -> Result<()> {
    match e {
        Error::Invalid(why) if why.is_empty() => Ok(()),
        e => Err(e),
    }
}

fn reset(doc: &mut Doc, was: Status) {
    let now = clock::now_iso();
    let result = doc.i64_field("resultCode");
    doc.set("status", Status::Queued.as_str());
    doc.set("running", false);
    doc.set("buried", false);
    doc.set("resultCode", NO_RESULT);
    doc.set("completeness", 0.0);
    doc.set("retries", 0);
    doc.set("errorCount", 0);
    doc.set(cancel::REQUESTED, false);
    for name in [cancel::REQUESTED_AT, "startedAt", "finishedAt", "workerId"] {
        doc.set(name, serde_json::Value::Null);
    }
    doc.set("queueJobId", REQUEUEING);
    doc.set("updatedAt", now);
    let event = format!(
        "Run again by an operator (it had {}, result {result})",
        was.as_str()
    );
    doc.push_log(LogList::Events, log_entry(&event, None));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::cancel::request_cancel;
    use crate::embedded::{EmbeddedQueue, SqliteStore};
    use crate::job::{new_document, queue_body, CANCELLED};
    use std::sync::Arc;

    fn backend() -> (tempfile::TempDir, Arc<dyn Store>, Arc<dyn Queue>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        let queue: Arc<dyn Queue> = Arc::new(EmbeddedQueue::open(&path).unwrap());
        (dir, store, queue)
    }

    fn stored(store: &dyn Store, uuid: &str, status: Status) {
        let mut doc = new_document(uuid, "t", "again", Doc::new());
        doc.set("status", status.as_str());
        doc.set(
            "resultCode",
            if status == Status::Failed { 500 } else { 200 },
        );
        doc.set("retries", 3);
        doc.set("errorCount", 4);
        doc.set("attempts", 4);
        doc.set("completeness", 0.5);
        doc.set("startedAt", "2026-01-01T00:00:00.000000+00:00");
        doc.set("finishedAt", "2026-01-01T00:01:00.000000+00:00");
        job::add_error(&mut doc, 500, "boom");
        store.insert(&job::key_for(uuid), &doc).unwrap();
    }

    fn doc_of(store: &dyn Store, uuid: &str) -> Doc {
        store.get(&job::key_for(uuid)).unwrap().unwrap().doc
    }

    #[test]
    fn a_failed_job_is_queued_again_with_its_history_and_a_fresh_budget() {
        let (_d, store, queue) = backend();
        stored(&*store, "f1", Status::Failed);
        let RunAgain::Queued(id) = run_again(&*store, &*queue, "f1").unwrap() else {
            panic!("refused");
        };
        let doc = doc_of(&*store, "f1");
        assert_eq!(doc.status(), Status::Queued);
        assert_eq!(doc.i64_field("queueJobId"), id as i64);
        assert_eq!(
            (
                doc.i64_field("resultCode"),
                doc.i64_field("retries"),
                doc.i64_field("errorCount")
            ),
            (NO_RESULT, 0, 0)
        );
        assert_eq!(doc.i64_field("attempts"), 4, "the history is kept");
        assert_eq!(doc["errors"].as_array().unwrap().len(), 1);
        assert!(doc["finishedAt"].is_null() && doc["startedAt"].is_null());
        assert_eq!(
            job::event_messages(&doc),
            ["Run again by an operator (it had failed, result 500)"]
        );
        assert_eq!(queue.peek(id).unwrap().unwrap().1, queue_body("f1"));
    }

    #[test]
    fn a_cancelled_job_runs_again_and_its_cancel_request_is_gone() {
        let (_d, store, queue) = backend();
        stored(&*store, "c1", Status::Queued);
        assert_eq!(request_cancel(&*store, "c1").unwrap(), Status::Cancelled);
        assert_eq!(doc_of(&*store, "c1").i64_field("resultCode"), CANCELLED);
        assert!(matches!(
            run_again(&*store, &*queue, "c1").unwrap(),
            RunAgain::Queued(_)
        ));
        let doc = doc_of(&*store, "c1");
        assert!(!cancel::is_requested(&doc) && doc[cancel::REQUESTED_AT].is_null());
    }

    #[test]
    fn only_failed_or_cancelled_jobs_run_again_and_twice_queues_once() {
        let (_d, store, queue) = backend();
        for (uuid, status) in [
            ("d1", Status::Done),
            ("q1", Status::Queued),
            ("r1", Status::Running),
        ] {
            stored(&*store, uuid, status);
            assert_eq!(
                run_again(&*store, &*queue, uuid).unwrap(),
                RunAgain::Refused(status)
            );
            assert_eq!(doc_of(&*store, uuid).status(), status, "left as it was");
        }
        stored(&*store, "f2", Status::Failed);
        assert!(matches!(
            run_again(&*store, &*queue, "f2").unwrap(),
            RunAgain::Queued(_)
        ));
        assert_eq!(
            run_again(&*store, &*queue, "f2").unwrap(),
            RunAgain::Refused(Status::Queued)
        );
        assert_eq!(queue.stats_tube("again").unwrap().ready, 1);
        assert!(matches!(
            run_again(&*store, &*queue, "nope"),
            Err(Error::DocNotFound { .. })
        ));
    }

    #[test]
    fn a_failed_put_leaves_the_document_as_it_was() {
        let (_d, store, queue) = backend();
        let mut doc = new_document("b1", "t", "bad tube!", Doc::new());
        doc.set("status", "failed");
        doc.set("resultCode", 500);
        store.insert(&job::key_for("b1"), &doc).unwrap();
        assert!(run_again(&*store, &*queue, "b1").is_err());
        let after = doc_of(&*store, "b1");
        assert_eq!(after.status(), Status::Failed);
        assert_eq!(after.i64_field("resultCode"), 500);
        assert_eq!(after["events"].as_array().unwrap().len(), 0);
    }
}
