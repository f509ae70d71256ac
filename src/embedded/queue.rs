//! The embedded queue: beanstalkd's semantics kept in tables of the store's SQLite file, so one
//! file is a whole zeroG on a laptop and any number of worker processes can share it.
//!
//! Nothing here depends on a timer running somewhere. "Delayed" is not stored: it is a ready job
//! whose `ready_at` is still in the future, so a delay ends by the clock alone. A lease ends the
//! same way: every write transaction first hands expired reservations back (counting a timeout),
//! and reads count them as ready already.

use super::file_watch::FileWatch;
use super::open::{self as sqlite, err};
use crate::clock::now_epoch;
use crate::error::{Error, Result};
use crate::queue::{
    validate_tube_name, JobId, JobState, JobStats, Joint, PutRequest, Queue, Reserved, TubeStats,
};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// State codes as stored (see the schema); ready is 0.
const RESERVED: i64 = 1;
const BURIED: i64 = 2;

/// beanstalkd's default, so that a job that fits here also fits in production.
const MAX_JOB_SIZE: usize = 65_535;

/// How often a waiting reserve looks for news. Reading `PRAGMA data_version` costs a few
/// microseconds, so polling every millisecond keeps enqueue-to-start latency low for little CPU.
const POLL: Duration = Duration::from_millis(1);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS zerog_queue_jobs (
    -- AUTOINCREMENT so that a deleted job's id never comes back naming another job.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tube TEXT NOT NULL,
    body BLOB NOT NULL,
    pri INTEGER NOT NULL,
    delay INTEGER NOT NULL,
    ttr INTEGER NOT NULL,
    -- 0 ready (delayed while ready_at > now), 1 reserved, 2 buried.
    state INTEGER NOT NULL,
    -- When the job became (or becomes) ready; for a buried job, when it was buried.
    ready_at REAL NOT NULL,
    owner TEXT,
    deadline REAL,
    created_at REAL NOT NULL,
    reserves INTEGER NOT NULL DEFAULT 0,
    timeouts INTEGER NOT NULL DEFAULT 0,
    releases INTEGER NOT NULL DEFAULT 0,
    buries INTEGER NOT NULL DEFAULT 0,
    kicks INTEGER NOT NULL DEFAULT 0
);
-- Every index is partial, holding only the jobs in one state: reserving a job and deleting it
-- then touch few index pages, and every page a commit touches is written out again (to the WAL),
-- which is most of what a job costs here. Queries name the state as a literal so that SQLite
-- can use these indexes.
-- Ready (and delayed) jobs, in reserve's order.
CREATE INDEX IF NOT EXISTS zerog_queue_ready ON zerog_queue_jobs (tube, pri, ready_at, id) WHERE state = 0;
-- Delayed jobs, by when they come due. Only a job put or released with a delay can be delayed
-- (its ready_at is then past its put by that much), so the rest never enter this index: an
-- enqueue and a reserve each write one index page fewer. (It replaced zerog_queue_due, which
-- held every ready job.)
DROP INDEX IF EXISTS zerog_queue_due;
CREATE INDEX IF NOT EXISTS zerog_queue_delayed ON zerog_queue_jobs (tube, ready_at, id) WHERE state = 0 AND delay > 0;
-- Buried jobs, oldest first (the order kick takes them in).
CREATE INDEX IF NOT EXISTS zerog_queue_buried ON zerog_queue_jobs (tube, ready_at, id) WHERE state = 2;
-- Leases, by when they run out.
CREATE INDEX IF NOT EXISTS zerog_queue_leases ON zerog_queue_jobs (deadline) WHERE state = 1;
-- Which connection waits on which tube (the tubes of its last reserve), and from which process:
-- stats_tube's `watching`, as beanstalkd counts it. A worker's control tube is watched while the
-- worker lives; a row whose process is gone does not count.
CREATE TABLE IF NOT EXISTS zerog_queue_watchers (
    tube TEXT NOT NULL,
    owner TEXT NOT NULL,
    pid INTEGER NOT NULL,
    PRIMARY KEY (tube, owner)
) WITHOUT ROWID;
";

/// One connection to the queue in a SQLite file. Jobs it reserves belong to it until they are
/// deleted, released, buried, time out, or it is dropped.
pub struct EmbeddedQueue {
    path: PathBuf,
    /// Who holds a reservation: unique per value, so two connections in one process are as
    /// separate as two processes.
    owner: String,
    conn: Mutex<Connection>,
    /// The connection that only reads (stats, peeks, tube lists): in WAL mode a read never
    /// waits for a writer, but a read queued behind a write on the same connection would wait
    /// as long as the write waits for the lock (an enqueue, whose transaction holds the write
    /// connection while another process writes, say). A server's /health and /queues go on.
    reader: Mutex<Connection>,
    /// Notices the file deleted or replaced under this process (see [`FileWatch`]).
    watch: FileWatch,
    /// The tubes of its last reserve, as `zerog_queue_watchers` has them.
    watching: Mutex<Vec<String>>,
    /// Joint transactions from several threads at once, committed together.
    pub(crate) group: super::group_commit::GroupCommit,
}

