//! Running a claimed job: the runner (Python in production) builds and runs it while the keeper
//! renews its lease, writes its progress and watches for a cancel request.

use super::claim::{self, Job};
use super::config::{DEFAULT_TTR, LOG};
use super::keeper::Keeper;
use super::lease::Lease;
use super::outcome::{Policy, RunResult};
use crate::job::{Doc, DocExt};
use crate::progress::RunContext;
use crate::store::{Cas, Store};
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

/// Runs a claimed job, with the keeper renewing its lease and writing its progress.
pub(crate) fn run_one(
    store: &Arc<dyn Store>,
    job: &Job,
    policy: Policy,
    runner: &mut dyn JobRunner,
    keeper: &Keeper,
) -> RunResult {
    if job.interrupted {
        log::warn!(target: LOG, "job {} ({}): its previous run was interrupted (the worker died)", job.uuid, job.job_type);
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
    if let Err(e) = ctx.flush() {
        log::error!(target: LOG, "job {} ({}): progress could not be saved: {e}", job.uuid, job.job_type);
    }
    result
}
