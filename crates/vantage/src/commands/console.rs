//! `vantage console [ADDR]`: the Time Machine command language over TCP (packets spec
//! §8). On a terminal, lines are edited with history (cursor keys, Ctrl-R; kept in
//! `~/.vantage_console_history`); piped, stdin is read line by line. Answers are printed
//! up to each status line; `FEED` chunks (raw pcap bytes) are summarized, not printed.
//! `record --console` runs the same loop as its local console.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use rustyline::error::ReadlineError;
use vantage_core::Exit;
use vantage_packets::console::{Client, Data};
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

/// How long connecting and the greeting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to the console at `addr` and sends `auth` when a token is given.
pub fn connect(addr: &str, token: Option<&str>) -> anyhow::Result<Client> {
    let mut c = Client::connect(addr, Some(CONNECT_TIMEOUT)).map_err(|e| {
        Coded::new(
            Exit::Storage,
            format!(
                "console {addr}: {e}; is a recorder running (vantage packets record --interface IF)?"
            ),
        )
    })?;
    if let Some(t) = token {
        let refused =
            c.auth(t).map_err(|e| Coded::new(Exit::Storage, format!("console {addr}: {e}")))?;
        if let Err(st) = refused {
            return Err(Coded::new(Exit::Usage, format!("console {addr}: {st}")));
        }
    }
    Ok(c)
}

/// The token of `--token-file`, else of `[packets.console] token_file`.
pub fn token(file: Option<&PathBuf>, cfg: &PacketsConfig) -> anyhow::Result<Option<String>> {
    let Some(p) = file.or(cfg.console.token_file.as_ref()) else { return Ok(None) };
    let t = std::fs::read_to_string(p)
        .map_err(|e| Coded::new(Exit::Usage, format!("{}: {e}", p.display())))?;
    Ok(Some(t.trim().to_string()))
}

/// Sends one line and prints its answer (data lines, FEED summaries, the status line).
fn exchange(c: &mut Client, line: &str, out: &mut impl Write) -> anyhow::Result<String> {
    let st = c
        .command(line, |d| {
            match d {
                Data::Line(l) => writeln!(out, "{l}")?,
                Data::Feed { tag, bytes } => {
                    writeln!(out, "FEED {tag}: {} bytes of pcap", bytes.len())?
                }
                Data::FeedEnd { tag } => writeln!(out, "FEED {tag} END")?,
            }
            Ok(())
        })
        .map_err(|e| Coded::new(Exit::Storage, format!("console: {e}")))?;
    writeln!(out, "{st}")?;
    out.flush()?;
    Ok(st)
}

/// Lines typed at a terminal (edited, with history) or read from a pipe.
enum Input {
    Editor { ed: Box<rustyline::DefaultEditor>, history: Option<PathBuf> },
    Piped(std::io::Lines<std::io::StdinLock<'static>>),
}

impl Input {
    fn open() -> anyhow::Result<Input> {
        if !std::io::stdin().is_terminal() {
            return Ok(Input::Piped(std::io::stdin().lock().lines()));
        }
        let mut ed = rustyline::DefaultEditor::new()
            .map_err(|e| Coded::new(Exit::Usage, format!("terminal: {e}")))?;
        let history =
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".vantage_console_history"));
        if let Some(h) = &history {
            // A first run has no history yet: nothing to load is no error.
            let _ = ed.load_history(h);
        }
        Ok(Input::Editor { ed: Box::new(ed), history })
    }

    /// The next line; None at end of input (Ctrl-D).
    fn next(&mut self) -> anyhow::Result<Option<String>> {
        match self {
            Input::Piped(lines) => Ok(lines.next().transpose()?),
            Input::Editor { ed, .. } => loop {
                match ed.readline("vantage> ") {
                    Ok(l) => {
                        if !l.trim().is_empty() {
                            let _ = ed.add_history_entry(l.as_str());
                        }
                        return Ok(Some(l));
                    }
                    // Ctrl-C drops the line being typed, as in a shell.
                    Err(ReadlineError::Interrupted) => continue,
                    Err(ReadlineError::Eof) => return Ok(None),
                    Err(e) => return Err(Coded::new(Exit::Usage, format!("terminal: {e}"))),
                }
            },
        }
    }

    fn interactive(&self) -> bool {
        matches!(self, Input::Editor { .. })
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        if let Input::Editor { ed, history: Some(h) } = self {
            let _ = ed.save_history(h);
        }
    }
}

/// Reads lines until `quit` or the end of input, each sent to `c` and answered.
pub fn session(c: &mut Client, addr: &str, leave: &str) -> anyhow::Result<()> {
    let mut input = Input::open()?;
    if input.interactive() {
        eprintln!("{} at {addr}; type help; {leave}", c.greeting());
    }
    let mut out = std::io::stdout().lock();
    while let Some(line) = input.next()? {
        if line.trim().is_empty() && input.interactive() {
            continue;
        }
        let st = exchange(c, &line, &mut out)?;
        if st == "OK bye" {
            break;
        }
    }
    Ok(())
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
    let token = token(a.token_file.as_ref(), &cfg)?;
    let mut c = connect(&addr, token.as_deref())?;
    if let Some(cmd) = &a.command {
        let st = exchange(&mut c, cmd, &mut std::io::stdout().lock())?;
        if st.starts_with("ERROR") {
            return Err(Coded::new(Exit::Usage, st));
        }
        return Ok(());
    }
    session(&mut c, &addr, "quit or Ctrl-D leaves")
}

/// True when stdin is a terminal and this process is in its foreground: a local console
/// reading the terminal from the background would stop the recorder (SIGTTIN).
pub fn foreground_terminal() -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    // SAFETY: both calls only read process state; fd 0 is stdin.
    unsafe { libc::tcgetpgrp(0) == libc::getpgrp() }
}

/// The terminal's settings, put back when dropped: the local console of `record
/// --console` may still be inside a line edit (raw mode) when a signal ends recording.
pub struct TerminalRestore(Option<libc::termios>);

impl TerminalRestore {
    /// Saves stdin's terminal settings (nothing when stdin is not a terminal).
    pub fn save() -> TerminalRestore {
        if !std::io::stdin().is_terminal() {
            return TerminalRestore(None);
        }
        // SAFETY: tcgetattr writes into the zeroed struct we own; fd 0 is stdin.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            TerminalRestore((libc::tcgetattr(0, &mut t) == 0).then_some(t))
        }
    }
}

impl Drop for TerminalRestore {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            // SAFETY: restores settings read from the same descriptor.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, t);
            }
        }
    }
}
