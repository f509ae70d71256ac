//! The reads and writes a worker makes for a job ([`Ops`]), in three ways:
//! - `Separate`: any store and any queue, each call its own operation;
//! - `InTxn`: a store and queue that commit together (the embedded ones in one SQLite file, see
//!   [`Joint`](crate::queue::Joint)), every call inside one transaction. A step (finish the
//!   last job, reserve the next and mark it running) is then one commit instead of four, and
//!   cannot half-happen;
//! - `Deferred`: document writes held back to be made together (a batch's outcomes).

use super::config::LOG;
use crate::error::{Error, Result};
use crate::job::Doc;
use crate::queue::{JobId, JointTxn, Queue};
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

pub(crate) struct InTxn<'a>(pub &'a mut dyn JointTxn);

impl Ops for InTxn<'_> {
    fn get(&mut self, key: &str) -> Result<Option<Versioned>> {
        self.0.get(key)
    }
    fn replace(&mut self, key: &str, doc: &Doc, cas: Cas) -> Result<Cas> {
        self.0.replace(key, doc, cas)
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

/// What the queue should do with the entry after the document was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueAction {
    Delete,
    Release { delay: u32 },
    Bury,
}

impl std::fmt::Display for QueueAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueAction::Delete => f.write_str("deleted from the queue"),
            QueueAction::Release { delay } => write!(f, "released to run again in {delay} s"),
            QueueAction::Bury => f.write_str("buried (an operator can kick it)"),
        }
    }
}

/// A queue entry that is no longer ours is logged, not fatal: whoever holds it now decides.
pub(crate) fn entry_op(r: Result<()>, id: JobId) -> Result<()> {
    match r {
        Err(Error::JobNotFound { .. }) => {
            log::warn!(target: LOG, "queue job {id} is no longer held by this worker (its lease ran out)");
            Ok(())
        }
        other => other,
    }
}
