//! `reconcile`: the engine's pass that puts back jobs whose queue entries were lost
//! (`crate::client::reconcile`), for `zerog reconcile` and the worker supervisor.

use super::errors::to_py;
use super::queue::PyQueue;
use super::store::PyStore;
use pyo3::prelude::*;
use std::time::Duration;

/// `(documents checked, uuids whose entries were lost, how many were put back)`.
#[pyfunction]
#[pyo3(signature = (store, queue, older_than=60.0, dry_run=false))]
pub(crate) fn reconcile(
    py: Python<'_>,
    store: &Bound<'_, PyStore>,
    queue: &Bound<'_, PyQueue>,
    older_than: f64,
    dry_run: bool,
) -> PyResult<(usize, Vec<String>, usize)> {
    let (store, queue) = (store.get().inner.clone(), queue.get().inner.clone());
    let older_than = Duration::from_secs_f64(older_than.max(0.0));
    let report = py
        .detach(|| crate::client::reconcile::reconcile(&*store, &*queue, older_than, dry_run))
        .map_err(to_py)?;
    Ok((report.checked, report.lost, report.requeued))
}
