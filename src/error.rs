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
    /// beanstalkd refused a command, or talking to it failed; `server` is its `host:port`.
    #[error("beanstalkd at {server}: {kind}: {detail}")]
    Queue {
        server: String,
        kind: QueueErrorKind,
        detail: String,
    },
    /// A batch put that failed after some of its jobs were queued: `put[i]` is job i's id if it
    /// is known to be queued. A job whose reply was lost with the connection shows as `None` but
    /// may still be on the server; a worker then finds no document for it and buries it, logged.
    /// The caller keeps what was queued and takes back the rest, so nothing runs twice.
    #[error("{cause} ({} of {} jobs of the batch were queued)", .put.iter().flatten().count(), .put.len())]
    PartlyPut {
        put: Vec<Option<u64>>,
        cause: Box<Error>,
    },
}

/// What went wrong with a beanstalkd server, so callers can react by kind (retry elsewhere on
/// `Draining`, reconnect on `Connection`) instead of matching message text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueErrorKind {
    /// DEADLINE_SOON: a job reserved by this connection is in the last second of its TTR.
    DeadlineSoon,
    /// DRAINING: the server was told to drain (SIGUSR1) and takes no new jobs.
    Draining,
    /// OUT_OF_MEMORY, or a put/release answered BURIED because the server ran out of memory.
    OutOfMemory,
    InternalError,
    BadFormat,
    UnknownCommand,
    ExpectedCrlf,
    /// NOT_IGNORED: the last watched tube cannot be ignored.
    NotIgnored,
    /// A reply that is not the protocol or not an answer to the command sent.
    Protocol,
    /// The server cannot be reached, or the connection broke.
    Connection,
    /// The server did not answer in time.
    Timeout,
}

impl fmt::Display for QueueErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            QueueErrorKind::DeadlineSoon => "DEADLINE_SOON",
            QueueErrorKind::Draining => "DRAINING (the server takes no new jobs)",
            QueueErrorKind::OutOfMemory => "OUT_OF_MEMORY",
            QueueErrorKind::InternalError => "INTERNAL_ERROR",
            QueueErrorKind::BadFormat => "BAD_FORMAT",
            QueueErrorKind::UnknownCommand => "UNKNOWN_COMMAND",
            QueueErrorKind::ExpectedCrlf => "EXPECTED_CRLF",
            QueueErrorKind::NotIgnored => "NOT_IGNORED",
            QueueErrorKind::Protocol => "protocol error",
            QueueErrorKind::Connection => "connection failed",
            QueueErrorKind::Timeout => "timed out",
        })
    }
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The error of a batch put that failed with `cause`, `put` saying which jobs were queued:
    /// the plain cause if none was, so that the caller may try the whole batch elsewhere.
    pub fn partly_put(put: Vec<Option<u64>>, cause: Error) -> Error {
        if put.iter().all(Option::is_none) {
            return cause;
        }
        Error::PartlyPut {
            put,
            cause: Box::new(cause),
        }
    }

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
