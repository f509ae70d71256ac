//! `RunOutcome`: how a job's run ended, as the Python runner (`zeroG.runner`) reports it to
//! the worker loop. One typed value per ending, made by a named constructor, instead of a tuple
//! tagged by a string: the stub says what each ending carries, and stubtest checks it.

use crate::worker::RunResult;
use pyo3::prelude::*;

#[pyclass(name = "RunOutcome", module = "zeroG._zerog", frozen)]
pub(crate) struct PyRunOutcome {
    pub(crate) inner: RunResult,
}

fn of(inner: RunResult) -> PyRunOutcome {
    PyRunOutcome { inner }
}

#[pymethods]
impl PyRunOutcome {
    /// `run()` is done, with this result code.
    #[staticmethod]
    fn finished(result_code: i64) -> Self {
        of(RunResult::Finished { result_code })
    }

    /// `run()` asked to run again after `delay` seconds (a negative delay is none).
    #[staticmethod]
    fn requeue(delay: f64) -> Self {
        of(RunResult::Requeue {
            delay: delay.max(0.0),
        })
    }

    /// An error within the job's retry budget; `recorded`: the job stored it already.
    #[staticmethod]
    #[pyo3(signature = (error_code, message, recorded=false))]
    fn retry(error_code: i64, message: String, recorded: bool) -> Self {
        of(RunResult::Retry {
            error_code,
            message,
            recorded,
        })
    }

    /// An error that finishes the job, never retried.
    #[staticmethod]
    #[pyo3(signature = (error_code, message, recorded=false))]
    fn fail(error_code: i64, message: String, recorded: bool) -> Self {
        of(RunResult::Fail {
            error_code,
            message,
            recorded,
        })
    }

    /// The job could not be built from its document.
    #[staticmethod]
    fn unbuildable(reason: String) -> Self {
        of(RunResult::Unbuildable { reason })
    }

    /// The run stopped at a cancel request, or the job cancelled itself.
    #[staticmethod]
    fn cancelled(message: String) -> Self {
        of(RunResult::Cancelled { message })
    }

    fn __repr__(&self) -> String {
        format!("RunOutcome({:?})", self.inner)
    }
}
