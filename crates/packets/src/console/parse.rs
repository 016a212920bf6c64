//! The console language (spec §8): tokens, commands, and the error lines.
//!
//! A line is parsed whole before anything acts (TM applied `set_dyn_class` before parsing
//! the rest of its line): [`parse_line`] returns a [`Command`] with every field typed and
//! checked, or a [`ConsoleError`] whose [`Display`](std::fmt::Display) is the status line.

use std::fmt;

use crate::filter::Filter;
use crate::key::{parse_key, ConnKey, IndexKind, Key};

/// The line-length limit, LF excluded.
pub const MAX_LINE: usize = 4096;

/// A console error; `Display` gives the whole status line (`ERROR <CODE>[ - <detail>]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleError {
    /// A line that does not parse: what, and the column (1-based).
    Parser(String),
    /// An index name that is not one of conn4/conn3/conn2/ip/port.
    NoSuchIndex(String),
    /// `show conn` or a suspend command on a connection not in the table.
    NotInConnectionTable,
    /// `query` without `to_file` or `feed`.
    QueryResultDestinationUndefined,
    /// `query ... index KIND` without a key (or `filter` without an expression).
    QueryKeyUndefined,
    /// A class name not configured.
    NoSuchClass(String),
    /// A `to_file` name outside `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`.
    BadFileName,
    /// A `to_file` name that exists in `query_dir`.
    FileExists,
    /// `subscribe` on another index than conn4.
    SubscriptionNeedsConn4,
    /// `max_subscriptions` reached.
    TooManySubscriptions,
    /// `max_queries` or `max_clients` reached.
    Busy,
    /// `mem_only` without a recorder (no ring to read).
    MemOnlyUnavailable,
    /// A command before `auth` on a console with a token.
    AuthRequired,
    /// A wrong token.
    AuthFailed,
    /// A line over [`MAX_LINE`] bytes.
    LineTooLong,
    /// `query_timeout` reached.
    Timeout,
    /// Anything else (I/O on the query directory, ...), with its detail.
    Internal(String),
}

impl ConsoleError {
    /// The code as the status line spells it.
    pub fn code(&self) -> &'static str {
        match self {
            ConsoleError::Parser(_) => "PARSER ERROR",
            ConsoleError::NoSuchIndex(_) => "NO SUCH INDEX",
            ConsoleError::NotInConnectionTable => "NOT IN CONNECTION TABLE",
            ConsoleError::QueryResultDestinationUndefined => "QUERY RESULT DESTINATION UNDEFINED",
            ConsoleError::QueryKeyUndefined => "QUERY KEY UNDEFINED",
            ConsoleError::NoSuchClass(_) => "NO SUCH CLASS",
            ConsoleError::BadFileName => "BAD FILE NAME",
            ConsoleError::FileExists => "FILE EXISTS",
            ConsoleError::SubscriptionNeedsConn4 => "SUBSCRIPTION NEEDS CONN4",
            ConsoleError::TooManySubscriptions => "TOO MANY SUBSCRIPTIONS",
            ConsoleError::Busy => "BUSY",
            ConsoleError::MemOnlyUnavailable => "MEM_ONLY UNAVAILABLE",
            ConsoleError::AuthRequired => "AUTH REQUIRED",
            ConsoleError::AuthFailed => "AUTH FAILED",
            ConsoleError::LineTooLong => "LINE TOO LONG",
            ConsoleError::Timeout => "TIMEOUT",
            ConsoleError::Internal(_) => "INTERNAL",
        }
    }

    /// The snake_case code (HTTP API errors, metrics labels).
    pub fn snake(&self) -> String {
        self.code().to_ascii_lowercase().replace(' ', "_")
    }

    fn detail(&self) -> Option<&str> {
        match self {
            ConsoleError::Parser(d)
            | ConsoleError::NoSuchIndex(d)
            | ConsoleError::NoSuchClass(d)
            | ConsoleError::Internal(d) => Some(d),
            _ => None,
        }
    }
}

impl fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.detail() {
            Some(d) if !d.is_empty() => write!(f, "ERROR {} - {d}", self.code()),
            _ => write!(f, "ERROR {}", self.code()),
        }
    }
}

impl std::error::Error for ConsoleError {}

