//! `[passive]` of vantage.toml (DESIGN.md § Conventions), typed once here, and the
//! environment every passive stage runs in: data directory, options, server keys.

use std::path::PathBuf;

use serde::Deserialize;
use vantage_core::{DataDir, DataDirError};

use crate::anonymize::{NodeIdHash, ServerAnonymizer};

/// Options of the passive kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PassiveConfig {
    /// Node pseudonyms: `"hmac-sha256"` (default) or `"md5"` (compatibility only).
    pub node_id_hash: NodeIdHash,
    /// `false` keeps raw node ids: for tests only (processor vectors use given ids).
    pub pseudonymize_node_ids: bool,
    /// Replaces the derived clear-IP re-hash key (tests only: the vectors fix one).
    pub rehash_key_hex: Option<String>,
    /// Largest upload the server accepts.
    pub max_upload_bytes: u64,
    /// Worker threads for `process` (default: the number of cores).
    pub workers: Option<usize>,
    /// Updates per commit of one session (spec §5: 120).
    pub chunk_updates: usize,
    /// Spool directories of `passive run` (default: `inbox/passive/`).
    pub watch: Vec<PathBuf>,
    /// Test hook (spec §11): stop `process` abruptly after this many session commits.
    /// Set through the environment as `VANTAGE_PASSIVE_CRASH_AFTER=<n>`.
    pub crash_after: Option<u64>,
}

impl Default for PassiveConfig {
    fn default() -> PassiveConfig {
        PassiveConfig {
            node_id_hash: NodeIdHash::HmacSha256,
            pseudonymize_node_ids: true,
            rehash_key_hex: None,
            max_upload_bytes: 64 << 20,
            workers: None,
            chunk_updates: 120,
            watch: Vec::new(),
            crash_after: None,
        }
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// `rehash_key_hex` is not hex.
    #[error("passive.rehash_key_hex: not a hex string; give the key as hex digits")]
    BadRehashKey,
    /// The data directory or its secret.
    #[error(transparent)]
    Data(#[from] DataDirError),
}

impl vantage_core::HasExit for EnvError {
    fn exit(&self) -> vantage_core::Exit {
        match self {
            EnvError::BadRehashKey => vantage_core::Exit::Usage,
            EnvError::Data(e) => e.exit(),
        }
    }
}

/// What every passive stage needs: the data directory, the options and the server-side
/// anonymizer with its keys derived from `secret.key`.
#[derive(Debug, Clone)]
pub struct PassiveEnv {
    /// The data directory.
    pub data: DataDir,
    /// The options.
    pub config: PassiveConfig,
    /// Server-side anonymization (spec §4).
    pub anonymizer: ServerAnonymizer,
}

impl PassiveEnv {
    /// Builds the environment; configuration errors (exit 1) come from here alone.
    pub fn new(data: DataDir, config: PassiveConfig) -> Result<PassiveEnv, EnvError> {
        let secret = data.secret()?;
        let rehash_key = match &config.rehash_key_hex {
            Some(h) => hex::decode(h).map_err(|_| EnvError::BadRehashKey)?,
            None => secret.derive("passive clear-ip rehash").to_vec(),
        };
        let anonymizer = ServerAnonymizer {
            node_id_hash: config.pseudonymize_node_ids.then_some(config.node_id_hash),
            node_key: secret.derive("passive node pseudonym"),
            rehash_key,
        };
        Ok(PassiveEnv { data, config, anonymizer })
    }

    /// Worker threads to use: the option, else the cores.
    pub fn workers(&self, asked: Option<usize>) -> usize {
        asked
            .or(self.config.workers)
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
            .max(1)
    }
}
