//! `vantage demo`: synthetic data for every kind through the whole pipeline, then a summary.

use crate::context::Context;

/// Arguments of `vantage demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

/// Runs the demo.
pub fn run(_ctx: &Context, _args: &DemoArgs, _data_given: bool) -> anyhow::Result<()> {
    Ok(())
}
