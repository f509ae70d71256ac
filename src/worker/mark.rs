//! The running mark: the fields a claim sets on a job's document (one more attempt, running, by
//! this worker), written at once, or later for a job claimed in a batch ([`LazyMark`]).

use crate::job::cancel;
use crate::job::{Doc, DocExt, Status};
use crate::queue::JobId;

/// A job claimed in a batch is marked running in memory only (the job sees the marked document),
/// saving a document write per job while jobs finish in microseconds. The mark is written with
/// the outcome, or by the keeper if the run lasts past the batch hold time; either writes it only
/// if the document still has the attempt count it had at the claim, so it is written once. The
/// cost: if the worker dies within that time, the run is not seen as interrupted (the entry comes
/// back as an ordinary one), so a job that kills its worker at once can get one run more than
/// its MAX_RETRIES allow.
#[derive(Clone, Debug)]
pub(crate) struct LazyMark {
    pub attempts_before: i64,
    pub id: JobId,
    pub worker_id: String,
    pub claimed_at: String,
}

impl LazyMark {
    /// Writes the mark into `doc` unless it is there already, or the job was cancelled meanwhile
    /// (its document says so, and must go on saying so).
    pub fn apply_if_unmarked(&self, doc: &mut Doc) {
        if doc.i64_field("attempts") == self.attempts_before && !cancel::is_requested(doc) {
            apply_mark(doc, self.id, &self.worker_id, &self.claimed_at);
        }
    }
}

/// The fields a claim sets: one more attempt, running, by this worker.
pub(crate) fn apply_mark(doc: &mut Doc, id: JobId, worker_id: &str, now: &str) {
    let attempts = doc.i64_field("attempts") + 1;
    doc.set("attempts", attempts);
    doc.set("running", true);
    doc.set("status", Status::Running.as_str());
    if doc.get("startedAt").is_none_or(|v| v.is_null()) {
        doc.set("startedAt", now.to_owned());
    }
    doc.set("heartbeatAt", now.to_owned());
    doc.set("updatedAt", now.to_owned());
    doc.set("workerId", worker_id.to_owned());
    if doc.i64_field("queueJobId") <= 0 {
        doc.set("queueJobId", id);
    }
}
