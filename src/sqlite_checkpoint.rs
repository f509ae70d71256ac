//! Checkpoints of the embedded SQLite file, off the hot path.
//!
//! In WAL mode, commits append to the WAL and a checkpoint copies the WAL back into the file and
//! syncs it. Left to SQLite, the checkpoint runs inside whichever commit takes the WAL past its
//! threshold: that commit (a producer's `enqueue()`, a worker's claim) then takes 60-70 ms on
//! our machines instead of 0.1 ms, once every 1,600 jobs or so at 1,000 jobs/s, which made
//! those stalls most of the p99 of enqueue-to-start latency.
//!
//! So each process that has the file open runs one thread that checkpoints it every
//! [`EVERY`], in PASSIVE mode (it never blocks readers or writers; a writer that arrives meanwhile
//! just appends), and starts the WAL over once it is large (see `run`). The WAL so stays far
//! below the size at which SQLite's own automatic checkpoint (still set, as a backstop) would
//! run in a commit. The thread ends when the process has closed every connection to the file,
//! or the file is gone.

use rusqlite::{Connection, OpenFlags};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

/// How often the checkpointer runs: short enough that each checkpoint has little to copy.
pub const EVERY: Duration = Duration::from_millis(200);

/// Held by every connection to a file: while one is held, the file's checkpointer runs.
pub(crate) struct Checkpointing {
    _path: PathBuf,
}

fn running() -> &'static Mutex<HashMap<PathBuf, Weak<Checkpointing>>> {
    static RUNNING: OnceLock<Mutex<HashMap<PathBuf, Weak<Checkpointing>>>> = OnceLock::new();
    RUNNING.get_or_init(Default::default)
}

/// Starts the file's checkpointer in this process unless it runs already; keep the returned
/// value as long as the connection.
pub(crate) fn keep_checkpointed(path: &Path) -> Arc<Checkpointing> {
    let key = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    let mut all = running().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(live) = all.get(&key).and_then(Weak::upgrade) {
        return live;
    }
    all.retain(|_, w| w.strong_count() > 0);
    let token = Arc::new(Checkpointing { _path: key.clone() });
    let weak = Arc::downgrade(&token);
    all.insert(key.clone(), weak.clone());
    let spawned = std::thread::Builder::new()
        .name("zerog-checkpoint".into())
        .spawn(move || run(&key, &weak));
    if let Err(e) = spawned {
        // SQLite's automatic checkpoint still runs; only the latency gain is lost.
        log::warn!(target: "zeroG.sqlite", "cannot start the checkpoint thread: {e}");
    }
    token
}

fn run(path: &Path, users: &Weak<Checkpointing>) {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = match Connection::open_with_flags(path, flags) {
        Ok(c) => c,
        Err(e) => {
            log::warn!(target: "zeroG.sqlite", "checkpoints of {}: cannot open: {e}", path.display());
            return;
        }
    };
    // RESTART waits for the writer of the moment to finish: a short wait, or try next round.
    if let Err(e) = conn.busy_timeout(Duration::from_millis(100)) {
        log::warn!(target: "zeroG.sqlite", "checkpoints of {}: {e}", path.display());
    }
    loop {
        std::thread::sleep(EVERY);
        if users.strong_count() == 0 || !path.exists() {
            return;
        }
        match checkpoint(&conn, "PASSIVE") {
            // PASSIVE copies without blocking anyone, but under a steady stream of commits the
            // WAL never drains completely, and only a drained WAL starts again from its
            // beginning. Once it is large, RESTART copies the little PASSIVE left (writers
            // wait that long, not for a whole checkpoint) and makes the next commit start it
            // over.
            Ok(frames) if frames > RESTART_AT => {
                if let Err(e) = checkpoint(&conn, "RESTART") {
                    log::debug!(target: "zeroG.sqlite", "checkpoint of {}: {e}", path.display());
                }
            }
            Ok(_) => {}
            Err(e) => log::debug!(target: "zeroG.sqlite", "checkpoint of {}: {e}", path.display()),
        }
    }
}

/// WAL frames (pages) past which the checkpointer starts the WAL over: 16 MiB at 4 KiB pages,
/// a quarter of SQLite's own threshold as we set it, so SQLite never gets to checkpoint in a
/// commit.
const RESTART_AT: i64 = 4096;

/// Runs a checkpoint; returns how many frames the WAL holds. Busy (another process was
/// checkpointing, or writers kept on) is not an error: the next round catches up.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<i64> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| r.get(1))
}

/// Whether this process runs a checkpointer for `path` now (for tests).
pub fn is_running(path: &Path) -> bool {
    let key = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    running()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
        .is_some_and(|w| w.strong_count() > 0)
}
