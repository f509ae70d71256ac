//! The embedded backend: the store and the queue in one SQLite file, so one file is a whole
//! zeroG on a laptop and any number of processes can share it.
//!
//! - `open`: opening the file (WAL mode, the busy handler), through `wal_writes`, which hands
//!   a commit's WAL frames to the kernel in one write;
//! - `checkpoint`: the thread that copies the WAL back, off the commit path;
//! - [`SqliteStore`]: the documents;
//! - [`EmbeddedQueue`]: beanstalkd's semantics in tables beside them;
//! - the joint transaction ([`crate::queue::Joint`]): a worker's whole step (settle the last
//!   jobs, claim the next) as one commit, when store and queue share the file; and an
//!   enqueue's document and entry, their commit shared with other threads' (`group_commit`).

pub mod checkpoint;
mod file_watch;
mod group_commit;
mod joint;
mod open;
mod queue;
mod status_counts;
mod store;
mod values;
mod wal_writes;

pub use queue::EmbeddedQueue;
pub use store::SqliteStore;
