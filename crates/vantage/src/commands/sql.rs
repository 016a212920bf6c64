//! `vantage sql "SELECT ..."`: one query against the warehouse, printed in `--format`.

use crate::context::{Context, OrExit};
use crate::output::print_rows;

/// Arguments of `vantage sql`.
#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// The statement; `?` placeholders are not available here, inline the values
    pub query: String,
}

/// Runs the query and prints its rows.
pub fn run(ctx: &Context, args: &SqlArgs) -> anyhow::Result<()> {
    let data = ctx.data_dir()?;
    let mut wh = ctx.warehouse(&data)?;
    let rows = vantage_warehouse::Sql::query(&mut wh, &args.query, &[]).coded()?;
    print_rows(&rows, ctx.format)?;
    Ok(())
}
