//! The beanstalkd queue, zeroG's production queue: a sans-IO protocol codec, an async tokio
//! client on top of it, and `BeanstalkQueue`, the synchronous `Queue` the engine uses.

pub mod client;
pub mod codec;
mod conn;
mod queue;
#[doc(hidden)]
pub mod testserver;
mod yaml;

#[cfg(test)]
mod tests;

pub use client::{Client, ClientConfig};
pub use queue::{BeanstalkQueue, POLL_INTERVAL};
