//! The packet recorder: a Time Machine rebuilt (packets spec).
//!
//! - Input: [`CaptureReader`] reads pcap and pcapng into [`Frame`]s (§11, §12);
//!   [`decode()`] walks link, tags, labels, IP and ports (§4); [`Filter`] is the filter
//!   language, evaluated on packet bytes with libpcap's semantics (§5).
//! - Recording: [`PacketsConfig`] is the typed `[packets]` section (§6); a [`Recorder`]
//!   runs the [`ConnTable`] (§3.2), classes and cutoff (§3.1, §3.3), the per-class
//!   [`Ring`] and segments with their `.vidx` indexes (§3.4, §3.5) in a [`Store`];
//!   [`record_files`] is `vantage packets record --read`, catalog and flow rows included.
//! - Serving: [`Query`] / [`query::run`] answer index and filter queries (§7);
//!   [`stats()`] is `vantage packets stats` (§9); [`demo()`] is this kind's part of
//!   `vantage demo`.
//! - Service: [`console`] is the Time Machine command language and its TCP server over a
//!   running recorder ([`console::Live`]); [`Recorder::snapshot`] gives every figure at
//!   once ([`Snapshot::prometheus`] for `/metrics`).
#![deny(missing_docs)]

#[cfg(target_os = "linux")]
pub mod afpacket;
mod capture;
mod config;
mod conn;
pub mod console;
mod counters;
pub mod decode;
mod demo;
mod disk_snapshot;
mod error;
mod filter;
pub mod flows;
mod key;
mod live;
mod logs;
mod maintain;
mod metrics;
mod pcapout;
pub mod query;
mod record;
mod recorder;
mod ring;
mod segment;
mod stats;
mod store;
pub mod synth;
mod vidx;

pub use crate::{
    capture::{read_all, CaptureReader, Format, Frame, Interface, MAX_SNAPLEN},
    config::{
        ByteSize, Class, ClassConfig, Cutoff, DiskBudget, Duration, MinFree, PacketsConfig,
        SegmentFormat,
    },
    conn::{Conn, ConnTable, EndReason, Flow},
    counters::{ClassCounters, Counters},
    decode::{decode, Decoded, Frag, L3},
    demo::{demo, DemoSummary},
    disk_snapshot::DiskSnapshot,
    error::{ConfigError, FilterError, ReadError, StoreError, VidxError},
    filter::{Dir, Family, Filter, Net, Node, PacketRef, Prim},
    key::{addr_text as flows_addr, parse_key, ConnKey, IndexKind, Key},
    live::{console_token, run_live, stop_on_signals, LiveReport, Source, QUEUE_BATCHES},
    maintain::{prune, reindex},
    metrics::{ClassSnapshot, KernelStats, Snapshot},
    pcapout::OutputWriter,
    query::{Query, QueryResult, Selector},
    record::{packets_root, record_files, FileReport, RecordReport},
    recorder::{FileOutcome, Recorder, SubEvent, SubSink, SubscribeError},
    ring::Ring,
    stats::{stats, ClassStats, Stats},
    store::{Recovery, Store},
    vidx::{Vidx, MAGIC as VIDX_MAGIC},
};

#[cfg(target_os = "linux")]
pub use crate::live::open_interface;
