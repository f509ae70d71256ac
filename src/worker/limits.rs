//! The two time limits on a running job, enforced by the keeper: `MAX_RUNTIME` (the run counts
//! as a failed attempt and the process exits, so the supervisor starts a fresh one) and the stop
//! grace period (the job goes back to the queue untouched, and the process exits).

use super::lease::Lease;
use super::ops::{Ops, Separate};
use super::outcome::{self, RunResult};
use crate::clock;
use crate::job::{log_entry, DocExt, LogList, Status};
use crate::queue::Queue;
use crate::store::{self, Store};
use std::time::Duration;

/// Exit status of a worker process that gave up on a job past its MAX_RUNTIME.
pub const EXIT_MAX_RUNTIME: i32 = 75;
/// Exit status of a worker process that handed its job back after the stop grace period.
pub const EXIT_GRACE_EXPIRED: i32 = 76;

/// A run past MAX_RUNTIME counts as a failed attempt (error 504), retried within the budget.
pub(crate) fn give_up(store: &dyn Store, queue: &dyn Queue, lease: &Lease, limit: f64) {
    let message = format!("run exceeded MAX_RUNTIME of {limit} s; the worker process was stopped");
    // Written to stderr as well: the job may be holding the interpreter, and logging goes
    // through Python.
    eprintln!(
        "zeroG worker: job {} ({}): {message}",
        lease.uuid, lease.job_type
    );
    let unsaved = lease
        .ctx
        .flush()
        .err()
        .and_then(|_| lease.ctx.take_unsaved());
    let result = RunResult::Retry {
        error_code: 504,
        message,
        recorded: false,
    };
    let mut ops = Separate { store, queue };
    match outcome::record(
        &mut ops,
        lease.ctx.key(),
        &result,
        &lease.policy,
        lease.lazy.as_ref(),
        unsaved.as_ref(),
        None,
    ) {
        Ok(action) => {
            if let Err(e) = ops.apply(lease.id, lease.priority, action) {
                eprintln!("zeroG worker: job {}: queue update failed: {e}", lease.uuid);
            }
        }
        Err(e) => eprintln!(
            "zeroG worker: job {}: could not record the timeout: {e}",
            lease.uuid
        ),
    }
}

/// The worker was asked to stop and the job did not finish within the grace period: the job goes
/// back to the queue as it was, not counted as a failure, and runs again on another worker.
pub(crate) fn hand_back(store: &dyn Store, queue: &dyn Queue, lease: &Lease, grace: Duration) {
    let msg = format!(
        "Worker stopped; the job did not finish within the {} s grace period and was released back to the queue",
        grace.as_secs_f64()
    );
    eprintln!(
        "zeroG worker: job {} ({}): {msg}",
        lease.uuid, lease.job_type
    );
    let _ = lease.ctx.flush();
    let now = clock::now_iso();
    let written = store::update(store, lease.ctx.key(), |doc| {
        doc.set("running", false);
        doc.set("status", Status::Queued.as_str());
        doc.set("updatedAt", now.clone());
        doc.push_log(LogList::Events, log_entry(&msg, None));
        Ok(())
    });
    if let Err(e) = written {
        eprintln!(
            "zeroG worker: job {}: could not record the hand-back: {e}",
            lease.uuid
        );
    }
    if let Err(e) = queue.release(lease.id, lease.priority, 0) {
        eprintln!(
            "zeroG worker: job {}: release failed (it returns after its TTR): {e}",
            lease.uuid
        );
    }
}
