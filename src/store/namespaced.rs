//! Test support: a store whose keys all carry a suffix of their own, so tests that use fixed
//! job uuids ("j1") can share one real Couchbase bucket, in parallel and run after run, without
//! meeting each other's documents. It forwards every call to the real store.

use super::{Cas, FinishCursor, ListQuery, Page, Patch, Patched, Store, Versioned};
use crate::error::{Error, Result};
use crate::job::{Doc, EncodedDoc, LogList, Status};
use serde_json::Value;
use std::sync::Arc;

pub(crate) struct Namespaced {
    inner: Arc<dyn Store>,
    suffix: String,
}

impl Namespaced {
    pub(crate) fn new(inner: Arc<dyn Store>) -> Namespaced {
        Namespaced {
            inner,
            suffix: format!("~{}", uuid::Uuid::new_v4().simple()),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{key}{}", self.suffix)
    }

    /// Errors name the key the caller used.
    fn unkey(&self, e: Error) -> Error {
        let strip = |k: String| k.strip_suffix(&self.suffix).map(str::to_owned).unwrap_or(k);
        match e {
            Error::CasMismatch { key } => Error::CasMismatch { key: strip(key) },
            Error::AlreadyExists { key } => Error::AlreadyExists { key: strip(key) },
            Error::DocNotFound { key } => Error::DocNotFound { key: strip(key) },
            Error::Corrupt { key, reason } => Error::Corrupt {
                key: strip(key),
                reason,
            },
            other => other,
        }
    }
}

impl Store for Namespaced {
    fn insert_encoded(&self, key: &str, doc: &EncodedDoc) -> Result<Cas> {
        self.inner
            .insert_encoded(&self.key(key), doc)
            .map_err(|e| self.unkey(e))
    }
    fn get(&self, key: &str) -> Result<Option<Versioned>> {
        self.inner.get(&self.key(key)).map_err(|e| self.unkey(e))
    }
    fn replace(&self, key: &str, doc: &Doc, cas: Cas) -> Result<Cas> {
        self.inner
            .replace(&self.key(key), doc, cas)
            .map_err(|e| self.unkey(e))
    }
    fn append(&self, key: &str, list: LogList, entry: &Value) -> Result<Cas> {
        self.inner
            .append(&self.key(key), list, entry)
            .map_err(|e| self.unkey(e))
    }
    fn patch(&self, key: &str, patch: &Patch) -> Result<Patched> {
        self.inner
            .patch(&self.key(key), patch)
            .map_err(|e| self.unkey(e))
    }
    fn delete(&self, key: &str) -> Result<bool> {
        self.inner.delete(&self.key(key)).map_err(|e| self.unkey(e))
    }
    fn list(&self, query: &ListQuery) -> Result<Page> {
        let mut page = self.inner.list(query)?;
        page.items.retain(|(k, _)| k.ends_with(&self.suffix));
        for (k, _) in &mut page.items {
            k.truncate(k.len() - self.suffix.len());
        }
        Ok(page)
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
        self.inner.finished_after(after, until, limit)
    }
}
