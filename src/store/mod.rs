//! The datastore interface. The document is the source of truth, and every change to it is a
//! compare-and-swap: `get` returns a CAS token, and `replace` succeeds only if the document still
//! carries it. Appends to the log lists are atomic, so concurrent writers never lose entries.

pub mod conformance;
#[cfg(feature = "couchbase")]
pub mod couchbase;
#[cfg(test)]
pub(crate) mod faulty;
mod mixed_fleet;
#[cfg(all(test, feature = "couchbase"))]
pub(crate) mod namespaced;
mod patch;

#[cfg(all(test, feature = "couchbase"))]
pub(crate) use couchbase::test_url as couchbase_test_url;
pub use mixed_fleet::MixedFleetStore;
pub use patch::{Patch, Patched};

use crate::error::{Error, Result};
use crate::job::{Doc, EncodedDoc, LogList, Status};
use serde_json::Value;

/// An opaque version number; it changes on every write of a document.
pub type Cas = u64;

/// A document as read, with the CAS to write it back.
#[derive(Clone, Debug, PartialEq)]
pub struct Versioned {
    pub doc: Doc,
    pub cas: Cas,
}

/// Which documents a listing returns. `after` is the `next` cursor of the previous page.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub status: Option<Status>,
    pub job_type: Option<String>,
    pub limit: usize,
    pub after: Option<String>,
}

/// Where a walk through finished documents stands: the last one seen, by `finishedAt` and then
/// creation order (two jobs can finish in the same microsecond). Start it at a timestamp with
/// `seq` 0 to see every job that finished later.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FinishCursor {
    pub finished_at: String,
    pub seq: i64,
}

/// One page of a listing, oldest document first. `next` is `None` on the last page.
#[derive(Clone, Debug, Default)]
pub struct Page {
    pub items: Vec<(String, Doc)>,
    pub next: Option<String>,
}

pub trait Store: Send + Sync {
    /// Creates the document; `AlreadyExists` if the key is taken.
    fn insert(&self, key: &str, doc: &Doc) -> Result<Cas> {
        self.insert_encoded(key, &EncodedDoc::of(key, doc)?)
    }
    /// `insert` of a document already written as JSON text.
    fn insert_encoded(&self, key: &str, doc: &EncodedDoc) -> Result<Cas>;
    /// Creates many documents, as one batch where the backend can (SQLite: one transaction, all
    /// or nothing). A taken key is `AlreadyExists`, naming it.
    fn insert_many(&self, docs: &[(String, Doc)]) -> Result<Vec<Cas>> {
        let encoded = docs
            .iter()
            .map(|(k, d)| Ok((k.clone(), EncodedDoc::of(k, d)?)))
            .collect::<Result<Vec<_>>>()?;
        self.insert_many_encoded(&encoded)
    }
    /// `insert_many` of documents already written as JSON text (what a bulk enqueue sends).
    fn insert_many_encoded(&self, docs: &[(String, EncodedDoc)]) -> Result<Vec<Cas>> {
        docs.iter()
            .map(|(k, d)| self.insert_encoded(k, d))
            .collect()
    }
    /// The document and its CAS, `None` if there is none, `Corrupt` if it is not a JSON object.
    fn get(&self, key: &str) -> Result<Option<Versioned>>;
    /// Overwrites the document if it still has `cas`: `CasMismatch` if not, `DocNotFound` if gone.
    fn replace(&self, key: &str, doc: &Doc, cas: Cas) -> Result<Cas>;
    /// `replace` for many documents, as one batch where the backend can (SQLite: one
    /// transaction, so one commit). One answer per document, in order: each stands or falls on
    /// its own CAS. If the batch itself cannot be written, every answer is an error.
    fn replace_many(&self, docs: &[(String, Doc, Cas)]) -> Vec<Result<Cas>> {
        docs.iter()
            .map(|(k, d, cas)| self.replace(k, d, *cas))
            .collect()
    }
    /// Appends `entry` to one of the log lists, atomically against every other writer.
    fn append(&self, key: &str, list: LogList, entry: &Value) -> Result<Cas>;
    /// Makes a change in place (see [`Patch`]): `DocNotFound` if there is no such document.
    /// The default applies it in a compare-and-swap update of the whole document and gives the
    /// whole document back.
    fn patch(&self, key: &str, patch: &Patch) -> Result<Patched> {
        let Versioned { doc, cas } = update(self, key, |doc| {
            patch.apply_to(doc);
            Ok(())
        })?;
        Ok(Patched { cas, fields: doc })
    }
    /// The value under `key`, of any JSON kind, and its CAS: what the original zeroG's datastore
    /// client read, which kept strings and numbers under keys of their own as well as objects.
    /// A job document is an object. The default knows objects only.
    fn get_value(&self, key: &str) -> Result<Option<(Value, Cas)>> {
        Ok(self
            .get(key)?
            .map(|Versioned { doc, cas }| (Value::Object(doc), cas)))
    }
    /// Writes a new value of any JSON kind; `AlreadyExists` if the key holds one of any kind.
    fn insert_value(&self, key: &str, value: &Value) -> Result<Cas> {
        match value {
            Value::Object(doc) => self.insert(key, doc),
            other => Err(objects_only(key, other)),
        }
    }
    /// Overwrites the value under `key` if it still has `cas`, whatever kind either is:
    /// `CasMismatch` if not, `DocNotFound` if there is none.
    fn replace_value(&self, key: &str, value: &Value, cas: Cas) -> Result<Cas> {
        match value {
            Value::Object(doc) => self.replace(key, doc, cas),
            other => Err(objects_only(key, other)),
        }
    }
    /// Removes the document (or value); false if there was none.
    fn delete(&self, key: &str) -> Result<bool>;
    /// A page of job documents, filtered by status and job type, in creation order.
    fn list(&self, query: &ListQuery) -> Result<Page>;
    /// The local file this store keeps its documents in, if it keeps them in one: a queue
    /// in the same file can then write a job's document and queue entry in one transaction
    /// (see [`crate::queue::Joint`]).
    fn local_file(&self) -> Option<&std::path::Path> {
        None
    }
    /// Deletes finished documents (done, failed, cancelled) whose `finishedAt` is before
    /// `finished_before` (ISO 8601 UTC). Returns how many went.
    fn expire_finished(&self, finished_before: &str) -> Result<usize>;
    /// How many documents have each status; every status is present, with 0 if none has it.
    fn count_by_status(&self) -> Result<Vec<(Status, u64)>>;
    /// Up to `limit` documents that finished after `after` and no later than `until`, in the
    /// order they finished, and the cursor to pass next (`after` again if there were none). A
    /// job run again and finished again is seen again: what metrics of finished runs need.
    /// `until` lets a caller stay a little behind the present, where a job stamped as finished
    /// may not have been written yet. A corrupt document is logged and passed over.
    fn finished_after(
        &self,
        after: &FinishCursor,
        until: &str,
        limit: usize,
    ) -> Result<(Vec<Doc>, FinishCursor)>;
}

