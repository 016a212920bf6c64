//! Bismark passive router updates (spec `passive.md`): parse, anonymize, ingest and
//! process them into traffic tables, per session, incrementally and in parallel.
//!
//! | module | concern |
//! |---|---|
//! | [`parser`], `section`, `update` | update text → [`Update`] (§2) |
//! | `frequent` | uCap frequent updates (§2.5) |
//! | `decode` | member bytes → text (gzip or plain) |
//! | [`anonymize`] | router hashes, server pseudonyms and re-hashes (§4) |
//! | `config` | `[passive]` options and the stage environment [`PassiveEnv`] |
//! | [`schema`] | the tables (§3, §5, §7) |
//! | `codec`, `index` | stored update bodies; the updates and sessions index (§3) |
//! | `ingest` | tarballs, uploads, quarantine (§3) |
//! | `state`, `sink`, [`process`] | per-session state, processors, writing rows, orchestration (§5, §6) |
//! | `run`, `demo` | one tick of spool ingest + process; the demo's part |
//! | `sessions` | the sessions listing (§8) |
//! | `generate` | the seeded generator of updates and tarballs (§9) |
#![deny(missing_docs)]

pub mod anonymize;
mod codec;
mod commit;
mod config;
mod decode;
mod demo;
mod error;
mod frequent;
mod generate;
mod index;
mod ingest;
pub mod parser;
pub mod process;
mod rollup;
mod run;
pub mod schema;
mod section;
mod sessions;
mod sink;
mod state;
mod update;

/// The name of the kind's lock (DESIGN.md § Conventions).
pub const LOCK: &str = "passive";

pub use crate::{
    codec::{decode as decode_body, encode as encode_body, CodecError},
    config::{EnvError, PassiveConfig, PassiveEnv},
    decode::{decode_member, is_gzip, GzipError},
    demo::{demo, DemoSummary},
    error::PassiveError,
    frequent::{frequent_name, is_frequent, parse_frequent, FrequentDevice, FrequentUpdate},
    generate::{generate, GenLayout, GenerateOptions, GenerateReport, RouterTruth, WHITELIST},
    index::{contiguous_through, index_update, ranges, refresh_sessions, Indexed, Origin},
    ingest::{
        expand, ingest_bytes, ingest_paths, ingest_paths_with, ingest_updates, md5_in_name,
        MemberReport, SourceReport, SourceStatus,
    },
    parser::{parse_update, split_sections, ParseError},
    process::{process, ProcessOptions, ProcessReport, ProcessorReport, PROCESSORS},
    run::{run, RunOptions},
    section::Section,
    sessions::{sessions, sessions_rows, SessionInfo},
    update::{
        ARecord, Address, CnameRecord, DroppedPackets, Flow, HttpUrl, Packet, SessionKey, Update,
        Warning,
    },
};
