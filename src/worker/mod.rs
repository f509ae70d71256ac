//! The worker loop: reserve a queue entry, load its document, mark it running, have the job
//! runner build and run the job, then record the outcome in the document and the queue.
//!
//! The loop never crashes on a bad job. A malformed body is buried; a missing or corrupt document
//! is released with a delay and buried after repeated failures; a job that cannot be built, or
//! that fails, is retried within its budget and then failed and buried. Each reason is logged and,
//! where there is a document, written into it.

mod batch;
pub mod cancel;
mod claim;
mod keeper;
mod ops;
pub mod outcome;

pub use cancel::request_cancel;
pub use keeper::{EXIT_GRACE_EXPIRED, EXIT_MAX_RUNTIME};
use outcome::QueueAction;
pub use outcome::{Policy, RunResult};

use crate::error::{Error, Result};
use crate::job::{Doc, DocExt};
use crate::progress::RunContext;
use crate::queue::Queue;
use crate::store::{Cas, Store};
use batch::Batch;
use claim::{Job, Settlement};
use keeper::{Keeper, Lease};
use ops::{Deferred, InTxn, Ops, Separate};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The Python logger the worker's records go to.
pub(crate) const LOG: &str = "zeroG.worker";

/// The TTR a job gets when its document does not say (the original zeroG's default, 30 days,
/// is for a queue without lease renewal; zeroG renews, so a minute is plenty).
pub const DEFAULT_TTR: u32 = 60;

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

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The tubes to take jobs from.
    pub tubes: Vec<String>,
    /// Written into the document of each job this worker runs (`workerId`).
    pub worker_id: String,
    /// Stop after running this many jobs (the supervisor then starts a fresh process).
    pub max_jobs: Option<u64>,
    /// After a stop request, how long the running job may take before it is handed back.
    pub grace: Duration,
    /// Seconds before an entry whose document is missing or corrupt is offered again.
    pub load_retry_delay: u32,
    /// An entry whose document could not be loaded this many times is buried.
    pub max_load_attempts: u64,
    /// The longest a single reserve waits before the loop checks for signals and stop requests.
    pub reserve_slice: Duration,
}

impl WorkerConfig {
    pub fn new(tubes: Vec<String>, worker_id: impl Into<String>) -> WorkerConfig {
        WorkerConfig {
            tubes,
            worker_id: worker_id.into(),
            max_jobs: None,
            grace: Duration::from_secs(30),
            load_retry_delay: 10,
            max_load_attempts: 3,
            reserve_slice: Duration::from_millis(250),
        }
    }
}

pub struct Worker {
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    config: WorkerConfig,
    stop: Arc<AtomicBool>,
    /// The store and the queue are the embedded ones in one SQLite file: each step is one
    /// transaction on the queue's connection.
    fused: bool,
}

impl Worker {
    pub fn new(
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        mut config: WorkerConfig,
    ) -> Result<Worker> {
        if config.tubes.is_empty() {
            return Err(Error::Config("the worker has no tubes to watch".into()));
        }
        for t in &config.tubes {
            crate::queue::validate_tube_name(t)?;
        }
        if queue.as_embedded().is_none() {
            // A server queue (beanstalkd) waits in whole seconds and serves any shorter wait by
            // polling; an idle worker should wait on the server, where a new job reaches it at
            // once, rather than poll it. Stop requests are then seen within a second.
            let secs = config.reserve_slice.as_secs_f64().ceil().max(1.0);
            config.reserve_slice = Duration::from_secs_f64(secs);
        }
        let fused = match (store.sqlite_path(), queue.as_embedded()) {
            (Some(doc_file), Some(q)) => same_file(doc_file, q.path()),
            _ => false,
        };
        Ok(Worker {
            store,
            queue,
            config,
            stop: Arc::new(AtomicBool::new(false)),
            fused,
        })
    }