/// What a store that keeps JSON objects only answers a value of another kind.
pub(crate) fn objects_only(key: &str, value: &Value) -> Error {
    Error::Invalid(format!(
        "{key}: this store keeps JSON objects only, and the value is {}",
        crate::job::json_kind(value)
    ))
}

/// `count_by_status`'s answer from a backend's (status, count) groups: every status, 0 where
/// none has it; a group whose status is not one of ours is not counted.
pub(crate) fn tally(groups: impl IntoIterator<Item = (Option<Status>, u64)>) -> Vec<(Status, u64)> {
    let mut counts: Vec<(Status, u64)> = Status::ALL.iter().map(|s| (*s, 0)).collect();
    for (status, n) in groups {
        if let Some(slot) = status.and_then(|s| counts.iter_mut().find(|(c, _)| *c == s)) {
            slot.1 += n;
        }
    }
    counts
}

/// How often a read-modify-write is retried when another writer keeps winning.
pub const MAX_CAS_ATTEMPTS: usize = 50;

/// Reading and compare-and-swap writing of documents: what [`update_docs`] needs. A store is
/// one; so is the worker's view of a transaction on the embedded file.
pub(crate) trait Docs {
    fn get_doc(&mut self, key: &str) -> Result<Option<Versioned>>;
    fn replace_doc(&mut self, key: &str, doc: &Doc, cas: Cas) -> Result<Cas>;
}

impl<S: Store + ?Sized> Docs for &S {
    fn get_doc(&mut self, key: &str) -> Result<Option<Versioned>> {
        self.get(key)
    }
    fn replace_doc(&mut self, key: &str, doc: &Doc, cas: Cas) -> Result<Cas> {
        self.replace(key, doc, cas)
    }
}

/// The compare-and-swap loop every document change goes through: read the fresh document, apply
/// `change` to it, write it back with its CAS; on a conflict, read again and re-apply. Because the
/// change is re-applied to the fresh document, nobody else's writes (list entries included) are
/// lost. `change` returning an error aborts without writing.
pub fn update<S: Store + ?Sized>(
    store: &S,
    key: &str,
    change: impl FnMut(&mut Doc) -> Result<()>,
) -> Result<Versioned> {
    update_docs(&mut { store }, key, change)
}

pub(crate) fn update_docs<D: Docs + ?Sized>(
    docs: &mut D,
    key: &str,
    change: impl FnMut(&mut Doc) -> Result<()>,
) -> Result<Versioned> {
    update_docs_from(docs, key, None, change)
}

/// [`update_docs`] starting from a version the caller already holds (the worker keeps the
/// document it claimed), which saves a read and a parse when nobody wrote since; if somebody
/// did, the CAS says so and the loop reads the fresh document as usual.
pub(crate) fn update_docs_from<D: Docs + ?Sized>(
    docs: &mut D,
    key: &str,
    mut known: Option<Versioned>,
    mut change: impl FnMut(&mut Doc) -> Result<()>,
) -> Result<Versioned> {
    for attempt in 0..MAX_CAS_ATTEMPTS {
        let guessed = known.is_some();
        let Some(Versioned { mut doc, cas }) = known
            .take()
            .map(Some)
            .map_or_else(|| docs.get_doc(key), Ok)?
        else {
            return Err(Error::DocNotFound {
                key: key.to_owned(),
            });
        };
        change(&mut doc)?;
        match docs.replace_doc(key, &doc, cas) {
            Ok(cas) => return Ok(Versioned { doc, cas }),
            Err(Error::CasMismatch { .. }) if guessed => {}
            Err(Error::CasMismatch { .. }) => {
                // Back off a little more each time so two busy writers stop colliding.
                std::thread::sleep(std::time::Duration::from_micros(50 * (attempt as u64 + 1)));
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::CasMismatch {
        key: key.to_owned(),
    })
}