/// Where a query's result goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dest {
    /// A file created exclusively in `query_dir`.
    ToFile(String),
    /// Back on this console as `FEED <tag> <n>` chunks; `id` is kept for TM compatibility.
    Feed {
        /// TM's id (unused).
        id: String,
        /// The tag of every chunk.
        tag: String,
    },
}

/// What a query selects.
#[derive(Debug, Clone)]
pub enum Spec {
    /// An index kind and its binary key.
    Index {
        /// The kind.
        kind: IndexKind,
        /// The key.
        key: Key,
    },
    /// A filter expression.
    Filter(Filter),
}

/// `orig` / `resp` of `set_dyn_class`: which end the address must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The address is the originator.
    Orig,
    /// The address is the responder.
    Resp,
}

/// One parsed command, every field checked.
#[derive(Debug, Clone)]
pub enum Command {
    /// `query to_file|feed ...`.
    Query {
        /// Destination.
        dest: Dest,
        /// Selection.
        spec: Spec,
        /// Inclusive start (ns).
        start: Option<i64>,
        /// Inclusive end (ns).
        end: Option<i64>,
        /// Memory only.
        mem_only: bool,
        /// Keep delivering the connection's later packets.
        subscribe: bool,
    },
    /// `show stats`.
    ShowStats,
    /// `show conn "<conn4 key>"`.
    ShowConn(ConnKey),
    /// `show conn sample [N]`.
    ShowConnSample(usize),
    /// `show classes`.
    ShowClasses,
    /// `show indexes`.
    ShowIndexes,
    /// `suspend_cutoff "<conn4 key>"` and its three siblings.
    Suspend {
        /// Which flag.
        what: Suspend,
        /// Set (true) or clear.
        on: bool,
        /// The connection.
        key: ConnKey,
    },
    /// `set_dyn_class <addr> <class> [orig|resp]`.
    SetDynClass {
        /// The address (IPv4 as `::ffff:a.b.c.d`).
        addr: [u8; 16],
        /// The class name.
        class: String,
        /// Which end the address must be; `None`: either.
        end: Option<End>,
    },
    /// `unset_dyn_class <addr>`.
    UnsetDynClass([u8; 16]),
    /// `help [<command>]`.
    Help(Option<String>),
    /// `auth <token>`.
    Auth(String),
    /// `nop`, an empty line or a comment.
    Nop,
    /// `quit`.
    Quit,
}

/// `suspend_cutoff` / `suspend_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suspend {
    /// Keep every packet.
    Cutoff,
    /// Never time out.
    Timeout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Tok {
    text: String,
    quoted: bool,
    col: usize,
}

fn perr(what: impl fmt::Display, col: usize) -> ConsoleError {
    ConsoleError::Parser(format!("{what}, column {col}"))
}

/// Splits a line into tokens: words (integers and decimals are words), `"strings"`
/// without escapes; `#` outside a string starts a comment.
fn tokenize(line: &str) -> Result<Vec<Tok>, ConsoleError> {
    let mut out = Vec::new();
    let mut it = line.char_indices().peekable();
    while let Some(&(i, c)) = it.peek() {
        let col = line[..i].chars().count() + 1;
        if c.is_whitespace() {
            it.next();
        } else if c == '#' {
            break;
        } else if c == '"' {
            it.next();
            let mut text = String::new();
            let mut closed = false;
            for (_, c) in it.by_ref() {
                if c == '"' {
                    closed = true;
                    break;
                }
                text.push(c);
            }
            if !closed {
                return Err(perr("unterminated string", col));
            }
            out.push(Tok { text, quoted: true, col });
        } else {
            let mut text = String::new();
            while let Some(&(_, c)) = it.peek() {
                if c.is_whitespace() || c == '"' || c == '#' {
                    break;
                }
                text.push(c);
                it.next();
            }
            out.push(Tok { text, quoted: false, col });
        }
    }
    Ok(out)
}

struct Cursor {
    toks: Vec<Tok>,
    pos: usize,
    end_col: usize,
}

