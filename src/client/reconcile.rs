//! Putting back jobs whose queue entries were lost: a beanstalkd restarted without its binlog
//! (`-b`) forgets every entry, and their documents go on saying `queued` or `waiting`, seen by
//! no worker, with nothing to say so.
//!
//! A pass looks at the documents that say queued or waiting and were last written more than
//! `older_than` ago (a younger one's put may be on its way). One whose recorded entry
//! (`queueJobId`) is still on the queue, holding its uuid, is left alone. One whose entry is
//! gone is put back:
//! - first the document is claimed for it, by a compare-and-swap that sets `queueJobId` to
//!   [`REQUEUEING`]; of two passes at once only one wins, so a job is never put twice while its
//!   entry exists;
//! - then the put, and the new entry's id recorded.
//!
//! A document without an entry id cannot be checked entry by entry: on a server queue a job's
//! id is filled in when a worker takes it (an enqueue writes the document once, before the put),
//! and a requeue a pass began has none either. It is taken for lost when
//! - the queue forgot everything put before some moment (a beanstalkd restarted without a
//!   binlog) and the document was last written more than `older_than` before it (the time a
//!   put may still take after its document was written, as above); or
//! - its tube holds no entries at all.

use crate::clock;
use crate::error::{Error, Result};
use crate::job::{queue_body, Doc, DocExt, Status};
use crate::queue::{JobId, PutRequest, Queue, DEFAULT_PRIORITY};
use crate::store::{self, ListQuery, Store};
use std::collections::HashMap;
use std::time::Duration;

/// `queueJobId` while a pass puts the job back.
pub const REQUEUEING: i64 = -1;
/// Documents read per page.
const PAGE: usize = 500;

/// What a pass found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Documents saying queued or waiting, old enough to look at.
    pub checked: usize,
    /// Of those, the uuids whose entries were gone.
    pub lost: Vec<String>,
    /// How many of the lost were put back (none on a dry run).
    pub requeued: usize,
}

