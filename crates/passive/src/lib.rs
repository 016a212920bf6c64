//! Bismark passive router updates (spec `passive.md`).
//!
//! | module | concern |
//! |---|---|
//! | [`parser`], `section`, `update` | update text → [`Update`] (§2) |
//! | `frequent` | uCap frequent updates (§2.5) |
//! | [`anonymize`] | router hashes, server pseudonyms and re-hashes (§4) |
#![deny(missing_docs)]

pub mod anonymize;
mod decode;
mod frequent;
pub mod parser;
mod section;
mod update;

pub use crate::{
    decode::{decode_member, is_gzip, GzipError},
    frequent::{frequent_name, is_frequent, parse_frequent, FrequentDevice, FrequentUpdate},
    parser::{parse_update, split_sections, ParseError},
    section::Section,
    update::{
        ARecord, Address, CnameRecord, DroppedPackets, Flow, HttpUrl, Packet, SessionKey, Update,
        Warning,
    },
};
