//! Packet decoding (spec §4): link layer, tag and label chains, IPv4/IPv6 with extension
//! headers, fragments, ports and TCP flags — only as far as the bytes were captured.
//!
//! A hand-written walk rather than `etherparse`: the spec's rules differ from a header
//! parser's on purpose (ports come from the captured bytes whatever the IP lengths say;
//! a partly captured extension header ends the walk with its next-header value; IPv4
//! total length 0 is accepted), and every read here is a checked `get`, so truncated or
//! hostile bytes end the decode instead of panicking (fuzzed below).

/// Ethernet.
pub const LT_ETHERNET: u16 = 1;
/// BSD loopback, host byte order of the file.
pub const LT_NULL: u16 = 0;
/// Raw IP (version nibble).
pub const LT_RAW: u16 = 101;
/// OpenBSD loopback, network byte order.
pub const LT_LOOP: u16 = 108;
/// Linux cooked capture v1.
pub const LT_SLL: u16 = 113;
/// Raw IPv4 only.
pub const LT_IPV4: u16 = 228;
/// Raw IPv6 only.
pub const LT_IPV6: u16 = 229;
/// Linux cooked capture v2.
pub const LT_SLL2: u16 = 276;

/// Protocols with ports in their first four bytes: tcp, udp, dccp, sctp, udplite.
pub const PORT_PROTOS: [u8; 5] = [6, 17, 33, 132, 136];
const V6_EXT: [u8; 5] = [0, 43, 60, 51, 44];

/// The network layer found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum L3 {
    /// Non-IP or undecodable.
    #[default]
    None,
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// Where a packet stands among fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Frag {
    /// Not a fragment (or an atomic one: offset 0 without more-fragments).
    #[default]
    None,
    /// Offset 0 with more-fragments; the id.
    First(u32),
    /// Offset > 0; the id.
    NonFirst(u32),
}

/// What the decoder found in one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decoded {
    /// IPv4, IPv6 or neither.
    pub l3: L3,
    /// Outermost VLAN id.
    pub vlan: Option<u16>,
    /// Number of VLAN tags.
    pub vlan_depth: u8,
    /// Number of MPLS labels.
    pub mpls_depth: u8,
    /// Innermost ethertype (after tags); 0 where the link type has none.
    pub ethertype: u16,
    /// Source MAC of an Ethernet frame.
    pub src_mac: Option<[u8; 6]>,
    /// Source address, 16 bytes, IPv4 as `::ffff:a.b.c.d`.
    pub src: [u8; 16],
    /// Destination address, likewise.
    pub dst: [u8; 16],
    /// Transport protocol (the next-header value where the walk stopped).
    pub proto: u8,
    /// Source port (0 if none or not captured).
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Fragment position.
    pub frag: Frag,
    /// TCP flags, when 14 bytes of TCP header were captured.
    pub tcp_flags: Option<u8>,
}

impl Decoded {
    /// True for TCP with SYN, FIN or RST captured.
    pub fn is_ctl(&self) -> bool {
        self.proto == 6 && self.tcp_flags.is_some_and(|f| f & 0x07 != 0)
    }

    /// True for a TCP SYN+ACK.
    pub fn is_syn_ack(&self) -> bool {
        self.proto == 6 && self.tcp_flags.is_some_and(|f| f & 0x12 == 0x12)
    }
}

/// IPv4 address as the 16-byte mapped form.
pub fn mapped_v4(a: [u8; 4]) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[10] = 0xff;
    m[11] = 0xff;
    m[12..].copy_from_slice(&a);
    m
}

/// True when a 16-byte address is IPv4-mapped.
pub fn is_mapped_v4(a: &[u8; 16]) -> bool {
    a[..10].iter().all(|b| *b == 0) && a[10] == 0xff && a[11] == 0xff
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([*d.get(at)?, *d.get(at + 1)?, *d.get(at + 2)?, *d.get(at + 3)?]))
}

fn addr16(d: &[u8], at: usize) -> Option<[u8; 16]> {
    d.get(at..at + 16)?.try_into().ok()
}

fn addr4(d: &[u8], at: usize) -> Option<[u8; 4]> {
    d.get(at..at + 4)?.try_into().ok()
}

