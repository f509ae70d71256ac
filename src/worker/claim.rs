//! Claiming a reserved entry: deciding from its document whether it runs, and marking it
//! running. Written once over [`Ops`], so a backend whose store and queue commit together does
//! it inside the step's one transaction.

use super::config::{WorkerConfig, LOG};
use super::mark::{apply_mark, LazyMark};
use super::ops::{self, entry_op, Ops, QueueAction};
use super::orphans::Orphans;
use super::outcome;
use super::unrecorded::Unrecorded;
use crate::clock;
use crate::error::{Error, Result};
use crate::job::cancel;
use crate::job::{self, log_entry, Doc, DocExt, LogList, Status, INTERNAL_ERROR};
use crate::queue::{JobId, Reserved, DEFAULT_PRIORITY};
use crate::store::Cas;

/// A job marked running, ready to run.
pub(crate) struct Job {
    pub entry: Reserved,
    pub uuid: String,
    pub key: String,
    pub job_type: String,
    pub priority: u32,
    pub doc: Doc,
    pub cas: Cas,
    /// Its previous run never recorded an outcome: that worker died, or could not write it.
    pub interrupted: bool,
    /// Why this worker could not write that outcome, when it was this worker (see
    /// [`Unrecorded`]); `None` when the worker that ran it is taken for dead.
    pub lost_outcome: Option<String>,
    /// Claimed in a batch without writing its document: see [`LazyMark`].
    pub lazy: Option<LazyMark>,
}

/// Decides what to do with a reserved entry. Returns the job if it is to run (already marked
/// running), or None if the entry was dealt with: a malformed body is buried; a missing or
/// corrupt document is released with a delay, then buried; an entry for a job that is already
/// finished (cancelled included) is deleted; a job with a cancel request is recorded cancelled
/// and its entry deleted, without running it.
pub(crate) fn claim(
    ops: &mut dyn Ops,
    entry: Reserved,
    config: &WorkerConfig,
    batch: bool,
    unrecorded: &Unrecorded,
    orphans: &Orphans,
) -> Result<Option<Job>> {
    let uuid = match job::uuid_from_body(&entry.body) {
        Ok(u) => u,
        Err(why) => {
            log::error!(target: LOG, "queue job {} in {:?}: {why}; burying it", entry.id, entry.tube);
            entry_op(
                ops.apply(entry.id, DEFAULT_PRIORITY, QueueAction::Bury),
                entry.id,
            )?;
            return Ok(None);
        }
    };
    let key = job::key_for(&uuid);
    // (why it cannot be loaded, whether the store has the document at all)
    let unloadable = match ops.get(&key) {
        Ok(Some(v)) => Err(v),
        Ok(None) => Ok((format!("document {key} does not exist"), false)),
        Err(e @ Error::Corrupt { .. }) => Ok((e.to_string(), true)),
        Err(e) => return Err(e),
    };
    let found = match unloadable {
        Ok((why, exists)) => {
            if exists {
                orphans.document_found();
            }
            let may_bury = exists || orphans.may_bury(&uuid);
            unloadable_entry(ops, &entry, &uuid, &why, config, may_bury)?;
            return Ok(None);
        }
        Err(found) => {
            orphans.document_found();
            found
        }
    };
    let job_type = found.doc.str_field("jobType").unwrap_or("").to_owned();
    let priority = queue_kwarg(&found.doc, "priority")
        .map(|p| p as u32)
        .unwrap_or(DEFAULT_PRIORITY);
    let status = found.doc.status();
    let finished = match status {
        Status::Done | Status::Cancelled => true,
        // A failed job whose entry was buried comes back only when an operator kicks it.
        Status::Failed => !found.doc.bool_field("buried"),
        _ => false,
    };
    if finished {
        log::info!(target: LOG, "job {uuid} ({job_type}) is already {status}; dropping queue entry {}", entry.id);
        entry_op(ops.apply(entry.id, priority, QueueAction::Delete), entry.id)?;
        return Ok(None);
    }
    if cancel::is_requested(&found.doc) {
        // Cancelled while it ran, and the run never recorded an outcome (its worker died or
        // handed it back): it does not run again.
        let now = clock::now_iso();
        ops::update_from(ops, &key, Some(found), |doc| {
            cancel::finish(
                doc,
                &now,
                "Cancelled - its queue entry was dropped without running it",
            );
            Ok(())
        })?;
        log::info!(target: LOG, "job {uuid} ({job_type}) was cancelled; dropping queue entry {} without running it", entry.id);
        entry_op(ops.apply(entry.id, priority, QueueAction::Delete), entry.id)?;
        return Ok(None);
    }
    // Lazily only a plain first claim: a job that ran before, was kicked, or was interrupted
    // goes through the full mark, which also does that bookkeeping.
    if batch
        && status == Status::Queued
        && !found.doc.bool_field("running")
        && match entry.reserves {
            Some(n) => n,
            None => ops.reserves(entry.id)?,
        } == 1
    {
        let lazy = LazyMark {
            attempts_before: found.doc.i64_field("attempts"),
            id: entry.id,
            worker_id: config.worker_id.clone(),
            claimed_at: clock::now_iso(),
        };
        let mut doc = found.doc;
        lazy.apply_if_unmarked(&mut doc);
        return Ok(Some(Job {
            entry,
            uuid,
            key,
            job_type,
            priority,
            doc,
            cas: found.cas,
            interrupted: false,
            lost_outcome: None,
            lazy: Some(lazy),
        }));
    }
    let lost = unrecorded.reason(&uuid);
    let (marked, interrupted) =
        mark_running(ops, &key, entry.id, &config.worker_id, lost.as_deref())?;
    if lost.is_some() {
        unrecorded.forget(&uuid);
    }
    Ok(Some(Job {
        entry,
        uuid,
        key,
        job_type,
        priority,
        doc: marked.doc,
        cas: marked.cas,
        interrupted,
        lost_outcome: lost.filter(|_| interrupted),
        lazy: None,
    }))
}

