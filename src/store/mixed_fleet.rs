//! A store that reads documents in the original zeroG's shape (see
//! [`crate::job::original_shape`]) as zeroG's, and in a mixed fleet, where the original's
//! processes share the bucket with zeroG's, writes them in it.
//!
//! Every store is opened through it, the mode on or off: a document written during a migration
//! then still reads whole after it ended, and goes back to zeroG's shape when zeroG next writes
//! it. So the rest of zeroG never sees the difference.
//!
//! In the mode, a change in place ([`Store::patch`]) is made as a compare-and-swap of the whole
//! document through this store, rather than as the backend's partial update (which would write
//! zeroG's fields at top level again), and a transaction on the embedded file is not offered
//! ([`Store::local_file`]), since it would write documents without passing through here.

use super::{Cas, FinishCursor, ListQuery, Page, Patch, Patched, Store, Versioned};
use crate::error::Result;
use crate::job::original_shape::{from_original_shape, to_original_shape};
use crate::job::{Doc, EncodedDoc, LogList, Status};
use serde_json::Value;
use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

pub struct MixedFleetStore {
    inner: Arc<dyn Store>,
    /// Whether the original's processes share the store now: documents are written in its shape.
    mixed: bool,
}

impl MixedFleetStore {
    pub fn new(inner: Arc<dyn Store>, mixed: bool) -> MixedFleetStore {
        MixedFleetStore { inner, mixed }
    }

    fn shaped<'a>(&self, doc: &'a Doc) -> Cow<'a, Doc> {
        if !self.mixed {
            return Cow::Borrowed(doc);
        }
        let mut doc = doc.clone();
        to_original_shape(&mut doc);
        Cow::Owned(doc)
    }

    fn shaped_encoded<'a>(&self, key: &str, doc: &'a EncodedDoc) -> Result<Cow<'a, EncodedDoc>> {
        if !self.mixed {
            return Ok(Cow::Borrowed(doc));
        }
        let mut tree = doc.decode()?;
        to_original_shape(&mut tree);
        Ok(Cow::Owned(EncodedDoc::of(key, &tree)?))
    }
}

fn unshaped(mut doc: Doc) -> Doc {
    from_original_shape(&mut doc);
    doc
}

impl Store for MixedFleetStore {
    fn insert_encoded(&self, key: &str, doc: &EncodedDoc) -> Result<Cas> {
        let doc = self.shaped_encoded(key, doc)?;
        self.inner.insert_encoded(key, &doc)
    }

    fn insert_many_encoded(&self, docs: &[(String, EncodedDoc)]) -> Result<Vec<Cas>> {
        if !self.mixed {
            return self.inner.insert_many_encoded(docs);
        }
        let docs = docs
            .iter()
            .map(|(k, d)| Ok((k.clone(), self.shaped_encoded(k, d)?.into_owned())))
            .collect::<Result<Vec<_>>>()?;
        self.inner.insert_many_encoded(&docs)
    }

    fn get(&self, key: &str) -> Result<Option<Versioned>> {
        Ok(self
            .inner
            .get(key)?
            .map(|Versioned { doc, cas }| Versioned {
                doc: unshaped(doc),
                cas,
            }))
    }

    fn replace(&self, key: &str, doc: &Doc, cas: Cas) -> Result<Cas> {
        self.inner.replace(key, &self.shaped(doc), cas)
    }

    fn replace_many(&self, docs: &[(String, Doc, Cas)]) -> Vec<Result<Cas>> {
        if !self.mixed {
            return self.inner.replace_many(docs);
        }
        let docs: Vec<_> = docs
            .iter()
            .map(|(k, d, cas)| (k.clone(), self.shaped(d).into_owned(), *cas))
            .collect();
        self.inner.replace_many(&docs)
    }

    fn append(&self, key: &str, list: LogList, entry: &Value) -> Result<Cas> {
        // The log lists are the original's fields, and their entries its shape.
        self.inner.append(key, list, entry)
    }

    fn patch(&self, key: &str, patch: &Patch) -> Result<Patched> {
        if !self.mixed {
            return self.inner.patch(key, patch);
        }
        // The trait's own way: a compare-and-swap update through `get` and `replace` above.
        let Versioned { doc, cas } = super::update(self, key, |doc| {
            patch.apply_to(doc);
            Ok(())
        })?;
        Ok(Patched { cas, fields: doc })
    }

    fn get_value(&self, key: &str) -> Result<Option<(Value, Cas)>> {
        Ok(self.inner.get_value(key)?.map(|(value, cas)| match value {
            Value::Object(doc) => (Value::Object(unshaped(doc)), cas),
            other => (other, cas),
        }))
    }

    fn insert_value(&self, key: &str, value: &Value) -> Result<Cas> {
        match value {
            Value::Object(doc) if self.mixed => self
                .inner
                .insert_value(key, &Value::Object(self.shaped(doc).into_owned())),
            other => self.inner.insert_value(key, other),
        }
    }

    fn replace_value(&self, key: &str, value: &Value, cas: Cas) -> Result<Cas> {
        match value {
            Value::Object(doc) if self.mixed => {
                self.inner
                    .replace_value(key, &Value::Object(self.shaped(doc).into_owned()), cas)
            }
            other => self.inner.replace_value(key, other, cas),
        }
    }

