//! A job's lifecycle status, stored as a lowercase string.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Saved and in the queue, waiting for a worker.
    Queued,
    /// A worker is inside `run()`.
    Running,
    /// Between steps: `run()` asked to be requeued, or a failure is waiting for its retry.
    Waiting,
    /// Finished; `resultCode` says how.
    Done,
    /// Finished with an error, after its retries or by `WFErrorFinish`.
    Failed,
    /// Stopped by a user before it finished.
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Queued,
        Status::Running,
        Status::Waiting,
        Status::Done,
        Status::Failed,
        Status::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Waiting => "waiting",
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The status of a document with these top-level fields: `status` if it names one, else
    /// (an original-zeroG document has none) derived from `resultCode` and `running`: 410, the
    /// result its server gave a job a user killed, is cancelled.
    pub fn of_fields(status: Option<&str>, result_code: Option<i64>, running: bool) -> Status {
        if let Some(s) = status.and_then(Status::parse) {
            return s;
        }
        match result_code.unwrap_or(super::NO_RESULT) {
            super::NO_RESULT if running => Status::Running,
            super::NO_RESULT => Status::Queued,
            code if (200..300).contains(&code) => Status::Done,
            // What the original's server recorded when a user killed a job (see CANCELLED).
            super::CANCELLED => Status::Cancelled,
            _ => Status::Failed,
        }
    }

    /// Finished for good: nothing will run it again unless an operator kicks it.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Done | Status::Failed | Status::Cancelled)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
