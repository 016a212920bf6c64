//! The packet recorder: a Time Machine rebuilt (packets spec).
//!
//! Capture files are read by [`CaptureReader`] into [`Frame`]s, decoded by [`decode()`]
//! (§4) and matched by [`Filter`]s (§5, our own parser with libpcap's semantics).
#![deny(missing_docs)]

mod capture;
pub mod decode;
mod error;
mod filter;

pub use crate::{
    capture::{read_all, CaptureReader, Format, Frame, Interface, MAX_SNAPLEN},
    decode::{decode, Decoded, Frag, L3},
    error::{ConfigError, FilterError, ReadError, StoreError, VidxError},
    filter::{Dir, Family, Filter, Net, Node, PacketRef, Prim},
};
