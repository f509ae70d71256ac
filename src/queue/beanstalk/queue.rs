//! `BeanstalkQueue`: the synchronous `Queue` trait on top of the async client.
//!
//! The worker calls the queue from plain threads, and its keeper thread touches and releases the
//! jobs the worker holds from another one. So each `BeanstalkQueue` owns a small current-thread
//! tokio runtime, and a mutex guards the one connection: beanstalkd answers the commands of a
//! connection strictly in order, and reservations belong to the connection.

use super::client::{Client, ClientConfig};
use crate::error::{Error, QueueErrorKind, Result};
use crate::queue::{validate_tube_name, JobId, JobStats, PutRequest, Queue, Reserved, TubeStats};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often a reserve with less than a second left asks the server again.
///
/// beanstalkd's reserve-with-timeout counts whole seconds, and a reserve cannot be taken back
/// once sent: a job handed out after the caller gave up would sit reserved by this connection,
/// unseen, until its TTR ran out. So a wait is served by blocking reserves for its whole
/// seconds and by polls for the rest. The mutex is released between polls so the keeper's
/// touches get through. A job that arrives during a polled wait is seen within this interval;
/// waits of a second or more see it at once.
///
/// A poll is `reserve-with-timeout 0`. Known server bug (beanstalkd 1.12, reproduced with a
/// plain Python client too): a reserved job whose holder stays quiet sometimes does not time
/// out at its TTR when another connection sends commands during the lease; the server's tick
/// for the holder is consumed without releasing the job and not rescheduled (compare
/// beanstalkd PR #334). It is released when the holder next sends a command or disconnects.
pub const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// How far past its timeout a reserve may wait so that it waits on the server (see `reserve`).
const WHOLE_SECOND_SLACK: Duration = Duration::from_millis(20);

pub struct BeanstalkQueue {
    // Declared before `runtime` so that the connection closes (and the server returns this
    // connection's reservations) while the runtime that owns its socket still exists.
    client: Mutex<Client>,
    runtime: tokio::runtime::Runtime,
    poll_interval: Duration,
}

impl BeanstalkQueue {
    /// Connects to one server; an unreachable one is an error that names `host:port`.
    pub fn connect(host: &str, port: u16) -> Result<Self> {
        Self::connect_with(host, port, ClientConfig::default())
    }

    pub fn connect_with(host: &str, port: u16, config: ClientConfig) -> Result<Self> {
        let runtime = Self::runtime(host, port)?;
        let client = runtime.block_on(Client::connect(host, port, config))?;
        Ok(Self::with_client(client, runtime))
    }

    /// A queue that connects at its first request: for a server of several that may be down
    /// when the others are not.
    pub fn unconnected(host: &str, port: u16, config: ClientConfig) -> Result<Self> {
        let runtime = Self::runtime(host, port)?;
        Ok(Self::with_client(
            Client::unconnected(host, port, config),
            runtime,
        ))
    }

