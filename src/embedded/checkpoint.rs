//! Checkpoints of the embedded SQLite file, off the commit path.
//!
//! In WAL mode, commits append to the WAL and a checkpoint copies the WAL back into the file and
//! syncs it. Left to SQLite, the checkpoint runs inside whichever commit takes the WAL past its
//! threshold: that commit (a producer's `enqueue()`, a worker's claim) then takes 60-110 ms on
//! our machines instead of 0.1 ms, once every 1,600 jobs or so at 1,000 jobs/s, and those stalls
//! were most of the p99 of enqueue-to-start latency.
//!
//! So every connection gets a WAL hook in place of SQLite's automatic checkpoint: a commit that
//! finds the WAL past [`WAKE_AT`] frames only wakes this process's checkpoint thread for the
//! file, and goes on. Only if the WAL reaches [`BACKSTOP`] anyway (the thread could not start,
//! or falls behind) does a commit checkpoint itself, as SQLite would have.
//!
//! The thread copies in small steps: past [`WAKE_AT`], each [`STEP`] frames appended wake it for
//! a PASSIVE copy of what is there, which blocks no commit. Once the WAL reaches [`RESTART_AT`]
//! it also copies the last frames in RESTART mode, which holds the write lock through two fsyncs
//! (1-5 ms here) and lets the next commit start the WAL over. We used to copy the whole 16 MiB
//! at once and then RESTART: the copy took one of our two cores for 16 ms, and job starts came
//! late in bursts behind it, once every 0.4 s at 1,000 jobs/s (and a second, needless round
//! followed each). Copying as the WAL grows spreads that work into pieces of about a
//! millisecond, with the same one RESTART per 16 MiB: in eight interleaved runs at 1,000 jobs/s,
//! p99 enqueue-to-start went from 2.2-5.2 ms (median 3.05) to 1.4-3.9 ms (median 2.3), and the
//! end-to-end rate rose by a fifth (README, "Benchmarks").
//!
//! The thread keeps its normal priority. At the lowest (`SCHED_IDLE`, nice 19) the tail was
//! shorter still, but a busy machine starved it and the WAL grew past 60 MiB.

use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;
use rusqlite::Connection;
use std::collections::HashMap;
use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::Duration;

/// WAL frames (pages) at which commits start asking for copies: 4 MiB at 4 KiB pages.
pub const WAKE_AT: c_int = 1024;
/// Frames appended since the last copy that make another one worth its two fsyncs (1 MiB).
pub const STEP: c_int = 256;
/// WAL frames at which a copy ends with RESTART, so that the WAL starts over: 16 MiB.
pub const RESTART_AT: c_int = 4096;
/// WAL frames at which a commit checkpoints itself: SQLite's threshold as we had set it.
pub const BACKSTOP: c_int = 16_384;

const LOG: &str = "zeroG.sqlite";

/// One per file and process, shared by the file's connections (their WAL hooks hold it); the
/// checkpoint thread ends once none is left.
pub(crate) struct Checkpointing {
    signal: Arc<Signal>,
}

/// How commits wake the thread. The thread holds this, never a `Checkpointing`, so that the
/// last connection closing is seen at once.
struct Signal {
    wanted: Mutex<bool>,
    wake: Condvar,
    /// WAL frames in the file as of the thread's last copy (0 once the WAL starts over).
    copied: AtomicI32,
}

impl Checkpointing {
    /// Whether a commit that left `frames` in the WAL should wake the thread: past [`WAKE_AT`],
    /// once [`STEP`] frames came since the last copy, or if the WAL started over since.
    fn due(&self, frames: c_int) -> bool {
        let copied = self.signal.copied.load(Ordering::Relaxed);
        frames >= WAKE_AT && (frames < copied || frames - copied >= STEP)
    }

    fn request(&self) {
        *self.signal.wanted.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.signal.wake.notify_one();
    }
}

impl Drop for Checkpointing {
    fn drop(&mut self) {
        // The last connection closed: let the thread see it now rather than at its next round.
        self.signal.wake.notify_one();
    }
}

fn running() -> &'static Mutex<HashMap<PathBuf, Weak<Checkpointing>>> {
    static RUNNING: OnceLock<Mutex<HashMap<PathBuf, Weak<Checkpointing>>>> = OnceLock::new();
    RUNNING.get_or_init(Default::default)
}

fn key(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_owned())
}

