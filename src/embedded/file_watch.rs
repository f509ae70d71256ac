//! Noticing the database file deleted or replaced under a running process. SQLite goes on with
//! the file it opened: a process whose file was unlinked, or replaced by another one, would go on
//! working on a file no other process sees, and its jobs would silently vanish from everyone
//! else's view. A look at the path, at most every [`CHECK_EVERY`], tells; the first time the file
//! is not the one opened, it is logged as an error.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the path is looked at.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(5);

/// What is at the path now, against the file that was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileState {
    Same,
    /// Nothing is there: the file was deleted.
    Gone,
    /// Another file is there.
    Replaced,
    /// The same file, cut to nothing.
    Truncated,
}

pub(crate) struct FileWatch {
    /// The file's absolute path, as this process's open descriptors name it.
    path: PathBuf,
    last_check: Mutex<Instant>,
    reported: AtomicBool,
    /// The file has been seen with content: only then is an empty one a truncated one (a new
    /// database in WAL mode may keep its main file empty for a while).
    had_content: AtomicBool,
}

impl FileWatch {
    pub fn new(path: &Path) -> FileWatch {
        FileWatch {
            path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned()),
            last_check: Mutex::new(Instant::now()),
            reported: AtomicBool::new(false),
            had_content: AtomicBool::new(false),
        }
    }

    /// What is at the path now, against the file this process has open there. Linux names a
    /// descriptor's file in `/proc/self/fd`, with " (deleted)" once it is unlinked: a new file
    /// at the same path (which may even get the old inode number) is not the open one.
    pub fn state(&self) -> FileState {
        let deleted = format!("{} (deleted)", self.path.display());
        let (mut open, mut unlinked) = (false, false);
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            for fd in fds.flatten() {
                match std::fs::read_link(fd.path()) {
                    Ok(target) if target == self.path => open = true,
                    Ok(target) if target.as_os_str() == deleted.as_str() => unlinked = true,
                    _ => {}
                }
            }
        }
        match std::fs::metadata(&self.path) {
            Err(_) if unlinked || open => FileState::Gone,
            Ok(_) if unlinked && !open => FileState::Replaced,
            Ok(m) if open && m.len() == 0 && self.had_content.load(Ordering::Relaxed) => {
                FileState::Truncated
            }
            Ok(m) => {
                self.had_content.fetch_or(m.len() > 0, Ordering::Relaxed);
                FileState::Same
            }
            Err(_) => FileState::Same,
        }
    }

    /// Looks, at most every [`CHECK_EVERY`], and logs the first time the file is not the one
    /// opened.
    pub fn check(&self) {
        {
            let mut last = self.last_check.lock().unwrap_or_else(|p| p.into_inner());
            if last.elapsed() < CHECK_EVERY {
                return;
            }
            *last = Instant::now();
        }
        let what = match self.state() {
            FileState::Same => return,
            FileState::Gone => "was deleted",
            FileState::Replaced => "was replaced by another file",
            FileState::Truncated => "was truncated to nothing",
        };
        if !self.reported.swap(true, Ordering::Relaxed) {
            log::error!(target: "zeroG.queue", "the database file {} {what} while this process had it open: this process still uses the file it opened, which no other process sees. Restart it (and the others) on the file you mean", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_a_replaced_and_a_truncated_file_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        std::fs::write(&path, b"pages").unwrap();
        // Held open, as SQLite holds its file.
        let _open = std::fs::File::open(&path).unwrap();
        let watch = FileWatch::new(&path);
        assert_eq!(watch.state(), FileState::Same);
        std::fs::write(&path, b"").unwrap();
        assert_eq!(watch.state(), FileState::Truncated);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(watch.state(), FileState::Gone);
        std::fs::write(&path, b"another").unwrap();
        assert_eq!(watch.state(), FileState::Replaced);
    }
}
