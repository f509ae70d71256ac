//! A commit's WAL frames reach the kernel in one write.
//!
//! A commit appends each page it changed to the WAL as a frame, and SQLite writes a frame's
//! 24-byte header and its page with two `pwrite` calls: an enqueue (9 pages) made about 20,
//! a fifth of its time. This VFS is a thin layer over the platform's that holds a write
//! transaction's appended frames and writes them with one call when the commit frame (the one
//! whose header gives the database size) is written. SQLite publishes a commit to other
//! connections (the wal-index header) only after that write returned, and an error from it
//! fails the commit as before.
//!
//! What it holds is only ever frames of the transaction in progress, while its connection holds
//! the WAL's write lock:
//! - a write that is not an append (a frame rewritten in place, the checksums rewritten at
//!   commit) goes straight through, after what is held;
//! - reading the WAL, syncing, truncating or asking its size first writes what is held;
//! - frames still held when the write lock is released belong to a transaction that was rolled
//!   back: they are dropped unwritten, since another connection may by then be writing there.
//!
//! The database file, its locks and shared memory, and every other file are the platform VFS's
//! own, so other processes and tools open the same file with the default VFS.

use rusqlite::ffi;
use std::ffi::{c_int, c_void, CStr};
use std::ptr;
use std::sync::{Mutex, OnceLock};

/// The name connections open the file with.
pub(crate) const VFS_NAME: &CStr = c"zerog-wal";

/// The most it holds: a large transaction (a bulk enqueue) writes its frames in pieces of at
/// most this size. The unix VFS writes at most 128 KiB - 1 bytes per call (`seekAndWriteFd`
/// masks the length with 0x1ffff).
const MAX_HELD: usize = 0x1ffff;
/// The size of a WAL frame header; bytes 4..8 of it are the database size in pages after the
/// commit, non-zero only in a commit frame.
const FRAME_HEADER: usize = 24;
/// The shared-memory lock that is the WAL's write lock (`WAL_WRITE_LOCK`).
const WRITE_LOCK: c_int = 0;

/// The fields both wrappers start with: what every forwarded method needs.
#[repr(C)]
struct Wrapped {
    base: ffi::sqlite3_file,
    /// The platform VFS's file, in the same allocation, after the wrapper.
    real: *mut ffi::sqlite3_file,
}

/// A database file: the platform's, with the WAL write lock watched.
#[repr(C)]
struct DbFile {
    w: Wrapped,
    /// The name pointer it was opened with, which its WAL's name leads back to.
    name: usize,
    /// Its WAL while open (null otherwise).
    wal: *mut WalFile,
    /// This connection holds the WAL write lock.
    writing: bool,
}

/// A WAL file: the platform's, with a transaction's appended frames held until its commit.
#[repr(C)]
struct WalFile {
    w: Wrapped,
    /// Its database file while open (null otherwise).
    db: *mut DbFile,
    held: Vec<u8>,
    /// Where `held` goes in the file.
    held_at: i64,
    /// The last write was a commit frame's header: its page completes the commit.
    commit_next: bool,
    /// The end of the furthest write since the write lock was taken: a write before it is not
    /// an append.
    txn_end: i64,
}

/// Room for either wrapper, before the platform's file.
const HEADER: usize = {
    let a = std::mem::size_of::<DbFile>();
    let b = std::mem::size_of::<WalFile>();
    let m = if a > b { a } else { b };
    (m + 15) & !15
};

/// Open database files by their name pointer (addresses as numbers), for their WAL to find.
static DATABASES: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());
/// The platform VFS (address as a number), and whether registering ours worked.
static REGISTERED: OnceLock<Result<usize, String>> = OnceLock::new();

