//! `Store`: the datastore, as Python sees it. Documents cross as dicts.
//!
//! What a web handler asks of the store has an awaitable twin (`get_async` for `get`, ...): same
//! arguments, result and errors, run off the event loop (see `runtime`). A twin converts (and
//! refuses) its arguments on the caller's thread, and gives the engine call its own handle on the
//! store, since that call may outlive the Python one.

use super::convert::{doc_from_py, doc_to_py, json_from_py, value_to_py};
use super::encode::encoded_from_py;
use super::errors::to_py;
use super::runtime::awaitable;
use crate::job::{log_entry, LogList, Status};
use crate::store::{FinishCursor, ListQuery, Page, Store, Versioned};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use pyo3::IntoPyObjectExt;
use serde_json::Value;
use std::sync::Arc;

#[pyclass(name = "Store", module = "zeroG._zerog", frozen)]
pub struct PyStore {
    pub(crate) inner: Arc<dyn Store>,
    /// The URL it was opened with, its password masked.
    url: String,
}

fn parse_list(name: &str) -> PyResult<LogList> {
    LogList::parse(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "no log list {name:?}: it is 'events', 'warnings' or 'errors'"
        ))
    })
}

/// `append`'s log list and entry; the entry is stamped now, when it is asked for.
fn append_args(list: &str, msg: &str, error_code: Option<i64>) -> PyResult<(LogList, Value)> {
    Ok((parse_list(list)?, log_entry(msg, error_code)))
}

fn list_query(
    status: Option<&str>,
    job_type: Option<String>,
    limit: usize,
    after: Option<String>,
) -> PyResult<ListQuery> {
    let status = match status {
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            PyValueError::new_err(format!(
                "unknown status {s:?}: one of queued, running, waiting, done, failed, cancelled"
            ))
        })?),
        None => None,
    };
    Ok(ListQuery {
        status,
        job_type,
        limit,
        after,
    })
}

/// `get`'s answer in Python: `(document, cas)`, or None. A newtype so that an awaitable `get`
/// can carry it back to the event loop as plain Rust and convert it there.
struct Got(Option<Versioned>);

impl<'py> IntoPyObject<'py> for Got {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self.0 {
            Some(v) => (doc_to_py(py, &v.doc)?, v.cas).into_bound_py_any(py),
            None => Ok(py.None().into_bound(py)),
        }
    }
}

/// Documents as a Python list of dicts.
fn docs_to_py<'py, 'a>(
    py: Python<'py>,
    docs: impl IntoIterator<Item = &'a crate::job::Doc>,
) -> PyResult<Bound<'py, PyList>> {
    let items = PyList::empty(py);
    for doc in docs {
        items.append(doc_to_py(py, doc)?)?;
    }
    Ok(items)
}

/// `list`'s page in Python: `([document, ...], next_cursor)`.
struct Listed(Page);

impl<'py> IntoPyObject<'py> for Listed {
    type Target = PyTuple;
    type Output = Bound<'py, PyTuple>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let items = docs_to_py(py, self.0.items.iter().map(|(_, doc)| doc))?;
        (items, self.0.next).into_pyobject(py)
    }
}

fn named_counts(counts: Vec<(Status, u64)>) -> Vec<(&'static str, u64)> {
    counts.into_iter().map(|(s, n)| (s.as_str(), n)).collect()
}

/// `finished_after`'s answer in Python: `([document, ...], (finished_at, seq))`.
struct Finished((Vec<crate::job::Doc>, FinishCursor));

impl<'py> IntoPyObject<'py> for Finished {
    type Target = PyTuple;
    type Output = Bound<'py, PyTuple>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let (docs, next) = self.0;
        (docs_to_py(py, &docs)?, (next.finished_at, next.seq)).into_pyobject(py)
    }
}

