//! One module per verb; each turns parsed arguments into library calls and prints.

pub mod can;
pub mod console;
pub mod demo;
pub mod netstate;
pub mod packets;
pub mod passive;
pub mod reports;
pub mod serve;
pub mod sql;
pub mod status;
pub mod verify;

use crate::cli::{Cli, Command};
use crate::context::{Context, OrExit};

/// Resolves the configuration and runs the chosen command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let g = &cli.global;
    let args = vantage_core::GlobalArgs {
        data: g.data.clone(),
        warehouse: g.warehouse.clone(),
        config: g.config.clone(),
        overrides: g.overrides.clone(),
    };
    let config = vantage_core::Config::load(&args).coded()?;
    let verbosity = (i16::from(g.verbose) - i16::from(g.quiet)).clamp(-8, 8) as i8;
    let ctx = Context { config, format: g.format, verbosity };
    match &cli.command {
        Command::Demo(a) => demo::run(&ctx, a, g.data.is_some()),
        Command::Status => status::run(&ctx),
        Command::Verify => verify::run(&ctx),
        Command::Sql(a) => sql::run(&ctx, a),
        Command::Can(c) => can::run(&ctx, c),
        Command::Netstate(c) => netstate::run(&ctx, c),
        Command::Packets(c) => packets::run(&ctx, c),
        Command::Console(a) => console::run(&ctx, a),
        Command::Passive(c) => passive::run(&ctx, c),
        Command::Reports(c) => reports::run(&ctx, c),
        Command::Serve(a) => serve::run(&ctx, a),
    }
}
