//! The job document: one JSON object per job, stored under `zerog_job_<uuid>`.
//!
//! The document is the source of truth; the queue carries only the uuid. It keeps the original
//! zeroG's fields (so documents stay readable by its tools) plus what a modern system needs
//! (`status`, `attempts`, timestamps, `workerId`). The job's own schema fields live at top level.

pub mod cancel;
mod encoded;
pub mod fields;
pub mod original_shape;
mod status;

pub use encoded::{EncodedDoc, IndexedFields};
pub use status::Status;

use serde_json::{Map, Value};

use crate::clock;

/// A job document: a JSON object.
pub type Doc = Map<String, Value>;

pub const DOCUMENT_TYPE: &str = "zerog_job";
pub const SCHEMA_VERSION: f64 = 1.0;
/// The original zeroG's "no result yet" code; any other resultCode means finished.
pub const NO_RESULT: i64 = -1;
pub const RESULT_OK: i64 = 200;
pub const INTERNAL_ERROR: i64 = 500;
/// The least resultCode that means the job failed (HTTP's client and server errors). A result
/// below it completes the job: its completeness becomes 1.0; a failure leaves completeness where
/// the job's work got to, so a failed job never reads as 100% done.
pub const FIRST_FAILURE: i64 = 400;

/// Whether a recorded result completes the job's work (see [`FIRST_FAILURE`]).
pub fn completes(result_code: i64) -> bool {
    (0..FIRST_FAILURE).contains(&result_code)
}
/// The resultCode of a cancelled job. 410 is what the original zeroG recorded when a user killed
/// a running job (its server's `killJob`: "Killed by user", resultCode 410), so documents read by
/// its tools show a cancelled job as finished, the way it showed a killed one. (499, nginx's
/// "client closed request", was the other candidate; but jobs use codes in the 4xx range for their
/// own failures, and 410 is the one the original already gave this meaning.)
pub const CANCELLED: i64 = 410;

/// The TTR a job gets when its document does not say (the original zeroG's default, 30 days,
/// is for a queue without lease renewal; zeroG renews, so a minute is plenty).
pub const DEFAULT_TTR: u32 = 60;

/// A JSON value's kind as a message names it: "a string", "an object", "null"...
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The lists that only ever grow, and that concurrent writers append to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogList {
    Events,
    Warnings,
    Errors,
}

impl LogList {
    pub fn field(self) -> &'static str {
        match self {
            LogList::Events => "events",
            LogList::Warnings => "warnings",
            LogList::Errors => "errors",
        }
    }

    pub fn parse(name: &str) -> Option<LogList> {
        match name {
            "events" => Some(LogList::Events),
            "warnings" => Some(LogList::Warnings),
            "errors" => Some(LogList::Errors),
            _ => None,
        }
    }
}

/// The store key of a job.
pub fn key_for(uuid: &str) -> String {
    format!("{DOCUMENT_TYPE}_{uuid}")
}

/// The queue body of a job: its uuid as a JSON string, exactly as the original zeroG put it.
pub fn queue_body(uuid: &str) -> Vec<u8> {
    serde_json::to_vec(uuid).expect("a string always serialises")
}

/// Reads a queue body back into a uuid. A body that is not a JSON string is an error that says
/// what it was, so the worker can bury it with a reason.
pub fn uuid_from_body(body: &[u8]) -> Result<String, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::String(s)) if !s.is_empty() => Ok(s),
        Ok(other) => Err(format!("queue body is not a JSON string uuid: {other}")),
        Err(e) => Err(format!(
            "queue body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        )),
    }
}

/// A new document with every base field ([`fields::BASE_FIELDS`]) at its initial value, then
/// `fields` on top.
pub fn new_document(uuid: &str, job_type: &str, queue_name: &str, fields: Doc) -> Doc {
    let now = clock::now_iso();
    let mut doc = Doc::new();
    for field in fields::BASE_FIELDS {
        let value = match field.initial.value() {
            Some(v) => v,
            None => match field.name {
                "documentType" => Value::from(DOCUMENT_TYPE),
                "jobType" => Value::from(job_type),
                "schemaVersion" => Value::from(SCHEMA_VERSION),
                "uuid" => Value::from(uuid),
                "logId" => Value::from(log_id(job_type, uuid)),
                "createdAt" | "updatedAt" => Value::from(now.as_str()),
                "queueName" => Value::from(queue_name),
                other => unreachable!("base field {other} has no initial value and no maker"),
            },
        };
        doc.insert(field.name.to_owned(), value);
    }
    doc.extend(fields);
    doc
}

/// The original's name for a job in its logs (`logId`).
pub fn log_id(job_type: &str, uuid: &str) -> String {
    format!("{job_type}_{uuid}")
}

/// A log entry as the original stored it: `{timeStamp, msg}`, plus `errorCode` for errors.
pub fn log_entry(msg: &str, error_code: Option<i64>) -> Value {
    let mut entry = Map::new();
    entry.insert("timeStamp".into(), Value::String(clock::now_iso()));
    if let Some(code) = error_code {
        entry.insert("errorCode".into(), Value::from(code));
    }
    entry.insert("msg".into(), Value::String(msg.to_owned()));
    Value::Object(entry)
}

/// Appends an error to the document's `errors` and counts it in `errorCount`.
pub fn add_error(doc: &mut Doc, code: i64, message: &str) {
    doc.push_log(LogList::Errors, log_entry(message, Some(code)));
    let n = doc.i64_field("errorCount") + 1;
    doc.set("errorCount", n);
}

