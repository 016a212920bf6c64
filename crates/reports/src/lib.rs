//! The OONI pipeline's front half (reports spec §2–§5): report parsing, normalization,
//! ingest, canning, autoclaving and the collector model.
//!
//! - [`value`], [`json`], [`yaml`]: the value tree a report entry becomes, the canonical
//!   JSON writer (rule 19) and the readers of both formats (YAML 1.1 as PyYAML resolves it).
//! - [`slice`]: report bytes into frames and badblobs (§5.1).
//! - [`normalize`]: rules 1–19 of §5.3 and sanitization (§5.5).
//! - [`ids`]: src_sha1, id, report_id and measurement_uid (§5.4).
//! - [`report`]: one report file in, datums and badblobs out ([`report::autoclave`]).
#![deny(missing_docs)]

pub mod ids;
pub mod json;
pub mod names;
pub mod normalize;
pub mod pack;
pub mod report;
pub mod slice;
pub mod value;
pub mod yaml;