#[pymethods]
impl PyStore {
    /// Opens the store a URL names (`sqlite:///path.db`).
    #[staticmethod]
    fn open(py: Python<'_>, url: String) -> PyResult<PyStore> {
        let inner = py
            .detach(|| crate::connect::open_store(&url))
            .map_err(to_py)?;
        // Only the masked form is kept: `url` and the repr never show a password.
        let url = crate::config::masked(&url);
        Ok(PyStore { inner, url })
    }

    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    fn insert(&self, py: Python<'_>, key: String, doc: &Bound<'_, PyAny>) -> PyResult<u64> {
        let doc = encoded_from_py(&key, doc)?;
        py.detach(|| self.inner.insert_encoded(&key, &doc))
            .map_err(to_py)
    }

    fn insert_async<'py>(
        &self,
        py: Python<'py>,
        key: String,
        doc: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let doc = encoded_from_py(&key, doc)?;
        let store = Arc::clone(&self.inner);
        awaitable(py, move || store.insert_encoded(&key, &doc))
    }

    /// Creates many `(key, document)` pairs in one batch; returns their CAS values.
    fn insert_many(
        &self,
        py: Python<'_>,
        docs: Vec<(String, Bound<'_, PyAny>)>,
    ) -> PyResult<Vec<u64>> {
        let docs = docs
            .iter()
            .map(|(k, d)| Ok((k.clone(), encoded_from_py(k, d)?)))
            .collect::<PyResult<Vec<_>>>()?;
        py.detach(|| self.inner.insert_many_encoded(&docs))
            .map_err(to_py)
    }

    /// `(document, cas)`, or None if there is no such document.
    fn get(&self, py: Python<'_>, key: String) -> PyResult<Got> {
        py.detach(|| self.inner.get(&key)).map(Got).map_err(to_py)
    }

    /// `(value, cas)` of any JSON kind, or None: what the original zeroG's datastore client
    /// read (it kept strings and numbers as well as objects).
    fn get_value<'py>(
        &self,
        py: Python<'py>,
        key: String,
    ) -> PyResult<Option<(Bound<'py, PyAny>, u64)>> {
        let found = py.detach(|| self.inner.get_value(&key)).map_err(to_py)?;
        found
            .map(|(value, cas)| Ok((value_to_py(py, &value)?, cas)))
            .transpose()
    }

    /// Writes a new value of any JSON kind; DocumentExists if the key holds one.
    fn insert_value(&self, py: Python<'_>, key: String, value: &Bound<'_, PyAny>) -> PyResult<u64> {
        let value = json_from_py(value)?;
        py.detach(|| self.inner.insert_value(&key, &value))
            .map_err(to_py)
    }

    /// Overwrites the value if it still has `cas`, whatever kind either is.
    fn replace_value(
        &self,
        py: Python<'_>,
        key: String,
        value: &Bound<'_, PyAny>,
        cas: u64,
    ) -> PyResult<u64> {
        let value = json_from_py(value)?;
        py.detach(|| self.inner.replace_value(&key, &value, cas))
            .map_err(to_py)
    }

    fn get_async<'py>(&self, py: Python<'py>, key: String) -> PyResult<Bound<'py, PyAny>> {
        let store = Arc::clone(&self.inner);
        awaitable(py, move || store.get(&key).map(Got))
    }

    fn replace(
        &self,
        py: Python<'_>,
        key: String,
        doc: &Bound<'_, PyAny>,
        cas: u64,
    ) -> PyResult<u64> {
        let doc = doc_from_py(doc)?;
        py.detach(|| self.inner.replace(&key, &doc, cas))
            .map_err(to_py)
    }

    fn replace_async<'py>(
        &self,
        py: Python<'py>,
        key: String,
        doc: &Bound<'py, PyAny>,
        cas: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let doc = doc_from_py(doc)?;
        let store = Arc::clone(&self.inner);
        awaitable(py, move || store.replace(&key, &doc, cas))
    }

    /// Appends a timestamped `{timeStamp, msg}` entry (with `errorCode` for errors) to one of the
    /// document's log lists, atomically. Returns the new CAS.
    #[pyo3(signature = (key, list, msg, error_code=None))]
    fn append(
        &self,
        py: Python<'_>,
        key: String,
        list: &str,
        msg: String,
        error_code: Option<i64>,
    ) -> PyResult<u64> {
        let (list, entry) = append_args(list, &msg, error_code)?;
        py.detach(|| self.inner.append(&key, list, &entry))
            .map_err(to_py)
    }

    #[pyo3(signature = (key, list, msg, error_code=None))]
    fn append_async<'py>(
        &self,
        py: Python<'py>,
        key: String,
        list: &str,
        msg: String,
        error_code: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (list, entry) = append_args(list, &msg, error_code)?;
        let store = Arc::clone(&self.inner);
        awaitable(py, move || store.append(&key, list, &entry))
    }

    fn delete(&self, py: Python<'_>, key: String) -> PyResult<bool> {
        py.detach(|| self.inner.delete(&key)).map_err(to_py)
    }

    fn delete_async<'py>(&self, py: Python<'py>, key: String) -> PyResult<Bound<'py, PyAny>> {
        let store = Arc::clone(&self.inner);
        awaitable(py, move || store.delete(&key))
    }

    /// A page of documents, oldest first: `(documents, next_cursor)`.
    #[pyo3(signature = (status=None, job_type=None, limit=100, after=None))]
    fn list(
        &self,
        py: Python<'_>,
        status: Option<&str>,
        job_type: Option<String>,
        limit: usize,
        after: Option<String>,
    ) -> PyResult<Listed> {
        let query = list_query(status, job_type, limit, after)?;
        py.detach(|| self.inner.list(&query))
            .map(Listed)
            .map_err(to_py)
    }

    #[pyo3(signature = (status=None, job_type=None, limit=100, after=None))]
    fn list_async<'py>(
        &self,
        py: Python<'py>,
        status: Option<&str>,
        job_type: Option<String>,
        limit: usize,
        after: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let query = list_query(status, job_type, limit, after)?;
        let store = Arc::clone(&self.inner);
        awaitable(py, move || store.list(&query).map(Listed))
    }

    /// Deletes finished documents whose `finishedAt` is before `finished_before` (ISO 8601).
    fn expire_finished(&self, py: Python<'_>, finished_before: String) -> PyResult<usize> {
        py.detach(|| self.inner.expire_finished(&finished_before))
            .map_err(to_py)
    }

    /// `[(status, count)]` for every status, in lifecycle order.
    fn count_by_status(&self, py: Python<'_>) -> PyResult<Vec<(&'static str, u64)>> {
        py.detach(|| self.inner.count_by_status())
            .map(named_counts)
            .map_err(to_py)
    }

    fn count_by_status_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let store = Arc::clone(&self.inner);
        awaitable(py, move || store.count_by_status().map(named_counts))
    }

    /// Documents that finished after `(finished_at, seq)` and no later than `until`, in the
    /// order they finished: `(documents, (finished_at, seq))`, the second part to pass next.
    #[pyo3(signature = (finished_at, until, seq=0, limit=100))]
    fn finished_after(
        &self,
        py: Python<'_>,
        finished_at: String,
        until: String,
        seq: i64,
        limit: usize,
    ) -> PyResult<Finished> {
        let after = FinishCursor { finished_at, seq };
        py.detach(|| self.inner.finished_after(&after, &until, limit))
            .map(Finished)
            .map_err(to_py)
    }

    #[pyo3(signature = (finished_at, until, seq=0, limit=100))]
    fn finished_after_async<'py>(
        &self,
        py: Python<'py>,
        finished_at: String,
        until: String,
        seq: i64,
        limit: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        let after = FinishCursor { finished_at, seq };
        let store = Arc::clone(&self.inner);
        awaitable(py, move || {
            store.finished_after(&after, &until, limit).map(Finished)
        })
    }

    fn __repr__(&self) -> String {
        format!("Store({:?})", self.url)
    }
}
