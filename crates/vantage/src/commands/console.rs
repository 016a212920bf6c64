//! `vantage console [ADDR]`: the Time Machine command language over TCP (packets spec
//! §8). Lines from the terminal or stdin go to the recorder; its answers are printed up
//! to each status line. `FEED` chunks (raw pcap bytes) are summarized, not printed.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;

use vantage_core::Exit;
use vantage_packets::PacketsConfig;

use crate::context::{Coded, Context, OrExit};

/// `console` arguments.
#[derive(Debug, clap::Args)]
pub struct ConsoleArgs {
    /// host:port of the recorder's console (default: the running recorder of the data
    /// directory, else [packets.console] listen)
    pub addr: Option<String>,
    /// File holding the console token (sent as `auth` first)
    #[arg(long, value_name = "F")]
    pub token_file: Option<PathBuf>,
    /// Run one command and exit (0 on OK, 1 on ERROR)
    #[arg(short = 'c', value_name = "COMMAND")]
    pub command: Option<String>,
}

/// Reads one answer: data lines printed, FEED chunks summarized; returns the status line.
fn answer(rd: &mut BufReader<TcpStream>, out: &mut impl Write) -> anyhow::Result<String> {
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line)? == 0 {
            return Err(Coded::new(Exit::Storage, "the recorder closed the console connection"));
        }
        let line = line.trim_end_matches(['\n', '\r']).to_string();
        if line.starts_with("OK") || line.starts_with("ERROR") {
            return Ok(line);
        }
        if let Some(rest) = line.strip_prefix("FEED ") {
            let mut parts = rest.rsplitn(2, ' ');
            if let (Some(n), Some(tag)) = (parts.next(), parts.next()) {
                if let Ok(n) = n.parse::<u64>() {
                    std::io::copy(&mut rd.by_ref().take(n), &mut std::io::sink())?;
                    writeln!(out, "FEED {tag}: {n} bytes of pcap")?;
                    continue;
                }
            }
        }
        writeln!(out, "{line}")?;
    }
}

/// Runs the console.
pub fn run(ctx: &Context, a: &ConsoleArgs) -> anyhow::Result<()> {
    let cfg: PacketsConfig = ctx.config.section("packets").coded()?;
    let addr = match &a.addr {
        Some(x) => x.clone(),
        None => ctx
            .data_dir()
            .ok()
            .and_then(|d| vantage_packets::packets_root(&d, &cfg).ok())
            .and_then(|root| vantage_packets::Store::running_console(&root))
            .unwrap_or_else(|| cfg.console.listen.clone()),
    };
    let stream = TcpStream::connect(&addr).map_err(|e| {
        Coded::new(Exit::Storage, format!("console {addr}: {e}; is a recorder running (vantage packets record --interface IF)?"))
    })?;
    let mut wr = stream.try_clone()?;
    let mut rd = BufReader::new(stream);
    let mut greeting = String::new();
    rd.read_line(&mut greeting)?;
    let mut out = std::io::stdout().lock();
    let token_file = a.token_file.clone().or(cfg.console.token_file.clone());
    if let Some(p) = token_file {
        let t = std::fs::read_to_string(&p)
            .map_err(|e| Coded::new(Exit::Usage, format!("{}: {e}", p.display())))?;
        writeln!(wr, "auth {}", t.trim())?;
        let st = answer(&mut rd, &mut out)?;
        if !st.starts_with("OK") {
            return Err(Coded::new(Exit::Usage, format!("console {addr}: {st}")));
        }
    }
    if let Some(c) = &a.command {
        writeln!(wr, "{c}")?;
        let st = answer(&mut rd, &mut out)?;
        writeln!(out, "{st}")?;
        if st.starts_with("ERROR") {
            return Err(Coded::new(Exit::Usage, st));
        }
        return Ok(());
    }
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!("{} at {addr}; type help, quit to leave", greeting.trim());
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            eprint!("vantage> ");
        }
        let Some(line) = lines.next() else { break };
        let line = line?;
        writeln!(wr, "{line}")?;
        let st = answer(&mut rd, &mut out)?;
        writeln!(out, "{st}")?;
        out.flush()?;
        if st == "OK bye" {
            break;
        }
    }
    Ok(())
}
