//! What a run can end in, and how each ending is written to the document and the queue.
//!
//! The document is written first and the queue second. If the worker dies between the two, the
//! queue entry comes back after its TTR and the worker that reserves it sees from the document
//! that the job is already finished, and drops the entry.
//!
//! A cancel request in the document wins over whatever the run ended in: the job is recorded
//! cancelled and its entry deleted (see [`crate::client::cancel`]).

use super::mark::LazyMark;
use super::ops::{self, Ops, QueueAction};
use crate::clock;
use crate::error::Result;
use crate::job::cancel;
use crate::job::{log_entry, Doc, DocExt, LogList, Status, INTERNAL_ERROR};
use crate::store::{Patch, Versioned};

/// A job class's retry and time limits (`MAX_RETRIES`, `RETRY_DELAY`, `MAX_RUNTIME`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Policy {
    pub max_retries: u32,
    /// Seconds before the first retry; doubled on each retry after it.
    pub retry_delay: f64,
    /// Seconds a run may take before the worker gives up on it.
    pub max_runtime: Option<f64>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_retries: 3,
            retry_delay: 10.0,
            max_runtime: None,
        }
    }
}

impl Policy {
    /// The delay before retry number `retry` (1-based): RETRY_DELAY, then doubled each time.
    pub fn backoff(&self, retry: u32) -> u32 {
        let exp = retry.saturating_sub(1).min(30);
        let secs = self.retry_delay.max(0.0) * f64::from(1u32 << exp);
        secs.min(f64::from(u32::MAX)).ceil() as u32
    }
}

/// How a run ended, as the job runner reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum RunResult {
    /// `run()` returned normally and is done, with this result code (200 unless it said).
    Finished { result_code: i64 },
    /// `run()` asked to run again after `delay` seconds.
    Requeue { delay: f64 },
    /// `WFErrorContinue` or an unexpected exception: retried within the job's budget.
    /// `recorded` says whether the job already stored the error itself.
    Retry {
        error_code: i64,
        message: String,
        recorded: bool,
    },
    /// `WFErrorFinish`: finished with this error code, never retried.
    Fail {
        error_code: i64,
        message: String,
        recorded: bool,
    },
    /// The job object could not be built from its document (unknown type, invalid values).
    Unbuildable { reason: String },
    /// Failed without running: its earlier runs were interrupted and used up its retries (each
    /// was counted when the interruption was found).
    Abandon { message: String },
    /// The run stopped with `JobCancelled`: at a cancel request, or the job cancelled itself.
    Cancelled { message: String },
}

/// Writes `result` to the job's document and returns what to do with its queue entry.
/// `unsaved`: what the job reported that its last progress write could not store; it goes in
/// with the outcome.
pub(crate) fn record(
    ops: &mut dyn Ops,
    key: &str,
    result: &RunResult,
    policy: &Policy,
    lazy: Option<&LazyMark>,
    unsaved: Option<&Patch>,
    known: Option<Versioned>,
) -> Result<QueueAction> {
    let mut action = QueueAction::Delete;
    let now = clock::now_iso();
    ops::update_from(ops, key, known, |doc| {
        if let Some(patch) = unsaved {
            patch.apply_to(doc);
        }
        if cancel::is_requested(doc) || matches!(result, RunResult::Cancelled { .. }) {
            record_cancelled(doc, result, &now);
            action = QueueAction::Delete;
            return Ok(());
        }
        if let Some(mark) = lazy {
            mark.apply_if_unmarked(doc);
        }
        doc.set("running", false);
        doc.set("updatedAt", now.clone());
        action = match result {
            RunResult::Cancelled { .. } => unreachable!("recorded above"),
            RunResult::Finished { result_code } => {
                finish(doc, *result_code, Status::Done, &now);
                QueueAction::Delete
            }
            RunResult::Requeue { delay } => {
                doc.set("status", Status::Waiting.as_str());
                QueueAction::Release {
                    delay: delay.max(0.0).min(f64::from(u32::MAX)).ceil() as u32,
                }
            }
            RunResult::Retry {
                error_code,
                message,
                recorded,
            } => retry_or_fail(doc, *error_code, message, *recorded, policy, &now),
            RunResult::Unbuildable { reason } => {
                let msg = format!("cannot build the job from its document: {reason}");
                retry_or_fail(doc, INTERNAL_ERROR, &msg, false, policy, &now)
            }
            RunResult::Abandon { message } => {
                // The claim that found the budget spent neither ran nor was a retry.
                let attempts = doc.i64_field("attempts") - 1;
                doc.set("attempts", attempts.max(0));
                let retries = (doc.i64_field("retries") - 1).max(0);
                doc.set("retries", retries);
                let msg = format!("Error - failed after {retries} retries: {message}");
                doc.push_log(LogList::Events, log_entry(&msg, None));
                finish(doc, INTERNAL_ERROR, Status::Failed, &now);
                doc.set("buried", true);
                QueueAction::Bury
            }
            RunResult::Fail {
                error_code,
                message,
                recorded,
            } => {
                if !recorded {
                    add_error(doc, *error_code, message);
                }
                doc.push_log(LogList::Events, log_entry("Error - finished", None));
                finish(doc, *error_code, Status::Failed, &now);
                QueueAction::Delete
            }
        };
        Ok(())
    })?;
    Ok(action)
}

