//! A cancel request, as the job document records it: the fields, and how a request and a
//! cancelled ending are written. Who writes them: [`crate::client::cancel`] (a request from any
//! process) and the worker (honouring it); what it means end to end is told there.

use crate::job::{log_entry, Doc, DocExt, LogList, Status, CANCELLED};
/// The document field that says cancellation was requested.
pub const REQUESTED: &str = "cancelRequested";
/// When it was requested (ISO 8601 UTC, like every zeroG timestamp).
pub const REQUESTED_AT: &str = "cancelRequestedAt";

/// The fields [`is_requested`] looks at: what a progress write reads back.
pub const FIELDS_READ: [&str; 4] = [REQUESTED, "status", "resultCode", "running"];

/// Whether the job is to stop: cancellation was requested, or it is cancelled already (a job
/// claimed in a batch is marked running only in its worker's memory, so its document may say
/// `cancelled` while it runs).
pub fn is_requested(doc: &Doc) -> bool {
    doc.bool_field(REQUESTED) || doc.status() == Status::Cancelled
}

/// Writes a cancel request into `doc`. Returns the status it leaves, or `None` if there is
/// nothing to write (the job is finished, or a request is already there).
pub fn apply_request(doc: &mut Doc, now: &str) -> Option<Status> {
    let status = doc.status();
    if status.is_final() {
        return None;
    }
    if status == Status::Running {
        if doc.bool_field(REQUESTED) {
            return None;
        }
        mark_requested(doc, now);
        doc.set("updatedAt", now.to_owned());
        doc.push_log(
            LogList::Events,
            log_entry("Cancel requested - the running job will be stopped", None),
        );
        return Some(Status::Running);
    }
    // Queued, or waiting to run again: its queue entry is dropped unrun when it is reserved.
    let msg = if status == Status::Waiting {
        "Cancelled while waiting to run again"
    } else {
        "Cancelled before it ran"
    };
    mark_requested(doc, now);
    finish(doc, now, msg);
    Some(Status::Cancelled)
}

fn mark_requested(doc: &mut Doc, now: &str) {
    doc.set(REQUESTED, true);
    if doc.get(REQUESTED_AT).is_none_or(|v| v.is_null()) {
        doc.set(REQUESTED_AT, now.to_owned());
    }
}

/// Records the job as cancelled: final, not running, `resultCode` [`CANCELLED`], `finishedAt`
/// now, and `event` in its events. Completeness is left where the job got to.
pub fn finish(doc: &mut Doc, now: &str, event: &str) {
    if !doc.bool_field(REQUESTED) {
        // The job stopped itself by raising JobCancelled: record it as requested by itself.
        mark_requested(doc, now);
    }
    doc.set("status", Status::Cancelled.as_str());
    doc.set("running", false);
    doc.set("resultCode", CANCELLED);
    doc.set("finishedAt", now.to_owned());
    doc.set("updatedAt", now.to_owned());
    doc.push_log(LogList::Events, log_entry(event, None));
}
