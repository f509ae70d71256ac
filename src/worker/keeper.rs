//! The keeper: one background thread per worker that looks after the running job while the main
//! thread is inside `run()`. It renews the lease (so a live worker never loses a long job to a
//! second one), writes reported progress to the document, and enforces the two time limits:
//! `MAX_RUNTIME` (a hung job is recorded as failed for this attempt and the process exits, so the
//! supervisor starts a fresh one) and the stop grace period (the job is handed back to the queue
//! untouched, and the process exits). It also watches for a cancel request in the job's document
//! and stops the job when one comes (see [`cancel_check_interval`]).

use super::batch::{self, Batch};
use super::claim::LazyMark;
use super::ops::{Ops, Separate};
use super::outcome::{self, Policy, RunResult};
use super::LOG;
use crate::clock;
use crate::job::{log_entry, DocExt, LogList, Status};
use crate::progress::RunContext;
use crate::queue::{JobId, Queue};
use crate::store::{self, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The keeper's view of the job being run.
pub(crate) struct Lease {
    pub id: JobId,
    pub uuid: String,
    pub job_type: String,
    pub ttr: u32,
    pub priority: u32,
    pub policy: Policy,
    pub ctx: Arc<RunContext>,
    pub started: Instant,
    /// Claimed without writing its document (see `LazyMark`): marked once it runs past the hold.
    pub lazy: Option<LazyMark>,
}

/// How often the keeper looks at the running job. Starting and ending a job only sets a slot
/// the keeper reads: no message and no thread wake-up per job, which matters at thousands of
/// jobs a second.
const TICK: Duration = Duration::from_millis(20);

/// The running job, shared with the keeper. The keeper holds the lock while it works on the
/// lease, so once `end()` has taken the lease out, the keeper no longer touches that job.
type Slot = Arc<Mutex<Option<Arc<Lease>>>>;

/// Exit status of a worker process that gave up on a job past its MAX_RUNTIME.
pub const EXIT_MAX_RUNTIME: i32 = 75;
/// Exit status of a worker process that handed its job back after the stop grace period.
pub const EXIT_GRACE_EXPIRED: i32 = 76;

pub(crate) struct Keeper {
    slot: Slot,
    quit: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Keeper {
    pub fn spawn(
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        stop: Arc<AtomicBool>,
        grace: Duration,
        batch: Batch,
    ) -> Keeper {
        let slot: Slot = Arc::default();
        let quit = Arc::new(AtomicBool::new(false));
        let (s, q) = (slot.clone(), quit.clone());
        let thread = std::thread::Builder::new()
            .name("zerog-keeper".into())
            .spawn(move || keep(&s, &q, &*store, &*queue, &stop, grace, &batch))
            .expect("spawning the keeper thread");
        Keeper {
            slot,
            quit,
            thread: Some(thread),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Arc<Lease>>> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn start(&self, lease: Arc<Lease>) {
        *self.lock() = Some(lease);
    }

    /// Stops looking after the current job; returns once the keeper has let go of it.
    pub fn end(&self) {
        self.lock().take();
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.quit.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Lease renewal interval: a third of the TTR, so two renewals can fail before the lease goes.
fn touch_interval(ttr: u32) -> Duration {
    Duration::from_secs_f64((f64::from(ttr.max(1)) / 3.0).max(0.2))
}

/// The longest a running job goes without its document being read for a cancel request.
pub(crate) const CANCEL_CHECK: Duration = Duration::from_secs(1);

/// How stale the keeper lets its knowledge of a cancel request get: at every lease renewal at
/// the latest, and at least every [`CANCEL_CHECK`] (a read of one document: cheap next to the
/// run it may save). A job that reports progress has its document read by every progress write
/// (within 50 ms of a report), so no extra read is made for it. Once the request is seen, the
/// keeper stops the job through the runner's interrupt (within one keeper tick, 20 ms), and every
/// report the job makes raises. So a running job stops within `min(TTR / 3, 1 s)` plus a tick of
/// the request, or sooner if it reports.
pub(crate) fn cancel_check_interval(ttr: u32) -> Duration {
    touch_interval(ttr).min(CANCEL_CHECK)
}

fn keep(
    slot: &Mutex<Option<Arc<Lease>>>,
    quit: &AtomicBool,
    store: &dyn Store,
    queue: &dyn Queue,
    stop: &AtomicBool,
    grace: Duration,
    batch: &Batch,
) {
    // Which job the last touch was for, and when.
    let mut touched: Option<(JobId, Instant)> = None;
    let mut stop_seen: Option<Instant> = None;
    // The lazily claimed job whose mark this keeper wrote.
    let mut marked: Option<JobId> = None;
    // The job whose cancel request this keeper acted on.
    let mut cancelled: Option<JobId> = None;
    while !quit.load(Ordering::Relaxed) {
        std::thread::sleep(TICK);
        if stop.load(Ordering::Relaxed) && stop_seen.is_none() {
            stop_seen = Some(Instant::now());
        }
        let guard = slot.lock().unwrap_or_else(|p| p.into_inner());
        let Some(lease) = guard.as_ref() else {
            continue;
        };
        if lease.started.elapsed() >= batch::HOLD {
            batch.relieve(store, queue);
            if let Some(mark) = lease.lazy.as_ref().filter(|_| marked != Some(lease.id)) {
                // A long run shows as running, and counts as interrupted if its worker dies.
                marked = Some(lease.id);
                let written = store::update(store, lease.ctx.key(), |doc| {
                    mark.apply_if_unmarked(doc);
                    Ok(())
                });
                if let Err(e) = written {
                    log::warn!(target: LOG, "job {} ({}): could not mark it running: {e}", lease.uuid, lease.job_type);
                }
            }
        }
        if lease.ctx.flush_due() {
            if let Err(e) = lease.ctx.flush() {
                log::warn!(target: LOG, "job {} ({}): progress not saved yet, will retry: {e}", lease.uuid, lease.job_type);
            }
        }
        if cancelled != Some(lease.id) {
            match lease.ctx.check_cancel(cancel_check_interval(lease.ttr)) {
                Ok(true) => {
                    cancelled = Some(lease.id);
                    // Interrupt first: logging goes through Python and may wait for the job's
                    // thread to let go of the interpreter.
                    let how = if lease.ctx.interrupt() {
                        "stopping it"
                    } else {
                        "it stops at its next report"
                    };
                    log::info!(target: LOG, "job {} ({}): cancel requested; {how}", lease.uuid, lease.job_type);
                }
                Ok(false) => {}
                Err(e) => {
                    log::warn!(target: LOG, "job {} ({}): could not check for a cancel request, will retry: {e}", lease.uuid, lease.job_type);
                }
            }
        }
        let since = match touched {
            Some((id, at)) if id == lease.id => at,
            _ => lease.started,
        };
        if since.elapsed() >= touch_interval(lease.ttr) {
            touched = Some((lease.id, Instant::now()));
            if let Err(e) = queue.touch(lease.id) {
                log::error!(target: LOG, "job {} ({}): lease renewal failed, another worker may run it: {e}", lease.uuid, lease.job_type);
            }
        }
        if let Some(limit) = lease.policy.max_runtime {
            if lease.started.elapsed().as_secs_f64() > limit {
                // The process is about to end: nothing claimed behind this job may be left held.
                batch.relieve(store, queue);
                give_up(store, queue, lease, limit);
                std::process::exit(EXIT_MAX_RUNTIME);
            }
        }
        if stop_seen.is_some_and(|t| t.elapsed() >= grace) {
            batch.relieve(store, queue);
            hand_back(store, queue, lease, grace);
            std::process::exit(EXIT_GRACE_EXPIRED);
        }
    }
}

/// A run past MAX_RUNTIME counts as a failed attempt (error 504), retried within the budget.
fn give_up(store: &dyn Store, queue: &dyn Queue, lease: &Lease, limit: f64) {
    let message = format!("run exceeded MAX_RUNTIME of {limit} s; the worker process was stopped");
    // Written to stderr as well: the job may be holding the interpreter, and logging goes
    // through Python.
    eprintln!(
        "zeroG worker: job {} ({}): {message}",
        lease.uuid, lease.job_type
    );
    let _ = lease.ctx.flush();
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
fn hand_back(store: &dyn Store, queue: &dyn Queue, lease: &Lease, grace: Duration) {
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
