//! The production store: Couchbase, through the official Rust SDK.
//!
//! Keys and documents are those of the embedded store and of the original Python zeroG
//! (`zerog_job_<uuid>`, the job's JSON with Couchbase's JSON flags), so either can read what
//! the other wrote. Whole-document saves are CAS-checked replaces; appends to the log lists and
//! progress reports are sub-document operations; a finished job gets the URL's retention as
//! its expiry, and a job that runs again loses it. Listing, counting and the finished-job walk
//! are SQL++ (see [`sqlpp`]).
//!
//! The SDK is async: each store owns a small tokio runtime and blocks on it, as the beanstalkd
//! queue does, so the `Store` trait stays synchronous for the worker and the bindings.

mod retry;
mod sqlpp;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) use tests::test_url;

use super::{Cas, FinishCursor, ListQuery, Page, Patch, Patched, Store, Versioned};
use crate::couchbase_url::CouchbaseUrl;
use crate::error::{Error, Result};
use crate::job::{Doc, DocExt, LogList, Status};
use couchbase::authenticator::{Authenticator, PasswordAuthenticator};
use couchbase::cluster::Cluster;
use couchbase::collection::Collection;
use couchbase::error::ErrorKind;
use couchbase::options::cluster_options::{ClusterOptions, CompressionMode};
use couchbase::options::kv_options::{InsertOptions, ReplaceOptions};
use couchbase::options::query_options::{QueryOptions, ScanConsistency};
use couchbase::subdoc::lookup_in_specs::LookupInSpec;
use couchbase::subdoc::mutate_in_specs::{
    ArrayAppendSpecOptions, IncrementSpecOptions, MutateInSpec,
};
use futures::{stream, StreamExt};
use retry::{retried, Failure};
use serde_json::Value;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

/// Couchbase's common flags for a JSON document: what every SDK, the original zeroG's Python
/// one included, reads back as JSON.
const JSON_FLAGS: u32 = 2 << 24;
/// A sub-document request holds at most this many operations.
const MAX_SUBDOC_SPECS: usize = 16;
/// Operations of one batch on the wire at once: enough to hide the round trip, few enough not
/// to flood one node's queue.
const IN_FLIGHT: usize = 64;
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

pub struct CouchbaseStore {
    sdk: Option<Sdk>,
    url: CouchbaseUrl,
    target: String,
    /// Whether this handle has made sure the SQL++ indexes exist.
    indexed: Mutex<bool>,
    /// Always `Some` until the store is dropped (see `Drop`).
    runtime: Option<tokio::runtime::Runtime>,
}

struct Sdk {
    cluster: Cluster,
    collection: Collection,
}

impl CouchbaseStore {
    /// Connects and checks that the bucket answers, so a wrong host, bucket or password fails
    /// here, naming it, not at the first job.
    pub fn open(url: &CouchbaseUrl) -> Result<CouchbaseStore> {
        let target = url.target();
        let (Some(user), Some(password)) = (&url.user, &url.password) else {
            return Err(Error::Config(format!(
                "{target}: no credentials; set {} and {}, or put user:password@ in the URL",
                crate::couchbase_url::USER_ENV,
                crate::couchbase_url::PASSWORD_ENV
            )));
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("zerog-couchbase")
            .enable_all()
            .build()
            .map_err(|e| Error::backend("couchbase", &target, e))?;
        let mut options = ClusterOptions::new(Authenticator::PasswordAuthenticator(
            PasswordAuthenticator::new(user.clone(), password.clone()),
        ));
        if !url.compression {
            options = options.compression_mode(CompressionMode::Disabled);
        }
        let connected = runtime.block_on(async {
            tokio::time::timeout(url.timeout, Cluster::connect(&url.conn_str, options)).await
        });
        let cluster = match connected {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(Error::backend(
                    "couchbase",
                    &target,
                    format!("cannot connect: {e}"),
                ))
            }
            Err(_) => {
                return Err(Error::backend(
                    "couchbase",
                    &target,
                    format!("cannot connect: no answer within {:?}", url.timeout),
                ))
            }
        };
        // Opening a bucket starts its connections as tasks on the runtime.
        let inside = runtime.enter();
        let bucket = cluster.bucket(url.bucket.clone());
        let collection = match (&url.scope, &url.collection) {
            (None, None) => bucket.default_collection(),
            (scope, collection) => bucket
                .scope(scope.clone().unwrap_or_else(|| "_default".into()))
                .collection(collection.clone().unwrap_or_else(|| "_default".into())),
        };
        drop(inside);
        let store = CouchbaseStore {
            sdk: Some(Sdk {
                cluster,
                collection,
            }),
            url: url.clone(),
            target,
            indexed: Mutex::new(false),
            runtime: Some(runtime),
        };
        store.check_bucket()?;
        Ok(store)
    }

