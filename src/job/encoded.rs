//! A document already written out as JSON text, with the fields stores index taken from it.
//!
//! Stores keep documents as JSON text. A document that arrives as text (the bindings write a
//! Python dict straight to JSON) then needs no tree of values built and freed on the way: in a
//! bulk enqueue that tree was the largest part of an insert's cost.

use super::{Doc, Status};
use crate::error::{Error, Result};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
pub struct EncodedDoc {
    json: String,
    /// Worked out once from the [`IndexedFields`]: every write of the document asks for it.
    status: Status,
    job_type: Option<String>,
    finished_at: Option<String>,
}

/// The top-level fields of a document that stores index or act on, as [`super::DocExt`] reads them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IndexedFields {
    /// `status` if it is a string.
    pub status: Option<String>,
    /// `resultCode` if it is an integer within i64.
    pub result_code: Option<i64>,
    /// `running` if it is a boolean.
    pub running: Option<bool>,
    /// `jobType` if it is a string.
    pub job_type: Option<String>,
    /// `finishedAt` if it is a string.
    pub finished_at: Option<String>,
}

impl EncodedDoc {
    /// Writes out `doc`; `key` names it in the error.
    pub fn of(key: &str, doc: &Doc) -> Result<EncodedDoc> {
        let json = serde_json::to_string(doc)
            .map_err(|e| Error::Invalid(format!("document {key} cannot be serialised: {e}")))?;
        // zeroG's own fields may be in the original's shape's stash (a mixed fleet's document).
        let text = |name: &str| {
            super::original_shape::field(doc, name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let fields = IndexedFields {
            status: text("status"),
            result_code: doc.get("resultCode").and_then(Value::as_i64),
            running: doc.get("running").and_then(Value::as_bool),
            job_type: text("jobType"),
            finished_at: text("finishedAt"),
        };
        Ok(EncodedDoc::from_parts(json, fields))
    }

    /// A document written by someone else: `json` must be the text of a JSON object, and
    /// `fields` its top-level fields as named there. The bindings, which write the text straight
    /// from a Python dict, keep that promise; nothing here checks it again.
    pub fn from_parts(json: String, fields: IndexedFields) -> EncodedDoc {
        EncodedDoc {
            json,
            status: Status::of_fields(
                fields.status.as_deref(),
                fields.result_code,
                fields.running.unwrap_or(false),
            ),
            job_type: fields.job_type,
            finished_at: fields.finished_at,
        }
    }

    pub fn json(&self) -> &str {
        &self.json
    }

    /// The status as [`DocExt::status`] gives it (derived for an original-zeroG document).
    pub fn status(&self) -> Status {
        self.status
    }

    pub fn job_type(&self) -> Option<&str> {
        self.job_type.as_deref()
    }

    pub fn finished_at(&self) -> Option<&str> {
        self.finished_at.as_deref()
    }

    /// The document with top-level fields added at the end of its text, written as the tree
    /// would write them. They must not be in it already, nor be fields the stores index (those
    /// were read from the text when it was made): an enqueue adds `updatedAt` and `queueJobId`,
    /// known only as it writes, to a document the caller made without them.
    pub fn with_fields(mut self, fields: &Doc) -> Result<EncodedDoc> {
        debug_assert!(self.json.ends_with('}'));
        self.json.pop();
        for (name, value) in fields {
            if !self.json.ends_with('{') {
                self.json.push(',');
            }
            let pair = serde_json::to_string(name)
                .and_then(|n| serde_json::to_string(value).map(|v| n + ":" + &v))
                .map_err(|e| Error::Invalid(format!("field {name} cannot be serialised: {e}")))?;
            self.json.push_str(&pair);
        }
        self.json.push('}');
        Ok(self)
    }

    /// The document as a tree again (for the rare paths that compare or edit it).
    pub fn decode(&self) -> Result<Doc> {
        serde_json::from_str(&self.json)
            .map_err(|e| Error::Invalid(format!("encoded document is not a JSON object: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::DocExt;
    use serde_json::json;

    fn doc(v: Value) -> Doc {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn encoding_keeps_the_text_and_the_indexed_fields() {
        let d = doc(json!({"status": "done", "jobType": "t", "finishedAt": "2026", "n": 1.5}));
        let e = EncodedDoc::of("k", &d).unwrap();
        assert_eq!(e.decode().unwrap(), d);
        assert_eq!(e.json(), serde_json::to_string(&d).unwrap());
        assert_eq!(
            (e.status(), e.job_type(), e.finished_at()),
            (Status::Done, Some("t"), Some("2026"))
        );
    }

    #[test]
    fn status_is_derived_as_for_a_tree() {
        for v in [
            json!({"resultCode": 200}),
            json!({"resultCode": 476}),
            json!({"resultCode": -1, "running": true}),
            json!({"resultCode": 200.0, "running": true}),
            json!({"status": "nonsense", "resultCode": 201}),
            json!({"status": 3, "running": "yes"}),
            json!({}),
        ] {
            let d = doc(v);
            assert_eq!(
                EncodedDoc::of("k", &d).unwrap().status(),
                d.status(),
                "{d:?}"
            );
        }
    }

    #[test]
    fn a_field_of_the_wrong_type_is_not_indexed() {
        let d = doc(json!({"jobType": 7, "finishedAt": null}));
        let e = EncodedDoc::of("k", &d).unwrap();
        assert_eq!((e.job_type(), e.finished_at()), (None, None));
    }

    #[test]
    fn fields_added_later_read_back_with_the_rest() {
        let added =
            doc(json!({"updatedAt": "2026-12-05", "queueJobId": 42, "q\"uote": [1, {"a": null}]}));
        for base in [json!({}), json!({"status": "queued", "n": 1})] {
            let e = EncodedDoc::of("k", &doc(base.clone())).unwrap();
            let status = e.status();
            let e = e.with_fields(&added).unwrap();
            let mut want = doc(base);
            want.extend(added.clone());
            assert_eq!(e.decode().unwrap(), want);
            assert_eq!(e.status(), status);
        }
    }
}
