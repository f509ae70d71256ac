//! An async beanstalkd client for one server: every command zeroG uses, typed replies and typed
//! errors that name the server, and reconnection.
//!
//! beanstalkd keeps the `use` tube, the watch list and the reservations per connection. After a
//! reconnect the client restores `use` and `watch` itself; reservations cannot be restored (the
//! server put those jobs back to ready when the old connection closed), so the client counts
//! them as lost: a later delete, release, bury or touch of one answers `JobNotFound` without
//! asking the server, where a delete would otherwise succeed on the now-ready job that another
//! worker may be about to run.

use super::codec::{Command, Reply};
use super::conn::{Conn, ConnError};
use super::yaml;
use crate::error::{Error, QueueErrorKind, Result};
use crate::queue::{validate_tube_name, JobId, JobState, JobStats, PutRequest, TubeStats};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use tokio::time::Instant;

/// beanstalkd's own default for `max-job-size`, used only until `stats` says otherwise.
/// How many `reserve-with-timeout 0` the first exchange of [`Client::reserve_ready`] sends.
/// A worker asks for as many jobs as its last ones ran fast enough to allow (up to 127 more),
/// but while producers keep up with it only a few are ready: sent all at once, most of those
/// reserves timed out (7.5 per job run, in a steady producer-and-workers run), and beanstalkd
/// spent its time on them while producers' puts waited.
const FIRST_READY_CHUNK: usize = 8;
const DEFAULT_MAX_JOB_SIZE: usize = 65_535;

#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// How long one command may take, reply included.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Added to a reserve-with-timeout's own timeout before the client gives up on the reply.
    pub reserve_margin: Duration,
    /// Reconnect attempts back off from `first_backoff`, doubling up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            reserve_margin: Duration::from_secs(2),
            first_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// A job handed out by `reserve` or shown by a peek.
pub type JobBody = (JobId, Vec<u8>);

pub struct Client {
    host: String,
    port: u16,
    /// `host:port`, for error messages.
    server: String,
    config: ClientConfig,
    conn: Option<Conn>,
    /// The tube puts go to, restored after a reconnect.
    used: String,
    /// The tubes reserves take from, restored after a reconnect.
    watched: Vec<String>,
    max_job_size: usize,
    /// Jobs reserved on the current connection (released or deleted ones are removed).
    reserved: HashSet<JobId>,
    /// Jobs that were reserved on a connection that has since dropped.
    lost: HashSet<JobId>,
    /// No connect attempt before this instant, after failures.
    next_attempt: Option<Instant>,
    backoff: Duration,
}

impl Client {
    /// Connects now, so that a server that cannot be reached is an error at start that names it.
    pub async fn connect(host: &str, port: u16, config: ClientConfig) -> Result<Client> {
        let mut c = Client::unconnected(host, port, config);
        c.ensure_connected().await?;
        Ok(c)
    }

