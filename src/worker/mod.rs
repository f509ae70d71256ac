//! The worker loop: reserve a queue entry, load its document, mark it running, have the job
//! runner build and run the job, then record the outcome in the document and the queue.
//!
//! The loop never crashes on a bad job. A malformed body is buried; a missing or corrupt document
//! is released with a delay and buried after repeated failures; a job that cannot be built, or
//! that fails, is retried within its budget and then failed and buried. Each reason is logged and,
//! where there is a document, written into it.

mod keeper;
pub mod outcome;

pub use keeper::{EXIT_GRACE_EXPIRED, EXIT_MAX_RUNTIME};
pub use outcome::{Policy, RunResult};

use crate::clock;
use crate::error::{Error, Result};
use crate::job::{self, log_entry, Doc, DocExt, LogList, Status, INTERNAL_ERROR};
use crate::progress::RunContext;
use crate::queue::{JobId, Queue, Reserved, DEFAULT_PRIORITY};
use crate::store::{self, Cas, Store};
use keeper::{Keeper, Lease};
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
}

/// A document loaded for a reserved entry, or why there is none.
enum Loaded {
    Doc(Doc),
    Unloadable(String),
}

impl Worker {
    pub fn new(
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        config: WorkerConfig,
    ) -> Result<Worker> {
        if config.tubes.is_empty() {
            return Err(Error::Config("the worker has no tubes to watch".into()));
        }
        for t in &config.tubes {
            crate::queue::validate_tube_name(t)?;
        }
        Ok(Worker {
            store,
            queue,
            config,
            stop: Arc::new(AtomicBool::new(false)),
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
        let keeper = Keeper::spawn(
            self.store.clone(),
            self.queue.clone(),
            self.stop.clone(),
            self.config.grace,
        );
        log::info!(target: LOG, "worker {} watching {:?}", self.config.worker_id, self.config.tubes);
        let mut ran = 0u64;
        while !self.stopping() && self.config.max_jobs.is_none_or(|m| ran < m) {
            if !runner.keep_going() {
                self.stop.store(true, Ordering::Relaxed);
                break;
            }
            let reserved = match self
                .queue
                .reserve(&self.config.tubes, self.config.reserve_slice)
            {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    // The queue is unreachable or failing: say so, wait, try again.
                    log::error!(target: LOG, "reserve failed, retrying in 1 s: {e}");
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            if self.handle(&reserved, runner, &keeper)? {
                ran += 1;
            }
        }
        log::info!(target: LOG, "worker {} stopped after {ran} jobs", self.config.worker_id);
        Ok(ran)
    }

    /// Deals with one reserved entry. True if a job ran.
    fn handle(
        &self,
        entry: &Reserved,
        runner: &mut dyn JobRunner,
        keeper: &Keeper,
    ) -> Result<bool> {
        let uuid = match job::uuid_from_body(&entry.body) {
            Ok(u) => u,
            Err(why) => {
                log::error!(target: LOG, "queue job {} in {:?}: {why}; burying it", entry.id, entry.tube);
                self.queue_op(entry.id, self.queue.bury(entry.id, DEFAULT_PRIORITY));
                return Ok(false);
            }
        };
        let key = job::key_for(&uuid);
        let doc = match self.store.get(&key) {
            Ok(Some(v)) => Loaded::Doc(v.doc),
            Ok(None) => Loaded::Unloadable(format!("document {key} does not exist")),
            Err(e @ Error::Corrupt { .. }) => Loaded::Unloadable(e.to_string()),
            Err(e) => Loaded::Unloadable(format!("document {key} could not be read: {e}")),
        };
        let doc = match doc {
            Loaded::Doc(d) => d,
            Loaded::Unloadable(why) => {
                self.unloadable(entry, &uuid, &why);
                return Ok(false);
            }
        };
        let job_type = doc.str_field("jobType").unwrap_or("").to_owned();
        let priority = queue_kwarg(&doc, "priority")
            .map(|p| p as u32)
            .unwrap_or(DEFAULT_PRIORITY);

        match doc.status() {
            Status::Done | Status::Cancelled => {
                log::info!(target: LOG, "job {uuid} ({job_type}) is already {}; dropping queue entry {}", doc.status(), entry.id);
                self.queue_op(entry.id, self.queue.delete(entry.id));
                return Ok(false);
            }
            Status::Failed if !doc.bool_field("buried") => {
                log::info!(target: LOG, "job {uuid} ({job_type}) already failed; dropping queue entry {}", entry.id);
                self.queue_op(entry.id, self.queue.delete(entry.id));
                return Ok(false);
            }
            _ => {}
        }

        let policy = runner.policy(&job_type).unwrap_or_default();
        let (marked, interrupted) = match self.mark_running(&key, entry.id) {
            Ok(m) => m,
            Err(e) => {
                log::error!(target: LOG, "job {uuid} ({job_type}): could not mark it running, retrying later: {e}");
                let delay = self.config.load_retry_delay;
                self.queue_op(entry.id, self.queue.release(entry.id, priority, delay));
                return Ok(false);
            }
        };
        if interrupted {
            log::warn!(target: LOG, "job {uuid} ({job_type}): its previous run was interrupted (the worker died)");
            if marked.doc.i64_field("retries") > i64::from(policy.max_retries) {
                // The job keeps killing its worker: it fails like any job out of retries.
                let result = RunResult::Retry {
                    error_code: INTERNAL_ERROR,
                    message: "run interrupted too many times".into(),
                    recorded: true,
                };
                self.finish(entry, &uuid, &job_type, &key, priority, &result, &policy);
                return Ok(false);
            }
        }

        let ctx = Arc::new(RunContext::new(
            self.store.clone(),
            key.clone(),
            marked.doc.f64_field("completeness"),
        ));
        let ttr = queue_kwarg(&marked.doc, "ttr")
            .map(|t| t as u32)
            .unwrap_or(DEFAULT_TTR);
        keeper.start(Arc::new(Lease {
            id: entry.id,
            uuid: uuid.clone(),
            job_type: job_type.clone(),
            ttr,
            priority,
            policy,
            ctx: ctx.clone(),
            started: Instant::now(),
        }));
        let started = Instant::now();
        log::debug!(target: LOG, "job {uuid} ({job_type}): running (attempt {})", marked.doc.i64_field("attempts"));
        let result = runner.run(&marked.doc, marked.cas, &ctx);
        keeper.end();
        if let Err(e) = ctx.flush() {
            log::error!(target: LOG, "job {uuid} ({job_type}): progress could not be saved: {e}");
        }
        log::debug!(target: LOG, "job {uuid} ({job_type}): {result:?} after {:.3} s", started.elapsed().as_secs_f64());
        self.finish(entry, &uuid, &job_type, &key, priority, &result, &policy);
        Ok(true)
    }

    /// Marks the document running. Returns it, and whether a previous run was interrupted (the
    /// document still said running: that worker died without recording an outcome). An
    /// interrupted run counts as a failed attempt, so a job that kills its worker every time
    /// cannot loop forever.
    fn mark_running(&self, key: &str, id: JobId) -> Result<(store::Versioned, bool)> {
        let now = clock::now_iso();
        let mut interrupted = false;
        let v = store::update(&*self.store, key, |doc| {
            interrupted = doc.bool_field("running");
            if doc.status() == Status::Failed && doc.bool_field("buried") {
                // An operator kicked a job that had run out of retries: it gets a fresh budget.
                doc.set("retries", 0);
                doc.set("resultCode", job::NO_RESULT);
                doc.set("completeness", 0.0);
                doc.set("finishedAt", serde_json::Value::Null);
                doc.set("buried", false);
                doc.push_log(
                    LogList::Events,
                    log_entry("Kicked by an operator - running again", None),
                );
            }
            if interrupted {
                outcome::add_error(
                    doc,
                    INTERNAL_ERROR,
                    "previous run was interrupted: its worker died or was killed",
                );
                let retries = doc.i64_field("retries") + 1;
                doc.set("retries", retries);
                doc.push_log(LogList::Events, log_entry("Interrupted - restarting", None));
            }
            let attempts = doc.i64_field("attempts") + 1;
            doc.set("attempts", attempts);
            doc.set("running", true);
            doc.set("status", Status::Running.as_str());
            if doc.get("startedAt").is_none_or(|v| v.is_null()) {
                doc.set("startedAt", now.clone());
            }
            doc.set("heartbeatAt", now.clone());
            doc.set("updatedAt", now.clone());
            doc.set("workerId", self.config.worker_id.clone());
            if doc.i64_field("queueJobId") <= 0 {
                doc.set("queueJobId", id);
            }
            Ok(())
        })?;
        Ok((v, interrupted))
    }

    /// Records the outcome in the document, then in the queue. If the document cannot be written,
    /// the entry is released with a delay: the job runs again rather than being lost.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &self,
        entry: &Reserved,
        uuid: &str,
        job_type: &str,
        key: &str,
        priority: u32,
        result: &RunResult,
        policy: &Policy,
    ) {
        match outcome::record(&*self.store, key, result, policy) {
            Ok(action) => {
                match result {
                    RunResult::Retry { message, .. } | RunResult::Fail { message, .. } => {
                        log::warn!(target: LOG, "job {uuid} ({job_type}): {action:?} after error: {}", summary_line(message));
                    }
                    RunResult::Unbuildable { reason } => {
                        log::error!(target: LOG, "job {uuid} ({job_type}): cannot be built: {reason}; {action:?}");
                    }
                    _ => {}
                }
                self.queue_op(
                    entry.id,
                    outcome::apply(&*self.queue, entry.id, priority, action),
                );
            }
            Err(e) => {
                log::error!(target: LOG, "job {uuid} ({job_type}): outcome not recorded ({e}); releasing it to run again");
                let delay = self.config.load_retry_delay;
                self.queue_op(entry.id, self.queue.release(entry.id, priority, delay));
            }
        }
    }

    /// An entry whose document is missing or unreadable: offered again after a delay, buried once
    /// it has failed to load `max_load_attempts` times. There is no document to write to, so the
    /// reason goes to the log.
    fn unloadable(&self, entry: &Reserved, uuid: &str, why: &str) {
        let reserves = self
            .queue
            .stats_job(entry.id)
            .map(|s| s.reserves)
            .unwrap_or(u64::MAX);
        if reserves >= self.config.max_load_attempts {
            log::error!(target: LOG, "job {uuid}: {why}; failed to load {reserves} times, burying queue entry {}", entry.id);
            self.queue_op(entry.id, self.queue.bury(entry.id, DEFAULT_PRIORITY));
        } else {
            let delay = self.config.load_retry_delay;
            log::warn!(target: LOG, "job {uuid}: {why}; releasing queue entry {} for {delay} s", entry.id);
            self.queue_op(
                entry.id,
                self.queue.release(entry.id, DEFAULT_PRIORITY, delay),
            );
        }
    }

    /// A failed queue operation is logged, never fatal: the entry comes back after its TTR.
    fn queue_op(&self, id: JobId, r: Result<()>) {
        if let Err(e) = r {
            log::error!(target: LOG, "queue job {id}: {e} (it returns to the queue after its TTR)");
        }
    }
}

/// A value from the document's `queueKwargs` (what the job was put with).
fn queue_kwarg(doc: &Doc, name: &str) -> Option<u64> {
    doc.get("queueKwargs")?.get(name)?.as_u64()
}

fn summary_line(s: &str) -> &str {
    s.trim_end().lines().last().unwrap_or("")
}

#[cfg(test)]
mod tests;
