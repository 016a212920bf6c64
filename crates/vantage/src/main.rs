//! `vantage`: the command line. Parses, calls one library function per verb, prints, and
//! maps errors to the exit codes of DESIGN.md's Conventions. No logic of its own.

mod cli;
mod commands;
mod context;
mod output;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: the parsers and processors of every kind
/// allocate many short-lived strings and vectors on several threads at once, where
/// glibc's malloc spent a sixth of `passive process` and scaled worse with a second
/// worker.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version land here too; clap's code for bad usage is 2, our "busy".
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    context::init_logging(cli.global.verbose, cli.global.quiet, cli.global.log_format);
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if context::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(context::exit_code(&e).code())
        }
    }
}
