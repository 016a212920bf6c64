//! A minimal stand-alone front end to the can format, for `bench/can.sh` when the
//! `vantage` binary is not built, and for poking at cans by hand:
//!
//! ```text
//! cargo run --release -p vantage-can --example can -- write DIR -o OUT.tar.lz4 [--frame-target BYTES] [--inline]
//! cargo run --release -p vantage-can --example can -- cat OUT.tar.lz4 MEMBER > member
//! cargo run --release -p vantage-can --example can -- verify OUT.tar.lz4
//! ```
//!
//! Exit codes follow DESIGN.md's Conventions (1 usage, 3 rejected, 4 storage).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use vantage_can::{verify, write_dir, Can, CanError, WriteOutcome, WriterOptions};
use vantage_core::HasExit;

fn usage() -> ExitCode {
    eprintln!("usage: can write DIR -o OUT [--frame-target BYTES] [--inline] | cat CAN MEMBER | verify CAN");
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result: Result<(), CanError> =
        match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            ["write", dir, rest @ ..] => {
                let mut out = None;
                let mut opts = WriterOptions::default();
                let mut it = rest.iter();
                while let Some(a) = it.next() {
                    match *a {
                        "-o" | "--output" => out = it.next().map(PathBuf::from),
                        "--frame-target" => match it.next().and_then(|v| v.parse().ok()) {
                            Some(n) => opts.frame_target = n,
                            None => return usage(),
                        },
                        "--inline" => opts.background = false,
                        _ => return usage(),
                    }
                }
                let Some(out) = out else { return usage() };
                write_dir(PathBuf::from(dir).as_path(), &out, opts).map(|o| match o {
                    WriteOutcome::Written(s) => eprintln!(
                        "written {} ({} members, {} bytes)",
                        s.path.display(),
                        s.members,
                        s.file_size
                    ),
                    WriteOutcome::AlreadyPresent(s) => {
                        eprintln!("already present {} (verified)", s.path.display())
                    }
                })
            }
            ["cat", can, member] => Can::open(PathBuf::from(can).as_path()).and_then(|c| {
                let stdout = std::io::stdout();
                let mut lock = stdout.lock();
                c.copy_member(member, &mut lock)?;
                lock.flush().map_err(|e| CanError::io(std::path::Path::new("<output>"), e))
            }),
            ["verify", can] => verify(PathBuf::from(can).as_path()).map(|s| {
                println!(
                    "{}: ok: {} frames, {} members, {} records, {} bytes",
                    s.path.display(),
                    s.frames,
                    s.members,
                    s.records,
                    s.file_size
                )
            }),
            _ => return usage(),
        };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit().code())
        }
    }
}
