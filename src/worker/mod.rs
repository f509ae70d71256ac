//! The worker loop: reserve a queue entry, load its document, mark it running, have the job
//! runner build and run the job, then record the outcome in the document and the queue.
//!
//! Its stages, one module each:
//! - taking jobs: `claim` (decide from the document whether an entry runs, and mark it;
//!   `mark` is the mark), `batch` (several at once while jobs finish fast);
//! - running them: `execute`, with the `keeper` thread beside the run (`lease`
//!   renewal, progress, cancel requests, the time `limits`);
//! - recording their outcome: `outcome` (what each ending writes) and `complete` (writing
//!   it, alone or a batch at once);
//! - `ops`: the one interface all of them read and write through, with its three
//!   implementations (each call on its own, inside one joint transaction, or held back to be
//!   written together).
//!
//! The loop never crashes on a bad job. A malformed body is buried; a missing or corrupt document
//! is released with a delay and buried after repeated failures; a job that cannot be built, or
//! that fails, is retried within its budget and then failed and buried. Each reason is logged and,
//! where there is a document, written into it.

mod batch;
mod claim;
mod complete;
mod config;
mod execute;
mod keeper;
mod lease;
mod limits;
mod mark;
mod ops;
mod orphans;
pub mod outcome;
mod unrecorded;

pub use config::{WorkerConfig, DEFAULT_TTR};
pub use execute::JobRunner;
pub use limits::{EXIT_GRACE_EXPIRED, EXIT_MAX_RUNTIME};
pub use outcome::{Policy, RunResult};