    /// A read of a key nobody uses: "not found" proves the credentials, the bucket and the
    /// collection; anything else is the reason the store cannot be used.
    ///
    /// It is the bucket's first operation, the one the SDK (1.1) can leave waiting for ever:
    /// `get_agent` checks for the bucket's connection, then waits on `notify_waiters`, and a
    /// notice sent in between is lost. Reads are sent again after a third of the timeout (see
    /// `retry`), and the second one finds the connection.
    fn check_bucket(&self) -> Result<()> {
        match self.get("zerog_connection_check") {
            Ok(_) => Ok(()),
            Err(e) => Err(Error::backend(
                "couchbase",
                &self.target,
                format!("the bucket does not answer: {e}"),
            )),
        }
    }

    fn sdk(&self) -> &Sdk {
        self.sdk
            .as_ref()
            .expect("the SDK lives as long as the store")
    }

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the store")
            .block_on(f)
    }

    /// A finished job expires after the retention; any other keeps no expiry (a replace
    /// without one clears it, so a job run again is kept until it finishes again).
    fn expiry(&self, doc: &Doc) -> Option<Duration> {
        self.url.retention.filter(|_| doc.status().is_final())
    }

    fn json(key: &str, doc: &Doc) -> Result<Vec<u8>> {
        serde_json::to_vec(doc)
            .map_err(|e| Error::Invalid(format!("document {key} cannot be serialised: {e}")))
    }

    fn parse(key: &str, bytes: &[u8]) -> Result<Doc> {
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

    async fn insert_async(&self, key: &str, doc: &Doc) -> Result<Cas> {
        let body = Self::json(key, doc)?;
        let mut options = InsertOptions::new();
        if let Some(ttl) = self.expiry(doc) {
            options = options.expiry(ttl);
        }
        let coll = &self.sdk().collection;
        let out = retried(self.url.timeout, true, || {
            coll.insert_raw(key, &body, JSON_FLAGS, options.clone())
        })
        .await;
        match out.result {
            Ok(r) => Ok(r.cas()),
            // The key stops a second copy; the retry's "exists" may be the first one landing.
            Err(f) if out.ambiguous && f.kind() == Some(&ErrorKind::DocumentExists) => self
                .landed(key, doc)
                .await
                .ok_or_else(|| f.into_error("insert", key, &self.target)),
            Err(f) => Err(f.into_error("insert", key, &self.target)),
        }
    }

    async fn get_async(&self, key: &str) -> Result<Option<Versioned>> {
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

    async fn replace_async(&self, key: &str, doc: &Doc, cas: Cas) -> Result<Cas> {
        let body = Self::json(key, doc)?;
        let mut options = ReplaceOptions::new().cas(cas);
        if let Some(ttl) = self.expiry(doc) {
            options = options.expiry(ttl);
        }
        let coll = &self.sdk().collection;
        let out = retried(self.url.timeout, true, || {
            coll.replace_raw(key, &body, JSON_FLAGS, options.clone())
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

    async fn remove_async(&self, key: &str) -> Result<bool> {
        let coll = &self.sdk().collection;
        let out = retried(self.url.timeout, true, || coll.remove(key, None)).await;
        match out.result {
            Ok(_) => Ok(true),
            // After an ambiguous try, "not found" is that try having removed it.
            Err(f) if f.kind() == Some(&ErrorKind::DocumentNotFound) => Ok(out.ambiguous),
            Err(f) => Err(f.into_error("remove", key, &self.target)),
        }
    }

    /// Runs a SQL++ statement and gives its rows, creating the indexes first if this handle
    /// has not yet.
    fn query(&self, statement: &str, params: &[(&str, Value)]) -> Result<Vec<Value>> {
        self.ensure_indexes()?;
        self.run_query(statement, params)
    }

    fn run_query(&self, statement: &str, params: &[(&str, Value)]) -> Result<Vec<Value>> {
        let mut options = QueryOptions::new().scan_consistency(ScanConsistency::RequestPlus);
        for (name, value) in params {
            options = options
                .add_named_parameter(*name, value)
                .map_err(|e| Error::backend("couchbase", &self.target, e))?;
        }
        let cluster = &self.sdk().cluster;
        let out = self.block_on(retried(self.url.timeout, true, || async {
            let mut result = cluster.query(statement, options.clone()).await?;
            let mut rows = Vec::new();
            let mut stream = result.rows::<Value>();
            while let Some(row) = stream.next().await {
                rows.push(row?);
            }
            Ok(rows)
        }));
        out.result.map_err(|f| self.query_error(f, statement))
    }

    fn query_error(&self, failure: Failure, statement: &str) -> Error {
        if let Some(ErrorKind::ServiceNotAvailable(_)) = failure.kind() {
            return Error::backend(
                "couchbase",
                &self.target,
                "the cluster has no query service: listing, counting and expiring jobs need \
                 SQL++ (see the README's Couchbase section)",
            );
        }
        let verb = statement.split_whitespace().next().unwrap_or("query");
        failure.into_error(&format!("SQL++ {verb}"), "", &self.target)
    }

    /// Creates the SQL++ indexes listing needs, once per handle; an index that exists already
    /// (another process made it) is fine.
    fn ensure_indexes(&self) -> Result<()> {
        let mut indexed = self.indexed.lock().unwrap_or_else(|p| p.into_inner());
        if *indexed {
            return Ok(());
        }
        for statement in sqlpp::index_statements(&self.url.keyspace()) {
            match self.run_query(&statement, &[]) {
                Ok(_) => {}
                Err(Error::Backend { reason, .. })
                    if reason.contains("already exist") || reason.contains("IndexExists") => {}
                Err(e) => return Err(e),
            }
        }
        *indexed = true;
        Ok(())
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

impl Store for CouchbaseStore {
    fn insert(&self, key: &str, doc: &Doc) -> Result<Cas> {
        self.block_on(self.insert_async(key, doc))
    }

    /// Many inserts at once (up to [`IN_FLIGHT`] on the wire): a batch costs a few round trips,
    /// not one per document. Couchbase has no transaction for them, so when one fails the
    /// others are removed again before the error is returned: all or nothing, as on SQLite.
    fn insert_many(&self, docs: &[(String, Doc)]) -> Result<Vec<Cas>> {
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

    fn get(&self, key: &str) -> Result<Option<Versioned>> {
        self.block_on(self.get_async(key))
    }

    fn replace(&self, key: &str, doc: &Doc, cas: Cas) -> Result<Cas> {
        self.block_on(self.replace_async(key, doc, cas))
    }

    /// Many replaces at once, each standing or falling on its own CAS.
    fn replace_many(&self, docs: &[(String, Doc, Cas)]) -> Vec<Result<Cas>> {
        self.block_on(
            stream::iter(docs)
                .map(|(key, doc, cas)| self.replace_async(key, doc, *cas))
                .buffered(IN_FLIGHT)
                .collect(),
        )
    }

    fn append(&self, key: &str, list: LogList, entry: &Value) -> Result<Cas> {
        let spec = MutateInSpec::array_append(
            list.field(),
            std::slice::from_ref(entry),
            ArrayAppendSpecOptions::new().create_path(true),
        )
        .map_err(|e| Error::Invalid(format!("log entry for {key} cannot be serialised: {e}")))?;
        let specs = [spec];
        let coll = &self.sdk().collection;
        let out = self.block_on(retried(self.url.timeout, false, || {
            coll.mutate_in(key, &specs, None)
        }));
        match out.result {
            Ok(r) => Ok(r.cas()),
            Err(f) if shape_error(f.kind()) => super::update(self, key, |doc| {
                doc.push_log(list, entry.clone());
                Ok(())
            })
            .map(|v| v.cas),
            Err(f) => Err(f.into_error("append to", key, &self.target)),
        }
    }

    fn patch(&self, key: &str, patch: &Patch) -> Result<Patched> {
        let whole = || {
            super::update(self, key, |doc| {
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
                Err(f) => return Err(f.into_error("patch", key, &self.target)),
            }
        };
        let fields = self.read_fields(key, &patch.read)?;
        match cas {
            Some(cas) => Ok(Patched { cas, fields }),
            // Nothing to write: the CAS is the document's own.
            None => self
                .get(key)?
                .map(|v| Patched { cas: v.cas, fields })
                .ok_or_else(|| Error::DocNotFound {
                    key: key.to_owned(),
                }),
        }
    }

    fn delete(&self, key: &str) -> Result<bool> {
        self.block_on(self.remove_async(key))
    }

    fn list(&self, query: &ListQuery) -> Result<Page> {
        let cursor = match &query.after {
            None => None,
            Some(c) => Some(sqlpp::decode_cursor(c).ok_or_else(|| {
                Error::Invalid(format!("listing cursor {c:?} is not one this store gave"))
            })?),
        };
        let limit = match query.limit {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let statement = sqlpp::list_statement(
            &self.url.keyspace(),
            cursor.is_some(),
            query.status.is_some(),
            query.job_type.is_some(),
            limit + 1,
        );
        let mut params: Vec<(&str, Value)> = Vec::new();
        if let Some((created, key)) = &cursor {
            params.push(("c", created.as_str().into()));
            params.push(("k", key.as_str().into()));
        }
        if let Some(status) = query.status {
            params.push(("status", status.as_str().into()));
        }
        if let Some(job_type) = &query.job_type {
            params.push(("type", job_type.as_str().into()));
        }
        let rows = self.query(&statement, &params)?;
        let more = rows.len() > limit;
        let mut page = Page::default();
        let mut last = None;
        for row in rows.into_iter().take(limit) {
            let (key, doc, created) = self.row(row, "c")?;
            last = Some((created, key.clone()));
            page.items.push((key, doc?));
        }
        if more {
            page.next = last.map(|(c, k)| sqlpp::encode_cursor(&c, &k));
        }
        Ok(page)
    }

    fn expire_finished(&self, finished_before: &str) -> Result<usize> {
        let rows = self.query(
            &sqlpp::expire_statement(&self.url.keyspace()),
            &[("before", finished_before.into())],
        )?;
        Ok(rows.len())
    }

    fn count_by_status(&self) -> Result<Vec<(Status, u64)>> {
        let rows = self.query(&sqlpp::count_statement(&self.url.keyspace()), &[])?;
        Ok(super::tally(rows.iter().map(|row| {
            let status = row.get("s").and_then(Value::as_str).and_then(Status::parse);
            (status, row.get("n").and_then(Value::as_u64).unwrap_or(0))
        })))
    }

    fn finished_after(
        &self,
        after: &FinishCursor,
        until: &str,
        limit: usize,
    ) -> Result<(Vec<Doc>, FinishCursor)> {
        // Here `seq` counts the jobs finished exactly at `finished_at` that were seen already
        // (in creation order): Couchbase has no row number to resume from.
        let limit = limit.clamp(1, MAX_PAGE);
        let rows = self.query(
            &sqlpp::finished_statement(&self.url.keyspace(), limit),
            &[
                ("at", after.finished_at.as_str().into()),
                ("until", until.into()),
                ("skip", after.seq.max(0).into()),
            ],
        )?;
        let mut next = FinishCursor {
            finished_at: after.finished_at.clone(),
            seq: after.seq.max(0),
        };
        let mut docs = Vec::with_capacity(rows.len());
        for row in rows {
            let (_key, doc, finished_at) = self.row(row, "f")?;
            if finished_at == next.finished_at {
                next.seq += 1;
            } else {
                next = FinishCursor {
                    finished_at,
                    seq: 1,
                };
            }
            match doc {
                Ok(doc) => docs.push(doc),
                Err(e) => log::warn!(target: "zeroG.store", "{e}"),
            }
        }
        Ok((docs, next))
    }
}

impl CouchbaseStore {
    /// A query row's key, document (or why it is corrupt) and the text field `field`.
    fn row(&self, row: Value, field: &str) -> Result<(String, Result<Doc>, String)> {
        let Value::Object(mut row) = row else {
            return Err(Error::backend(
                "couchbase",
                &self.target,
                "a SQL++ row is not an object",
            ));
        };
        let key = match row.remove("k") {
            Some(Value::String(k)) => k,
            _ => {
                return Err(Error::backend(
                    "couchbase",
                    &self.target,
                    "a SQL++ row has no key",
                ))
            }
        };
        let doc = match row.remove("doc") {
            Some(Value::Object(doc)) => Ok(doc),
            other => Err(Error::Corrupt {
                key: key.clone(),
                reason: format!("stored value is not a JSON object: {other:?}"),
            }),
        };
        let text = match row.remove(field) {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        Ok((key, doc, text))
    }
}

impl Drop for CouchbaseStore {
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        // The SDK's handles may start tasks as they close: drop them inside their runtime.
        {
            let _inside = runtime.enter();
            self.sdk.take();
        }
        // Without waiting for the runtime's thread: from Python the store is dropped holding
        // the GIL, and that thread may be waiting for the GIL to log a line.
        runtime.shutdown_background();
    }
}
