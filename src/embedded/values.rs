//! Values that are not job documents, for the original zeroG's datastore client, which kept
//! strings, numbers and lists under keys of their own as well as objects. They live in a table
//! of their own, so listings, counts and expiry, which walk job documents, never meet them.
//! A key holds a value in one of the two tables at most: the store's value writes check both
//! (a job's own key is made from a fresh uuid, which no value takes).

use super::open::err;
use crate::error::{Error, Result};
use crate::store::Cas;
use rusqlite::{Connection, OptionalExtension};
use serde_json::Value;
use std::path::Path;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS zerog_values (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    cas INTEGER NOT NULL
);
";

/// The CAS of the value under `key` in this table, if it is here.
pub(super) fn cas(conn: &Connection, path: &Path, key: &str) -> Result<Option<i64>> {
    conn.prepare_cached("SELECT cas FROM zerog_values WHERE key = ?1")
        .and_then(|mut st| st.query_row([key], |r| r.get::<_, i64>(0)).optional())
        .map_err(|e| err(path, e))
}

/// The value under `key` in this table, if it is here.
pub(super) fn get(conn: &Connection, path: &Path, key: &str) -> Result<Option<(Value, Cas)>> {
    let row = conn
        .prepare_cached("SELECT value, cas FROM zerog_values WHERE key = ?1")
        .and_then(|mut st| {
            st.query_row([key], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .optional()
        })
        .map_err(|e| err(path, e))?;
    row.map(|(text, cas)| {
        serde_json::from_str(&text)
            .map(|value| (value, cas as Cas))
            .map_err(|e| Error::Corrupt {
                key: key.to_owned(),
                reason: format!("stored value is not JSON: {e}"),
            })
    })
    .transpose()
}

/// Writes `value` under `key` here, new or over what is here, with `cas`.
pub(super) fn put(tx: &Connection, path: &Path, key: &str, value: &Value, cas: i64) -> Result<()> {
    let text = serde_json::to_string(value)
        .map_err(|e| Error::Invalid(format!("value {key} cannot be serialised: {e}")))?;
    tx.prepare_cached(
        "INSERT INTO zerog_values (key, value, cas) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, cas = excluded.cas",
    )
    .and_then(|mut st| st.execute(rusqlite::params![key, text, cas]))
    .map_err(|e| err(path, e))?;
    Ok(())
}

/// Removes the value under `key` here; false if there was none.
pub(super) fn delete(tx: &Connection, path: &Path, key: &str) -> Result<bool> {
    tx.prepare_cached("DELETE FROM zerog_values WHERE key = ?1")
        .and_then(|mut st| st.execute([key]))
        .map(|n| n > 0)
        .map_err(|e| err(path, e))
}
