//! `zeroG._zerog`: the Python bindings, and the only module that knows about Python.
//!
//! It stays thin: conversions (documents cross as dicts, walked directly), errors mapped to Python exceptions, and
//! the GIL released (`py.detach`) around every call that can wait on SQLite or the network. The
//! awaitable methods run those calls on a tokio blocking pool instead (`runtime`).

mod cancel;
mod convert;
mod encode;
mod errors;
mod queue;
mod run_context;
mod runtime;
mod store;
mod worker;

use pyo3::prelude::*;

#[pymodule]
#[pyo3(name = "_zerog")]
fn zerog_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Rust `log` records (the worker's) go to Python's `logging`, under the "zeroG.*" loggers.
    // The Couchbase SDK's own chatter (every connection, every config poll) only from warnings.
    let quiet = log::LevelFilter::Warn;
    let _ = pyo3_log::Logger::default()
        .filter_target("couchbase".to_owned(), quiet)
        .filter_target("couchbase_core".to_owned(), quiet)
        .filter_target("couchbase_connstr".to_owned(), quiet)
        .install();
    runtime::init();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("DEFAULT_URL", crate::config::DEFAULT_URL)?;
    m.add("DEFAULT_PRIORITY", crate::queue::DEFAULT_PRIORITY)?;
    m.add("DEFAULT_TTR", crate::worker::DEFAULT_TTR)?;
    m.add("EXIT_MAX_RUNTIME", crate::worker::EXIT_MAX_RUNTIME)?;
    m.add("EXIT_GRACE_EXPIRED", crate::worker::EXIT_GRACE_EXPIRED)?;
    m.add("CANCELLED", crate::job::CANCELLED)?;
    m.add("CANCEL_SIGNAL", cancel::CANCEL_SIGNAL)?;
    errors::register(m)?;
    m.add_class::<store::PyStore>()?;
    m.add_class::<queue::PyQueue>()?;
    m.add_class::<run_context::PyRunContext>()?;
    m.add_class::<worker::PyWorker>()?;
    m.add_function(wrap_pyfunction!(resolve_url, m)?)?;
    m.add_function(wrap_pyfunction!(cancel::cancel_job, m)?)?;
    m.add_function(wrap_pyfunction!(cancel::cancel_job_async, m)?)?;
    Ok(())
}

/// The URL in use for the store (`ZEROG_STORE`) or the queue (`ZEROG_QUEUE`): the explicit one,
/// else the environment variable, else the embedded default.
#[pyfunction]
#[pyo3(signature = (kind, explicit=None))]
fn resolve_url(kind: &str, explicit: Option<&str>) -> PyResult<String> {
    let var = match kind {
        "store" => crate::config::STORE_ENV,
        "queue" => crate::config::QUEUE_ENV,
        other => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "kind must be 'store' or 'queue', not {other:?}"
            )))
        }
    };
    Ok(crate::config::resolve(explicit, var))
}
