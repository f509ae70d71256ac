//! The fleet's wire format for Python (`zeroG.mgmt`): worker ids and control messages, defined
//! once, in the engine ([`crate::fleet`]), so the Python manager and the Rust worker cannot
//! disagree on a byte.

use super::convert::{doc_from_py, value_to_py};
use crate::fleet::{self, Message};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

/// `zerog+$host+$name+$pid`.
#[pyfunction]
pub(crate) fn make_worker_id(worker_type: &str, host: &str, name: &str, pid: u32) -> String {
    fleet::make_worker_id(worker_type, host, name, pid)
}

/// `{"workerType", "host", "serviceName", "pid"}` (the original's keys), or None for a name
/// that is not a worker id.
#[pyfunction]
pub(crate) fn parse_worker_id<'py>(
    py: Python<'py>,
    id: &str,
) -> PyResult<Option<Bound<'py, PyDict>>> {
    let Some(parts) = fleet::parse_worker_id(id) else {
        return Ok(None);
    };
    let d = PyDict::new(py);
    d.set_item("workerType", parts.worker_type)?;
    d.set_item("host", parts.host)?;
    d.set_item("serviceName", parts.name)?;
    d.set_item("pid", parts.pid)?;
    Ok(Some(d))
}

/// The updates tube: `updates` plus the postfix.
/// `{"available", "used"}` in bytes, as a worker's `info` message reports them: what the
/// machine has free, and what this process uses of its own.
#[pyfunction]
pub(crate) fn memory_figures(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in fleet::memory::mem() {
        d.set_item(k, v.as_u64().unwrap_or(0))?;
    }
    Ok(d)
}

#[pyfunction]
#[pyo3(signature = (postfix=""))]
pub(crate) fn updates_tube(postfix: &str) -> String {
    fleet::updates_tube(postfix)
}

fn message_dict<'py>(py: Python<'py>, msg: &Message) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in msg.fields() {
        d.set_item(k, value_to_py(py, &v)?)?;
    }
    Ok(d)
}

fn message_from(fields: &Bound<'_, PyAny>) -> PyResult<Message> {
    Message::from_map(doc_from_py(fields)?).map_err(PyValueError::new_err)
}

/// A control message's fields, checked and completed (a timestamp of now if none, the
/// defaults of `info`), in the order they are written. ValueError says what is wrong.
#[pyfunction]
pub(crate) fn fleet_message<'py>(
    py: Python<'py>,
    fields: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    message_dict(py, &message_from(fields)?)
}

/// The queue body of a control message, as the original wrote it.
#[pyfunction]
pub(crate) fn fleet_message_json(fields: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(message_from(fields)?.to_json())
}

/// A queue body read as a control message; ValueError says what is wrong with it.
#[pyfunction]
pub(crate) fn parse_fleet_message<'py>(
    py: Python<'py>,
    body: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let bytes: Vec<u8> = match body.cast::<PyBytes>() {
        Ok(b) => b.as_bytes().to_vec(),
        Err(_) => body.extract::<String>()?.into_bytes(),
    };
    let msg = Message::parse(&bytes).map_err(PyValueError::new_err)?;
    message_dict(py, &msg)
}
