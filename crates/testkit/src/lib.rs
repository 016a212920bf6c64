//! Test helpers shared by every crate (dev-dependency only).
//!
//! Conformance data live in `../shared/data/<kind>/` beside the repository and are read
//! in place, never copied; when absent, [`conformance`] prints a notice and the test skips.
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

/// The repository root (the workspace folder).
pub fn repo_root() -> PathBuf {
    // testkit lives at crates/testkit; its manifest dir is fixed at compile time.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// `../shared/data/<kind>` when present; otherwise prints a notice and returns `None`.
///
/// `VANTAGE_SHARED_DATA` points elsewhere when the data sit in another place.
pub fn conformance(kind: &str) -> Option<PathBuf> {
    let base = std::env::var_os("VANTAGE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/data"));
    let dir = base.join(kind);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("notice: {} is absent; conformance test skipped", dir.display());
        None
    }
}

/// The PostgreSQL connection string for tests, or `None` with a printed notice.
pub fn postgres_url() -> Option<String> {
    match std::env::var("VANTAGE_TEST_PG") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("notice: VANTAGE_TEST_PG is unset; PostgreSQL test skipped");
            None
        }
    }
}

/// Files under `dir` (recursively) whose name ends with `.ext`, sorted.
pub fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let suffix = format!(".{ext}");
    let mut out = all_files(dir);
    out.retain(|p| p.to_string_lossy().ends_with(&suffix));
    out
}

/// Every file under `dir` (recursively), sorted: what a run left in a data directory.
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Reads and parses a JSON file, panicking with its path (tests only).
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fresh temporary directory, removed on drop.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"))
}
