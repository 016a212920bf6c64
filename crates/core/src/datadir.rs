//! The data directory: everything Vantage keeps, in one tree (DESIGN.md, Data directory).
//!
//! ```text
//! vantage.db  secret.key  inbox/<kind>/  archive/<kind>/  clean/reports/<bucket>/
//! packets/  quarantine/<kind>/  locks/
//! ```
//! Created on first use. Rejected input moves to `quarantine/<kind>/` with a `.reason`
//! file beside it; the catalog row is the warehouse's part.

use std::fs;
use std::path::{Path, PathBuf};

use crate::keys::{KeyError, SecretKey};
use crate::publish;

/// Why the data directory could not be used; exit code 4 (storage).
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// Creating or reading part of the tree failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The secret key is unreadable or malformed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl crate::HasExit for DataDirError {
    fn exit(&self) -> crate::Exit {
        match self {
            DataDirError::Io { .. } => crate::Exit::Storage,
            DataDirError::Key(k) => k.exit(),
        }
    }
}

/// One data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Opens `root`, creating it and its top-level folders when missing.
    pub fn open(root: &Path) -> Result<DataDir, DataDirError> {
        let dir = DataDir { root: root.to_path_buf() };
        for sub in ["", "inbox", "archive", "clean", "packets", "quarantine", "locks"] {
            dir.ensure(&root.join(sub))?;
        }
        Ok(dir)
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The embedded warehouse file.
    pub fn db_path(&self) -> PathBuf {
        self.root.join("vantage.db")
    }

    /// Creates `path` (and parents) when missing, naming it on failure.
    pub fn ensure(&self, path: &Path) -> Result<PathBuf, DataDirError> {
        fs::create_dir_all(path)
            .map_err(|source| DataDirError::Io { path: path.to_path_buf(), source })?;
        Ok(path.to_path_buf())
    }

    /// `inbox/<kind>/`, created.
    pub fn inbox(&self, kind: &str) -> Result<PathBuf, DataDirError> {
        self.ensure(&self.root.join("inbox").join(kind))
    }

    /// `archive/<kind>/`, created.
    pub fn archive(&self, kind: &str) -> Result<PathBuf, DataDirError> {
        self.ensure(&self.root.join("archive").join(kind))
    }

    /// `clean/<kind>/`, created.
    pub fn clean(&self, kind: &str) -> Result<PathBuf, DataDirError> {
        self.ensure(&self.root.join("clean").join(kind))
    }

    /// `packets/`, created.
    pub fn packets(&self) -> Result<PathBuf, DataDirError> {
        self.ensure(&self.root.join("packets"))
    }

    /// `quarantine/<kind>/`, created.
    pub fn quarantine(&self, kind: &str) -> Result<PathBuf, DataDirError> {
        self.ensure(&self.root.join("quarantine").join(kind))
    }

    /// `locks/<name>.lock`: the pid file of a named lock.
    pub fn lock_file(&self, name: &str) -> PathBuf {
        self.root.join("locks").join(format!("{name}.lock"))
    }

    /// The server secret, created on first use.
    pub fn secret(&self) -> Result<SecretKey, DataDirError> {
        Ok(SecretKey::load_or_create(&self.root.join("secret.key"))?)
    }

    /// Moves `file` into `quarantine/<kind>/` (or copies it when `copy` is set, for input
    /// the caller does not own) and writes `<name>.reason` beside it. Returns the new path.
    ///
    /// A name already in quarantine gets a numeric suffix: two rejected files both called
    /// `report.yaml` must both be kept.
    pub fn quarantine_file(
        &self,
        kind: &str,
        file: &Path,
        reason: &str,
        copy: bool,
    ) -> Result<PathBuf, DataDirError> {
        let dir = self.quarantine(kind)?;
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_else(|| "input".to_string());
        let mut dest = dir.join(&name);
        let mut n = 1;
        while dest.exists() {
            dest = dir.join(format!("{name}.{n}"));
            n += 1;
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DataDirError::Io { path, source }
        };
        if copy {
            fs::copy(file, &dest).map_err(io(file))?;
        } else {
            publish::move_file(file, &dest).map_err(io(file))?;
        }
        let reason_path = PathBuf::from(format!("{}.reason", dest.display()));
        publish::write_atomic(&reason_path, format!("{reason}\n").as_bytes(), false)
            .map_err(io(&reason_path))?;
        Ok(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_created_on_first_use() {
        let tmp = tempfile::tempdir().unwrap();
        let d = DataDir::open(&tmp.path().join("new")).unwrap();
        assert!(d.root().join("inbox").is_dir());
        assert!(d.inbox("reports").unwrap().is_dir());
        assert_eq!(d.db_path(), tmp.path().join("new/vantage.db"));
    }

    #[test]
    fn quarantine_keeps_both_of_two_same_names() {
        let tmp = tempfile::tempdir().unwrap();
        let d = DataDir::open(tmp.path()).unwrap();
        for body in ["one", "two"] {
            let f = tmp.path().join("bad.yaml");
            fs::write(&f, body).unwrap();
            d.quarantine_file("reports", &f, "bad-yaml: line 3", false).unwrap();
            assert!(!f.exists());
        }
        let q = d.quarantine("reports").unwrap();
        assert_eq!(fs::read_to_string(q.join("bad.yaml")).unwrap(), "one");
        assert_eq!(fs::read_to_string(q.join("bad.yaml.1")).unwrap(), "two");
        assert_eq!(fs::read_to_string(q.join("bad.yaml.1.reason")).unwrap(), "bad-yaml: line 3\n");
    }
}