    fn runtime(host: &str, port: u16) -> Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::backend("beanstalkd", format!("{host}:{port}"), e))
    }

    fn with_client(client: Client, runtime: tokio::runtime::Runtime) -> Self {
        BeanstalkQueue {
            client: Mutex::new(client),
            runtime,
            poll_interval: POLL_INTERVAL,
        }
    }

    /// Connects now if not connected; an error names the server.
    pub fn ensure_connected(&self) -> Result<()> {
        let mut c = self.client();
        self.runtime.block_on(c.stats()).map(drop)
    }

    /// Whether the server could not be reached lately and the client waits before trying again
    /// (see [`Client::is_backing_off`]).
    pub fn is_backing_off(&self) -> bool {
        self.client().is_backing_off()
    }

    fn client(&self) -> MutexGuard<'_, Client> {
        // A panic while holding the lock leaves the client consistent enough: the next request
        // reconnects if the connection was mid-exchange.
        self.client.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `host:port` of the server.
    pub fn server(&self) -> String {
        self.client().server().to_owned()
    }

    /// The server's `stats`, fresh.
    pub fn server_stats(&self) -> Result<std::collections::HashMap<String, String>> {
        let mut c = self.client();
        self.runtime.block_on(c.stats())
    }

    /// The tubes this connection watches, as the server reports them.
    pub fn watched_tubes(&self) -> Result<Vec<String>> {
        let mut c = self.client();
        self.runtime.block_on(c.list_tubes_watched())
    }

    /// Stops reserves from `tube` for `delay` seconds.
    pub fn pause_tube(&self, tube: &str, delay: u32) -> Result<()> {
        let mut c = self.client();
        self.runtime.block_on(c.pause_tube(tube, delay))
    }

    /// One reserve attempt that waits up to `seconds` on the server. DEADLINE_SOON counts as
    /// "nothing yet": see [`Queue::reserve`] below.
    fn try_reserve(&self, tubes: &[String], seconds: u32) -> Result<Option<Reserved>> {
        let mut c = self.client();
        self.runtime.block_on(async {
            c.watch_exactly(tubes).await?;
            let job = match c.reserve_with_timeout(seconds).await {
                Ok(job) => job,
                Err(Error::Queue {
                    kind: QueueErrorKind::DeadlineSoon,
                    ..
                }) => None,
                Err(e) => return Err(e),
            };
            let Some((id, body)) = job else {
                return Ok(None);
            };
            // RESERVED does not name the tube; ask only when it could be more than one.
            let tube = match tubes {
                [only] => only.clone(),
                _ => c.stats_job(id).await?.tube,
            };
            Ok(Some(Reserved {
                id,
                tube,
                body,
                reserves: None,
            }))
        })
    }
}

impl Queue for BeanstalkQueue {
    fn put(&self, job: &PutRequest) -> Result<JobId> {
        let mut c = self.client();
        self.runtime.block_on(c.put(job))
    }

    /// Pipelined: see [`Client::put_many`].
    fn put_many(&self, jobs: &[PutRequest]) -> Result<Vec<JobId>> {
        let mut c = self.client();
        self.runtime.block_on(c.put_many(jobs))
    }

