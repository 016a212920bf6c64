//! The `[packets]` section of `vantage.toml` (spec §6), typed once at the edge.
//!
//! Sizes accept bytes or `"10k"` (`k m g t` = × 1024ⁿ, as TM); durations seconds or
//! `"90s" "3m" "4h" "1d"`; `cutoff = false` / `"no"` turns the cutoff off; `disk =
//! "unlimited"`. Unknown keys are errors (`deny_unknown_fields`); TM's options that have
//! no meaning here are accepted with a warning. Checks across fields live in
//! [`PacketsConfig::build`].

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::error::ConfigError;
use crate::filter::Filter;
use crate::key::IndexKind;

fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_lowercase();
    let (num, mul) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1u64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        't' => (&t[..t.len() - 1], 1 << 40),
        _ => (&t[..], 1),
    };
    let n: f64 = num.trim().parse().ok()?;
    if !(0.0..1e19).contains(&n) {
        return None;
    }
    Some((n * mul as f64) as u64)
}

fn parse_duration(text: &str) -> Option<f64> {
    let t = text.trim().to_ascii_lowercase();
    let (num, mul) = match t.chars().last()? {
        's' => (&t[..t.len() - 1], 1.0),
        'm' => (&t[..t.len() - 1], 60.0),
        'h' => (&t[..t.len() - 1], 3600.0),
        'd' => (&t[..t.len() - 1], 86400.0),
        _ => (&t[..], 1.0),
    };
    let n: f64 = num.trim().parse().ok()?;
    (n >= 0.0 && n.is_finite()).then_some(n * mul)
}

macro_rules! visit_numbers {
    ($conv:expr) => {
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u64::try_from(v).map_err(|_| E::custom("negative value")).and_then(|v| $conv(v as f64))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            $conv(v as f64)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            $conv(v)
        }
    };
}