/// A run that ends with a cancel request in its document (or that cancelled itself) ends the
/// job as cancelled, whatever else the run did. An error it reported is still recorded.
fn record_cancelled(doc: &mut Doc, result: &RunResult, now: &str) {
    let requested = doc.bool_field(cancel::REQUESTED) || doc.status() == Status::Cancelled;
    let how = match result {
        RunResult::Cancelled { .. } if requested => "the run stopped at the cancel request".into(),
        RunResult::Cancelled { message } => format!("the job cancelled itself: {message}"),
        RunResult::Finished { .. } => "the run returned after the cancel request".into(),
        RunResult::Requeue { .. } => {
            "the run asked to run again after the cancel request; it will not".into()
        }
        RunResult::Retry {
            error_code,
            message,
            recorded,
        }
        | RunResult::Fail {
            error_code,
            message,
            recorded,
        } => {
            if !recorded {
                add_error(doc, *error_code, message);
            }
            "the run failed after the cancel request; it is not retried".into()
        }
        RunResult::Unbuildable { .. } | RunResult::Abandon { .. } => "it did not run".into(),
    };
    cancel::finish(doc, now, &format!("Cancelled - {how}"));
}

/// A retry if the budget allows, otherwise a final failure that buries the entry so an operator
/// can kick it.
fn retry_or_fail(
    doc: &mut Doc,
    code: i64,
    message: &str,
    recorded: bool,
    policy: &Policy,
    now: &str,
) -> QueueAction {
    if !recorded {
        add_error(doc, code, message);
    }
    // `retries` counts the runs made again after a failure: a job out of budget fails with
    // it at MAX_RETRIES, and its `attempts` (runs started) is one more.
    let retries = doc.i64_field("retries");
    if retries >= i64::from(policy.max_retries) {
        let code = if code == crate::job::NO_RESULT {
            INTERNAL_ERROR
        } else {
            code
        };
        let msg = format!("Error - failed after {retries} retries");
        doc.push_log(LogList::Events, log_entry(&msg, None));
        finish(doc, code, Status::Failed, now);
        doc.set("buried", true);
        QueueAction::Bury
    } else {
        let retries = retries + 1;
        doc.set("retries", retries);
        let delay = policy.backoff(retries as u32);
        // The original zeroG's words exactly, which its tools look for; how long until the run
        // and which retry it is are in the worker's log line and in `retries`.
        doc.push_log(LogList::Events, log_entry("Error - restarting", None));
        doc.set("status", Status::Waiting.as_str());
        QueueAction::Release { delay }
    }
}

pub(crate) use crate::job::add_error;

/// Ends the job. `completeness` says how far its work got: 1.0 when it is done; a failed job
/// keeps the last value it reported (its `resultCode` says it failed).
fn finish(doc: &mut Doc, result_code: i64, status: Status, now: &str) {
    doc.set("resultCode", result_code);
    if status == Status::Done {
        doc.set("completeness", 1.0);
    }
    doc.set("status", status.as_str());
    doc.set("finishedAt", now.to_owned());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_retry_delay() {
        let p = Policy {
            max_retries: 3,
            retry_delay: 10.0,
            max_runtime: None,
        };
        assert_eq!([p.backoff(1), p.backoff(2), p.backoff(3)], [10, 20, 40]);
        let fast = Policy {
            retry_delay: 0.0,
            ..p
        };
        assert_eq!(fast.backoff(3), 0);
    }
}
