//! Canning a directory, idempotently: what `vantage can write DIR -o FILE` does.
//!
//! Members are the directory's regular files (recursively; symbolic links to files are
//! followed, links to directories refused so a loop cannot recurse), named by their path
//! relative to the directory with `/` separators, sorted bytewise by that name. Headers
//! carry the writer's fixed mtime, not the files', so the same names and contents always
//! give the same bytes: a copy of a directory cans to an identical file. Empty
//! directories are not recorded.
//!
//! When the output exists, it is verified and compared with the input — same member names
//! in the same order, same sizes and sha1 — instead of being rewritten ("re-running a can
//! command over the same input verifies instead of rewriting").

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::CanError;
use crate::index::{index_path, Index, INDEX_SUFFIX};
use crate::verify::verify;
use crate::writer::{CanSummary, Writer, WriterOptions};

/// What [`write_dir`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum WriteOutcome {
    /// The can was written.
    Written(CanSummary),
    /// The can existed, verified, and holds exactly the input.
    AlreadyPresent(CanSummary),
}

impl WriteOutcome {
    /// The can's figures, whichever way it came to be.
    pub fn summary(&self) -> &CanSummary {
        match self {
            WriteOutcome::Written(s) | WriteOutcome::AlreadyPresent(s) => s,
        }
    }
}

/// One input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Its member name.
    pub name: String,
    /// Its path.
    pub path: PathBuf,
    /// Its size when listed.
    pub size: u64,
}

/// The files of `dir` as members, sorted by name, leaving out the can `skip` (and its
/// index and temporaries) when the output is written inside the input.
pub fn list_dir(dir: &Path, skip: Option<&Path>) -> Result<Vec<DirEntry>, CanError> {
    let skip = skip.and_then(|s| {
        let parent = s.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Some((fs::canonicalize(parent).ok()?, s.file_name()?.to_string_lossy().into_owned()))
    });
    let meta = fs::metadata(dir).map_err(|e| CanError::io(dir, e))?;
    if !meta.is_dir() {
        return Err(CanError::invalid(dir, "not a directory"));
    }
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        let canon = skip.as_ref().and_then(|_| fs::canonicalize(&d).ok());
        for entry in fs::read_dir(&d).map_err(|e| CanError::io(&d, e))? {
            let entry = entry.map_err(|e| CanError::io(&d, e))?;
            let path = entry.path();
            let Some(file_name) = entry.file_name().to_str().map(str::to_string) else {
                return Err(CanError::invalid(
                    &path,
                    "file name is not UTF-8; a member name must be",
                ));
            };
            if let (Some((skip_dir, skip_name)), Some(canon)) = (&skip, &canon) {
                let ours = file_name == *skip_name
                    || file_name == format!("{skip_name}{INDEX_SUFFIX}")
                    || (file_name.starts_with(vantage_core::publish::TMP_PREFIX)
                        && (file_name.ends_with(&format!("-{skip_name}"))
                            || file_name.ends_with(&format!("-{skip_name}{INDEX_SUFFIX}"))));
                if ours && canon == skip_dir {
                    continue;
                }
            }
            let name = format!("{prefix}{file_name}");
            let kind = entry.file_type().map_err(|e| CanError::io(&path, e))?;
            if kind.is_dir() {
                stack.push((path, format!("{name}/")));
                continue;
            }
            let meta = fs::metadata(&path).map_err(|e| CanError::io(&path, e))?;
            if meta.is_dir() {
                return Err(CanError::invalid(&path, "symbolic link to a directory; not followed"));
            }
            if !meta.is_file() {
                return Err(CanError::invalid(&path, "not a regular file"));
            }
            out.push(DirEntry { name, path, size: meta.len() });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Cans the directory `dir` into `out`, or, when `out` exists, verifies it and checks that
/// it holds exactly `dir`'s files.
pub fn write_dir(dir: &Path, out: &Path, opts: WriterOptions) -> Result<WriteOutcome, CanError> {
    write_dir_with_progress(dir, out, opts, &mut |_, _| {})
}

/// [`write_dir`], calling `progress(bytes_done, bytes_total)` after each file, for a
/// progress bar.
pub fn write_dir_with_progress(
    dir: &Path,
    out: &Path,
    opts: WriterOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<WriteOutcome, CanError> {
    let files = list_dir(dir, Some(out))?;
    let total = files.iter().map(|f| f.size).sum();
    if out.exists() {
        return check_existing(dir, out, &files, total, progress).map(WriteOutcome::AlreadyPresent);
    }
    let mut w = Writer::create(out, opts)?;
    let mut done = 0;
    for f in &files {
        w.add_file(&f.name, &f.path)?;
        done += f.size;
        progress(done, total);
    }
    w.finish().map(WriteOutcome::Written)
}

fn check_existing(
    dir: &Path,
    out: &Path,
    files: &[DirEntry],
    total: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<CanSummary, CanError> {
    let summary = verify(out)?;
    let idx = Index::load(&index_path(out))?;
    let differs = |why: String| CanError::Differs { path: out.into(), input: dir.into(), why };
    let members = idx.members();
    // Names and sizes first, cheaply, in order; then contents.
    for i in 0..members.len().max(files.len()) {
        match (members.get(i), files.get(i)) {
            (Some(m), Some(f)) if m.name != f.name => {
                return Err(differs(format!(
                    "the can has {:?} where the input has {:?}",
                    m.name, f.name
                )))
            }
            (Some(m), Some(f)) if m.size != f.size => {
                return Err(differs(format!(
                    "{:?} is {} bytes in the can, {} in the input",
                    f.name, m.size, f.size
                )))
            }
            (Some(m), None) => {
                return Err(differs(format!("member {:?} is not in the input", m.name)))
            }
            (None, Some(f)) => {
                return Err(differs(format!("input file {:?} is not in the can", f.name)))
            }
            _ => {}
        }
    }
    let mut done = 0;
    for (m, f) in members.iter().zip(files) {
        let d = crate::checksum::of_file(&f.path).map_err(|e| CanError::io(&f.path, e))?;
        if d.sha1 != m.sha1 {
            return Err(differs(format!(
                "{:?} has sha1 {} in the can, {} in the input",
                f.name, m.sha1, d.sha1
            )));
        }
        done += f.size;
        progress(done, total);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStrExt;

    use super::*;

    #[test]
    fn files_are_listed_recursively_sorted_by_name() {
        let d = tempfile::tempdir().unwrap();
        for name in ["b.json", "a/z.json", "a/b/c.json", "a.json", "A.json"] {
            let p = d.path().join(name);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, name).unwrap();
        }
        fs::create_dir(d.path().join("empty")).unwrap();
        std::os::unix::fs::symlink(d.path().join("b.json"), d.path().join("link.json")).unwrap();
        let names: Vec<String> =
            list_dir(d.path(), None).unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["A.json", "a.json", "a/b/c.json", "a/z.json", "b.json", "link.json"]);
    }

    #[test]
    fn odd_entries_are_refused_by_path() {
        let d = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(d.path(), d.path().join("loop")).unwrap();
        let e = list_dir(d.path(), None).unwrap_err();
        assert!(e.to_string().contains("loop: symbolic link to a directory"), "{e}");
        fs::remove_file(d.path().join("loop")).unwrap();
        let bad = std::ffi::OsStr::from_bytes(b"bad\xff.json");
        fs::write(d.path().join(bad), b"").unwrap();
        let e = list_dir(d.path(), None).unwrap_err();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
        let f = d.path().join("file");
        fs::write(&f, b"").unwrap();
        assert!(list_dir(&f, None).unwrap_err().to_string().contains("not a directory"));
    }
}