/// The messages of a document's events, in order (for tests' assertions).
#[cfg(test)]
pub(crate) fn event_messages(doc: &Doc) -> Vec<String> {
    doc["events"]
        .as_array()
        .expect("events is a list")
        .iter()
        .map(|e| e["msg"].as_str().expect("an event has a msg").to_owned())
        .collect()
}

/// Typed reads of the fields the engine cares about. Missing or mistyped fields read as their
/// defaults: a document written by the original zeroG lacks the modern fields.
pub trait DocExt {
    fn str_field(&self, name: &str) -> Option<&str>;
    fn i64_field(&self, name: &str) -> i64;
    fn f64_field(&self, name: &str) -> f64;
    fn bool_field(&self, name: &str) -> bool;
    fn status(&self) -> Status;
    fn set(&mut self, name: &str, value: impl Into<Value>);
    fn push_log(&mut self, list: LogList, entry: Value);
}

impl DocExt for Doc {
    fn str_field(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }
    fn i64_field(&self, name: &str) -> i64 {
        self.get(name)
            .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
            .unwrap_or(0)
    }
    fn f64_field(&self, name: &str) -> f64 {
        self.get(name).and_then(Value::as_f64).unwrap_or(0.0)
    }
    fn bool_field(&self, name: &str) -> bool {
        self.get(name).and_then(Value::as_bool).unwrap_or(false)
    }
    /// The stored status; an original-zeroG document has none, so it is derived from
    /// `resultCode` and `running`.
    fn status(&self) -> Status {
        Status::of_fields(
            original_shape::field(self, "status").and_then(Value::as_str),
            self.get("resultCode").and_then(Value::as_i64),
            self.bool_field("running"),
        )
    }
    fn set(&mut self, name: &str, value: impl Into<Value>) {
        self.insert(name.to_owned(), value.into());
    }
    fn push_log(&mut self, list: LogList, entry: Value) {
        match self.get_mut(list.field()) {
            Some(Value::Array(items)) => items.push(entry),
            _ => {
                self.insert(list.field().to_owned(), Value::Array(vec![entry]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_new_document_has_every_base_field_in_order_then_the_jobs_own() {
        let mut own = Doc::new();
        own.set("n", 3);
        let doc = new_document("u1", "t", "q", own);
        let names: Vec<&str> = doc.keys().map(String::as_str).collect();
        let mut want: Vec<&str> = fields::BASE_FIELDS.iter().map(|f| f.name).collect();
        want.push("n");
        assert_eq!(names, want);
        assert_eq!(doc["queueKwargs"], json!({}));
        assert_eq!(doc["resultCode"], NO_RESULT);
        assert_eq!(doc["status"], "queued");
        assert_eq!(doc["cancelRequestedAt"], Value::Null);
        assert_eq!(
            (
                doc.str_field("uuid"),
                doc.str_field("jobType"),
                doc.str_field("queueName")
            ),
            (Some("u1"), Some("t"), Some("q"))
        );
        assert_eq!(doc["createdAt"], doc["updatedAt"]);
    }

    #[test]
    fn body_round_trips_as_a_json_string() {
        let body = queue_body("abc-123");
        assert_eq!(body, b"\"abc-123\"");
        assert_eq!(uuid_from_body(&body).unwrap(), "abc-123");
    }

    #[test]
    fn malformed_bodies_are_named() {
        assert!(uuid_from_body(b"abc").unwrap_err().contains("not JSON"));
        assert!(uuid_from_body(b"42")
            .unwrap_err()
            .contains("not a JSON string"));
        assert!(uuid_from_body(b"\"\"").is_err());
    }

    #[test]
    fn new_document_has_the_original_fields_and_the_modern_ones() {
        let mut extra = Doc::new();
        extra.insert("fieldOne".into(), json!("x"));
        let doc = new_document("u1", "my_type", "my_queue", extra);
        for f in [
            "documentType",
            "jobType",
            "schemaVersion",
            "uuid",
            "logId",
            "createdAt",
            "updatedAt",
            "queueName",
            "queueJobId",
            "completeness",
            "tickcount",
            "tickval",
            "resultCode",
            "events",
            "warnings",
            "errors",
            "errorCount",
            "running",
            "status",
            "attempts",
            "startedAt",
            "finishedAt",
            "heartbeatAt",
            "workerId",
        ] {
            assert!(doc.contains_key(f), "missing {f}");
        }
        assert_eq!(doc.str_field("fieldOne"), Some("x"));
        assert_eq!(doc.str_field("logId"), Some("my_type_u1"));
        assert_eq!(doc.get("tickval"), Some(&json!(0.001)));
        assert_eq!(doc.status(), Status::Queued);
        assert_eq!(doc.i64_field("resultCode"), NO_RESULT);
    }

    #[test]
    fn status_of_an_original_document_is_derived() {
        let mut doc = Doc::new();
        doc.set("resultCode", 200);
        assert_eq!(doc.status(), Status::Done);
        doc.set("resultCode", 476);
        assert_eq!(doc.status(), Status::Failed);
        doc.set("resultCode", CANCELLED);
        assert_eq!(doc.status(), Status::Cancelled, "the original's killJob");
        doc.set("resultCode", -1);
        doc.set("running", true);
        assert_eq!(doc.status(), Status::Running);
    }
}
