//! Opening the embedded SQLite file, shared by the store and the queue (both live in one file).
//!
//! WAL mode lets readers run beside the one writer, and `synchronous=NORMAL` makes a commit cost
//! a WAL append rather than an fsync (a power cut can lose the last commits, never corrupt the
//! file). Writers from several processes take turns; SQLite's default busy wait sleeps whole
//! milliseconds, which caps throughput at a few hundred writes a second under contention, so a
//! finer-grained busy handler replaces it.

use crate::error::{Error, Result};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

/// How long a writer waits for the lock before the operation fails (about 10 s in all).
const BUSY_ATTEMPTS: i32 = 20_000;
/// How long opening waits, in all, to put the file in WAL mode while other connections hold it:
/// the same budget as one write's busy wait.
pub(crate) const WAL_SWITCH_BUDGET: Duration = Duration::from_secs(10);

fn busy_wait(attempt: i32) -> bool {
    if attempt >= BUSY_ATTEMPTS {
        return false;
    }
    // Spin politely first (the lock is usually held for tens of microseconds), then back off.
    if attempt < 20 {
        std::thread::yield_now();
    } else {
        let micros = (attempt as u64).min(1000) * 2;
        std::thread::sleep(Duration::from_micros(micros.min(500)));
    }
    true
}

pub(crate) fn err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::backend("sqlite", path.display().to_string(), e)
}

/// Opens (creating if needed) the SQLite file at `path`, ready for use from many processes.
pub(crate) fn open(path: &Path) -> Result<Connection> {
    open_within(path, WAL_SWITCH_BUDGET)
}

/// [`open`], waiting at most `budget` for other connections to let the file go into WAL mode.
pub(crate) fn open_within(path: &Path, budget: Duration) -> Result<Connection> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.is_dir() {
            // The default's directory is zeroG's own to make; any other was named by the user,
            // and a typo there must not quietly become a new, empty store.
            if path == crate::config::default_path() {
                std::fs::create_dir_all(dir).map_err(|e| err(path, e))?;
            } else {
                return Err(Error::Config(format!(
                    "sqlite {}: directory {} does not exist",
                    path.display(),
                    dir.display()
                )));
            }
        }
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    // Through the VFS that writes a commit's WAL frames in one call (see `wal_writes`).
    super::wal_writes::register().map_err(|e| err(path, e))?;
    let mut conn = Connection::open_with_flags_and_vfs(path, flags, super::wal_writes::VFS_NAME)
        .map_err(|e| err(path, e))?;
    // The worker keeps a statement per watched tube besides its dozen fixed ones.
    conn.set_prepared_statement_cache_capacity(64);
    // No busy wait inside SQLite while switching (rusqlite opens with one of 5 s): the switch
    // keeps its own, bounded, count.
    conn.busy_timeout(Duration::ZERO)
        .map_err(|e| err(path, e))?;
    let mode = switch_to_wal(&conn, budget).map_err(|e| match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseBusy => err(
            path,
            format!(
                "the file is locked by another connection and could not be put in WAL mode within {} s \
                 (a process holding it open, or a file that is not a zeroG database)",
                budget.as_secs_f64()
            ),
        ),
        e => err(path, e),
    })?;
    conn.busy_handler(Some(busy_wait))
        .map_err(|e| err(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(err(path, format!("cannot use WAL mode (got {mode})")));
    }
    // A checkpoint copies the WAL's pages into the file and syncs it: a thread does it, woken by
    // the commit that finds the WAL past 16 MiB, instead of that commit (see `checkpoint`).
    // The WAL is cut back to 64 MiB after a checkpoint.
    conn.execute_batch(
        "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF; PRAGMA journal_size_limit=67108864;",
    )
    .map_err(|e| err(path, e))?;
    crate::embedded::checkpoint::install(&mut conn, path).map_err(|e| err(path, e))?;
    Ok(conn)
}

/// Puts the file in WAL mode and returns the journal mode it is in. Switching a fresh file needs
/// an exclusive lock, and when several processes open it at once SQLite answers BUSY without
/// calling the busy handler (waiting could deadlock); so the switch is retried here, with no
/// busy handler installed yet (each try answers at once), until `budget` has passed: the whole
/// wait is bounded, where a busy handler inside each try would multiply it.
fn switch_to_wal(conn: &Connection, budget: Duration) -> rusqlite::Result<String> {
    let deadline = std::time::Instant::now() + budget;
    let mut attempt = 0;
    loop {
        // journal_mode returns a row, so it is read rather than executed.
        match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy
                    && std::time::Instant::now() < deadline =>
            {
                busy_wait(attempt.min(BUSY_ATTEMPTS - 1));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Runs `f` in a write transaction taken up front (`BEGIN IMMEDIATE`), so a read-then-write
/// inside it can never be overtaken by another writer.
pub(crate) fn write_txn<T>(
    conn: &mut Connection,
    path: &Path,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| err(path, e))?;
    // The documents' status counts, noted by the writes, go in with them (or not at all). What
    // a transaction that panicked noted is dropped first.
    super::status_counts::discard();
    let out = match f(&tx) {
        Ok(out) => out,
        Err(e) => {
            super::status_counts::discard();
            return Err(e);
        }
    };
    super::status_counts::apply(&tx).map_err(|e| err(path, e))?;
    tx.commit().map_err(|e| err(path, e))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A file another connection holds (here a reader in rollback-journal mode, as a truncated
    /// or foreign database would be) is refused within the budget, naming the file.
    #[test]
    fn a_file_held_by_another_connection_is_refused_within_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("held.db");
        let holder = Connection::open(&path).unwrap();
        holder
            .execute_batch("PRAGMA journal_mode=DELETE; CREATE TABLE t (x); INSERT INTO t VALUES (1); BEGIN; SELECT * FROM t;")
            .unwrap();
        let t0 = Instant::now();
        let e = open_within(&path, Duration::from_millis(300))
            .unwrap_err()
            .to_string();
        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
        assert!(
            e.contains("held.db") && e.contains("WAL mode within 0.3 s"),
            "{e}"
        );
        holder.execute_batch("COMMIT").unwrap();
        drop(holder);
        open_within(&path, Duration::from_millis(300)).expect("free again: opens");
    }
}
