//! zeroG's engine: the job document, the `Store` and `Queue` interfaces with their embedded SQLite
//! backends, progress tracking and the worker loop.
//!
//! Everything here is plain Rust and is tested with `cargo test`. Only [`python`] knows about
//! Python: it is the `zeroG._zerog` extension module and stays a thin layer of conversions.

pub mod clock;
pub mod config;
pub mod couchbase_url;
pub mod error;
pub mod job;
pub mod progress;
pub mod queue;
mod sqlite;
pub mod sqlite_checkpoint;
pub mod store;
pub mod worker;

mod python;

pub use error::{Error, Result};
