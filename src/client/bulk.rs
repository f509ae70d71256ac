//! Enqueueing many new jobs, in batches: each batch's documents in one store write, its entries
//! in one pipelined put. Each job ends up saved and queued, or neither.
//!
//! With more than one batch, two stages run on threads of their own, so that they overlap with
//! each other and with the caller building the next batch: the inserter writes batch k+1's
//! documents while the putter queues batch k. After a failure nothing more is queued: later
//! batches are not written, or are deleted again if they were.

use crate::error::{Error, Result};
use crate::job::EncodedDoc;
use crate::queue::{JobId, PutRequest, Queue};
use crate::store::{Cas, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The log target of what enqueueing reports.
const LOG: &str = "zeroG.job";

/// A new job of a batch: its key, its document and how its entry is put.
pub struct NewJob {
    pub key: String,
    pub doc: EncodedDoc,
    pub put: PutRequest,
}

/// What a bulk enqueue left: each job's queue id and CAS if it was queued (in the order given),
/// and the first error, which stopped it.
#[derive(Debug, Default)]
pub struct BulkOutcome {
    pub queued: Vec<Option<(JobId, Cas)>>,
    pub error: Option<Error>,
}

/// A batch as the stages use it: the documents for one store write and the puts for one
/// pipelined exchange, each job at the same place in both (moved out of the `NewJob`s, not
/// copied).
struct Batch {
    docs: Vec<(String, EncodedDoc)>,
    puts: Vec<PutRequest>,
}

impl Batch {
    fn of(jobs: Vec<NewJob>) -> Batch {
        let (docs, puts) = jobs.into_iter().map(|j| ((j.key, j.doc), j.put)).unzip();
        Batch { docs, puts }
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        self.docs.iter().map(|(key, _)| key.as_str())
    }
}

/// Enqueues batches in the order they are given. One batch alone runs on the caller's thread,
/// in [`BulkEnqueue::finish`]; a second starts the two stages.
pub struct BulkEnqueue {
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    first: Option<Batch>,
    stages: Option<Stages>,
}

struct Stages {
    to_insert: SyncSender<Batch>,
    inserter: JoinHandle<()>,
    putter: JoinHandle<BulkOutcome>,
}

impl BulkEnqueue {
    pub fn new(store: Arc<dyn Store>, queue: Arc<dyn Queue>) -> BulkEnqueue {
        BulkEnqueue {
            store,
            queue,
            first: None,
            stages: None,
        }
    }

    /// Hands over the next batch. Waits while the stages are a batch ahead of their work, so
    /// the caller never builds far ahead of what is written.
    pub fn submit(&mut self, jobs: Vec<NewJob>) {
        let batch = Batch::of(jobs);
        if self.stages.is_none() && self.first.is_none() {
            self.first = Some(batch);
            return;
        }
        let stages = self
            .stages
            .get_or_insert_with(|| Stages::start(self.store.clone(), self.queue.clone()));
        for b in self.first.take().into_iter().chain([batch]) {
            // The inserter only stops early by panicking; its end shows in `finish`.
            let _ = stages.to_insert.send(b);
        }
    }

    /// Waits for every batch, and says what happened to each job.
    pub fn finish(mut self) -> BulkOutcome {
        match self.stages.take() {
            None => {
                let mut out = BulkOutcome::default();
                if let Some(batch) = self.first.take() {
                    let inserted = insert(&*self.store, &batch);
                    settle(&*self.store, &*self.queue, &batch, inserted, &mut out);
                }
                out
            }
            Some(Stages {
                to_insert,
                inserter,
                putter,
            }) => {
                drop(to_insert);
                let _ = inserter.join();
                putter.join().unwrap_or_else(|_| BulkOutcome {
                    queued: Vec::new(),
                    error: Some(Error::Invalid(
                        "bulk enqueue: its putter thread panicked".into(),
                    )),
                })
            }
        }
    }
}

impl Stages {
    fn start(store: Arc<dyn Store>, queue: Arc<dyn Queue>) -> Stages {
        let (to_insert, inserts) = sync_channel::<Batch>(1);
        let (to_put, puts) = sync_channel::<(Batch, Inserted)>(1);
        let failed = Arc::new(AtomicBool::new(false));
        let (s, f) = (store.clone(), failed.clone());
        let inserter = std::thread::Builder::new()
            .name("zerog-insert".into())
            .spawn(move || run_inserter(&*s, &f, inserts, to_put))
            .expect("spawning the bulk enqueue inserter");
        let putter = std::thread::Builder::new()
            .name("zerog-put".into())
            .spawn(move || run_putter(&*store, &*queue, &failed, puts))
            .expect("spawning the bulk enqueue putter");
        Stages {
            to_insert,
            inserter,
            putter,
        }
    }
}

/// A batch's documents: their CAS values, or why they were not written (`None`: skipped after an
/// earlier failure).
type Inserted = Option<Result<Vec<Cas>>>;

fn insert(store: &dyn Store, batch: &Batch) -> Inserted {
    Some(store.insert_many_encoded(&batch.docs))
}

fn run_inserter(
    store: &dyn Store,
    failed: &AtomicBool,
    batches: Receiver<Batch>,
    to_put: SyncSender<(Batch, Inserted)>,
) {
    for batch in batches {
        let inserted = if failed.load(Ordering::Acquire) {
            None
        } else {
            insert(store, &batch)
        };
        if matches!(inserted, Some(Err(_))) {
            failed.store(true, Ordering::Release);
        }
        if to_put.send((batch, inserted)).is_err() {
            return;
        }
    }
}

fn run_putter(
    store: &dyn Store,
    queue: &dyn Queue,
    failed: &AtomicBool,
    batches: Receiver<(Batch, Inserted)>,
) -> BulkOutcome {
    let mut out = BulkOutcome::default();
    for (batch, inserted) in batches {
        settle(store, queue, &batch, inserted, &mut out);
        if out.error.is_some() {
            failed.store(true, Ordering::Release);
        }
    }
    out
}

/// Queues a batch whose documents were written, or takes them back after an earlier failure,
/// and adds what became of its jobs to `out`.
fn settle(
    store: &dyn Store,
    queue: &dyn Queue,
    batch: &Batch,
    inserted: Inserted,
    out: &mut BulkOutcome,
) {
    let not_queued = || std::iter::repeat_n(None, batch.puts.len());
    let cases = match inserted {
        Some(Ok(cases)) if out.error.is_none() => cases,
        Some(Ok(_)) => {
            // A batch after a failed one: written, but not to be queued.
            delete(store, batch.keys());
            out.queued.extend(not_queued());
            return;
        }
        Some(Err(e)) => {
            out.error.get_or_insert(e);
            out.queued.extend(not_queued());
            return;
        }
        None => {
            out.queued.extend(not_queued());
            return;
        }
    };
    match queue.put_many(&batch.puts) {
        Ok(ids) => out.queued.extend(ids.into_iter().zip(cases).map(Some)),
        Err(e) => {
            // A batch the queue failed midway says which of its jobs it had queued by then.
            let put = match &e {
                Error::PartlyPut { put, .. } => put.clone(),
                _ => vec![None; batch.puts.len()],
            };
            delete(
                store,
                batch
                    .keys()
                    .zip(&put)
                    .filter(|(_, id)| id.is_none())
                    .map(|(key, _)| key),
            );
            out.queued.extend(
                put.into_iter()
                    .zip(cases)
                    .map(|(id, cas)| id.map(|id| (id, cas))),
            );
            out.error.get_or_insert(e);
        }
    }
}

/// Deletes the documents of jobs that were not queued: nothing is left saved but never queued.
fn delete<'a>(store: &dyn Store, keys: impl Iterator<Item = &'a str>) {
    for key in keys {
        if let Err(e) = store.delete(key) {
            log::error!(target: LOG, "{key}: not queued, and its document could not be deleted: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::{EmbeddedQueue, SqliteStore};
    use crate::job::{key_for, new_document, queue_body, Doc};

    fn batch(from: usize, n: usize, tube: &str) -> Vec<NewJob> {
        (from..from + n)
            .map(|i| {
                let uuid = format!("b{i}");
                let key = key_for(&uuid);
                NewJob {
                    doc: EncodedDoc::of(&key, &new_document(&uuid, "t", tube, Doc::new())).unwrap(),
                    key,
                    put: PutRequest {
                        tube: tube.into(),
                        body: queue_body(&uuid),
                        priority: 10,
                        delay: 0,
                        ttr: 60,
                    },
                }
            })
            .collect()
    }

    fn backend() -> (tempfile::TempDir, Arc<dyn Store>, Arc<dyn Queue>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zerog.db");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
        let queue: Arc<dyn Queue> = Arc::new(EmbeddedQueue::open(&path).unwrap());
        (dir, store, queue)
    }

    #[test]
    fn batches_are_queued_in_order_whether_one_or_several() {
        for batches in [1, 3] {
            let (_dir, store, queue) = backend();
            let mut bulk = BulkEnqueue::new(store.clone(), queue.clone());
            for k in 0..batches {
                bulk.submit(batch(k * 10, 10, "work"));
            }
            let out = bulk.finish();
            assert!(out.error.is_none(), "{:?}", out.error);
            assert_eq!(out.queued.len(), batches * 10);
            let ids: Vec<JobId> = out.queued.iter().map(|q| q.unwrap().0).collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
            assert_eq!(
                queue.stats_tube("work").unwrap().ready,
                (batches * 10) as u64
            );
            for (i, q) in out.queued.iter().enumerate() {
                let stored = store.get(&key_for(&format!("b{i}"))).unwrap().unwrap();
                assert_eq!(stored.cas, q.unwrap().1);
            }
        }
    }

    /// A batch the queue refuses stops the rest: the batch before it stays queued, its own jobs
    /// and every later batch's have no document left.
    #[test]
    fn a_refused_batch_leaves_nothing_of_itself_or_what_follows() {
        let (_dir, store, queue) = backend();
        let mut bulk = BulkEnqueue::new(store.clone(), queue.clone());
        bulk.submit(batch(0, 5, "work"));
        bulk.submit(batch(5, 5, "bad tube!"));
        bulk.submit(batch(10, 5, "work"));
        let out = bulk.finish();
        assert!(out.error.unwrap().to_string().contains("bad tube!"));
        assert!(out.queued[..5].iter().all(Option::is_some));
        assert!(out.queued[5..].iter().all(Option::is_none));
        assert_eq!(out.queued.len(), 15);
        assert_eq!(queue.stats_tube("work").unwrap().ready, 5);
        for i in 5..15 {
            assert!(
                store.get(&key_for(&format!("b{i}"))).unwrap().is_none(),
                "b{i}"
            );
        }
    }
}
