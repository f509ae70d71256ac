//! The awaitable methods (`Store.get_async`, `Queue.put_async`, ...): a blocking engine call run
//! on a thread pool, its result handed to Python as an asyncio future of the running loop.
//!
//! The shape is granian's: only the event loop's thread touches Python. A pool thread runs the
//! engine call without the GIL, queues the plain Rust result for the loop, and wakes the loop
//! through an eventfd it watches (`loop.add_reader`); the loop's thread, which holds the GIL
//! anyway, turns results into Python objects and resolves the futures. Handing results over on
//! the pool threads instead (pyo3-async-runtimes' way) costs each call two more thread hops and
//! a wait for the GIL, a third of a simple request's time; and a pool thread attached to Python
//! when the program exits crashed it (pyo3-async-runtimes issue #40), which a pool that never
//! attaches cannot do.
//!
//! The pool is zeroG's own (`pool`): handing a call to it costs the loop's thread a channel send.

use super::errors::to_py;
use pyo3::exceptions::PyOSError;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::IntoPyObjectExt;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};

/// Turns a finished call's result into Python, on the loop's thread.
type Convert = Box<dyn for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, PyAny>> + Send>;

/// A finished call waiting for its loop.
struct Done {
    future: Py<PyAny>,
    result: Convert,
}

/// One event loop's finished calls, and the eventfd that wakes the loop to take them.
struct Shared {
    done: Mutex<Vec<Done>>,
    wake: OwnedFd,
}

impl Shared {
    fn push(&self, done: Done) {
        let first = {
            let mut queue = self.done.lock().unwrap_or_else(PoisonError::into_inner);
            queue.push(done);
            queue.len() == 1
        };
        // One wake-up per batch: the loop takes the whole queue at once. The queue is taken
        // after the counter is read, so a result pushed in between is taken with the batch.
        if first {
            let one: u64 = 1;
            // A full counter (2^64 - 2 wake-ups unread) cannot happen; nothing else can fail.
            unsafe { libc::write(self.wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
    }
}

/// The finished calls of one event loop, which drains them when its eventfd is readable.
#[pyclass(module = "zeroG._zerog", frozen)]
pub(crate) struct Completions {
    shared: Arc<Shared>,
}

impl Completions {
    fn new() -> PyResult<Completions> {
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(PyOSError::new_err(format!(
                "cannot make an eventfd: {}",
                std::io::Error::last_os_error()
            )));
        }
        Ok(Completions {
            shared: Arc::new(Shared {
                done: Mutex::new(Vec::new()),
                wake: unsafe { OwnedFd::from_raw_fd(fd) },
            }),
        })
    }
}

#[pymethods]
impl Completions {
    /// Resolves the future of every finished call: the loop's reader callback.
    fn drain(&self, py: Python<'_>) -> PyResult<()> {
        let mut counter: u64 = 0;
        unsafe {
            libc::read(
                self.shared.wake.as_raw_fd(),
                (&mut counter as *mut u64).cast(),
                8,
            )
        };
        let batch = std::mem::take(
            &mut *self
                .shared
                .done
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for done in batch {
            let future = done.future.bind(py);
            // Cancelled by its awaiter meanwhile: the call ran (it cannot be taken back), its
            // result has nowhere to go.
            if future.call_method0("done")?.is_truthy()? {
                continue;
            }
            match (done.result)(py) {
                Ok(value) => future.call_method1("set_result", (value,))?,
                Err(e) => future.call_method1("set_exception", (e.into_value(py),))?,
            };
        }
        Ok(())
    }
}

/// The running loop's `Completions`, made and registered with the loop on its first call.
fn completions_of<'py>(py: Python<'py>, event_loop: &Bound<'py, PyAny>) -> PyResult<Arc<Shared>> {
    // Keyed weakly by loop: a closed and collected loop takes its eventfd with it.
    static BY_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let by_loop = BY_LOOP
        .get_or_try_init(py, || {
            py.import("weakref")?
                .call_method0("WeakKeyDictionary")
                .map(Bound::unbind)
        })?
        .bind(py);
    if let Some(found) = by_loop
        .call_method1("get", (event_loop,))?
        .extract::<Option<Bound<'py, Completions>>>()?
    {
        return Ok(found.get().shared.clone());
    }
    let made = Bound::new(py, Completions::new()?)?;
    let fd = made.get().shared.wake.as_raw_fd();
    event_loop.call_method1("add_reader", (fd, made.getattr("drain")?))?;
    by_loop.set_item(event_loop, &made)?;
    Ok(made.get().shared.clone())
}

/// Runs `call` on the pool and returns a future of the running loop for its result. The call
/// starts now, not when awaited. Cancelling the future does not stop a call already running
/// (SQLite and beanstalkd cannot take a command back): a write may still land.
pub(crate) fn awaitable<'py, T, F>(py: Python<'py>, call: F) -> PyResult<Bound<'py, PyAny>>
where
    F: FnOnce() -> crate::error::Result<T> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let event_loop = GET_RUNNING_LOOP
        .get_or_try_init(py, || {
            py.import("asyncio")?
                .getattr("get_running_loop")
                .map(Bound::unbind)
        })?
        .bind(py)
        .call0()?;
    let shared = completions_of(py, &event_loop)?;
    let future = event_loop.call_method0("create_future")?;
    let handle = future.clone().unbind();
    super::pool::spawn(move || {
        let outcome = catch_unwind(AssertUnwindSafe(call));
        let result: Convert = Box::new(move |py| match outcome {
            Ok(Ok(value)) => value.into_bound_py_any(py),
            Ok(Err(e)) => Err(to_py(e)),
            // A panic in the engine, as a sync call would raise it.
            Err(panic) => Err(PanicException::new_err(panic_message(&*panic))),
        });
        shared.push(Done {
            future: handle,
            result,
        });
    });
    Ok(future)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "the engine panicked".to_owned())
}