pub(crate) enum Attempt {
    Got(Reserved),
    /// Nothing ready; `next_due` is when a delay or a lease ends (epoch seconds), so a waiting
    /// reserve knows to look again even if nobody writes.
    Empty {
        next_due: f64,
    },
}

trait At<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> At<T> for rusqlite::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|e| err(path, e))
    }
}

impl EmbeddedQueue {
    pub fn open(path: &Path) -> Result<EmbeddedQueue> {
        let mut conn = sqlite::open(path)?;
        conn.set_prepared_statement_cache_capacity(64);
        sqlite::write_txn(&mut conn, path, |tx| tx.execute_batch(SCHEMA).at(path))?;
        let reader = sqlite::open(path)?;
        Ok(EmbeddedQueue {
            path: path.to_owned(),
            owner: uuid::Uuid::new_v4().to_string(),
            conn: Mutex::new(conn),
            reader: Mutex::new(reader),
            watch: FileWatch::new(path),
            watching: Mutex::new(Vec::new()),
            group: Default::default(),
        })
    }

    /// Records that this connection now waits on `tubes` (written only when they change).
    fn note_watching(&self, tubes: &[String]) -> Result<()> {
        let mut watching = self.watching.lock().unwrap_or_else(|e| e.into_inner());
        if watching.as_slice() == tubes {
            return Ok(());
        }
        let pid = std::process::id();
        self.write(|tx, _| {
            tx.execute("DELETE FROM zerog_queue_watchers WHERE owner = ?1", [&self.owner])
                .at(&self.path)?;
            for tube in tubes {
                tx.execute(
                    "INSERT OR REPLACE INTO zerog_queue_watchers (tube, owner, pid) VALUES (?1, ?2, ?3)",
                    params![tube, self.owner, pid],
                )
                .at(&self.path)?;
            }
            Ok(())
        })?;
        *watching = tubes.to_vec();
        Ok(())
    }

    /// The tubes watched by connections whose processes live, each with how many watch it.
    fn live_watchers(&self) -> Result<BTreeMap<String, u64>> {
        let rows: Vec<(String, i64)> = self.read(|c, _| {
            c.prepare_cached("SELECT tube, pid FROM zerog_queue_watchers")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect()
        })?;
        let mut out = BTreeMap::new();
        for (tube, pid) in rows {
            if process_lives(pid) {
                *out.entry(tube).or_insert(0) += 1;
            }
        }
        Ok(out)
    }

