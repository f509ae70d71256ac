//! `Queue`: one queue connection, as Python sees it. Bodies cross as bytes. What a web handler
//! asks of the queue (put, stats_tube, list_tubes) has an awaitable twin too (see `runtime`).

use super::errors::to_py;
use super::runtime::awaitable;
use crate::queue::{JobId, JobStats, PutRequest, Queue, TubeStats, DEFAULT_PRIORITY};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::sync::Arc;
use std::time::Duration;

#[pyclass(name = "Queue", module = "zeroG._zerog", frozen)]
pub struct PyQueue {
    pub(crate) inner: Arc<dyn Queue>,
    /// The URL it was opened with, its password masked.
    url: String,
}

type Found<'py> = Option<(JobId, Bound<'py, PyBytes>)>;

fn found<'py>(py: Python<'py>, f: Option<(JobId, Vec<u8>)>) -> Found<'py> {
    f.map(|(id, body)| (id, PyBytes::new(py, &body)))
}

fn stats_dict<'py>(py: Python<'py>, s: &JobStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("id", s.id)?;
    d.set_item("tube", &s.tube)?;
    d.set_item("state", s.state.as_str())?;
    d.set_item("pri", s.priority)?;
    d.set_item("age", s.age)?;
    d.set_item("delay", s.delay)?;
    d.set_item("ttr", s.ttr)?;
    d.set_item("time-left", s.time_left)?;
    d.set_item("reserves", s.reserves)?;
    d.set_item("timeouts", s.timeouts)?;
    d.set_item("releases", s.releases)?;
    d.set_item("buries", s.buries)?;
    d.set_item("kicks", s.kicks)?;
    Ok(d)
}

/// `stats_tube`'s answer in Python: `{name, ready, reserved, delayed, buried, watching}`. A newtype so that
/// an awaitable `stats_tube` can carry it back to the event loop as plain Rust and convert it
/// there.
struct TubeDict(TubeStats);

impl<'py> IntoPyObject<'py> for TubeDict {
    type Target = PyDict;
    type Output = Bound<'py, PyDict>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.0;
        let d = PyDict::new(py);
        d.set_item("name", s.name)?;
        d.set_item("ready", s.ready)?;
        d.set_item("reserved", s.reserved)?;
        d.set_item("delayed", s.delayed)?;
        d.set_item("buried", s.buried)?;
        d.set_item("watching", s.watching)?;
        Ok(d)
    }
}

#[pymethods]
impl PyQueue {
    /// Opens a queue connection to what a URL names (`sqlite:///path.db`).
    #[staticmethod]
    fn open(py: Python<'_>, url: String) -> PyResult<PyQueue> {
        let inner = py
            .detach(|| crate::connect::open_queue(&url))
            .map_err(to_py)?;
        // Only the masked form is kept: `url` and the repr never show a password.
        let url = crate::config::masked(&url);
        Ok(PyQueue { inner, url })
    }

    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    #[getter]
    fn max_job_size(&self) -> usize {
        self.inner.max_job_size()
    }

    /// Whether a waiting reserve waits on a server (beanstalkd, in whole seconds) rather than
    /// polling a file (the embedded queue): then a long wait costs nothing.
    #[getter]
    fn waits_in_whole_seconds(&self) -> bool {
        self.inner.waits_in_whole_seconds()
    }

    #[pyo3(signature = (tube, body, priority=DEFAULT_PRIORITY, delay=0, ttr=crate::worker::DEFAULT_TTR))]
    fn put(
        &self,
        py: Python<'_>,
        tube: String,
        body: Vec<u8>,
        priority: u32,
        delay: u32,
        ttr: u32,
    ) -> PyResult<JobId> {
        let req = PutRequest {
            tube,
            body,
            priority,
            delay,
            ttr,
        };
        py.detach(|| self.inner.put(&req)).map_err(to_py)
    }

