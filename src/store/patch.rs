//! A change made in place: what a running job's progress reports are. Backends with partial
//! updates (Couchbase's sub-document operations) send only the change, so frequent reports do
//! not rewrite a large document; the others apply it to the whole document in one
//! compare-and-swap update. Either way no other writer's change is lost: each part of a patch
//! commutes with every other writer's (a field set, an entry added at the end, a counter
//! raised).

use super::Cas;
use crate::job::{Doc, DocExt, LogList};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Patch {
    /// Top-level fields overwritten.
    pub set: Vec<(&'static str, Value)>,
    /// Entries appended to the log lists, in this order.
    pub push: Vec<(LogList, Value)>,
    /// Integer fields raised by an amount (0 if absent).
    pub add: Vec<(&'static str, i64)>,
    /// Fields to read back once the patch is in (the worker looks for a cancel request there).
    pub read: Vec<&'static str>,
}

/// What a patch left: the new CAS and the fields it asked to read, as they are after it (a
/// backend may give the whole document instead).
#[derive(Clone, Debug, PartialEq)]
pub struct Patched {
    pub cas: Cas,
    pub fields: Doc,
}

impl Patch {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.push.is_empty() && self.add.is_empty()
    }

    /// The patch applied to a whole document, as a read-modify-write does it.
    pub fn apply_to(&self, doc: &mut Doc) {
        for (name, value) in &self.set {
            doc.set(name, value.clone());
        }
        for (list, entry) in &self.push {
            doc.push_log(*list, entry.clone());
        }
        for (name, n) in &self.add {
            let now = doc.i64_field(name);
            doc.set(name, now + n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn applies_sets_pushes_and_adds() {
        let mut doc: Doc = json!({"completeness": 0.1, "errorCount": 2, "events": [1]})
            .as_object()
            .unwrap()
            .clone();
        let patch = Patch {
            set: vec![("completeness", json!(0.5))],
            push: vec![(LogList::Events, json!(2)), (LogList::Errors, json!("e"))],
            add: vec![("errorCount", 1), ("retries", 3)],
            read: vec![],
        };
        assert!(!patch.is_empty());
        patch.apply_to(&mut doc);
        assert_eq!(
            Value::Object(doc),
            json!({"completeness": 0.5, "errorCount": 3, "retries": 3,
                   "events": [1, 2], "errors": ["e"]})
        );
        assert!(Patch::default().is_empty());
    }
}
