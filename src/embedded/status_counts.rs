//! How many documents the store holds in each status, kept as they change, so a count (the
//! dashboard's overview refreshes one every few seconds, /metrics one per scrape) reads a few
//! rows instead of the whole table: with a million jobs, `GROUP BY status` reads every row,
//! because done jobs are left out of the status index (307 ms against 0.1 ms, `make
//! bench-dashboard`).
//!
//! Every write of a document goes through one write transaction ([`super::open::write_txn`]).
//! The writes note the status changes they make ([`note`]); just before the transaction
//! commits, the changes are added up and written in one statement per status touched
//! ([`apply`]), so a batch of a thousand inserts costs a few statements, not a thousand, and a
//! write that leaves the status as it was (a progress report, a log line: most writes) costs
//! nothing. SQLite triggers would keep the counts for any writer, but run per row: they took a
//! third off bulk enqueue and a sixth off end-to-end throughput.
//!
//! A file made before the counts existed gets them on its first open, filled from one full
//! count inside the opening write transaction. A writer that bypasses zeroG (sqlite3 by hand,
//! or an older zeroG writing the same file) is not counted: the counts then drift until the
//! table is dropped, and the next open fills it again.

use rusqlite::{Connection, OptionalExtension};
use std::cell::RefCell;
use std::collections::BTreeMap;