#[cfg(test)]
thread_local! {
    /// Write calls to WAL files made on this thread (tests run side by side on threads).
    static WAL_WRITE_CALLS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Registers the VFS once per process. An error names why (then nothing can be opened with it).
pub(crate) fn register() -> Result<(), String> {
    REGISTERED
        .get_or_init(|| unsafe {
            let base = ffi::sqlite3_vfs_find(ptr::null());
            if base.is_null() {
                return Err("SQLite has no default VFS".into());
            }
            // The platform's, with our name, our file size and our open. Its other methods work
            // on the copy unchanged: they read only the fields copied (mxPathname, pAppData).
            let mut vfs: ffi::sqlite3_vfs = ptr::read(base);
            vfs.pNext = ptr::null_mut();
            vfs.zName = VFS_NAME.as_ptr();
            vfs.szOsFile = (*base).szOsFile + HEADER as c_int;
            vfs.xOpen = Some(x_open);
            let ours = Box::into_raw(Box::new(vfs));
            let rc = ffi::sqlite3_vfs_register(ours, 0);
            if rc != ffi::SQLITE_OK {
                return Err(format!("registering the {VFS_NAME:?} VFS failed ({rc})"));
            }
            Ok(base as usize)
        })
        .clone()
        .map(|_| ())
}

fn base_vfs() -> *mut ffi::sqlite3_vfs {
    match REGISTERED.get() {
        Some(Ok(p)) => *p as *mut ffi::sqlite3_vfs,
        _ => unreachable!("opened through a VFS that was never registered"),
    }
}

unsafe extern "C" fn x_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let base = base_vfs();
    let open = (*base).xOpen.expect("a VFS opens files");
    let main = flags & ffi::SQLITE_OPEN_MAIN_DB != 0;
    let wal = flags & ffi::SQLITE_OPEN_WAL != 0;
    if name.is_null() || !(main || wal) {
        // Journals, temporary files: the platform's file, where SQLite put ours.
        return open(base, name, file, flags, out_flags);
    }
    let real = (file as *mut u8).add(HEADER) as *mut ffi::sqlite3_file;
    (*file).pMethods = ptr::null();
    (*real).pMethods = ptr::null();
    let rc = open(base, name, real, flags, out_flags);
    if rc != ffi::SQLITE_OK {
        if let Some(close) = (*real).pMethods.as_ref().and_then(|m| m.xClose) {
            close(real);
        }
        return rc;
    }
    let w = Wrapped {
        base: ffi::sqlite3_file {
            pMethods: if main { &DB_METHODS } else { &WAL_METHODS },
        },
        real,
    };
    if main {
        ptr::write(
            file as *mut DbFile,
            DbFile {
                w,
                name: name as usize,
                wal: ptr::null_mut(),
                writing: false,
            },
        );
        lock_databases().push((name as usize, file as usize));
    } else {
        let db_name = ffi::sqlite3_filename_database(name) as usize;
        let db = lock_databases()
            .iter()
            .find(|(n, _)| *n == db_name)
            .map_or(ptr::null_mut(), |&(_, f)| f as *mut DbFile);
        ptr::write(
            file as *mut WalFile,
            WalFile {
                w,
                db,
                held: Vec::new(),
                held_at: 0,
                commit_next: false,
                txn_end: 0,
            },
        );
        if !db.is_null() {
            (*db).wal = file as *mut WalFile;
        }
    }
    ffi::SQLITE_OK
}

fn lock_databases() -> std::sync::MutexGuard<'static, Vec<(usize, usize)>> {
    DATABASES.lock().unwrap_or_else(|p| p.into_inner())
}

unsafe fn real(
    file: *mut ffi::sqlite3_file,
) -> (*mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods) {
    let r = (*(file as *mut Wrapped)).real;
    (r, &*(*r).pMethods)
}

unsafe fn real_write(w: &mut WalFile, data: *const c_void, amt: c_int, off: i64) -> c_int {
    #[cfg(test)]
    WAL_WRITE_CALLS.with(|n| n.set(n.get() + 1));
    let r = w.w.real;
    ((*(*r).pMethods).xWrite.expect("files write"))(r, data, amt, off)
}

/// Writes what is held (one call), and holds nothing after, whatever the answer.
unsafe fn flush(w: &mut WalFile) -> c_int {
    if w.held.is_empty() {
        return ffi::SQLITE_OK;
    }
    let held = std::mem::take(&mut w.held);
    let rc = real_write(w, held.as_ptr().cast(), held.len() as c_int, w.held_at);
    // The allocation is kept for the next transaction.
    w.held = held;
    w.held.clear();
    rc
}

unsafe fn wal<'a>(file: *mut ffi::sqlite3_file) -> &'a mut WalFile {
    &mut *(file as *mut WalFile)
}

// ---- the WAL file's methods (each but the write writes what is held, then forwards) ------

