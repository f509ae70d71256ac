//! The beanstalkd queue, zeroG's production queue: a sans-IO protocol codec, an async tokio
//! client on top of it, `BeanstalkQueue`, the synchronous `Queue` the engine uses, and
//! `ShardedQueue`, several servers as one queue.

pub mod client;
pub mod codec;
mod conn;
mod queue;
mod sharded;
#[doc(hidden)]
pub mod testserver;
mod yaml;

#[cfg(test)]
mod sharded_tests;
#[cfg(test)]
mod tests;

pub use client::{Client, ClientConfig};
pub use queue::{BeanstalkQueue, POLL_INTERVAL};
pub use sharded::{ShardedQueue, SHARD_BITS};
