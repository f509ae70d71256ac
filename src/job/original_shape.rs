//! The original zeroG's document shape, for a fleet that mixes its processes with zeroG's.
//!
//! The original loads a document with marshmallow's default `unknown=RAISE`: one top-level field
//! its schema does not declare makes the whole document unreadable to its workers and handlers.
//! So in a mixed fleet zeroG writes only the original's fields at top level, and keeps its own
//! ([`super::fields::added_fields`]: `status`, `attempts` ... `cancelRequestedAt`) in
//! `queueKwargs.zeroG`. `queueKwargs` is the one field the original declares as a free-form dict,
//! and it only keeps it as a record (its enqueue replaces it; nothing passes it to the queue).
//! Its schema allows no null either, so an original field that is null goes there too.
//!
//! An original process that writes the document keeps the stash (it loads and dumps
//! `queueKwargs` whole) but does not keep it current: its worker may have run the job to its end
//! since. So the stash records the `updatedAt` it was written with. When the document's own
//! `updatedAt` differs (the original sets it on every save), an original process wrote last, and
//! the status comes from the original's own fields (`running`, `resultCode`) instead.

use super::fields::{added_fields, BASE_FIELDS, ORIGINAL_FIELDS};
use super::{Doc, Status};
use serde_json::{Map, Value};

/// The key in `queueKwargs` that holds zeroG's own fields.
pub const STASH: &str = "zeroG";
/// The key in the stash that holds the document's `updatedAt` when zeroG wrote it.
const WRITTEN_AT: &str = "asOf";

/// Moves zeroG's own fields, and the original's that are null, into `queueKwargs.zeroG`.
pub fn to_original_shape(doc: &mut Doc) {
    let mut stash = Map::new();
    for field in added_fields() {
        if let Some(value) = doc.remove(field.name) {
            stash.insert(field.name.to_owned(), value);
        }
    }
    for field in &BASE_FIELDS[..ORIGINAL_FIELDS] {
        if field.name != "queueKwargs" && doc.get(field.name) == Some(&Value::Null) {
            doc.remove(field.name);
            stash.insert(field.name.to_owned(), Value::Null);
        }
    }
    let written_at = doc.get("updatedAt").cloned().unwrap_or(Value::Null);
    stash.insert(WRITTEN_AT.to_owned(), written_at);
    let kwargs = doc
        .entry("queueKwargs")
        .or_insert_with(|| Value::Object(Map::new()));
    if !kwargs.is_object() {
        // Not the original's shape to begin with (it would refuse this document anyway); a
        // dict in its place keeps zeroG's fields rather than dropping them.
        *kwargs = Value::Object(Map::new());
    }
    if let Value::Object(kwargs) = kwargs {
        kwargs.insert(STASH.to_owned(), Value::Object(stash));
    }
}

/// Turns a document in the original's shape back into zeroG's. A document with no stash (one
/// the original made, or zeroG wrote outside a mixed fleet) is left as it is.
pub fn from_original_shape(doc: &mut Doc) {
    let Some(Value::Object(kwargs)) = doc.get_mut("queueKwargs") else {
        return;
    };
    let mut stash = match kwargs.remove(STASH) {
        Some(Value::Object(stash)) => stash,
        Some(other) => {
            // Somebody else's value under that name: not ours to take.
            kwargs.insert(STASH.to_owned(), other);
            return;
        }
        None => return,
    };
    if outdated(&stash, doc) {
        // The original's fields are current, and the status is theirs.
        stash.remove("status");
        stash.remove("running");
        let status = Status::of_fields(
            None,
            doc.get("resultCode").and_then(Value::as_i64),
            doc.get("running").and_then(Value::as_bool).unwrap_or(false),
        );
        if status.is_final() && stash.get("finishedAt").is_none_or(Value::is_null) {
            let at = doc.get("updatedAt").cloned().unwrap_or(Value::Null);
            stash.insert("finishedAt".to_owned(), at);
        }
        stash.insert("status".to_owned(), Value::from(status.as_str()));
    }
    stash.remove(WRITTEN_AT);
    for (name, value) in stash {
        // A field at top level was written there since, by somebody outside the mixed fleet.
        doc.entry(name).or_insert(value);
    }
}

