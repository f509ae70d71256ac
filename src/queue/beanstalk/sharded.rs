//! `ShardedQueue`: several beanstalkd servers used as one queue, which is how beanstalkd scales
//! out. The servers know nothing of each other, so the sharding is the client's:
//!
//! - puts go round robin over the servers, and a server that is down or draining is skipped;
//! - reserves ask every server in turn, starting one further each time so none is starved;
//! - a job id names its server: the server's own id shifted left by [`SHARD_BITS`], with the
//!   server's place in the URL in the low bits. Everything done to a job by id (delete, touch,
//!   release, bury, kick, peek, stats) goes to that server, on the connection that reserved it.
//!
//! What one server cannot give across several: priority and FIFO order hold among the jobs of
//! each server, not across them. And an idle wait polls every [`POLL_INTERVAL`] rather than
//! blocking on one server: beanstalkd's blocking reserve counts whole seconds and cannot be
//! taken back, so blocking on one server would leave a job put on another waiting up to a
//! second (a poll is one small request per server).

use super::client::ClientConfig;
use super::queue::{BeanstalkQueue, POLL_INTERVAL};
use crate::error::{Error, QueueErrorKind, Result};
use crate::queue::{
    join_parts, put_one_by_one, validate_tube_name, JobId, JobStats, PutRequest, Queue, Reserved,
    TubeStats,
};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Low bits of a job id that name its server; so at most 2^SHARD_BITS servers.
pub const SHARD_BITS: u32 = 8;
const MAX_SHARDS: usize = 1 << SHARD_BITS;

pub struct ShardedQueue {
    shards: Vec<BeanstalkQueue>,
    next_put: AtomicUsize,
    next_reserve: AtomicUsize,
}

impl ShardedQueue {
    /// Connects to every server. Those that cannot be reached now are tried again later, as
    /// long as one can: a queue with one server down still takes and hands out jobs.
    pub fn connect(servers: &[(String, u16)]) -> Result<Self> {
        if servers.is_empty() || servers.len() > MAX_SHARDS {
            return Err(Error::Config(format!(
                "a sharded beanstalkd queue has 1 to {MAX_SHARDS} servers, not {}",
                servers.len()
            )));
        }
        let mut shards = Vec::with_capacity(servers.len());
        let mut failures = Vec::new();
        for (host, port) in servers {
            let shard = BeanstalkQueue::unconnected(host, *port, ClientConfig::default())?;
            if let Err(e) = shard.ensure_connected() {
                log::warn!(target: "zeroG.queue", "{e}; using the other servers until it answers");
                failures.push(e.to_string());
            }
            shards.push(shard);
        }
        if failures.len() == shards.len() {
            return Err(Error::Queue {
                server: servers
                    .iter()
                    .map(|(h, p)| format!("{h}:{p}"))
                    .collect::<Vec<_>>()
                    .join(","),
                kind: QueueErrorKind::Connection,
                detail: format!("no server can be reached: {}", failures.join("; ")),
            });
        }
        Ok(ShardedQueue {
            shards,
            next_put: AtomicUsize::new(0),
            next_reserve: AtomicUsize::new(0),
        })
    }

    pub fn servers(&self) -> Vec<String> {
        self.shards.iter().map(|s| s.server()).collect()
    }

    /// The servers worth asking now, with their places, each call starting one further round.
    /// A server that failed lately is left out until its backoff runs out (asking it would wait
    /// for that).
    fn rotation(&self, counter: &AtomicUsize) -> impl Iterator<Item = (usize, &BeanstalkQueue)> {
        let n = self.shards.len();
        let start = counter.fetch_add(1, Ordering::Relaxed) % n;
        (0..n)
            .map(move |i| (start + i) % n)
            .map(|shard| (shard, &self.shards[shard]))
            .filter(|(_, q)| !q.is_backing_off())
    }

