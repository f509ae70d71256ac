//! `RunContext`: what `zeroG.job_log` reports into while a job runs. Every call only updates
//! memory (a lock and a few stores); the worker writes it to the document in the background.
//!
//! Once the worker has seen a cancel request for the job (every background write reads the
//! document, and the keeper re-reads it at least every second), every report raises
//! `JobCancelled` instead: that is how a job that reports progress stops at a cancel.

use crate::job::LogList;
use crate::progress::{Accepted, RunContext};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::sync::Arc;

#[pyclass(name = "RunContext", module = "zeroG._zerog", frozen)]
pub struct PyRunContext {
    pub(crate) inner: Arc<RunContext>,
}

impl PyRunContext {
    /// Err(JobCancelled) once the job is to stop.
    fn not_cancelled(&self) -> PyResult<()> {
        if self.inner.cancel_requested() {
            return Err(super::errors::JobCancelled::new_err(super::cancel::MESSAGE));
        }
        Ok(())
    }
}

#[pymethods]
impl PyRunContext {
    /// Whether the job was asked to stop (a cancel request the worker has seen).
    #[getter]
    fn cancel_requested(&self) -> bool {
        self.inner.cancel_requested()
    }

    /// The latest completeness reported (or stored when the run began).
    #[getter]
    fn completeness(&self) -> f64 {
        self.inner.completeness()
    }

    #[getter]
    fn key(&self) -> &str {
        self.inner.key()
    }

    /// Sets completeness, clamped to 0..1. Returns the stored value, or None if the minimum
    /// interval skipped it.
    #[pyo3(signature = (value, enforce_min_interval=false))]
    fn set_completeness(&self, value: f64, enforce_min_interval: bool) -> PyResult<Option<f64>> {
        self.not_cancelled()?;
        Ok(
            match self.inner.set_completeness(value, enforce_min_interval) {
                Accepted::Yes(v) => Some(v),
                Accepted::Throttled => None,
            },
        )
    }

    fn track_completeness(&self, start: f64, end: f64, intervals: f64) -> PyResult<()> {
        self.not_cancelled()?;
        self.inner.track_completeness(start, end, intervals);
        Ok(())
    }

    /// One tracked step; returns the value it set, or None (not tracking, or throttled).
    fn increment_completeness(&self) -> PyResult<Option<f64>> {
        self.not_cancelled()?;
        Ok(match self.inner.increment_completeness() {
            Some((_, Accepted::Yes(v))) => Some(v),
            _ => None,
        })
    }

    /// Adds an entry to "events", "warnings" or "errors" (errors take a code).
    #[pyo3(signature = (list, msg, error_code=None))]
    fn log(&self, list: &str, msg: &str, error_code: Option<i64>) -> PyResult<()> {
        self.not_cancelled()?;
        let list = LogList::parse(list).ok_or_else(|| {
            PyValueError::new_err(format!(
                "no log list {list:?}: 'events', 'warnings' or 'errors'"
            ))
        })?;
        self.inner.log(list, msg, error_code);
        Ok(())
    }

    fn set_result(&self, code: i64) -> PyResult<()> {
        self.not_cancelled()?;
        self.inner.set_result(code);
        Ok(())
    }

    fn heartbeat(&self) -> PyResult<()> {
        self.not_cancelled()?;
        self.inner.heartbeat();
        Ok(())
    }

    /// Writes everything reported so far to the document now.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.flush())
            .map_err(super::errors::to_py)
    }
}