/// A field of zeroG's at top level, or in the stash of a document in the original's shape. A
/// stashed `status` an original process has outdated since is none: the status is then derived,
/// as [`from_original_shape`] does.
pub fn field<'a>(doc: &'a Doc, name: &str) -> Option<&'a Value> {
    doc.get(name).or_else(|| {
        let stash = doc.get("queueKwargs")?.get(STASH)?.as_object()?;
        if name == "status" && outdated(stash, doc) {
            return None;
        }
        stash.get(name)
    })
}

/// Whether an original process saved the document after zeroG last wrote this stash: the
/// document's `updatedAt`, which the original sets on every save, is not the one recorded.
fn outdated(stash: &Map<String, Value>, doc: &Doc) -> bool {
    stash
        .get(WRITTEN_AT)
        .is_none_or(|at| Some(at) != doc.get("updatedAt"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{new_document, DocExt};
    use serde_json::json;

    /// The top-level fields the original zeroG's `BaseJobSchema` declares (v0.0.46), restated.
    const ORIGINAL_SCHEMA: &[&str] = &[
        "documentType",
        "jobType",
        "schemaVersion",
        "cas",
        "createdAt",
        "updatedAt",
        "uuid",
        "logId",
        "queueName",
        "queueKwargs",
        "queueJobId",
        "events",
        "errors",
        "warnings",
        "running",
        "errorCount",
        "completeness",
        "tickcount",
        "tickval",
        "resultCode",
    ];

    fn fresh() -> Doc {
        let mut own = Doc::new();
        own.insert("size".into(), json!(3));
        let mut doc = new_document("u-1", "resize", "media", own);
        doc.insert(
            "updatedAt".into(),
            json!("2026-12-05T10:00:00.000000+00:00"),
        );
        doc
    }

    #[test]
    fn the_original_fields_are_the_first_of_the_table() {
        for field in &BASE_FIELDS[..ORIGINAL_FIELDS] {
            assert!(ORIGINAL_SCHEMA.contains(&field.name), "{}", field.name);
        }
        for field in added_fields() {
            assert!(!ORIGINAL_SCHEMA.contains(&field.name), "{}", field.name);
        }
    }

    #[test]
    fn the_shape_keeps_only_the_originals_fields_at_top_level_and_round_trips() {
        let mut doc = fresh();
        doc.insert("workerId".into(), json!("w1"));
        let before = doc.clone();
        to_original_shape(&mut doc);
        for name in doc.keys() {
            assert!(
                ORIGINAL_SCHEMA.contains(&name.as_str()) || name == "size",
                "{name} is not the original's"
            );
        }
        assert!(doc.values().all(|v| !v.is_null()), "{doc:?}");
        assert_eq!(field(&doc, "status"), Some(&json!("queued")));
        assert_eq!(doc.status(), Status::Queued);
        from_original_shape(&mut doc);
        assert_eq!(doc, before);
    }

    #[test]
    fn a_document_an_original_process_saved_since_takes_its_status_from_the_originals_fields() {
        let mut doc = fresh();
        doc.insert("status".into(), json!("running"));
        doc.insert("running".into(), json!(true));
        doc.insert("attempts".into(), json!(1));
        to_original_shape(&mut doc);
        // The original's worker finished it: a save sets updatedAt, running and resultCode.
        doc.insert("updatedAt".into(), json!("2026-12-05T10:00:05.123456"));
        doc.insert("running".into(), json!(false));
        doc.insert("resultCode".into(), json!(200));
        assert_eq!(doc.status(), Status::Done);
        from_original_shape(&mut doc);
        assert_eq!(doc["status"], json!("done"));
        assert_eq!(doc["finishedAt"], json!("2026-12-05T10:00:05.123456"));
        assert_eq!(doc["attempts"], json!(1));
        assert_eq!(doc["queueKwargs"], json!({}));
    }

    #[test]
    fn a_document_without_a_stash_is_left_alone() {
        let mut doc = fresh();
        doc.insert("queueKwargs".into(), json!({"zeroG": 3, "ttr": 60}));
        let before = doc.clone();
        from_original_shape(&mut doc);
        assert_eq!(doc, before);
        let mut original = Doc::new();
        original.insert("resultCode".into(), json!(-1));
        let before = original.clone();
        from_original_shape(&mut original);
        assert_eq!(original, before);
    }
}
