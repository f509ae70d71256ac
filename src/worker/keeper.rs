//! The keeper: two background threads per worker that look after the running job while the
//! main thread is inside `run()`.
//!
//! - The lease thread renews the lease (so a live worker never loses a long job to a second
//!   one; see [`super::lease`]) and enforces the two time limits ([`super::limits`]). It makes
//!   no store call on its way to a renewal: a store that stalls cannot make a lease run out.
//! - The keeper thread does what needs the store: it writes reported progress to the document,
//!   watches for a cancel request in the job's document and stops the job when one comes (see
//!   [`cancel_check_interval`]), and relieves a batch held behind a long job ([`super::batch`]).

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

/// How often the threads look at the running job. Starting and ending a job only sets the
/// slots they read: no message and no thread wake-up per job, which matters at thousands of
/// jobs a second.
const TICK: Duration = Duration::from_millis(20);

/// The running job, as one thread sees it. Each thread holds its slot's lock while it works on
/// the job, so once `end()` has emptied both slots, neither touches that job again.
type Slot = Arc<Mutex<Option<Arc<Lease>>>>;

fn lock(slot: &Mutex<Option<Arc<Lease>>>) -> MutexGuard<'_, Option<Arc<Lease>>> {
    slot.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) struct Keeper {
    /// The lease thread's: held only for a renewal (a queue call), never for a store call.
    lease_slot: Slot,
    /// The keeper thread's: held through its store calls.
    slot: Slot,
    quit: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Keeper {
    pub fn spawn(
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        stop: Arc<AtomicBool>,
        grace: Duration,
        batch: Batch,
    ) -> Keeper {
        let (slot, lease_slot): (Slot, Slot) = (Arc::default(), Arc::default());
        let quit = Arc::new(AtomicBool::new(false));
        let lease_thread = {
            let (slot, quit, store, queue, batch) = (
                lease_slot.clone(),
                quit.clone(),
                store.clone(),
                queue.clone(),
                batch.clone(),
            );
            std::thread::Builder::new()
                .name("zerog-lease".into())
                .spawn(move || renew(&slot, &quit, &*store, &*queue, &stop, grace, &batch))
                .expect("spawning the lease thread")
        };
        let keeper_thread = {
            let (slot, quit) = (slot.clone(), quit.clone());
            std::thread::Builder::new()
                .name("zerog-keeper".into())
                .spawn(move || keep(&slot, &quit, &*store, &*queue, &batch))
                .expect("spawning the keeper thread")
        };
        Keeper {
            lease_slot,
            slot,
            quit,
            threads: vec![lease_thread, keeper_thread],
        }
    }

    pub fn start(&self, lease: Arc<Lease>) {
        *lock(&self.lease_slot) = Some(lease.clone());
        *lock(&self.slot) = Some(lease);
    }

    /// Stops looking after the current job; returns once both threads have let go of it.
    pub fn end(&self) {
        lock(&self.lease_slot).take();
        lock(&self.slot).take();
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.quit.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The lease thread: renewals on time, and the time limits.
fn renew(
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
    while !quit.load(Ordering::Relaxed) {
        std::thread::sleep(TICK);
        if stop.load(Ordering::Relaxed) && stop_seen.is_none() {
            stop_seen = Some(Instant::now());
        }
        let guard = lock(slot);
        let Some(lease) = guard.as_ref() else {
            continue;
        };
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
        // The process ends past either limit: nothing claimed behind this job may be left held.
        if let Some(limit) = lease.policy.max_runtime {
            if lease.started.elapsed().as_secs_f64() > limit {
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

/// The keeper thread: progress, cancel requests, and a batch held behind a long job.
fn keep(
    slot: &Mutex<Option<Arc<Lease>>>,
    quit: &AtomicBool,
    store: &dyn Store,
    queue: &dyn Queue,
    batch: &Batch,
) {
    // The lazily claimed job whose mark this keeper wrote.
    let mut marked: Option<JobId> = None;
    // The job whose cancel request this keeper acted on.
    let mut cancelled: Option<JobId> = None;
    while !quit.load(Ordering::Relaxed) {
        std::thread::sleep(TICK);
        let guard = lock(slot);
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
    }
}
