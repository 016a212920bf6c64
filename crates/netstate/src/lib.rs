//! netstate: the NOX data warehouse rebuilt (spec `netstate.md`). Controller flat files of
//! OPEN/CLOSE rows become temporal tables: the state of flows, links, host locations and
//! OS fingerprints at any instant, and every change.
//!
//! - [`parse_file`] reads one flat file (MySQL LOAD DATA dialect) into [`Line`]s or
//!   rejects it with a [`Reason`] and line.
//! - [`Importer`] runs `vantage netstate import`: locks, run order, load log, the
//!   per-source merge ([`merge`]), snapshots ([`snapshot`]), moves to LOADED.
//! - [`query`] answers `at`, `changes`, `replay`, `next`/`prev`, `range`, `log`,
//!   `snapshots` and `dump --canonical`.
//! - [`generate`] simulates controllers and writes flat files; [`flows`] merges the packet
//!   recorder's `packets_flows` into FLOW and FLOW6; [`demo`] is `vantage demo`'s part.
//!
//! Times are integer µs since the epoch (the files' native unit), as the spec states.
#![deny(missing_docs)]

mod apply;
mod cell;
mod config;
pub mod define;
pub mod demo;
mod dirlock;
pub mod flows;
pub mod generate;
mod import;
mod itemize;
mod loadlog;
pub mod merge;
mod name;
mod openstore;
mod parse;
pub mod query;
mod readahead;
mod schema;
pub mod snapshot;
mod store;
mod tables;
pub mod time;

pub use crate::{
    cell::Cell,
    config::NetstateConfig,
    demo::demo,
    dirlock::{DirLock, DirLockError, LOCK_NAME as DIR_LOCK_NAME},
    import::{
        migrate, table_def, valid_source, FileReport, ImportError, ImportOptions, ImportReport,
        Importer, Outcome, Rejection, CODE_VERSION, DEFAULT_SNAPSHOT_EVERY, LOCK_NAME,
    },
    loadlog::LoadEntry,
    name::{run_order, FileName},
    parse::{parse_file, Line, LineType, ParseError, Reason},
    schema::{builtin_tables, ColType, Column, Display, TableDef, TableKind},
    store::{retire_source, MAX_LONG},
    tables::all as all_tables,
    time::parse_time,
};