    /// A panic elsewhere cannot leave the connection inside a transaction (rusqlite rolls back
    /// on drop), so a poisoned lock is still safe to use.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` in one write transaction, after handing back expired leases so that `f` sees
    /// every reservation as live. `now` is read once the write lock is held.
    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>, f64) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        sqlite::write_txn(&mut conn, &self.path, |tx| {
            let now = now_epoch();
            expire_leases(tx, now).at(&self.path)?;
            f(tx, now)
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in one write transaction of this connection (see [`EmbeddedTxn`]).
    pub(crate) fn transaction<T>(
        &self,
        f: impl FnOnce(&EmbeddedTxn<'_>) -> Result<T>,
    ) -> Result<T> {
        self.write(|tx, now| {
            f(&EmbeddedTxn {
                tx,
                now,
                owner: &self.owner,
                path: &self.path,
            })
        })
    }

    fn read<T>(&self, f: impl FnOnce(&Connection, f64) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self.reader.lock().unwrap_or_else(|e| e.into_inner());
        f(&conn, now_epoch()).at(&self.path)
    }

    /// Changes whenever anything may have changed: `data_version` covers other connections'
    /// commits and `total_changes` this one's (another thread may put through the same value).
    pub(crate) fn version(&self) -> Result<(i64, u64)> {
        // Asked at every step of a worker and every poll of an idle one: the place to notice,
        // now and then, that the file is not the one opened.
        self.watch.check();
        let conn = self.lock();
        let v = conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .at(&self.path)?;
        Ok((v, conn.total_changes()))
    }

    fn try_reserve(&self, tubes: &[String]) -> Result<Attempt> {
        self.write(|tx, now| reserve_in(tx, now, &self.owner, &self.path, tubes))
    }

    /// Sleeps in `POLL` steps, without holding the connection, until something may have changed
    /// since `seen`, a delay or lease ends at `next_due`, or `give_up` passes (then false).
    pub(crate) fn wait_for_news(
        &self,
        seen: (i64, u64),
        next_due: f64,
        give_up: Option<Instant>,
    ) -> Result<bool> {
        loop {
            let step = match give_up {
                Some(t) => match t.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => left.min(POLL),
                    _ => return Ok(false),
                },
                None => POLL,
            };
            std::thread::sleep(step);
            if now_epoch() >= next_due || self.version()? != seen {
                return Ok(true);
            }
        }
    }

    /// Runs one update on a job this connection holds; no row changed is beanstalkd's NOT_FOUND.
    fn update_own(
        &self,
        id: JobId,
        f: impl FnOnce(&Transaction<'_>, f64) -> rusqlite::Result<usize>,
    ) -> Result<()> {
        self.write(|tx, now| found(f(tx, now).at(&self.path)?, id))
    }

    fn peek_one(&self, sql: &str, tube: &str, with_now: bool) -> Result<Option<(JobId, Vec<u8>)>> {
        validate_tube_name(tube)?;
        self.read(|c, t| {
            let mut s = c.prepare_cached(sql)?;
            let row = |r: &rusqlite::Row<'_>| Ok((r.get::<_, i64>(0)? as JobId, r.get(1)?));
            if with_now {
                s.query_row(params![tube, t], row).optional()
            } else {
                s.query_row(params![tube], row).optional()
            }
        })
    }
}

/// Reserves the best ready job in `tubes` for `owner`, inside the caller's write transaction.
fn reserve_in(
    tx: &Transaction<'_>,
    now: f64,
    owner: &str,
    path: &Path,
    tubes: &[String],
) -> Result<Attempt> {
    let mut got = reserve_many_in(tx, now, owner, path, tubes, 1)?;
    match got.pop() {
        Some(job) => Ok(Attempt::Got(job)),
        None => Ok(Attempt::Empty {
            next_due: next_due_in(tx, now, path, tubes)?,
        }),
    }
}

/// Reserves up to `n` of the best ready jobs in `tubes` (in reserve's order: priority, then
/// readiness, then age) for `owner`, inside the caller's write transaction.
fn reserve_many_in(
    tx: &Transaction<'_>,
    now: f64,
    owner: &str,
    path: &Path,
    tubes: &[String],
    n: usize,
) -> Result<Vec<Reserved>> {
    let mut best: Vec<(i64, f64, i64)> = Vec::new();
    for tube in tubes {
        // The tube is written into the SQL as a literal, and there is no bound LIMIT: with
        // either bound, SQLite re-prepared this ORDER BY query in every transaction (measured:
        // a fifth of a no-op job's cost). Tube names are validated (no quotes), and each tube's
        // statement is prepared once and cached.
        validate_tube_name(tube)?;
        let mut next = tx.prepare_cached(&reserve_sql(tube)).at(path)?;
        // No LIMIT: the index yields rows in this order (no sort), so reading stops after `n`.
        let rows = next
            .query_map(params![now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .at(path)?;
        for row in rows.take(n) {
            best.push(row.at(path)?);
        }
    }
    if tubes.len() > 1 {
        best.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    }
    best.truncate(n);
    let mut take = tx
        .prepare_cached(
            "UPDATE zerog_queue_jobs
             SET state = 1, owner = ?2, deadline = ?3 + ttr, reserves = reserves + 1
             WHERE id = ?1 RETURNING tube, body, reserves",
        )
        .at(path)?;
    let mut out = Vec::with_capacity(best.len());
    for (_, _, id) in best {
        let (tube, body, reserves) = take
            .query_row(params![id, owner, now], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?))
            })
            .at(path)?;
        out.push(Reserved {
            id: id as JobId,
            tube,
            body,
            reserves: Some(reserves as u64),
        });
    }
    Ok(out)
}

/// The query for a tube's best ready jobs (see [`reserve_many_in`] for why the tube is a literal;
/// `tube` must have passed [`validate_tube_name`]).
fn reserve_sql(tube: &str) -> String {
    format!(
        "SELECT pri, ready_at, id FROM zerog_queue_jobs
         WHERE tube = '{tube}' AND state = 0 AND ready_at <= ?1
         ORDER BY pri, ready_at, id"
    )
}

/// The jobs of tube ?1 that are delayed at ?2 (epoch seconds), written once for every query
/// that looks for them: `delay > 0` is the partial index `zerog_queue_delayed`'s condition, and
/// only a query that states it can use that index.
macro_rules! delayed_in_tube {
    () => {
        "tube = ?1 AND state = 0 AND delay > 0 AND ready_at > ?2"
    };
}

/// When the next delayed job in tube ?1 comes due, after ?2 (epoch seconds).
const NEXT_DELAYED: &str = concat!(
    "SELECT MIN(ready_at) FROM zerog_queue_jobs WHERE ",
    delayed_in_tube!()
);

/// When the next delayed job comes due or the next lease runs out (epoch seconds), for a
/// reserve that found nothing ready.
fn next_due_in(tx: &Transaction<'_>, now: f64, path: &Path, tubes: &[String]) -> Result<f64> {
    let mut next_due: f64 = tx
        .prepare_cached("SELECT MIN(deadline) FROM zerog_queue_jobs WHERE state = 1")
        .and_then(|mut s| s.query_row([], |r| r.get::<_, Option<f64>>(0)))
        .at(path)?
        .unwrap_or(f64::INFINITY);
    let mut delayed = tx.prepare_cached(NEXT_DELAYED).at(path)?;
    for tube in tubes {
        let due: Option<f64> = delayed
            .query_row(params![tube, now], |r| r.get(0))
            .at(path)?;
        next_due = next_due.min(due.unwrap_or(f64::INFINITY));
    }
    Ok(next_due)
}

/// A write transaction on a queue connection, opened by [`EmbeddedQueue::transaction`]. The
/// worker uses it (through [`Joint`]) to change a job's queue entry and its document (kept in the same file) in one
/// commit: a commit is the dominant cost of an embedded job, and one commit cannot half-happen.
pub(crate) struct EmbeddedTxn<'a> {
    tx: &'a Transaction<'a>,
    now: f64,
    owner: &'a str,
    path: &'a Path,
}

