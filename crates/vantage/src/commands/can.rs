//! `vantage can write|cat|verify`: direct use of the can format (`vantage_can`).

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use vantage_can::{CanError, CanSummary, WriteOutcome, WriterOptions};
use vantage_warehouse::{Rows, Value};

use crate::context::{progress_bar, Context, Format, OrExit};

/// The `can` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum CanCommand {
    /// Write a directory's files as a can (FILE.tar.lz4) and its index
    /// (FILE.tar.lz4.index.jsonl)
    ///
    /// Members are the directory's regular files, recursively, named by their path
    /// relative to DIR and sorted by name, with fixed metadata (mtime 0, mode 0444), so
    /// the same files always give the same bytes. If the output exists it is verified
    /// against DIR instead of rewritten: exit 0 when it holds exactly DIR's files, exit 3
    /// naming the first difference otherwise.
    #[command(after_help = "Examples:\n  \
        vantage can write inbox/2024-01-01 -o archive/2024-01-01.tar.lz4\n  \
        vantage can write DIR -o out.tar.lz4 --frame-target 1m --format json\n\n\
        The result reads with standard tools too: tar -I lz4 -tf out.tar.lz4")]
    Write {
        /// Directory to can
        dir: PathBuf,
        /// The can to write (its index goes beside it)
        #[arg(short = 'o', long)]
        output: PathBuf,
        /// Uncompressed bytes per LZ4 frame: smaller makes reading one member cheaper,
        /// larger compresses a little better (suffixes k, m)
        #[arg(long, value_name = "BYTES", default_value = "256k", value_parser = parse_size)]
        frame_target: usize,
    },
    /// Print one member of a can to stdout, checked against its index's sha1 and crc32
    ///
    /// Reads the member with one seek and one frame decompression, whatever the size of
    /// the can. Exit 1 if there is no such member, 3 if the can is damaged.
    #[command(after_help = "Examples:\n  \
        vantage can cat archive/2024-01-01.tar.lz4 2024-01-01/20240101T000000Z-IT-web_connectivity.json\n  \
        vantage can cat out.tar.lz4 a/b.json > b.json")]
    Cat {
        /// The can
        can: PathBuf,
        /// Member name, as `tar -I lz4 -tf CAN` lists it
        member: String,
    },
    /// Re-check a can against its index: every frame, member, record and the whole file
    ///
    /// Reports the first mismatch with the file and byte offset of the frame at fault and
    /// exits 3; a missing or damaged index is named with its line.
    #[command(after_help = "Examples:\n  \
        vantage can verify archive/2024-01-01.tar.lz4\n  \
        vantage can verify out.tar.lz4 --format json")]
    Verify {
        /// The can
        can: PathBuf,
    },
}

/// Parses `262144`, `256k`, `1m`, `1MiB` into bytes.
fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim().to_ascii_lowercase();
    let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &t[digits.len()..];
    let mult: usize = match unit {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        _ => return Err(format!("{s:?}: unknown unit {unit:?}; use k or m")),
    };
    let n: usize = digits.trim().parse().map_err(|_| format!("{s:?} is not a size"))?;
    n.checked_mul(mult).ok_or_else(|| format!("{s:?} is too large"))
}

/// Runs a `can` subcommand.
pub fn run(ctx: &Context, cmd: &CanCommand) -> anyhow::Result<()> {
    match cmd {
        CanCommand::Write { dir, output, frame_target } => {
            let opts = WriterOptions { frame_target: *frame_target, ..WriterOptions::default() };
            let outcome = write(ctx, dir, output, opts).coded()?;
            let (label, summary) = match &outcome {
                WriteOutcome::Written(s) => ("written", s),
                WriteOutcome::AlreadyPresent(s) => ("already_present", s),
            };
            print_summary(ctx, label, summary)?;
            Ok(())
        }
        CanCommand::Cat { can, member } => {
            let can = vantage_can::Can::open(can).coded()?;
            let stdout = io::stdout();
            let mut out = stdout.lock();
            match can.copy_member(member, &mut out).and_then(|_| {
                out.flush().map_err(|e| CanError::io(std::path::Path::new("<output>"), e))
            }) {
                Ok(()) => Ok(()),
                // `vantage can cat ... | head`: the reader had enough.
                Err(CanError::Io { source, .. }) if source.kind() == io::ErrorKind::BrokenPipe => {
                    Ok(())
                }
                Err(e) => Err(e).coded(),
            }
        }
        CanCommand::Verify { can } => {
            let summary = vantage_can::verify(can).coded()?;
            print_summary(ctx, "ok", &summary)?;
            Ok(())
        }
    }
}

/// Cans `dir`, with a progress bar (bytes) once the work has lasted a second.
fn write(
    ctx: &Context,
    dir: &std::path::Path,
    output: &std::path::Path,
    opts: WriterOptions,
) -> Result<WriteOutcome, CanError> {
    let started = Instant::now();
    let mut bar: Option<indicatif::ProgressBar> = None;
    let outcome = vantage_can::write_dir_with_progress(dir, output, opts, &mut |done, total| {
        if bar.is_none() && started.elapsed() > Duration::from_secs(1) {
            bar = Some(progress_bar(ctx, total, "canning"));
        }
        if let Some(b) = &bar {
            b.set_position(done);
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    outcome
}

/// Prints what a can holds: one row (table, CSV) or one JSON object.
fn print_summary(ctx: &Context, outcome: &str, s: &CanSummary) -> anyhow::Result<()> {
    if ctx.format == Format::Json {
        let mut v = serde_json::to_value(s)?;
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("outcome".into(), outcome.into());
        }
        let stdout = io::stdout();
        let mut out = stdout.lock();
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
        return Ok(());
    }
    let rows = Rows {
        columns: [
            "can",
            "outcome",
            "members",
            "records",
            "frames",
            "text_bytes",
            "file_bytes",
            "sha1",
        ]
        .map(String::from)
        .to_vec(),
        rows: vec![vec![
            Value::from(s.path.display().to_string()),
            Value::from(outcome),
            Value::from(s.members),
            Value::from(s.records),
            Value::from(s.frames),
            Value::from(s.text_size),
            Value::from(s.file_size),
            Value::from(s.file_sha1.as_str()),
        ]],
    };
    crate::output::print_rows(&rows, ctx.format)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("262144"), Ok(262_144));
        assert_eq!(parse_size("256k"), Ok(262_144));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert!(parse_size("1g").is_err());
        assert!(parse_size("k").is_err());
    }
}
