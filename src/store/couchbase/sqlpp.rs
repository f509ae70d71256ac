//! The SQL++ side of the Couchbase store: listing, counting, walking finished jobs and expiring
//! them. Key-value operations cannot filter, so these need the cluster's query service and two
//! secondary indexes, which the store creates the first time it needs them (a no-op when they
//! exist):
//!
//! - `zerog_jobs_by_creation` on `(createdAt, META().id, jobType, <status>)`: listing in
//!   creation order, filtered by status and type, and counting by status;
//! - `zerog_jobs_by_finish` on `(finishedAt, createdAt, META().id)`: the walk through finished
//!   jobs and expiry.
//!
//! Both cover only keys starting `zerog_job_`, so other documents in the bucket cost nothing.
//! Every query asks for `request_plus` consistency: a job written just before is seen.

use crate::job::Status;
use serde_json::Value;

pub(super) const KEY_FILTER: &str = r#"META(d).id LIKE "zerog_job_%""#;

/// A document's status as [`crate::job::DocExt::status`] gives it: the stored field, or for an
/// original-zeroG document (which has none) one derived from `resultCode` and `running`. The
/// index holds this same expression, so filtering and grouping by it use the index.
pub(super) const STATUS: &str = r#"CASE WHEN d.status IN ["queued", "running", "waiting", "done", "failed", "cancelled"] THEN d.status WHEN IFMISSINGORNULL(d.resultCode, -1) = -1 THEN (CASE WHEN d.running = TRUE THEN "running" ELSE "queued" END) WHEN d.resultCode >= 200 AND d.resultCode < 300 THEN "done" ELSE "failed" END"#;

/// The statements that create the indexes, for a keyspace (`` `bucket`.`scope`.`coll` ``).
pub(super) fn index_statements(keyspace: &str) -> [String; 2] {
    // An index definition has no alias: `d.` and `META(d)` become the bare forms.
    let status = STATUS.replace("d.", "").replace("META(d)", "META()");
    let key_filter = KEY_FILTER.replace("META(d)", "META()");
    [
        format!(
            "CREATE INDEX `zerog_jobs_by_creation` ON {keyspace}(createdAt, META().id, jobType, {status}) WHERE {key_filter}"
        ),
        format!(
            "CREATE INDEX `zerog_jobs_by_finish` ON {keyspace}(finishedAt, createdAt, META().id) WHERE {key_filter} AND finishedAt IS VALUED"
        ),
    ]
}

/// A listing page's query: `limit` rows (one more than the page, to see whether another
/// follows) after the cursor. Named parameters: `$c` and `$k` (cursor), `$status`, `$type`.
pub(super) fn list_statement(
    keyspace: &str,
    has_cursor: bool,
    has_status: bool,
    has_type: bool,
    limit: usize,
) -> String {
    let mut sql = format!(
        "SELECT META(d).id AS k, d AS doc, d.createdAt AS c FROM {keyspace} AS d \
         WHERE {KEY_FILTER} AND d.createdAt IS NOT MISSING"
    );
    if has_cursor {
        sql.push_str(" AND d.createdAt >= $c AND (d.createdAt > $c OR META(d).id > $k)");
    }
    if has_status {
        sql.push_str(&format!(" AND ({STATUS}) = $status"));
    }
    if has_type {
        sql.push_str(" AND d.jobType = $type");
    }
    sql.push_str(&format!(" ORDER BY d.createdAt, META(d).id LIMIT {limit}"));
    sql
}

pub(super) fn count_statement(keyspace: &str) -> String {
    format!(
        "SELECT ({STATUS}) AS s, COUNT(*) AS n FROM {keyspace} AS d \
         WHERE {KEY_FILTER} AND d.createdAt IS NOT MISSING GROUP BY ({STATUS})"
    )
}

/// Finished jobs from `$at` (the first `$skip` of those finished exactly at `$at` were seen
/// already) to `$until`, in finish order, then creation order.
pub(super) fn finished_statement(keyspace: &str, limit: usize) -> String {
    format!(
        "SELECT META(d).id AS k, d AS doc, d.finishedAt AS f FROM {keyspace} AS d \
         WHERE {KEY_FILTER} AND d.finishedAt IS VALUED AND d.finishedAt >= $at AND d.finishedAt <= $until \
         ORDER BY d.finishedAt, d.createdAt, META(d).id LIMIT {limit} OFFSET $skip"
    )
}

pub(super) fn expire_statement(keyspace: &str) -> String {
    let finals: Vec<String> = Status::ALL
        .iter()
        .filter(|s| s.is_final())
        .map(|s| format!("\"{}\"", s.as_str()))
        .collect();
    format!(
        "DELETE FROM {keyspace} AS d WHERE {KEY_FILTER} AND d.finishedAt IS VALUED \
         AND d.finishedAt < $before AND ({STATUS}) IN [{}] RETURNING RAW META(d).id",
        finals.join(", ")
    )
}

/// A listing cursor: the last item's `createdAt` and key, hex-encoded so it passes through a
/// URL's query string untouched (a timestamp holds `+` and `:`).
pub(super) fn encode_cursor(created_at: &str, key: &str) -> String {
    let text = Value::from(vec![created_at, key]).to_string();
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The `(createdAt, key)` a cursor holds; `None` if this store did not make it.
pub(super) fn decode_cursor(cursor: &str) -> Option<(String, String)> {
    if !cursor.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    let parts: Vec<String> = serde_json::from_slice(&bytes).ok()?;
    match <[String; 2]>::try_from(parts) {
        Ok([c, k]) => Some((c, k)),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let c = encode_cursor("2026-11-28T11:00:00.123456+00:00", "zerog_job_abc");
        assert!(c.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            decode_cursor(&c),
            Some((
                "2026-11-28T11:00:00.123456+00:00".into(),
                "zerog_job_abc".into()
            ))
        );
        for foreign in ["42", "zz", "", "5b5d", "5b2261225d"] {
            assert_eq!(decode_cursor(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn statements_name_the_keyspace_and_the_index_repeats_the_status_expression() {
        let ks = "`b`.`s`.`c`";
        let [creation, finish] = index_statements(ks);
        assert!(
            creation.contains("ON `b`.`s`.`c`(createdAt, META().id, jobType, CASE WHEN status IN")
        );
        assert!(!creation.contains("d.") && !finish.contains("META(d)"));
        assert!(finish.contains("finishedAt IS VALUED"));
        let list = list_statement(ks, true, true, false, 11);
        assert!(list.contains(STATUS) && list.contains("$c") && list.ends_with("LIMIT 11"));
        assert!(!list.contains("$type"));
        assert!(expire_statement(ks).contains(r#"IN ["done", "failed", "cancelled"]"#));
    }
}
