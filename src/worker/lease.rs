//! The lease on a running job: what the keeper knows of it, and how often it renews the lease
//! and looks for a cancel request.

use super::mark::LazyMark;
use super::outcome::Policy;
use crate::progress::RunContext;
use crate::queue::JobId;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The keeper's view of the job being run.
pub(crate) struct Lease {
    pub id: JobId,
    pub uuid: String,
    pub job_type: String,
    pub ttr: u32,
    pub priority: u32,
    pub policy: Policy,
    pub ctx: Arc<RunContext>,
    pub started: Instant,
    /// Claimed without writing its document (see `LazyMark`): marked once it runs past the hold.
    pub lazy: Option<LazyMark>,
}

/// Lease renewal interval: a third of the TTR, so two renewals can fail before the lease goes.
pub(crate) fn touch_interval(ttr: u32) -> Duration {
    Duration::from_secs_f64((f64::from(ttr.max(1)) / 3.0).max(0.2))
}

/// The longest a running job goes without its document being read for a cancel request.
pub(crate) const CANCEL_CHECK: Duration = Duration::from_secs(1);

/// How stale the keeper lets its knowledge of a cancel request get: at every lease renewal at
/// the latest, and at least every [`CANCEL_CHECK`] (a read of one document: cheap next to the
/// run it may save). A job that reports progress has its document read by every progress write
/// (within 50 ms of a report), so no extra read is made for it. Once the request is seen, the
/// keeper stops the job through the runner's interrupt (within one keeper tick, 20 ms), and every
/// report the job makes raises. So a running job stops within `min(TTR / 3, 1 s)` plus a tick of
/// the request, or sooner if it reports.
pub(crate) fn cancel_check_interval(ttr: u32) -> Duration {
    touch_interval(ttr).min(CANCEL_CHECK)
}
