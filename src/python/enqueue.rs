//! Enqueueing, for Python: the engine's one enqueue path (`crate::client::enqueue`) behind
//! `BaseJob.enqueue`, `enqueue_async` and `POST /job`, and its batch form behind
//! `enqueue_many`. Conversions only; a job's key and queue body are made here from its uuid.

use super::convert::{doc_from_py, doc_to_py};
use super::encode::{encoded_from_attributes, encoded_from_py, encoded_from_py_without};
use super::errors::to_py;
use super::queue::PyQueue;
use super::store::PyStore;
use crate::client::bulk::{BulkEnqueue, NewJob};
use crate::client::enqueue::{Document, Enqueue, Enqueued};
use crate::job::{key_for, queue_body};
use crate::queue::{PutRequest, Queue};
use crate::store::Store;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::IntoPyObjectExt;
use std::sync::{Arc, Mutex};

/// `(queue id, cas, updatedAt, the document as stored or None)`: the document only when
/// somebody else wrote it meanwhile, so the job object must take it.
struct Answer(Enqueued);

impl<'py> IntoPyObject<'py> for Answer {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let Enqueued {
            id,
            cas,
            updated_at,
            reread,
        } = self.0;
        let doc = match reread {
            Some(d) => doc_to_py(py, &d)?,
            None => py.None().into_bound(py),
        };
        (id, cas, updated_at, doc).into_bound_py_any(py)
    }
}

/// One job's enqueue as Python gives it: `(uuid, document, cas, tube, priority, delay, ttr,
/// restart, before)` (see `crate::client::enqueue::Enqueue`). A new job's document is a dict,
/// or `(names, job)`: the job's attributes of those names (`encoded_from_attributes`).
type Request<'py> = (
    String,
    Bound<'py, PyAny>,
    u64,
    String,
    u32,
    u32,
    u32,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
);

/// The fields of a new job's document that the engine's enqueue writes itself, as it writes
/// (`Document::New`): the values Python's document holds for them are left out.
const ADDED_BY_ENQUEUE: [&str; 2] = ["updatedAt", "queueJobId"];

/// One enqueue ready to run off the GIL: the engine's request and the store and queue to run
/// it on.
struct Call {
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    job: Enqueue,
}

impl Call {
    fn run(self) -> crate::error::Result<Enqueued> {
        crate::client::enqueue::enqueue(&*self.store, &*self.queue, self.job)
    }
}

fn request(
    store: &Bound<'_, PyStore>,
    queue: &Bound<'_, PyQueue>,
    r: Request<'_>,
) -> PyResult<Call> {
    let (uuid, doc, cas, tube, priority, delay, ttr, restart, before) = r;
    let key = key_for(&uuid);
    let doc = if cas == 0 {
        Document::New(match doc.cast::<PyTuple>() {
            Ok(parts) => {
                let (names, job): (Bound<'_, PyTuple>, Bound<'_, PyAny>) = parts.extract()?;
                encoded_from_attributes(&key, &names, &job, &ADDED_BY_ENQUEUE)?
            }
            Err(_) => encoded_from_py_without(&key, &doc, &ADDED_BY_ENQUEUE)?,
        })
    } else {
        Document::Saved {
            doc: doc_from_py(&doc)?,
            cas,
            restart: doc_from_py(&restart)?,
            before: doc_from_py(&before)?,
        }
    };
    let job = Enqueue {
        key,
        doc,
        put: PutRequest {
            tube,
            body: queue_body(&uuid),
            priority,
            delay,
            ttr,
        },
    };
    Ok(Call {
        store: store.get().inner.clone(),
        queue: queue.get().inner.clone(),
        job,
    })
}

/// Saves and queues one job (see `crate::client::enqueue`); returns what `Answer` says.
#[pyfunction]
pub(crate) fn enqueue<'py>(
    py: Python<'py>,
    store: &Bound<'py, PyStore>,
    queue: &Bound<'py, PyQueue>,
    job: Request<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    let call = request(store, queue, job)?;
    let done = py.detach(|| call.run()).map_err(to_py)?;
    Answer(done).into_bound_py_any(py)
}

/// `enqueue`, awaitable: the store and queue calls run off the event loop.
#[pyfunction]
pub(crate) fn enqueue_async<'py>(
    py: Python<'py>,
    store: &Bound<'py, PyStore>,
    queue: &Bound<'py, PyQueue>,
    job: Request<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    let call = request(store, queue, job)?;
    super::runtime::awaitable(py, move || call.run().map(Answer))
}

/// Many new jobs enqueued in batches (see `crate::client::bulk`): `submit` each batch of
/// `(uuid, document, tube, priority, delay, ttr)`, then `finish`.
#[pyclass(name = "BulkEnqueue", module = "zeroG._zerog", frozen)]
pub(crate) struct PyBulkEnqueue {
    inner: Mutex<Option<BulkEnqueue>>,
}

type JobTuple<'py> = (String, Bound<'py, PyAny>, String, u32, u32, u32);

#[pymethods]
impl PyBulkEnqueue {
    #[new]
    fn new(store: &Bound<'_, PyStore>, queue: &Bound<'_, PyQueue>) -> Self {
        let bulk = BulkEnqueue::new(store.get().inner.clone(), queue.get().inner.clone());
        PyBulkEnqueue {
            inner: Mutex::new(Some(bulk)),
        }
    }

    /// Hands over the next batch; waits (without the GIL) while the one before is being written.
    fn submit(&self, py: Python<'_>, jobs: Vec<JobTuple<'_>>) -> PyResult<()> {
        let batch = jobs
            .into_iter()
            .map(|(uuid, doc, tube, priority, delay, ttr)| {
                let key = key_for(&uuid);
                Ok(NewJob {
                    doc: encoded_from_py(&key, &doc)?,
                    key,
                    put: PutRequest {
                        tube,
                        body: queue_body(&uuid),
                        priority,
                        delay,
                        ttr,
                    },
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        py.detach(|| {
            let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            match guard.as_mut() {
                Some(bulk) => {
                    bulk.submit(batch);
                    Ok(())
                }
                None => Err(()),
            }
        })
        .map_err(|()| PyRuntimeError::new_err("this BulkEnqueue has finished"))
    }

    /// Waits for every batch: `(each job's (queue id, cas) or None if not queued, the error
    /// that stopped it or None)`.
    #[allow(clippy::type_complexity)]
    fn finish(&self, py: Python<'_>) -> PyResult<(Vec<Option<(u64, u64)>>, Option<PyErr>)> {
        let bulk = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this BulkEnqueue has finished"))?;
        let out = py.detach(|| bulk.finish());
        Ok((out.queued, out.error.map(to_py)))
    }
}
