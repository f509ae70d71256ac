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
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.is_dir() {
            return Err(err(
                path,
                format!("directory {} does not exist", dir.display()),
            ));
        }
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let mut conn = Connection::open_with_flags(path, flags).map_err(|e| err(path, e))?;
    // The worker keeps a statement per watched tube besides its dozen fixed ones.
    conn.set_prepared_statement_cache_capacity(64);
    conn.busy_handler(Some(busy_wait))
        .map_err(|e| err(path, e))?;
    let mode = switch_to_wal(&conn).map_err(|e| err(path, e))?;
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
/// calling the busy handler (waiting could deadlock); so the switch is retried here, for as long
/// as the busy handler would wait.
fn switch_to_wal(conn: &Connection) -> rusqlite::Result<String> {
    let mut attempt = 0;
    loop {
        // journal_mode returns a row, so it is read rather than executed.
        match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && busy_wait(attempt) =>
            {
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
    let out = f(&tx)?;
    tx.commit().map_err(|e| err(path, e))?;
    Ok(out)
}
