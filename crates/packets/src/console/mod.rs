//! The Time Machine command console (spec §8).
//!
//! - [`parse_line`] turns one line into a checked [`Command`] or a [`ConsoleError`]
//!   (whose `Display` is the `ERROR ...` status line); nothing acts before a line parses.
//! - [`Live`] is a running recorder shared between the storage loop and the consoles;
//!   a [`Session`] is one client's state (auth, feed output) executing commands on it.
//! - [`serve`] is the TCP line server (default `127.0.0.1:42042`): several clients,
//!   4096-byte lines, a token required off loopback; [`Client`] is its other end.
mod client;
mod exec;
mod parse;
mod server;

pub use client::{is_status, Client, Data, MAX_FEED_CHUNK};
pub use exec::{Live, Next, Session, SharedOut};
pub use parse::{
    help_lines, parse_line, valid_file_name, Command, ConsoleError, Dest, End, Spec, Suspend,
    MAX_LINE,
};
pub use server::{read_line_bounded, serve, LineRead, ServerHandle};
