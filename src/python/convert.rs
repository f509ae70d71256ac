//! Job documents crossing between Python dicts and the engine's [`Doc`].
//!
//! Both directions walk the objects directly. Through JSON text instead (`json.dumps` and serde
//! one way, serde and `json.loads` the other) a job document cost about 10 µs more each way
//! (measured on a 24-field job document), and the worker pays it on every job, the producer on
//! every enqueue. The walk accepts what `json.dumps` accepts (str, int, float, bool, None,
//! lists, tuples and dicts, subclasses included; dict keys that are str, int, float, bool or
//! None, written as JSON spells them) and refuses the rest with the same message, plus NaN and
//! infinity, which JSON cannot hold.

use crate::job::Doc;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::IntoPyObjectExt;
use serde_json::{Map, Number, Value};

/// Deeper than this is refused: a self-containing dict would otherwise never end.
pub(crate) const MAX_DEPTH: usize = 128;

pub(crate) fn doc_to_py<'py>(py: Python<'py>, doc: &Doc) -> PyResult<Bound<'py, PyAny>> {
    map_to_py(py, doc).map(Bound::into_any)
}

fn map_to_py<'py>(py: Python<'py>, map: &Map<String, Value>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in map {
        // Interned: every job document has the same keys, and attribute lookups by an
        // interned name are faster.
        dict.set_item(PyString::intern(py, k), value_to_py(py, v)?)?;
    }
    Ok(dict)
}

pub(crate) fn value_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Value::Null => Ok(py.None().into_bound(py)),
        Value::Bool(b) => b.into_bound_py_any(py),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_bound_py_any(py)
            } else if let Some(u) = n.as_u64() {
                u.into_bound_py_any(py)
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)
            }
        }
        Value::String(s) => Ok(PyString::new(py, s).into_any()),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(value_to_py(py, item)?)?;
            }
            Ok(list.into_any())
        }
        Value::Object(map) => map_to_py(py, map).map(Bound::into_any),
    }
}

pub(crate) fn doc_from_py(obj: &Bound<'_, PyAny>) -> PyResult<Doc> {
    let Ok(dict) = obj.cast::<PyDict>() else {
        return Err(PyValueError::new_err(format!(
            "a document must be a dict, not {}",
            obj.get_type().name()?
        )));
    };
    map_from_py(dict, 0)
}

/// Any JSON value, as `json.dumps` would write `obj` (a value under a key of its own, for the
/// original zeroG's datastore client).
pub(crate) fn json_from_py(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    value_from_py(obj, 0)
}

fn not_json(why: String) -> PyErr {
    PyValueError::new_err(format!("document is not JSON: {why}"))
}

fn map_from_py(dict: &Bound<'_, PyDict>, depth: usize) -> PyResult<Map<String, Value>> {
    let mut map = Map::new();
    for (k, v) in dict.iter() {
        map.insert(key_from_py(&k)?, value_from_py(&v, depth + 1)?);
    }
    Ok(map)
}

/// A dict key as `json.dumps` writes it.
fn key_from_py(k: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = k.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    match value_from_py(k, MAX_DEPTH) {
        Ok(Value::Bool(b)) => Ok(b.to_string()),
        Ok(Value::Null) => Ok("null".into()),
        Ok(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(not_json(format!(
            "keys must be str, int, float, bool or None, not {}",
            k.get_type().name()?
        ))),
    }
}

fn value_from_py(v: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if v.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(s) = v.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    // bool before int: in Python a bool is an int.
    if let Ok(b) = v.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if v.is_instance_of::<PyInt>() {
        if let Ok(i) = v.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = v.extract::<u64>() {
            return Ok(Value::from(u));
        }
        // Beyond 64 bits: a float, as serde reads such a number from JSON text.
        return float_value(v.extract::<f64>()?);
    }
    if let Ok(f) = v.cast::<PyFloat>() {
        return float_value(f.value());
    }
    if depth >= MAX_DEPTH {
        return Err(not_json(format!(
            "nested more than {MAX_DEPTH} levels deep (does a value contain itself?)"
        )));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        return Ok(Value::Object(map_from_py(d, depth)?));
    }
    if let Ok(l) = v.cast::<PyList>() {
        return l.iter().map(|x| value_from_py(&x, depth + 1)).collect();
    }
    if let Ok(t) = v.cast::<PyTuple>() {
        return t.iter().map(|x| value_from_py(&x, depth + 1)).collect();
    }
    Err(not_json(format!(
        "Object of type {} is not JSON serializable",
        v.get_type().name()?
    )))
}

fn float_value(f: f64) -> PyResult<Value> {
    Number::from_f64(f).map(Value::Number).ok_or_else(|| {
        not_json(format!(
            "Out of range float values are not JSON compliant: {f}"
        ))
    })
}
