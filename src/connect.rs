//! Opening the store and the queue a URL names (see [`crate::config::parse_url`]): the one place
//! that knows every backend.

use crate::config::{parse_url, Target};
use crate::embedded::{EmbeddedQueue, SqliteStore};
use crate::error::{Error, Result};
use crate::queue::{BeanstalkQueue, Queue, ShardedQueue};
use crate::store::{MixedFleetStore, Store};
use std::sync::Arc;

/// Opens the store a URL names. It reads documents in the original zeroG's shape, and in a mixed
/// fleet (`ZEROG_MIXED_FLEET`) writes them in it.
pub fn open_store(url: &str) -> Result<Arc<dyn Store>> {
    let mixed = crate::config::mixed_fleet()?;
    Ok(Arc::new(MixedFleetStore::new(open_backend(url)?, mixed)))
}

fn open_backend(url: &str) -> Result<Arc<dyn Store>> {
    match parse_url(url)? {
        Target::Sqlite(path) => Ok(Arc::new(SqliteStore::open(&path)?)),
        Target::Beanstalk(_) => Err(Error::Config(format!(
            "{url:?} is a queue; a store is sqlite:// or couchbase://"
        ))),
        #[cfg(feature = "couchbase")]
        Target::Couchbase(url) => {
            use crate::store::couchbase::{CouchbaseStore, CouchbaseUrl};
            Ok(Arc::new(CouchbaseStore::open(&CouchbaseUrl::parse(&url)?)?))
        }
        #[cfg(not(feature = "couchbase"))]
        Target::Couchbase(url) => Err(Error::Config(format!(
            "{:?}: this build of zeroG has no Couchbase support (built without the \"couchbase\" feature)",
            crate::config::masked(&url)
        ))),
    }
}

/// Fails, saying so, unless the store a URL names exists already: an embedded store's file must
/// be there (a server's store always is). For commands that look at a store and must not leave
/// a new, empty one where the user expected theirs.
pub fn require_existing(url: &str) -> Result<()> {
    match parse_url(url)? {
        Target::Sqlite(path) if !path.exists() => Err(Error::Config(format!(
            "no zeroG store at {}: the file does not exist (nothing was enqueued there); \
             name the store with --store or ZEROG_STORE",
            path.display()
        ))),
        _ => Ok(()),
    }
}

/// Opens a queue connection to what a URL names.
pub fn open_queue(url: &str) -> Result<Arc<dyn Queue>> {
    match parse_url(url)? {
        Target::Sqlite(path) => Ok(Arc::new(EmbeddedQueue::open(&path)?)),
        Target::Beanstalk(servers) => match servers.as_slice() {
            [(host, port)] => Ok(Arc::new(BeanstalkQueue::connect(host, *port)?)),
            _ => Ok(Arc::new(ShardedQueue::connect(&servers)?)),
        },
        Target::Couchbase(_) => Err(Error::Config(format!(
            "{:?} is a store; a queue is sqlite:// or beanstalk://",
            crate::config::masked(url)
        ))),
    }
}