/// Marks the document running. Also says whether a previous run was interrupted (the document
/// still said running: that worker died before recording an outcome, or, as `lost` says when
/// this worker knows, could not write it). An interrupted run counts as a failed attempt, so a
/// job that kills its worker every time cannot loop forever.
fn mark_running(
    ops: &mut dyn Ops,
    key: &str,
    id: JobId,
    worker_id: &str,
    lost: Option<&str>,
) -> Result<(crate::store::Versioned, bool)> {
    let now = clock::now_iso();
    let mut interrupted = false;
    let v = ops::update(ops, key, |doc| {
        interrupted = doc.bool_field("running");
        if doc.status() == Status::Failed && doc.bool_field("buried") {
            // An operator kicked a job that had run out of retries: it gets a fresh budget.
            doc.set("retries", 0);
            doc.set("resultCode", job::NO_RESULT);
            doc.set("completeness", 0.0);
            doc.set("finishedAt", serde_json::Value::Null);
            doc.set("buried", false);
            doc.push_log(
                LogList::Events,
                log_entry("Kicked by an operator - running again", None),
            );
        }
        if interrupted {
            let (error, event) = match lost {
                Some(why) => (
                    format!("previous run's outcome could not be recorded: {why}"),
                    "Interrupted - its outcome could not be recorded",
                ),
                None => (
                    "previous run was interrupted: its worker died or was killed".to_owned(),
                    "Interrupted - its worker died",
                ),
            };
            outcome::add_error(doc, INTERNAL_ERROR, &error);
            // This run is a retry. Past the budget it does not happen (`Abandon`), which takes
            // the count back.
            let retries = doc.i64_field("retries") + 1;
            doc.set("retries", retries);
            doc.push_log(LogList::Events, log_entry(event, None));
        }
        apply_mark(doc, id, worker_id, &now);
        Ok(())
    })?;
    Ok((v, interrupted))
}

/// An entry whose document is missing or unreadable: offered again after a delay, buried once
/// it has failed to load `max_load_attempts` times. There is no document to write to, so the
/// reason goes to the log.
fn unloadable_entry(
    ops: &mut dyn Ops,
    entry: &Reserved,
    uuid: &str,
    why: &str,
    config: &WorkerConfig,
    may_bury: bool,
) -> Result<()> {
    let reserves = ops.reserves(entry.id).unwrap_or(u64::MAX);
    let action = if may_bury && reserves >= config.max_load_attempts {
        log::error!(target: LOG, "job {uuid}: {why}; failed to load {reserves} times, burying queue entry {}", entry.id);
        QueueAction::Bury
    } else {
        let delay = config.load_retry_delay;
        log::warn!(target: LOG, "job {uuid}: {why}; releasing queue entry {} for {delay} s", entry.id);
        QueueAction::Release { delay }
    };
    entry_op(ops.apply(entry.id, DEFAULT_PRIORITY, action), entry.id)
}

/// A value from the document's `queueKwargs` (what the job was put with).
pub(crate) fn queue_kwarg(doc: &Doc, name: &str) -> Option<u64> {
    doc.get("queueKwargs")?.get(name)?.as_u64()
}
