//! Atomic publication of files.
//!
//! A file another process (or a restart) may read is written under a temporary name in
//! the same directory, fsynced, renamed over its final name, and the directory fsynced:
//! readers see no file or the whole file, never a torn one. Temporary names start with
//! `.tmp-` so that [`clean_temporaries`] can remove leftovers of a crash.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Prefix of every temporary file this module creates.
pub const TMP_PREFIX: &str = ".tmp-";

/// Fsyncs the directory holding `path`, making a rename or creation in it durable.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(parent)?.sync_all()
}

/// A file being written under a temporary name; [`Pending::commit`] publishes it.
///
/// Dropped without commit, the temporary file is removed.
#[derive(Debug)]
pub struct Pending {
    file: Option<File>,
    tmp: PathBuf,
    dest: PathBuf,
}

impl Pending {
    /// Starts writing `dest` (its directory must exist).
    pub fn create(dest: &Path) -> io::Result<Pending> {
        let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let tmp = dest.with_file_name(format!("{TMP_PREFIX}{}-{name}", std::process::id()));
        let file = File::create(&tmp)?;
        Ok(Pending { file: Some(file), tmp, dest: dest.to_path_buf() })
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut File {
        // Some until commit consumes self.
        self.file.as_mut().unwrap_or_else(|| unreachable!())
    }

    /// The path that will be published.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Fsyncs, optionally marks read-only, renames into place and fsyncs the directory.
    pub fn commit(mut self, read_only: bool) -> io::Result<PathBuf> {
        let file = self.file.take().unwrap_or_else(|| unreachable!());
        file.sync_all()?;
        if read_only {
            let mut perms = file.metadata()?.permissions();
            perms.set_readonly(true);
            fs::set_permissions(&self.tmp, perms)?;
        }
        drop(file);
        fs::rename(&self.tmp, &self.dest)?;
        sync_parent(&self.dest)?;
        Ok(std::mem::take(&mut self.dest))
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

impl Write for Pending {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file().flush()
    }
}

/// Writes `bytes` to `dest` atomically.
pub fn write_atomic(dest: &Path, bytes: &[u8], read_only: bool) -> io::Result<PathBuf> {
    let mut p = Pending::create(dest)?;
    p.write_all(bytes)?;
    p.commit(read_only)
}

/// Removes temporary files left in `dir` by a crash; returns how many went.
pub fn clean_temporaries(dir: &Path) -> io::Result<usize> {
    let mut n = 0;
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            fs::remove_file(entry.path())?;
            n += 1;
        }
    }
    Ok(n)
}

/// Moves `from` to `to`, across file systems if need be (copy, fsync, remove).
pub fn move_file(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Ok(()) => sync_parent(to),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            let mut p = Pending::create(to)?;
            io::copy(&mut File::open(from)?, p.file())?;
            p.commit(false)?;
            fs::remove_file(from)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncommitted_file_never_appears() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.txt");
        {
            let mut p = Pending::create(&dest).unwrap();
            p.write_all(b"half").unwrap();
        }
        assert!(!dest.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn committed_file_is_whole_and_read_only() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("a.txt");
        write_atomic(&dest, b"whole", true).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"whole");
        assert!(fs::metadata(&dest).unwrap().permissions().readonly());
    }

    #[test]
    fn leftovers_are_cleaned() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".tmp-1-x"), b"").unwrap();
        fs::write(dir.path().join("keep"), b"").unwrap();
        assert_eq!(clean_temporaries(dir.path()).unwrap(), 1);
        assert!(dir.path().join("keep").exists());
    }
}
