//! Engine errors as Python exceptions. They are declared under `zeroG._zerog` so that they
//! pickle across processes, and all derive from `ZeroGError`.

use crate::error::Error;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;

create_exception!(
    zeroG._zerog,
    ZeroGError,
    PyException,
    "Base class of zeroG's errors."
);
create_exception!(
    zeroG._zerog,
    CasMismatch,
    ZeroGError,
    "The document changed since it was read."
);
create_exception!(
    zeroG._zerog,
    DocumentExists,
    ZeroGError,
    "A document with that key exists already."
);
create_exception!(
    zeroG._zerog,
    DocumentNotFound,
    ZeroGError,
    "No document has that key."
);
create_exception!(
    zeroG._zerog,
    CorruptDocument,
    ZeroGError,
    "The stored document is not a JSON object."
);
create_exception!(
    zeroG._zerog,
    QueueJobNotFound,
    ZeroGError,
    "The queue job is gone or reserved by another connection."
);
create_exception!(
    zeroG._zerog,
    InvalidTubeName,
    ZeroGError,
    "The tube name breaks beanstalkd's rules."
);
create_exception!(
    zeroG._zerog,
    JobTooBig,
    ZeroGError,
    "The job body is over the queue's size limit."
);
create_exception!(
    zeroG._zerog,
    ConfigError,
    ZeroGError,
    "A store or queue URL cannot be used."
);
create_exception!(
    zeroG._zerog,
    JobCancelled,
    ZeroGError,
    "The running job was cancelled: raised inside run() by job_log calls, and by the worker."
);
create_exception!(
    zeroG._zerog,
    BackendError,
    ZeroGError,
    "The store or queue failed."
);

pub(crate) fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    if let Error::PartlyPut { put, cause } = e {
        // Raised as what stopped the batch, with `put` saying which of its jobs were queued,
        // so that the caller keeps those and takes back the rest.
        let err = new_err(&cause, msg);
        Python::attach(|py| err.value(py).setattr("put", put))
            .expect("setting an attribute on a fresh exception");
        return err;
    }
    new_err(&e, msg)
}

fn new_err(e: &Error, msg: String) -> PyErr {
    match e {
        Error::CasMismatch { .. } => CasMismatch::new_err(msg),
        Error::AlreadyExists { .. } => DocumentExists::new_err(msg),
        Error::DocNotFound { .. } => DocumentNotFound::new_err(msg),
        Error::Corrupt { .. } => CorruptDocument::new_err(msg),
        Error::JobNotFound { .. } => QueueJobNotFound::new_err(msg),
        Error::BadTubeName { .. } => InvalidTubeName::new_err(msg),
        Error::JobTooBig { .. } => JobTooBig::new_err(msg),
        Error::Config(_) => ConfigError::new_err(msg),
        Error::Backend { .. } => BackendError::new_err(msg),
        Error::Invalid(_) => PyValueError::new_err(msg),
        Error::Queue { .. } => BackendError::new_err(msg),
        Error::PartlyPut { cause, .. } => new_err(cause, msg),
    }
}