    /// The server holding a job, and its id there.
    fn locate(&self, id: JobId) -> Result<(usize, &BeanstalkQueue, JobId)> {
        let shard = (id & (MAX_SHARDS as u64 - 1)) as usize;
        match self.shards.get(shard) {
            Some(q) => Ok((shard, q, id >> SHARD_BITS)),
            None => Err(Error::JobNotFound { id }),
        }
    }

    /// Runs `op` on the server holding job `id`, with ids in its errors made global again.
    fn on_job<T>(
        &self,
        id: JobId,
        op: impl FnOnce(&BeanstalkQueue, JobId) -> Result<T>,
    ) -> Result<T> {
        let (shard, q, local) = self.locate(id)?;
        op(q, local).map_err(|e| global_error(e, shard))
    }

    /// Puts `jobs` on one server, or on the next ones in turn while servers are unavailable.
    /// A batch partly put is not tried elsewhere: its jobs whose fate is unknown could then be
    /// queued twice.
    fn put_on_some(&self, jobs: &[PutRequest]) -> Result<Vec<JobId>> {
        let mut last = None;
        for (shard, q) in self.rotation(&self.next_put) {
            match q.put_many(jobs) {
                Ok(ids) => return ids.into_iter().map(|id| global_id(id, shard)).collect(),
                Err(e) if unavailable(&e) => {
                    log::warn!(target: "zeroG.queue", "{e}; putting on another server");
                    last = Some(e);
                }
                Err(Error::PartlyPut { put, cause }) => {
                    let put = put
                        .into_iter()
                        .map(|id| id.map(|id| global_id(id, shard)).transpose())
                        .collect::<Result<_>>()?;
                    return Err(Error::PartlyPut { put, cause });
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| self.none_reachable()))
    }

    fn none_reachable(&self) -> Error {
        Error::Queue {
            server: self.servers().join(","),
            kind: QueueErrorKind::Connection,
            detail: "no server can be reached now (each failed lately; retrying with backoff)"
                .into(),
        }
    }

    /// One pass over the servers: the first job any of them has ready. An unavailable server
    /// is skipped; only if every one is does the pass fail.
    fn sweep(&self, tubes: &[String]) -> Result<Option<Reserved>> {
        let mut answered = false;
        let mut last = None;
        for (shard, q) in self.rotation(&self.next_reserve) {
            match q.reserve(tubes, Duration::ZERO) {
                Ok(Some(r)) => return global_reserved(r, shard).map(Some),
                Ok(None) => answered = true,
                Err(e) if unavailable(&e) => {
                    log::warn!(target: "zeroG.queue", "{e}; reserving from the other servers");
                    last = Some(e);
                }
                Err(e) => return Err(global_error(e, shard)),
            }
        }
        if answered {
            Ok(None)
        } else {
            Err(last.unwrap_or_else(|| self.none_reachable()))
        }
    }
}

/// Errors that mean "try another server": it cannot be reached, or it takes no new jobs.
fn unavailable(e: &Error) -> bool {
    matches!(
        e,
        Error::Queue {
            kind: QueueErrorKind::Connection | QueueErrorKind::Draining,
            ..
        }
    )
}

fn global_id(local: JobId, shard: usize) -> Result<JobId> {
    if local >> (64 - SHARD_BITS) != 0 {
        return Err(Error::Invalid(format!(
            "job id {local} is too large to be shared out over several servers"
        )));
    }
    Ok(local << SHARD_BITS | shard as u64)
}

fn global_error(e: Error, shard: usize) -> Error {
    match e {
        Error::JobNotFound { id } => Error::JobNotFound {
            id: global_id(id, shard).unwrap_or(id),
        },
        e => e,
    }
}

fn global_reserved(r: Reserved, shard: usize) -> Result<Reserved> {
    Ok(Reserved {
        id: global_id(r.id, shard)?,
        ..r
    })
}

fn global_found(f: Option<(JobId, Vec<u8>)>, shard: usize) -> Result<Option<(JobId, Vec<u8>)>> {
    f.map(|(id, body)| Ok((global_id(id, shard)?, body)))
        .transpose()
}

impl Queue for ShardedQueue {
    fn put(&self, job: &PutRequest) -> Result<JobId> {
        Ok(self.put_on_some(std::slice::from_ref(job))?[0])
    }

