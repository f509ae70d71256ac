//! Recording outcomes: a run's ending written to the job's document, then to its queue entry.
//! One job's outcome is written with [`settle`] (inside a step's transaction where store and
//! queue commit together); a batch's with [`settle_batch`], the documents in one write.

use super::claim::Job;
use super::config::LOG;
use super::mark::LazyMark;
use super::ops::{entry_op, Deferred, Ops, QueueAction, Separate};
use super::outcome::{self, Policy, RunResult};
use super::unrecorded::{Unrecorded, Unwritten};
use crate::error::Result;
use crate::queue::{JobId, Queue};
use crate::store::{Patch, Store, Versioned};

/// The outcome of a run, to be written.
pub(crate) struct Settlement {
    pub id: JobId,
    pub uuid: String,
    pub key: String,
    pub job_type: String,
    pub priority: u32,
    pub result: RunResult,
    pub policy: Policy,
    pub lazy: Option<LazyMark>,
    /// What the job reported that its last progress write could not store.
    pub unsaved: Option<Patch>,
    /// The document as claimed: the outcome is written over it if nobody wrote since (taken by
    /// the first attempt to settle; a later attempt reads the document afresh).
    pub claimed: Option<Versioned>,
}

impl Settlement {
    pub fn of(job: Job, result: RunResult, policy: Policy) -> Settlement {
        Settlement {
            id: job.entry.id,
            uuid: job.uuid,
            key: job.key,
            job_type: job.job_type,
            priority: job.priority,
            result,
            policy,
            lazy: job.lazy,
            unsaved: None,
            claimed: Some(Versioned {
                doc: job.doc,
                cas: job.cas,
            }),
        }
    }
}

/// Writes a run's outcome to the document, then to the queue. A queue entry that is gone (the
/// lease was lost) does not undo the document's outcome.
pub(crate) fn settle(ops: &mut dyn Ops, s: &mut Settlement) -> Result<QueueAction> {
    let action = record(ops, s)?;
    entry_op(ops.apply(s.id, s.priority, action), s.id)?;
    Ok(action)
}

/// The document half of [`settle`]: writes the outcome and says what the queue entry needs.
pub(crate) fn record(ops: &mut dyn Ops, s: &mut Settlement) -> Result<QueueAction> {
    let action = write_outcome(ops, s)?;
    log_outcome(s, action);
    Ok(action)
}

/// [`record`] without the log line, for a caller that logs once it knows the write stands.
pub(crate) fn write_outcome(ops: &mut dyn Ops, s: &mut Settlement) -> Result<QueueAction> {
    let claimed = s.claimed.take();
    outcome::record(
        ops,
        &s.key,
        &s.result,
        &s.policy,
        s.lazy.as_ref(),
        s.unsaved.as_ref(),
        claimed,
    )
}

/// What a recorded outcome is worth telling: errors, and jobs that cannot be built.
pub(crate) fn log_outcome(s: &Settlement, action: QueueAction) {
    match &s.result {
        RunResult::Retry { message, .. } | RunResult::Fail { message, .. } => {
            log::warn!(target: LOG, "job {} ({}): {action} after error: {}", s.uuid, s.job_type, summary_line(message));
        }
        RunResult::Unbuildable { reason } => {
            log::error!(target: LOG, "job {} ({}): cannot be built: {reason}; {action}", s.uuid, s.job_type);
        }
        RunResult::Cancelled { .. } => {
            log::info!(target: LOG, "job {} ({}): cancelled; {action}", s.uuid, s.job_type);
        }
        _ => {}
    }
}

/// Writes a batch's outcomes: the documents first, then the queue entries, the deletes
/// together (beanstalkd pipelines them: one round trip for the batch instead of one each).
///
/// The outcome documents are worked out over the documents as claimed and written in one
/// `replace_many` (on SQLite one commit for the batch, not one per job). An outcome whose
/// document somebody changed since (the job's own progress, say), or that failed alone, is
/// then recorded on its own as before. An outcome that cannot be written is released to run
/// again ([`Unrecorded::release`]).
pub(crate) fn settle_batch(
    store: &dyn Store,
    queue: &dyn Queue,
    mut settle: Vec<Settlement>,
    unrecorded: &Unrecorded,
) {
    let mut held = Deferred {
        store,
        writes: Vec::new(),
    };
    // Each outcome worked out, with the place of its held write (a failed one holds none).
    let mut recorded = Vec::with_capacity(settle.len());
    for s in &mut settle {
        let at = held.writes.len();
        recorded.push(write_outcome(&mut held, s).ok().map(|a| (a, at)));
    }
    let answers = store.replace_many(&held.writes);
    let mut ops = Separate { store, queue };
    let mut deletes = Vec::new();
    for (mut s, recorded) in settle.into_iter().zip(recorded) {
        let action = match recorded {
            Some((action, at)) if answers.get(at).is_some_and(|r| r.is_ok()) => {
                log_outcome(&s, action);
                Ok(action)
            }
            _ => record(&mut ops, &mut s),
        };
        match action {
            Ok(QueueAction::Delete) => deletes.push(s.id),
            Ok(action) => {
                if let Err(e) = entry_op(ops.apply(s.id, s.priority, action), s.id) {
                    log::error!(target: LOG, "queue job {}: {e} (it returns to the queue after its TTR)", s.id);
                }
            }
            Err(e) => unrecorded.release(queue, s.unwritten(), &e),
        }
    }
    for (id, r) in deletes.iter().zip(queue.delete_many(&deletes)) {
        if let Err(e) = entry_op(r, *id) {
            // The document says finished: if the entry comes back, it is dropped unrun.
            log::error!(target: LOG, "queue job {id}: {e} (it returns to the queue after its TTR)");
        }
    }
}

impl Settlement {
    /// The job, as [`Unrecorded::release`] names it.
    pub fn unwritten(&self) -> Unwritten<'_> {
        Unwritten {
            id: self.id,
            priority: self.priority,
            uuid: &self.uuid,
            job_type: &self.job_type,
        }
    }
}

/// The line of an error message that says what happened (a traceback's last line).
fn summary_line(s: &str) -> &str {
    s.trim_end().lines().last().unwrap_or("")
}