    /// A client that connects at its first request (and backs off after failures as usual).
    pub fn unconnected(host: &str, port: u16, config: ClientConfig) -> Client {
        Client {
            host: host.to_owned(),
            port,
            server: if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            },
            backoff: config.first_backoff,
            config,
            conn: None,
            used: "default".into(),
            watched: vec!["default".into()],
            max_job_size: DEFAULT_MAX_JOB_SIZE,
            reserved: HashSet::new(),
            lost: HashSet::new(),
            next_attempt: None,
        }
    }

    /// Whether the last connect attempt failed and its backoff has not run out: a request now
    /// would first wait for it.
    pub fn is_backing_off(&self) -> bool {
        self.conn.is_none() && self.next_attempt.is_some_and(|at| Instant::now() < at)
    }

    /// `host:port` of the server.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The server's `max-job-size`, read from `stats` at every (re)connect.
    pub fn max_job_size(&self) -> usize {
        self.max_job_size
    }

    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    fn error(&self, kind: QueueErrorKind, detail: impl Into<String>) -> Error {
        Error::Queue {
            server: self.server.clone(),
            kind,
            detail: detail.into(),
        }
    }

    /// The error for a reply that is not a success for `what` (a description of the command).
    fn refused(&self, what: &str, reply: Reply) -> Error {
        use QueueErrorKind as K;
        let kind = match reply {
            Reply::DeadlineSoon => K::DeadlineSoon,
            Reply::Draining => K::Draining,
            Reply::OutOfMemory => K::OutOfMemory,
            Reply::InternalError => K::InternalError,
            Reply::BadFormat => K::BadFormat,
            Reply::UnknownCommand => K::UnknownCommand,
            Reply::ExpectedCrlf => K::ExpectedCrlf,
            Reply::NotIgnored => K::NotIgnored,
            other => {
                return self.error(
                    K::Protocol,
                    format!("{what}: unexpected reply {}", reply_name(&other)),
                )
            }
        };
        self.error(kind, what.to_owned())
    }

    /// Forgets the connection if the server has closed it (it died or restarted), so that the
    /// next command goes on a new one rather than failing with its fate unknown. `job` is the
    /// job the next command acts on: one reserved on the closed connection is lost.
    fn drop_if_closed(&mut self, job: Option<JobId>) -> Result<()> {
        if !self.conn.as_ref().is_some_and(Conn::closed_by_server) {
            return Ok(());
        }
        log::warn!(target: "zerog::beanstalk", "{}: the server closed the connection; reconnecting", self.server);
        self.disconnect();
        match job {
            Some(id) => self.check_not_lost(id),
            None => Ok(()),
        }
    }

    /// Forgets the connection; its reservations are now the server's again.
    fn disconnect(&mut self) {
        self.conn = None;
        self.lost.extend(self.reserved.drain());
    }

    fn conn_error(&mut self, what: &str, e: ConnError) -> Error {
        self.disconnect();
        let kind = match e {
            ConnError::Timeout(_) => QueueErrorKind::Timeout,
            ConnError::Protocol(_) => QueueErrorKind::Protocol,
            ConnError::Io(_) | ConnError::Closed => QueueErrorKind::Connection,
        };
        self.error(kind, format!("{what}: {e}"))
    }

    /// Connects if there is no connection, waiting out the backoff after earlier failures, and
    /// restores `use` and `watch`. Returns whether a new connection was made.
    async fn ensure_connected(&mut self) -> Result<bool> {
        if self.conn.is_some() {
            return Ok(false);
        }
        if let Some(at) = self.next_attempt {
            tokio::time::sleep_until(at).await;
        }
        match self.open_and_restore().await {
            Ok((conn, max)) => {
                self.conn = Some(conn);
                self.max_job_size = max;
                self.next_attempt = None;
                self.backoff = self.config.first_backoff;
                Ok(true)
            }
            Err(e) => {
                self.next_attempt = Some(Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(self.config.max_backoff);
                Err(self.error(QueueErrorKind::Connection, format!("cannot connect: {e}")))
            }
        }
    }

    /// A fresh connection in this client's `use`/`watch` state, and the server's max job size;
    /// all restoring commands go in one write.
    async fn open_and_restore(&self) -> std::result::Result<(Conn, usize), String> {
        let mut conn = Conn::open(&self.host, self.port, self.config.connect_timeout)
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let mut n = 1;
        if self.used != "default" {
            Command::Use(&self.used).encode(&mut buf);
            n += 1;
        }
        for t in self.watched.iter().filter(|t| *t != "default") {
            Command::Watch(t).encode(&mut buf);
            n += 1;
        }
        if !self.watched.iter().any(|t| t == "default") {
            Command::Ignore("default").encode(&mut buf);
            n += 1;
        }
        Command::Stats.encode(&mut buf);
        let replies = conn
            .exchange(&buf, n, self.config.request_timeout)
            .await
            .map_err(|e| e.to_string())?;
        let Some(Reply::Ok(stats)) = replies.last() else {
            return Err(format!("unexpected replies restoring state: {replies:?}"));
        };
        if let Some(bad) = replies[..n - 1]
            .iter()
            .find(|r| !matches!(r, Reply::Using(_) | Reply::Watching(_)))
        {
            return Err(format!("restoring use/watch got {}", reply_name(bad)));
        }
        let stats = yaml::parse_dict(stats)?;
        let max = stats
            .get("max-job-size")
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_MAX_JOB_SIZE);
        Ok((conn, max))
    }

    /// Sends one command and reads its reply. A connection the server has closed already (it
    /// restarted) is replaced before the command is sent, so even a put goes through. If the
    /// connection dies while the command is out and the command is safe to send twice, it is
    /// sent once more on a new one.
    ///
    /// `job` is the job a command acts on: if it was reserved on the connection that just
    /// died, it is lost and the command is not sent again (see the module doc).
    async fn call(
        &mut self,
        cmd: Command<'_>,
        what: &str,
        timeout: Duration,
        job: Option<JobId>,
    ) -> Result<Reply> {
        let bytes = cmd.to_bytes();
        let retry_safe = !matches!(cmd, Command::Put { .. });
        loop {
            self.drop_if_closed(job)?;
            let fresh = self.ensure_connected().await?;
            let conn = self.conn.as_mut().expect("connected");
            match conn.exchange(&bytes, 1, timeout).await {
                Ok(mut r) => return Ok(r.pop().expect("one reply")),
                Err(e @ (ConnError::Io(_) | ConnError::Closed)) if !fresh && retry_safe => {
                    log::warn!(target: "zerog::beanstalk",
                        "{}: connection lost ({e}); reconnecting", self.server);
                    self.disconnect();
                    if let Some(id) = job {
                        self.check_not_lost(id)?;
                    }
                }
                Err(e) => return Err(self.conn_error(what, e)),
            }
        }
    }

    async fn request(&mut self, cmd: Command<'_>, what: &str) -> Result<Reply> {
        let t = self.config.request_timeout;
        self.call(cmd, what, t, None).await
    }

    /// Makes `tube` the tube puts and tube-scoped commands (kick, peek-ready...) act on.
    pub async fn use_tube(&mut self, tube: &str) -> Result<()> {
        validate_tube_name(tube)?;
        if self.used == tube {
            return Ok(());
        }
        let what = format!("use {tube}");
        match self.request(Command::Use(tube), &what).await? {
            Reply::Using(t) if t == tube => {
                self.used = t;
                Ok(())
            }
            other => Err(self.refused(&what, other)),
        }
    }

    fn check_put(&self, job: &PutRequest) -> Result<()> {
        validate_tube_name(&job.tube)?;
        if job.body.len() > self.max_job_size {
            return Err(Error::JobTooBig {
                size: job.body.len(),
                limit: self.max_job_size,
            });
        }
        Ok(())
    }

    fn put_result(&self, job: &PutRequest, reply: Reply) -> Result<JobId> {
        match reply {
            Reply::Inserted(id) => Ok(id),
            Reply::BuriedId(id) => Err(self.error(
                QueueErrorKind::OutOfMemory,
                format!(
                    "put to tube {}: the server is out of memory and stored job {id} buried",
                    job.tube
                ),
            )),
            Reply::JobTooBig => Err(Error::JobTooBig {
                size: job.body.len(),
                limit: self.max_job_size,
            }),
            other => Err(self.refused(&format!("put to tube {}", job.tube), other)),
        }
    }

    /// Puts one job. The body is checked against the server's `max-job-size` first, so that a
    /// body that is too big is never sent.
    ///
    /// A put to another tube than the last one sends its `use` in the same write, so it still
    /// costs one round trip (a producer of several job types changes tube on most puts).
    pub async fn put(&mut self, job: &PutRequest) -> Result<JobId> {
        self.check_put(job)?;
        if self.used != job.tube {
            return match self.put_many(std::slice::from_ref(job)).await {
                Ok(ids) => Ok(ids[0]),
                // One job: whether its put is known or not, the cause is the answer, as for a
                // put on the tube in use.
                Err(Error::PartlyPut { cause, .. }) => Err(*cause),
                Err(e) => Err(e),
            };
        }
        let reply = self
            .request(
                Command::Put {
                    priority: job.priority,
                    delay: job.delay,
                    ttr: job.ttr,
                    body: &job.body,
                },
                &format!("put to tube {}", job.tube),
            )
            .await?;
        self.put_result(job, reply)
    }

    /// Puts many jobs in one pipeline: every command is written before the replies are read,
    /// which is what lets one connection do ~100k puts/s instead of one per round trip. The
    /// whole batch is checked first, so an invalid job means nothing is sent.
    ///
    /// A batch that fails after its first put went out is [`Error::PartlyPut`], naming the
    /// jobs that were queued: when the server refuses puts midway (DRAINING, out of memory),
    /// and when the connection breaks midway (then only the jobs whose replies came are known
    /// queued). Only a batch that is known not queued at all fails with the plain error.
    pub async fn put_many(&mut self, jobs: &[PutRequest]) -> Result<Vec<JobId>> {
        for job in jobs {
            self.check_put(job)?;
        }
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        // Failing to reconnect now means none of the batch was put, so it may go elsewhere.
        self.drop_if_closed(None)?;
        self.ensure_connected().await?;
        let mut buf = Vec::with_capacity(jobs.iter().map(|j| j.body.len() + 40).sum());
        let mut tube = self.used.clone();
        // What each reply answers: a `use` (None) or the put of jobs[i].
        let mut order = Vec::with_capacity(jobs.len());
        for (i, job) in jobs.iter().enumerate() {
            if job.tube != tube {
                Command::Use(&job.tube).encode(&mut buf);
                tube.clone_from(&job.tube);
                order.push(None);
            }
            Command::Put {
                priority: job.priority,
                delay: job.delay,
                ttr: job.ttr,
                body: &job.body,
            }
            .encode(&mut buf);
            order.push(Some(i));
        }
        // Generous: the pipeline is limited by the server, ~100k puts/s on a small machine.
        let timeout = self.config.request_timeout + Duration::from_micros(100 * order.len() as u64);
        let conn = self.conn.as_mut().expect("connected");
        let what = format!("pipelined put of {} jobs", jobs.len());
        let mut got = Vec::with_capacity(order.len());
        let broken = conn
            .exchange_into(&buf, order.len(), timeout, &mut got)
            .await
            .err();
        let mut put = vec![None; jobs.len()];
        let mut first_error = None;
        for (reply, answers) in got.into_iter().zip(order) {
            let result = match (answers, reply) {
                (None, Reply::Using(t)) => {
                    self.used = t;
                    continue;
                }
                (None, other) => Err(self.refused(&what, other)),
                (Some(i), reply) => self.put_result(&jobs[i], reply).map(|id| (i, id)),
            };
            match result {
                Ok((i, id)) => put[i] = Some(id),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = broken {
            // Puts whose replies never came may have been queued all the same: the batch is
            // not known unqueued, so it is never the plain error that invites a retry.
            let cause = Box::new(self.conn_error(&what, e));
            return Err(Error::PartlyPut { put, cause });
        }
        match first_error {
            Some(e) => Err(Error::partly_put(put, e)),
            None => Ok(put
                .into_iter()
                .map(|id| id.expect("every put answered"))
                .collect()),
        }
    }

    /// Makes the watch list exactly `tubes`. New tubes are watched before old ones are ignored,
    /// because beanstalkd refuses to ignore the last watched tube.
    pub async fn watch_exactly(&mut self, tubes: &[String]) -> Result<()> {
        for t in tubes {
            validate_tube_name(t)?;
        }
        if tubes.is_empty() {
            return Err(Error::Invalid("reserve needs at least one tube".into()));
        }
        self.ensure_connected().await?;
        let add: Vec<&String> = tubes.iter().filter(|t| !self.watched.contains(t)).collect();
        let drop: Vec<&String> = self.watched.iter().filter(|t| !tubes.contains(t)).collect();
        if add.is_empty() && drop.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for t in &add {
            Command::Watch(t).encode(&mut buf);
        }
        for t in &drop {
            Command::Ignore(t).encode(&mut buf);
        }
        let n = add.len() + drop.len();
        let what = format!("watch {tubes:?}");
        let timeout = self.config.request_timeout;
        let conn = self.conn.as_mut().expect("connected");
        let replies = match conn.exchange(&buf, n, timeout).await {
            Ok(r) => r,
            Err(e) => return Err(self.conn_error(&what, e)),
        };
        if let Some(bad) = replies
            .into_iter()
            .find(|r| !matches!(r, Reply::Watching(_)))
        {
            // The server's list is now unknown; a new connection starts from a known one.
            self.disconnect();
            return Err(self.refused(&what, bad));
        }
        self.watched = tubes.to_vec();
        Ok(())
    }

    /// The tubes this connection watches, as the server sees them.
    pub async fn list_tubes_watched(&mut self) -> Result<Vec<String>> {
        let body = self
            .ok_body(Command::ListTubesWatched, "list-tubes-watched")
            .await?;
        yaml::parse_list(&body).map_err(|e| self.error(QueueErrorKind::Protocol, e))
    }

    /// `reserve-with-timeout`: `None` when the server answers TIMED_OUT, a typed
    /// `DeadlineSoon` error when a job this connection holds is in the last second of its TTR.
    /// A zero timeout polls once.
    pub async fn reserve_with_timeout(&mut self, seconds: u32) -> Result<Option<JobBody>> {
        let limit = Duration::from_secs(seconds.into()) + self.config.reserve_margin;
        let what = format!("reserve-with-timeout {seconds}");
        let reply = self
            .call(Command::ReserveWithTimeout(seconds), &what, limit, None)
            .await?;
        self.reserved_result(&what, reply)
    }

    /// Up to `n` jobs that are ready now: pipelined `reserve-with-timeout 0`, a few at first,
    /// twice as many in each next exchange while all of them found a job.
    pub async fn reserve_ready(&mut self, n: usize) -> Result<Vec<JobBody>> {
        let mut jobs = Vec::new();
        let mut chunk = FIRST_READY_CHUNK;
        while jobs.len() < n {
            let k = chunk.min(n - jobs.len());
            let got = self.reserve_ready_once(k).await;
            let got = match got {
                Ok(got) => got,
                Err(e) if jobs.is_empty() => return Err(e),
                // The jobs already reserved are ours: the caller gets them, and its next
                // request meets the error again.
                Err(_) => break,
            };
            let short = got.len() < k;
            jobs.extend(got);
            if short {
                break;
            }
            chunk *= 2;
        }
        Ok(jobs)
    }

    /// `n` pipelined `reserve-with-timeout 0` in one write and one read. A TIMED_OUT or
    /// DEADLINE_SOON slot is simply empty.
    async fn reserve_ready_once(&mut self, n: usize) -> Result<Vec<JobBody>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        self.ensure_connected().await?;
        let mut buf = Vec::with_capacity(n * 24);
        for _ in 0..n {
            Command::ReserveWithTimeout(0).encode(&mut buf);
        }
        let timeout = self.config.request_timeout + Duration::from_micros(100 * n as u64);
        let conn = self.conn.as_mut().expect("connected");
        let what = format!("pipelined reserve of {n} jobs");
        let got = match conn.exchange(&buf, n, timeout).await {
            Ok(r) => r,
            Err(e) => return Err(self.conn_error(&what, e)),
        };
        let mut jobs = Vec::new();
        let mut first_error = None;
        for reply in got {
            match reply {
                Reply::DeadlineSoon => {}
                other => match self.reserved_result(&what, other) {
                    Ok(Some(job)) => jobs.push(job),
                    Ok(None) => {}
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                },
            }
        }
        match first_error {
            // Jobs reserved before the error are still ours: hand them back, not lose them.
            Some(e) if jobs.is_empty() => Err(e),
            _ => Ok(jobs),
        }
    }

    /// Plain `reserve`: waits for a job as long as the server makes it, but gives up (and drops
    /// the connection, whose reserve would still be pending) after `limit`.
    pub async fn reserve(&mut self, limit: Duration) -> Result<JobBody> {
        let reply = self.call(Command::Reserve, "reserve", limit, None).await?;
        match self.reserved_result("reserve", reply)? {
            Some(job) => Ok(job),
            None => Err(self.error(QueueErrorKind::Timeout, "reserve: TIMED_OUT")),
        }
    }

    fn reserved_result(&mut self, what: &str, reply: Reply) -> Result<Option<JobBody>> {
        match reply {
            Reply::Reserved { id, body } => {
                self.lost.remove(&id);
                self.reserved.insert(id);
                Ok(Some((id, body)))
            }
            Reply::TimedOut => Ok(None),
            other => Err(self.refused(what, other)),
        }
    }

    /// Refuses a command on a job this client held on a connection that has since dropped.
    fn check_not_lost(&mut self, id: JobId) -> Result<()> {
        if self.lost.remove(&id) {
            return Err(Error::JobNotFound { id });
        }
        Ok(())
    }

    /// Runs a command on job `id` that succeeds with `ok` and fails with NOT_FOUND.
    async fn job_command(&mut self, id: JobId, cmd: Command<'_>, ok: Reply) -> Result<()> {
        self.check_not_lost(id)?;
        let what = format!("{} job {id}", command_name(&cmd));
        let timeout = self.config.request_timeout;
        match self.call(cmd, &what, timeout, Some(id)).await? {
            r if r == ok => Ok(()),
            Reply::NotFound => {
                self.reserved.remove(&id);
                Err(Error::JobNotFound { id })
            }
            Reply::Buried if matches!(cmd, Command::Release { .. }) => {
                self.reserved.remove(&id);
                Err(self.error(
                    QueueErrorKind::OutOfMemory,
                    format!("release job {id}: the server is out of memory and buried it"),
                ))
            }
            other => Err(self.refused(&what, other)),
        }
    }

    pub async fn delete(&mut self, id: JobId) -> Result<()> {
        self.job_command(id, Command::Delete(id), Reply::Deleted)
            .await?;
        self.reserved.remove(&id);
        Ok(())
    }

    /// Deletes `ids` in one pipelined exchange; one result per id, in order (NOT_FOUND, or a
    /// job reserved on a dropped connection, is that id's `JobNotFound`). A connection failure
    /// fails every id not yet answered.
    pub async fn delete_many(&mut self, ids: &[JobId]) -> Vec<Result<()>> {
        let mut out: Vec<Option<Result<()>>> = ids
            .iter()
            .map(|&id| self.check_not_lost(id).err().map(Err))
            .collect();
        let send: Vec<JobId> = ids
            .iter()
            .zip(&out)
            .filter(|(_, r)| r.is_none())
            .map(|(&id, _)| id)
            .collect();
        if !send.is_empty() {
            let what = format!("pipelined delete of {} jobs", send.len());
            let replies = match self.ensure_connected().await {
                Err(e) => Err(e),
                Ok(_) => {
                    let mut buf = Vec::with_capacity(send.len() * 16);
                    for &id in &send {
                        Command::Delete(id).encode(&mut buf);
                    }
                    let timeout = self.config.request_timeout
                        + Duration::from_micros(100 * send.len() as u64);
                    let conn = self.conn.as_mut().expect("connected");
                    match conn.exchange(&buf, send.len(), timeout).await {
                        Ok(r) => Ok(r),
                        Err(e) => Err(self.conn_error(&what, e)),
                    }
                }
            };
            let mut answers = Vec::with_capacity(send.len());
            for (i, &id) in send.iter().enumerate() {
                answers.push(match &replies {
                    Err(e) => Err(Error::backend("beanstalkd", self.server.clone(), e)),
                    Ok(r) => match r.get(i) {
                        Some(Reply::Deleted) => Ok(()),
                        Some(Reply::NotFound) | None => Err(Error::JobNotFound { id }),
                        Some(other) => Err(self.refused(&what, other.clone())),
                    },
                });
            }
            let mut answers = answers.into_iter();
            for slot in out.iter_mut().filter(|r| r.is_none()) {
                *slot = answers.next();
            }
        }
        for &id in ids {
            self.reserved.remove(&id);
        }
        out.into_iter().map(|r| r.unwrap_or(Ok(()))).collect()
    }

    pub async fn release(&mut self, id: JobId, priority: u32, delay: u32) -> Result<()> {
        let cmd = Command::Release {
            id,
            priority,
            delay,
        };
        self.job_command(id, cmd, Reply::Released).await?;
        self.reserved.remove(&id);
        Ok(())
    }

    pub async fn bury(&mut self, id: JobId, priority: u32) -> Result<()> {
        self.job_command(id, Command::Bury { id, priority }, Reply::Buried)
            .await?;
        self.reserved.remove(&id);
        Ok(())
    }

    pub async fn touch(&mut self, id: JobId) -> Result<()> {
        self.job_command(id, Command::Touch(id), Reply::Touched)
            .await
    }

    pub async fn kick_job(&mut self, id: JobId) -> Result<()> {
        self.job_command(id, Command::KickJob(id), Reply::Kicked(None))
            .await
    }

    /// Kicks up to `bound` buried (or else delayed) jobs in `tube`; returns how many.
    pub async fn kick(&mut self, tube: &str, bound: u64) -> Result<u64> {
        self.use_tube(tube).await?;
        let what = format!("kick {bound} in tube {tube}");
        match self.request(Command::Kick(bound), &what).await? {
            Reply::Kicked(Some(n)) => Ok(n),
            other => Err(self.refused(&what, other)),
        }
    }

    async fn peek_command(&mut self, cmd: Command<'_>, what: &str) -> Result<Option<JobBody>> {
        match self.request(cmd, what).await? {
            Reply::Found { id, body } => Ok(Some((id, body))),
            Reply::NotFound => Ok(None),
            other => Err(self.refused(what, other)),
        }
    }

    /// Any job by id, in any tube and state.
    pub async fn peek(&mut self, id: JobId) -> Result<Option<JobBody>> {
        self.peek_command(Command::Peek(id), &format!("peek job {id}"))
            .await
    }

    pub async fn peek_ready(&mut self, tube: &str) -> Result<Option<JobBody>> {
        self.use_tube(tube).await?;
        self.peek_command(Command::PeekReady, &format!("peek-ready in tube {tube}"))
            .await
    }

    pub async fn peek_delayed(&mut self, tube: &str) -> Result<Option<JobBody>> {
        self.use_tube(tube).await?;
        self.peek_command(
            Command::PeekDelayed,
            &format!("peek-delayed in tube {tube}"),
        )
        .await
    }

    pub async fn peek_buried(&mut self, tube: &str) -> Result<Option<JobBody>> {
        self.use_tube(tube).await?;
        self.peek_command(Command::PeekBuried, &format!("peek-buried in tube {tube}"))
            .await
    }

    /// The YAML body of an `OK` reply; `None` for NOT_FOUND.
    async fn ok_body_or_none(&mut self, cmd: Command<'_>, what: &str) -> Result<Option<Vec<u8>>> {
        match self.request(cmd, what).await? {
            Reply::Ok(body) => Ok(Some(body)),
            Reply::NotFound => Ok(None),
            other => Err(self.refused(what, other)),
        }
    }

    async fn ok_body(&mut self, cmd: Command<'_>, what: &str) -> Result<Vec<u8>> {
        match self.ok_body_or_none(cmd, what).await? {
            Some(body) => Ok(body),
            None => Err(self.error(
                QueueErrorKind::Protocol,
                format!("{what}: unexpected NOT_FOUND"),
            )),
        }
    }

    fn dict(&self, what: &str, body: &[u8]) -> Result<HashMap<String, String>> {
        yaml::parse_dict(body)
            .map_err(|e| self.error(QueueErrorKind::Protocol, format!("{what}: {e}")))
    }

    /// The server's `stats`, as text values by key.
    pub async fn stats(&mut self) -> Result<HashMap<String, String>> {
        let body = self.ok_body(Command::Stats, "stats").await?;
        let stats = self.dict("stats", &body)?;
        if let Some(max) = stats.get("max-job-size").and_then(|v| v.parse().ok()) {
            self.max_job_size = max;
        }
        Ok(stats)
    }

    /// Each job's tube and `reserves` count (what a claim needs to know), from `stats-job` sent
    /// pipelined in one exchange; `None` for what the server did not say, or for a job it no
    /// longer has.
    pub async fn tubes_and_reserves_of(
        &mut self,
        ids: &[JobId],
    ) -> Result<Vec<(Option<String>, Option<u64>)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.ensure_connected().await?;
        let mut buf = Vec::with_capacity(ids.len() * 20);
        for &id in ids {
            Command::StatsJob(id).encode(&mut buf);
        }
        let what = format!("pipelined stats-job of {} jobs", ids.len());
        let timeout = self.config.request_timeout + Duration::from_micros(100 * ids.len() as u64);
        let conn = self.conn.as_mut().expect("connected");
        let replies = match conn.exchange(&buf, ids.len(), timeout).await {
            Ok(r) => r,
            Err(e) => return Err(self.conn_error(&what, e)),
        };
        let mut out = Vec::with_capacity(ids.len());
        for reply in replies {
            out.push(match reply {
                Reply::Ok(body) => {
                    let d = self.dict(&what, &body)?;
                    (field::<String>(&d, "tube"), field::<u64>(&d, "reserves"))
                }
                Reply::NotFound => (None, None),
                other => return Err(self.refused(&what, other)),
            });
        }
        Ok(out)
    }

    pub async fn stats_job(&mut self, id: JobId) -> Result<JobStats> {
        let what = format!("stats-job {id}");
        let Some(body) = self.ok_body_or_none(Command::StatsJob(id), &what).await? else {
            return Err(Error::JobNotFound { id });
        };
        let d = self.dict(&what, &body)?;
        let state = match field::<String>(&d, "state").as_deref() {
            Some("ready") => JobState::Ready,
            Some("delayed") => JobState::Delayed,
            Some("reserved") => JobState::Reserved,
            Some("buried") => JobState::Buried,
            other => {
                return Err(self.error(
                    QueueErrorKind::Protocol,
                    format!("{what}: unknown state {other:?}"),
                ))
            }
        };
        let num = |k: &str| {
            field::<u64>(&d, k).ok_or_else(|| {
                self.error(
                    QueueErrorKind::Protocol,
                    format!("{what}: missing or bad {k:?}"),
                )
            })
        };
        let small = |k: &str| num(k).map(|v| u32::try_from(v).unwrap_or(u32::MAX));
        Ok(JobStats {
            id: num("id")?,
            tube: field(&d, "tube").unwrap_or_default(),
            state,
            priority: small("pri")?,
            age: num("age")?,
            delay: small("delay")?,
            ttr: small("ttr")?,
            time_left: num("time-left")?,
            reserves: num("reserves")?,
            timeouts: num("timeouts")?,
            releases: num("releases")?,
            buries: num("buries")?,
            kicks: num("kicks")?,
        })
    }

    /// Counts for `tube`; a tube the server does not know (it holds no jobs and nobody uses or
    /// watches it) has all zeroes, as on the embedded queue.
    pub async fn stats_tube(&mut self, tube: &str) -> Result<TubeStats> {
        validate_tube_name(tube)?;
        let what = format!("stats-tube {tube}");
        let Some(body) = self
            .ok_body_or_none(Command::StatsTube(tube), &what)
            .await?
        else {
            return Ok(TubeStats {
                name: tube.to_owned(),
                ..TubeStats::default()
            });
        };
        let d = self.dict(&what, &body)?;
        let n = |k: &str| field::<u64>(&d, k).unwrap_or(0);
        Ok(TubeStats {
            name: tube.to_owned(),
            ready: n("current-jobs-ready"),
            reserved: n("current-jobs-reserved"),
            delayed: n("current-jobs-delayed"),
            buried: n("current-jobs-buried"),
            watching: n("current-watching"),
        })
    }

    /// The tubes the server knows: those with jobs, and those some connection uses or watches.
    pub async fn list_tubes(&mut self) -> Result<Vec<String>> {
        let body = self.ok_body(Command::ListTubes, "list-tubes").await?;
        yaml::parse_list(&body).map_err(|e| self.error(QueueErrorKind::Protocol, e))
    }

    /// Stops reserves from `tube` for `delay` seconds.
    pub async fn pause_tube(&mut self, tube: &str, delay: u32) -> Result<()> {
        validate_tube_name(tube)?;
        let what = format!("pause-tube {tube}");
        match self.request(Command::PauseTube(tube, delay), &what).await? {
            Reply::Paused => Ok(()),
            Reply::NotFound => Err(Error::Invalid(format!(
                "cannot pause tube {tube:?} on {}: the server does not know it",
                self.server
            ))),
            other => Err(self.refused(&what, other)),
        }
    }
}

fn field<T: std::str::FromStr>(d: &HashMap<String, String>, key: &str) -> Option<T> {
    d.get(key).and_then(|v| v.parse().ok())
}

fn command_name(cmd: &Command) -> &'static str {
    match cmd {
        Command::Delete(_) => "delete",
        Command::Release { .. } => "release",
        Command::Bury { .. } => "bury",
        Command::Touch(_) => "touch",
        Command::KickJob(_) => "kick-job",
        _ => "command on",
    }
}

/// A reply's name for messages, without its body.
fn reply_name(r: &Reply) -> String {
    match r {
        Reply::Reserved { id, body } => format!("RESERVED {id} ({} bytes)", body.len()),
        Reply::Found { id, body } => format!("FOUND {id} ({} bytes)", body.len()),
        Reply::Ok(body) => format!("OK ({} bytes)", body.len()),
        other => format!("{other:?}"),
    }
}
