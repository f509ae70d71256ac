//! The engine's one error type. Every variant names the thing that is wrong (a key, a job id, a
//! URL, a file), because these messages reach job authors and operators unchanged.

use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A compare-and-swap write lost: somebody else changed the document since it was read.
    #[error("document {key} was changed by another writer since it was read (CAS mismatch)")]
    CasMismatch { key: String },
    #[error("document {key} already exists")]
    AlreadyExists { key: String },
    #[error("document {key} does not exist")]
    DocNotFound { key: String },
    /// The stored bytes are not a JSON object. Nothing is overwritten; the operator decides.
    #[error("document {key} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
    /// beanstalkd's NOT_FOUND: the job is gone, or it is reserved by another connection.
    #[error("queue job {id} not found (deleted, or reserved by another connection)")]
    JobNotFound { id: u64 },
    #[error("invalid tube name {name:?}: {reason}")]
    BadTubeName { name: String, reason: String },
    #[error("job body of {size} bytes is over the queue's limit of {limit} bytes")]
    JobTooBig { size: usize, limit: usize },
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A failure inside a backend (SQLite, a socket, ...), with the target it was talking to.
    #[error("{backend} error at {target}: {reason}")]
    Backend {
        backend: &'static str,
        target: String,
        reason: String,
    },
    #[error("invalid argument: {0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn backend(
        backend: &'static str,
        target: impl Into<String>,
        reason: impl fmt::Display,
    ) -> Self {
        Error::Backend {
            backend,
            target: target.into(),
            reason: reason.to_string(),
        }
    }
}
