//! The console seen from the client's end: connect, check the greeting, `auth`, send a
//! command and read its answer up to the status line, `FEED` chunks taken as bytes.
//!
//! `vantage console` and `vantage packets query` (through a running recorder) both speak
//! through it, so the protocol is read in one place.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The largest `FEED` chunk taken (the recorder sends at most 1 MiB): a peer announcing
/// more is not a Vantage recorder, and no buffer grows to its figure.
pub const MAX_FEED_CHUNK: u64 = 64 << 20;

/// One piece of an answer before its status line.
#[derive(Debug, PartialEq, Eq)]
pub enum Data<'a> {
    /// A data line (LF removed).
    Line(&'a str),
    /// A `FEED <tag> <n>` chunk's bytes.
    Feed {
        /// The query's tag.
        tag: &'a str,
        /// The raw bytes (the first chunk starts with the pcap header).
        bytes: &'a [u8],
    },
    /// `FEED <tag> END`: a subscription ended.
    FeedEnd {
        /// The query's tag.
        tag: &'a str,
    },
}

/// A connection to a recorder's console.
pub struct Client {
    rd: BufReader<TcpStream>,
    wr: TcpStream,
    greeting: String,
}

fn proto_error(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

/// True for a status line (`OK[ ...]` or `ERROR ...`), which ends every answer.
pub fn is_status(line: &str) -> bool {
    line == "OK" || line.starts_with("OK ") || line.starts_with("ERROR ")
}

impl Client {
    /// Connects to `addr` (host:port) and reads the greeting; `timeout` bounds the
    /// connect and the greeting. Answers are then awaited as long as the recorder takes
    /// (its `query_timeout` bounds a query): see [`Client::set_read_timeout`].
    pub fn connect(addr: &str, timeout: Option<Duration>) -> std::io::Result<Client> {
        let mut last = None;
        let mut stream = None;
        for a in addr.to_socket_addrs()? {
            let r = match timeout {
                Some(t) => TcpStream::connect_timeout(&a, t),
                None => TcpStream::connect(a),
            };
            match r {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let stream = stream.ok_or_else(|| {
            last.unwrap_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no address".to_string())
            })
        })?;
        stream.set_read_timeout(timeout)?;
        let _ = stream.set_nodelay(true);
        let wr = stream.try_clone()?;
        let mut rd = BufReader::new(stream);
        let mut greeting = String::new();
        rd.read_line(&mut greeting)?;
        let greeting = greeting.trim_end().to_string();
        if !greeting.starts_with("# vantage-packets ") {
            return Err(proto_error(format!(
                "{addr} is not a Vantage packets console (it said {greeting:?})"
            )));
        }
        rd.get_ref().set_read_timeout(None)?;
        Ok(Client { rd, wr, greeting })
    }

    /// Bounds each read of an answer (None: no bound).
    pub fn set_read_timeout(&self, t: Option<Duration>) -> std::io::Result<()> {
        self.rd.get_ref().set_read_timeout(t)
    }

    /// The recorder's greeting (`# vantage-packets <version>`).
    pub fn greeting(&self) -> &str {
        &self.greeting
    }

    /// Sends `auth <token>`; the status line on refusal.
    pub fn auth(&mut self, token: &str) -> std::io::Result<Result<(), String>> {
        let st = self.command(&format!("auth {}", token.trim()), |_| Ok(()))?;
        Ok(if st.starts_with("OK") { Ok(()) } else { Err(st) })
    }

    /// Sends one command line and reads its answer: each data line and `FEED` chunk
    /// goes to `each`; returns the status line.
    pub fn command(
        &mut self,
        line: &str,
        each: impl FnMut(Data<'_>) -> std::io::Result<()>,
    ) -> std::io::Result<String> {
        if line.contains('\n') {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a console command is one line",
            ));
        }
        self.wr.write_all(line.as_bytes())?;
        self.wr.write_all(b"\n")?;
        self.wr.flush()?;
        self.answer(each)
    }

    /// Reads one answer (after a command was sent): see [`Client::command`].
    pub fn answer(
        &mut self,
        mut each: impl FnMut(Data<'_>) -> std::io::Result<()>,
    ) -> std::io::Result<String> {
        let mut buf = Vec::new();
        loop {
            let mut line = String::new();
            if self.rd.read_line(&mut line)? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the recorder closed the console connection",
                ));
            }
            let line = line.trim_end_matches(['\n', '\r']);
            if is_status(line) {
                return Ok(line.to_string());
            }
            if let Some(rest) = line.strip_prefix("FEED ") {
                let (tag, n) = rest.rsplit_once(' ').unwrap_or((rest, ""));
                if n == "END" {
                    each(Data::FeedEnd { tag })?;
                    continue;
                }
                let n: u64 =
                    n.parse().map_err(|_| proto_error(format!("bad FEED line {line:?}")))?;
                if n > MAX_FEED_CHUNK {
                    return Err(proto_error(format!("FEED chunk of {n} bytes refused")));
                }
                buf.clear();
                (&mut self.rd).take(n).read_to_end(&mut buf)?;
                if buf.len() as u64 != n {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("FEED chunk cut at {} of {n} bytes", buf.len()),
                    ));
                }
                each(Data::Feed { tag, bytes: &buf })?;
                continue;
            }
            each(Data::Line(line))?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert!(is_status("OK"));
        assert!(is_status("OK bye"));
        assert!(is_status("ERROR BUSY"));
        assert!(!is_status("OKAY"));
        assert!(!is_status("conn tcp 1.2.3.4:1 5.6.7.8:2 class x"));
    }
}
