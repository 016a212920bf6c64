//! `vantage serve` as a process: it listens on the loopback port it prints, answers,
//! refuses a non-loopback bind without a token (exit 1), and stops on SIGTERM with exit 0;
//! the acceptance tour of every endpoint against the warehouse (`serve/tour.rs`), and
//! SIGTERM during a tick then a restart (`serve/restart.rs`).

#[allow(dead_code)]
#[path = "../../server/tests/cases/http.rs"]
mod http;
#[path = "serve/netns.rs"]
mod netns;
#[path = "serve/process.rs"]
mod process;
#[path = "serve/restart.rs"]
mod restart;
#[path = "serve/tour.rs"]
mod tour;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

fn vantage() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vantage"));
    c.env_remove("VANTAGE_SERVER_TOKEN")
        .env_remove("VANTAGE_CONFIG")
        .env_remove("VANTAGE_WAREHOUSE");
    c
}

fn get(addr: SocketAddr, path: &str, extra: &str) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "{path}\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n{extra}\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serve_listens_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = vantage()
        .args([
            "--data",
            dir.path().to_str().unwrap(),
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--tick-seconds",
            "1",
        ])
        .env("VANTAGE_SERVER_TOKEN", "cli-token")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let mut addr = None;
    for _ in 0..50 {
        line.clear();
        if err.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(rest) = line.split("listening on http://").nth(1) {
            addr = rest.trim().trim_end_matches('/').parse::<SocketAddr>().ok();
            break;
        }
    }
    let addr = addr.unwrap_or_else(|| panic!("no listening line; last: {line}"));
    // Keep draining stderr so that the server never blocks on a full pipe.
    let drain = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = err.read_to_string(&mut rest);
        rest
    });
    let health = get(addr, "GET /healthz HTTP/1.1", "");
    assert!(health.starts_with("HTTP/1.1 200") && health.contains("\"ok\""), "{health}");
    let denied = get(addr, "POST /api/v1/netstate/upload?source=s&name=x HTTP/1.1", "");
    assert!(denied.starts_with("HTTP/1.1 401") && denied.contains("\"unauthorized\""), "{denied}");
    let ok = get(addr, "GET /api/v1/status HTTP/1.1", "");
    assert!(ok.contains("\"kinds\""), "{ok}");

    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "stderr: {}", drain.join().unwrap());
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn non_loopback_bind_without_token_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = vantage()
        .args(["--data", dir.path().to_str().unwrap(), "serve", "--bind", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a token"), "{err}");
}

#[test]
fn help_has_an_example() {
    let out = vantage().args(["serve", "--help"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Example") && text.contains("vantage") && text.contains("--bind"),
        "{text}"
    );
}

#[test]
fn a_recorder_that_cannot_capture_stops_serve_at_start_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = vantage()
        .arg("--data")
        .arg(dir.path())
        .args(["--set", "packets.interface=nosuch0", "serve", "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("packet recorder") && err.contains("nosuch0"), "{err}");
    assert!(!err.contains("listening on"), "served without its recorder: {err}");
}
