//! The `[netstate]` section of `vantage.toml`.

use serde::Deserialize;

/// Options of the netstate kind.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NetstateConfig {
    /// Default `--snapshot-every` (rows created between snapshots; 0 = every advance).
    #[serde(alias = "snapshot_interval")]
    pub snapshot_every: Option<u64>,
    /// DP_ID given to recorded flows by `import-flows` (spec §6; default 0).
    pub recorder_dp_id: u64,
}
