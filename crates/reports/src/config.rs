//! `[reports]` of vantage.toml.

use std::path::PathBuf;

use serde::Deserialize;

/// Options of the reports kind.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReportsConfig {
    /// JSON bridge database for sanitization (§5.5); none: only bridge lines are hashed.
    pub bridge_db: Option<PathBuf>,
    /// Bytes that must stay free besides a stage's estimated output (§11; 1 GiB).
    pub min_free: u64,
    /// Seconds a group's oldest file waits before `serve` cans it (§4.1; 600).
    pub can_max_wait: u64,
    /// Target size of a raw can slice (§4.2; 64 MiB). Lowered only by tests and demos.
    pub can_size: u64,
    /// The collector's options.
    pub collector: CollectorConfig,
}

impl Default for ReportsConfig {
    fn default() -> ReportsConfig {
        ReportsConfig {
            bridge_db: None,
            min_free: 1 << 30,
            can_max_wait: 600,
            can_size: crate::pack::CAN_SIZE,
            collector: CollectorConfig::default(),
        }
    }
}

/// `[reports.collector]`: limits of the probe-facing endpoints (§2.4).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorConfig {
    /// Seconds without a submission after which an open segment is archived (3600).
    pub idle_close: u64,
    /// Largest decoded request body, bytes (16 MiB).
    pub max_body: usize,
    /// Requests per second per address (20).
    pub rate: f64,
    /// Burst per address (100).
    pub burst: f64,
    /// Open segments per address (1,000).
    pub max_open: usize,
    /// The collector id in report ids (`n<id>`).
    pub collector_id: u32,
}

impl Default for CollectorConfig {
    fn default() -> CollectorConfig {
        CollectorConfig {
            idle_close: 3600,
            max_body: 16 << 20,
            rate: 20.0,
            burst: 100.0,
            max_open: 1000,
            collector_id: 1,
        }
    }
}
