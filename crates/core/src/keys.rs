//! The data directory's secret and the keys derived from it.
//!
//! `secret.key` holds 32 random bytes, mode 0600, created on first use. No keyed hash
//! uses it directly: each purpose ("passive-pseudonym", "reports-rehash", ...) gets its
//! own key, HMAC-SHA256(secret, "vantage key v1: " + purpose), so that a key leaked from
//! one use says nothing about another and rotating one purpose leaves the rest intact.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why the secret could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or creating the file failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The key file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file exists but is not 32 bytes.
    #[error("{}: secret key is {len} bytes, expected 32; restore it from backup, or move it away to start with a new one (all pseudonyms change)", .path.display())]
    BadLength {
        /// The key file.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
}

impl crate::HasExit for KeyError {
    fn exit(&self) -> crate::Exit {
        match self {
            KeyError::Io { .. } => crate::Exit::Storage,
            KeyError::BadLength { .. } => crate::Exit::Usage,
        }
    }
}

/// The 32-byte server secret of one data directory.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    /// Reads `path`, creating it with 32 random bytes (mode 0600) when it does not exist.
    ///
    /// Creation uses `create_new`, so two processes starting at once agree on one key.
    pub fn load_or_create(path: &Path) -> Result<SecretKey, KeyError> {
        let io = |source| KeyError::Io { path: path.to_path_buf(), source };
        match fs::read(path) {
            Ok(bytes) => return SecretKey::from_bytes(path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let mut key = [0u8; 32];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut key);
        let tmp = path.with_extension("key.tmp");
        {
            let mut opts = fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp).map_err(io)?;
            f.write_all(&key).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        // hard_link fails if another process won the race; then its key is the key.
        match fs::hard_link(&tmp, path) {
            Ok(()) => {
                let _ = fs::remove_file(&tmp);
                crate::publish::sync_parent(path).map_err(io)?;
                Ok(SecretKey(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(&tmp);
                let bytes = fs::read(path).map_err(io)?;
                SecretKey::from_bytes(path, &bytes)
            }
            Err(e) => Err(io(e)),
        }
    }

    fn from_bytes(path: &Path, bytes: &[u8]) -> Result<SecretKey, KeyError> {
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::BadLength { path: path.to_path_buf(), len: bytes.len() })?;
        Ok(SecretKey(key))
    }

    /// A key fixed by the caller, for tests and generators that need reproducible output.
    pub fn from_seed(seed: [u8; 32]) -> SecretKey {
        SecretKey(seed)
    }

    /// The key for one purpose. Every keyed hash Vantage makes goes through here.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut msg = b"vantage key v1: ".to_vec();
        msg.extend_from_slice(purpose.as_bytes());
        hmac_sha256(&self.0, &msg)
    }
}

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // new_from_slice accepts keys of any length for HMAC; it cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256 as lower-case hex, the form pseudonyms are stored in.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    hex::encode(hmac_sha256(key, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn key_file_is_created_once_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        let a = SecretKey::load_or_create(&path).unwrap();
        let b = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(a.derive("x"), b.derive("x"));
        assert_ne!(a.derive("x"), a.derive("y"));
        assert_eq!(fs::read(&path).unwrap().len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn wrong_length_is_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.key");
        fs::write(&path, b"short").unwrap();
        let e = SecretKey::load_or_create(&path).unwrap_err();
        assert!(e.to_string().contains("5 bytes, expected 32"), "{e}");
    }
}
