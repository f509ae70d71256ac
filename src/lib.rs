//! zeroG's engine: the job document, the `Store` and `Queue` interfaces with their backends,
//! progress tracking and the worker loop.
//!
//! The layers, each using only those below it:
//! - [`job`] (the document, its fields, cancel requests), [`config`] (URLs), [`clock`], [`error`];
//! - [`store`] and [`queue`]: the interfaces, with the Couchbase store and the beanstalkd queue;
//! - [`embedded`]: the SQLite file that is both a store and a queue;
//! - [`connect`]: the backend a URL names; [`progress`]: what a running job reports;
//! - [`client`]: what producers and watchers do to a job (cancel it);
//! - [`worker`]: the loop that runs jobs.
//!
//! Everything here is plain Rust and is tested with `cargo test`, without Python. The bindings
//! (`python`, the `zeroG._zerog` extension module, built with the `python` feature) sit on top
//! and stay a thin layer of conversions.

pub mod client;
pub mod clock;
pub mod config;
pub mod connect;
pub mod embedded;
pub mod error;
pub mod fleet;
pub mod job;
pub mod progress;
pub mod queue;
pub mod store;
pub mod worker;

#[cfg(test)]
mod layers;
#[cfg(feature = "python")]
mod python;

pub use error::{Error, Result};
