//! Enqueueing a job: its document saved and its queue entry put, or neither. The one path that
//! `BaseJob.enqueue`, `enqueue_async` and `POST /job` take; `enqueue_many` takes its batch form
//! ([`super::bulk`]).
//!
//! A new job's document is inserted, then its entry put; if the put fails, the document is
//! deleted again: a document saying "queued" with no queue entry would never run. A saved job
//! enqueued again gets its restart fields written first (over the stored document, if somebody
//! changed it since), and their old values back if the put fails. That is the one store write:
//! the entry's id, known only after the put, is recorded in the document (`queueJobId`) by the
//! worker that takes the job (its claim writes the document anyway), so it is right even when
//! the worker is done before the enqueue returns. Until then the document names no entry (0);
//! reconciling knows how to tell whether such a job was lost (`super::reconcile`).
//!
//! On the embedded default, whose queue lives in the store's file, all of it is one
//! transaction: the entry is put, then the document written with the entry's id, and both
//! commit together.

use crate::clock;
use crate::error::Result;
use crate::job::{Doc, DocExt, EncodedDoc};
use crate::queue::{JobId, Joint, JointTxn, PutRequest, Queue};
use crate::store::{self, Cas, Docs, Store, Versioned};
use std::sync::{Arc, Mutex, PoisonError};

/// The log target of what enqueueing reports.
const LOG: &str = "zeroG.job";

/// A job to enqueue.
pub struct Enqueue {
    pub key: String,
    pub doc: Document,
    pub put: PutRequest,
}

/// The document of a job to enqueue.
pub enum Document {
    /// A job never saved: its document as made, without `updatedAt` and `queueJobId`, which the
    /// enqueue adds as it writes. Already text: nothing builds a tree of it.
    New(EncodedDoc),
    /// A saved job, as its caller last read it (`cas`), restart fields set.
    Saved {
        doc: Doc,
        cas: Cas,
        /// The fields that start it over, applied again over the stored document if somebody
        /// changed it since.
        restart: Doc,
        /// Their values before, put back if the put fails.
        before: Doc,
    },
}

/// What an enqueue left.
#[derive(Debug)]
pub struct Enqueued {
    pub id: JobId,
    pub cas: Cas,
    /// The `updatedAt` of the write.
    pub updated_at: String,
    /// The document as stored, when it differs from the one given plus the restart fields:
    /// somebody wrote it meanwhile.
    pub reread: Option<Doc>,
}

pub fn enqueue(store: &dyn Store, queue: &dyn Queue, job: Enqueue) -> Result<Enqueued> {
    if let Some(joint) = queue.joint().filter(|j| j.covers(store)) {
        return enqueue_joint(joint, job);
    }
    let Enqueue { key, doc, put } = job;
    match doc {
        Document::New(doc) => {
            let now = clock::now_iso();
            let cas = store.insert_encoded(&key, &doc.with_fields(&added(&now, 0))?)?;
            let id = queue
                .put(&put)
                .inspect_err(|_| take_back(store, &key, None))?;
            Ok(Enqueued {
                id,
                cas,
                updated_at: now,
                reread: None,
            })
        }
        Document::Saved {
            doc,
            cas,
            mut restart,
            mut before,
        } => {
            // The entry about to be put is not the one the document names: the worker that
            // takes it records its id.
            before.set("queueJobId", doc.i64_field("queueJobId"));
            restart.set("queueJobId", 0);
            let mut reread = false;
            let known = Versioned { doc, cas };
            let written = write(&mut { store }, &key, known, &mut reread, &restart)?;
            let id = queue
                .put(&put)
                .inspect_err(|_| take_back(store, &key, Some(&before)))?;
            Ok(Enqueued {
                id,
                cas: written.cas,
                updated_at: updated_at(&written.doc),
                reread: reread.then_some(written.doc),
            })
        }
    }
}

