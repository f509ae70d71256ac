//! Whole-document operations: each an async function, so a batch runs many at once, and the
//! `Store` methods block on one.

use super::retry::retried;
use super::{CouchbaseStore, IN_FLIGHT, JSON_FLAGS};
use crate::error::{Error, Result};
use crate::job::{Doc, EncodedDoc, Status};
use crate::store::{Cas, Versioned};
use couchbase::error::ErrorKind;
use couchbase::options::kv_options::{InsertOptions, ReplaceOptions};
use futures::{stream, StreamExt};
use serde_json::Value;
use std::time::Duration;

impl CouchbaseStore {
    /// A finished job expires after the retention; any other keeps no expiry (a replace
    /// without one clears it, so a job run again is kept until it finishes again).
    pub(super) fn expiry(&self, status: Status) -> Option<Duration> {
        self.url.retention.filter(|_| status.is_final())
    }

    pub(super) fn parse(key: &str, bytes: &[u8]) -> Result<Doc> {
        serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
            key: key.to_owned(),
            reason: format!("stored value is not a JSON object: {e}"),
        })
    }

    /// After an ambiguous write was refused on a retry ("exists", "CAS mismatch"): whether the
    /// first try landed after all, i.e. the document is now exactly what was written.
    async fn landed(&self, key: &str, doc: &Doc) -> Option<Cas> {
        match self.get_async(key).await {
            Ok(Some(v)) if v.doc == *doc => Some(v.cas),
            _ => None,
        }
    }

    pub(super) async fn insert_async(&self, key: &str, doc: &EncodedDoc) -> Result<Cas> {
        let mut options = InsertOptions::new();
        if let Some(ttl) = self.expiry(doc.status()) {
            options = options.expiry(ttl);
        }
        let coll = &self.sdk().collection;
        let out = retried(self.url.timeout, true, || {
            coll.insert_raw(key, doc.json().as_bytes(), JSON_FLAGS, options.clone())
        })
        .await;
        match out.result {
            Ok(r) => Ok(r.cas()),
            // The key stops a second copy; the retry's "exists" may be the first one landing.
            Err(f) if out.ambiguous && f.kind() == Some(&ErrorKind::DocumentExists) => {
                match doc.decode() {
                    Ok(tree) => self.landed(key, &tree).await,
                    Err(_) => None,
                }
                .ok_or_else(|| f.into_error("insert", key, &self.target))
            }
            Err(f) => Err(f.into_error("insert", key, &self.target)),
        }
    }

    pub(super) async fn get_async(&self, key: &str) -> Result<Option<Versioned>> {
        let coll = &self.sdk().collection;
        let out = retried(self.url.timeout, true, || coll.get(key, None)).await;
        match out.result {
            Ok(found) => {
                let (bytes, _flags) = found.content_as_raw();
                Ok(Some(Versioned {
                    doc: Self::parse(key, bytes)?,
                    cas: found.cas(),
                }))
            }
            Err(f) if f.kind() == Some(&ErrorKind::DocumentNotFound) => Ok(None),
            Err(f) => Err(f.into_error("get", key, &self.target)),
        }
    }

    pub(super) async fn replace_async(&self, key: &str, doc: &Doc, cas: Cas) -> Result<Cas> {
        let body = EncodedDoc::of(key, doc)?;
        let mut options = ReplaceOptions::new().cas(cas);
        if let Some(ttl) = self.expiry(body.status()) {
            options = options.expiry(ttl);
        }
        let coll = &self.sdk().collection;
        let out = retried(self.url.timeout, true, || {
            coll.replace_raw(key, body.json().as_bytes(), JSON_FLAGS, options.clone())
        })
        .await;
        match out.result {
            Ok(r) => Ok(r.cas()),
            // The CAS stops a second copy; the retry's "mismatch" may be the first one landing.
            Err(f) if out.ambiguous && f.kind() == Some(&ErrorKind::CasMismatch) => self
                .landed(key, doc)
                .await
                .ok_or_else(|| f.into_error("replace", key, &self.target)),
            Err(f) => Err(f.into_error("replace", key, &self.target)),
        }
    }

    /// A value of any JSON kind (the original's datastore client kept strings too).
    pub(super) async fn get_value_async(&self, key: &str) -> Result<Option<(Value, Cas)>> {
        let coll = &self.sdk().collection;
        let out = retried(self.url.timeout, true, || coll.get(key, None)).await;
        match out.result {
            Ok(found) => {
                let (bytes, _flags) = found.content_as_raw();
                let value = serde_json::from_slice(bytes).map_err(|e| Error::Corrupt {
                    key: key.to_owned(),
                    reason: format!("stored value is not JSON: {e}"),
                })?;
                Ok(Some((value, found.cas())))
            }
            Err(f) if f.kind() == Some(&ErrorKind::DocumentNotFound) => Ok(None),
            Err(f) => Err(f.into_error("get", key, &self.target)),
        }
    }

    /// Writes a value that is not a job document: new (`cas` None) or over the one with `cas`.
    /// It never expires (only finished jobs do).
    pub(super) async fn write_value_async(
        &self,
        key: &str,
        value: &Value,
        cas: Option<Cas>,
    ) -> Result<Cas> {
        let body = serde_json::to_vec(value)
            .map_err(|e| Error::Invalid(format!("value {key} cannot be serialised: {e}")))?;
        let coll = &self.sdk().collection;
        let (op, out) = match cas {
            None => {
                let options = InsertOptions::new();
                let out = retried(self.url.timeout, true, || {
                    coll.insert_raw(key, &body, JSON_FLAGS, options.clone())
                })
                .await;
                ("insert", out)
            }
            Some(cas) => {
                let options = ReplaceOptions::new().cas(cas);
                let out = retried(self.url.timeout, true, || {
                    coll.replace_raw(key, &body, JSON_FLAGS, options.clone())
                })
                .await;
                ("replace", out)
            }
        };
        match out.result {
            Ok(r) => Ok(r.cas()),
            // As for documents: after an ambiguous try, the refusal may be that try landing.
            Err(f)
                if out.ambiguous
                    && matches!(
                        f.kind(),
                        Some(&ErrorKind::DocumentExists) | Some(&ErrorKind::CasMismatch)
                    ) =>
            {
                match self.get_value_async(key).await {
                    Ok(Some((now, cas))) if now == *value => Ok(cas),
                    _ => Err(f.into_error(op, key, &self.target)),
                }
            }
            Err(f) => Err(f.into_error(op, key, &self.target)),
        }
    }

    pub(super) async fn remove_async(&self, key: &str) -> Result<bool> {
        let coll = &self.sdk().collection;
        let out = retried(self.url.timeout, true, || coll.remove(key, None)).await;
        match out.result {
            Ok(_) => Ok(true),
            // After an ambiguous try, "not found" is that try having removed it.
            Err(f) if f.kind() == Some(&ErrorKind::DocumentNotFound) => Ok(out.ambiguous),
            Err(f) => Err(f.into_error("remove", key, &self.target)),
        }
    }

    /// Many inserts at once (up to [`IN_FLIGHT`] on the wire): a batch costs a few round trips,
    /// not one per document. Couchbase has no transaction for them, so when one fails the
    /// others are removed again before the error is returned: all or nothing, as on SQLite.
    pub(super) fn insert_batch(&self, docs: &[(String, EncodedDoc)]) -> Result<Vec<Cas>> {
        self.block_on(async {
            let results: Vec<Result<Cas>> = stream::iter(docs)
                .map(|(key, doc)| self.insert_async(key, doc))
                .buffered(IN_FLIGHT)
                .collect()
                .await;
            let (mut cases, mut written, mut first_error) = (Vec::new(), Vec::new(), None);
            for ((key, _), result) in docs.iter().zip(results) {
                match result {
                    Ok(cas) => {
                        cases.push(cas);
                        written.push(key.as_str());
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            let Some(error) = first_error else {
                return Ok(cases);
            };
            let undone: Vec<Result<bool>> = stream::iter(&written)
                .map(|key| self.remove_async(key))
                .buffered(IN_FLIGHT)
                .collect()
                .await;
            for (key, undo) in written.iter().zip(undone) {
                if let Err(e) = undo {
                    log::error!(
                        target: "zeroG.store",
                        "couchbase: {key} was inserted by a batch that failed, and could not be removed again: {e}"
                    );
                }
            }
            Err(error)
        })
    }
}