impl Cursor {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn col(&self) -> usize {
        self.peek().map_or(self.end_col, |t| t.col)
    }
    fn keyword(&self) -> Option<String> {
        self.peek().filter(|t| !t.quoted).map(|t| t.text.to_ascii_lowercase())
    }
    fn want(&mut self, what: &str) -> Result<Tok, ConsoleError> {
        let col = self.col();
        self.next().ok_or_else(|| perr(format!("expected {what} at end of line"), col))
    }
    fn done(&self) -> Result<(), ConsoleError> {
        match self.peek() {
            None => Ok(()),
            Some(t) => Err(perr(format!("unexpected {:?}", t.text), t.col)),
        }
    }
}

/// Parses one console line (without its LF; a trailing CR is accepted).
pub fn parse_line(line: &str) -> Result<Command, ConsoleError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.len() > MAX_LINE {
        return Err(ConsoleError::LineTooLong);
    }
    let end_col = line.chars().count() + 1;
    let mut c = Cursor { toks: tokenize(line)?, pos: 0, end_col };
    let Some(first) = c.next() else { return Ok(Command::Nop) };
    if first.quoted {
        return Err(perr("expected a command, not a string", first.col));
    }
    let cmd = match first.text.to_ascii_lowercase().as_str() {
        "query" => parse_query(&mut c)?,
        "show" | "sh" => parse_show(&mut c)?,
        w @ ("suspend_cutoff" | "unsuspend_cutoff" | "suspend_timeout" | "unsuspend_timeout") => {
            let what = if w.ends_with("cutoff") { Suspend::Cutoff } else { Suspend::Timeout };
            let key = conn_key(&mut c)?;
            Command::Suspend { what, on: !w.starts_with("un"), key }
        }
        "set_dyn_class" | "set_class" => {
            let addr = address(&mut c)?;
            let t = c.want("a class name")?;
            let end = match c.keyword().as_deref() {
                Some("orig") => Some(End::Orig),
                Some("resp") => Some(End::Resp),
                _ => None,
            };
            if end.is_some() {
                c.next();
            }
            Command::SetDynClass { addr, class: t.text, end }
        }
        "unset_dyn_class" | "unset_class" => Command::UnsetDynClass(address(&mut c)?),
        "help" => Command::Help(c.next().map(|t| t.text.to_ascii_lowercase())),
        "auth" => Command::Auth(c.want("a token")?.text),
        "nop" => Command::Nop,
        "quit" | "exit" => Command::Quit,
        other => {
            return Err(perr(format!("unknown command {other:?}; type help"), first.col));
        }
    };
    c.done()?;
    Ok(cmd)
}

fn parse_time(c: &mut Cursor, what: &str) -> Result<i64, ConsoleError> {
    let col = c.col();
    let t = c.want(what)?;
    vantage_core::Timestamp::parse(&t.text)
        .map(|ts| ts.nanos())
        .map_err(|e| perr(format!("bad time {:?}: {e}", t.text), col))
}

fn parse_query(c: &mut Cursor) -> Result<Command, ConsoleError> {
    let dest = match c.keyword().as_deref() {
        Some("to_file") => {
            c.next();
            let col = c.col();
            let t = c.want("a file name")?;
            if !valid_file_name(&t.text) {
                return Err(ConsoleError::BadFileName);
            }
            let _ = col;
            Dest::ToFile(t.text)
        }
        Some("feed") => {
            c.next();
            let id = c.want("a query id")?.text;
            match c.keyword().as_deref() {
                Some("tag") => {
                    c.next();
                }
                _ => return Err(perr("expected tag", c.col())),
            }
            let tag = c.want("a tag")?.text;
            if tag.is_empty() || tag.chars().any(char::is_whitespace) {
                return Err(perr("a tag is one word", c.col()));
            }
            Dest::Feed { id, tag }
        }
        _ => return Err(ConsoleError::QueryResultDestinationUndefined),
    };
    let spec = match c.keyword().as_deref() {
        Some("index") => {
            c.next();
            let kt = c.next().ok_or(ConsoleError::QueryKeyUndefined)?;
            let kind = IndexKind::parse(&kt.text)
                .filter(|k| *k != IndexKind::L2)
                .ok_or_else(|| ConsoleError::NoSuchIndex(kt.text.clone()))?;
            let col = c.col();
            let key = match c.peek() {
                Some(t) if t.quoted || !is_query_keyword(&t.text) => c.next(),
                _ => None,
            }
            .ok_or(ConsoleError::QueryKeyUndefined)?;
            let key = parse_key(kind, &key.text).map_err(|e| perr(e, col))?;
            Spec::Index { kind, key }
        }
        Some("filter") => {
            c.next();
            let col = c.col();
            let t = c.next().filter(|t| t.quoted).ok_or(ConsoleError::QueryKeyUndefined)?;
            let f = Filter::parse(&t.text).map_err(|e| perr(format!("filter: {e}"), col))?;
            Spec::Filter(f)
        }
        _ => return Err(ConsoleError::QueryKeyUndefined),
    };
    let (mut start, mut end, mut mem_only, mut subscribe) = (None, None, false, false);
    while let Some(k) = c.keyword() {
        let col = c.col();
        c.next();
        match k.as_str() {
            "start" if start.is_none() => start = Some(parse_time(c, "a start time")?),
            "end" if end.is_none() => end = Some(parse_time(c, "an end time")?),
            "mem_only" if !mem_only => mem_only = true,
            "subscribe" if !subscribe => subscribe = true,
            _ => return Err(perr(format!("unexpected {k:?}"), col)),
        }
    }
    if let (Some(s), Some(e)) = (start, end) {
        if s > e {
            return Err(perr("start is after end", c.end_col));
        }
    }
    if subscribe && !matches!(spec, Spec::Index { kind: IndexKind::Conn4, .. }) {
        return Err(ConsoleError::SubscriptionNeedsConn4);
    }
    Ok(Command::Query { dest, spec, start, end, mem_only, subscribe })
}

