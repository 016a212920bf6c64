//! The remote console: a TCP line server, a thread per client.
//!
//! Lines are read with a hard bound ([`MAX_LINE`]): an over-long line is answered with
//! `ERROR LINE TOO LONG` and the rest of it is skipped up to its LF, so a client can
//! neither grow our buffers nor desynchronize the protocol. A bind off loopback without
//! a token is refused at startup (spec §8).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::exec::{Live, Next, Session, SharedOut};
use super::parse::{ConsoleError, MAX_LINE};

/// One bounded line read.
#[derive(Debug, PartialEq, Eq)]
pub enum LineRead {
    /// A whole line, LF removed.
    Line(String),
    /// A line over the limit; the rest of it was consumed.
    TooLong,
    /// A line that is not UTF-8.
    NotUtf8,
    /// End of input.
    Eof,
}

/// Reads one LF-terminated line of at most `max` bytes (a final line without LF counts).
pub fn read_line_bounded<R: BufRead>(r: &mut R, max: usize) -> std::io::Result<LineRead> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            if line.is_empty() && !too_long {
                return Ok(LineRead::Eof);
            }
            break;
        }
        let (chunk, found) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i)),
            None => (buf, None),
        };
        if !too_long {
            if line.len() + chunk.len() > max + 1 {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let used = found.map_or(buf.len(), |i| i + 1);
        r.consume(used);
        if found.is_some() {
            break;
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    if too_long || line.len() > max {
        return Ok(LineRead::TooLong);
    }
    Ok(String::from_utf8(line).map_or(LineRead::NotUtf8, LineRead::Line))
}

/// A running console server.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerHandle {
    /// The bound address (port 0 resolved).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting clients; sessions already open end with their clients.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts the console on `listen`. Off loopback, `live` must have a token (else an
/// error naming the address: spec §8 refuses to start).
pub fn serve(
    live: Arc<Live>,
    listen: &str,
    max_clients: usize,
    idle_timeout: Duration,
) -> Result<ServerHandle, String> {
    let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(listen)
        .map_err(|e| format!("console listen {listen:?}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("console listen {listen:?}: no address"));
    }
    if addrs.iter().any(|a| !a.ip().is_loopback()) && !live.needs_auth() {
        return Err(format!(
            "console listen {listen}: not a loopback address; set [packets.console] token_file (a token is required off loopback)"
        ));
    }
    let listener =
        TcpListener::bind(&addrs[..]).map_err(|e| format!("console listen {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("console listen {listen}: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let clients = Arc::new(AtomicUsize::new(0));
    let thread = std::thread::Builder::new()
        .name("console".into())
        .spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = conn else { continue };
                if clients.fetch_add(1, Ordering::SeqCst) >= max_clients {
                    clients.fetch_sub(1, Ordering::SeqCst);
                    let mut s = stream;
                    let _ = writeln!(s, "{}\n{}", Session::greeting(), ConsoleError::Busy);
                    continue;
                }
                let live = Arc::clone(&live);
                let clients = Arc::clone(&clients);
                let spawned = std::thread::Builder::new().name("console-client".into()).spawn({
                    let clients = Arc::clone(&clients);
                    move || {
                        client(live, stream, idle_timeout);
                        clients.fetch_sub(1, Ordering::SeqCst);
                    }
                });
                if spawned.is_err() {
                    clients.fetch_sub(1, Ordering::SeqCst);
                }
            }
        })
        .map_err(|e| format!("console thread: {e}"))?;
    Ok(ServerHandle { addr, stop, thread: Some(thread) })
}

fn client(live: Arc<Live>, stream: TcpStream, idle: Duration) {
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
    let span = tracing::info_span!("console", kind = "packets", peer = %peer);
    let _e = span.enter();
    tracing::debug!("Console client connected.");
    let _ = stream.set_read_timeout(Some(idle));
    // A client that stops reading must not stall the recorder feeding it.
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_nodelay(true);
    let Ok(write_half) = stream.try_clone() else { return };
    let out: SharedOut = Arc::new(Mutex::new(Box::new(write_half)));
    {
        let mut o = out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(o, "{}", Session::greeting());
    }
    let mut session = live.session(Arc::clone(&out));
    let mut rd = BufReader::with_capacity(8192, (&stream).take(u64::MAX));
    loop {
        match read_line_bounded(&mut rd, MAX_LINE) {
            Ok(LineRead::Line(l)) => {
                if session.handle(&l) == Next::Close {
                    break;
                }
            }
            Ok(LineRead::TooLong) => session.line_too_long(),
            Ok(LineRead::NotUtf8) => {
                session.write_status(&ConsoleError::Parser("the line is not UTF-8".into()));
            }
            Ok(LineRead::Eof) => break,
            Err(e) => {
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
                {
                    session.write_status(&ConsoleError::Timeout);
                }
                break;
            }
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    tracing::debug!("Console client gone.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_lines() {
        let long = "x".repeat(MAX_LINE + 10);
        let input = format!("a\r\nb\n{long}\nc\n{}\nlast", "y".repeat(MAX_LINE));
        let mut r = BufReader::with_capacity(64, input.as_bytes());
        let mut got = Vec::new();
        loop {
            match read_line_bounded(&mut r, MAX_LINE).unwrap() {
                LineRead::Eof => break,
                other => got.push(other),
            }
        }
        assert_eq!(
            got,
            vec![
                LineRead::Line("a".into()),
                LineRead::Line("b".into()),
                LineRead::TooLong,
                LineRead::Line("c".into()),
                LineRead::Line("y".repeat(MAX_LINE)),
                LineRead::Line("last".into()),
            ]
        );
        let mut r = BufReader::new(&b"\xff\xfe\n"[..]);
        assert_eq!(read_line_bounded(&mut r, MAX_LINE).unwrap(), LineRead::NotUtf8);
    }
}
