//! A worker's settings, and the defaults a job gets when its document does not say.

use std::time::Duration;

/// The Python logger the worker's records go to.
pub(crate) const LOG: &str = "zeroG.worker";

pub use crate::job::DEFAULT_TTR;

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// The tubes to take jobs from.
    pub tubes: Vec<String>,
    /// Written into the document of each job this worker runs (`workerId`).
    pub worker_id: String,
    /// Stop after running this many jobs (the supervisor then starts a fresh process).
    pub max_jobs: Option<u64>,
    /// After a stop request, how long the running job may take before it is handed back.
    pub grace: Duration,
    /// Seconds before an entry whose document is missing or corrupt is offered again.
    pub load_retry_delay: u32,
    /// An entry whose document could not be loaded this many times is buried.
    pub max_load_attempts: u64,
    /// The longest a single reserve waits before the loop checks for signals and stop requests.
    pub reserve_slice: Duration,
}

impl WorkerConfig {
    pub fn new(tubes: Vec<String>, worker_id: impl Into<String>) -> WorkerConfig {
        WorkerConfig {
            tubes,
            worker_id: worker_id.into(),
            max_jobs: None,
            grace: Duration::from_secs(30),
            load_retry_delay: 10,
            max_load_attempts: 3,
            reserve_slice: Duration::from_millis(250),
        }
    }
}
