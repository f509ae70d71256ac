//! `Worker`: the engine's worker loop, driven from a Python process. The loop runs with the GIL
//! released; it takes the GIL back only to ask the Python runner for a job's policy, to run the
//! job, and to let Python signal handlers run between reserve waits.

use super::cancel;
use super::convert::doc_to_py;
use super::errors::{to_py, JobCancelled};
use super::outcome::PyRunOutcome;
use super::run_context::PyRunContext;
use crate::fleet::ControlConfig;
use crate::job::{Doc, INTERNAL_ERROR};
use crate::progress::RunContext;
use crate::store::Cas;
use crate::worker::{JobRunner, Policy, RunResult, Worker, WorkerConfig};
use pyo3::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The Python side of a run: an object with `policy(job_type)` and `run(doc, cas, ctx)`, which
/// returns a `RunOutcome` (`zeroG.runner.Runner`).
struct PyRunner {
    runner: Py<PyAny>,
    /// Policies by job type: a class's limits are read once per worker process.
    policies: HashMap<String, Option<Policy>>,
    /// The supervisor's pid: a worker process whose supervisor is gone stops (after its running
    /// job), rather than running on unsupervised.
    parent_pid: Option<u32>,
    /// The cancel signal handler is installed: a cancelled job can be interrupted.
    interruptible: bool,
}

impl PyRunner {
    fn call_run(
        &self,
        py: Python<'_>,
        doc: &Doc,
        cas: Cas,
        ctx: &Arc<RunContext>,
    ) -> PyResult<RunResult> {
        let ctx = Py::new(py, PyRunContext { inner: ctx.clone() })?;
        let out = self
            .runner
            .bind(py)
            .call_method1("run", (doc_to_py(py, doc)?, cas, ctx))?;
        // Anything but a RunOutcome is the runner failing: a TypeError, reported as such.
        let outcome: PyRef<'_, PyRunOutcome> = out.extract()?;
        Ok(outcome.inner.clone())
    }
}

impl JobRunner for PyRunner {
    fn policy(&mut self, job_type: &str) -> Option<Policy> {
        if let Some(p) = self.policies.get(job_type) {
            return *p;
        }
        let p = self.lookup_policy(job_type);
        self.policies.insert(job_type.to_owned(), p);
        p
    }

    fn run(&mut self, doc: &Doc, cas: Cas, ctx: &Arc<RunContext>) -> RunResult {
        Python::attach(|py| {
            if self.interruptible {
                ctx.set_interrupt(cancel::interrupt_this_thread());
            }
            let out = self.call_run(py, doc, cas, ctx);
            // From here on nothing interrupts: the interrupt is gone (and not running), and a
            // signal still on its way raises nothing.
            ctx.clear_interrupt();
            cancel::disarm();
            out.unwrap_or_else(|e| {
                if e.is_instance_of::<JobCancelled>(py) {
                    // The cancel landed in the runner's own code, around the job's run().
                    return RunResult::Cancelled {
                        message: e.value(py).to_string(),
                    };
                }
                RunResult::Retry {
                    // The runner itself failed (it catches the job's exceptions): report it as an
                    // internal error with the Python traceback, and retry.
                    error_code: INTERNAL_ERROR,
                    message: format!("zeroG job runner failed: {}", format_exception(py, &e)),
                    recorded: false,
                }
            })
        })
    }

    fn keep_going(&mut self) -> bool {
        if let Some(parent) = self.parent_pid {
            if std::os::unix::process::parent_id() != parent {
                log::warn!(target: "zeroG.worker", "supervisor {parent} is gone; this worker process stops");
                return false;
            }
        }
        // Python signal handlers run here (SIGTERM/SIGINT set the stop flag through them); an
        // exception from one, such as KeyboardInterrupt, also stops the worker.
        Python::attach(|py| py.check_signals().is_ok())
    }
}

