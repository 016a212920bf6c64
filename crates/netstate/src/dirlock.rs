//! The import directory's own lock (spec §3 "Locks"): `IMPORT/.netstate-import.lock`,
//! created if absent, `flock`ed exclusively without blocking, naming its holder, never
//! deleted. The kernel frees a dead process's flock, so a lock file that is unlocked but
//! not empty was left by a crash: recovered with a warning, no age guessing. A clean
//! release empties it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The lock file's name inside the import directory.
pub const LOCK_NAME: &str = ".netstate-import.lock";

/// Taking the directory lock failed.
#[derive(Debug, thiserror::Error)]
pub enum DirLockError {
    /// Another live import holds it.
    #[error("{}: locked by another import ({holder}); wait for it to finish", .path.display())]
    Busy {
        /// The lock file.
        path: PathBuf,
        /// `pid= host= started=` of the holder.
        holder: String,
    },
    /// The file could not be created or locked.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A held directory lock; released (and emptied) on drop.
#[derive(Debug)]
pub struct DirLock {
    file: File,
    stale: Option<String>,
}

impl DirLock {
    /// Takes the lock of `dir` or fails at once with [`DirLockError::Busy`].
    pub fn acquire(dir: &Path) -> Result<DirLock, DirLockError> {
        let path = dir.join(LOCK_NAME);
        let io = |source| DirLockError::Io { path: path.clone(), source };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // SAFETY: flock on a descriptor we own; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        let mut previous = String::new();
        // A lock file is ours to read; undecodable content only loses the holder's name.
        let _ = file.read_to_string(&mut previous);
        let previous = previous.trim().to_string();
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let holder =
                    if previous.is_empty() { "holder unknown".to_string() } else { previous };
                return Err(DirLockError::Busy { path, holder });
            }
            return Err(io(err));
        }
        let stale = (!previous.is_empty()).then_some(previous);
        let started = vantage_core::Timestamp::now();
        let me = format!("pid={} host={} started={started}\n", std::process::id(), hostname());
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(me.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(DirLock { file, stale })
    }

    /// The previous holder's line when a crashed run had left the lock behind.
    pub fn recovered_stale(&self) -> Option<&str> {
        self.stale.as_deref()
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Emptied, not deleted: an empty unlocked file means "released cleanly".
        let _ = self.file.set_len(0);
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_busy_stale_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let a = DirLock::acquire(dir.path()).unwrap();
        assert!(a.recovered_stale().is_none());
        // flock is per open file description: a second open in this process conflicts.
        match DirLock::acquire(dir.path()) {
            Err(DirLockError::Busy { holder, .. }) => assert!(holder.contains("pid=")),
            other => panic!("expected busy, got {other:?}"),
        }
        drop(a);
        assert!(DirLock::acquire(dir.path()).unwrap().recovered_stale().is_none());
        std::fs::write(dir.path().join(LOCK_NAME), "pid=1 host=x started=y\n").unwrap();
        let b = DirLock::acquire(dir.path()).unwrap();
        assert_eq!(b.recovered_stale(), Some("pid=1 host=x started=y"));
        drop(b);
        assert!(dir.path().join(LOCK_NAME).exists());
    }
}