use crate::error::{Error, Result};
use crate::fleet::{Control, ControlConfig, ControlThread, JobAction};
use crate::job::DocExt;
use crate::queue::{Queue, Reserved};
use crate::store::Store;
use batch::Batch;
use claim::Job;
use complete::Settlement;
pub(crate) use config::LOG;
use keeper::Keeper;
use ops::{InTxn, Ops, Separate};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Worker {
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    config: WorkerConfig,
    stop: Arc<AtomicBool>,
    /// The queue's transactions cover the store's documents too (see [`Joint`]): each step is
    /// one transaction.
    fused: bool,
    /// Outcomes this worker could not write, and why (see [`unrecorded`]).
    unrecorded: unrecorded::Unrecorded,
    /// Whether its store has shown it holds the producers' documents (see [`orphans`]).
    orphans: orphans::Orphans,
    /// Draining, retiring, the running job: what operators steer (see [`crate::fleet`]).
    control: Arc<Control>,
    /// The control channel's own queue connection and settings, when it has one.
    fleet: Option<(Arc<dyn Queue>, ControlConfig)>,
    /// It stopped because it was retired.
    retired: AtomicBool,
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
        if queue.waits_in_whole_seconds() {
            // A server queue (beanstalkd) waits in whole seconds and serves any shorter wait by
            // polling; an idle worker should wait on the server, where a new job reaches it at
            // once, rather than poll it. Stop requests are then seen within a second.
            let secs = config.reserve_slice.as_secs_f64().ceil().max(1.0);
            config.reserve_slice = Duration::from_secs_f64(secs);
        }
        let fused = queue.joint().is_some_and(|j| j.covers(&*store));
        let unrecorded = unrecorded::Unrecorded::new(config.load_retry_delay);
        Ok(Worker {
            store,
            queue,
            config,
            stop: Arc::new(AtomicBool::new(false)),
            fused,
            unrecorded,
            orphans: orphans::Orphans::default(),
            control: Arc::new(Control::default()),
            fleet: None,
            retired: AtomicBool::new(false),
        })
    }

    /// Listens for control messages while it runs: on `config.worker_id`'s tube, through
    /// `queue`, a connection of its own (see [`crate::fleet::channel`]).
    pub fn enable_control(&mut self, queue: Arc<dyn Queue>, config: ControlConfig) -> Result<()> {
        crate::queue::validate_tube_name(&config.worker_id)?;
        crate::queue::validate_tube_name(&config.updates_tube)?;
        self.fleet = Some((queue, config));
        Ok(())
    }

    /// What operators steer: drain, undrain, retire.
    pub fn control(&self) -> Arc<Control> {
        self.control.clone()
    }

    /// Whether its last `run` ended because it was retired (its process should then exit and
    /// not be replaced).
    pub fn retired(&self) -> bool {
        self.retired.load(Ordering::Relaxed)
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
        let batch = Batch::new(self.unrecorded.clone());
        let keeper = Keeper::spawn(
            self.store.clone(),
            self.queue.clone(),
            self.stop.clone(),
            self.config.grace,
            batch.clone(),
        );
        let fleet = self.fleet.as_ref().map(|(queue, config)| {
            ControlThread::spawn(
                queue.clone(),
                self.store.clone(),
                self.control.clone(),
                config.clone(),
            )
        });
        log::info!(target: LOG, "worker {} watching {:?}", self.config.worker_id, self.config.tubes);
        let mut ran = 0u64;
        // How many jobs the next claim takes: 1, doubling while jobs finish fast, back to 1 as
        // soon as one does not (see `Batch`).
        let mut want = 1usize;
        // The last claim found a backlog: let jobs gather before the next (see `batch::GATHER`).
        let mut gather = false;
        loop {
            if self.control.draining() && !self.stopping() {
                // Claimed jobs that have not started go back to the queue for other workers;
                // the last outcomes are written. It stays up, taking nothing, until undrained
                // (or, retiring, stops: its process exits and is not replaced).
                let unstarted = batch.take_unstarted();
                self.step(batch.take_finished(), 0, false)?;
                if !unstarted.is_empty() {
                    batch::hand_back(&*self.store, &*self.queue, unstarted);
                }
                if self.control.retiring() {
                    self.retired.store(true, Ordering::Relaxed);
                    log::info!(target: LOG, "worker {} retired", self.config.worker_id);
                    break;
                }
                self.control.wait_while_draining(self.config.reserve_slice);
                continue;
            }
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
                    // Gathering is for a claim of more than one job: a single one starts at once.
                    let jobs = self.step(batch.take_finished(), n, gather && n > 1)?;
                    gather = batch::gathers(jobs.len(), n);
                    if jobs.len() < n {
                        want = 1.max(jobs.len());
                    }
                    batch.fill(jobs);
                    // The next turn takes them, once it has seen whether a drain or a stop
                    // came while this claim waited (then they go back unstarted).
                    continue;
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
                batch.finished(complete::Settlement::of(job, result, policy));
                continue;
            }
            let started = Instant::now();
            self.control.job_started(&job.uuid);
            if let Some(f) = &fleet {
                f.job(&job.uuid, JobAction::Start);
            }
            let (result, unsaved) = execute::run_one(&self.store, &job, policy, runner, &keeper);
            self.control.job_ended();
            if let Some(f) = &fleet {
                f.job(&job.uuid, JobAction::End);
            }
            ran += 1;
            let mut settlement = complete::Settlement::of(job, result, policy);
            settlement.unsaved = unsaved;
            batch.finished(settlement);
            want = if started.elapsed() < batch::FAST_JOB {
                (want * 2).min(batch::MAX_BATCH)
            } else {
                1
            };
        }
        // Claimed jobs that did not start go back to the queue; finished ones are written.
        let unstarted = batch.take_unstarted();
        self.step(batch.take_finished(), 0, false)?;
        if !unstarted.is_empty() {
            batch::hand_back(&*self.store, &*self.queue, unstarted);
        }
        log::info!(target: LOG, "worker {} stopped after {ran} jobs", self.config.worker_id);
        Ok(ran)
    }

    /// Writes `settle`, then claims up to `want` ready jobs. Where store and queue commit
    /// together this is one transaction; if nothing is ready it then waits up to
    /// `reserve_slice` for news. `gather`: wait [`batch::GATHER`] before claiming (on a server
    /// queue after writing `settle`; in one transaction, before both); the caller decides.
    fn step(&self, mut settle: Vec<Settlement>, want: usize, gather: bool) -> Result<Vec<Job>> {
        let Some(joint) = self.queue.joint().filter(|_| self.fused) else {
            return self.step_separately(settle, want, gather);
        };
        if gather {
            // The outcomes wait with the claim: they are written in its transaction.
            std::thread::sleep(batch::GATHER);
        }
        let seen = joint.seen()?;
        let mut jobs = Vec::new();
        let mut next_due = None;
        let out = joint.transaction(&mut |t| {
            // A transaction that failed left nothing behind: neither may what it collected.
            jobs.clear();
            next_due = None;
            let mut ops = InTxn(t);
            for s in &mut settle {
                complete::settle(&mut ops, s)?;
            }
            // Entries dealt with without running (a missing document, say) do not use up the
            // claim, but a bound keeps a tube of bad entries from holding the lock for long.
            let mut rounds = 3;
            while jobs.len() < want && rounds > 0 {
                rounds -= 1;
                let entries = ops.0.reserve_many(&self.config.tubes, want - jobs.len())?;
                if entries.is_empty() {
                    next_due = Some(ops.0.next_due(&self.config.tubes)?);
                    break;
                }
                for entry in entries {
                    jobs.extend(self.claim(&mut ops, entry, want > 1)?);
                }
            }
            Ok(())
        });
        match (out, next_due) {
            (Ok(()), Some(next_due)) if jobs.is_empty() => {
                let give_up = Instant::now() + self.config.reserve_slice;
                joint.wait_for_news(seen, next_due, Some(give_up))?;
                Ok(jobs)
            }
            (Ok(()), _) => Ok(jobs),
            (Err(e), _) => {
                // Nothing of the transaction happened: write the outcomes on their own, so a
                // failure to claim never loses the last runs' outcomes.
                log::error!(target: LOG, "worker step failed, retrying: {e}");
                self.step_separately(settle, 0, false)?;
                std::thread::sleep(Duration::from_millis(100));
                Ok(Vec::new())
            }
        }
    }

    /// Claims a reserved entry (see [`claim::claim`]), with what this worker knows of its store
    /// and of the outcomes it could not write. `lazily`: the entry was taken in a batch.
    fn claim(&self, ops: &mut dyn Ops, entry: Reserved, lazily: bool) -> Result<Option<Job>> {
        claim::claim(
            ops,
            entry,
            &self.config,
            lazily,
            &self.unrecorded,
            &self.orphans,
        )
    }

    fn step_separately(
        &self,
        settle: Vec<Settlement>,
        want: usize,
        gather: bool,
    ) -> Result<Vec<Job>> {
        if !settle.is_empty() {
            complete::settle_batch(&*self.store, &*self.queue, settle, &self.unrecorded);
        }
        if want == 0 {
            return Ok(Vec::new());
        }
        if gather {
            std::thread::sleep(batch::GATHER);
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
            match self.claim(&mut ops, entry, want > 1) {
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

#[cfg(test)]
mod tests;
