//! The awaitable methods (`Store.get_async`, `Queue.put_async`, ...): a blocking engine call run
//! on tokio's blocking pool, handed to Python as an asyncio future by pyo3-async-runtimes. The
//! event loop's thread only converts the arguments and schedules the call; the call waits on
//! SQLite or beanstalkd on a pool thread without the GIL; the result becomes Python objects on a
//! pool thread with the GIL attached, which then wakes the loop with it.
//!
//! That last step is why this module plugs its own [`Runtime`] into pyo3-async-runtimes rather
//! than using its stock tokio one. Handing a result over attaches a pool thread to Python, and
//! waking the loop (`call_soon_threadsafe`) lets go of the GIL for a moment inside. If the main
//! thread finishes the program right then, Python (before 3.14) ends the pool thread as it asks
//! for the GIL back, by unwinding it through pyo3's frames, and the process aborts
//! ("PyGILState_Release: thread state ... must be current", pyo3-async-runtimes issue #40): a
//! script that awaited one call and exited crashed about one run in five. So handovers are
//! counted, and an `atexit` hook (which runs before Python starts finalizing) waits for the
//! running ones and turns later ones away.

use super::errors::to_py;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3_async_runtimes::generic::{self, ContextExt};
use pyo3_async_runtimes::TaskLocals;
use std::cell::OnceCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use tokio::task::JoinHandle;

/// Most engine calls that may wait at once; more queue until a thread is free.
const MAX_BLOCKING_THREADS: usize = 16;

/// Configures pyo3-async-runtimes' global tokio runtime (built at the first awaitable call, so a
/// process that never awaits starts no threads) and registers the exit hook. Multi-thread,
/// because the runtime must run on its own threads: a current-thread runtime only runs inside
/// someone's `block_on`, and nobody calls one while asyncio runs. One worker is enough: the
/// tasks on it do no work, they wait on the blocking pool. The pool is bounded so that a stalled
/// store (SQLite's write lock held elsewhere, an unreachable beanstalkd) cannot pile up hundreds
/// of parked threads (tokio's default is 512); the same pool also hands results over, so the
/// bound must leave room for those. No I/O or timer driver: the engine brings its own.
pub(crate) fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .worker_threads(1)
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .thread_name("zerog-async");
    pyo3_async_runtimes::tokio::init(builder);
    let hook = wrap_pyfunction!(finish_handovers, m)?;
    m.py().import("atexit")?.call_method1("register", (hook,))?;
    Ok(())
}

/// Runs `call` on the blocking pool and returns an asyncio future (of the running loop) for its
/// result. The call starts now, not when awaited. Cancelling the future does not stop a call
/// already running (SQLite and beanstalkd cannot take a command back): a write may still land.
pub(crate) fn awaitable<'py, T, F>(py: Python<'py>, call: F) -> PyResult<Bound<'py, PyAny>>
where
    F: FnOnce() -> crate::error::Result<T> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    generic::future_into_py::<Runtime, _, T>(py, async move {
        match tokio::task::spawn_blocking(call).await {
            Ok(result) => result.map_err(to_py),
            // A panic in the engine, as a sync call would raise it.
            Err(e) => Err(PanicException::new_err(e.to_string())),
        }
    })
}

/// pyo3-async-runtimes' tokio runtime, except that handovers (the only closures it runs on the
/// blocking pool) are counted and stop when Python exits.
struct Runtime;

tokio::task_local! {
    // The event loop and contextvars of the future a task resolves (pyo3-async-runtimes' own
    // tokio runtime keeps them the same way).
    static TASK_LOCALS: OnceCell<TaskLocals>;
}

impl generic::Runtime for Runtime {
    type JoinError = tokio::task::JoinError;
    type JoinHandle = JoinHandle<()>;

    fn spawn<F>(fut: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        pyo3_async_runtimes::tokio::get_runtime().spawn(fut)
    }

    fn spawn_blocking<F>(handover: F) -> JoinHandle<()>
    where
        F: FnOnce() + Send + 'static,
    {
        pyo3_async_runtimes::tokio::get_runtime().spawn_blocking(move || {
            // Once Python is exiting the result has nowhere to go; dropping it without the GIL
            // only queues its Python references for a release that never comes.
            if let Some(_running) = Handover::start() {
                handover();
            }
        })
    }
}

impl ContextExt for Runtime {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        Box::pin(TASK_LOCALS.scope(OnceCell::from(locals), fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS
            .try_with(|c| c.get().cloned())
            .unwrap_or_default()
    }
}

/// Handovers running now, and whether Python is exiting (then no more start).
struct Handovers {
    running: usize,
    exiting: bool,
}

static HANDOVERS: Mutex<Handovers> = Mutex::new(Handovers {
    running: 0,
    exiting: false,
});
static HANDOVER_DONE: Condvar = Condvar::new();

fn handovers() -> MutexGuard<'static, Handovers> {
    // The counts stay right even if a holder panicked: it changes them in one step.
    HANDOVERS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One handover under way; dropping it (even in a panic) counts it done.
struct Handover;

impl Handover {
    fn start() -> Option<Handover> {
        let mut h = handovers();
        if h.exiting {
            return None;
        }
        h.running += 1;
        Some(Handover)
    }
}

impl Drop for Handover {
    fn drop(&mut self) {
        handovers().running -= 1;
        HANDOVER_DONE.notify_all();
    }
}

/// The exit hook: lets the running handovers finish (they need the GIL, so it is let go of
/// meanwhile) and turns later ones away, all before Python starts finalizing.
#[pyfunction]
fn finish_handovers(py: Python<'_>) {
    py.detach(|| {
        let mut h = handovers();
        h.exiting = true;
        while h.running > 0 {
            h = HANDOVER_DONE
                .wait(h)
                .unwrap_or_else(PoisonError::into_inner);
        }
    });
}