/// On a queue that keeps its entries in the store's own file (the embedded default): the entry
/// is put first, in the same transaction, so the document is written once, with the entry's
/// id, and both are committed together or not at all. Nothing to take back if the put fails.
/// Enqueues that other threads make meanwhile share the commit (`Joint::transaction_shared`).
fn enqueue_joint(joint: &dyn Joint, job: Enqueue) -> Result<Enqueued> {
    let done = Arc::new(Mutex::new(None));
    let out = done.clone();
    joint.transaction_shared(Box::new(move |txn| {
        let enqueued = enqueue_in(txn, &job)?;
        *out.lock().unwrap_or_else(PoisonError::into_inner) = Some(enqueued);
        Ok(())
    }))?;
    let enqueued = done.lock().unwrap_or_else(PoisonError::into_inner).take();
    Ok(enqueued.expect("the transaction ran and committed"))
}

/// The entry put and the document written, in `txn`.
fn enqueue_in(txn: &mut dyn JointTxn, job: &Enqueue) -> Result<Enqueued> {
    let id = txn.put(&job.put)?;
    Ok(match &job.doc {
        Document::New(encoded) => {
            let now = clock::now_iso();
            let doc = encoded.clone().with_fields(&added(&now, id))?;
            Enqueued {
                id,
                cas: txn.insert(&job.key, &doc)?,
                updated_at: now,
                reread: None,
            }
        }
        Document::Saved {
            doc, cas, restart, ..
        } => {
            let mut fields = restart.clone();
            fields.set("queueJobId", id);
            let mut reread = false;
            let known = Versioned {
                doc: doc.clone(),
                cas: *cas,
            };
            let written = write(txn, &job.key, known, &mut reread, &fields)?;
            Enqueued {
                id,
                cas: written.cas,
                updated_at: updated_at(&written.doc),
                reread: reread.then_some(written.doc),
            }
        }
    })
}

/// The fields an enqueue adds to a new job's document.
fn added(now: &str, id: JobId) -> Doc {
    let mut fields = Doc::new();
    fields.set("updatedAt", now);
    fields.set("queueJobId", id);
    fields
}

fn updated_at(doc: &Doc) -> String {
    doc.str_field("updatedAt").unwrap_or("").to_owned()
}

/// Writes `fields` over `known`, or over the stored document if somebody changed it since
/// (then `reread` is set).
fn write<D: Docs + ?Sized>(
    docs: &mut D,
    key: &str,
    known: Versioned,
    reread: &mut bool,
    fields: &Doc,
) -> Result<Versioned> {
    let mut first = true;
    store::update_docs_from(docs, key, Some(known), |doc| {
        *reread |= !first;
        first = false;
        for (name, value) in fields {
            doc.set(name, value.clone());
        }
        doc.set("updatedAt", clock::now_iso());
        Ok(())
    })
}