unsafe extern "C" fn wal_write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amt: c_int,
    off: i64,
) -> c_int {
    let w = wal(file);
    let writing = !w.db.is_null() && (*w.db).writing;
    if !writing || off < w.txn_end || amt <= 0 || amt as usize > MAX_HELD {
        // Not an append to this transaction's frames: written now, after what is held.
        let rc = flush(w);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        return real_write(w, data, amt, off);
    }
    if !w.held.is_empty()
        && (off != w.held_at + w.held.len() as i64 || w.held.len() + amt as usize > MAX_HELD)
    {
        let rc = flush(w);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    if w.held.is_empty() {
        w.held_at = off;
    }
    let bytes = std::slice::from_raw_parts(data as *const u8, amt as usize);
    w.held.extend_from_slice(bytes);
    w.txn_end = off + i64::from(amt);
    if w.commit_next {
        // The commit frame's page: the transaction's frames go now, before SQLite publishes it.
        w.commit_next = false;
        return flush(w);
    }
    if bytes.len() == FRAME_HEADER && bytes[4..8] != [0; 4] {
        w.commit_next = true;
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn wal_read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amt: c_int,
    off: i64,
) -> c_int {
    match flush(wal(file)) {
        ffi::SQLITE_OK => read(file, buf, amt, off),
        rc => rc,
    }
}

unsafe extern "C" fn wal_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    match flush(wal(file)) {
        ffi::SQLITE_OK => truncate(file, size),
        rc => rc,
    }
}

unsafe extern "C" fn wal_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    match flush(wal(file)) {
        ffi::SQLITE_OK => sync(file, flags),
        rc => rc,
    }
}

unsafe extern "C" fn wal_file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    match flush(wal(file)) {
        ffi::SQLITE_OK => file_size(file, size),
        rc => rc,
    }
}

unsafe extern "C" fn wal_file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    match flush(wal(file)) {
        ffi::SQLITE_OK => file_control(file, op, arg),
        rc => rc,
    }
}

unsafe extern "C" fn wal_fetch(
    file: *mut ffi::sqlite3_file,
    off: i64,
    amt: c_int,
    pp: *mut *mut c_void,
) -> c_int {
    match flush(wal(file)) {
        ffi::SQLITE_OK => fetch(file, off, amt, pp),
        rc => rc,
    }
}

unsafe extern "C" fn wal_close(file: *mut ffi::sqlite3_file) -> c_int {
    let w = wal(file);
    // Held frames at close belong to no commit (SQLite ends a transaction before closing).
    if !w.db.is_null() {
        (*w.db).wal = ptr::null_mut();
    }
    let (r, m) = real(file);
    ptr::drop_in_place(w);
    (*file).pMethods = ptr::null();
    (m.xClose.expect("files close"))(r)
}

// ---- the database file's methods --------------------------------------------------------

unsafe extern "C" fn db_shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    let (r, m) = real(file);
    let Some(lock) = m.xShmLock else {
        return ffi::SQLITE_IOERR_SHMLOCK;
    };
    let rc = lock(r, offset, n, flags);
    let db = &mut *(file as *mut DbFile);
    if offset <= WRITE_LOCK && WRITE_LOCK < offset + n && flags & ffi::SQLITE_SHM_EXCLUSIVE != 0 {
        if flags & ffi::SQLITE_SHM_UNLOCK != 0 {
            db.writing = false;
            if let Some(w) = db.wal.as_mut() {
                // Still held: a transaction rolled back. Never written, as if never made.
                w.held.clear();
                w.commit_next = false;
            }
        } else if rc == ffi::SQLITE_OK {
            db.writing = true;
            if let Some(w) = db.wal.as_mut() {
                w.txn_end = 0;
            }
        }
    }
    rc
}

unsafe extern "C" fn db_close(file: *mut ffi::sqlite3_file) -> c_int {
    let db = &mut *(file as *mut DbFile);
    lock_databases().retain(|&(_, f)| f != file as usize);
    if let Some(w) = db.wal.as_mut() {
        w.db = ptr::null_mut();
    }
    let (r, m) = real(file);
    (*file).pMethods = ptr::null();
    (m.xClose.expect("files close"))(r)
}

// ---- forwarded as they are --------------------------------------------------------------

unsafe extern "C" fn read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amt: c_int,
    off: i64,
) -> c_int {
    let (r, m) = real(file);
    (m.xRead.expect("files read"))(r, buf, amt, off)
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amt: c_int,
    off: i64,
) -> c_int {
    let (r, m) = real(file);
    (m.xWrite.expect("files write"))(r, data, amt, off)
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    let (r, m) = real(file);
    (m.xTruncate.expect("files truncate"))(r, size)
}

unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    let (r, m) = real(file);
    (m.xSync.expect("files sync"))(r, flags)
}

unsafe extern "C" fn file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    let (r, m) = real(file);
    (m.xFileSize.expect("files have a size"))(r, size)
}