    /// Watches exactly `tubes`, then waits: blocking on the server for the whole seconds of
    /// `timeout`, polling every [`POLL_INTERVAL`] for the rest.
    ///
    /// DEADLINE_SOON (a job this connection holds is within a second of its TTR, and nothing is
    /// ready) is not an error here: it means "no job yet", and the wait goes on by polling. The
    /// lease itself is the keeper's business (it touches the job; the polls leave the mutex free
    /// for it), and a lease that ran out shows as `JobNotFound` on the next touch or delete.
    fn reserve(&self, tubes: &[String], timeout: Duration) -> Result<Option<Reserved>> {
        for t in tubes {
            validate_tube_name(t)?;
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // A wait just short of whole seconds blocks for them on the server: the caller's
            // clock has moved on since it chose the timeout (a worker asks for 1 s and 0.9999 s
            // are left here), and polling instead would hand a new job over 2.5 ms late on
            // average, at a request every 5 ms.
            let seconds = u32::try_from((left + WHOLE_SECOND_SLACK).as_secs()).unwrap_or(u32::MAX);
            if let Some(job) = self.try_reserve(tubes, seconds)? {
                return Ok(Some(job));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            std::thread::sleep(left.min(self.poll_interval));
        }
    }

    /// The first job as [`Queue::reserve`] waits for it; the rest in one pipelined exchange.
    fn reserve_many(&self, tubes: &[String], n: usize, timeout: Duration) -> Result<Vec<Reserved>> {
        let Some(first) = self.reserve(tubes, timeout)? else {
            return Ok(Vec::new());
        };
        let mut out = vec![first];
        if n > 1 {
            let mut c = self.client();
            let more = self.runtime.block_on(async {
                let jobs = c.reserve_ready(n - 1).await?;
                // The worker asks each job's reserve count, and RESERVED does not name the
                // tube: one pipelined exchange answers both for the whole batch.
                let ids: Vec<JobId> = jobs.iter().map(|(id, _)| *id).collect();
                let stats = c.tubes_and_reserves_of(&ids).await?;
                let mut out = Vec::with_capacity(jobs.len());
                for ((id, body), (tube, reserves)) in jobs.into_iter().zip(stats) {
                    let tube = match (tubes, tube) {
                        ([only], _) => only.clone(),
                        (_, Some(tube)) => tube,
                        (_, None) => c.stats_job(id).await?.tube,
                    };
                    out.push(Reserved {
                        id,
                        tube,
                        body,
                        reserves,
                    });
                }
                Ok::<_, Error>(out)
            })?;
            out.extend(more);
        }
        Ok(out)
    }

    /// Pipelined: see [`Client::delete_many`].
    fn delete_many(&self, ids: &[JobId]) -> Vec<Result<()>> {
        let mut c = self.client();
        self.runtime.block_on(c.delete_many(ids))
    }

    fn delete(&self, id: JobId) -> Result<()> {
        let mut c = self.client();
        self.runtime.block_on(c.delete(id))
    }

    fn release(&self, id: JobId, priority: u32, delay: u32) -> Result<()> {
        let mut c = self.client();
        self.runtime.block_on(c.release(id, priority, delay))
    }

    fn bury(&self, id: JobId, priority: u32) -> Result<()> {
        let mut c = self.client();
        self.runtime.block_on(c.bury(id, priority))
    }

    fn touch(&self, id: JobId) -> Result<()> {
        let mut c = self.client();
        self.runtime.block_on(c.touch(id))
    }

    fn kick(&self, tube: &str, bound: u64) -> Result<u64> {
        let mut c = self.client();
        self.runtime.block_on(c.kick(tube, bound))
    }

    fn kick_job(&self, id: JobId) -> Result<()> {
        let mut c = self.client();
        self.runtime.block_on(c.kick_job(id))
    }

    fn peek(&self, id: JobId) -> Result<Option<(JobId, Vec<u8>)>> {
        let mut c = self.client();
        self.runtime.block_on(c.peek(id))
    }

    fn peek_ready(&self, tube: &str) -> Result<Option<(JobId, Vec<u8>)>> {
        let mut c = self.client();
        self.runtime.block_on(c.peek_ready(tube))
    }

    fn peek_delayed(&self, tube: &str) -> Result<Option<(JobId, Vec<u8>)>> {
        let mut c = self.client();
        self.runtime.block_on(c.peek_delayed(tube))
    }

    fn peek_buried(&self, tube: &str) -> Result<Option<(JobId, Vec<u8>)>> {
        let mut c = self.client();
        self.runtime.block_on(c.peek_buried(tube))
    }

    fn stats_job(&self, id: JobId) -> Result<JobStats> {
        let mut c = self.client();
        self.runtime.block_on(c.stats_job(id))
    }

    fn stats_tube(&self, tube: &str) -> Result<TubeStats> {
        let mut c = self.client();
        self.runtime.block_on(c.stats_tube(tube))
    }

    fn list_tubes(&self) -> Result<Vec<String>> {
        let mut c = self.client();
        self.runtime.block_on(c.list_tubes())
    }

    /// beanstalkd reports `binlog-current-index: 0` when it runs without a binlog (`-b`): then
    /// it started empty, `uptime` seconds ago (whole seconds, so up to one more).
    fn forgot_before(&self) -> Result<Option<f64>> {
        let stats = self.server_stats()?;
        if stats.get("binlog-current-index").map(String::as_str) != Some("0") {
            return Ok(None);
        }
        let uptime: f64 = stats
            .get("uptime")
            .and_then(|u| u.parse().ok())
            .ok_or_else(|| Error::Queue {
                server: self.server(),
                kind: QueueErrorKind::Protocol,
                detail: "stats without a numeric uptime".into(),
            })?;
        Ok(Some(crate::clock::now_epoch() - uptime - 1.0))
    }

    fn max_job_size(&self) -> usize {
        self.client().max_job_size()
    }
}
