//! The capability of a queue that keeps its entries in one place with the documents: one
//! transaction covers both. A worker asks its queue for it ([`super::Queue::joint`]) rather than
//! asking what type the queue is; the embedded backend has it, a server queue does not.
//!
//! With it, a worker's step (write the outcomes of the last jobs, reserve the next ones and mark
//! them running) is one commit instead of several, and cannot half-happen.

use super::{JobId, PutRequest, Reserved};
use crate::error::Result;
use crate::job::{Doc, EncodedDoc};
use crate::store::{Cas, Docs, Store, Versioned};
use std::time::Instant;

/// What changed last, as far as [`Joint::wait_for_news`] can tell; opaque to callers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen(pub(crate) i64, pub(crate) u64);

/// A piece of work for [`Joint::transaction_shared`]: it owns what it needs, and leaves what it
/// found where its caller will look once the call returns.
pub type JointPart = Box<dyn FnMut(&mut dyn JointTxn) -> Result<()> + Send>;

pub trait Joint: Send + Sync {
    /// Whether this queue's transactions also cover `store`'s documents (they share one file).
    fn covers(&self, store: &dyn Store) -> bool;
    /// A mark to wait for news from.
    fn seen(&self) -> Result<Seen>;
    /// Runs `f` in one write transaction; nothing of it happens if it returns an error.
    fn transaction(&self, f: &mut dyn FnMut(&mut dyn JointTxn) -> Result<()>) -> Result<()>;
    /// [`Self::transaction`], whose commit may be shared with the calls other threads make at
    /// the same time (group commit). `part` still happens all or nothing, as if alone, and is
    /// committed when this returns Ok; it may run more than once (only the last run counts).
    fn transaction_shared(&self, mut part: JointPart) -> Result<()> {
        self.transaction(&mut *part)
    }
    /// Sleeps until something may have changed since `seen`, a delay or lease ends at
    /// `next_due` (epoch seconds), or `give_up` passes (then false).
    fn wait_for_news(&self, seen: Seen, next_due: f64, give_up: Option<Instant>) -> Result<bool>;
}

/// The reads and writes inside a [`Joint`] transaction.
pub trait JointTxn {
    fn get(&mut self, key: &str) -> Result<Option<Versioned>>;
    fn replace(&mut self, key: &str, doc: &Doc, cas: Cas) -> Result<Cas>;
    /// Inserts a new document; `AlreadyExists` if the key is taken.
    fn insert(&mut self, key: &str, doc: &EncodedDoc) -> Result<Cas>;
    /// Puts a job; it is queued when the transaction commits, with the documents written in it.
    fn put(&mut self, job: &PutRequest) -> Result<JobId>;
    /// Reserves up to `n` ready jobs; empty if none is ready (then see [`Self::next_due`]).
    fn reserve_many(&mut self, tubes: &[String], n: usize) -> Result<Vec<Reserved>>;
    /// When a delayed job in `tubes` comes due or a lease runs out (epoch seconds).
    fn next_due(&mut self, tubes: &[String]) -> Result<f64>;
    /// How many times the job was reserved (beanstalkd's `reserves`).
    fn reserves(&mut self, id: JobId) -> Result<u64>;
    fn delete(&mut self, id: JobId) -> Result<()>;
    fn release(&mut self, id: JobId, priority: u32, delay: u32) -> Result<()>;
    fn bury(&mut self, id: JobId, priority: u32) -> Result<()>;
}

impl Docs for dyn JointTxn + '_ {
    fn get_doc(&mut self, key: &str) -> Result<Option<Versioned>> {
        self.get(key)
    }
    fn replace_doc(&mut self, key: &str, doc: &Doc, cas: Cas) -> Result<Cas> {
        self.replace(key, doc, cas)
    }
}
