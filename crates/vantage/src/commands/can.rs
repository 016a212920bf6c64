//! `vantage can write|cat|verify`: direct use of the can format.

use std::path::PathBuf;

use crate::context::{Coded, Context};

/// The `can` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum CanCommand {
    /// Write a directory as a can
    Write {
        /// Directory to can
        dir: PathBuf,
        /// The can to write
        #[arg(short = 'o', long)]
        output: PathBuf,
    },
    /// Print one member of a can
    Cat {
        /// The can
        can: PathBuf,
        /// Member name
        member: String,
    },
    /// Check every checksum of a can
    Verify {
        /// The can
        can: PathBuf,
    },
}

/// Runs a `can` subcommand.
pub fn run(_ctx: &Context, _cmd: &CanCommand) -> anyhow::Result<()> {
    Err(Coded::new(vantage_core::Exit::Usage, "the can commands are not wired yet"))
}