unsafe extern "C" fn lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    let (r, m) = real(file);
    (m.xLock.expect("files lock"))(r, level)
}

unsafe extern "C" fn unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    let (r, m) = real(file);
    (m.xUnlock.expect("files unlock"))(r, level)
}

unsafe extern "C" fn check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    let (r, m) = real(file);
    (m.xCheckReservedLock.expect("files lock"))(r, out)
}

unsafe extern "C" fn file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    let (r, m) = real(file);
    match m.xFileControl {
        Some(f) => f(r, op, arg),
        None => ffi::SQLITE_NOTFOUND,
    }
}

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    let (r, m) = real(file);
    m.xSectorSize.map_or(0, |f| f(r))
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    let (r, m) = real(file);
    m.xDeviceCharacteristics.map_or(0, |f| f(r))
}

unsafe extern "C" fn shm_map(
    file: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    pp: *mut *mut c_void,
) -> c_int {
    let (r, m) = real(file);
    match m.xShmMap {
        Some(f) if m.iVersion >= 2 => f(r, region, size, extend, pp),
        _ => ffi::SQLITE_IOERR_SHMMAP,
    }
}

unsafe extern "C" fn shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    let (r, m) = real(file);
    match m.xShmLock {
        Some(f) if m.iVersion >= 2 => f(r, offset, n, flags),
        _ => ffi::SQLITE_IOERR_SHMLOCK,
    }
}

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    let (r, m) = real(file);
    if let Some(f) = m.xShmBarrier.filter(|_| m.iVersion >= 2) {
        f(r);
    }
}

unsafe extern "C" fn shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    let (r, m) = real(file);
    match m.xShmUnmap {
        Some(f) if m.iVersion >= 2 => f(r, delete),
        _ => ffi::SQLITE_OK,
    }
}

unsafe extern "C" fn fetch(
    file: *mut ffi::sqlite3_file,
    off: i64,
    amt: c_int,
    pp: *mut *mut c_void,
) -> c_int {
    let (r, m) = real(file);
    match m.xFetch {
        Some(f) if m.iVersion >= 3 => f(r, off, amt, pp),
        _ => {
            // No memory map: SQLite reads the page instead.
            *pp = ptr::null_mut();
            ffi::SQLITE_OK
        }
    }
}

unsafe extern "C" fn unfetch(file: *mut ffi::sqlite3_file, off: i64, p: *mut c_void) -> c_int {
    let (r, m) = real(file);
    match m.xUnfetch {
        Some(f) if m.iVersion >= 3 => f(r, off, p),
        _ => ffi::SQLITE_OK,
    }
}

/// Every method handed to the platform's file as it is.
const FORWARDED: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: None,
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

/// A database file watches the WAL write lock, and leaves the registry when closed.
static DB_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    xClose: Some(db_close),
    xShmLock: Some(db_shm_lock),
    ..FORWARDED
};

/// A WAL file holds appended frames, and writes them before anything that could see the file.
static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    xClose: Some(wal_close),
    xRead: Some(wal_read),
    xWrite: Some(wal_write),
    xTruncate: Some(wal_truncate),
    xSync: Some(wal_sync),
    xFileSize: Some(wal_file_size),
    xFileControl: Some(wal_file_control),
    xFetch: Some(wal_fetch),
    ..FORWARDED
};

#[cfg(test)]
mod tests {
    use super::WAL_WRITE_CALLS;
    use crate::embedded::open::open;
    use rusqlite::Connection;
    use std::path::Path;

    fn writes() -> usize {
        WAL_WRITE_CALLS.with(|n| n.get())
    }

