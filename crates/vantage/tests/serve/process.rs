//! `vantage serve` as a child process: started from a command, its addresses read from
//! the lines it prints, stopped with SIGTERM; and `vantage sql` to read the warehouse.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `vantage` with none of the environment's configuration.
pub fn vantage() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vantage"));
    c.env_remove("VANTAGE_SERVER_TOKEN")
        .env_remove("VANTAGE_CONFIG")
        .env_remove("VANTAGE_WAREHOUSE")
        .env_remove("VANTAGE_DATA");
    c
}

/// Runs a `vantage` command to success; its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run vantage");
    assert!(
        out.status.success(),
        "{cmd:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// How a command finds the warehouse to read: a configuration file (`--config`, which
/// names the data directory and the warehouse URL) or a data directory (`--data`).
pub fn at(wh: &Path) -> [std::ffi::OsString; 2] {
    let flag = if wh.is_file() { "--config" } else { "--data" };
    [flag.into(), wh.as_os_str().to_owned()]
}

/// `vantage --data|--config WH --format json sql QUERY`: the rows as JSON objects.
pub fn sql(wh: &Path, query: &str) -> Vec<serde_json::Value> {
    let out = run_ok(vantage().args(at(wh)).args(["--format", "json", "sql", query]));
    match serde_json::from_str::<serde_json::Value>(&out) {
        Ok(serde_json::Value::Array(rows)) => rows,
        other => panic!("{query}: not a JSON array: {other:?}\n{out}"),
    }
}

/// [`sql`], or `None` when the query fails (a table not made yet).
pub fn try_sql(wh: &Path, query: &str) -> Option<Vec<serde_json::Value>> {
    let out = vantage().args(at(wh)).args(["--format", "json", "sql", query]).output().ok()?;
    match serde_json::from_slice::<serde_json::Value>(&out.stdout) {
        Ok(serde_json::Value::Array(rows)) if out.status.success() => Some(rows),
        _ => None,
    }
}

/// The one integer a query answers (0 for NULL).
pub fn scalar(wh: &Path, query: &str) -> i64 {
    let rows = sql(wh, query);
    let row = rows.first().and_then(|r| r.as_object()).unwrap_or_else(|| panic!("{query}: no row"));
    let v = row.values().next().unwrap_or_else(|| panic!("{query}: no column"));
    v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap_or(0)
}

/// A running `vantage serve`.
pub struct Serve {
    child: Option<Child>,
    /// The HTTP address it printed.
    pub addr: SocketAddr,
    /// The packet console's address, when it printed one.
    pub console: Option<SocketAddr>,
    drain: Option<std::thread::JoinHandle<String>>,
}

impl Serve {
    /// Spawns `cmd` (a `serve` command line) and waits for its listening line.
    pub fn start(mut cmd: Command) -> Serve {
        let mut child = cmd.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().expect("spawn");
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let (mut addr, mut console, mut seen) = (None, None, String::new());
        let addr_after = |line: &str, mark: &str| {
            line.split(mark)
                .nth(1)
                .and_then(|r| r.trim().trim_end_matches('/').parse::<SocketAddr>().ok())
        };
        while addr.is_none() {
            let mut line = String::new();
            if err.read_line(&mut line).unwrap_or(0) == 0 {
                let _ = child.kill();
                let _ = child.wait();
                panic!("serve ended before listening:\n{seen}");
            }
            console = console.or(addr_after(&line, "packet console on "));
            addr = addr_after(&line, "listening on http://");
            seen.push_str(&line);
        }
        // Keep reading stderr so that the server never blocks on a full pipe.
        let drain = std::thread::spawn(move || {
            let mut rest = seen;
            let _ = err.read_to_string(&mut rest);
            rest
        });
        Serve { child: Some(child), addr: addr.unwrap(), console, drain: Some(drain) }
    }

    /// SIGTERM, then waits (at most 60 s) for the exit; exit code and everything it printed.
    pub fn term(mut self) -> (Option<i32>, String) {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let t = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if t.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                panic!("serve did not stop within 60 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let text = self.drain.take().map(|d| d.join().unwrap_or_default()).unwrap_or_default();
        (status.code(), text)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // A failed test must not leave a server behind.
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