    fn delete(&self, key: &str) -> Result<bool> {
        self.inner.delete(key)
    }

    fn list(&self, query: &ListQuery) -> Result<Page> {
        let page = self.inner.list(query)?;
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|(k, d)| (k, unshaped(d)))
                .collect(),
            next: page.next,
        })
    }

    fn expire_finished(&self, finished_before: &str) -> Result<usize> {
        self.inner.expire_finished(finished_before)
    }

    fn count_by_status(&self) -> Result<Vec<(Status, u64)>> {
        self.inner.count_by_status()
    }

    fn finished_after(
        &self,
        after: &FinishCursor,
        until: &str,
        limit: usize,
    ) -> Result<(Vec<Doc>, FinishCursor)> {
        let (docs, cursor) = self.inner.finished_after(after, until, limit)?;
        Ok((docs.into_iter().map(unshaped).collect(), cursor))
    }

    fn local_file(&self) -> Option<&Path> {
        if self.mixed {
            None
        } else {
            self.inner.local_file()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::SqliteStore;
    use crate::job::{key_for, new_document, DocExt};
    use crate::store::{update, Patch};
    use serde_json::json;

    fn stores() -> (tempfile::TempDir, Arc<dyn Store>, MixedFleetStore) {
        let dir = tempfile::tempdir().unwrap();
        let inner: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("mixed.db")).unwrap());
        (dir, inner.clone(), MixedFleetStore::new(inner, true))
    }

    fn job(uuid: &str) -> Doc {
        let mut doc = new_document(uuid, "resize", "media", Doc::new());
        doc.insert("updatedAt".into(), json!("2026-12-05T10:00:00+00:00"));
        doc
    }

    #[test]
    fn what_it_writes_has_only_the_originals_fields_and_reads_back_whole() {
        let (_dir, inner, store) = stores();
        let key = key_for("u-1");
        let doc = job("u-1");
        store.insert(&key, &doc).unwrap();
        let raw = inner.get(&key).unwrap().unwrap().doc;
        assert!(!raw.contains_key("status") && !raw.contains_key("attempts"));
        assert_eq!(store.get(&key).unwrap().unwrap().doc, doc);

        // A change in place, and a list entry, keep the shape.
        store
            .patch(
                &key,
                &Patch {
                    set: vec![("status", json!("running")), ("running", json!(true))],
                    add: vec![("attempts", 1)],
                    ..Patch::default()
                },
            )
            .unwrap();
        store
            .append(
                &key,
                LogList::Events,
                &json!({"timeStamp": "t", "msg": "m"}),
            )
            .unwrap();
        let raw = inner.get(&key).unwrap().unwrap().doc;
        assert!(!raw.contains_key("status") && !raw.contains_key("attempts"));
        let read = store.get(&key).unwrap().unwrap().doc;
        assert_eq!(
            (read.status(), read["attempts"].clone()),
            (Status::Running, json!(1))
        );
        assert_eq!(read["events"], json!([{"timeStamp": "t", "msg": "m"}]));
    }

    #[test]
    fn the_stores_indexes_see_zerogs_status() {
        let (_dir, _inner, store) = stores();
        let key = key_for("u-2");
        store.insert(&key, &job("u-2")).unwrap();
        update(&store, &key, |doc| {
            // A status the original's fields cannot tell: a job waiting for its retry.
            doc.insert("status".into(), json!("waiting"));
            Ok(())
        })
        .unwrap();
        let waiting = store
            .list(&ListQuery {
                status: Some(Status::Waiting),
                limit: 10,
                ..ListQuery::default()
            })
            .unwrap();
        assert_eq!(waiting.items.len(), 1);
        assert_eq!(waiting.items[0].1["status"], json!("waiting"));
        let counts = store.count_by_status().unwrap();
        assert!(counts.contains(&(Status::Waiting, 1)), "{counts:?}");
    }
}

#[cfg(test)]
mod after_migration {
    use super::*;
    use crate::embedded::SqliteStore;
    use crate::job::{key_for, new_document};
    use crate::store::update;
    use serde_json::json;

    #[test]
    fn a_document_written_during_the_migration_reads_whole_and_is_rewritten_in_zerogs_shape() {
        let dir = tempfile::tempdir().unwrap();
        let inner: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("after.db")).unwrap());
        let key = key_for("u-3");
        let mut doc = new_document("u-3", "resize", "media", Doc::new());
        doc.insert("updatedAt".into(), json!("2026-12-05T10:00:00+00:00"));
        doc.insert("attempts".into(), json!(2));
        MixedFleetStore::new(inner.clone(), true)
            .insert(&key, &doc)
            .unwrap();

        let after = MixedFleetStore::new(inner.clone(), false);
        assert_eq!(after.get(&key).unwrap().unwrap().doc, doc);
        assert!(after.local_file().is_some());
        update(&after, &key, |d| {
            d.insert("retries".into(), json!(1));
            Ok(())
        })
        .unwrap();
        let raw = inner.get(&key).unwrap().unwrap().doc;
        assert_eq!(
            (raw["attempts"].clone(), raw["retries"].clone()),
            (json!(2), json!(1))
        );
        assert_eq!(raw["queueKwargs"], json!({}));
    }
}