    /// Set it to stop the worker: it takes no new job, and the running one gets the grace period.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Runs jobs until stopped (or `max_jobs` is reached). Returns how many jobs it ran.
    pub fn run(&self, runner: &mut dyn JobRunner) -> Result<u64> {
        let batch = Batch::new(self.config.load_retry_delay);
        let keeper = Keeper::spawn(
            self.store.clone(),
            self.queue.clone(),
            self.stop.clone(),
            self.config.grace,
            batch.clone(),
        );
        log::info!(target: LOG, "worker {} watching {:?}", self.config.worker_id, self.config.tubes);
        let mut ran = 0u64;
        // How many jobs the next claim takes: 1, doubling while jobs finish fast, back to 1 as
        // soon as one does not (see `Batch`).
        let mut want = 1usize;
        loop {
            let left = self
                .config
                .max_jobs
                .map_or(u64::MAX, |m| m.saturating_sub(ran));
            if self.stopping() || left == 0 || !runner.keep_going() {
                break;
            }
            let job = match batch.next() {
                Some(job) => job,
                None => {
                    let n = want.min(usize::try_from(left).unwrap_or(usize::MAX));
                    let jobs = self.step(batch.take_finished(), n)?;
                    if jobs.len() < n {
                        want = 1.max(jobs.len());
                    }
                    batch.fill(jobs);
                    match batch.next() {
                        Some(job) => job,
                        None => continue,
                    }
                }
            };
            let policy = runner.policy(&job.job_type).unwrap_or_default();
            if job.interrupted && job.doc.i64_field("retries") > i64::from(policy.max_retries) {
                // The job keeps killing its worker: it fails like any job out of retries, and
                // this claim, which never ran, does not count as an attempt.
                let result = RunResult::Abandon {
                    message: "its runs were interrupted too many times (the worker died each time)"
                        .into(),
                };
                batch.finished(Settlement::of(job, result, policy));
                continue;
            }
            let started = Instant::now();
            let result = self.run_one(&job, policy, runner, &keeper);
            ran += 1;
            batch.finished(Settlement::of(job, result, policy));
            want = if started.elapsed() < batch::FAST_JOB {
                (want * 2).min(batch::MAX_BATCH)
            } else {
                1
            };
        }
        // Claimed jobs that did not start go back to the queue; finished ones are written.
        let unstarted = batch.take_unstarted();
        self.step(batch.take_finished(), 0)?;
        if !unstarted.is_empty() {
            batch::hand_back(&*self.store, &*self.queue, unstarted);
        }
        log::info!(target: LOG, "worker {} stopped after {ran} jobs", self.config.worker_id);
        Ok(ran)
    }

