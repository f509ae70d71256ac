//! `zeroG._zerog`: the Python bindings, and the only module that knows about Python.
//!
//! It stays thin: conversions (documents cross as dicts, walked directly), errors mapped to Python exceptions, and
//! the GIL released (`py.detach`) around every call that can wait on SQLite or the network. The
//! awaitable methods run those calls on a tokio blocking pool instead (`runtime`).

mod cancel;
mod convert;
mod document;
mod encode;
mod enqueue;
mod errors;
mod fleet;
mod outcome;
mod pool;
mod queue;
mod reconcile;
mod run_again;
mod run_context;
mod runtime;
mod store;
mod worker;

use pyo3::prelude::*;

/// The module, declared item by item: each export is named once, here.
#[pymodule]
mod _zerog {
    use pyo3::prelude::*;

    #[pymodule_export]
    use super::cancel::{cancel_job, cancel_job_async};
    #[pymodule_export]
    use super::document::{job_key, log_id, new_uuid, now_iso, queue_body};
    #[pymodule_export]
    use super::enqueue::{enqueue, enqueue_async, PyBulkEnqueue};
    #[pymodule_export]
    use super::errors::{
        BackendError, CasMismatch, ConfigError, CorruptDocument, DocumentExists, DocumentNotFound,
        InvalidTubeName, JobCancelled, JobTooBig, QueueJobNotFound, ZeroGError,
    };
    #[pymodule_export]
    use super::fleet::{
        fleet_message, fleet_message_json, make_worker_id, memory_figures, parse_fleet_message,
        parse_worker_id, updates_tube,
    };
    #[pymodule_export]
    use super::outcome::PyRunOutcome;
    #[pymodule_export]
    use super::queue::PyQueue;
    #[pymodule_export]
    use super::reconcile::reconcile;
    #[pymodule_export]
    use super::run_again::{run_again, run_again_async};
    #[pymodule_export]
    use super::run_context::PyRunContext;
    #[pymodule_export]
    use super::store::PyStore;
    #[pymodule_export]
    use super::worker::PyWorker;
    #[pymodule_export]
    use super::{
        default_url, document_status, masked_url, mixed_fleet, require_existing, resolve_url,
        result_completes, validate_tube_name,
    };

    #[pymodule_export]
    #[allow(non_upper_case_globals)] // Python's name for it
    const __version__: &str = env!("CARGO_PKG_VERSION");
    #[pymodule_export]
    const DEFAULT_PRIORITY: u32 = crate::queue::DEFAULT_PRIORITY;
    #[pymodule_export]
    const DEFAULT_TTR: u32 = crate::worker::DEFAULT_TTR;
    #[pymodule_export]
    const EXIT_MAX_RUNTIME: i32 = crate::worker::EXIT_MAX_RUNTIME;
    #[pymodule_export]
    const EXIT_GRACE_EXPIRED: i32 = crate::worker::EXIT_GRACE_EXPIRED;
    #[pymodule_export]
    const EXIT_RETIRED: i32 = crate::fleet::EXIT_RETIRED;
    #[pymodule_export]
    const CONTROL_MESSAGE_TTR: u32 = crate::fleet::channel::MESSAGE_TTR;
    #[pymodule_export]
    const IN_STATE_SECONDS: &str = crate::fleet::memory::IN_STATE_SECONDS;
    #[pymodule_export]
    const WORKER_ID_DELIM: &str = crate::fleet::id::DELIM;
    #[pymodule_export]
    const DOCUMENT_TYPE: &str = crate::job::DOCUMENT_TYPE;
    #[pymodule_export]
    const SCHEMA_VERSION: f64 = crate::job::SCHEMA_VERSION;
    #[pymodule_export]
    const NO_RESULT: i64 = crate::job::NO_RESULT;
    #[pymodule_export]
    const RESULT_OK: i64 = crate::job::RESULT_OK;
    #[pymodule_export]
    const INTERNAL_ERROR: i64 = crate::job::INTERNAL_ERROR;

    #[pymodule_export]
    const CANCELLED: i64 = crate::job::CANCELLED;
    #[pymodule_export]
    const CANCEL_SIGNAL: i32 = super::cancel::CANCEL_SIGNAL;

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("BASE_FIELDS", super::document::base_fields(m.py())?)?;
        // Rust `log` records (the worker's) go to Python's `logging`, under the "zeroG.*"
        // loggers. The Couchbase SDK's own chatter (every connection, every config poll) only
        // from warnings.
        let quiet = log::LevelFilter::Warn;
        let _ = pyo3_log::Logger::default()
            .filter_target("couchbase".to_owned(), quiet)
            .filter_target("couchbase_core".to_owned(), quiet)
            .filter_target("couchbase_connstr".to_owned(), quiet)
            .install();
        Ok(())
    }
}

/// Raises `InvalidTubeName`, naming the name and what is wrong with it, unless `name` is a tube
/// name every queue backend accepts.
#[pyfunction]
fn validate_tube_name(name: &str) -> PyResult<()> {
    crate::queue::validate_tube_name(name).map_err(errors::to_py)
}

/// `url` with any password in it replaced by `***`: what may be shown or logged.
#[pyfunction]
fn masked_url(url: &str) -> String {
    crate::config::masked(url)
}

/// Whether `ZEROG_MIXED_FLEET` is on: documents are written in the original zeroG's shape.
/// ConfigError for a value that is neither on nor off.
#[pyfunction]
fn mixed_fleet() -> PyResult<bool> {
    crate::config::mixed_fleet().map_err(errors::to_py)
}

/// The store and queue when nothing names them (see `config::default_path`).
#[pyfunction]
fn default_url() -> String {
    crate::config::default_url()
}

/// ConfigError unless the store a URL names exists: for commands that look at a store, and
/// must not create an empty one where the user expected theirs.
#[pyfunction]
fn require_existing(url: &str) -> PyResult<()> {
    crate::connect::require_existing(url).map_err(errors::to_py)
}

/// A document's status from its `status`, `resultCode` and `running` fields: `status` if it
/// names one, else derived as for a document the original zeroG wrote (see `Status::of_fields`).
#[pyfunction]
#[pyo3(signature = (status, result_code, running))]
fn document_status(status: Option<&str>, result_code: Option<i64>, running: bool) -> &'static str {
    crate::job::Status::of_fields(status, result_code, running).as_str()
}

/// Whether a resultCode completes the job's work (completeness 1.0), or is a failure.
#[pyfunction]
fn result_completes(result_code: i64) -> bool {
    crate::job::completes(result_code)
}

/// The URL in use for the store (`ZEROG_STORE`) or the queue (`ZEROG_QUEUE`): the explicit one,
/// else the environment variable, else for the store the embedded default and for the queue
/// the store's SQLite file (`store`, else the store's URL as resolved).
#[pyfunction]
#[pyo3(signature = (kind, explicit=None, store=None))]
fn resolve_url(kind: &str, explicit: Option<&str>, store: Option<&str>) -> PyResult<String> {
    use crate::config::{resolve, resolve_queue, STORE_ENV};
    match kind {
        "store" => Ok(resolve(explicit, STORE_ENV)),
        "queue" => {
            let store = store.map_or_else(|| resolve(None, STORE_ENV), str::to_owned);
            Ok(resolve_queue(explicit, &store))
        }
        other => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "kind must be 'store' or 'queue', not {other:?}"
        ))),
    }
}
