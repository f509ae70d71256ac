//! A Python dict written straight to JSON text, for documents on their way into a store.
//!
//! `doc_from_py` builds the engine's tree of values first, and a store then writes that tree
//! out and frees it. For a new document nothing else reads the tree, and building and freeing
//! it (a map entry, a hash and an allocation per field) was about half of a bulk enqueue's
//! insert cost. Here the dict is written out as it is walked, with serde_json's own writer, so
//! the text is byte for byte what the tree would have given.
//!
//! Only what the tree walk accepts in the same form is written here: a dict with a key that is
//! not a str (which `json.dumps` turns into text, and two such keys can collide) or anything
//! that fails goes the tree's way, so every error message and every odd case stays the one
//! `doc_from_py` defines.

use super::convert::{doc_from_py, MAX_DEPTH};
use crate::job::{EncodedDoc, IndexedFields};
use pyo3::exceptions::PyAttributeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::ser::{Error as _, SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

pub(crate) fn encoded_from_py(key: &str, obj: &Bound<'_, PyAny>) -> PyResult<EncodedDoc> {
    encoded_from_py_without(key, obj, &[])
}

/// `encoded_from_py` without the top-level fields named in `left_out` (which must not be
/// indexed ones: see `IndexedFields`).
pub(crate) fn encoded_from_py_without(
    key: &str,
    obj: &Bound<'_, PyAny>,
    left_out: &[&str],
) -> PyResult<EncodedDoc> {
    if let Ok(dict) = obj.cast::<PyDict>() {
        let mut json = Vec::with_capacity(1024);
        let walk = Walk {
            obj,
            depth: 0,
            left_out,
        };
        if walk
            .serialize(&mut serde_json::Serializer::new(&mut json))
            .is_ok()
        {
            let json = String::from_utf8(json).expect("serde_json writes UTF-8");
            return Ok(EncodedDoc::from_parts(json, indexed_fields(dict)?));
        }
    }
    let mut doc = doc_from_py(obj)?;
    for name in left_out {
        doc.remove(*name);
    }
    EncodedDoc::of(key, &doc).map_err(super::errors::to_py)
}

/// A new job's document given as `(names, job)`: each of `names` read from `job` as an
/// attribute, None where it has none (as `BaseJob._document` reads a job without fields of its
/// own). Written as it is read, without the dict `_document` would build first: that dict was
/// a fifth of what a `POST /job` costs in Python. Without the fields in `left_out`.
pub(crate) fn encoded_from_attributes(
    key: &str,
    names: &Bound<'_, PyTuple>,
    job: &Bound<'_, PyAny>,
    left_out: &[&str],
) -> PyResult<EncodedDoc> {
    let attributes = Attributes { names, job };
    let mut json = Vec::with_capacity(1024);
    let walk = AttributeWalk {
        attributes: &attributes,
        left_out,
    };
    if walk
        .serialize(&mut serde_json::Serializer::new(&mut json))
        .is_ok()
    {
        let json = String::from_utf8(json).expect("serde_json writes UTF-8");
        return Ok(EncodedDoc::from_parts(
            json,
            indexed_fields_of(|name| attributes.get(name))?,
        ));
    }
    // Something the walk does not write: the dict's way, for its errors and odd cases.
    let dict = PyDict::new(job.py());
    for name in names.iter() {
        let value = attributes.get(name.cast::<PyString>()?.to_str()?)?;
        dict.set_item(name, value)?;
    }
    encoded_from_py_without(key, dict.as_any(), left_out)
}

/// A job's attributes by name.
struct Attributes<'a, 'py> {
    names: &'a Bound<'py, PyTuple>,
    job: &'a Bound<'py, PyAny>,
}

impl<'py> Attributes<'_, 'py> {
    fn get(&self, name: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.job.getattr(name) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_instance_of::<PyAttributeError>(self.job.py()) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

struct AttributeWalk<'a, 'b, 'py> {
    attributes: &'a Attributes<'b, 'py>,
    left_out: &'a [&'a str],
}

impl Serialize for AttributeWalk<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let py = self.attributes.job.py();
        let mut map = s.serialize_map(None)?;
        for name in self.attributes.names.iter() {
            let Ok(name) = name.cast::<PyString>() else {
                return Err(S::Error::custom("a name that is not a str"));
            };
            let name = name.to_str().map_err(S::Error::custom)?;
            if self.left_out.contains(&name) {
                continue;
            }
            let value = self
                .attributes
                .get(name)
                .map_err(S::Error::custom)?
                .unwrap_or_else(|| py.None().into_bound(py));
            map.serialize_key(name)?;
            map.serialize_value(&Walk {
                obj: &value,
                depth: 1,
                left_out: &[],
            })?;
        }
        map.end()
    }
}