/// Replaces SQLite's automatic checkpoint on `conn` with the hook described above.
pub(crate) fn install(conn: &mut Connection, path: &Path) -> rusqlite::Result<()> {
    let checkpoints = checkpointing(path);
    let file = path.to_owned();
    conn.wal_hook(Some(move |wal: &mut Wal, frames: c_int| {
        if checkpoints.due(frames) {
            checkpoints.request();
        }
        if frames >= BACKSTOP {
            if let Err(e) = wal.checkpoint_v2(CheckpointMode::PASSIVE) {
                log::debug!(target: LOG, "checkpoint of {}: {e}", file.display());
            }
        }
        Ok(())
    }))
}

/// The file's checkpoint thread in this process, started unless it runs already.
fn checkpointing(path: &Path) -> Arc<Checkpointing> {
    let key = key(path);
    let mut all = running().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(live) = all.get(&key).and_then(Weak::upgrade) {
        return live;
    }
    all.retain(|_, w| w.strong_count() > 0);
    let signal = Arc::new(Signal {
        wanted: Mutex::new(false),
        wake: Condvar::new(),
        copied: AtomicI32::new(0),
    });
    let token = Arc::new(Checkpointing {
        signal: signal.clone(),
    });
    let weak = Arc::downgrade(&token);
    all.insert(key.clone(), weak.clone());
    let spawned = std::thread::Builder::new()
        .name("zerog-checkpoint".into())
        .spawn(move || run(&key, &weak, &signal));
    if let Err(e) = spawned {
        log::warn!(target: LOG, "cannot start the checkpoint thread ({e}); commits checkpoint at {BACKSTOP} frames");
    }
    token
}

fn run(path: &Path, users: &Weak<Checkpointing>, signal: &Signal) {
    let conn = match Connection::open(path) {
        Ok(c) => c,
        Err(e) => {
            log::warn!(target: LOG, "checkpoints of {}: cannot open: {e}", path.display());
            return;
        }
    };
    // RESTART waits for the commit of the moment to finish: a short wait, or the next request.
    // Reading the journal mode opens the file, which a checkpoint alone would not do.
    let ready = conn
        .busy_timeout(Duration::from_millis(100))
        .and_then(|()| conn.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0)));
    if let Err(e) = ready {
        log::warn!(target: LOG, "checkpoints of {}: {e}", path.display());
    }
    loop {
        {
            let mut wanted = signal.wanted.lock().unwrap_or_else(|e| e.into_inner());
            while !*wanted {
                if users.strong_count() == 0 || !path.exists() {
                    return;
                }
                // Woken by a request or by the last connection closing; now and then anyway.
                wanted = signal
                    .wake
                    .wait_timeout(wanted, Duration::from_secs(1))
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
        }
        let busy = copy(&conn, path, &signal.copied);
        // Commits kept asking while the copy ran; it took what they asked for.
        *signal.wanted.lock().unwrap_or_else(|e| e.into_inner()) = false;
        if busy {
            // Another process is checkpointing the file: let it finish rather than try again at
            // every commit meanwhile.
            std::thread::sleep(BUSY_PAUSE);
        }
    }
}

/// How long the thread leaves the file alone after finding another process checkpointing it.
const BUSY_PAUSE: Duration = Duration::from_millis(20);

/// Copies what the WAL holds into the file (PASSIVE), and past [`RESTART_AT`] the rest too
/// (RESTART), so that the next commit starts the WAL over. Returns true if another connection
/// was checkpointing (SQLite lets one at a time).
fn copy(conn: &Connection, path: &Path, copied: &AtomicI32) -> bool {
    let frames = match conn.wal_checkpoint_v2(Some("main"), CheckpointMode::PASSIVE) {
        Ok((frames, done)) => {
            copied.store(done, Ordering::Relaxed);
            frames
        }
        Err(e) => {
            log::debug!(target: LOG, "checkpoint of {}: {e}", path.display());
            return true;
        }
    };
    if frames >= RESTART_AT {
        match conn.wal_checkpoint_v2(Some("main"), CheckpointMode::RESTART) {
            Ok(_) => copied.store(0, Ordering::Relaxed),
            // Busy (commits or readers went on past the wait): the next request tries again.
            Err(e) => log::debug!(target: LOG, "checkpoint of {}: {e}", path.display()),
        }
    }
    false
}

/// Whether this process has a checkpoint thread for `path` now (for tests).
pub fn is_running(path: &Path) -> bool {
    running()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key(path))
        .is_some_and(|w| w.strong_count() > 0)
}
