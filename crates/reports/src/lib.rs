//! The OONI pipeline (reports spec): report parsing, normalization, ingest, canning,
//! autoclaving, the collector model, and centrifugation into the warehouse.
//!
//! - [`value`], [`json`], [`yaml`]: the value tree a report entry becomes, the canonical
//!   JSON writer (rule 19) and the readers of both formats (YAML 1.1 as PyYAML resolves it).
//! - [`slice`]: report bytes into frames and badblobs (§5.1).
//! - [`normalize`]: rules 1–19 of §5.3 and sanitization (§5.5).
//! - [`ids`]: src_sha1, id, report_id and measurement_uid (§5.4).
//! - [`report`]: one report file in, datums and badblobs out ([`report::autoclave`]).
//! - [`collector`]: the probe-facing API (§2.1–§2.4), framework-free, with an axum
//!   adapter.
//! - [`generate`]: seeded synthetic reports; [`demo()`]: the reports part of `vantage demo`.
//! - [`pack`] and [`names`]: the canning rule (§4.2) and report file names (§2.3).
//! - Stages over a data directory and warehouse: [`ingest()`] (§2.5), [`can()`] (§4),
//!   [`autoclave()`] (§5), [`show()`] (§5.7), [`run()`] (one tick), [`redact()`] (§5.5); [`lock`] takes the
//!   `reports` lock; [`ReportsConfig`] is `[reports]`.
//! - The back half (§6–§8): [`centrifuge()`] and its [`centrifuge::feeders`] (one
//!   [`centrifuge::feeders::Feeder`] per table, listed in `FEEDERS`), [`fingerprint`]
//!   (CSV and matching) loaded by [`load_fingerprints()`], [`verdict`] (§7.1), [`score`]
//!   (§7.4, vendors §7.5), [`simhash`] (§6.4); the views are tables kept by centrifugation.
#![deny(missing_docs)]

mod autoclave;
mod canning;
pub mod centrifuge;
pub mod collector;
mod config;
mod demo;
mod error;
mod fingerprints;
mod ingest;
mod member;
mod redact;
mod run;
mod schema;
mod show;
mod space;
mod swap;

pub mod fingerprint;
pub mod generate;
pub mod ids;
pub mod json;
pub mod names;
pub mod normalize;
pub mod pack;
pub mod report;
pub mod score;
pub mod simhash;
pub mod slice;
pub mod value;
pub mod verdict;
pub mod yaml;

pub use crate::{
    autoclave::{autoclave, AutoclaveSummary, CleanLine, AUTOCLAVE_VER},
    canning::{can, CanLine, CanSummary, CANNING_VER},
    centrifuge::{centrifuge, CentrifugeSummary, CODE_VER},
    config::{CollectorConfig, ReportsConfig},
    demo::{demo, DemoSummary},
    error::ReportsError,
    fingerprints::{load_fingerprints, FingerprintLoad},
    ingest::{conventional_name, ingest, IngestLine, IngestSummary},
    redact::{kept_versions, redact, RedactLine, RedactSummary},
    run::{lock, run, RunSummary, LOCK_NAME},
    schema::MIGRATIONS,
    show::show,
};
