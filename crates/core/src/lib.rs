//! Foundations every Vantage kind stands on.
//!
//! - [`Timestamp`] and [`Bucket`]: nanosecond UTC time and the UTC date buckets that
//!   partition every kind's data (DESIGN.md, Conventions: Time, Buckets).
//! - [`hash`]: the content hashes (sha1, sha256, md5, crc32) the catalog and cans record,
//!   and [`MultiHasher`] to take them all in one pass.
//! - [`SecretKey`]: the data directory's `secret.key` and the per-purpose keys derived from
//!   it, with the HMAC helpers every keyed hash uses.
//! - [`Config`]: the one `vantage.toml`, layered flag > environment > file > default.
//! - [`DataDir`]: the directory layout everything Vantage keeps lives in.
//! - [`publish`]: atomic publication of files (temporary name, fsync, rename).
//! - [`Exit`] and [`Place`]: the exit codes of the conventions and the "file and place"
//!   every error names.
#![deny(missing_docs)]

mod config;
mod datadir;
mod error;
pub mod hash;
mod keys;
pub mod publish;
mod time;

pub use crate::{
    config::{Config, ConfigError, GlobalArgs, ServerConfig, WarehouseConfig},
    datadir::{DataDir, DataDirError},
    error::{Exit, HasExit, Place},
    hash::{Digests, MultiHasher},
    keys::{hmac_sha256, hmac_sha256_hex, KeyError, SecretKey},
    time::{Bucket, TimeError, Timestamp},
};
