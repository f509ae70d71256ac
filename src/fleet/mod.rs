//! Running a fleet: each worker's identity, state and control channel, as the original zeroG
//! had them, over the queue (beanstalkd or the embedded one alike).
//!
//! - [`id`]: the worker id `zerog+$<host>+$<name>+$<pid>`, which is also its control tube;
//! - [`message`]: the control messages, byte for byte the original's JSON;
//! - [`state`]: active or draining, idle or running, retiring: what the worker loop obeys;
//! - [`channel`]: the thread that reads the control tube and answers on the updates tube;
//! - [`memory`]: the figures an `info` message reports.
//!
//! Managers (the Python `zeroG.mgmt.WorkerManager`, `zerog workers`) find workers by listing
//! the tubes: a worker's control tube is watched while its process lives.

pub mod channel;
pub mod id;
pub mod memory;
pub mod message;
pub mod state;

pub use channel::{ControlConfig, ControlThread, KILLED_BY_USER};
pub use id::{make_worker_id, parse_worker_id, WorkerId};
pub use message::{Body, Info, JobAction, Message};
pub use state::{Control, WorkerState};

/// The exit status of a worker process that stopped because it was retired: its supervisor
/// does not replace it.
pub const EXIT_RETIRED: i32 = 77;

/// The tube workers answer on: `updates`, with the original's optional postfix glued on
/// (`updates_dev`).
pub fn updates_tube(postfix: &str) -> String {
    format!("updates{postfix}")
}
