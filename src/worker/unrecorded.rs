//! Outcomes this worker could not write. The entry is released to run again after the
//! load-retry delay (or, if even that fails, it comes back after its TTR), and the worker notes
//! why: when it claims the job again and finds its document still saying running, it says the
//! last outcome was lost, and why, instead of taking the last run's worker for dead.

use super::config::LOG;
use crate::error::Error;
use crate::queue::{JobId, Queue};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// More notes than this and the oldest are forgotten: only their log lines say less.
const MAX_NOTES: usize = 10_000;

#[derive(Clone)]
pub(crate) struct Unrecorded {
    retry_delay: u32,
    notes: Arc<Mutex<HashMap<String, String>>>,
}

/// The job whose outcome was not written, as the log names it.
pub(crate) struct Unwritten<'a> {
    pub id: JobId,
    pub priority: u32,
    pub uuid: &'a str,
    pub job_type: &'a str,
}

impl Unrecorded {
    pub fn new(retry_delay: u32) -> Unrecorded {
        Unrecorded {
            retry_delay,
            notes: Arc::default(),
        }
    }

    /// The outcome of `job` could not be written: its entry is released with the delay, so the
    /// job runs again rather than being lost, and the reason is noted for that run.
    pub fn release(&self, queue: &dyn Queue, job: Unwritten<'_>, why: &Error) {
        log::error!(target: LOG, "job {} ({}): outcome not recorded ({why}); releasing it to run again", job.uuid, job.job_type);
        {
            let mut notes = self.notes.lock().unwrap_or_else(|p| p.into_inner());
            if notes.len() >= MAX_NOTES {
                notes.clear();
            }
            notes.insert(job.uuid.to_owned(), why.to_string());
        }
        if let Err(e) = queue.release(job.id, job.priority, self.retry_delay) {
            log::error!(target: LOG, "queue job {}: {e} (it returns to the queue after its TTR)", job.id);
        }
    }

    /// Why the last run of `uuid` on this worker left no outcome, if that is what happened.
    pub fn reason(&self, uuid: &str) -> Option<String> {
        self.notes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(uuid)
            .cloned()
    }

    /// The job was claimed again: the note has been told.
    pub fn forget(&self, uuid: &str) {
        self.notes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uuid);
    }
}
