//! `Store`: the datastore, as Python sees it. Documents cross as dicts.

use super::convert::{doc_from_py, doc_to_py};
use super::errors::to_py;
use crate::job::{log_entry, LogList, Status};
use crate::store::{self, ListQuery, Store};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;
use std::sync::Arc;

#[pyclass(name = "Store", module = "zeroG._zerog", frozen)]
pub struct PyStore {
    pub(crate) inner: Arc<dyn Store>,
    url: String,
}

fn parse_list(name: &str) -> PyResult<LogList> {
    LogList::parse(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "no log list {name:?}: it is 'events', 'warnings' or 'errors'"
        ))
    })
}

#[pymethods]
impl PyStore {
    /// Opens the store a URL names (`sqlite:///path.db`).
    #[staticmethod]
    fn open(py: Python<'_>, url: String) -> PyResult<PyStore> {
        let inner = py.detach(|| store::open(&url)).map_err(to_py)?;
        Ok(PyStore { inner, url })
    }

    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    fn insert(&self, py: Python<'_>, key: String, doc: &Bound<'_, PyAny>) -> PyResult<u64> {
        let doc = doc_from_py(doc)?;
        py.detach(|| self.inner.insert(&key, &doc)).map_err(to_py)
    }

    /// Creates many `(key, document)` pairs in one batch; returns their CAS values.
    fn insert_many(
        &self,
        py: Python<'_>,
        docs: Vec<(String, Bound<'_, PyAny>)>,
    ) -> PyResult<Vec<u64>> {
        let docs = docs
            .iter()
            .map(|(k, d)| Ok((k.clone(), doc_from_py(d)?)))
            .collect::<PyResult<Vec<_>>>()?;
        py.detach(|| self.inner.insert_many(&docs)).map_err(to_py)
    }

    /// `(document, cas)`, or None if there is no such document.
    fn get<'py>(&self, py: Python<'py>, key: String) -> PyResult<Option<(Bound<'py, PyAny>, u64)>> {
        match py.detach(|| self.inner.get(&key)).map_err(to_py)? {
            Some(v) => Ok(Some((doc_to_py(py, &v.doc)?, v.cas))),
            None => Ok(None),
        }
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
        let list = parse_list(list)?;
        let entry = log_entry(&msg, error_code);
        py.detach(|| self.inner.append(&key, list, &entry))
            .map_err(to_py)
    }

    fn delete(&self, py: Python<'_>, key: String) -> PyResult<bool> {
        py.detach(|| self.inner.delete(&key)).map_err(to_py)
    }

    /// A page of documents, oldest first: `(documents, next_cursor)`.
    #[pyo3(signature = (status=None, job_type=None, limit=100, after=None))]
    fn list<'py>(
        &self,
        py: Python<'py>,
        status: Option<&str>,
        job_type: Option<String>,
        limit: usize,
        after: Option<String>,
    ) -> PyResult<(Bound<'py, PyList>, Option<String>)> {
        let status = match status {
            Some(s) => Some(Status::parse(s).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "unknown status {s:?}: one of queued, running, waiting, done, failed, cancelled"
                ))
            })?),
            None => None,
        };
        let query = ListQuery {
            status,
            job_type,
            limit,
            after,
        };
        let page = py.detach(|| self.inner.list(&query)).map_err(to_py)?;
        let items = PyList::empty(py);
        for (_, doc) in &page.items {
            items.append(doc_to_py(py, doc)?)?;
        }
        Ok((items, page.next))
    }

    /// Deletes finished documents whose `finishedAt` is before `finished_before` (ISO 8601).
    fn expire_finished(&self, py: Python<'_>, finished_before: String) -> PyResult<usize> {
        py.detach(|| self.inner.expire_finished(&finished_before))
            .map_err(to_py)
    }

    fn __repr__(&self) -> String {
        format!("Store({:?})", self.url)
    }
}
