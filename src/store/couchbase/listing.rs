//! Listing, counting, the finished-job walk and expiry: SQL++ queries (statements in
//! [`super::sqlpp`]), with the indexes they use made on first use.

use super::retry::{retried, Failure};
use super::{sqlpp, CouchbaseStore, DEFAULT_PAGE, MAX_PAGE};
use crate::error::{Error, Result};
use crate::job::{Doc, Status};
use crate::store::{FinishCursor, ListQuery, Page};
use couchbase::error::ErrorKind;
use couchbase::options::query_options::{QueryOptions, ScanConsistency};
use futures::StreamExt;
use serde_json::Value;

impl CouchbaseStore {
    pub(super) fn list_page(&self, query: &ListQuery) -> Result<Page> {
        let cursor = match &query.after {
            None => None,
            Some(c) => Some(sqlpp::decode_cursor(c).ok_or_else(|| {
                Error::Invalid(format!("listing cursor {c:?} is not one this store gave"))
            })?),
        };
        let limit = match query.limit {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let statement = sqlpp::list_statement(
            &self.url.keyspace(),
            cursor.is_some(),
            query.status.is_some(),
            query.job_type.is_some(),
            limit + 1,
        );
        let mut params: Vec<(&str, Value)> = Vec::new();
        if let Some((created, key)) = &cursor {
            params.push(("c", created.as_str().into()));
            params.push(("k", key.as_str().into()));
        }
        if let Some(status) = query.status {
            params.push(("status", status.as_str().into()));
        }
        if let Some(job_type) = &query.job_type {
            params.push(("type", job_type.as_str().into()));
        }
        let rows = self.query(&statement, &params)?;
        let more = rows.len() > limit;
        let mut page = Page::default();
        let mut last = None;
        for row in rows.into_iter().take(limit) {
            let (key, doc, created) = self.row(row, "c")?;
            last = Some((created, key.clone()));
            page.items.push((key, doc?));
        }
        if more {
            page.next = last.map(|(c, k)| sqlpp::encode_cursor(&c, &k));
        }
        Ok(page)
    }

    pub(super) fn expire(&self, finished_before: &str) -> Result<usize> {
        let rows = self.query(
            &sqlpp::expire_statement(&self.url.keyspace()),
            &[("before", finished_before.into())],
        )?;
        Ok(rows.len())
    }

    pub(super) fn count_statuses(&self) -> Result<Vec<(Status, u64)>> {
        let rows = self.query(&sqlpp::count_statement(&self.url.keyspace()), &[])?;
        Ok(crate::store::tally(rows.iter().map(|row| {
            let status = row.get("s").and_then(Value::as_str).and_then(Status::parse);
            (status, row.get("n").and_then(Value::as_u64).unwrap_or(0))
        })))
    }

    pub(super) fn walk_finished(
        &self,
        after: &FinishCursor,
        until: &str,
        limit: usize,
    ) -> Result<(Vec<Doc>, FinishCursor)> {
        // Here `seq` counts the jobs finished exactly at `finished_at` that were seen already
        // (in creation order): Couchbase has no row number to resume from.
        let limit = limit.clamp(1, MAX_PAGE);
        let rows = self.query(
            &sqlpp::finished_statement(&self.url.keyspace(), limit),
            &[
                ("at", after.finished_at.as_str().into()),
                ("until", until.into()),
                ("skip", after.seq.max(0).into()),
            ],
        )?;
        let mut next = FinishCursor {
            finished_at: after.finished_at.clone(),
            seq: after.seq.max(0),
        };
        let mut docs = Vec::with_capacity(rows.len());
        for row in rows {
            let (_key, doc, finished_at) = self.row(row, "f")?;
            if finished_at == next.finished_at {
                next.seq += 1;
            } else {
                next = FinishCursor {
                    finished_at,
                    seq: 1,
                };
            }
            match doc {
                Ok(doc) => docs.push(doc),
                Err(e) => log::warn!(target: "zeroG.store", "{e}"),
            }
        }
        Ok((docs, next))
    }

    /// Runs a SQL++ statement and gives its rows, creating the indexes first if this handle
    /// has not yet.
    pub(super) fn query(&self, statement: &str, params: &[(&str, Value)]) -> Result<Vec<Value>> {
        self.ensure_indexes()?;
        self.run_query(statement, params)
    }

    fn run_query(&self, statement: &str, params: &[(&str, Value)]) -> Result<Vec<Value>> {
        let mut options = QueryOptions::new().scan_consistency(ScanConsistency::RequestPlus);
        for (name, value) in params {
            options = options
                .add_named_parameter(*name, value)
                .map_err(|e| Error::backend("couchbase", &self.target, e))?;
        }
        let cluster = &self.sdk().cluster;
        let out = self.block_on(retried(self.url.timeout, true, || async {
            let mut result = cluster.query(statement, options.clone()).await?;
            let mut rows = Vec::new();
            let mut stream = result.rows::<Value>();
            while let Some(row) = stream.next().await {
                rows.push(row?);
            }
            Ok(rows)
        }));
        out.result.map_err(|f| self.query_error(f, statement))
    }

    fn query_error(&self, failure: Failure, statement: &str) -> Error {
        if let Some(ErrorKind::ServiceNotAvailable(_)) = failure.kind() {
            return Error::backend(
                "couchbase",
                &self.target,
                "the cluster has no query service: listing, counting and expiring jobs need \
                 SQL++ (see the README's Couchbase section)",
            );
        }
        let verb = statement.split_whitespace().next().unwrap_or("query");
        failure.into_error(&format!("SQL++ {verb}"), "", &self.target)
    }

    /// Creates the SQL++ indexes listing needs, once per handle; an index that exists already
    /// (another process made it) is fine.
    fn ensure_indexes(&self) -> Result<()> {
        let mut indexed = self.indexed.lock().unwrap_or_else(|p| p.into_inner());
        if *indexed {
            return Ok(());
        }
        for statement in sqlpp::index_statements(&self.url.keyspace()) {
            match self.run_query(&statement, &[]) {
                Ok(_) => {}
                Err(Error::Backend { reason, .. })
                    if reason.contains("already exist") || reason.contains("IndexExists") => {}
                Err(e) => return Err(e),
            }
        }
        *indexed = true;
        Ok(())
    }

    /// A query row's key, document (or why it is corrupt) and the text field `field`.
    fn row(&self, row: Value, field: &str) -> Result<(String, Result<Doc>, String)> {
        let Value::Object(mut row) = row else {
            return Err(Error::backend(
                "couchbase",
                &self.target,
                "a SQL++ row is not an object",
            ));
        };
        let key = match row.remove("k") {
            Some(Value::String(k)) => k,
            _ => {
                return Err(Error::backend(
                    "couchbase",
                    &self.target,
                    "a SQL++ row has no key",
                ))
            }
        };
        let doc = match row.remove("doc") {
            Some(Value::Object(doc)) => Ok(doc),
            other => Err(Error::Corrupt {
                key: key.clone(),
                reason: format!("stored value is not a JSON object: {other:?}"),
            }),
        };
        let text = match row.remove(field) {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        Ok((key, doc, text))
    }
}