/// Follows VLAN tags and MPLS stacks from `off` where ethertype `et` applies; returns
/// the offset of the network header and its kind.
fn ether_chain(d: &[u8], mut off: usize, mut et: u16, out: &mut Decoded) -> (usize, L3) {
    for _ in 0..9 {
        match et {
            0x8100 | 0x88a8 | 0x9100 => {
                let (Some(tci), Some(next)) = (be16(d, off), be16(d, off + 2)) else {
                    return (off, L3::None);
                };
                if out.vlan.is_none() {
                    out.vlan = Some(tci & 0x0fff);
                }
                out.vlan_depth = out.vlan_depth.saturating_add(1);
                out.ethertype = next;
                et = next;
                off += 4;
                if out.vlan_depth > 8 {
                    return (off, L3::None);
                }
            }
            0x8847 | 0x8848 => {
                loop {
                    let Some(lse) = be32(d, off) else { return (off, L3::None) };
                    out.mpls_depth = out.mpls_depth.saturating_add(1);
                    off += 4;
                    if lse & 0x100 != 0 {
                        break;
                    }
                }
                let Some(first) = d.get(off) else { return (off, L3::None) };
                return match first >> 4 {
                    4 => (off, L3::V4),
                    6 => (off, L3::V6),
                    _ => (off, L3::None),
                };
            }
            0x0800 => return (off, L3::V4),
            0x86dd => return (off, L3::V6),
            _ => return (off, L3::None),
        }
    }
    (off, L3::None)
}

/// Decodes one packet of link type `linktype`; `big_endian` is the file's byte order
/// (for the NULL link type's family field).
pub fn decode(linktype: u16, d: &[u8], big_endian: bool) -> Decoded {
    let mut out = Decoded::default();
    let (off, kind) = match linktype {
        LT_ETHERNET => {
            let Some(et) = be16(d, 12) else { return out };
            out.src_mac = d.get(6..12).and_then(|m| m.try_into().ok());
            out.ethertype = et;
            ether_chain(d, 14, et, &mut out)
        }
        LT_SLL => {
            let Some(et) = be16(d, 14) else { return out };
            out.ethertype = et;
            ether_chain(d, 16, et, &mut out)
        }
        LT_SLL2 => {
            let (Some(et), true) = (be16(d, 0), d.len() >= 20) else { return out };
            out.ethertype = et;
            ether_chain(d, 20, et, &mut out)
        }
        LT_RAW | LT_IPV4 | LT_IPV6 => {
            let Some(first) = d.first() else { return out };
            let kind = match (first >> 4, linktype) {
                (4, LT_RAW | LT_IPV4) => L3::V4,
                (6, LT_RAW | LT_IPV6) => L3::V6,
                _ => L3::None,
            };
            (0, kind)
        }
        LT_NULL | LT_LOOP => {
            let Some(raw) = d.get(0..4) else { return out };
            let raw = [raw[0], raw[1], raw[2], raw[3]];
            let af = if linktype == LT_LOOP || big_endian {
                u32::from_be_bytes(raw)
            } else {
                u32::from_le_bytes(raw)
            };
            let kind = match af {
                2 => L3::V4,
                24 | 28 | 30 => L3::V6,
                _ => L3::None,
            };
            (4, kind)
        }
        _ => return out,
    };
    match kind {
        L3::V4 => ipv4(d, off, &mut out),
        L3::V6 => ipv6(d, off, &mut out),
        L3::None => {}
    }
    if out.l3 == L3::None {
        // Keep only what the link layer said: an undecodable IP packet is non-IP.
        out.proto = 0;
    } else if out.ethertype == 0 || matches!(linktype, LT_NULL | LT_LOOP | LT_RAW) {
        out.ethertype = if out.l3 == L3::V4 { 0x0800 } else { 0x86dd };
    }
    out
}

fn ipv4(d: &[u8], off: usize, out: &mut Decoded) {
    let Some(hdr) = d.get(off..off + 20) else { return };
    let ihl = usize::from(hdr[0] & 0x0f) * 4;
    if hdr[0] >> 4 != 4 || ihl < 20 {
        return;
    }
    let ident = u32::from(u16::from_be_bytes([hdr[4], hdr[5]]));
    let fl = u16::from_be_bytes([hdr[6], hdr[7]]);
    out.l3 = L3::V4;
    out.src = mapped_v4([hdr[12], hdr[13], hdr[14], hdr[15]]);
    out.dst = mapped_v4([hdr[16], hdr[17], hdr[18], hdr[19]]);
    let proto = hdr[9];
    out.proto = proto;
    if fl & 0x1fff != 0 {
        out.frag = Frag::NonFirst(ident);
        return;
    }
    if fl & 0x2000 != 0 {
        out.frag = Frag::First(ident);
    }
    if d.len() < off + ihl {
        return;
    }
    l4(d, off + ihl, proto, out);
}

fn ipv6(d: &[u8], off: usize, out: &mut Decoded) {
    let Some(hdr) = d.get(off..off + 40) else { return };
    if hdr[0] >> 4 != 6 {
        return;
    }
    out.l3 = L3::V6;
    out.src = addr16(hdr, 8).unwrap_or_default();
    out.dst = addr16(hdr, 24).unwrap_or_default();
    let mut nh = hdr[6];
    let mut p = off + 40;
    for _ in 0..8 {
        if !V6_EXT.contains(&nh) {
            break;
        }
        if nh == 44 {
            let (Some(&next), Some(fo_m), Some(ident)) = (d.get(p), be16(d, p + 2), be32(d, p + 4))
            else {
                break;
            };
            if fo_m & 0xfff8 != 0 {
                out.frag = Frag::NonFirst(ident);
                out.proto = next;
                return;
            }
            if fo_m & 1 != 0 {
                out.frag = Frag::First(ident);
            }
            nh = next;
            p += 8;
            continue;
        }
        let (Some(&next), Some(&len)) = (d.get(p), d.get(p + 1)) else { break };
        let hl = if nh == 51 { (usize::from(len) + 2) * 4 } else { (usize::from(len) + 1) * 8 };
        if d.len() < p + hl {
            break;
        }
        nh = next;
        p += hl;
    }
    out.proto = nh;
    if V6_EXT.contains(&nh) {
        return;
    }
    l4(d, p, nh, out);
}