/// A size in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size: bytes or a string like \"10k\", \"64m\", \"1g\"")
            }
            visit_numbers!(|v: f64| Ok(ByteSize(v as u64)));
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                parse_size(v)
                    .map(ByteSize)
                    .ok_or_else(|| E::custom(format!("bad size {v:?}; e.g. \"10k\"")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration(pub i64);

impl Duration {
    /// From whole seconds.
    pub const fn secs(s: i64) -> Duration {
        Duration(s * 1_000_000_000)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration: seconds or a string like \"90s\", \"3m\", \"4h\", \"1d\"")
            }
            visit_numbers!(|v: f64| Ok(Duration((v * 1e9) as i64)));
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
                parse_duration(v)
                    .map(|s| Duration((s * 1e9) as i64))
                    .ok_or_else(|| E::custom(format!("bad duration {v:?}; e.g. \"90s\"")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A class's cutoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cutoff {
    /// Keep every packet (`false`, `"no"`).
    Off,
    /// Keep while the connection's captured bytes stay within this many.
    Bytes(u64),
}

impl Default for Cutoff {
    fn default() -> Self {
        Cutoff::Bytes(10_000)
    }
}

impl<'de> Deserialize<'de> for Cutoff {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Cutoff;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a cutoff: false, \"no\", bytes or a size like \"10k\"")
            }
            visit_numbers!(|v: f64| Ok(Cutoff::Bytes(v as u64)));
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Cutoff, E> {
                if v {
                    Err(E::custom("cutoff = true has no size; give bytes, e.g. 10000"))
                } else {
                    Ok(Cutoff::Off)
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Cutoff, E> {
                if matches!(v.trim().to_ascii_lowercase().as_str(), "no" | "false" | "off") {
                    return Ok(Cutoff::Off);
                }
                parse_size(v)
                    .map(Cutoff::Bytes)
                    .ok_or_else(|| E::custom(format!("bad cutoff {v:?}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A class's disk budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskBudget {
    /// Never delete for this class.
    Unlimited,
    /// At most this many bytes of segments and their indexes.
    Bytes(u64),
}

impl<'de> Deserialize<'de> for DiskBudget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DiskBudget;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size or \"unlimited\"")
            }
            visit_numbers!(|v: f64| Ok(DiskBudget::Bytes(v as u64)));
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DiskBudget, E> {
                if v.trim().eq_ignore_ascii_case("unlimited") {
                    return Ok(DiskBudget::Unlimited);
                }
                parse_size(v)
                    .map(DiskBudget::Bytes)
                    .ok_or_else(|| E::custom(format!("bad disk size {v:?}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// `min_free`: a share of the file system or a size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MinFree {
    /// Percent of the file system.
    Percent(f64),
    /// Bytes.
    Bytes(u64),
}

impl<'de> Deserialize<'de> for MinFree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = MinFree;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a percentage like \"5%\" or a size")
            }
            visit_numbers!(|v: f64| Ok(MinFree::Bytes(v as u64)));
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MinFree, E> {
                if let Some(p) = v.trim().strip_suffix('%') {
                    return p
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|p| (0.0..=100.0).contains(p))
                        .map(MinFree::Percent)
                        .ok_or_else(|| E::custom(format!("bad min_free {v:?}")));
                }
                parse_size(v)
                    .map(MinFree::Bytes)
                    .ok_or_else(|| E::custom(format!("bad min_free {v:?}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// The segment file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SegmentFormat {
    /// Classic pcap, nanosecond magic (the default).
    #[default]
    Pcap,
    /// pcapng (SHOULD; not written yet: recorded as pcap with a warning).
    Pcapng,
}

/// One `[[packets.class]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassConfig {
    /// `[A-Za-z0-9_-]{1,64}`.
    pub name: String,
    /// Filter expression (§5); `""` matches all.
    #[serde(default)]
    pub filter: String,
    /// Higher wins; ties: first in the file.
    #[serde(default)]
    pub precedence: i64,
    /// Per-connection cutoff.
    #[serde(default)]
    pub cutoff: Cutoff,
    /// Memory ring budget.
    #[serde(default = "default_mem")]
    pub mem: ByteSize,
    /// Disk budget for segments and their indexes.
    #[serde(default = "default_disk")]
    pub disk: DiskBudget,
    /// Segment size.
    #[serde(default = "default_filesize")]
    pub filesize: ByteSize,
    /// Lifetime of a dynamic class assignment.
    #[serde(default = "default_dyn_timeout")]
    pub dyn_timeout: Duration,
    /// Directory name under `classes/` (default: the name).
    #[serde(default)]
    pub dir: Option<String>,
    /// TM's `pkts_to_disk`: ignored (writes are batched).
    #[serde(default)]
    pub pkts_to_disk: Option<toml::Value>,
    /// TM's `classdir`: use `dir`.
    #[serde(default)]
    pub classdir: Option<String>,
}

fn default_mem() -> ByteSize {
    ByteSize(5_000_000)
}
fn default_disk() -> DiskBudget {
    DiskBudget::Bytes(50_000_000)
}
fn default_filesize() -> ByteSize {
    ByteSize(10_000_000)
}
fn default_dyn_timeout() -> Duration {
    Duration::secs(4 * 3600)
}

impl ClassConfig {
    /// A class with the spec's defaults.
    pub fn new(name: &str, filter: &str) -> ClassConfig {
        ClassConfig {
            name: name.to_string(),
            filter: filter.to_string(),
            precedence: 0,
            cutoff: Cutoff::default(),
            mem: default_mem(),
            disk: default_disk(),
            filesize: default_filesize(),
            dyn_timeout: default_dyn_timeout(),
            dir: None,
            pkts_to_disk: None,
            classdir: None,
        }
    }
}

/// `[packets.console]` (used by the console, issue 4; accepted and typed now).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Local console on stdin.
    pub local: bool,
    /// Remote TCP console.
    pub remote: bool,
    /// Listen address.
    pub listen: String,
    /// Token file, required off loopback.
    pub token_file: Option<PathBuf>,
    /// Clients at once.
    pub max_clients: u64,
    /// Queries at once.
    pub max_queries: u64,
    /// Query time limit.
    pub query_timeout: Duration,
    /// Idle connection limit.
    pub idle_timeout: Duration,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            local: false,
            remote: true,
            listen: "127.0.0.1:42042".into(),
            token_file: None,
            max_clients: 16,
            max_queries: 4,
            query_timeout: Duration::secs(900),
            idle_timeout: Duration::secs(600),
        }
    }
}

/// `[packets.capture]` (live capture, issue 4).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureConfig {
    /// Promiscuous mode.
    pub promisc: bool,
    /// Kernel ring size.
    pub ring: ByteSize,
    /// Capture threads.
    pub fanout: u32,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig { promisc: true, ring: ByteSize(64 << 20), fanout: 1 }
    }
}

/// The whole `[packets]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PacketsConfig {
    /// Packets directory (default `<data>/packets`).
    pub data_dir: Option<PathBuf>,
    /// Merged index directory, relative to `data_dir`.
    pub index_dir: String,
    /// Query output directory, relative to `data_dir`.
    pub query_dir: String,
    /// Log file name.
    pub log_file: String,
    /// Seconds between log rows.
    pub log_interval: Duration,
    /// debug, info, warn, error.
    pub log_level: String,
    /// Live interface (issue 4).
    pub interface: Option<String>,
    /// Files to read.
    pub read: Vec<PathBuf>,
    /// Global capture filter.
    pub filter: String,
    /// Connection inactivity timeout.
    pub conn_timeout: Duration,
    /// Subscriptions at once (issue 4).
    pub max_subscriptions: u64,
    /// The indexes to build (l2 is always on).
    pub indexes: Vec<IndexKind>,
    /// Stored caplen cap.
    pub snaplen: u32,
    /// How long a first fragment's 5-tuple is remembered.
    pub frag_timeout: Duration,
    /// Connection table bound.
    pub max_conns: u64,
    /// Ring-to-segment flush period.
    pub flush_interval: Duration,
    /// Free space kept on the file system.
    pub min_free: MinFree,
    /// Index interval gap.
    pub index_gap: Duration,
    /// Level-n files merged into one level n+1.
    pub merge_fanout: u32,
    /// Index levels above 0.
    pub index_levels: u32,
    /// Segment format.
    pub segment_format: SegmentFormat,
    /// Sensor name in flow rows (default: host name).
    pub sensor: Option<String>,
    /// HTTP query output limit.
    pub http_max_bytes: ByteSize,
    /// Console options.
    pub console: ConsoleConfig,
    /// Capture options.
    pub capture: CaptureConfig,
    /// The classes.
    pub class: Vec<ClassConfig>,
    /// TM options without meaning here: accepted, warned about, ignored.
    pub daemon: Option<toml::Value>,
    /// Ignored (TM).
    pub profilepath: Option<toml::Value>,
    /// Ignored (TM).
    pub tweak_capture_thread: Option<toml::Value>,
    /// Ignored (TM).
    pub classdir_format: Option<toml::Value>,
    /// Ignored (TM).
    pub filename_format: Option<toml::Value>,
}

impl Default for PacketsConfig {
    fn default() -> Self {
        PacketsConfig {
            data_dir: None,
            index_dir: "index".into(),
            query_dir: "queries".into(),
            log_file: "vantage-packets.log".into(),
            log_interval: Duration::secs(60),
            log_level: "info".into(),
            interface: None,
            read: Vec::new(),
            filter: String::new(),
            conn_timeout: Duration::secs(1800),
            max_subscriptions: 10_000,
            indexes: IndexKind::DEFAULT.to_vec(),
            snaplen: 262_144,
            frag_timeout: Duration::secs(30),
            max_conns: 4_000_000,
            flush_interval: Duration::secs(1),
            min_free: MinFree::Percent(5.0),
            index_gap: Duration::secs(30),
            merge_fanout: 10,
            index_levels: 3,
            segment_format: SegmentFormat::Pcap,
            sensor: None,
            http_max_bytes: ByteSize(1 << 30),
            console: ConsoleConfig::default(),
            capture: CaptureConfig::default(),
            class: Vec::new(),
            daemon: None,
            profilepath: None,
            tweak_capture_thread: None,
            classdir_format: None,
            filename_format: None,
        }
    }
}

/// A class ready to use: its configuration, compiled filter and rank.
#[derive(Debug, Clone)]
pub struct Class {
    /// The configuration.
    pub config: ClassConfig,
    /// The compiled filter.
    pub filter: Filter,
    /// Position in the file (ties of precedence).
    pub order: usize,
    /// The ring budget after the 2 × snaplen floor.
    pub mem: u64,
}

impl Class {
    /// The directory name under `classes/`.
    pub fn dir_name(&self) -> &str {
        self.config.dir.as_deref().unwrap_or(&self.config.name)
    }
}

impl PacketsConfig {
    /// Checks the section and compiles the classes, highest precedence first (ties: file
    /// order). With no `[[packets.class]]`, one class `default` takes everything with the
    /// spec's class defaults.
    pub fn build(&self) -> Result<Vec<Class>, ConfigError> {
        for (key, v) in [
            ("daemon", &self.daemon),
            ("profilepath", &self.profilepath),
            ("tweak_capture_thread", &self.tweak_capture_thread),
            ("classdir_format", &self.classdir_format),
            ("filename_format", &self.filename_format),
        ] {
            if v.is_some() {
                tracing::warn!(key, "[packets]: Time Machine option has no meaning here; ignored.");
            }
        }
        Filter::parse(&self.filter)
            .map_err(|source| ConfigError::Filter { class: "<capture filter>".into(), source })?;
        if self.segment_format == SegmentFormat::Pcapng {
            tracing::warn!(
                "[packets]: segment_format = \"pcapng\" is not written yet; segments are pcap."
            );
        }
        if self.snaplen == 0 || self.snaplen > crate::capture::MAX_SNAPLEN {
            return Err(ConfigError::Invalid(format!(
                "snaplen {} must be 1..={}",
                self.snaplen,
                crate::capture::MAX_SNAPLEN
            )));
        }
        let configs = if self.class.is_empty() {
            vec![ClassConfig::new("default", "")]
        } else {
            self.class.clone()
        };
        let mut out = Vec::new();
        for (order, c) in configs.into_iter().enumerate() {
            let name_ok = (1..=64).contains(&c.name.len())
                && c.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !name_ok {
                return Err(ConfigError::Invalid(format!(
                    "class name {:?}: use 1 to 64 of A-Z a-z 0-9 _ -",
                    c.name
                )));
            }
            if out.iter().any(|o: &Class| o.config.name == c.name) {
                return Err(ConfigError::Invalid(format!("class {:?} defined twice", c.name)));
            }
            if let DiskBudget::Bytes(d) = c.disk {
                if d < 2 * c.filesize.0 {
                    return Err(ConfigError::Invalid(format!(
                        "class {:?}: disk {} is below 2 x filesize {}",
                        c.name, d, c.filesize.0
                    )));
                }
            }
            if c.filesize.0 < 1024 {
                return Err(ConfigError::Invalid(format!(
                    "class {:?}: filesize {} is below 1k",
                    c.name, c.filesize.0
                )));
            }
            let filter = Filter::parse(&c.filter)
                .map_err(|source| ConfigError::Filter { class: c.name.clone(), source })?;
            let floor = 2 * u64::from(self.snaplen);
            let mem = if c.mem.0 < floor {
                tracing::warn!(class = %c.name, mem = c.mem.0, raised = floor, "Class mem below 2 x snaplen; raised.");
                floor
            } else {
                c.mem.0
            };
            out.push(Class { config: c, filter, order, mem });
        }
        out.sort_by(|a, b| {
            b.config.precedence.cmp(&a.config.precedence).then(a.order.cmp(&b.order))
        });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PacketsConfig, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn sizes_durations_cutoffs() {
        let c = parse(
            "conn_timeout = \"3m\"\nmin_free = \"10%\"\n[[class]]\nname = \"a\"\ncutoff = \"no\"\n\
             disk = \"unlimited\"\nfilesize = \"1m\"\nmem = \"10k\"\n\
             [[class]]\nname = \"b\"\ncutoff = \"15k\"\ndisk = \"1g\"\nprecedence = 5\n",
        )
        .unwrap();
        assert_eq!(c.conn_timeout, Duration::secs(180));
        assert_eq!(c.min_free, MinFree::Percent(10.0));
        assert_eq!(c.class[0].cutoff, Cutoff::Off);
        assert_eq!(c.class[0].disk, DiskBudget::Unlimited);
        assert_eq!(c.class[0].filesize, ByteSize(1 << 20));
        assert_eq!(c.class[1].cutoff, Cutoff::Bytes(15 * 1024));
        let classes = c.build().unwrap();
        assert_eq!(classes[0].config.name, "b", "higher precedence first");
        assert_eq!(classes[1].mem, 2 * 262_144, "mem raised to 2 x snaplen");
        assert_eq!(
            parse("[[class]]\nname = \"x\"\ncutoff = false\n").unwrap().class[0].cutoff,
            Cutoff::Off
        );
    }

    #[test]
    fn errors() {
        assert!(parse("conn_timout = 5").unwrap_err().to_string().contains("conn_timout"));
        let c = parse("[[class]]\nname = \"a\"\ndisk = \"1m\"\nfilesize = \"1m\"\n").unwrap();
        assert!(c.build().unwrap_err().to_string().contains("below 2 x filesize"));
        let c = parse("[[class]]\nname = \"a\"\nfilter = \"port http\"\n").unwrap();
        assert!(c.build().unwrap_err().to_string().contains("column 6"));
        let c = parse("[[class]]\nname = \"a b\"\n").unwrap();
        assert!(c.build().is_err());
        assert!(parse("[[class]]\nname = \"a\"\ncutoff = \"lots\"\n").is_err());
    }
}
