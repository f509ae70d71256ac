//! Claiming several jobs at once. On the embedded backend a commit is most of what a small job
//! costs, so while jobs finish fast the worker claims a batch of them in one transaction, and
//! writes their outcomes together with the next claim.
//!
//! A batch must never hold jobs back: when the running job turns out slow (it has run for
//! [`HOLD`]), the keeper thread writes the outcomes of the batch's finished jobs and hands its
//! unstarted jobs back to the queue, where other workers can take them. So a batch costs other
//! workers at most [`HOLD`] of waiting, and a finished job's outcome is never left unwritten
//! behind a long one.

use super::claim::Job;
use super::complete::{self, Settlement};
use super::config::LOG;
use super::ops::{self, Separate};
use super::unrecorded::Unrecorded;
use crate::clock;
use crate::job::{DocExt, Status};
use crate::queue::Queue;
use crate::store::Store;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A job that took less than this lets the next claim take twice as many jobs.
pub const FAST_JOB: Duration = Duration::from_millis(2);
/// The most jobs one claim takes. With two worker processes on one file each transaction
/// starts by re-reading the pages the other changed, so fewer, larger transactions pay off:
/// measured 9-10k no-op jobs/s end to end at 32 or 64, 13-14k at 128. [`HOLD`] bounds what a
/// larger batch can cost other workers.
pub const MAX_BATCH: usize = 128;
/// How long a running job may keep the rest of its batch waiting.
pub const HOLD: Duration = Duration::from_millis(20);
/// How long a worker lets jobs gather before its next claim, when its last claim found a
/// backlog (see [`gathers`]).
///
/// While producers enqueue one job at a time as fast as workers run them, a worker that claims
/// as soon as it is free finds one or two jobs each time. Every claim costs a write
/// transaction that the producers' inserts wait behind, and on a server queue round trips as
/// well.
/// - beanstalkd with a SQLite store: one producer with 2 workers ran 4,389-5,240 jobs/s
///   against 3,650-4,050 without the wait (three pairs in turn), and `bench/steady.py` 7,526
///   against 5,180. There the last outcomes are written before the wait.
/// - The embedded default, where the outcomes are written in the claim's transaction and so
///   wait with it: 9,993-10,471 jobs/s against 8,169-8,552 (three pairs in turn, 10,000
///   jobs). The workers spent 30-35 us of CPU per job instead of 42-47.
///
/// What it costs is up to 1 ms before the next jobs start (and the last outcomes are written),
/// and only under load.
pub const GATHER: Duration = Duration::from_millis(1);

/// Whether a claim that asked for `asked` jobs and got `got` found a backlog that is still
/// filling: more than one job, but fewer than it asked for. One job is an idle queue's pace
/// (each job starts at once), and a full claim means a full queue (nothing to wait for).
pub fn gathers(got: usize, asked: usize) -> bool {
    got >= 2 && got < asked
}

#[derive(Default)]
struct Inner {
    /// Claimed (marked running in their documents) but not started yet.
    unstarted: VecDeque<Job>,
    /// Run, with outcomes not written yet.
    finished: Vec<Settlement>,
}

/// The worker's current batch, shared with the keeper.
#[derive(Clone)]
pub(crate) struct Batch {
    inner: Arc<Mutex<Inner>>,
    /// What becomes of an outcome that cannot be written, whichever thread wrote it.
    unrecorded: Unrecorded,
}

impl Batch {
    pub fn new(unrecorded: Unrecorded) -> Batch {
        Batch {
            inner: Arc::default(),
            unrecorded,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn fill(&self, jobs: Vec<Job>) {
        self.lock().unstarted.extend(jobs);
    }

    pub fn next(&self) -> Option<Job> {
        self.lock().unstarted.pop_front()
    }

    pub fn finished(&self, s: Settlement) {
        self.lock().finished.push(s);
    }

    pub fn take_finished(&self) -> Vec<Settlement> {
        std::mem::take(&mut self.lock().finished)
    }

    pub fn take_unstarted(&self) -> Vec<Job> {
        self.lock().unstarted.drain(..).collect()
    }

    /// Called by the keeper while a job has run longer than [`HOLD`]: writes what finished and
    /// hands back what did not start.
    pub fn relieve(&self, store: &dyn Store, queue: &dyn Queue) {
        let (mut finished, unstarted) = {
            let mut inner = self.lock();
            if inner.finished.is_empty() && inner.unstarted.is_empty() {
                return;
            }
            (
                std::mem::take(&mut inner.finished),
                inner.unstarted.drain(..).collect::<Vec<_>>(),
            )
        };
        for s in &mut finished {
            settle_alone(store, queue, s, &self.unrecorded);
        }
        hand_back(store, queue, unstarted);
    }
}

/// Writes one outcome with its own operations. If the document cannot be written, the entry is
/// released with a delay: the job runs again rather than being lost.
pub(crate) fn settle_alone(
    store: &dyn Store,
    queue: &dyn Queue,
    s: &mut Settlement,
    unrecorded: &Unrecorded,
) {
    if let Err(e) = complete::settle(&mut Separate { store, queue }, s) {
        unrecorded.release(queue, s.unwritten(), &e);
    }
}

/// Returns claimed jobs that never started: their documents as they were before the claim
/// (queued, not running, the attempt not counted) and their entries ready again at once.
pub(crate) fn hand_back(store: &dyn Store, queue: &dyn Queue, jobs: Vec<Job>) {
    let now = clock::now_iso();
    for job in jobs {
        if job.lazy.is_some() {
            // Its document was never written: only the queue entry goes back.
            if let Err(e) = queue.release(job.entry.id, job.priority, 0) {
                log::error!(target: LOG, "queue job {}: {e} (it returns to the queue after its TTR)", job.entry.id);
            }
            continue;
        }
        let undone = ops::update(&mut Separate { store, queue }, &job.key, |doc| {
            doc.set("running", false);
            doc.set("status", Status::Queued.as_str());
            let attempts = doc.i64_field("attempts") - 1;
            doc.set("attempts", attempts.max(0));
            doc.set("updatedAt", now.clone());
            Ok(())
        });
        if let Err(e) = undone {
            log::error!(target: LOG, "job {} ({}): could not hand it back: {e}", job.uuid, job.job_type);
        }
        if let Err(e) = queue.release(job.entry.id, job.priority, 0) {
            log::error!(target: LOG, "queue job {}: {e} (it returns to the queue after its TTR)", job.entry.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::gathers;

    #[test]
    fn a_claim_lets_jobs_gather_only_after_finding_a_backlog_still_filling() {
        // An idle queue's pace: each job starts as soon as it comes.
        assert!(!gathers(0, 8));
        assert!(!gathers(1, 8));
        // A full queue: every job asked for was there, nothing to wait for.
        assert!(!gathers(8, 8));
        assert!(!gathers(128, 128));
        // Producers keeping pace with the worker: several jobs, fewer than asked.
        assert!(gathers(2, 8));
        assert!(gathers(5, 128));
    }
}
