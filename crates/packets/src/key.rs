//! Index kinds and their keys (spec §3.5): binary keys for the index files, the Time
//! Machine's key text for queries, and the keys of one connection.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Deserialize;

use crate::decode::{is_mapped_v4, mapped_v4};

/// An index kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IndexKind {
    /// Protocol and both (address, port) ends.
    Conn4,
    /// Protocol, two addresses and the port of the second.
    Conn3,
    /// Two addresses.
    Conn2,
    /// One address.
    Ip,
    /// One port.
    Port,
    /// Innermost ethertype of non-IP packets (always on, internal).
    L2,
}

impl IndexKind {
    /// The five user-facing kinds, the default of `packets.indexes`.
    pub const DEFAULT: [IndexKind; 5] =
        [IndexKind::Conn4, IndexKind::Conn3, IndexKind::Conn2, IndexKind::Ip, IndexKind::Port];
    /// Every kind, in section order.
    pub const ALL: [IndexKind; 6] = [
        IndexKind::Conn4,
        IndexKind::Conn3,
        IndexKind::Conn2,
        IndexKind::Ip,
        IndexKind::Port,
        IndexKind::L2,
    ];

    /// The section code in index files.
    pub fn code(self) -> u8 {
        match self {
            IndexKind::Conn4 => 1,
            IndexKind::Conn3 => 2,
            IndexKind::Conn2 => 3,
            IndexKind::Ip => 4,
            IndexKind::Port => 5,
            IndexKind::L2 => 6,
        }
    }

    /// The kind of a section code.
    pub fn from_code(c: u8) -> Option<IndexKind> {
        IndexKind::ALL.into_iter().find(|k| k.code() == c)
    }

    /// Key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            IndexKind::Conn4 => 40,
            IndexKind::Conn3 => 36,
            IndexKind::Conn2 => 32,
            IndexKind::Ip => 16,
            IndexKind::Port | IndexKind::L2 => 2,
        }
    }

    /// The name (`conn4` ...).
    pub fn as_str(self) -> &'static str {
        match self {
            IndexKind::Conn4 => "conn4",
            IndexKind::Conn3 => "conn3",
            IndexKind::Conn2 => "conn2",
            IndexKind::Ip => "ip",
            IndexKind::Port => "port",
            IndexKind::L2 => "l2",
        }
    }

    /// Parses a kind name; TM's code spelling `connection4` is accepted too.
    pub fn parse(text: &str) -> Option<IndexKind> {
        Some(match text.to_ascii_lowercase().as_str() {
            "conn4" | "connection4" => IndexKind::Conn4,
            "conn3" | "connection3" => IndexKind::Conn3,
            "conn2" | "connection2" => IndexKind::Conn2,
            "ip" => IndexKind::Ip,
            "port" => IndexKind::Port,
            "l2" => IndexKind::L2,
            _ => return None,
        })
    }
}

impl fmt::Display for IndexKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for IndexKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        IndexKind::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown index {s:?}; use conn4, conn3, conn2, ip or port"
            ))
        })
    }
}

/// A binary index key: up to 40 bytes, the kind's length used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    bytes: [u8; 40],
    len: u8,
}

impl Key {
    /// A key from bytes (at most 40).
    pub fn new(b: &[u8]) -> Key {
        let mut bytes = [0u8; 40];
        let n = b.len().min(40);
        bytes[..n].copy_from_slice(&b[..n]);
        Key { bytes, len: n as u8 }
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// A connection's canonical identity: protocol and the unordered pair of ends, the lower
/// (address, port) first; IPv4 as `::ffff:a.b.c.d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnKey {
    /// Protocol.
    pub proto: u8,
    /// Lower end address.
    pub a: [u8; 16],
    /// Lower end port.
    pub ap: u16,
    /// Higher end address.
    pub b: [u8; 16],
    /// Higher end port.
    pub bp: u16,
}

impl ConnKey {
    /// The canonical key of a packet from (src, sport) to (dst, dport).
    pub fn new(proto: u8, src: [u8; 16], sport: u16, dst: [u8; 16], dport: u16) -> ConnKey {
        if (src, sport) <= (dst, dport) {
            ConnKey { proto, a: src, ap: sport, b: dst, bp: dport }
        } else {
            ConnKey { proto, a: dst, ap: dport, b: src, bp: sport }
        }
    }

    /// The 40-byte conn4 key: proto, 3 zero bytes, a, b, ap, bp.
    pub fn conn4(&self) -> Key {
        let mut k = [0u8; 40];
        k[0] = self.proto;
        k[4..20].copy_from_slice(&self.a);
        k[20..36].copy_from_slice(&self.b);
        k[36..38].copy_from_slice(&self.ap.to_be_bytes());
        k[38..40].copy_from_slice(&self.bp.to_be_bytes());
        Key::new(&k)
    }

