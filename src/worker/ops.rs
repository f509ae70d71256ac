//! The reads and writes a worker makes for one job, over one of two kinds of backend:
//! - `Separate`: any store and any queue, each call its own operation;
//! - `InTxn`: the embedded store and queue in one SQLite file, every call inside one write
//!   transaction of the worker's queue connection. A step (finish the last job, reserve the next
//!   and mark it running) is then one commit instead of four, and cannot half-happen;
//! - `Deferred`: document writes held back to be made together (a batch's outcomes).

use super::outcome::QueueAction;
use crate::error::{Error, Result};
use crate::job::Doc;
use crate::queue::{EmbeddedTxn, JobId, Queue};
use crate::store::{self, Cas, Docs, Store, Versioned};

pub(crate) trait Ops {
    fn get(&mut self, key: &str) -> Result<Option<Versioned>>;
    fn replace(&mut self, key: &str, doc: &Doc, cas: Cas) -> Result<Cas>;
    /// Deletes, releases or buries a queue entry this worker holds.
    fn apply(&mut self, id: JobId, priority: u32, action: QueueAction) -> Result<()>;
    /// How many times the entry was reserved.
    fn reserves(&mut self, id: JobId) -> Result<u64>;
}

pub(crate) struct Separate<'a> {
    pub store: &'a dyn Store,
    pub queue: &'a dyn Queue,
}

impl Ops for Separate<'_> {
    fn get(&mut self, key: &str) -> Result<Option<Versioned>> {
        self.store.get(key)
    }
    fn replace(&mut self, key: &str, doc: &Doc, cas: Cas) -> Result<Cas> {
        self.store.replace(key, doc, cas)
    }
    fn apply(&mut self, id: JobId, priority: u32, action: QueueAction) -> Result<()> {
        match action {
            QueueAction::Delete => self.queue.delete(id),
            QueueAction::Release { delay } => self.queue.release(id, priority, delay),
            QueueAction::Bury => self.queue.bury(id, priority),
        }
    }
    fn reserves(&mut self, id: JobId) -> Result<u64> {
        Ok(self.queue.stats_job(id)?.reserves)
    }
}

/// Reads from the store but holds writes back, to be written together afterwards (see
/// `Worker::settle_batch`). A write answers at once with the CAS it was given; nothing reads
/// that CAS before the held writes are made. Queue calls are not for it.
pub(crate) struct Deferred<'a> {
    pub store: &'a dyn Store,
    pub writes: Vec<(String, Doc, Cas)>,
}

impl Ops for Deferred<'_> {
    fn get(&mut self, key: &str) -> Result<Option<Versioned>> {
        self.store.get(key)
    }
    fn replace(&mut self, key: &str, doc: &Doc, cas: Cas) -> Result<Cas> {
        self.writes.push((key.to_owned(), doc.clone(), cas));
        Ok(cas)
    }
    fn apply(&mut self, id: JobId, _: u32, _: QueueAction) -> Result<()> {
        Err(Error::Invalid(format!(
            "queue job {id}: deferred writes make no queue changes"
        )))
    }
    fn reserves(&mut self, id: JobId) -> Result<u64> {
        Err(Error::Invalid(format!(
            "queue job {id}: deferred writes make no queue reads"
        )))
    }
}

pub(crate) struct InTxn<'a, 'b>(pub &'a EmbeddedTxn<'b>);

impl Ops for InTxn<'_, '_> {
    fn get(&mut self, key: &str) -> Result<Option<Versioned>> {
        store::get_in(self.0.conn(), self.0.path(), key)
    }
    fn replace(&mut self, key: &str, doc: &Doc, cas: Cas) -> Result<Cas> {
        store::replace_in(self.0.conn(), self.0.path(), key, doc, cas)
    }
    fn apply(&mut self, id: JobId, priority: u32, action: QueueAction) -> Result<()> {
        match action {
            QueueAction::Delete => self.0.delete(id),
            QueueAction::Release { delay } => self.0.release(id, priority, delay),
            QueueAction::Bury => self.0.bury(id, priority),
        }
    }
    fn reserves(&mut self, id: JobId) -> Result<u64> {
        self.0.reserves(id)
    }
}

/// [`store::update`] over any `Ops`: inside a transaction the first write always wins.
pub(crate) fn update(
    ops: &mut dyn Ops,
    key: &str,
    change: impl FnMut(&mut Doc) -> Result<()>,
) -> Result<Versioned> {
    store::update_docs(ops, key, change)
}

/// [`update`] starting from a version already in hand (see [`store::update_docs_from`]).
pub(crate) fn update_from(
    ops: &mut dyn Ops,
    key: &str,
    known: Option<Versioned>,
    change: impl FnMut(&mut Doc) -> Result<()>,
) -> Result<Versioned> {
    store::update_docs_from(ops, key, known, change)
}

impl Docs for dyn Ops + '_ {
    fn get_doc(&mut self, key: &str) -> Result<Option<Versioned>> {
        self.get(key)
    }
    fn replace_doc(&mut self, key: &str, doc: &Doc, cas: Cas) -> Result<Cas> {
        self.replace(key, doc, cas)
    }
}
