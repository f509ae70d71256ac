//! Stopping a cancelled job's Python code, and `cancel_job` (what `zeroG.jobs.cancel` calls).
//!
//! The engine's keeper thread sees a cancel request in the document and calls the run's
//! interrupt (`RunContext::set_interrupt`). A job that reports through `job_log` is stopped by
//! its next report, which raises `JobCancelled`. A job that never reports (a tight loop of pure
//! Python, a long `time.sleep`, a blocking socket read) needs more, and the interrupt gives it:
//! it sends [`CANCEL_SIGNAL`] to the thread running the job, and the Python-level handler this
//! module installs raises `JobCancelled` there.
//!
//! Why a signal rather than `PyThreadState_SetAsyncExc`: both raise at the next bytecode the
//! job's thread runs, so both stop a loop of Python code; but only a signal also interrupts a
//! blocking system call (Python retries an interrupted call after running the handlers, and a
//! handler that raises ends the call: PEP 475), so `time.sleep(3600)` and a socket wait are
//! stopped too. It also needs no interpreter lock on the keeper's side: the keeper only stores a
//! flag and calls `pthread_kill`, so a job that holds the interpreter cannot delay lease renewal.
//!
//! Limits: Python runs signal handlers on the main thread only, so the worker loop must run there
//! (it does in `zerog-worker`; elsewhere the handler cannot be installed, and a cancelled job is
//! stopped only by its next report). A C extension that holds the interpreter in a long call sees
//! the exception when the call returns. A job that installs its own handler for the signal
//! replaces this one. Like `KeyboardInterrupt`, the exception can land anywhere in the job's
//! code, including its cleanup (`finally` blocks still run).

use super::errors::{to_py, JobCancelled};
use super::store::PyStore;
use crate::progress::Interrupt;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

/// The signal that stops a cancelled job's Python code in a worker process.
pub(crate) const CANCEL_SIGNAL: i32 = libc::SIGUSR2;

/// What `JobCancelled` says.
pub(crate) const MESSAGE: &str = "the job was cancelled";

/// Set by the interrupt just before it sends the signal, taken by the handler: a signal that
/// arrives when no cancelled job is running (a stray one, or one late for a run that already
/// ended) raises nothing.
static RAISE: AtomicBool = AtomicBool::new(false);

/// The interrupt for a job that runs on the calling thread: called from the keeper thread, it
/// asks the handler to raise and signals this thread.
pub(crate) fn interrupt_this_thread() -> Interrupt {
    // SAFETY: pthread_self has no preconditions.
    let thread = unsafe { libc::pthread_self() };
    Box::new(move || {
        RAISE.store(true, Ordering::SeqCst);
        // SAFETY: `thread` is the worker's main thread, which outlives every run (the interrupt
        // is dropped, and waited for, before the run returns).
        unsafe {
            libc::pthread_kill(thread, CANCEL_SIGNAL);
        }
    })
}

/// The run is over: a signal still on its way raises nothing.
pub(crate) fn disarm() {
    RAISE.store(false, Ordering::SeqCst);
}

/// The Python-level handler of [`CANCEL_SIGNAL`] (runs on the main thread, between bytecodes or
/// when a blocking call is interrupted).
#[pyfunction]
fn on_cancel_signal(_signum: i32, _frame: &Bound<'_, PyAny>) -> PyResult<()> {
    if RAISE.swap(false, Ordering::SeqCst) {
        return Err(JobCancelled::new_err(MESSAGE));
    }
    Ok(())
}

/// Installs the handler; returns the handler it replaced, or None if it could not be installed
/// (not on the main thread): then a cancelled job stops only at its next report.
pub(crate) fn install(py: Python<'_>) -> Option<Py<PyAny>> {
    let installed = (|| {
        let handler = wrap_pyfunction!(on_cancel_signal, py)?;
        py.import("signal")?
            .call_method1("signal", (CANCEL_SIGNAL, handler))
            .map(Bound::unbind)
    })();
    match installed {
        Ok(previous) => Some(previous),
        Err(e) => {
            log::warn!(target: crate::worker::LOG, "cannot install the cancel signal handler ({e}); a cancelled job stops only at its next job_log call");
            None
        }
    }
}

/// Puts back the handler [`install`] replaced.
pub(crate) fn restore(py: Python<'_>, previous: Py<PyAny>) {
    let restored = py
        .import("signal")
        .and_then(|s| s.call_method1("signal", (CANCEL_SIGNAL, previous)));
    if let Err(e) = restored {
        log::warn!(target: crate::worker::LOG, "could not restore the previous handler of signal {CANCEL_SIGNAL}: {e}");
    }
}

/// Requests cancellation of job `uuid` (see `crate::client::cancel`); returns its status after.
#[pyfunction]
pub(crate) fn cancel_job(
    py: Python<'_>,
    store: &Bound<'_, PyStore>,
    uuid: String,
) -> PyResult<String> {
    let store = store.get().inner.clone();
    py.detach(|| crate::client::request_cancel(&*store, &uuid))
        .map(|s| s.as_str().to_owned())
        .map_err(to_py)
}

/// `cancel_job` as an awaitable, for a web handler: the store calls run off the event loop.
#[pyfunction]
pub(crate) fn cancel_job_async<'py>(
    py: Python<'py>,
    store: &Bound<'py, PyStore>,
    uuid: String,
) -> PyResult<Bound<'py, PyAny>> {
    let store = store.get().inner.clone();
    super::runtime::awaitable(py, move || {
        crate::client::request_cancel(&*store, &uuid).map(|s| s.as_str().to_owned())
    })
}
