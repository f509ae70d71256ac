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

mod kv;
mod listing;
mod retry;
mod sdk_log;
mod sqlpp;
mod subdoc;
#[cfg(test)]
mod tests;
mod url;
#[cfg(test)]
pub(crate) use tests::test_url;
pub use url::{CouchbaseUrl, PASSWORD_ENV, USER_ENV};

use super::{Cas, FinishCursor, ListQuery, Page, Patch, Patched, Store, Versioned};
use crate::error::{Error, Result};
use crate::job::{Doc, EncodedDoc, LogList, Status};
use couchbase::authenticator::{Authenticator, PasswordAuthenticator};
use couchbase::cluster::Cluster;
use couchbase::collection::Collection;
use couchbase::options::cluster_options::{ClusterOptions, CompressionMode};
use futures::{stream, StreamExt};
use sdk_log::Complaints;
use serde_json::Value;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

/// Couchbase's common flags for a JSON document: what every SDK, the original zeroG's Python
/// one included, reads back as JSON.
const JSON_FLAGS: u32 = 2 << 24;
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
                USER_ENV, PASSWORD_ENV
            )));
        };
        let complaints = Complaints::default();
        let listen = complaints.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("zerog-couchbase")
            .on_thread_start(move || listen.listen_on_this_thread())
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
            tokio::select! {
                connected = tokio::time::timeout(url.timeout, Cluster::connect(&url.conn_str, options)) => Ok(connected),
                said = hopeless(&complaints) => Err(said),
            }
        });
        let cluster = match connected {
            Ok(Ok(Ok(c))) => c,
            Ok(Ok(Err(e))) => {
                return Err(Error::backend(
                    "couchbase",
                    &target,
                    format!("cannot connect: {e}{}", sdk_said(&complaints)),
                ))
            }
            Ok(Err(_)) => {
                return Err(Error::backend(
                    "couchbase",
                    &target,
                    format!(
                        "cannot connect: no answer within {:?}{}",
                        url.timeout,
                        sdk_said(&complaints)
                    ),
                ))
            }
            Err(said) => {
                return Err(Error::backend(
                    "couchbase",
                    &target,
                    format!("cannot connect: {said}"),
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
        store.check_bucket(&complaints)?;
        Ok(store)
    }

    /// A read of a key nobody uses: "not found" proves the credentials, the bucket and the
    /// collection; anything else is the reason the store cannot be used.
    ///
    /// It is the bucket's first operation, the one the SDK (1.1) can leave waiting for ever:
    /// `get_agent` checks for the bucket's connection, then waits on `notify_waiters`, and a
    /// notice sent in between is lost. Reads are sent again after a third of the timeout (see
    /// `retry`), and the second one finds the connection.
    ///
    /// A wrong bucket name or password shows only in the SDK's log (see [`sdk_log`]): the read
    /// just waits. So the check ends as soon as the SDK has said something hopeless, and names it.
    fn check_bucket(&self, complaints: &Complaints) -> Result<()> {
        let answer = self.block_on(async {
            tokio::select! {
                read = self.get_async("zerog_connection_check") => Ok(read),
                said = hopeless(complaints) => Err(said),
            }
        });
        match answer {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(Error::backend(
                "couchbase",
                &self.target,
                format!("the bucket does not answer: {e}{}", sdk_said(complaints)),
            )),
            Err(said) => Err(Error::backend(
                "couchbase",
                &self.target,
                format!("cannot use bucket {:?}: {said}", self.url.bucket),
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
}

/// Resolves once the SDK has said the bucket or the credentials cannot work.
async fn hopeless(complaints: &Complaints) -> String {
    loop {
        if let Some(said) = complaints.decisive() {
            return said;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The SDK's last warning, for a message that otherwise says only "no answer".
fn sdk_said(complaints: &Complaints) -> String {
    complaints
        .last()
        .map(|said| format!("; the SDK said: {said}"))
        .unwrap_or_default()
}

impl Store for CouchbaseStore {
    fn insert_encoded(&self, key: &str, doc: &EncodedDoc) -> Result<Cas> {
        self.block_on(self.insert_async(key, doc))
    }

    fn insert_many_encoded(&self, docs: &[(String, EncodedDoc)]) -> Result<Vec<Cas>> {
        self.insert_batch(docs)
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
        self.append_entry(key, list, entry)
    }

    fn patch(&self, key: &str, patch: &Patch) -> Result<Patched> {
        self.patch_in_place(key, patch)
    }

    fn get_value(&self, key: &str) -> Result<Option<(Value, Cas)>> {
        self.block_on(self.get_value_async(key))
    }

    /// A job document (an object) as `insert`, with its expiry; any other value as it is, a
    /// JSON document of its own, as the original's client wrote it.
    fn insert_value(&self, key: &str, value: &Value) -> Result<Cas> {
        match value {
            Value::Object(doc) => self.insert(key, doc),
            other => self.block_on(self.write_value_async(key, other, None)),
        }
    }

    fn replace_value(&self, key: &str, value: &Value, cas: Cas) -> Result<Cas> {
        match value {
            Value::Object(doc) => self.replace(key, doc, cas),
            other => self.block_on(self.write_value_async(key, other, Some(cas))),
        }
    }

    fn delete(&self, key: &str) -> Result<bool> {
        self.block_on(self.remove_async(key))
    }

    fn list(&self, query: &ListQuery) -> Result<Page> {
        self.list_page(query)
    }

    fn expire_finished(&self, finished_before: &str) -> Result<usize> {
        self.expire(finished_before)
    }

    fn count_by_status(&self) -> Result<Vec<(Status, u64)>> {
        self.count_statuses()
    }

    fn finished_after(
        &self,
        after: &FinishCursor,
        until: &str,
        limit: usize,
    ) -> Result<(Vec<Doc>, FinishCursor)> {
        self.walk_finished(after, until, limit)
    }
}

impl CouchbaseStore {}

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
