//! `vantage status`: per kind, what arrived, what is stored, pending and failed.

use std::io::Write;

use vantage_warehouse::catalog;

use crate::context::{Context, OrExit};
use crate::output::write_table;

/// Prints the catalog's summary per kind.
pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let data = ctx.data_dir()?;
    let mut wh = ctx.warehouse(&data)?;
    let status = catalog::status(&mut wh).coded()?;
    let mut out = std::io::stdout().lock();
    match ctx.format {
        crate::context::Format::Json => {
            serde_json::to_writer_pretty(&mut out, &status)?;
            writeln!(out)?;
        }
        format => {
            let header: Vec<String> = [
                "kind",
                "arrivals",
                "bytes",
                "cans",
                "can_bytes",
                "pending",
                "done",
                "failed",
                "waiting",
                "quarantined",
                "last_error",
            ]
            .map(String::from)
            .to_vec();
            let rows: Vec<Vec<String>> = status
                .iter()
                .map(|s| {
                    vec![
                        s.kind.clone(),
                        s.arrivals.to_string(),
                        s.arrival_bytes.to_string(),
                        s.cans.to_string(),
                        s.can_bytes.to_string(),
                        s.pending.to_string(),
                        s.done.to_string(),
                        s.failed.to_string(),
                        s.waiting.to_string(),
                        s.quarantined.to_string(),
                        s.last_error.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            if format == crate::context::Format::Csv {
                let table = vantage_warehouse::Rows {
                    columns: header,
                    rows: rows
                        .into_iter()
                        .map(|r| r.into_iter().map(Into::into).collect())
                        .collect(),
                };
                crate::output::write_rows(&mut out, &table, format)?;
            } else {
                writeln!(
                    out,
                    "data directory: {}   warehouse: {}",
                    data.root().display(),
                    wh.describe()
                )?;
                write_table(&mut out, &header, &rows)?;
            }
        }
    }
    Ok(())
}