/// One pass (see the module's docs). A dry run only reports.
pub fn reconcile(
    store: &dyn Store,
    queue: &dyn Queue,
    older_than: Duration,
    dry_run: bool,
) -> Result<Report> {
    let cutoff = clock::iso_before(older_than);
    let mut report = Report::default();
    // Per tube: whether it held any entry when the pass began to look (asked once per pass,
    // before anything is put back, which would fill the tube).
    let mut tube_has_entries: HashMap<String, bool> = HashMap::new();
    let forgotten = queue
        .forgot_before()?
        .map(|t| clock::iso_at(t - older_than.as_secs_f64()));
    let mut lost = Vec::new();
    for status in [Status::Queued, Status::Waiting] {
        let mut after = None;
        loop {
            let page = store.list(&ListQuery {
                status: Some(status),
                job_type: None,
                limit: PAGE,
                after: after.clone(),
            })?;
            for (key, doc) in &page.items {
                if doc
                    .str_field("updatedAt")
                    .is_some_and(|t| t > cutoff.as_str())
                {
                    continue;
                }
                report.checked += 1;
                if is_lost(queue, doc, forgotten.as_deref(), &mut tube_has_entries)? {
                    lost.push((key.clone(), doc.clone()));
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    // Looked at all first, put back after: a tube this pass fills must not look kept.
    for (key, doc) in lost {
        if !dry_run && put_back(store, queue, &key, &doc)? {
            report.requeued += 1;
        }
        report
            .lost
            .push(doc.str_field("uuid").unwrap_or_default().to_owned());
    }
    Ok(report)
}

/// Whether the document's entry is gone from the queue. `forgotten`: documents last written
/// before this time have no entry, if they name none.
fn is_lost(
    queue: &dyn Queue,
    doc: &Doc,
    forgotten: Option<&str>,
    tubes: &mut HashMap<String, bool>,
) -> Result<bool> {
    let uuid = doc.str_field("uuid").unwrap_or_default();
    let id = doc.i64_field("queueJobId");
    if id > 0 {
        return Ok(match queue.peek(id as JobId)? {
            Some((_, body)) => body != queue_body(uuid),
            None => true,
        });
    }
    if let (Some(forgotten), Some(written)) = (forgotten, doc.str_field("updatedAt")) {
        if written < forgotten {
            return Ok(true);
        }
    }
    let tube = doc.str_field("queueName").unwrap_or_default().to_owned();
    if let Some(has) = tubes.get(&tube) {
        return Ok(!has);
    }
    let stats = queue.stats_tube(&tube)?;
    let has = stats.ready + stats.reserved + stats.delayed + stats.buried > 0;
    tubes.insert(tube, has);
    Ok(!has)
}

/// The put that queues the job a document describes: its tube, its uuid, and the priority and
/// TTR it was enqueued with (`queueKwargs`), with no delay.
pub(crate) fn put_request(doc: &Doc) -> PutRequest {
    let kwarg = |name: &str| {
        doc.get("queueKwargs")
            .and_then(|k| k.get(name))
            .and_then(|v| v.as_u64())
    };
    PutRequest {
        tube: doc.str_field("queueName").unwrap_or_default().to_owned(),
        body: queue_body(doc.str_field("uuid").unwrap_or_default()),
        priority: kwarg("priority").map_or(DEFAULT_PRIORITY, |p| p as u32),
        delay: 0,
        ttr: kwarg("ttr").map_or(crate::job::DEFAULT_TTR, |t| t as u32),
    }
}

/// Claims the document for the requeue, puts its entry and records the id. False if another
/// writer changed the document first (another pass, or a worker): it is left to them.
fn put_back(store: &dyn Store, queue: &dyn Queue, key: &str, seen: &Doc) -> Result<bool> {
    let seen_id = seen.i64_field("queueJobId");
    let mut ours = true;
    let claimed = store::update(store, key, |doc| {
        let still = matches!(doc.status(), Status::Queued | Status::Waiting)
            && doc.i64_field("queueJobId") == seen_id;
        ours = still;
        if still {
            doc.set("queueJobId", REQUEUEING);
            doc.set("updatedAt", clock::now_iso());
        }
        Ok(())
    });
    match claimed {
        Ok(_) if ours => {}
        Ok(_) | Err(Error::DocNotFound { .. }) => return Ok(false),
        Err(e) => return Err(e),
    }
    let uuid = seen.str_field("uuid").unwrap_or_default();
    let id = queue.put(&put_request(seen))?;
    store::update(store, key, |doc| {
        if doc.i64_field("queueJobId") == REQUEUEING {
            doc.set("queueJobId", id);
        }
        Ok(())
    })?;
    log::warn!(target: "zeroG.reconcile", "job {uuid}: its queue entry was lost; put back as queue job {id}");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::bulk::{BulkEnqueue, NewJob};
    use crate::client::enqueue::{enqueue, Document, Enqueue};
    use crate::embedded::{EmbeddedQueue, SqliteStore};
    use crate::job::{key_for, new_document, EncodedDoc};
    use std::sync::Arc;

    const TUBE: &str = "rc";

    /// The store and the queue in files of their own, so entries can go without documents.
    fn backend() -> (tempfile::TempDir, Arc<dyn Store>, Arc<dyn Queue>) {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&dir.path().join("docs.db")).unwrap());
        let queue: Arc<dyn Queue> =
            Arc::new(EmbeddedQueue::open(&dir.path().join("queue.db")).unwrap());
        (dir, store, queue)
    }

    fn put(uuid: &str) -> PutRequest {
        PutRequest {
            tube: TUBE.into(),
            body: queue_body(uuid),
            priority: 5,
            delay: 0,
            ttr: 60,
        }
    }

    /// A job enqueued and its entry's id recorded, as the worker that takes it would.
    fn enqueue_one(store: &dyn Store, queue: &dyn Queue, uuid: &str) -> JobId {
        let mut doc = new_document(uuid, "t", TUBE, Doc::new());
        doc.remove("queueJobId");
        doc.remove("updatedAt");
        let job = Enqueue {
            key: key_for(uuid),
            doc: Document::New(EncodedDoc::of(&key_for(uuid), &doc).unwrap()),
            put: put(uuid),
        };
        let id = enqueue(store, queue, job).unwrap().id;
        store::update(store, &key_for(uuid), |d| {
            d.set("queueJobId", id);
            Ok(())
        })
        .unwrap();
        id
    }

    fn entry_holds(queue: &dyn Queue, store: &dyn Store, uuid: &str) -> bool {
        let doc = store.get(&key_for(uuid)).unwrap().unwrap().doc;
        let id = doc.i64_field("queueJobId");
        id > 0
            && queue
                .peek(id as JobId)
                .unwrap()
                .is_some_and(|(_, b)| b == queue_body(uuid))
    }

    #[test]
    fn lost_entries_are_put_back_once_and_the_others_left_alone() {
        let (_dir, store, queue) = backend();
        let ids: Vec<JobId> = ["a", "b", "c"]
            .iter()
            .map(|u| enqueue_one(&*store, &*queue, u))
            .collect();
        queue.delete(ids[0]).unwrap();
        queue.delete(ids[2]).unwrap();
        let dry = reconcile(&*store, &*queue, Duration::ZERO, true).unwrap();
        assert_eq!(
            (dry.checked, dry.lost.clone(), dry.requeued),
            (3, vec!["a".into(), "c".into()], 0)
        );
        assert!(
            !entry_holds(&*queue, &*store, "a"),
            "a dry run changes nothing"
        );
        let done = reconcile(&*store, &*queue, Duration::ZERO, false).unwrap();
        assert_eq!((done.lost.len(), done.requeued), (2, 2));
        for u in ["a", "b", "c"] {
            assert!(entry_holds(&*queue, &*store, u), "{u}");
        }
        assert_eq!(queue.stats_tube(TUBE).unwrap().ready, 3);
        // Never twice: the entries are there now.
        let again = reconcile(&*store, &*queue, Duration::ZERO, false).unwrap();
        assert_eq!((again.checked, again.lost.len()), (3, 0));
        assert_eq!(queue.stats_tube(TUBE).unwrap().ready, 3);
        // A document younger than the cut-off is not looked at (its put may be on its way).
        let young = reconcile(&*store, &*queue, Duration::from_secs(3600), false).unwrap();
        assert_eq!(young.checked, 0);
    }

    #[test]
    fn jobs_without_an_entry_id_are_lost_only_when_their_tube_is_empty() {
        let (_dir, store, queue) = backend();
        let mut bulk = BulkEnqueue::new(store.clone(), queue.clone());
        bulk.submit(
            ["x", "y"]
                .iter()
                .map(|u| NewJob {
                    key: key_for(u),
                    doc: EncodedDoc::of(&key_for(u), &new_document(u, "t", TUBE, Doc::new()))
                        .unwrap(),
                    put: put(u),
                })
                .collect(),
        );
        let out = bulk.finish();
        assert!(out.error.is_none());
        // A job with an entry id beside them: put back in the same pass, it must not make the
        // tube look kept.
        let single = enqueue_one(&*store, &*queue, "s");
        let kept = reconcile(&*store, &*queue, Duration::ZERO, false).unwrap();
        assert_eq!((kept.checked, kept.lost.len()), (3, 0));
        for (id, _) in out.queued.iter().flatten() {
            queue.delete(*id).unwrap();
        }
        queue.delete(single).unwrap();
        let back = reconcile(&*store, &*queue, Duration::ZERO, false).unwrap();
        assert_eq!((back.lost.len(), back.requeued), (3, 3));
        for u in ["x", "y", "s"] {
            assert!(entry_holds(&*queue, &*store, u), "{u}");
        }
    }
}
