//! The queue interface, with beanstalkd's semantics because beanstalkd is the production queue.
//!
//! A `Queue` value is one connection. Jobs it reserves belong to it: only it can release, bury,
//! touch or delete them while they are reserved. A reservation is a lease of `ttr` seconds: a job
//! that is not deleted, released or touched in time goes back to ready and counts a timeout.
//! Dropping the connection returns its reservations at once, as beanstalkd does.

pub mod beanstalk;
pub mod conformance;
mod joint;
mod tube;

pub use beanstalk::{BeanstalkQueue, ShardedQueue};
pub use joint::{Joint, JointPart, JointTxn, Seen};
pub use tube::validate_tube_name;

use crate::error::{Error, Result};
use std::time::Duration;

pub type JobId = u64;

/// beanstalkd's default priority, the middle of the u32 range; lower runs first.
pub const DEFAULT_PRIORITY: u32 = 1 << 31;

/// One job to put: body, priority, delay and time-to-run in seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PutRequest {
    pub tube: String,
    pub body: Vec<u8>,
    pub priority: u32,
    pub delay: u32,
    pub ttr: u32,
}

/// A job handed to this connection by `reserve`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reserved {
    pub id: JobId,
    pub tube: String,
    pub body: Vec<u8>,
    /// How many times the job has been reserved, this time included, when the backend told it
    /// with the reservation (saving the worker a stats-job); `None` if it did not.
    pub reserves: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    Ready,
    Delayed,
    Reserved,
    Buried,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Ready => "ready",
            JobState::Delayed => "delayed",
            JobState::Reserved => "reserved",
            JobState::Buried => "buried",
        }
    }
}

/// beanstalkd's `stats-job`: the counters zeroG's retry accounting reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobStats {
    pub id: JobId,
    pub tube: String,
    pub state: JobState,
    pub priority: u32,
    /// Seconds since the job was put.
    pub age: u64,
    /// The delay it was put or released with, in seconds.
    pub delay: u32,
    pub ttr: u32,
    /// Seconds left on the lease (reserved) or until ready (delayed); 0 otherwise.
    pub time_left: u64,
    pub reserves: u64,
    pub timeouts: u64,
    pub releases: u64,
    pub buries: u64,
    pub kicks: u64,
}

/// beanstalkd's `stats-tube` counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TubeStats {
    pub name: String,
    pub ready: u64,
    pub reserved: u64,
    pub delayed: u64,
    pub buried: u64,
    /// Connections waiting on the tube (beanstalkd's `current-watching`): a worker's control
    /// tube has one while the worker lives.
    pub watching: u64,
}

pub trait Queue: Send + Sync {
    /// Puts a job and returns its id.
    fn put(&self, job: &PutRequest) -> Result<JobId>;
    /// Puts many jobs, as one batch where the backend can; ids in order. A batch that fails
    /// with some of its jobs queued is [`Error::PartlyPut`], which names them.
    fn put_many(&self, jobs: &[PutRequest]) -> Result<Vec<JobId>> {
        put_one_by_one(jobs, |j| self.put(j))
    }
    /// Waits up to `timeout` for a ready job in any of `tubes` (lowest priority value first, then
    /// oldest) and reserves it for this connection. `None` when the time runs out; a zero timeout
    /// polls once.
    fn reserve(&self, tubes: &[String], timeout: Duration) -> Result<Option<Reserved>>;

    /// Deletes jobs this connection holds; one result per id, in order. A backend that can
    /// send them in one exchange overrides it.
    fn delete_many(&self, ids: &[JobId]) -> Vec<Result<()>> {
        ids.iter().map(|&id| self.delete(id)).collect()
    }

    /// Reserves up to `n` jobs: waits up to `timeout` for the first, then takes what is ready
    /// at once. A backend that can ask for several in one exchange overrides it.
    fn reserve_many(&self, tubes: &[String], n: usize, timeout: Duration) -> Result<Vec<Reserved>> {
        let mut out = Vec::new();
        let Some(first) = self.reserve(tubes, timeout)? else {
            return Ok(out);
        };
        out.push(first);
        while out.len() < n {
            match self.reserve(tubes, Duration::ZERO)? {
                Some(r) => out.push(r),
                None => break,
            }
        }
        Ok(out)
    }
    /// Deletes a job that is ready, delayed, buried, or reserved by this connection.
    fn delete(&self, id: JobId) -> Result<()>;
    /// Returns a job reserved by this connection to ready, or delayed by `delay` seconds.
    fn release(&self, id: JobId, priority: u32, delay: u32) -> Result<()>;
    /// Buries a job reserved by this connection; only a kick brings it back.
    fn bury(&self, id: JobId, priority: u32) -> Result<()>;
    /// Renews the lease on a job reserved by this connection: a full `ttr` from now.
    fn touch(&self, id: JobId) -> Result<()>;
    /// Kicks up to `bound` jobs in `tube`: buried ones if there are any, otherwise delayed ones.
    fn kick(&self, tube: &str, bound: u64) -> Result<u64>;
    /// Kicks one buried or delayed job.
    fn kick_job(&self, id: JobId) -> Result<()>;
    /// Any job by id, whatever its state and tube.
    fn peek(&self, id: JobId) -> Result<Option<(JobId, Vec<u8>)>>;
    /// The next job that `reserve` would hand out from `tube`.
    fn peek_ready(&self, tube: &str) -> Result<Option<(JobId, Vec<u8>)>>;
    /// The delayed job in `tube` that becomes ready soonest.
    fn peek_delayed(&self, tube: &str) -> Result<Option<(JobId, Vec<u8>)>>;
    /// The buried job in `tube` that the next kick would bring back.
    fn peek_buried(&self, tube: &str) -> Result<Option<(JobId, Vec<u8>)>>;
    fn stats_job(&self, id: JobId) -> Result<JobStats>;
    /// Counts for one tube; a tube with no jobs has all zeroes.
    fn stats_tube(&self, tube: &str) -> Result<TubeStats>;
    /// The tubes that hold jobs.
    fn list_tubes(&self) -> Result<Vec<String>>;
    /// The largest body a put accepts.
    fn max_job_size(&self) -> usize;
    /// This queue's one-transaction path with the documents, if it has one (see [`Joint`]).
    fn joint(&self) -> Option<&dyn Joint> {
        None
    }
    /// Whether a reserve waits on a server in whole seconds (beanstalkd's `reserve-with-timeout`)
    /// and serves a shorter wait by polling: a worker then waits a whole second at a time.
    fn waits_in_whole_seconds(&self) -> bool {
        true
    }
    /// Seconds since the epoch before which every entry put is gone: the queue's server
    /// started then and keeps nothing across a restart (beanstalkd without a binlog). None for
    /// a queue that keeps its entries, or cannot tell. Reconciling asks it about documents that
    /// name no entry.
    fn forgot_before(&self) -> Result<Option<f64>> {
        Ok(None)
    }
}