    /// Dealt out over the servers in runs (each run one pipelined exchange), the runs sent to
    /// the servers at once; ids in the order of `jobs`.
    fn put_many(&self, jobs: &[PutRequest]) -> Result<Vec<JobId>> {
        // Checked first for the whole batch, so that a bad job means nothing is put anywhere.
        let limit = self.max_job_size();
        for job in jobs {
            validate_tube_name(&job.tube)?;
            if job.body.len() > limit {
                return Err(Error::JobTooBig {
                    size: job.body.len(),
                    limit,
                });
            }
        }
        let n = self.shards.len();
        if jobs.len() < 2 * n {
            return put_one_by_one(jobs, |j| self.put(j));
        }
        let run = jobs.len().div_ceil(n);
        let results: Vec<Result<Vec<JobId>>> = std::thread::scope(|s| {
            let handles: Vec<_> = jobs
                .chunks(run)
                .map(|part| s.spawn(move || self.put_on_some(part)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a put thread panicked"))
                .collect()
        });
        // Parts on other servers may have been queued while one failed: say which.
        join_parts(jobs.len(), jobs.chunks(run).map(<[_]>::len).zip(results))
    }

    fn reserve(&self, tubes: &[String], timeout: Duration) -> Result<Option<Reserved>> {
        for t in tubes {
            validate_tube_name(t)?;
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.sweep(tubes)? {
                return Ok(Some(r));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            std::thread::sleep(left.min(POLL_INTERVAL));
        }
    }

    /// The first job as `reserve` waits for it; then what the servers have ready, each asked
    /// in one pipelined exchange.
    fn reserve_many(&self, tubes: &[String], n: usize, timeout: Duration) -> Result<Vec<Reserved>> {
        let Some(first) = self.reserve(tubes, timeout)? else {
            return Ok(Vec::new());
        };
        let mut out = vec![first];
        for (shard, q) in self.rotation(&self.next_reserve) {
            if out.len() >= n {
                break;
            }
            match q.reserve_many(tubes, n - out.len(), Duration::ZERO) {
                Ok(more) => {
                    for r in more {
                        out.push(global_reserved(r, shard)?);
                    }
                }
                // The batch goes on with what it has; the next reserve meets the error again.
                Err(e) => {
                    log::warn!(target: "zeroG.queue", "{e}; batch taken from the other servers")
                }
            }
        }
        Ok(out)
    }

    fn delete_many(&self, ids: &[JobId]) -> Vec<Result<()>> {
        let mut out: Vec<Option<Result<()>>> = (0..ids.len()).map(|_| None).collect();
        let mut by_shard: Vec<Vec<(usize, JobId)>> = vec![Vec::new(); self.shards.len()];
        for (i, &id) in ids.iter().enumerate() {
            match self.locate(id) {
                Ok((shard, _, local)) => by_shard[shard].push((i, local)),
                Err(e) => out[i] = Some(Err(e)),
            }
        }
        for (shard, jobs) in by_shard.into_iter().enumerate() {
            if jobs.is_empty() {
                continue;
            }
            let locals: Vec<JobId> = jobs.iter().map(|&(_, id)| id).collect();
            let results = self.shards[shard].delete_many(&locals);
            for ((i, _), r) in jobs.into_iter().zip(results) {
                out[i] = Some(r.map_err(|e| global_error(e, shard)));
            }
        }
        out.into_iter()
            .map(|r| r.expect("every id answered"))
            .collect()
    }

    fn delete(&self, id: JobId) -> Result<()> {
        self.on_job(id, |q, id| q.delete(id))
    }

    fn release(&self, id: JobId, priority: u32, delay: u32) -> Result<()> {
        self.on_job(id, |q, id| q.release(id, priority, delay))
    }

    fn bury(&self, id: JobId, priority: u32) -> Result<()> {
        self.on_job(id, |q, id| q.bury(id, priority))
    }

    fn touch(&self, id: JobId) -> Result<()> {
        self.on_job(id, |q, id| q.touch(id))
    }

    /// Kicks up to `bound` jobs over all the servers, the first ones first.
    fn kick(&self, tube: &str, bound: u64) -> Result<u64> {
        let mut kicked = 0;
        for q in &self.shards {
            if kicked >= bound {
                break;
            }
            kicked += q.kick(tube, bound - kicked)?;
        }
        Ok(kicked)
    }

    fn kick_job(&self, id: JobId) -> Result<()> {
        self.on_job(id, |q, id| q.kick_job(id))
    }

    fn peek(&self, id: JobId) -> Result<Option<(JobId, Vec<u8>)>> {
        let (shard, q, local) = self.locate(id)?;
        global_found(q.peek(local).map_err(|e| global_error(e, shard))?, shard)
    }

    /// The first server's (in URL order) that has one.
    fn peek_ready(&self, tube: &str) -> Result<Option<(JobId, Vec<u8>)>> {
        self.peek_first(|q| q.peek_ready(tube))
    }

    fn peek_delayed(&self, tube: &str) -> Result<Option<(JobId, Vec<u8>)>> {
        self.peek_first(|q| q.peek_delayed(tube))
    }

    fn peek_buried(&self, tube: &str) -> Result<Option<(JobId, Vec<u8>)>> {
        self.peek_first(|q| q.peek_buried(tube))
    }

    fn stats_job(&self, id: JobId) -> Result<JobStats> {
        let (shard, q, local) = self.locate(id)?;
        let mut s = q.stats_job(local).map_err(|e| global_error(e, shard))?;
        s.id = global_id(s.id, shard)?;
        Ok(s)
    }

    /// The tube's counts summed over the servers (its watchers: the most any server has).
    /// An entry is on one server, which one the document does not say: it is surely gone only
    /// if every server forgot, and then only what was put before the first of them restarted.
    fn forgot_before(&self) -> Result<Option<f64>> {
        let mut earliest: Option<f64> = None;
        for q in &self.shards {
            match q.forgot_before()? {
                Some(t) => earliest = Some(earliest.map_or(t, |e| e.min(t))),
                None => return Ok(None),
            }
        }
        Ok(earliest)
    }

    fn stats_tube(&self, tube: &str) -> Result<TubeStats> {
        let mut sum = TubeStats {
            name: tube.to_owned(),
            ..TubeStats::default()
        };
        for q in &self.shards {
            let s = q.stats_tube(tube)?;
            sum.ready += s.ready;
            sum.reserved += s.reserved;
            sum.delayed += s.delayed;
            sum.buried += s.buried;
            // A connection to the sharded queue watches on every server: it counts once.
            sum.watching = sum.watching.max(s.watching);
        }
        Ok(sum)
    }

    fn list_tubes(&self) -> Result<Vec<String>> {
        let mut all = BTreeSet::new();
        for q in &self.shards {
            all.extend(q.list_tubes()?);
        }
        Ok(all.into_iter().collect())
    }

    /// The smallest server's limit: a job must fit wherever it is put.
    fn max_job_size(&self) -> usize {
        self.shards
            .iter()
            .map(|q| q.max_job_size())
            .min()
            .unwrap_or(0)
    }
}

impl ShardedQueue {
    fn peek_first(
        &self,
        peek: impl Fn(&BeanstalkQueue) -> Result<Option<(JobId, Vec<u8>)>>,
    ) -> Result<Option<(JobId, Vec<u8>)>> {
        for (shard, q) in self.shards.iter().enumerate() {
            if let Some(found) = peek(q)? {
                return global_found(Some(found), shard);
            }
        }
        Ok(None)
    }
}
