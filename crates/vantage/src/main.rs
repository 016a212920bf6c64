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

/// mimalloc's `mi_option_purge_delay` (its place in `mi_option_e` of mimalloc.h, v2 and
/// v3 alike; the Rust bindings name no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// A command that runs and exits keeps the memory it frees for its next allocations
/// instead of handing it back to the kernel after a delay, and takes its fresh memory in
/// small pages: a netstate import frees each file's lines and allocates the next file's,
/// and with transparent huge pages every fresh 2 MiB the allocator touched was zeroed
/// whole. On 1M rows into SQLite the two cut the kernel's share from 1.3-2.9 s to 0.6 s
/// and the run from 3.8-5.0 s to 2.9-3.2 s. `vantage serve` runs for days and keeps the
/// defaults.
fn tune_memory_for_one_run(cli: &cli::Cli) {
    if matches!(cli.command, cli::Command::Serve(_)) {
        return;
    }
    // SAFETY: sets one integer option of the allocator; any value is valid.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    #[cfg(target_os = "linux")]
    // SAFETY: a process flag the kernel checks at each page fault; no memory is touched.
    // Failure (an old kernel) leaves huge pages on, which is only slower.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version land here too; clap's code for bad usage is 2, our "busy".
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    tune_memory_for_one_run(&cli);
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
