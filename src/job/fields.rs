//! The job document's base fields: every field zeroG itself writes, with its type and its
//! default. This table is their one definition: [`super::new_document`] builds documents from
//! it, and Python's `BaseJobSchema` and `BaseJob` take it from `zeroG._zerog.BASE_FIELDS`. A
//! job class's own fields (its schema's) come on top.

use super::{Status, NO_RESULT};
use serde_json::Value;

/// A base field's JSON type, as Python's schema declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Str,
    Float,
    Int,
    Bool,
    /// An object (`queueKwargs`).
    Dict,
    /// A list of objects (the log lists).
    List,
}

impl Kind {
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Str => "str",
            Kind::Float => "float",
            Kind::Int => "int",
            Kind::Bool => "bool",
            Kind::Dict => "dict",
            Kind::List => "list",
        }
    }
}

/// What a new job's document holds in a field before anything happens to it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Initial {
    /// Set by whoever makes the job: its class, its uuid, the time it was made.
    Given,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(&'static str),
    Null,
    EmptyList,
    EmptyDict,
}

impl Initial {
    /// The value, or `None` for a field the maker gives.
    pub fn value(self) -> Option<Value> {
        Some(match self {
            Initial::Given => return None,
            Initial::Int(i) => Value::from(i),
            Initial::Float(f) => Value::from(f),
            Initial::Bool(b) => Value::Bool(b),
            Initial::Str(s) => Value::from(s),
            Initial::Null => Value::Null,
            Initial::EmptyList => Value::Array(Vec::new()),
            Initial::EmptyDict => Value::Object(Default::default()),
        })
    }
}

/// One base field.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    /// Whether `null` is a valid value (a time not reached yet, say).
    pub nullable: bool,
    pub initial: Initial,
}

const fn field(name: &'static str, kind: Kind, nullable: bool, initial: Initial) -> Field {
    Field {
        name,
        kind,
        nullable,
        initial,
    }
}

use Initial as I;
use Kind::*;

/// How many of [`BASE_FIELDS`], from the first, the original zeroG's schema declares (up to
/// `running`); the rest are zeroG's own.
pub const ORIGINAL_FIELDS: usize = 19;

/// The base fields the original zeroG's schema does not declare.
pub fn added_fields() -> &'static [Field] {
    &BASE_FIELDS[ORIGINAL_FIELDS..]
}

/// Every base field, in document order: the original zeroG's, then what zeroG adds.
pub const BASE_FIELDS: &[Field] = &[
    field("documentType", Str, false, I::Given),
    field("jobType", Str, false, I::Given),
    field("schemaVersion", Float, false, I::Given),
    field("uuid", Str, false, I::Given),
    // `<jobType>_<uuid>`: how the original's logs named a job.
    field("logId", Str, false, I::Given),
    field("createdAt", Str, false, I::Given),
    field("updatedAt", Str, false, I::Given),
    field("queueName", Str, true, I::Given),
    field("queueJobId", Int, false, I::Int(0)),
    field("queueKwargs", Dict, false, I::EmptyDict),
    field("completeness", Float, false, I::Float(0.0)),
    // The original's `tick()`: completeness gathered tick by tick (`tickcount`), `tickval` each.
    field("tickcount", Float, false, I::Float(0.0)),
    field("tickval", Float, false, I::Float(0.001)),
    field("resultCode", Int, false, I::Int(NO_RESULT)),
    field("events", List, false, I::EmptyList),
    field("warnings", List, false, I::EmptyList),
    field("errors", List, false, I::EmptyList),
    field("errorCount", Int, false, I::Int(0)),
    field("running", Bool, false, I::Bool(false)),
    field("status", Str, false, I::Str(Status::Queued.as_str())),
    field("attempts", Int, false, I::Int(0)),
    field("retries", Int, false, I::Int(0)),
    field("buried", Bool, false, I::Bool(false)),
    field("startedAt", Str, true, I::Null),
    field("finishedAt", Str, true, I::Null),
    field("heartbeatAt", Str, true, I::Null),
    field("workerId", Str, true, I::Null),
    field("cancelRequested", Bool, false, I::Bool(false)),
    field("cancelRequestedAt", Str, true, I::Null),
];