/// The top-level fields stores index, read as `DocExt` reads them from a tree.
fn indexed_fields(dict: &Bound<'_, PyDict>) -> PyResult<IndexedFields> {
    indexed_fields_of(|name| dict.get_item(name))
}

/// `indexed_fields`, each field read by `get`.
fn indexed_fields_of<'py>(
    get: impl Fn(&str) -> PyResult<Option<Bound<'py, PyAny>>>,
) -> PyResult<IndexedFields> {
    let text = |name: &str| -> PyResult<Option<String>> {
        Ok(match get(name)? {
            Some(v) => match v.cast::<PyString>() {
                Ok(s) => Some(s.to_str()?.to_owned()),
                Err(_) => None,
            },
            None => None,
        })
    };
    let result_code = match get("resultCode")? {
        // In the tree a bool is not a number, and an int beyond i64 is not an i64.
        Some(v) if v.is_instance_of::<PyInt>() && !v.is_instance_of::<PyBool>() => {
            v.extract::<i64>().ok()
        }
        _ => None,
    };
    let running = match get("running")? {
        Some(v) => v.cast::<PyBool>().ok().map(|b| b.is_true()),
        None => None,
    };
    Ok(IndexedFields {
        status: text("status")?,
        result_code,
        running,
        job_type: text("jobType")?,
        finished_at: text("finishedAt")?,
    })
}

/// A Python value written as the tree walk would convert it. `depth` counts as there; a dict
/// at depth 0 is written without the keys in `left_out`.
struct Walk<'a, 'py> {
    obj: &'a Bound<'py, PyAny>,
    depth: usize,
    left_out: &'a [&'a str],
}

impl Serialize for Walk<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.obj;
        if v.is_none() {
            return s.serialize_unit();
        }
        if let Ok(text) = v.cast::<PyString>() {
            return s.serialize_str(text.to_str().map_err(S::Error::custom)?);
        }
        // bool before int: in Python a bool is an int.
        if let Ok(b) = v.cast::<PyBool>() {
            return s.serialize_bool(b.is_true());
        }
        if v.is_instance_of::<PyInt>() {
            if let Ok(i) = v.extract::<i64>() {
                return s.serialize_i64(i);
            }
            if let Ok(u) = v.extract::<u64>() {
                return s.serialize_u64(u);
            }
            // Beyond 64 bits: a float in the tree; the tree's way writes it.
            return Err(S::Error::custom("integer beyond 64 bits"));
        }
        if let Ok(f) = v.cast::<PyFloat>() {
            let f = f.value();
            if !f.is_finite() {
                return Err(S::Error::custom("not a finite float"));
            }
            return s.serialize_f64(f);
        }
        if self.depth >= MAX_DEPTH {
            return Err(S::Error::custom("too deep"));
        }
        let depth = self.depth + 1;
        if let Ok(d) = v.cast::<PyDict>() {
            let mut map = s.serialize_map(None)?;
            for (k, item) in d.iter() {
                let Ok(k) = k.cast::<PyString>() else {
                    return Err(S::Error::custom("a key that is not a str"));
                };
                let k = k.to_str().map_err(S::Error::custom)?;
                if self.left_out.contains(&k) {
                    continue;
                }
                map.serialize_key(k)?;
                map.serialize_value(&Walk {
                    obj: &item,
                    depth,
                    left_out: &[],
                })?;
            }
            return map.end();
        }
        if let Ok(l) = v.cast::<PyList>() {
            return write_seq(s, l.len(), l.iter(), depth);
        }
        if let Ok(t) = v.cast::<PyTuple>() {
            return write_seq(s, t.len(), t.iter(), depth);
        }
        Err(S::Error::custom("not a JSON type"))
    }
}

/// A list or a tuple: both are a JSON array.
fn write_seq<'py, S: Serializer>(
    s: S,
    len: usize,
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    depth: usize,
) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(len))?;
    for item in items {
        seq.serialize_element(&Walk {
            obj: &item,
            depth,
            left_out: &[],
        })?;
    }
    seq.end()
}