/// `put_many` for a backend without batches: each job in turn, stopping at the first failure.
pub fn put_one_by_one(
    jobs: &[PutRequest],
    mut put: impl FnMut(&PutRequest) -> Result<JobId>,
) -> Result<Vec<JobId>> {
    let mut parts = Vec::with_capacity(jobs.len());
    for job in jobs {
        let r = put(job).map(|id| vec![id]);
        let failed = r.is_err();
        parts.push((1, r));
        if failed {
            break;
        }
    }
    join_parts(jobs.len(), parts)
}

/// Joins the outcomes of a batch put in parts, in order, `(jobs in the part, outcome)`; jobs
/// after the last part given were not tried. The ids if every job was queued; else the first
/// error, as [`Error::PartlyPut`] if any job was queued, or may have been (a part that broke
/// off with its fate unknown), and plain only if the batch is known not queued at all.
pub(crate) fn join_parts(
    total: usize,
    parts: impl IntoIterator<Item = (usize, Result<Vec<JobId>>)>,
) -> Result<Vec<JobId>> {
    let mut put = Vec::with_capacity(total);
    let mut first_error = None;
    let mut uncertain = false;
    for (len, r) in parts {
        match r {
            Ok(ids) => put.extend(ids.into_iter().map(Some)),
            Err(Error::PartlyPut { put: some, cause }) => {
                put.extend(some);
                first_error.get_or_insert(*cause);
                uncertain = true;
            }
            Err(e) => {
                put.extend(std::iter::repeat_n(None, len));
                first_error.get_or_insert(e);
            }
        }
    }
    put.resize(total, None);
    match first_error {
        None => Ok(put.into_iter().flatten().collect()),
        Some(cause) if uncertain => Err(Error::PartlyPut {
            put,
            cause: Box::new(cause),
        }),
        Some(e) => Err(Error::partly_put(put, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(n: usize) -> Vec<PutRequest> {
        (0..n)
            .map(|i| PutRequest {
                tube: "t".into(),
                body: vec![i as u8],
                priority: DEFAULT_PRIORITY,
                delay: 0,
                ttr: 60,
            })
            .collect()
    }

    fn refused() -> Error {
        Error::Invalid("refused".into())
    }

    /// The first `ok` puts succeed with id 100 + i; the next fails with `fail`.
    fn run(n: usize, ok: usize, fail: impl Fn() -> Error) -> Result<Vec<JobId>> {
        put_one_by_one(&jobs(n), |j| match j.body[0] as usize {
            i if i < ok => Ok(100 + i as JobId),
            _ => Err(fail()),
        })
    }

    #[test]
    fn a_failure_after_some_puts_names_them() {
        assert_eq!(run(3, 3, refused).unwrap(), vec![100, 101, 102]);
        match run(4, 2, refused) {
            Err(Error::PartlyPut { put, cause }) => {
                assert_eq!(put, vec![Some(100), Some(101), None, None]);
                assert!(matches!(*cause, Error::Invalid(_)));
            }
            other => panic!("{other:?}"),
        }
        // Nothing queued: the plain error, so the batch may be tried elsewhere.
        assert!(matches!(run(2, 0, refused), Err(Error::Invalid(_))));
    }

    #[test]
    fn a_put_that_broke_off_keeps_the_batch_uncertain() {
        let broke = || Error::PartlyPut {
            put: vec![None],
            cause: Box::new(refused()),
        };
        // Even with nothing known queued, the batch is not reported as plainly refused.
        for ok in [0, 1] {
            match run(3, ok, broke) {
                Err(Error::PartlyPut { put, cause }) => {
                    assert_eq!(put.len(), 3);
                    assert_eq!(put.iter().flatten().count(), ok);
                    assert!(matches!(*cause, Error::Invalid(_)), "{cause:?}");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