impl EmbeddedTxn<'_> {
    pub(crate) fn conn(&self) -> &Connection {
        self.tx
    }

    pub(crate) fn path(&self) -> &Path {
        self.path
    }

    /// Puts a job, in this transaction: it is queued when the transaction commits.
    pub(crate) fn put(&self, job: &PutRequest) -> Result<JobId> {
        check_put(job)?;
        insert(self.tx, self.now, job).at(self.path)
    }

    /// Reserves up to `n` ready jobs; empty if none is ready (then see [`Self::next_due`]).
    pub(crate) fn reserve_many(&self, tubes: &[String], n: usize) -> Result<Vec<Reserved>> {
        reserve_many_in(self.tx, self.now, self.owner, self.path, tubes, n)
    }

    /// When a delayed job in `tubes` comes due or a lease runs out (epoch seconds).
    pub(crate) fn next_due(&self, tubes: &[String]) -> Result<f64> {
        next_due_in(self.tx, self.now, self.path, tubes)
    }

    /// How many times the job was reserved (beanstalkd's `reserves`).
    pub(crate) fn reserves(&self, id: JobId) -> Result<u64> {
        self.tx
            .prepare_cached("SELECT reserves FROM zerog_queue_jobs WHERE id = ?1")
            .and_then(|mut s| s.query_row([id as i64], |r| count(r, 0)))
            .optional()
            .at(self.path)?
            .ok_or(Error::JobNotFound { id })
    }

    pub(crate) fn delete(&self, id: JobId) -> Result<()> {
        let n = self
            .tx
            .prepare_cached(
                "DELETE FROM zerog_queue_jobs WHERE id = ?1 AND (state != 1 OR owner = ?2)",
            )
            .and_then(|mut s| s.execute(params![id as i64, self.owner]))
            .at(self.path)?;
        found(n, id)
    }

    pub(crate) fn release(&self, id: JobId, priority: u32, delay: u32) -> Result<()> {
        let n = self
            .tx
            .prepare_cached(
                "UPDATE zerog_queue_jobs
                 SET state = 0, owner = NULL, deadline = NULL, pri = ?4, delay = ?5,
                     ready_at = ?3 + ?5, releases = releases + 1
                 WHERE id = ?1 AND state = 1 AND owner = ?2",
            )
            .and_then(|mut s| s.execute(params![id as i64, self.owner, self.now, priority, delay]))
            .at(self.path)?;
        found(n, id)
    }

    pub(crate) fn bury(&self, id: JobId, priority: u32) -> Result<()> {
        let n = self
            .tx
            .prepare_cached(
                "UPDATE zerog_queue_jobs
                 SET state = 2, owner = NULL, deadline = NULL, pri = ?4, ready_at = ?3,
                     buries = buries + 1
                 WHERE id = ?1 AND state = 1 AND owner = ?2",
            )
            .and_then(|mut s| s.execute(params![id as i64, self.owner, self.now, priority]))
            .at(self.path)?;
        found(n, id)
    }
}

fn expire_leases(tx: &Transaction<'_>, now: f64) -> rusqlite::Result<usize> {
    tx.prepare_cached(
        "UPDATE zerog_queue_jobs SET state = 0, owner = NULL, deadline = NULL, timeouts = timeouts + 1
         WHERE state = 1 AND deadline < ?1",
    )?
    .execute([now])
}

