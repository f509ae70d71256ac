//! The threads that run the awaitable methods' engine calls (`runtime::awaitable`).
//!
//! Handing a call over must cost the event loop's thread almost nothing: it holds the GIL while
//! it does. tokio's blocking pool, used here before, made every hand-over take the pool's lock,
//! which its own threads were taking too as they picked work and went idle; under a steady
//! stream of requests the loop's thread spun on that lock (`sched_yield`) for about a third of
//! its time (py-spy, `POST /job` under wrk). Here the loop's thread only sends on a channel
//! (no lock on the sender's side) and, when no thread is idle, starts one.
//!
//! Threads start as calls need them, up to [`MAX_THREADS`], and then stay, parked on the
//! channel when there is nothing to do. They never attach to Python: a call's result goes back
//! to its loop as plain Rust (`runtime`), so nothing here can run at interpreter exit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Mutex, OnceLock, PoisonError};

/// Most engine calls that run at once; more wait their turn in the channel. A stalled store
/// (SQLite's write lock held elsewhere, an unreachable beanstalkd) cannot pile up more threads.
pub(crate) const MAX_THREADS: usize = 16;

type Call = Box<dyn FnOnce() + Send>;

struct Pool {
    sender: Sender<Call>,
    /// One idle thread at a time waits in `recv`; the others wait for this lock, parked.
    receiver: Mutex<Receiver<Call>>,
    threads: AtomicUsize,
    idle: AtomicUsize,
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// Runs `call` on a pool thread.
pub(crate) fn spawn(call: impl FnOnce() + Send + 'static) {
    let pool = POOL.get_or_init(|| {
        let (sender, receiver) = channel();
        Pool {
            sender,
            receiver: Mutex::new(receiver),
            threads: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
        }
    });
    // The receiver lives as long as the process (the pool is a static): a send cannot fail.
    let _ = pool.sender.send(Box::new(call));
    if pool.idle.load(Ordering::Acquire) > 0 {
        return;
    }
    let claimed = pool
        .threads
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < MAX_THREADS).then_some(n + 1)
        });
    if claimed.is_err() {
        return; // all busy: the call waits for the first to finish
    }
    let started = std::thread::Builder::new()
        .name("zerog-async".into())
        .spawn(move || serve(pool));
    if let Err(e) = started {
        // The calls queued are run by the threads there are; with none, they would wait
        // forever, so they run here (blocking the caller, but finishing).
        let left = pool.threads.fetch_sub(1, Ordering::AcqRel) - 1;
        log::error!(target: "zeroG", "cannot start a thread for an awaitable call: {e}");
        if left == 0 {
            let receiver = pool.receiver.lock().unwrap_or_else(PoisonError::into_inner);
            while let Ok(call) = receiver.try_recv() {
                call();
            }
        }
    }
}

fn serve(pool: &'static Pool) {
    loop {
        pool.idle.fetch_add(1, Ordering::AcqRel);
        let next = pool
            .receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        pool.idle.fetch_sub(1, Ordering::AcqRel);
        match next {
            // A panic is caught inside the call (`runtime::awaitable`), so the thread goes on.
            Ok(call) => call(),
            Err(_) => return,
        }
    }
}