fn is_query_keyword(w: &str) -> bool {
    matches!(w.to_ascii_lowercase().as_str(), "start" | "end" | "mem_only" | "subscribe")
}

fn parse_show(c: &mut Cursor) -> Result<Command, ConsoleError> {
    let col = c.col();
    match c.keyword().as_deref() {
        Some("stats") => {
            c.next();
            Ok(Command::ShowStats)
        }
        Some("classes") => {
            c.next();
            Ok(Command::ShowClasses)
        }
        Some("indexes") => {
            c.next();
            Ok(Command::ShowIndexes)
        }
        Some("conn") => {
            c.next();
            if c.keyword().as_deref() == Some("sample") {
                c.next();
                let n = match c.peek() {
                    None => 10,
                    Some(t) => {
                        let col = t.col;
                        let n = c.next().map(|t| t.text).unwrap_or_default();
                        n.parse::<usize>()
                            .ok()
                            .filter(|n| *n > 0 && *n <= 10_000)
                            .ok_or_else(|| perr(format!("bad count {n:?} (1-10000)"), col))?
                    }
                };
                return Ok(Command::ShowConnSample(n));
            }
            Ok(Command::ShowConn(conn_key(c)?))
        }
        _ => Err(perr("expected stats, conn, classes or indexes after show", col)),
    }
}

fn conn_key(c: &mut Cursor) -> Result<ConnKey, ConsoleError> {
    let col = c.col();
    let t = c.want("a conn4 key such as \"tcp 1.2.3.4:80 5.6.7.8:1025\"")?;
    let key = parse_key(IndexKind::Conn4, &t.text).map_err(|e| perr(e, col))?;
    ConnKey::from_conn4(key.as_bytes()).ok_or_else(|| perr("bad conn4 key", col))
}

fn address(c: &mut Cursor) -> Result<[u8; 16], ConsoleError> {
    let col = c.col();
    let t = c.want("an IPv4 or IPv6 address")?;
    let text = t.text.trim_start_matches('[').trim_end_matches(']');
    match text.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => Ok(a.to_ipv6_mapped().octets()),
        Ok(std::net::IpAddr::V6(a)) => Ok(a.octets()),
        Err(_) => Err(perr(format!("bad address {:?}", t.text), col)),
    }
}

