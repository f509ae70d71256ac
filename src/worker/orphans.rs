//! Entries whose documents the worker's store does not have.
//!
//! Once this worker has found the document of some entry, its store is the producers' store,
//! and an entry without one is an orphan (its document was deleted, or its put's reply was
//! lost): it is offered again a few times, then buried. Until then the worker may be on the
//! wrong store, with producers writing to another one: every entry looks orphaned, and burying
//! them would take other stores' jobs away for good. So such an entry is only released, never
//! buried, and the worker says loudly that its store may be the wrong one.

use super::config::LOG;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// After this many entries without documents in a row, the warning is logged once every this
/// many more: loud, but not a line per entry.
const LOG_EVERY: u64 = 100;

#[derive(Default)]
pub(crate) struct Orphans {
    store_confirmed: AtomicBool,
    unconfirmed_misses: AtomicU64,
}

impl Orphans {
    /// An entry's document was in the store: the store is the producers'.
    pub fn document_found(&self) {
        self.store_confirmed.store(true, Ordering::Relaxed);
    }

    /// Whether an entry without a document may be buried: only once the store is confirmed.
    /// Otherwise the miss is counted and, now and then, logged as a likely misconfiguration.
    pub fn may_bury(&self, uuid: &str) -> bool {
        if self.store_confirmed.load(Ordering::Relaxed) {
            return true;
        }
        let n = self.unconfirmed_misses.fetch_add(1, Ordering::Relaxed) + 1;
        if n <= 3 || n.is_multiple_of(LOG_EVERY) {
            log::error!(target: LOG, "job {uuid}: no document in this worker's store, and none found yet for any entry ({n} so far): is this the store the producers use? Its entries are released, not buried, so a worker with the right store can run them");
        }
        false
    }
}