    /// Reads a conn4 key back.
    pub fn from_conn4(k: &[u8]) -> Option<ConnKey> {
        if k.len() != 40 {
            return None;
        }
        Some(ConnKey {
            proto: k[0],
            a: k[4..20].try_into().ok()?,
            b: k[20..36].try_into().ok()?,
            ap: u16::from_be_bytes([k[36], k[37]]),
            bp: u16::from_be_bytes([k[38], k[39]]),
        })
    }

    /// Every index key of this connection, for the kinds enabled.
    pub fn keys(&self, enabled: &[IndexKind], out: &mut Vec<(IndexKind, Key)>) {
        for &kind in enabled {
            match kind {
                IndexKind::Conn4 => out.push((kind, self.conn4())),
                IndexKind::Conn3 => {
                    out.push((kind, conn3(self.proto, &self.a, &self.b, self.bp)));
                    if (self.a, self.bp) != (self.b, self.ap) {
                        out.push((kind, conn3(self.proto, &self.b, &self.a, self.ap)));
                    }
                }
                IndexKind::Conn2 => out.push((kind, conn2(&self.a, &self.b))),
                IndexKind::Ip => {
                    out.push((kind, Key::new(&self.a)));
                    if self.a != self.b {
                        out.push((kind, Key::new(&self.b)));
                    }
                }
                IndexKind::Port => {
                    if self.ap != 0 {
                        out.push((kind, Key::new(&self.ap.to_be_bytes())));
                    }
                    if self.bp != 0 && self.bp != self.ap {
                        out.push((kind, Key::new(&self.bp.to_be_bytes())));
                    }
                }
                IndexKind::L2 => {}
            }
        }
    }
}

fn conn3(proto: u8, a: &[u8; 16], b: &[u8; 16], bport: u16) -> Key {
    let mut k = [0u8; 36];
    k[0] = proto;
    k[2..18].copy_from_slice(a);
    k[18..34].copy_from_slice(b);
    k[34..36].copy_from_slice(&bport.to_be_bytes());
    Key::new(&k)
}

fn conn2(a: &[u8; 16], b: &[u8; 16]) -> Key {
    let (x, y) = if a <= b { (a, b) } else { (b, a) };
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(x);
    k[16..].copy_from_slice(y);
    Key::new(&k)
}

/// The `l2` key of a non-IP packet.
pub fn l2_key(ethertype: u16) -> Key {
    Key::new(&ethertype.to_be_bytes())
}

/// A protocol's name in key text.
pub fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        47 => "gre".into(),
        50 => "esp".into(),
        58 => "icmp6".into(),
        132 => "sctp".into(),
        other => other.to_string(),
    }
}

fn parse_proto(t: &str) -> Option<u8> {
    Some(match t.to_ascii_lowercase().as_str() {
        "icmp" => 1,
        "tcp" => 6,
        "udp" => 17,
        "gre" => 47,
        "esp" => 50,
        "icmp6" => 58,
        "sctp" => 132,
        "dccp" => 33,
        "udplite" => 136,
        n => n.parse().ok()?,
    })
}

/// An address as text: dotted IPv4 for mapped addresses, RFC 5952 IPv6 otherwise.
pub fn addr_text(a: &[u8; 16]) -> String {
    addr_ip(a).to_string()
}

/// An address as an [`IpAddr`].
pub fn addr_ip(a: &[u8; 16]) -> IpAddr {
    if is_mapped_v4(a) {
        IpAddr::V4(Ipv4Addr::new(a[12], a[13], a[14], a[15]))
    } else {
        IpAddr::V6(Ipv6Addr::from(*a))
    }
}

fn end_text(a: &[u8; 16], port: u16) -> String {
    if is_mapped_v4(a) {
        format!("{}:{port}", addr_text(a))
    } else {
        format!("[{}]:{port}", addr_text(a))
    }
}

impl fmt::Display for ConnKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}",
            proto_name(self.proto),
            end_text(&self.a, self.ap),
            end_text(&self.b, self.bp)
        )
    }
}

fn parse_addr(t: &str) -> Option<[u8; 16]> {
    let t = t.strip_prefix('[').and_then(|x| x.strip_suffix(']')).unwrap_or(t);
    match t.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some(mapped_v4(a.octets())),
        IpAddr::V6(a) => Some(a.octets()),
    }
}