/// `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`: no path, no hidden file, no `..`.
pub fn valid_file_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// One line per command: (name, synopsis, grammar and example).
pub const HELP: &[(&str, &str, &str)] = &[
    (
        "query",
        "query to_file \"<name>\" | feed <id> tag <tag>  index <kind> \"<key>\" | filter \"<expr>\"  [start T] [end T] [mem_only] [subscribe]",
        "Writes every stored packet (memory and disk) matching an index key or a filter, in time order, \
as pcap. to_file creates <name> in the query directory (names [A-Za-z0-9][A-Za-z0-9._-]*, never \
an existing file); feed sends it back here as FEED <tag> <n> lines each followed by n bytes. \
Kinds: conn4 (connection4), conn3, conn2, ip, port. T: epoch seconds, RFC 3339 or \"YYYY-MM-DD hh:mm:ss\" (UTC). \
mem_only reads only the memory ring; subscribe (conn4 only) keeps appending the connection's later packets \
until it leaves the table.\n\
example: query to_file \"web.pcap\" index conn4 \"tcp 10.0.0.1:80 10.0.0.2:1025\" start 1700000000 subscribe",
    ),
    (
        "show",
        "show stats | show conn \"<conn4 key>\" | show conn sample [N] | show classes | show indexes",
        "stats: the recorder's counters as name value lines; conn: one connection's counters; \
sample: N connections of the table (default 10); classes: per class stored, cut, memory and disk; \
indexes: index files and bytes. sh is show.\nexample: show conn \"udp 10.0.0.1:53 10.0.0.2:5353\"",
    ),
    (
        "suspend_cutoff",
        "suspend_cutoff \"<conn4 key>\"",
        "Stores every later packet of the connection, past the class's cutoff, until unsuspend_cutoff.\n\
example: suspend_cutoff \"tcp 10.0.0.1:80 10.0.0.2:1025\"",
    ),
    (
        "unsuspend_cutoff",
        "unsuspend_cutoff \"<conn4 key>\"",
        "Applies the class's cutoff to the connection again.\nexample: unsuspend_cutoff \"tcp 10.0.0.1:80 10.0.0.2:1025\"",
    ),
    (
        "suspend_timeout",
        "suspend_timeout \"<conn4 key>\"",
        "Keeps the connection in the table however long it is idle, until unsuspend_timeout.\n\
example: suspend_timeout \"tcp 10.0.0.1:80 10.0.0.2:1025\"",
    ),
    (
        "unsuspend_timeout",
        "unsuspend_timeout \"<conn4 key>\"",
        "Lets the connection time out again after conn_timeout of idleness.\n\
example: unsuspend_timeout \"tcp 10.0.0.1:80 10.0.0.2:1025\"",
    ),
    (
        "set_dyn_class",
        "set_dyn_class <addr> <class> [orig|resp]   (alias set_class)",
        "Puts connections created from now on whose originator (orig), responder (resp) or either end \
is <addr> (IPv4 or IPv6) into <class>, until the class's dyn_timeout of packet time has passed.\n\
example: set_dyn_class 10.0.0.7 full orig",
    ),
    (
        "unset_dyn_class",
        "unset_dyn_class <addr>",
        "Removes the address's dynamic class; later connections are classified by filters again.\n\
example: unset_dyn_class 2001:db8::7",
    ),
    ("help", "help [<command>]", "Lists the commands, or one command's grammar with an example.\nexample: help query"),
    ("auth", "auth <token>", "Authenticates on a console with a token (the first command there; 3 failures close the connection).\nexample: auth 3f9a..."),
    ("nop", "nop", "Does nothing and answers OK (keeps an idle connection alive).\nexample: nop"),
    ("quit", "quit", "Closes this console connection.\nexample: quit"),
];