fn found(changed: usize, id: JobId) -> Result<()> {
    if changed == 0 {
        Err(Error::JobNotFound { id })
    } else {
        Ok(())
    }
}

fn check_put(job: &PutRequest) -> Result<()> {
    validate_tube_name(&job.tube)?;
    if job.body.len() > MAX_JOB_SIZE {
        return Err(Error::JobTooBig {
            size: job.body.len(),
            limit: MAX_JOB_SIZE,
        });
    }
    Ok(())
}

fn insert(tx: &Transaction<'_>, now: f64, job: &PutRequest) -> rusqlite::Result<JobId> {
    tx.prepare_cached(
        "INSERT INTO zerog_queue_jobs (tube, body, pri, delay, ttr, state, ready_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7)",
    )?
    .execute(params![
        job.tube,
        job.body,
        job.priority,
        job.delay,
        job.ttr.max(1),
        now + f64::from(job.delay),
        now
    ])?;
    Ok(tx.last_insert_rowid() as JobId)
}

/// SQLite integers are signed; counters never go negative.
fn count(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<u64> {
    Ok(r.get::<_, i64>(i)?.max(0) as u64)
}

/// Whole seconds from `now` until `t`, never negative (beanstalkd truncates the same way).
fn secs_until(t: f64, now: f64) -> u64 {
    (t - now).max(0.0) as u64
}

impl Queue for EmbeddedQueue {
    fn joint(&self) -> Option<&dyn Joint> {
        Some(self)
    }

    /// SQLite has no server to wait on: a reserve polls the file in short steps.
    fn waits_in_whole_seconds(&self) -> bool {
        false
    }

    fn put(&self, job: &PutRequest) -> Result<JobId> {
        check_put(job)?;
        self.write(|tx, now| insert(tx, now, job).at(&self.path))
    }

    fn put_many(&self, jobs: &[PutRequest]) -> Result<Vec<JobId>> {
        jobs.iter().try_for_each(check_put)?;
        self.write(|tx, now| {
            jobs.iter()
                .map(|job| insert(tx, now, job).at(&self.path))
                .collect()
        })
    }

    fn reserve(&self, tubes: &[String], timeout: Duration) -> Result<Option<Reserved>> {
        if tubes.is_empty() {
            return Err(Error::Invalid("reserve needs at least one tube".into()));
        }
        tubes.iter().try_for_each(|t| validate_tube_name(t))?;
        self.note_watching(tubes)?;
        let give_up = Instant::now().checked_add(timeout);
        loop {
            // Read before trying, so a commit landing just after the attempt still wakes us.
            let seen = self.version()?;
            match self.try_reserve(tubes)? {
                Attempt::Got(job) => return Ok(Some(job)),
                Attempt::Empty { next_due } => {
                    if !self.wait_for_news(seen, next_due, give_up)? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    fn delete(&self, id: JobId) -> Result<()> {
        self.transaction(|t| t.delete(id))
    }

    fn release(&self, id: JobId, priority: u32, delay: u32) -> Result<()> {
        self.transaction(|t| t.release(id, priority, delay))
    }

    fn bury(&self, id: JobId, priority: u32) -> Result<()> {
        self.transaction(|t| t.bury(id, priority))
    }

    fn touch(&self, id: JobId) -> Result<()> {
        self.update_own(id, |tx, now| {
            tx.prepare_cached(
                "UPDATE zerog_queue_jobs SET deadline = ?3 + ttr
                 WHERE id = ?1 AND state = 1 AND owner = ?2",
            )?
            .execute(params![id as i64, self.owner, now])
        })
    }

    fn kick(&self, tube: &str, bound: u64) -> Result<u64> {
        validate_tube_name(tube)?;
        let bound = i64::try_from(bound).unwrap_or(i64::MAX);
        self.write(|tx, now| {
            let buried = tx
                .prepare_cached(
                    "UPDATE zerog_queue_jobs SET state = 0, ready_at = ?2, kicks = kicks + 1
                     WHERE id IN (SELECT id FROM zerog_queue_jobs WHERE tube = ?1 AND state = 2
                                  ORDER BY ready_at, id LIMIT ?3)",
                )
                .and_then(|mut s| s.execute(params![tube, now, bound]))
                .at(&self.path)?;
            if buried > 0 {
                return Ok(buried as u64);
            }
            let delayed = tx
                .prepare_cached(concat!(
                    "UPDATE zerog_queue_jobs SET ready_at = ?2, kicks = kicks + 1
                     WHERE id IN (SELECT id FROM zerog_queue_jobs WHERE ",
                    delayed_in_tube!(),
                    " ORDER BY ready_at, id LIMIT ?3)"
                ))
                .and_then(|mut s| s.execute(params![tube, now, bound]))
                .at(&self.path)?;
            Ok(delayed as u64)
        })
    }

    fn kick_job(&self, id: JobId) -> Result<()> {
        self.write(|tx, now| {
            let n = tx
                .prepare_cached(
                    "UPDATE zerog_queue_jobs SET state = 0, ready_at = ?2, kicks = kicks + 1
                     WHERE id = ?1 AND (state = 2 OR (state = 0 AND ready_at > ?2))",
                )
                .and_then(|mut s| s.execute(params![id as i64, now]))
                .at(&self.path)?;
            found(n, id)
        })
    }

    fn peek(&self, id: JobId) -> Result<Option<(JobId, Vec<u8>)>> {
        self.read(|c, _| {
            c.prepare_cached("SELECT body FROM zerog_queue_jobs WHERE id = ?1")?
                .query_row([id as i64], |r| Ok((id, r.get(0)?)))
                .optional()
        })
    }

    fn peek_ready(&self, tube: &str) -> Result<Option<(JobId, Vec<u8>)>> {
        validate_tube_name(tube)?;
        // A write, so that expired leases are back in line exactly as reserve would see them.
        self.write(|tx, now| {
            tx.prepare_cached(
                "SELECT id, body FROM zerog_queue_jobs
                 WHERE tube = ?1 AND state = 0 AND ready_at <= ?2
                 ORDER BY pri, ready_at, id LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![tube, now], |r| {
                    Ok((r.get::<_, i64>(0)? as JobId, r.get(1)?))
                })
                .optional()
            })
            .at(&self.path)
        })
    }

    fn peek_delayed(&self, tube: &str) -> Result<Option<(JobId, Vec<u8>)>> {
        self.peek_one(
            concat!(
                "SELECT id, body FROM zerog_queue_jobs WHERE ",
                delayed_in_tube!(),
                " ORDER BY ready_at, id LIMIT 1"
            ),
            tube,
            true,
        )
    }

    fn peek_buried(&self, tube: &str) -> Result<Option<(JobId, Vec<u8>)>> {
        self.peek_one(
            "SELECT id, body FROM zerog_queue_jobs WHERE tube = ?1 AND state = 2
             ORDER BY ready_at, id LIMIT 1",
            tube,
            false,
        )
    }

    fn stats_job(&self, id: JobId) -> Result<JobStats> {
        let stats = self.read(|c, now| {
            c.prepare_cached(
                "SELECT tube, state, pri, delay, ttr, ready_at, deadline, created_at,
                        reserves, timeouts, releases, buries, kicks
                 FROM zerog_queue_jobs WHERE id = ?1",
            )?
            .query_row([id as i64], |r| {
                let state: i64 = r.get(1)?;
                let ready_at: f64 = r.get(5)?;
                let deadline: Option<f64> = r.get(6)?;
                let mut timeouts = count(r, 9)?;
                let (state, time_left) = match (state, deadline) {
                    (RESERVED, Some(d)) if d < now => {
                        // Expired but not yet handed back: report what reserve will make of it.
                        timeouts += 1;
                        (JobState::Ready, 0)
                    }
                    (RESERVED, d) => (JobState::Reserved, secs_until(d.unwrap_or(now), now)),
                    (BURIED, _) => (JobState::Buried, 0),
                    _ if ready_at > now => (JobState::Delayed, secs_until(ready_at, now)),
                    _ => (JobState::Ready, 0),
                };
                let created_at: f64 = r.get(7)?;
                Ok(JobStats {
                    id,
                    tube: r.get(0)?,
                    state,
                    priority: r.get(2)?,
                    age: secs_until(now, created_at),
                    delay: r.get(3)?,
                    ttr: r.get(4)?,
                    time_left,
                    reserves: count(r, 8)?,
                    timeouts,
                    releases: count(r, 10)?,
                    buries: count(r, 11)?,
                    kicks: count(r, 12)?,
                })
            })
            .optional()
        })?;
        stats.ok_or(Error::JobNotFound { id })
    }

    fn stats_tube(&self, tube: &str) -> Result<TubeStats> {
        validate_tube_name(tube)?;
        let (ready, reserved, delayed, buried) = self.read(|c, now| {
            c.prepare_cached(
                "SELECT
                    count(*) FILTER (WHERE (state = 0 AND ready_at <= ?2) OR (state = 1 AND deadline < ?2)),
                    count(*) FILTER (WHERE state = 1 AND deadline >= ?2),
                    count(*) FILTER (WHERE state = 0 AND ready_at > ?2),
                    count(*) FILTER (WHERE state = 2)
                 FROM zerog_queue_jobs WHERE tube = ?1",
            )?
            .query_row(params![tube, now], |r| Ok((count(r, 0)?, count(r, 1)?, count(r, 2)?, count(r, 3)?)))
        })?;
        Ok(TubeStats {
            name: tube.to_owned(),
            ready,
            reserved,
            delayed,
            buried,
            watching: self.live_watchers()?.get(tube).copied().unwrap_or(0),
        })
    }

    /// The tubes with jobs, and those a live connection waits on (as beanstalkd lists them).
    fn list_tubes(&self) -> Result<Vec<String>> {
        let mut tubes: BTreeSet<String> = self.read(|c, _| {
            c.prepare_cached("SELECT DISTINCT tube FROM zerog_queue_jobs")?
                .query_map([], |r| r.get(0))?
                .collect()
        })?;
        tubes.extend(self.live_watchers()?.into_keys());
        Ok(tubes.into_iter().collect())
    }

    fn max_job_size(&self) -> usize {
        MAX_JOB_SIZE
    }
}

/// Whether the process `pid` (on this machine: the file is local) is alive.
fn process_lives(pid: i64) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // Signal 0 checks without sending; EPERM means it lives under another user.
    pid > 0
        && (unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM))
}

impl Drop for EmbeddedQueue {
    /// beanstalkd hands a closed connection's jobs back at once rather than at their deadlines,
    /// so a worker that stops cleanly does not hold its jobs hostage for a whole TTR.
    fn drop(&mut self) {
        let conn = self.lock();
        if let Err(e) = conn.execute(
            "DELETE FROM zerog_queue_watchers WHERE owner = ?1",
            [&self.owner],
        ) {
            log::warn!(
                "could not clear this connection's watches in {}: {e}",
                self.path.display()
            );
        }
        let r = conn.execute(
            "UPDATE zerog_queue_jobs SET state = 0, owner = NULL, deadline = NULL
             WHERE state = 1 AND owner = ?1",
            [&self.owner],
        );
        if let Err(e) = r {
            log::warn!(
                "could not return reserved jobs in {}: {e}",
                self.path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A factory of connections to one fresh file; the directory lives as long as the factory.
    fn fresh() -> impl Fn() -> Box<dyn Queue> {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        move || {
            Box::new(EmbeddedQueue::open(&dir.path().join("zerog.db")).unwrap()) as Box<dyn Queue>
        }
    }

    crate::queue_conformance_tests!(fresh());

    /// The first column of every row `sql` gives.
    fn column<T: rusqlite::types::FromSql>(conn: &Connection, sql: &str) -> Vec<T> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// A file made before the delayed index replaced the index of every ready job loses the
    /// old one when opened; delayed jobs are then found through the new one (and only jobs
    /// put or released with a delay are in it).
    #[test]
    fn an_older_file_gets_the_delayed_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zerog.db");
        let q = EmbeddedQueue::open(&path).unwrap();
        let conn = sqlite::open(&path).unwrap();
        conn.execute_batch(
            "CREATE INDEX zerog_queue_due ON zerog_queue_jobs (tube, ready_at, id) WHERE state = 0",
        )
        .unwrap();
        drop(q);
        let q = EmbeddedQueue::open(&path).unwrap();
        let indexes: Vec<String> = column(
            &conn,
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND name LIKE 'zerog_queue_d%'",
        );
        assert_eq!(indexes, ["zerog_queue_delayed"]);
        let put = |delay| {
            q.put(&PutRequest {
                tube: "t".into(),
                body: b"x".to_vec(),
                priority: 1,
                delay,
                ttr: 60,
            })
            .unwrap()
        };
        put(0);
        let delayed = put(30);
        let in_index: Vec<i64> = column(
            &conn,
            "SELECT id FROM zerog_queue_jobs INDEXED BY zerog_queue_delayed WHERE state = 0 AND delay > 0",
        );
        assert_eq!(in_index, [delayed as i64]);
        assert_eq!(
            q.peek_delayed("t").unwrap().map(|(id, _)| id),
            Some(delayed)
        );
        let plan: String = conn
            .query_row(
                &format!("EXPLAIN QUERY PLAN {NEXT_DELAYED}"),
                params!["t", 0.0],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("zerog_queue_delayed"), "{plan}");
    }

    #[test]
    fn shares_the_file_with_other_tables() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zerog.db");
        let conn = sqlite::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE zerog_docs (key TEXT PRIMARY KEY, doc TEXT)")
            .unwrap();
        let q = EmbeddedQueue::open(&path).unwrap();
        let again = EmbeddedQueue::open(&path).unwrap();
        let job = PutRequest {
            tube: "t".into(),
            body: b"x".to_vec(),
            priority: 1,
            delay: 0,
            ttr: 0,
        };
        let id = q.put(&job).unwrap();
        assert_eq!(again.stats_job(id).unwrap().ttr, 1, "ttr 0 is raised to 1");
        let n: i64 = conn
            .query_row("SELECT count(*) FROM zerog_docs", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn reserving_many_takes_the_best_jobs_across_tubes_in_reserve_order() {
        let dir = tempfile::tempdir().unwrap();
        let q = EmbeddedQueue::open(&dir.path().join("zerog.db")).unwrap();
        let put = |tube: &str, priority: u32, body: &str| {
            q.put(&PutRequest {
                tube: tube.into(),
                body: body.as_bytes().to_vec(),
                priority,
                delay: 0,
                ttr: 60,
            })
            .unwrap()
        };
        put("a", 5, "a5");
        put("b", 1, "b1");
        put("a", 1, "a1");
        put("b", 9, "b9");
        put("c", 0, "c0"); // not watched
        let tubes = vec!["a".to_string(), "b".to_string()];
        let took = |n| {
            q.transaction(|t| t.reserve_many(&tubes, n))
                .unwrap()
                .into_iter()
                .map(|r| String::from_utf8(r.body).unwrap())
                .collect::<Vec<_>>()
        };
        // Priority first, then age: b1 was put before a1.
        assert_eq!(took(3), ["b1", "a1", "a5"]);
        assert_eq!(took(3), ["b9"]);
        assert!(took(3).is_empty());
        assert_eq!(q.stats_tube("c").unwrap().ready, 1);
    }

    /// The reserve query keeps its prepared plan from one transaction to the next. With the
    /// tube or the limit bound as a parameter SQLite re-prepared it in every transaction, which cost a fifth
    /// of a no-op job; this keeps that from coming back unnoticed.
    #[test]
    fn the_reserve_query_is_not_re_prepared_in_each_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let q = EmbeddedQueue::open(&dir.path().join("zerog.db")).unwrap();
        let tubes = vec!["t".to_string()];
        for i in 0..20 {
            q.put(&PutRequest {
                tube: "t".into(),
                body: format!("{i}").into_bytes(),
                priority: 1,
                delay: 0,
                ttr: 60,
            })
            .unwrap();
            q.transaction(|t| t.reserve_many(&tubes, 1)).unwrap();
        }
        let conn = q.lock();
        let stmt = conn.prepare_cached(&reserve_sql("t")).unwrap();
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }

    /// Not a check, a measurement: `cargo test --release --lib put_many_rate -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check: run by hand with --release --ignored --nocapture"]
    fn put_many_rate() {
        let make = fresh();
        let q = make();
        let jobs: Vec<PutRequest> = (0..100_000)
            .map(|i| PutRequest {
                tube: "bulk".into(),
                body: format!("{{\"key\": \"job-{i:08}\"}}").into_bytes(),
                priority: crate::queue::DEFAULT_PRIORITY,
                delay: 0,
                ttr: 60,
            })
            .collect();
        let t = Instant::now();
        for chunk in jobs.chunks(10_000) {
            q.put_many(chunk).unwrap();
        }
        let secs = t.elapsed().as_secs_f64();
        println!("put_many: {:.0} jobs/s", jobs.len() as f64 / secs);
        let t = Instant::now();
        let tubes = vec!["bulk".to_string()];
        for _ in 0..10_000 {
            let r = q.reserve(&tubes, Duration::ZERO).unwrap().unwrap();
            q.delete(r.id).unwrap();
        }
        println!(
            "reserve+delete: {:.0} jobs/s",
            10_000.0 / t.elapsed().as_secs_f64()
        );
    }

    /// Not a check, a measurement: put-to-reserve latency with a consumer already waiting.
    #[test]
    #[ignore = "a measurement, not a check: run by hand with --release --ignored --nocapture"]
    fn handover_latency() {
        let make = fresh();
        let (producer, consumer) = (make(), make());
        let tubes = vec!["lat".to_string()];
        let waiter = std::thread::spawn(move || {
            (0..300)
                .map(|_| {
                    consumer
                        .reserve(&tubes, Duration::from_secs(5))
                        .unwrap()
                        .unwrap();
                    Instant::now()
                })
                .collect::<Vec<_>>()
        });
        let mut sent = Vec::new();
        for _ in 0..300 {
            std::thread::sleep(Duration::from_millis(5));
            sent.push(Instant::now());
            producer
                .put(&PutRequest {
                    tube: "lat".into(),
                    body: b"x".to_vec(),
                    priority: 0,
                    delay: 0,
                    ttr: 60,
                })
                .unwrap();
        }
        let got = waiter.join().unwrap();
        let mut lags: Vec<Duration> = got.iter().zip(&sent).map(|(g, s)| *g - *s).collect();
        lags.sort();
        println!(
            "handover p50 {:?} p99 {:?} max {:?}",
            lags[150], lags[296], lags[299]
        );
    }
}