    /// `put`, awaitable. Like the store's twins (see `store`), it converts its arguments here and
    /// gives the engine call its own handle on the connection; so do the other `_async` methods.
    #[pyo3(signature = (tube, body, priority=DEFAULT_PRIORITY, delay=0, ttr=crate::worker::DEFAULT_TTR))]
    fn put_async<'py>(
        &self,
        py: Python<'py>,
        tube: String,
        body: Vec<u8>,
        priority: u32,
        delay: u32,
        ttr: u32,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req = PutRequest {
            tube,
            body,
            priority,
            delay,
            ttr,
        };
        let queue = Arc::clone(&self.inner);
        awaitable(py, move || queue.put(&req))
    }

    /// Puts `(tube, body, priority, delay, ttr)` tuples as one batch; returns their ids in order.
    /// An error after some were queued has `put`: each job's id, or None if it is not known
    /// queued.
    fn put_many(
        &self,
        py: Python<'_>,
        jobs: Vec<(String, Vec<u8>, u32, u32, u32)>,
    ) -> PyResult<Vec<JobId>> {
        let reqs: Vec<PutRequest> = jobs
            .into_iter()
            .map(|(tube, body, priority, delay, ttr)| PutRequest {
                tube,
                body,
                priority,
                delay,
                ttr,
            })
            .collect();
        py.detach(|| self.inner.put_many(&reqs)).map_err(to_py)
    }

    /// `(id, tube, body)` of a job reserved for this connection, or None after `timeout` seconds.
    #[pyo3(signature = (tubes, timeout=0.0))]
    fn reserve<'py>(
        &self,
        py: Python<'py>,
        tubes: Vec<String>,
        timeout: f64,
    ) -> PyResult<Option<(JobId, String, Bound<'py, PyBytes>)>> {
        let timeout = Duration::from_secs_f64(timeout.max(0.0));
        let r = py
            .detach(|| self.inner.reserve(&tubes, timeout))
            .map_err(to_py)?;
        Ok(r.map(|r| (r.id, r.tube, PyBytes::new(py, &r.body))))
    }

    fn delete(&self, py: Python<'_>, id: JobId) -> PyResult<()> {
        py.detach(|| self.inner.delete(id)).map_err(to_py)
    }

    #[pyo3(signature = (id, priority=DEFAULT_PRIORITY, delay=0))]
    fn release(&self, py: Python<'_>, id: JobId, priority: u32, delay: u32) -> PyResult<()> {
        py.detach(|| self.inner.release(id, priority, delay))
            .map_err(to_py)
    }

    #[pyo3(signature = (id, priority=DEFAULT_PRIORITY))]
    fn bury(&self, py: Python<'_>, id: JobId, priority: u32) -> PyResult<()> {
        py.detach(|| self.inner.bury(id, priority)).map_err(to_py)
    }

    fn touch(&self, py: Python<'_>, id: JobId) -> PyResult<()> {
        py.detach(|| self.inner.touch(id)).map_err(to_py)
    }

    /// Kicks up to `bound` buried jobs of `tube` (delayed ones if none are buried).
    #[pyo3(signature = (tube, bound=1))]
    fn kick(&self, py: Python<'_>, tube: String, bound: u64) -> PyResult<u64> {
        py.detach(|| self.inner.kick(&tube, bound)).map_err(to_py)
    }

    fn kick_job(&self, py: Python<'_>, id: JobId) -> PyResult<()> {
        py.detach(|| self.inner.kick_job(id)).map_err(to_py)
    }

    fn peek<'py>(&self, py: Python<'py>, id: JobId) -> PyResult<Found<'py>> {
        let f = py.detach(|| self.inner.peek(id)).map_err(to_py)?;
        Ok(found(py, f))
    }

    fn peek_ready<'py>(&self, py: Python<'py>, tube: String) -> PyResult<Found<'py>> {
        let f = py.detach(|| self.inner.peek_ready(&tube)).map_err(to_py)?;
        Ok(found(py, f))
    }

    fn peek_delayed<'py>(&self, py: Python<'py>, tube: String) -> PyResult<Found<'py>> {
        let f = py
            .detach(|| self.inner.peek_delayed(&tube))
            .map_err(to_py)?;
        Ok(found(py, f))
    }

    fn peek_buried<'py>(&self, py: Python<'py>, tube: String) -> PyResult<Found<'py>> {
        let f = py.detach(|| self.inner.peek_buried(&tube)).map_err(to_py)?;
        Ok(found(py, f))
    }

    /// beanstalkd's stats-job keys: id, tube, state, pri, age, delay, ttr, time-left, reserves,
    /// timeouts, releases, buries, kicks.
    fn stats_job<'py>(&self, py: Python<'py>, id: JobId) -> PyResult<Bound<'py, PyDict>> {
        let s = py.detach(|| self.inner.stats_job(id)).map_err(to_py)?;
        stats_dict(py, &s)
    }

    /// `{name, ready, reserved, delayed, buried}` for one tube.
    fn stats_tube(&self, py: Python<'_>, tube: String) -> PyResult<TubeDict> {
        py.detach(|| self.inner.stats_tube(&tube))
            .map(TubeDict)
            .map_err(to_py)
    }

    fn stats_tube_async<'py>(&self, py: Python<'py>, tube: String) -> PyResult<Bound<'py, PyAny>> {
        let queue = Arc::clone(&self.inner);
        awaitable(py, move || queue.stats_tube(&tube).map(TubeDict))
    }

    fn list_tubes(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        py.detach(|| self.inner.list_tubes()).map_err(to_py)
    }

    fn list_tubes_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let queue = Arc::clone(&self.inner);
        awaitable(py, move || queue.list_tubes())
    }

    fn __repr__(&self) -> String {
        format!("Queue({:?})", self.url)
    }
}