    fn setup(path: &Path) -> Connection {
        let conn = open(path).unwrap();
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, tag TEXT, v BLOB);
             CREATE INDEX IF NOT EXISTS t_tag ON t (tag);",
        )
        .unwrap();
        conn
    }

    fn insert(conn: &Connection, tag: &str, rows: usize, size: usize) {
        let mut st = conn
            .prepare_cached("INSERT INTO t (tag, v) VALUES (?1, zeroblob(?2))")
            .unwrap();
        for _ in 0..rows {
            st.execute(rusqlite::params![tag, size as i64]).unwrap();
        }
    }

    /// What a connection that does not use this VFS (another tool, the original zeroG's
    /// process) reads: the rows of each tag, and whether the file is sound.
    fn seen_by_default_vfs(path: &Path) -> (Vec<(String, i64)>, String) {
        let plain = Connection::open(path).unwrap();
        let rows = plain
            .prepare("SELECT tag, count(*) FROM t GROUP BY tag ORDER BY tag")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let check: String = plain
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        (rows, check)
    }

    fn counts(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
        pairs.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    /// A commit that touches several pages reaches the WAL in one write, and what it wrote is
    /// there for every other connection, through this VFS or not.
    #[test]
    fn a_commit_is_one_write_and_everyone_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one-write.db");
        let conn = setup(&path);
        let mut frames = 0;
        for round in 0..20 {
            let before = writes();
            let wal_before: i64 =
                std::fs::metadata(path.with_extension("db-wal")).map_or(0, |m| m.len() as i64);
            conn.execute_batch("BEGIN").unwrap();
            insert(&conn, &format!("r{round:02}"), 3, 1500);
            conn.execute_batch("COMMIT").unwrap();
            assert_eq!(writes() - before, 1, "round {round}: one write per commit");
            let wal_after = std::fs::metadata(path.with_extension("db-wal"))
                .unwrap()
                .len() as i64;
            frames += (wal_after - wal_before).max(0) / (4096 + 24);
        }
        assert!(
            frames >= 40,
            "the commits wrote several frames each ({frames} in all)"
        );
        let (rows, check) = seen_by_default_vfs(&path);
        assert_eq!(check, "ok");
        assert_eq!(rows.len(), 20);
        assert!(rows.iter().all(|(_, n)| *n == 3), "{rows:?}");
    }

    /// A transaction too big for the page cache writes frames before it ends; rolled back, none
    /// of them may land, not even over the frames another connection commits next.
    #[test]
    fn frames_of_a_rolled_back_transaction_never_land() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollback.db");
        let ours = setup(&path);
        let other = setup(&path);
        // A small cache, so the big transaction spills pages into the WAL before its end.
        ours.execute_batch("PRAGMA cache_size = 8").unwrap();
        insert(&ours, "before", 5, 100);
        for round in 0..5 {
            ours.execute_batch("BEGIN").unwrap();
            insert(&ours, "undone", 60, 1000);
            ours.execute_batch("ROLLBACK").unwrap();
            other.execute_batch("BEGIN").unwrap();
            insert(&other, "other", 10, 2000);
            other.execute_batch("COMMIT").unwrap();
            // Ours goes on: reads, then writes over the WAL the other connection extended.
            let n: i64 = ours
                .query_row("SELECT count(*) FROM t WHERE tag = 'other'", [], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(n, 10 * (round + 1));
            insert(&ours, "after", 2, 3000);
        }
        let (rows, check) = seen_by_default_vfs(&path);
        assert_eq!(check, "ok");
        assert_eq!(rows, counts(&[("after", 10), ("before", 5), ("other", 50)]));
    }

    /// A savepoint rolled back inside a transaction rewrites frames the transaction already
    /// wrote; the commit then holds exactly what was kept.
    #[test]
    fn a_savepoint_rolled_back_inside_a_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("savepoint.db");
        let conn = setup(&path);
        conn.execute_batch("PRAGMA cache_size = 8").unwrap();
        conn.execute_batch("BEGIN").unwrap();
        insert(&conn, "kept", 40, 1000);
        conn.execute_batch("SAVEPOINT s").unwrap();
        insert(&conn, "dropped", 40, 1000);
        conn.execute_batch("ROLLBACK TO s; RELEASE s").unwrap();
        insert(&conn, "later", 40, 1000);
        conn.execute_batch("COMMIT").unwrap();
        let (rows, check) = seen_by_default_vfs(&path);
        assert_eq!(check, "ok");
        assert_eq!(rows, counts(&[("kept", 40), ("later", 40)]));
    }

    /// Several writers take turns on one file while checkpoints copy the WAL back and restart
    /// it: every commit is there, once.
    #[test]
    fn writers_taking_turns_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("turns.db");
        drop(setup(&path));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let conn = setup(&path);
                    for j in 0..150 {
                        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
                        insert(&conn, &format!("w{i}"), 1 + j % 4, 700);
                        conn.execute_batch("COMMIT").unwrap();
                        if j % 50 == 49 {
                            conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
                                .unwrap();
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let per_writer: i64 = (0..150).map(|j| 1 + j % 4).sum();
        let (rows, check) = seen_by_default_vfs(&path);
        assert_eq!(check, "ok");
        assert_eq!(
            rows,
            counts(&[
                ("w0", per_writer),
                ("w1", per_writer),
                ("w2", per_writer),
                ("w3", per_writer)
            ])
        );
    }
}
