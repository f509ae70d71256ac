//! The embedded backend's joint transaction: the queue's write transaction also reads and
//! writes the documents, which live in the same file (see [`crate::queue::Joint`]).

use super::open::err;
use super::queue::{EmbeddedQueue, EmbeddedTxn};
use super::status_counts;
use super::store::{get_in, insert_in, replace_in};
use crate::error::Result;
use crate::job::{Doc, EncodedDoc};
use crate::queue::{JobId, Joint, JointPart, JointTxn, PutRequest, Reserved, Seen};
use crate::store::{Cas, Store, Versioned};
use std::path::Path;
use std::time::Instant;

impl Joint for EmbeddedQueue {
    fn covers(&self, store: &dyn Store) -> bool {
        store
            .local_file()
            .is_some_and(|file| same_file(file, self.path()))
    }

    fn seen(&self) -> Result<Seen> {
        let (data_version, changes) = self.version()?;
        Ok(Seen(data_version, changes))
    }

    fn transaction(&self, f: &mut dyn FnMut(&mut dyn JointTxn) -> Result<()>) -> Result<()> {
        EmbeddedQueue::transaction(self, |t| f(&mut InFile(t)))
    }

    fn transaction_shared(&self, part: JointPart) -> Result<()> {
        let alone = |part: &mut JointPart| Joint::transaction(self, &mut **part);
        self.group
            .run(part, &|parts| self.in_savepoints(parts), &alone)
    }

    fn wait_for_news(&self, seen: Seen, next_due: f64, give_up: Option<Instant>) -> Result<bool> {
        EmbeddedQueue::wait_for_news(self, (seen.0, seen.1), next_due, give_up)
    }
}

impl EmbeddedQueue {
    /// Runs `parts` in one transaction, each in a savepoint: one that fails is rolled back
    /// alone (its noted status counts too), and its error is its result.
    fn in_savepoints(&self, parts: &mut [JointPart]) -> Result<Vec<Result<()>>> {
        EmbeddedQueue::transaction(self, |t| {
            let sql = |s: &str| t.conn().execute_batch(s).map_err(|e| err(t.path(), e));
            let mut results = Vec::with_capacity(parts.len());
            for part in parts.iter_mut() {
                sql("SAVEPOINT zerog_part")?;
                let noted = status_counts::mark();
                let result = part(&mut InFile(t));
                if result.is_err() {
                    sql("ROLLBACK TO zerog_part")?;
                    status_counts::reset(noted);
                }
                sql("RELEASE zerog_part")?;
                results.push(result);
            }
            Ok(results)
        })
    }
}

/// A queue transaction that reaches the documents too.
struct InFile<'a, 'b>(&'a EmbeddedTxn<'b>);

impl JointTxn for InFile<'_, '_> {
    fn get(&mut self, key: &str) -> Result<Option<Versioned>> {
        get_in(self.0.conn(), self.0.path(), key)
    }
    fn replace(&mut self, key: &str, doc: &Doc, cas: Cas) -> Result<Cas> {
        replace_in(self.0.conn(), self.0.path(), key, doc, cas)
    }
    fn insert(&mut self, key: &str, doc: &EncodedDoc) -> Result<Cas> {
        insert_in(self.0.conn(), self.0.path(), key, doc)
    }
    fn put(&mut self, job: &PutRequest) -> Result<JobId> {
        self.0.put(job)
    }
    fn reserve_many(&mut self, tubes: &[String], n: usize) -> Result<Vec<Reserved>> {
        self.0.reserve_many(tubes, n)
    }
    fn next_due(&mut self, tubes: &[String]) -> Result<f64> {
        self.0.next_due(tubes)
    }
    fn reserves(&mut self, id: JobId) -> Result<u64> {
        self.0.reserves(id)
    }
    fn delete(&mut self, id: JobId) -> Result<()> {
        self.0.delete(id)
    }
    fn release(&mut self, id: JobId, priority: u32, delay: u32) -> Result<()> {
        self.0.release(id, priority, delay)
    }
    fn bury(&mut self, id: JobId, priority: u32) -> Result<()> {
        self.0.bury(id, priority)
    }
}

/// Whether two paths name one file (they may be spelled differently).
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