    /// Runs a claimed job, with the keeper renewing its lease and writing its progress.
    fn run_one(
        &self,
        job: &Job,
        policy: Policy,
        runner: &mut dyn JobRunner,
        keeper: &Keeper,
    ) -> RunResult {
        if job.interrupted {
            log::warn!(target: LOG, "job {} ({}): its previous run was interrupted (the worker died)", job.uuid, job.job_type);
        }
        let ctx = Arc::new(RunContext::new(
            self.store.clone(),
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

    /// Writes `settle`, then claims up to `want` ready jobs. On the embedded backend this is
    /// one transaction; if nothing is ready it then waits up to `reserve_slice` for news.
    fn step(&self, mut settle: Vec<Settlement>, want: usize) -> Result<Vec<Job>> {
        let Some(q) = self.queue.as_embedded().filter(|_| self.fused) else {
            return self.step_separately(settle, want);
        };
        let seen = q.version()?;
        let out = q.transaction(|t| {
            let mut ops = InTxn(t);
            for s in &mut settle {
                claim::settle(&mut ops, s)?;
            }
            let mut jobs = Vec::new();
            let mut next_due = None;
            // Entries dealt with without running (a missing document, say) do not use up the
            // claim, but a bound keeps a tube of bad entries from holding the lock for long.
            let mut rounds = 3;
            while jobs.len() < want && rounds > 0 {
                rounds -= 1;
                let entries = t.reserve_many(&self.config.tubes, want - jobs.len())?;
                if entries.is_empty() {
                    next_due = Some(t.next_due(&self.config.tubes)?);
                    break;
                }
                for entry in entries {
                    jobs.extend(claim::claim(&mut ops, entry, &self.config, want > 1)?);
                }
            }
            Ok((jobs, next_due))
        });
        match out {
            Ok((jobs, Some(next_due))) if jobs.is_empty() => {
                let give_up = Instant::now() + self.config.reserve_slice;
                q.wait_for_news(seen, next_due, Some(give_up))?;
                Ok(jobs)
            }
            Ok((jobs, _)) => Ok(jobs),
            Err(e) => {
                // Nothing of the transaction happened: write the outcomes on their own, so a
                // failure to claim never loses the last runs' outcomes.
                log::error!(target: LOG, "worker step failed, retrying: {e}");
                self.step_separately(settle, 0)?;
                std::thread::sleep(Duration::from_millis(100));
                Ok(Vec::new())
            }
        }
    }

    fn step_separately(&self, settle: Vec<Settlement>, want: usize) -> Result<Vec<Job>> {
        if !settle.is_empty() {
            self.settle_batch(settle);
        }
        if want == 0 {
            return Ok(Vec::new());
        }
        let mut ops = Separate {
            store: &*self.store,
            queue: &*self.queue,
        };
        let entries =
            match self
                .queue
                .reserve_many(&self.config.tubes, want, self.config.reserve_slice)
            {
                Ok(entries) => entries,
                Err(e) => {
                    // The queue is unreachable or failing: say so, wait, try again.
                    log::error!(target: LOG, "reserve failed, retrying in 1 s: {e}");
                    std::thread::sleep(Duration::from_secs(1));
                    return Ok(Vec::new());
                }
            };
        let mut jobs = Vec::with_capacity(entries.len());
        for entry in entries {
            let id = entry.id;
            // As on the embedded path, only a batch claims lazily (see `LazyMark`).
            match claim::claim(&mut ops, entry, &self.config, want > 1) {
                Ok(job) => jobs.extend(job),
                Err(e) => {
                    log::error!(target: LOG, "queue job {id}: could not claim it, retrying later: {e}");
                    let delay = self.config.load_retry_delay;
                    if let Err(e) = self
                        .queue
                        .release(id, crate::queue::DEFAULT_PRIORITY, delay)
                    {
                        log::error!(target: LOG, "queue job {id}: {e} (it returns to the queue after its TTR)");
                    }
                }
            }
        }
        Ok(jobs)
    }
}

impl Worker {
    /// Writes a batch's outcomes: the documents first, then the queue entries, the deletes
    /// together (beanstalkd pipelines them: one round trip for the batch instead of one each).
    ///
    /// The outcome documents are worked out over the documents as claimed and written in one
    /// `replace_many` (on SQLite one commit for the batch, not one per job). An outcome whose
    /// document somebody changed since (the job's own progress, say), or that failed alone, is
    /// then recorded on its own as before. An outcome that cannot be written is released to run
    /// again ([`batch::release_unrecorded`]).
    fn settle_batch(&self, mut settle: Vec<Settlement>) {
        let mut held = Deferred {
            store: &*self.store,
            writes: Vec::new(),
        };
        // Each outcome worked out, with the place of its held write (a failed one holds none).
        let mut recorded = Vec::with_capacity(settle.len());
        for s in &mut settle {
            let at = held.writes.len();
            recorded.push(claim::write_outcome(&mut held, s).ok().map(|a| (a, at)));
        }
        let answers = self.store.replace_many(&held.writes);
        let mut ops = Separate {
            store: &*self.store,
            queue: &*self.queue,
        };
        let mut deletes = Vec::new();
        for (mut s, recorded) in settle.into_iter().zip(recorded) {
            let action = match recorded {
                Some((action, at)) if answers.get(at).is_some_and(|r| r.is_ok()) => {
                    claim::log_outcome(&s, action);
                    Ok(action)
                }
                _ => claim::record(&mut ops, &mut s),
            };
            match action {
                Ok(QueueAction::Delete) => deletes.push(s.id),
                Ok(action) => {
                    if let Err(e) = claim::entry_op(ops.apply(s.id, s.priority, action), s.id) {
                        log::error!(target: LOG, "queue job {}: {e} (it returns to the queue after its TTR)", s.id);
                    }
                }
                Err(e) => {
                    batch::release_unrecorded(&*self.queue, &s, &e, self.config.load_retry_delay)
                }
            }
        }
        for (id, r) in deletes.iter().zip(self.queue.delete_many(&deletes)) {
            if let Err(e) = claim::entry_op(r, *id) {
                // The document says finished: if the entry comes back, it is dropped unrun.
                log::error!(target: LOG, "queue job {id}: {e} (it returns to the queue after its TTR)");
            }
        }
    }
}

/// Whether two paths name one file (they may be spelled differently).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests;
