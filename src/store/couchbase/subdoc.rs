//! Changes in place: log appends and progress reports as sub-document operations, which send
//! only what changed; when the document is not the shape they expect, the whole-document
//! compare-and-swap update repairs it or reports it corrupt.

use super::retry::retried;
use super::CouchbaseStore;
use crate::error::{Error, Result};
use crate::job::{Doc, LogList};
use crate::store::{update, Cas, Patch, Patched};
use couchbase::error::ErrorKind;
use couchbase::subdoc::lookup_in_specs::LookupInSpec;
use couchbase::subdoc::mutate_in_specs::{
    ArrayAppendSpecOptions, IncrementSpecOptions, MutateInSpec,
};
use serde_json::Value;

/// A sub-document request holds at most this many operations.
const MAX_SUBDOC_SPECS: usize = 16;

impl CouchbaseStore {
    /// One entry appended to a log list: the one-entry patch, so it takes the same path
    /// (sub-document append, the whole-document update where the list is not a list).
    pub(super) fn append_entry(&self, key: &str, list: LogList, entry: &Value) -> Result<Cas> {
        let patch = Patch {
            push: vec![(list, entry.clone())],
            ..Patch::default()
        };
        self.change_in_place(key, &patch, "append to")
            .map(|p| p.cas)
    }

    pub(super) fn patch_in_place(&self, key: &str, patch: &Patch) -> Result<Patched> {
        self.change_in_place(key, patch, "patch")
    }

    /// `op` names the change in an error.
    fn change_in_place(&self, key: &str, patch: &Patch, op: &str) -> Result<Patched> {
        let whole = || {
            update(self, key, |doc| {
                patch.apply_to(doc);
                Ok(())
            })
            .map(|v| Patched {
                cas: v.cas,
                fields: v.doc,
            })
        };
        let Some(specs) = Self::patch_specs(patch) else {
            return whole();
        };
        let cas = if specs.is_empty() {
            None
        } else {
            let coll = &self.sdk().collection;
            let out = self.block_on(retried(self.url.timeout, false, || {
                coll.mutate_in(key, &specs, None)
            }));
            match out.result {
                Ok(r) => Some(r.cas()),
                Err(f) if shape_error(f.kind()) => return whole(),
                Err(f) => return Err(f.into_error(op, key, &self.target)),
            }
        };
        let fields = self.read_fields(key, &patch.read)?;
        match cas {
            Some(cas) => Ok(Patched { cas, fields }),
            // Nothing to write: the CAS is the document's own.
            None => self
                .block_on(self.get_async(key))?
                .map(|v| Patched { cas: v.cas, fields })
                .ok_or_else(|| Error::DocNotFound {
                    key: key.to_owned(),
                }),
        }
    }

    /// The sub-document operations a patch is, or `None` if it is more than one request holds.
    fn patch_specs(patch: &Patch) -> Option<Vec<MutateInSpec>> {
        let mut specs = Vec::new();
        for (name, value) in &patch.set {
            specs.push(MutateInSpec::upsert(*name, value, None).ok()?);
        }
        for list in [LogList::Events, LogList::Warnings, LogList::Errors] {
            let entries: Vec<&Value> = patch
                .push
                .iter()
                .filter(|(l, _)| *l == list)
                .map(|(_, e)| e)
                .collect();
            if !entries.is_empty() {
                let create = ArrayAppendSpecOptions::new().create_path(true);
                specs.push(MutateInSpec::array_append(list.field(), &entries, create).ok()?);
            }
        }
        for (name, n) in patch.add.iter().filter(|(_, n)| *n > 0) {
            let create = IncrementSpecOptions::new().create_path(true);
            specs.push(MutateInSpec::increment(*name, *n, create).ok()?);
        }
        (specs.len() <= MAX_SUBDOC_SPECS && patch.add.iter().all(|(_, n)| *n >= 0)).then_some(specs)
    }

    /// The patch's `read` fields as they are now.
    fn read_fields(&self, key: &str, names: &[&'static str]) -> Result<Doc> {
        let mut fields = Doc::new();
        for chunk in names.chunks(MAX_SUBDOC_SPECS) {
            let specs: Vec<LookupInSpec> =
                chunk.iter().map(|n| LookupInSpec::get(*n, None)).collect();
            let coll = &self.sdk().collection;
            let out = self.block_on(retried(self.url.timeout, true, || {
                coll.lookup_in(key, &specs, None)
            }));
            let found = out
                .result
                .map_err(|f| f.into_error("lookup_in", key, &self.target))?;
            for (i, name) in chunk.iter().enumerate() {
                if found.exists(i).unwrap_or(false) {
                    if let Ok(v) = found.content_as::<Value>(i) {
                        fields.insert((*name).to_owned(), v);
                    }
                }
            }
        }
        Ok(fields)
    }
}

/// Sub-document errors that mean the document is not the shape the operation expects (a log
/// list that is not an array, a counter that is not an integer, a value that is not JSON):
/// the whole-document path then repairs it or reports it as corrupt.
fn shape_error(kind: Option<&ErrorKind>) -> bool {
    matches!(
        kind,
        Some(
            ErrorKind::PathMismatch
                | ErrorKind::PathNotFound
                | ErrorKind::PathInvalid
                | ErrorKind::DocumentNotJSON
                | ErrorKind::NumberTooBig
                | ErrorKind::DeltaInvalid
                | ErrorKind::ValueInvalid
                | ErrorKind::ValueTooDeep
        )
    )
}
