//! The embedded store: one SQLite table in the file the embedded queue also uses.
//!
//! Each document is one row holding its JSON text and its CAS. The fields listings filter on
//! (status, job type, finish time) are kept in indexed columns beside it, so a listing never
//! parses documents it does not return.

use super::open::{err, write_txn};
use crate::error::{Error, Result};
use crate::job::{Doc, DocExt, EncodedDoc, LogList, Status};
use crate::store::*;
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, ToSql};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// `seq` is the creation order listings page through; AUTOINCREMENT keeps it from being reused
/// after a delete, so a cursor never skips or repeats a document.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS zerog_docs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    value TEXT NOT NULL,
    cas INTEGER NOT NULL,
    status TEXT,
    job_type TEXT,
    finished_at TEXT
);
-- Partial indexes: a finished job leaves the status index and an unfinished one is not in the
-- expiry index, so a job's life touches few index pages (each page a commit touches is written
-- out again). Listing done jobs scans the table in creation order instead; listings name the
-- status as a literal so SQLite can use the partial index.
CREATE INDEX IF NOT EXISTS zerog_docs_status ON zerog_docs (status, seq) WHERE status <> 'done';
CREATE INDEX IF NOT EXISTS zerog_docs_job_type ON zerog_docs (job_type, seq);
CREATE INDEX IF NOT EXISTS zerog_docs_finished_at ON zerog_docs (finished_at) WHERE finished_at IS NOT NULL;
";

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// Idle read connections a store keeps for reuse; more are opened while more reads run at once.
const IDLE_READERS: usize = 4;

pub struct SqliteStore {
    path: PathBuf,
    /// The connection that writes.
    conn: Mutex<Connection>,
    /// Connections that only read. In WAL mode a read never waits for a writer, but one
    /// connection serves one call at a time: a write waiting for another process's lock (for
    /// up to the busy timeout) would hold up every read queued behind it on the same
    /// connection. A server shares one store among all its requests, so reads go apart.
    readers: Mutex<Vec<Connection>>,
}

/// CAS values are random rather than counted, so a document that is deleted and created again
/// does not (but with odds of 2^-63) repeat a CAS someone may still hold for the old one. They
/// stay positive so the number in the file is the number callers see, and 0 stays free to mean
/// "never saved". One lock-free sequence serves every connection in the process.
static CAS_STATE: AtomicU64 = AtomicU64::new(0);