/// After a failed put: a new job's document (`before` None) goes again; a saved one's gets
/// back what it said before. A failure here is logged; the put's error is what the caller hears.
fn take_back(store: &dyn Store, key: &str, before: Option<&Doc>) {
    let undone = match before {
        None => store.delete(key).map(|_| ()),
        Some(before) => store::update(store, key, |doc| {
            for (name, value) in before {
                doc.set(name, value.clone());
            }
            doc.set("updatedAt", clock::now_iso());
            Ok(())
        })
        .map(|_| ()),
    };
    if let Err(e) = undone {
        log::error!(target: LOG, "{key}: the put failed and the document could not be taken back: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::{EmbeddedQueue, SqliteStore};
    use crate::job::{key_for, new_document, queue_body, NO_RESULT};
    use serde_json::json;

    struct Backend {
        _dir: tempfile::TempDir,
        store: SqliteStore,
        queue: EmbeddedQueue,
    }

    /// Both paths: the store and the queue in one file (one transaction covers both), and in
    /// files of their own (as with a server queue: the document, the put, the id).
    fn backends() -> [Backend; 2] {
        [true, false].map(|shared| {
            let dir = tempfile::tempdir().unwrap();
            let (docs, entries) = if shared {
                (dir.path().join("zerog.db"), dir.path().join("zerog.db"))
            } else {
                (dir.path().join("docs.db"), dir.path().join("queue.db"))
            };
            Backend {
                store: SqliteStore::open(&docs).unwrap(),
                queue: EmbeddedQueue::open(&entries).unwrap(),
                _dir: dir,
            }
        })
    }

    fn put(uuid: &str, tube: &str) -> PutRequest {
        PutRequest {
            tube: tube.into(),
            body: queue_body(uuid),
            priority: 10,
            delay: 0,
            ttr: 60,
        }
    }

    fn new_job(uuid: &str, tube: &str) -> Enqueue {
        let mut doc = new_document(uuid, "t", tube, Doc::new());
        doc.remove("updatedAt");
        doc.remove("queueJobId");
        Enqueue {
            key: key_for(uuid),
            doc: Document::New(EncodedDoc::of(&key_for(uuid), &doc).unwrap()),
            put: put(uuid, tube),
        }
    }

    fn fields(pairs: serde_json::Value) -> Doc {
        pairs.as_object().unwrap().clone()
    }

    /// With the queue in the store's file the document is written with its entry's id; else
    /// it names none (0) until a worker takes the job and records it.
    #[test]
    fn a_new_job_is_saved_and_queued_in_one_write() {
        for (b, recorded) in backends().into_iter().zip([true, false]) {
            let done = enqueue(&b.store, &b.queue, new_job("n1", "work")).unwrap();
            assert!(done.reread.is_none());
            let stored = b.store.get(&key_for("n1")).unwrap().unwrap();
            assert_eq!(stored.cas, done.cas);
            let want = if recorded { done.id as i64 } else { 0 };
            assert_eq!(stored.doc.i64_field("queueJobId"), want);
            assert_eq!(stored.doc.str_field("status"), Some("queued"));
            assert_eq!(
                stored.doc.str_field("updatedAt"),
                Some(done.updated_at.as_str())
            );
            let (id, body) = b.queue.peek_ready("work").unwrap().unwrap();
            assert_eq!((id, body), (done.id, queue_body("n1")));
        }
    }

    #[test]
    fn a_taken_key_queues_nothing() {
        for b in backends() {
            enqueue(&b.store, &b.queue, new_job("t1", "work")).unwrap();
            let e = enqueue(&b.store, &b.queue, new_job("t1", "work")).unwrap_err();
            assert!(
                matches!(e, crate::error::Error::AlreadyExists { .. }),
                "{e}"
            );
            assert_eq!(
                b.queue.stats_tube("work").unwrap().ready,
                1,
                "only the first"
            );
        }
    }

    #[test]
    fn a_put_that_fails_leaves_no_document() {
        for b in backends() {
            let e = enqueue(&b.store, &b.queue, new_job("n2", "not a tube")).unwrap_err();
            assert!(e.to_string().contains("not a tube"), "{e}");
            assert!(b.store.get(&key_for("n2")).unwrap().is_none());
        }
    }

    /// A finished job enqueued again: its restart fields go over the stored document even if
    /// somebody wrote it since the caller read it, and that writer's change is kept.
    #[test]
    fn a_saved_job_starts_over_on_the_stored_document() {
        for (b, shared) in backends().into_iter().zip([true, false]) {
            let mut doc = new_document("s1", "t", "work", Doc::new());
            doc.set("status", "done");
            doc.set("resultCode", 200);
            let cas = b.store.insert(&key_for("s1"), &doc).unwrap();
            // Somebody else writes after the caller read it.
            store::update(&b.store, &key_for("s1"), |d| {
                d.set("note", "kept");
                Ok(())
            })
            .unwrap();
            let restart = fields(json!({"status": "queued", "resultCode": NO_RESULT}));
            let before = fields(json!({"status": "done", "resultCode": 200}));
            let mut mine = doc.clone();
            mine.extend(restart.clone());
            let job = Enqueue {
                key: key_for("s1"),
                doc: Document::Saved {
                    doc: mine,
                    cas,
                    restart,
                    before,
                },
                put: put("s1", "work"),
            };
            let done = enqueue(&b.store, &b.queue, job).unwrap();
            let reread = done
                .reread
                .expect("the stored document changed: it comes back");
            let stored = b.store.get(&key_for("s1")).unwrap().unwrap().doc;
            assert_eq!(reread, stored);
            assert_eq!(stored.str_field("note"), Some("kept"));
            assert_eq!(stored.str_field("status"), Some("queued"));
            assert_eq!(stored.i64_field("resultCode"), NO_RESULT);
            assert_eq!(
                stored.i64_field("queueJobId"),
                if shared { done.id as i64 } else { 0 }
            );
        }
    }

    #[test]
    fn a_saved_job_whose_put_fails_gets_its_fields_back() {
        for b in backends() {
            let mut doc = new_document("s2", "t", "work", Doc::new());
            doc.set("status", "failed");
            doc.set("queueJobId", 7);
            let cas = b.store.insert(&key_for("s2"), &doc).unwrap();
            let mut mine = doc.clone();
            mine.set("status", "queued");
            let job = Enqueue {
                key: key_for("s2"),
                doc: Document::Saved {
                    doc: mine,
                    cas,
                    restart: fields(json!({"status": "queued"})),
                    before: fields(json!({"status": "failed"})),
                },
                put: put("s2", "bad tube!"),
            };
            assert!(enqueue(&b.store, &b.queue, job).is_err());
            let stored = b.store.get(&key_for("s2")).unwrap().unwrap().doc;
            assert_eq!(stored.str_field("status"), Some("failed"));
            assert_eq!(stored.i64_field("queueJobId"), 7, "the old entry's id back");
            assert_eq!(b.queue.list_tubes().unwrap(), Vec::<String>::new());
        }
    }

    /// Threads enqueueing at once on the embedded default share commits: every job that could
    /// be queued is, with its entry's id, and the ones that could not (a taken key, a bad tube)
    /// fail alone, leaving no entry and no count behind.
    #[test]
    fn enqueues_from_many_threads_at_once_each_commit_or_fail_alone() {
        let b = backends().into_iter().next().unwrap();
        enqueue(&b.store, &b.queue, new_job("taken", "work")).unwrap();
        let results: Vec<(String, Result<Enqueued>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|t| {
                    let (store, queue) = (&b.store, &b.queue);
                    s.spawn(move || {
                        (0..40)
                            .map(|i| {
                                let (uuid, tube) = match (t, i) {
                                    (3, 7) => ("taken".to_owned(), "work"),
                                    (5, 9) => (format!("u{t}-{i}"), "bad tube!"),
                                    _ => (format!("u{t}-{i}"), "work"),
                                };
                                (uuid.clone(), enqueue(store, queue, new_job(&uuid, tube)))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let mut ok = 0;
        for (uuid, result) in &results {
            match result {
                Ok(done) => {
                    ok += 1;
                    let stored = b.store.get(&key_for(uuid)).unwrap().unwrap();
                    assert_eq!(stored.cas, done.cas);
                    assert_eq!(stored.doc.i64_field("queueJobId"), done.id as i64);
                    assert_eq!(b.queue.peek(done.id).unwrap().unwrap().1, queue_body(uuid));
                }
                Err(crate::error::Error::AlreadyExists { .. }) => assert_eq!(uuid, "taken"),
                Err(e) => {
                    assert!(e.to_string().contains("bad tube!"), "{e}");
                    assert!(b.store.get(&key_for(uuid)).unwrap().is_none());
                }
            }
        }
        assert_eq!(ok, 8 * 40 - 2);
        assert_eq!(b.queue.stats_tube("work").unwrap().ready, ok as u64 + 1);
        let counts = b.store.count_by_status().unwrap();
        let queued = counts
            .iter()
            .find(|(s, _)| *s == crate::job::Status::Queued);
        assert_eq!(queued, Some(&(crate::job::Status::Queued, ok as u64 + 1)));
        assert!(counts
            .iter()
            .all(|(s, n)| *s == crate::job::Status::Queued || *n == 0));
    }
}
