//! (being written)
use super::*;
use std::path::Path;

pub struct SqliteStore;

impl SqliteStore {
    pub fn open(_path: &Path) -> Result<SqliteStore> {
        Err(Error::Config("sqlite store not written yet".into()))
    }
}
