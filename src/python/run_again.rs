//! `run_again`: a failed or cancelled job queued again under its own uuid
//! (`crate::client::run_again`), for `zeroG.jobs.run_again` and the dashboard.

use super::errors::to_py;
use super::queue::PyQueue;
use super::store::PyStore;
use crate::client::run_again::RunAgain;
use crate::error::{Error, Result};
use pyo3::prelude::*;

/// The new entry's id; a job that is not failed or cancelled is refused with `ValueError`.
fn answer(uuid: &str, done: RunAgain) -> Result<u64> {
    match done {
        RunAgain::Queued(id) => Ok(id),
        RunAgain::Refused(status) => Err(Error::Invalid(format!(
            "job {uuid} is {}: only a failed or cancelled job can be run again",
            status.as_str()
        ))),
    }
}

/// Queues the job `uuid` again if it failed or was cancelled; returns its queue entry's id.
#[pyfunction]
pub(crate) fn run_again(
    py: Python<'_>,
    store: &Bound<'_, PyStore>,
    queue: &Bound<'_, PyQueue>,
    uuid: String,
) -> PyResult<u64> {
    let (store, queue) = (store.get().inner.clone(), queue.get().inner.clone());
    py.detach(|| {
        crate::client::run_again::run_again(&*store, &*queue, &uuid).and_then(|d| answer(&uuid, d))
    })
    .map_err(to_py)
}

/// `run_again` as an awaitable, for a web handler.
#[pyfunction]
pub(crate) fn run_again_async<'py>(
    py: Python<'py>,
    store: &Bound<'py, PyStore>,
    queue: &Bound<'py, PyQueue>,
    uuid: String,
) -> PyResult<Bound<'py, PyAny>> {
    let (store, queue) = (store.get().inner.clone(), queue.get().inner.clone());
    super::runtime::awaitable(py, move || {
        crate::client::run_again::run_again(&*store, &*queue, &uuid).and_then(|d| answer(&uuid, d))
    })
}
