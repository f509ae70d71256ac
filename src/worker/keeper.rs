//! The keeper: one background thread per worker that looks after the running job while the main
//! thread is inside `run()`. It renews the lease (so a live worker never loses a long job to a
//! second one; see [`super::lease`]), writes reported progress to the document, enforces the two
//! time limits ([`super::limits`]), watches for a cancel request in the job's document and stops
//! the job when one comes (see [`cancel_check_interval`]), and relieves a batch held behind a
//! long job ([`super::batch`]).

use super::batch::{self, Batch};
use super::config::LOG;
use super::lease::{cancel_check_interval, touch_interval, Lease};
use super::limits::{give_up, hand_back, EXIT_GRACE_EXPIRED, EXIT_MAX_RUNTIME};
use crate::queue::{JobId, Queue};
use crate::store::{self, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the keeper looks at the running job. Starting and ending a job only sets a slot
/// the keeper reads: no message and no thread wake-up per job, which matters at thousands of
/// jobs a second.
const TICK: Duration = Duration::from_millis(20);

/// The running job, shared with the keeper. The keeper holds the lock while it works on the
/// lease, so once `end()` has taken the lease out, the keeper no longer touches that job.
type Slot = Arc<Mutex<Option<Arc<Lease>>>>;

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