impl PyRunner {
    fn lookup_policy(&self, job_type: &str) -> Option<Policy> {
        Python::attach(|py| {
            let out = self
                .runner
                .bind(py)
                .call_method1("policy", (job_type,))
                .ok()?;
            let (max_retries, retry_delay, max_runtime): (u32, f64, Option<f64>) =
                out.extract().ok()?;
            Some(Policy {
                max_retries,
                retry_delay,
                max_runtime,
            })
        })
    }
}

fn format_exception(py: Python<'_>, e: &PyErr) -> String {
    let tb = e
        .traceback(py)
        .and_then(|tb| tb.format().ok())
        .unwrap_or_default();
    format!("{tb}{e}")
}

#[pyclass(name = "Worker", module = "zeroG._zerog", frozen)]
pub struct PyWorker {
    inner: Worker,
    stop: Arc<AtomicBool>,
    runner: Py<PyAny>,
    parent_pid: Option<u32>,
}

#[pymethods]
impl PyWorker {
    #[new]
    #[pyo3(signature = (store_url, queue_url, tubes, worker_id, runner, *, max_jobs=None, grace=30.0, load_retry_delay=10, max_load_attempts=3, parent_pid=None, updates_tube=None, job_messages=false, report_fd=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        store_url: String,
        queue_url: String,
        tubes: Vec<String>,
        worker_id: String,
        runner: Py<PyAny>,
        max_jobs: Option<u64>,
        grace: f64,
        load_retry_delay: u32,
        max_load_attempts: u64,
        parent_pid: Option<u32>,
        updates_tube: Option<String>,
        job_messages: bool,
        report_fd: Option<i32>,
    ) -> PyResult<PyWorker> {
        // With an updates tube, the worker listens on its control tube (its id) through a
        // connection of its own.
        let (store, queue, control_queue) = py
            .detach(|| {
                Ok::<_, crate::Error>((
                    crate::connect::open_store(&store_url)?,
                    crate::connect::open_queue(&queue_url)?,
                    match &updates_tube {
                        Some(_) => Some(crate::connect::open_queue(&queue_url)?),
                        None => None,
                    },
                ))
            })
            .map_err(to_py)?;
        let mut config = WorkerConfig::new(tubes, worker_id.clone());
        config.max_jobs = max_jobs;
        config.grace = Duration::from_secs_f64(grace.max(0.0));
        config.load_retry_delay = load_retry_delay;
        config.max_load_attempts = max_load_attempts;
        let mut inner = Worker::new(store, queue, config).map_err(to_py)?;
        if let (Some(updates), Some(control_queue)) = (updates_tube, control_queue) {
            let mut control = ControlConfig::new(worker_id, updates);
            control.job_messages = job_messages;
            control.report_fd = report_fd;
            inner
                .enable_control(control_queue, control)
                .map_err(to_py)?;
        }
        let stop = inner.stop_flag();
        Ok(PyWorker {
            inner,
            stop,
            runner,
            parent_pid,
        })
    }

    /// Runs jobs until stopped or `max_jobs` ran; returns how many ran.
    fn run(&self, py: Python<'_>) -> PyResult<u64> {
        let previous = cancel::install(py);
        let mut runner = PyRunner {
            runner: self.runner.clone_ref(py),
            policies: HashMap::new(),
            parent_pid: self.parent_pid,
            interruptible: previous.is_some(),
        };
        let ran = py.detach(|| self.inner.run(&mut runner)).map_err(to_py);
        if let Some(previous) = previous {
            cancel::restore(py, previous);
        }
        ran
    }

    /// Asks the worker to stop: no new job is taken; the running one has the grace period.
    fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    #[getter]
    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Its last `run` ended because an operator retired it: its process should exit and not
    /// be replaced.
    #[getter]
    fn retired(&self) -> bool {
        self.inner.retired()
    }

    /// `activeIdle`, `activeRunning`, `drainingIdle` or `drainingRunning`.
    #[getter]
    fn state(&self) -> &'static str {
        self.inner.control().state().as_str()
    }
}
