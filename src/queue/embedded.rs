//! (being written)
use crate::error::{Error, Result};
use std::path::Path;

pub struct EmbeddedQueue;

impl EmbeddedQueue {
    pub fn open(_path: &Path) -> Result<EmbeddedQueue> {
        Err(Error::Config("embedded queue not written yet".into()))
    }
}
