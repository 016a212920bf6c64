//! Free-space check before a stage writes (spec §11): a full disk must stop a stage
//! before it starts, not in the middle (OONI's reprocessing once died of it, ooni/backend#372).

use std::ffi::CString;
use std::path::Path;

use crate::error::ReportsError;

/// Bytes available to an unprivileged writer on the filesystem holding `dir`.
pub fn available(dir: &Path) -> Option<u64> {
    let c = CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return None;
    }
    // The fields are c_ulong: u64 here, u32 on 32-bit targets.
    #[allow(clippy::useless_conversion)]
    Some(u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize)))
}

/// Fails with exit 4 unless `dir` has `1.2 × estimate + min_free` bytes free.
pub fn check(dir: &Path, estimate: u64, min_free: u64) -> Result<(), ReportsError> {
    let needed = estimate.saturating_add(estimate / 5).saturating_add(min_free);
    match available(dir) {
        Some(available) if available < needed => {
            Err(ReportsError::NoSpace { path: dir.to_path_buf(), available, needed })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_reserve_is_refused() {
        let dir = std::env::temp_dir();
        assert!(available(&dir).is_some_and(|a| a > 0));
        assert!(check(&dir, 0, 0).is_ok());
        let e = check(&dir, 10, u64::MAX / 2).unwrap_err();
        assert_eq!(vantage_core::HasExit::exit(&e), vantage_core::Exit::Storage);
        assert!(e.to_string().contains("reports.min_free"), "{e}");
    }
}