fn parse_end(t: &str) -> Option<([u8; 16], u16)> {
    let (addr, port) = if let Some(rest) = t.strip_prefix('[') {
        let (a, p) = rest.split_once("]:")?;
        (a, p)
    } else {
        t.rsplit_once(':')?
    };
    Some((parse_addr(addr)?, port.parse().ok()?))
}

/// Parses a query key in TM's syntax for `kind`; fields are separated by blanks.
pub fn parse_key(kind: IndexKind, text: &str) -> Result<Key, String> {
    let f: Vec<&str> = text.split_whitespace().collect();
    let bad = |want: &str| format!("{kind} key {text:?}: expected {want}");
    match kind {
        IndexKind::Conn4 => {
            let [p, x, y] = f[..] else { return Err(bad("\"tcp 1.2.3.4:80 5.6.7.8:1025\"")) };
            let proto = parse_proto(p).ok_or_else(|| bad("a protocol name or 0-255 first"))?;
            let (a, ap) = parse_end(x).ok_or_else(|| bad("ADDR:PORT ([v6]:PORT)"))?;
            let (b, bp) = parse_end(y).ok_or_else(|| bad("ADDR:PORT ([v6]:PORT)"))?;
            Ok(ConnKey::new(proto, a, ap, b, bp).conn4())
        }
        IndexKind::Conn3 => {
            let [p, x, y] = f[..] else { return Err(bad("\"tcp 1.2.3.4 5.6.7.8:1025\"")) };
            let proto = parse_proto(p).ok_or_else(|| bad("a protocol name or 0-255 first"))?;
            let a = parse_addr(x).ok_or_else(|| bad("an address second"))?;
            let (b, bp) = parse_end(y).ok_or_else(|| bad("ADDR:PORT third"))?;
            Ok(conn3(proto, &a, &b, bp))
        }
        IndexKind::Conn2 => {
            let [x, y] = f[..] else { return Err(bad("\"1.2.3.4 5.6.7.8\"")) };
            let a = parse_addr(x).ok_or_else(|| bad("two addresses"))?;
            let b = parse_addr(y).ok_or_else(|| bad("two addresses"))?;
            Ok(conn2(&a, &b))
        }
        IndexKind::Ip => {
            let [x] = f[..] else { return Err(bad("one address")) };
            Ok(Key::new(&parse_addr(x).ok_or_else(|| bad("one address"))?))
        }
        IndexKind::Port => {
            let [x] = f[..] else { return Err(bad("one port")) };
            let p: u16 = x.parse().map_err(|_| bad("a port 1-65535"))?;
            Ok(Key::new(&p.to_be_bytes()))
        }
        IndexKind::L2 => Err("the l2 index is internal".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_text_round_trip() {
        let k = parse_key(IndexKind::Conn4, "tcp 5.6.7.8:1025   1.2.3.4:80").unwrap();
        let c = ConnKey::from_conn4(k.as_bytes()).unwrap();
        assert_eq!(c.to_string(), "tcp 1.2.3.4:80 5.6.7.8:1025");
        let k6 = parse_key(IndexKind::Conn4, "udp [2001:db8::1]:53 [2001:db8::2]:5353").unwrap();
        assert_eq!(
            ConnKey::from_conn4(k6.as_bytes()).unwrap().to_string(),
            "udp [2001:db8::1]:53 [2001:db8::2]:5353"
        );
        assert_eq!(parse_key(IndexKind::Conn4, "6 1.2.3.4:80 5.6.7.8:1025").unwrap(), k.min(k));
        assert_eq!(
            parse_key(IndexKind::Ip, "[2001:db8::1]"),
            parse_key(IndexKind::Ip, "2001:db8::1")
        );
        assert!(parse_key(IndexKind::Conn4, "tcp 1.2.3.4 5.6.7.8:1").is_err());
        assert!(parse_key(IndexKind::Port, "http").is_err());
        assert_eq!(IndexKind::parse("connection4"), Some(IndexKind::Conn4));
    }

    #[test]
    fn connection_keys() {
        let a = mapped_v4([1, 2, 3, 4]);
        let b = mapped_v4([5, 6, 7, 8]);
        let c = ConnKey::new(6, b, 1025, a, 80);
        let mut keys = Vec::new();
        c.keys(&IndexKind::DEFAULT, &mut keys);
        assert_eq!(keys.len(), 1 + 2 + 1 + 2 + 2);
        let want = parse_key(IndexKind::Conn3, "tcp 1.2.3.4 5.6.7.8:1025").unwrap();
        assert!(keys.contains(&(IndexKind::Conn3, want)));
        let want = parse_key(IndexKind::Conn3, "tcp 5.6.7.8 1.2.3.4:80").unwrap();
        assert!(keys.contains(&(IndexKind::Conn3, want)));
    }
}
