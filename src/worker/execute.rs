//! Running a claimed job: the runner (Python in production) builds and runs it while the keeper
//! renews its lease, writes its progress and watches for a cancel request.

use super::claim::{self, Job};
use super::config::{DEFAULT_TTR, LOG};
use super::keeper::Keeper;
use super::lease::Lease;
use super::outcome::{Policy, RunResult};
use crate::job::{Doc, DocExt};
use crate::progress::RunContext;
use crate::store::{Cas, Patch, Store};
use std::sync::Arc;
use std::time::Instant;

/// Runs jobs: the bindings implement this with Python, the engine's tests with plain Rust.
pub trait JobRunner: Send {
    /// The retry and time limits of `job_type`; `None` if this worker does not know the type.
    fn policy(&mut self, job_type: &str) -> Option<Policy>;
    /// Builds the job from its (already marked running) document and runs it.
    fn run(&mut self, doc: &Doc, cas: Cas, ctx: &Arc<RunContext>) -> RunResult;
    /// Asked between reserve waits; returning false stops the worker (a signal arrived).
    fn keep_going(&mut self) -> bool {
        true
    }
}

/// Runs a claimed job, with the keeper renewing its lease and writing its progress. Returns how
/// it ended, and what it reported that could not be stored yet.
pub(crate) fn run_one(
    store: &Arc<dyn Store>,
    job: &Job,
    policy: Policy,
    runner: &mut dyn JobRunner,
    keeper: &Keeper,
) -> (RunResult, Option<Patch>) {
    if job.interrupted {
        match &job.lost_outcome {
            Some(why) => {
                log::warn!(target: LOG, "job {} ({}): its previous run's outcome could not be recorded ({why}); running it again", job.uuid, job.job_type)
            }
            None => {
                log::warn!(target: LOG, "job {} ({}): its previous run was interrupted (the worker died)", job.uuid, job.job_type)
            }
        }
    }
    let ctx = Arc::new(RunContext::new(
        store.clone(),
        job.key.clone(),
        job.doc.f64_field("completeness"),
    ));
    let ttr = claim::queue_kwarg(&job.doc, "ttr")
        .map(|t| t as u32)
        .unwrap_or(DEFAULT_TTR);
    keeper.start(Arc::new(Lease {
        id: job.entry.id,
        uuid: job.uuid.clone(),
        job_type: job.job_type.clone(),
        ttr,
        priority: job.priority,
        policy,
        ctx: ctx.clone(),
        started: Instant::now(),
        lazy: job.lazy.clone(),
    }));
    let result = runner.run(&job.doc, job.cas, &ctx);
    keeper.end();
    // What the last progress write cannot store goes in with the outcome, which writes the
    // whole document: the job's last events are not lost with a failed write.
    let unsaved = match ctx.flush() {
        Ok(()) => None,
        Err(e) => {
            log::warn!(target: LOG, "job {} ({}): its last progress could not be saved ({e}); it is written with the outcome", job.uuid, job.job_type);
            ctx.take_unsaved()
        }
    };
    (result, unsaved)
}