/// SplitMix64 over a randomly seeded counter: cheap, and every seed gives a full period.
fn next_cas(old: i64) -> i64 {
    static SEED: std::sync::Once = std::sync::Once::new();
    SEED.call_once(|| {
        let _ = CAS_STATE.compare_exchange(
            0,
            uuid::Uuid::new_v4().as_u64_pair().0,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    });
    loop {
        let mut z = CAS_STATE
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let cas = ((z ^ (z >> 31)) >> 1) as i64;
        if cas != 0 && cas != old {
            return cas;
        }
    }
}

/// Reads a stored value. Anything but a JSON object is `Corrupt`, so it is reported rather than
/// silently replaced by whoever writes next.
fn parse_doc(key: &str, raw: ValueRef<'_>) -> Result<Doc> {
    let corrupt = |reason: String| Error::Corrupt {
        key: key.to_owned(),
        reason,
    };
    match raw {
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => serde_json::from_slice(bytes)
            .map_err(|e| corrupt(format!("stored value is not a JSON object: {e}"))),
        other => Err(corrupt(format!(
            "stored value is {:?}, not JSON text",
            other.data_type()
        ))),
    }
}

/// The row a write found, less its value.
struct Found {
    seq: i64,
    cas: i64,
    status: Option<String>,
    job_type: Option<String>,
    finished_at: Option<String>,
}

/// Whether a value about to be replaced is still an object. A full parse inside the write lock
/// would cost more than the write itself, so only the outer braces are checked: that catches
/// what truncation and bad hand edits leave; `get` and `append` parse fully and catch the rest.
fn check_shape(key: &str, raw: ValueRef<'_>) -> Result<()> {
    if let ValueRef::Text(bytes) | ValueRef::Blob(bytes) = raw {
        let bytes = bytes.trim_ascii();
        if bytes.first() == Some(&b'{') && bytes.last() == Some(&b'}') {
            return Ok(());
        }
    }
    // Not an object for sure; the parse says why.
    parse_doc(key, raw).map(drop)
}

/// Deletes a document's row, giving its status back for the counts (see `deleted_statuses`).
const DELETE_DOC: &str = "DELETE FROM zerog_docs WHERE key = ?1 RETURNING status";

/// Where a key's value is now, and its CAS: a job document (or another object) in
/// `zerog_docs`, any other value in `zerog_values` (see `super::values`).
enum Held {
    None,
    Document(i64),
    Value(i64),
}

fn held(tx: &Connection, path: &Path, key: &str) -> Result<Held> {
    if let Some((found, _)) = find(tx, path, key, |_| Ok(()))? {
        return Ok(Held::Document(found.cas));
    }
    Ok(super::values::cas(tx, path, key)?.map_or(Held::None, Held::Value))
}

const INSERT: &str = "INSERT INTO zerog_docs (key, value, cas, status, job_type, finished_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (key) DO NOTHING";

fn insert_params<'a>(key: &'a str, doc: &'a EncodedDoc, cas: i64) -> impl rusqlite::Params + 'a {
    (
        key,
        doc.json(),
        cas,
        doc.status().as_str(),
        doc.job_type(),
        doc.finished_at(),
    )
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let mut conn = super::open::open(path)?;
        // Inside a write transaction so processes opening a fresh file together do not race.
        write_txn(&mut conn, path, |tx| {
            tx.execute_batch(SCHEMA)
                .and_then(|()| tx.execute_batch(super::values::SCHEMA))
                .and_then(|()| super::status_counts::install(tx))
                .map_err(|e| err(path, e))
        })?;
        Ok(SqliteStore {
            path: path.to_owned(),
            conn: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// Runs `f` on a read connection: an idle one, or a new one if all are busy.
    fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let idle = self
            .readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => super::open::open(&self.path)?,
        };
        let out = f(&conn);
        let mut idle = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        out
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic mid-operation rolls its transaction back, so the connection is still usable.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The file this store lives in (the embedded queue may share it).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        err(&self.path, e)
    }
}

/// Runs a `DELETE ... RETURNING status` and notes each deleted document's status for the
/// counts; returns how many went.
fn deleted_statuses(tx: &Connection, sql: &str, arg: &str) -> rusqlite::Result<usize> {
    let mut st = tx.prepare_cached(sql)?;
    let mut rows = st.query([arg])?;
    let mut n = 0;
    while let Some(row) = rows.next()? {
        let status = row.get_ref(0)?.as_str_or_null()?.unwrap_or("");
        super::status_counts::note(Some(status), None);
        n += 1;
    }
    Ok(n)
}

/// Reads the row a write is about to change, inside the write's transaction.
fn find<T>(
    tx: &Connection,
    path: &Path,
    key: &str,
    read_value: impl FnOnce(ValueRef<'_>) -> Result<T>,
) -> Result<Option<(Found, Result<T>)>> {
    tx.prepare_cached(
        "SELECT seq, cas, value, status, job_type, finished_at FROM zerog_docs WHERE key = ?1",
    )
    .and_then(|mut st| {
        st.query_row([key], |r| {
            let found = Found {
                seq: r.get(0)?,
                cas: r.get(1)?,
                status: r.get(3)?,
                job_type: r.get(4)?,
                finished_at: r.get(5)?,
            };
            Ok((found, read_value(r.get_ref(2)?)))
        })
        .optional()
    })
    .map_err(|e| err(path, e))
}

/// Writes `row` over the row found. Setting an indexed column rewrites its index entry even
/// when the value is the same, which doubles the cost of a write, so the indexed columns
/// are only set when they change (a status change, not a progress update or an append).
fn write(tx: &Connection, path: &Path, found: &Found, row: &EncodedDoc, cas: i64) -> Result<Cas> {
    // SQLite rewrites an index entry whenever its column is in the SET list, even to the same
    // value, so only the indexed columns that changed are set (one cached statement for each
    // combination).
    let status = found.status.as_deref() != Some(row.status().as_str());
    if status {
        // A row written by hand may have no status: it was counted under ''.
        let was = found.status.as_deref().unwrap_or("");
        super::status_counts::note(Some(was), Some(row.status().as_str()));
    }
    let job_type = found.job_type.as_deref() != row.job_type();
    let finished_at = found.finished_at.as_deref() != row.finished_at();
    let mut sql = String::from("UPDATE zerog_docs SET value = ?2, cas = ?3");
    for (changed, set) in [
        (status, ", status = ?4"),
        (job_type, ", job_type = ?5"),
        (finished_at, ", finished_at = ?6"),
    ] {
        if changed {
            sql.push_str(set);
        }
    }
    sql.push_str(" WHERE seq = ?1");
    tx.prepare_cached(&sql)
        .and_then(|mut st| {
            let all: [&dyn ToSql; 6] = [
                &found.seq,
                &row.json(),
                &cas,
                &row.status().as_str(),
                &row.job_type(),
                &row.finished_at(),
            ];
            // Bind only the parameters the statement uses.
            for (i, value) in all.iter().enumerate() {
                let n = i + 1;
                if n <= 3 || (n == 4 && status) || (n == 5 && job_type) || (n == 6 && finished_at) {
                    st.raw_bind_parameter(n, value)?;
                }
            }
            st.raw_execute()
        })
        .map_err(|e| err(path, e))?;
    Ok(cas as Cas)
}

/// Reads a document inside any connection or transaction on the file.
pub(crate) fn get_in(conn: &Connection, path: &Path, key: &str) -> Result<Option<Versioned>> {
    let found = conn
        .prepare_cached("SELECT value, cas FROM zerog_docs WHERE key = ?1")
        .and_then(|mut st| {
            st.query_row([key], |r| {
                Ok((parse_doc(key, r.get_ref(0)?), r.get::<_, i64>(1)?))
            })
            .optional()
        })
        .map_err(|e| err(path, e))?;
    match found {
        None => Ok(None),
        Some((doc, cas)) => Ok(Some(Versioned {
            doc: doc?,
            cas: cas as Cas,
        })),
    }
}

/// `replace` inside a transaction the caller holds (the worker uses the queue's, so a job's
/// queue change and document change commit together).
/// Inserts a new document inside any write transaction on the file; `AlreadyExists` if the key
/// is taken.
pub(crate) fn insert_in(tx: &Connection, path: &Path, key: &str, doc: &EncodedDoc) -> Result<Cas> {
    let cas = next_cas(0);
    let inserted = tx
        .prepare_cached(INSERT)
        .and_then(|mut st| st.execute(insert_params(key, doc, cas)))
        .map_err(|e| err(path, e))?;
    if inserted == 0 {
        return Err(Error::AlreadyExists {
            key: key.to_owned(),
        });
    }
    super::status_counts::note(None, Some(doc.status().as_str()));
    Ok(cas as Cas)
}

pub(crate) fn replace_in(
    tx: &Connection,
    path: &Path,
    key: &str,
    doc: &Doc,
    cas: Cas,
) -> Result<Cas> {
    let row = EncodedDoc::of(key, doc)?;
    let (found, shape) =
        find(tx, path, key, |raw| check_shape(key, raw))?.ok_or_else(|| Error::DocNotFound {
            key: key.to_owned(),
        })?;
    shape?;
    if found.cas != cas as i64 {
        return Err(Error::CasMismatch {
            key: key.to_owned(),
        });
    }
    write(tx, path, &found, &row, next_cas(found.cas))
}

impl Store for SqliteStore {
    fn local_file(&self) -> Option<&Path> {
        Some(&self.path)
    }

    fn insert_encoded(&self, key: &str, doc: &EncodedDoc) -> Result<Cas> {
        let mut conn = self.lock();
        write_txn(&mut conn, &self.path, |tx| {
            insert_in(tx, &self.path, key, doc)
        })
    }

    /// One transaction for the whole batch: a commit costs far more than a row, and a taken
    /// key rolls every insert back.
    fn insert_many_encoded(&self, docs: &[(String, EncodedDoc)]) -> Result<Vec<Cas>> {
        let mut conn = self.lock();
        write_txn(&mut conn, &self.path, |tx| {
            let mut st = tx.prepare_cached(INSERT).map_err(|e| err(&self.path, e))?;
            let mut out = Vec::with_capacity(docs.len());
            for (key, doc) in docs {
                let c = next_cas(0);
                let inserted = st
                    .execute(insert_params(key, doc, c))
                    .map_err(|e| err(&self.path, e))?;
                if inserted == 0 {
                    return Err(Error::AlreadyExists { key: key.clone() });
                }
                super::status_counts::note(None, Some(doc.status().as_str()));
                out.push(c as Cas);
            }
            Ok(out)
        })
    }

    fn get(&self, key: &str) -> Result<Option<Versioned>> {
        self.read(|conn| get_in(conn, &self.path, key))
    }

    fn replace(&self, key: &str, doc: &Doc, cas: Cas) -> Result<Cas> {
        let mut conn = self.lock();
        write_txn(&mut conn, &self.path, |tx| {
            replace_in(tx, &self.path, key, doc, cas)
        })
    }

    fn replace_many(&self, docs: &[(String, Doc, Cas)]) -> Vec<Result<Cas>> {
        if docs.is_empty() {
            return Vec::new(); // no write transaction for nothing
        }
        let mut conn = self.lock();
        let written = write_txn(&mut conn, &self.path, |tx| {
            Ok(docs
                .iter()
                .map(|(k, d, cas)| replace_in(tx, &self.path, k, d, *cas))
                .collect::<Vec<_>>())
        });
        match written {
            Ok(answers) => answers,
            // Nothing was committed: every document answers with why.
            Err(e) => docs
                .iter()
                .map(|_| {
                    Err(Error::backend(
                        "sqlite",
                        self.path.display().to_string(),
                        &e,
                    ))
                })
                .collect(),
        }
    }

    fn append(&self, key: &str, list: LogList, entry: &Value) -> Result<Cas> {
        let mut conn = self.lock();
        write_txn(&mut conn, &self.path, |tx| {
            let (found, doc) =
                find(tx, &self.path, key, |raw| parse_doc(key, raw))?.ok_or_else(|| {
                    Error::DocNotFound {
                        key: key.to_owned(),
                    }
                })?;
            let mut doc = doc?;
            doc.push_log(list, entry.clone());
            let row = EncodedDoc::of(key, &doc)?;
            write(tx, &self.path, &found, &row, next_cas(found.cas))
        })
    }

    fn delete(&self, key: &str) -> Result<bool> {
        let mut conn = self.lock();
        write_txn(&mut conn, &self.path, |tx| {
            let gone = deleted_statuses(tx, DELETE_DOC, key).map_err(|e| err(&self.path, e))?;
            Ok(gone > 0 || super::values::delete(tx, &self.path, key)?)
        })
    }

    fn get_value(&self, key: &str) -> Result<Option<(Value, Cas)>> {
        self.read(|conn| match get_in(conn, &self.path, key)? {
            Some(Versioned { doc, cas }) => Ok(Some((Value::Object(doc), cas))),
            None => super::values::get(conn, &self.path, key),
        })
    }

    fn insert_value(&self, key: &str, value: &Value) -> Result<Cas> {
        use super::values::put;
        let mut conn = self.lock();
        write_txn(&mut conn, &self.path, |tx| {
            if !matches!(held(tx, &self.path, key)?, Held::None) {
                return Err(Error::AlreadyExists {
                    key: key.to_owned(),
                });
            }
            match value {
                Value::Object(doc) => insert_in(tx, &self.path, key, &EncodedDoc::of(key, doc)?),
                other => {
                    let cas = next_cas(0);
                    put(tx, &self.path, key, other, cas)?;
                    Ok(cas as Cas)
                }
            }
        })
    }

    fn replace_value(&self, key: &str, value: &Value, cas: Cas) -> Result<Cas> {
        use super::values::{delete, put};
        let mut conn = self.lock();
        write_txn(&mut conn, &self.path, |tx| {
            let mismatch = || Error::CasMismatch {
                key: key.to_owned(),
            };
            let now = held(tx, &self.path, key)?;
            match (&now, value) {
                (Held::None, _) => Err(Error::DocNotFound {
                    key: key.to_owned(),
                }),
                (Held::Document(c) | Held::Value(c), _) if *c != cas as i64 => Err(mismatch()),
                (Held::Document(_), Value::Object(doc)) => {
                    replace_in(tx, &self.path, key, doc, cas)
                }
                (Held::Document(old), other) => {
                    deleted_statuses(tx, DELETE_DOC, key).map_err(|e| err(&self.path, e))?;
                    let cas = next_cas(*old);
                    put(tx, &self.path, key, other, cas)?;
                    Ok(cas as Cas)
                }
                (Held::Value(_), Value::Object(doc)) => {
                    delete(tx, &self.path, key)?;
                    insert_in(tx, &self.path, key, &EncodedDoc::of(key, doc)?)
                }
                (Held::Value(old), other) => {
                    let cas = next_cas(*old);
                    put(tx, &self.path, key, other, cas)?;
                    Ok(cas as Cas)
                }
            }
        })
    }

    fn list(&self, query: &ListQuery) -> Result<Page> {
        let after: i64 = match &query.after {
            None => 0,
            Some(cursor) => cursor.parse().ok().filter(|seq| *seq >= 0).ok_or_else(|| {
                Error::Invalid(format!(
                    "listing cursor {cursor:?} is not one this store gave"
                ))
            })?,
        };
        let limit = match query.limit {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        // One row more than the page shows whether another page follows.
        let fetch = limit as i64 + 1;
        let status = query.status.map(Status::as_str);

        // Only the filters in use go into the SQL, so each combination gets its own cached
        // statement and SQLite can pick the matching index.
        let mut sql = String::from("SELECT seq, key, value FROM zerog_docs WHERE seq > :after");
        let mut args: Vec<(&str, &dyn ToSql)> = vec![(":after", &after), (":limit", &fetch)];
        if let Some(status) = status {
            // A literal from the Status enum (never user text), so the partial index applies.
            sql.push_str(&format!(" AND status = '{status}'"));
            if status != "done" {
                sql.push_str(" AND status <> 'done'");
            }
        }
        if let Some(job_type) = &query.job_type {
            sql.push_str(" AND job_type = :job_type");
            args.push((":job_type", job_type));
        }
        sql.push_str(" ORDER BY seq LIMIT :limit");

        let rows = self.read(|conn| {
            conn.prepare_cached(&sql)
                .and_then(|mut st| {
                    st.query_map(args.as_slice(), |r| {
                        let key: String = r.get(1)?;
                        let doc = parse_doc(&key, r.get_ref(2)?);
                        Ok((r.get::<_, i64>(0)?, key, doc))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(|e| self.err(e))
        })?;

        let more = rows.len() > limit;
        let mut page = Page::default();
        let mut last_seq = after;
        for (seq, key, doc) in rows.into_iter().take(limit) {
            // A corrupt document fails the listing rather than vanishing from it.
            page.items.push((key, doc?));
            last_seq = seq;
        }
        if more {
            page.next = Some(last_seq.to_string());
        }
        Ok(page)
    }

    fn expire_finished(&self, finished_before: &str) -> Result<usize> {
        let mut conn = self.lock();
        // Every timestamp is ISO 8601 UTC in one format, so text order is time order.
        write_txn(&mut conn, &self.path, |tx| {
            deleted_statuses(
                tx,
                "DELETE FROM zerog_docs WHERE finished_at IS NOT NULL AND finished_at < ?1
                     AND status IN ('done', 'failed', 'cancelled') RETURNING status",
                finished_before,
            )
            .map_err(|e| err(&self.path, e))
        })
    }

    fn count_by_status(&self) -> Result<Vec<(Status, u64)>> {
        // Kept by triggers as documents change (see status_counts): a few rows, not a scan.
        let found = self.read(|conn| super::status_counts::read(conn).map_err(|e| self.err(e)))?;
        // The column is derived from each document when it is written, so it always holds one
        // of the statuses; anything else would be a row written by hand, not counted.
        Ok(crate::store::tally(found.into_iter().map(|(s, n)| {
            (s.as_deref().and_then(Status::parse), n as u64)
        })))
    }

    fn finished_after(
        &self,
        after: &FinishCursor,
        until: &str,
        limit: usize,
    ) -> Result<(Vec<Doc>, FinishCursor)> {
        let limit = limit.clamp(1, MAX_PAGE);
        // (finished_at, seq) walks the finished_at index in order (seq is the rowid it carries).
        let rows = self.read(|conn| {
            conn.prepare_cached(
                "SELECT seq, key, value, finished_at FROM zerog_docs
                 WHERE finished_at IS NOT NULL AND (finished_at, seq) > (?1, ?2) AND finished_at <= ?3
                 ORDER BY finished_at, seq LIMIT ?4",
            )
            .and_then(|mut st| {
                st.query_map(params![after.finished_at, after.seq, until, limit as i64], |r| {
                    let key: String = r.get(1)?;
                    let doc = parse_doc(&key, r.get_ref(2)?);
                    Ok((r.get::<_, i64>(0)?, doc, r.get::<_, String>(3)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.err(e))
        })?;
        let mut next = after.clone();
        let mut docs = Vec::with_capacity(rows.len());
        for (seq, doc, finished_at) in rows {
            // A corrupt document is passed over (and reported), not allowed to stop every later
            // walk at the same place.
            match doc {
                Ok(doc) => docs.push(doc),
                Err(e) => log::warn!(target: "zeroG.store", "{e}"),
            }
            next = FinishCursor { finished_at, seq };
        }
        Ok((docs, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{key_for, new_document};
    use serde_json::json;

    /// A factory for one fresh file; the closure owns the temp dir, so it lives as long as the
    /// test uses the factory.
    fn fresh() -> impl Fn() -> Box<dyn Store> {
        let dir = tempfile::tempdir().expect("temp dir");
        move || Box::new(SqliteStore::open(&dir.path().join("zerog.db")).expect("open store"))
    }

    mod conformance {
        crate::store_conformance_tests!(super::fresh());
    }

    fn stored_raw(path: &Path, key: &str) -> (String, i64) {
        Connection::open(path)
            .unwrap()
            .query_row(
                "SELECT value, cas FROM zerog_docs WHERE key = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    }

    #[test]
    fn a_value_that_is_not_an_object_is_corrupt_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zerog.db");
        let store = SqliteStore::open(&path).unwrap();
        for garbage in [
            "not json {",
            "{\"truncated\": [1, ",
            "[1, 2]",
            "\"a string\"",
            "",
        ] {
            let key = key_for(&uuid::Uuid::new_v4().to_string());
            let doc = new_document("u", "t", "q", Doc::new());
            let cas = store.insert(&key, &doc).unwrap();
            // As an operator's bad edit would: the CAS is left as it was.
            Connection::open(&path)
                .unwrap()
                .execute(
                    "UPDATE zerog_docs SET value = ?2 WHERE key = ?1",
                    [&key, garbage],
                )
                .unwrap();
            let before = stored_raw(&path, &key);

            let is_corrupt = |r: Result<_>| match r {
                Err(Error::Corrupt { key: k, reason }) => {
                    assert_eq!(k, key);
                    assert!(!reason.is_empty());
                }
                Err(e) => panic!("{garbage:?}: expected Corrupt, got {e}"),
                Ok(_) => panic!("{garbage:?}: expected Corrupt, got success"),
            };
            is_corrupt(store.get(&key).map(|_| ()));
            is_corrupt(store.append(&key, LogList::Events, &json!("x")).map(|_| ()));
            // Even a writer still holding the right CAS cannot overwrite it.
            is_corrupt(store.replace(&key, &doc, cas).map(|_| ()));
            is_corrupt(store.replace(&key, &doc, cas.wrapping_add(1)).map(|_| ()));
            is_corrupt(store.list(&ListQuery::default()).map(|_| ()));
            assert_eq!(
                stored_raw(&path, &key),
                before,
                "{garbage:?} was overwritten"
            );
            // The operator's way out.
            assert!(store.delete(&key).unwrap());
        }
    }

    #[test]
    fn opening_in_a_missing_directory_is_a_configuration_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no_such_dir").join("zerog.db");
        let e = SqliteStore::open(&path).err().expect("open should fail");
        assert!(matches!(e, Error::Config(_)), "{e:?}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        assert!(!path.parent().unwrap().exists(), "nothing was created");
    }

    #[test]
    fn a_cursor_the_store_never_gave_is_invalid() {
        let factory = fresh();
        let store = factory();
        for bad in ["", "abc", "-1", "1.5"] {
            let query = ListQuery {
                after: Some(bad.to_owned()),
                ..ListQuery::default()
            };
            match store.list(&query) {
                Err(Error::Invalid(msg)) => assert!(msg.contains(&format!("{bad:?}")), "{msg}"),
                r => panic!("cursor {bad:?}: expected Invalid, got {r:?}"),
            }
        }
    }

    #[test]
    fn the_page_size_is_capped_at_one_thousand() {
        let factory = fresh(); // owns the directory: it must outlive the store
        let store = factory();
        for i in 0..1001 {
            store.insert(&format!("k{i}"), &Doc::new()).unwrap();
        }
        let page = store
            .list(&ListQuery {
                limit: 5000,
                ..ListQuery::default()
            })
            .unwrap();
        assert_eq!(page.items.len(), 1000);
        assert!(page.next.is_some());
    }

    #[test]
    fn opening_creates_only_the_store_tables_and_can_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zerog.db");
        // Several processes open the same fresh file at once.
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| SqliteStore::open(&path).unwrap());
            }
        });
        let tables: Vec<String> = Connection::open(&path)
            .unwrap()
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            tables,
            [
                "sqlite_sequence",
                "zerog_docs",
                "zerog_status_counts",
                "zerog_values"
            ]
        );
    }

    /// The WAL is checkpointed and started over by a thread, so no commit has to pay for a whole
    /// checkpoint (on our machines a 64 MiB one stalled the commit that ran it for 60-110 ms;
    /// with the checkpoint thread the slowest commit here took under 10 ms).
    #[test]
    fn the_wal_is_checkpointed_in_the_background_and_stays_small() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zerog.db");
        let store = SqliteStore::open(&path).unwrap();
        assert!(crate::embedded::checkpoint::is_running(&path));
        let largest = write_60_mib(&store, &dir.path().join("zerog.db-wal"));
        // About 60 MiB of pages were written: left to SQLite, the WAL reaches its 64 MiB
        // threshold; the checkpoint thread copies it as it grows past 4 MiB and starts it over
        // at 16 MiB.
        assert!(largest < 32 << 20, "the WAL grew to {} MiB", largest >> 20);
        drop(store);
        assert!(!crate::embedded::checkpoint::is_running(&path));
    }

    /// Readers one after another, always one reading, keep some part of the WAL in use, so
    /// copying alone may never let a commit start the WAL over: the thread then waits for them
    /// (RESTART) rather than let the WAL grow.
    #[test]
    fn the_wal_stays_small_while_readers_never_stop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zerog.db");
        let store = SqliteStore::open(&path).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let largest = std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        store.get(&key_for("wal-0")).unwrap();
                    }
                });
            }
            let largest = write_60_mib(&store, &dir.path().join("zerog.db-wal"));
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            largest
        });
        assert!(largest < 40 << 20, "the WAL grew to {} MiB", largest >> 20);
    }

    /// Inserts 3,000 documents of 8 KiB, one commit each, at about 1,000 a second, and returns
    /// the largest size the WAL file had meanwhile.
    fn write_60_mib(store: &SqliteStore, wal: &Path) -> u64 {
        let big = "x".repeat(8 * 1024);
        let mut largest = 0;
        for i in 0..3000 {
            let mut fields = Doc::new();
            fields.insert("payload".into(), json!(big));
            let uuid = format!("wal-{i}");
            store
                .insert(&key_for(&uuid), &new_document(&uuid, "t", "q", fields))
                .unwrap();
            largest = largest.max(std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0));
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
        largest
    }
}