/// A row per status; a document without one (written by hand) counts under ''.
const SCHEMA: &str = "
CREATE TABLE zerog_status_counts (status TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO zerog_status_counts
    SELECT coalesce(status, ''), count(*) FROM zerog_docs GROUP BY coalesce(status, '');
";

thread_local! {
    /// The status changes of this thread's open write transaction (a transaction runs on one
    /// thread, start to commit): status -> documents gained (or lost, below zero).
    static PENDING: RefCell<BTreeMap<String, i64>> = const { RefCell::new(BTreeMap::new()) };
}

/// Creates the counts if the file has none yet. Called inside the write transaction that opens
/// the store, after `zerog_docs` exists.
pub(super) fn install(tx: &Connection) -> rusqlite::Result<()> {
    let exists = tx
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'zerog_status_counts'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !exists {
        tx.execute_batch(SCHEMA)?;
    }
    Ok(())
}

/// A document went from status `from` to `to` in the open write transaction (None: it did not
/// exist before, or does not after).
pub(super) fn note(from: Option<&str>, to: Option<&str>) {
    if from == to {
        return;
    }
    PENDING.with_borrow_mut(|p| {
        for (status, delta) in [(from, -1), (to, 1)] {
            let Some(s) = status else { continue };
            match p.get_mut(s) {
                Some(n) => *n += delta,
                None => {
                    p.insert(s.to_owned(), delta);
                }
            }
        }
    });
}

/// Writes the noted changes, in the transaction about to commit.
pub(super) fn apply(tx: &Connection) -> rusqlite::Result<()> {
    let pending = PENDING.with_borrow_mut(std::mem::take);
    if pending.values().all(|d| *d == 0) {
        return Ok(());
    }
    let mut st = tx.prepare_cached(
        "INSERT INTO zerog_status_counts VALUES (?1, ?2)
             ON CONFLICT (status) DO UPDATE SET n = n + excluded.n",
    )?;
    for (status, delta) in pending.into_iter().filter(|(_, d)| *d != 0) {
        st.execute((status, delta))?;
    }
    Ok(())
}

/// What the open transaction noted so far, to go back to ([`reset`]) if a savepoint is rolled
/// back.
pub(super) fn mark() -> BTreeMap<String, i64> {
    PENDING.with_borrow(BTreeMap::clone)
}

/// A savepoint was rolled back: what was noted since `mark` never happened.
pub(super) fn reset(mark: BTreeMap<String, i64>) {
    PENDING.with_borrow_mut(|p| *p = mark);
}

/// The transaction rolled back: what it noted never happened.
pub(super) fn discard() {
    PENDING.with_borrow_mut(BTreeMap::clear);
}

/// `(status, documents)`, with None for documents without a status.
pub(super) fn read(conn: &Connection) -> rusqlite::Result<Vec<(Option<String>, i64)>> {
    conn.prepare_cached("SELECT status, n FROM zerog_status_counts WHERE n <> 0")?
        .query_map([], |r| {
            let status: String = r.get(0)?;
            Ok(((!status.is_empty()).then_some(status), r.get(1)?))
        })?
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::embedded::SqliteStore;
    use crate::job::{key_for, new_document, Doc, DocExt, Status};
    use crate::store::Store;
    use rusqlite::Connection;
    use std::path::Path;

    /// What a full count says, to hold the kept counts against.
    fn counted(path: &Path) -> Vec<(Status, u64)> {
        let conn = Connection::open(path).unwrap();
        let mut rows: Vec<(Status, u64)> = conn
            .prepare("SELECT status, count(*) FROM zerog_docs GROUP BY status")
            .unwrap()
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .unwrap()
            .map(|r| {
                let (s, n) = r.unwrap();
                (Status::parse(&s).unwrap(), n as u64)
            })
            .collect();
        rows.sort_by_key(|(s, _)| Status::ALL.iter().position(|a| a == s));
        rows
    }

    fn nonzero(counts: Vec<(Status, u64)>) -> Vec<(Status, u64)> {
        counts.into_iter().filter(|(_, n)| *n > 0).collect()
    }

    fn doc(status: Status, finished: bool) -> Doc {
        let mut d = new_document("u", "t", "q", Doc::new());
        d.set("status", status.as_str());
        if finished {
            d.set("finishedAt", "2026-01-01T00:00:00.000000+00:00");
        }
        d
    }

    #[test]
    fn the_counts_follow_every_kind_of_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let store = SqliteStore::open(&path).unwrap();
        let batch: Vec<(String, Doc)> = (0..30)
            .map(|i| (key_for(&format!("j{i}")), doc(Status::Queued, false)))
            .collect();
        store.insert_many(&batch).unwrap();
        store
            .insert(&key_for("one"), &doc(Status::Queued, false))
            .unwrap();
        // A batch that fails (a taken key) rolls its counts back with its rows.
        let clash = vec![
            (key_for("new"), doc(Status::Queued, false)),
            (key_for("one"), doc(Status::Queued, false)),
        ];
        assert!(store.insert_many(&clash).is_err());
        for i in 0..20 {
            let key = key_for(&format!("j{i}"));
            let found = store.get(&key).unwrap().unwrap();
            let (status, finished) = if i < 12 {
                (Status::Done, true)
            } else {
                (Status::Failed, i < 16)
            };
            let cas = store
                .replace(&key, &doc(Status::Running, false), found.cas)
                .unwrap();
            let cas = store
                .replace(&key, &doc(Status::Running, false), cas)
                .unwrap(); // the status unchanged
            assert!(store
                .replace(&key, &doc(status, finished), cas + 1)
                .is_err());
            store.replace(&key, &doc(status, finished), cas).unwrap();
        }
        for i in 25..30 {
            assert!(store.delete(&key_for(&format!("j{i}"))).unwrap());
        }
        // 12 done and 4 failed finished in 2026-01-01; the 4 other failed have no finish time.
        assert_eq!(
            store
                .expire_finished("2026-06-01T00:00:00.000000+00:00")
                .unwrap(),
            16
        );
        let kept = nonzero(store.count_by_status().unwrap());
        assert_eq!(kept, counted(&path));
        assert_eq!(kept, [(Status::Queued, 6), (Status::Failed, 4)]);
    }

    #[test]
    fn a_file_from_before_the_counts_gets_them_on_its_first_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            for (i, status) in [Status::Queued, Status::Done, Status::Done]
                .iter()
                .enumerate()
            {
                store
                    .insert(&key_for(&format!("o{i}")), &doc(*status, false))
                    .unwrap();
            }
        }
        // As an older zeroG left it: documents, no counts.
        Connection::open(&path)
            .unwrap()
            .execute_batch("DROP TABLE zerog_status_counts")
            .unwrap();
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(
            nonzero(store.count_by_status().unwrap()),
            [(Status::Queued, 1), (Status::Done, 2)]
        );
        store
            .insert(&key_for("o3"), &doc(Status::Done, false))
            .unwrap();
        assert_eq!(nonzero(store.count_by_status().unwrap()), counted(&path));
    }
}