/// The data lines `help` answers.
pub fn help_lines(topic: Option<&str>) -> Result<Vec<String>, ConsoleError> {
    match topic {
        None => {
            let mut v: Vec<String> = HELP.iter().map(|(_, syn, _)| syn.to_string()).collect();
            v.push("help <command> gives its grammar and an example; lines end in LF; # starts a comment.".into());
            Ok(v)
        }
        Some(t) => {
            let t = match t {
                "sh" => "show",
                "set_class" => "set_dyn_class",
                "unset_class" => "unset_dyn_class",
                other => other,
            };
            let (_, syn, more) = HELP
                .iter()
                .find(|(n, _, _)| *n == t)
                .ok_or_else(|| ConsoleError::Parser(format!("no command {t:?}; type help")))?;
            let mut v = vec![syn.to_string()];
            v.extend(more.lines().map(String::from));
            Ok(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(line: &str) -> String {
        parse_line(line).err().map(|e| e.to_string()).unwrap_or_else(|| "OK".into())
    }

    #[test]
    fn query_to_file_with_every_option() {
        let c = parse_line(
            "QUERY to_file \"a.pcap\" index connection4 \"tcp 1.2.3.4:80 5.6.7.8:1025\" start 10 end \"1970-01-01 00:00:20\" mem_only subscribe",
        )
        .unwrap();
        let Command::Query { dest, spec, start, end, mem_only, subscribe } = c else { panic!() };
        assert_eq!(dest, Dest::ToFile("a.pcap".into()));
        assert!(matches!(spec, Spec::Index { kind: IndexKind::Conn4, .. }));
        assert_eq!(
            (start, end, mem_only, subscribe),
            (Some(10_000_000_000), Some(20_000_000_000), true, true)
        );
    }

    #[test]
    fn query_feed_and_filter() {
        let c = parse_line("query feed 7 tag t1 filter \"udp and port 53\" start 1.5").unwrap();
        let Command::Query { dest, spec, start, .. } = c else { panic!() };
        assert_eq!(dest, Dest::Feed { id: "7".into(), tag: "t1".into() });
        assert!(matches!(spec, Spec::Filter(_)));
        assert_eq!(start, Some(1_500_000_000));
        let c = parse_line("query feed 1 tag x index ip \"2001:db8::1\" end 5").unwrap();
        assert!(matches!(c, Command::Query { end: Some(5_000_000_000), start: None, .. }));
    }

    #[test]
    fn query_errors() {
        assert_eq!(err("query index ip \"1.2.3.4\""), "ERROR QUERY RESULT DESTINATION UNDEFINED");
        assert_eq!(err("query to_file \"x\""), "ERROR QUERY KEY UNDEFINED");
        assert_eq!(err("query to_file \"x\" index ip"), "ERROR QUERY KEY UNDEFINED");
        assert_eq!(err("query to_file \"x\" index ip mem_only"), "ERROR QUERY KEY UNDEFINED");
        assert_eq!(err("query to_file \"x\" index mac \"1\""), "ERROR NO SUCH INDEX - mac");
        assert_eq!(err("query to_file \"../x\" index ip \"1.2.3.4\""), "ERROR BAD FILE NAME");
        assert_eq!(err("query to_file \".x\" index ip \"1.2.3.4\""), "ERROR BAD FILE NAME");
        assert_eq!(
            err("query to_file \"x\" index ip \"1.2.3.4\" subscribe"),
            "ERROR SUBSCRIPTION NEEDS CONN4"
        );
        assert!(err("query to_file \"x\" index ip \"1.2.3.4\" start yesterday")
            .starts_with("ERROR PARSER ERROR - bad time \"yesterday\""));
        assert!(err("query to_file \"x\" index ip \"1.2.3.4\" start 5 end 4")
            .starts_with("ERROR PARSER ERROR"));
        assert!(err("query to_file \"x\" index ip \"1.2.3.4\" bogus")
            .ends_with("unexpected \"bogus\", column 38"));
        assert!(
            err("query to_file \"x\" filter \"host\"").starts_with("ERROR PARSER ERROR - filter:")
        );
        assert!(err("query feed 1 index ip \"1.2.3.4\"")
            .starts_with("ERROR PARSER ERROR - expected tag"));
    }

    #[test]
    fn show_commands() {
        assert!(matches!(parse_line("show stats").unwrap(), Command::ShowStats));
        assert!(matches!(parse_line("sh classes").unwrap(), Command::ShowClasses));
        assert!(matches!(parse_line("show indexes").unwrap(), Command::ShowIndexes));
        assert!(matches!(parse_line("show conn sample").unwrap(), Command::ShowConnSample(10)));
        assert!(matches!(parse_line("show conn sample 3").unwrap(), Command::ShowConnSample(3)));
        let Command::ShowConn(k) = parse_line("show conn \"udp 1.2.3.4:53 5.6.7.8:9\"").unwrap()
        else {
            panic!()
        };
        assert_eq!(k.proto, 17);
        assert!(err("show conn sample 0").starts_with("ERROR PARSER ERROR - bad count"));
        assert!(err("show conn \"tcp 1.2.3.4\"").starts_with("ERROR PARSER ERROR - conn4 key"));
        assert!(err("show").starts_with("ERROR PARSER ERROR - expected stats"));
        assert!(err("show stats now").starts_with("ERROR PARSER ERROR - unexpected \"now\""));
    }

    #[test]
    fn suspend_commands() {
        for (w, what, on) in [
            ("suspend_cutoff", Suspend::Cutoff, true),
            ("unsuspend_cutoff", Suspend::Cutoff, false),
            ("suspend_timeout", Suspend::Timeout, true),
            ("unsuspend_timeout", Suspend::Timeout, false),
        ] {
            let c =
                parse_line(&format!("{w} \"tcp [2001:db8::1]:80 [2001:db8::2]:1025\"")).unwrap();
            let Command::Suspend { what: w2, on: o2, .. } = c else { panic!("{w}") };
            assert_eq!((w2, o2), (what, on));
            assert!(err(w).starts_with("ERROR PARSER ERROR - expected a conn4 key"));
        }
    }

    #[test]
    fn dyn_class_commands_validate_first() {
        let Command::SetDynClass { addr, class, end } =
            parse_line("set_dyn_class 10.0.0.7 full orig").unwrap()
        else {
            panic!()
        };
        assert_eq!(addr, std::net::Ipv4Addr::new(10, 0, 0, 7).to_ipv6_mapped().octets());
        assert_eq!((class.as_str(), end), ("full", Some(End::Orig)));
        let Command::SetDynClass { end, .. } = parse_line("set_class 2001:db8::7 full").unwrap()
        else {
            panic!()
        };
        assert_eq!(end, None);
        assert!(matches!(
            parse_line("set_dyn_class 2001:db8::7 x resp").unwrap(),
            Command::SetDynClass { end: Some(End::Resp), .. }
        ));
        assert!(
            err("set_dyn_class 10.0.0.300 full").starts_with("ERROR PARSER ERROR - bad address")
        );
        assert!(
            err("set_dyn_class 10.0.0.3 full both").starts_with("ERROR PARSER ERROR - unexpected")
        );
        assert!(err("set_dyn_class 10.0.0.3").starts_with("ERROR PARSER ERROR - expected a class"));
        assert!(matches!(
            parse_line("unset_dyn_class [2001:db8::7]").unwrap(),
            Command::UnsetDynClass(_)
        ));
        assert!(err("unset_dyn_class host").starts_with("ERROR PARSER ERROR - bad address"));
    }

    #[test]
    fn small_commands_comments_and_errors() {
        assert!(matches!(parse_line("").unwrap(), Command::Nop));
        assert!(matches!(parse_line("  # just a comment").unwrap(), Command::Nop));
        assert!(matches!(parse_line("nop # keepalive\r").unwrap(), Command::Nop));
        assert!(matches!(parse_line("quit").unwrap(), Command::Quit));
        assert!(matches!(parse_line("auth s3cret").unwrap(), Command::Auth(t) if t == "s3cret"));
        assert!(
            matches!(parse_line("help query").unwrap(), Command::Help(Some(t)) if t == "query")
        );
        assert_eq!(
            err("frobnicate"),
            "ERROR PARSER ERROR - unknown command \"frobnicate\"; type help, column 1"
        );
        assert_eq!(err("show conn \"tcp"), "ERROR PARSER ERROR - unterminated string, column 11");
        assert_eq!(err(&"x".repeat(MAX_LINE + 1)), "ERROR LINE TOO LONG");
    }

    #[test]
    fn help_really_helps() {
        let all = help_lines(None).unwrap();
        for (name, _, _) in HELP {
            assert!(all.iter().any(|l| l.starts_with(name)), "{name} missing from help");
            let one = help_lines(Some(name)).unwrap();
            assert!(one.iter().any(|l| l.starts_with("example: ")), "{name} has no example");
            // Every example parses.
            let ex = one.iter().find_map(|l| l.strip_prefix("example: ")).unwrap();
            assert!(parse_line(ex).is_ok(), "example of {name} does not parse: {ex}");
        }
        assert!(help_lines(Some("sh")).is_ok());
        assert!(help_lines(Some("bogus")).is_err());
    }

    #[test]
    fn file_names() {
        for ok in ["a", "A.pcap", "x_1-2.pcap", &"a".repeat(128)] {
            assert!(valid_file_name(ok), "{ok}");
        }
        for bad in ["", ".a", "a/b", "..", "-a", "a b", &"a".repeat(129)] {
            assert!(!valid_file_name(bad), "{bad}");
        }
    }
}
