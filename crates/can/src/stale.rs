//! Leftovers of a crashed write of the same can.
//!
//! core's `publish::Pending` names a temporary `.tmp-<pid>-<name>`; a process killed
//! mid-write leaves it behind (never the can itself). Before writing a can, the writer
//! removes the temporaries of *that can and its index* whose pid is no longer alive, so
//! a re-run cleans up after the crash it repairs, without touching a write in progress in
//! another live process or other files' temporaries.

use std::fs;
use std::io;
use std::path::Path;

use vantage_core::publish::TMP_PREFIX;

/// Whether process `pid` is alive (or may be: only "no such process" counts as dead).
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 sends nothing; it only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Removes dead processes' temporaries of the files named `names` in `dir`; returns how
/// many went.
pub(crate) fn remove_stale(dir: &Path, names: &[&str]) -> io::Result<usize> {
    let mut removed = 0;
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix(TMP_PREFIX)) else {
            continue;
        };
        let Some((pid, name)) = rest.split_once('-') else { continue };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if names.contains(&name) && pid != std::process::id() && !alive(pid) {
            match fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_only_dead_temporaries_of_the_named_files() {
        let dir = tempfile::tempdir().unwrap();
        // pid 0x7ffffffe is far above any pid_max, so it is dead.
        let dead = 2_147_483_646u32;
        let me = std::process::id();
        for name in [
            format!(".tmp-{dead}-a.tar.lz4"),
            format!(".tmp-{dead}-a.tar.lz4.index.jsonl"),
            format!(".tmp-{dead}-b.tar.lz4"),
            format!(".tmp-{me}-a.tar.lz4"),
            "a.tar.lz4".to_string(),
            ".tmp-x-a.tar.lz4".to_string(),
        ] {
            fs::write(dir.path().join(name), b"").unwrap();
        }
        let n = remove_stale(dir.path(), &["a.tar.lz4", "a.tar.lz4.index.jsonl"]).unwrap();
        assert_eq!(n, 2);
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want = [
            format!(".tmp-{dead}-b.tar.lz4"),
            format!(".tmp-{me}-a.tar.lz4"),
            ".tmp-x-a.tar.lz4".into(),
            "a.tar.lz4".into(),
        ];
        want.sort();
        assert_eq!(left, want);
        assert!(alive(me));
        assert!(!alive(dead));
    }
}