fn l4(d: &[u8], off: usize, proto: u8, out: &mut Decoded) {
    out.proto = proto;
    if PORT_PROTOS.contains(&proto) {
        if let (Some(s), Some(t)) = (be16(d, off), be16(d, off + 2)) {
            out.sport = s;
            out.dport = t;
        }
    }
    if proto == 6 {
        if let Some(&flags) = d.get(off + 13) {
            out.tcp_flags = Some(flags);
        }
    }
}

/// The IPv4 source of a decoded packet as 4 bytes, if mapped.
pub fn v4_of(a: &[u8; 16]) -> Option<[u8; 4]> {
    if is_mapped_v4(a) {
        addr4(a, 12)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(et: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 12];
        v[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        v.extend_from_slice(&et.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn ip4(proto: u8, frag: u16, l4: &[u8]) -> Vec<u8> {
        let mut h = vec![0x45, 0, 0, 0, 0, 7, (frag >> 8) as u8, frag as u8, 64, proto, 0, 0];
        h.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        h.extend_from_slice(l4);
        h
    }

    #[test]
    fn ports_flags_and_fragments() {
        let tcp = [0x04, 0x01, 0x00, 0x50, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x02];
        let d = decode(LT_ETHERNET, &eth(0x0800, &ip4(6, 0, &tcp)), false);
        assert_eq!((d.l3, d.proto, d.sport, d.dport), (L3::V4, 6, 1025, 80));
        assert!(d.is_ctl() && !d.is_syn_ack());
        let d = decode(LT_ETHERNET, &eth(0x0800, &ip4(17, 0x2000, &tcp)), false);
        assert_eq!((d.frag, d.sport), (Frag::First(7), 1025));
        let d = decode(LT_ETHERNET, &eth(0x0800, &ip4(17, 0x0010, &tcp)), false);
        assert_eq!((d.frag, d.sport, d.proto), (Frag::NonFirst(7), 0, 17));
        // Captured only to the ports: ports known, flags not.
        let d = decode(LT_ETHERNET, &eth(0x0800, &ip4(6, 0, &tcp[..4])), false);
        assert_eq!((d.sport, d.tcp_flags), (1025, None));
    }

    #[test]
    fn tags_labels_and_non_ip() {
        let inner = ip4(17, 0, &[0, 53, 0, 54]);
        let mut qinq = vec![0, 100, 0x81, 0x00, 0, 200, 0x88, 0x47];
        qinq.extend_from_slice(&[0, 1, 0, 0, 0, 2, 1, 0]);
        qinq.extend_from_slice(&inner);
        let d = decode(LT_ETHERNET, &eth(0x88a8, &qinq), false);
        assert_eq!(
            (d.vlan, d.vlan_depth, d.mpls_depth, d.l3, d.dport),
            (Some(100), 2, 2, L3::V4, 54)
        );
        let d = decode(LT_ETHERNET, &eth(0x0806, &[0; 28]), false);
        assert_eq!((d.l3, d.ethertype), (L3::None, 0x0806));
        let d = decode(LT_ETHERNET, &eth(0x0800, &[0x43; 20]), false);
        assert_eq!(d.l3, L3::None, "IHL 3 is undecodable");
    }

    #[test]
    fn ipv6_extension_headers() {
        let mut v6 = vec![0x60, 0, 0, 0, 0, 0, 0, 64];
        v6.extend_from_slice(&[0x20; 16]);
        v6.extend_from_slice(&[0x21; 16]);
        // hop-by-hop (8 bytes) then destination options (8) then UDP.
        v6.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0, 17, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2]);
        let d = decode(LT_RAW, &v6, false);
        assert_eq!((d.l3, d.proto, d.sport, d.dport), (L3::V6, 17, 1, 2));
        // Destination options header cut short: the walk stops at its value.
        let d = decode(LT_RAW, &v6[..50], false);
        assert_eq!((d.proto, d.sport), (60, 0));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200), lt in 0u16..300) {
            for l in [lt, LT_ETHERNET, LT_SLL, LT_SLL2, LT_RAW, LT_NULL, LT_LOOP, LT_IPV4, LT_IPV6] {
                let _ = decode(l, &bytes, false);
                let _ = decode(l, &bytes, true);
            }
        }
    }
}
