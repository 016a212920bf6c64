//! Evaluation on packet bytes, as libpcap's generated BPF does for saved files.

use super::{Dir, Family, Filter, Net, Node, Prim};
use crate::decode::{LT_ETHERNET, LT_IPV4, LT_IPV6, LT_LOOP, LT_NULL, LT_RAW, LT_SLL, LT_SLL2};

/// A packet as the filter sees it.
#[derive(Debug, Clone, Copy)]
pub struct PacketRef<'a> {
    /// Link type.
    pub linktype: u16,
    /// Captured bytes.
    pub data: &'a [u8],
    /// Wire length.
    pub wirelen: u32,
    /// The file's byte order (NULL link type).
    pub big_endian: bool,
}

/// A load past the captured bytes: the whole filter rejects the packet.
struct Oob;

type R<T> = Result<T, Oob>;

impl PacketRef<'_> {
    fn u8(&self, k: usize) -> R<u8> {
        self.data.get(k).copied().ok_or(Oob)
    }

    fn u16(&self, k: usize) -> R<u16> {
        Ok(u16::from_be_bytes([self.u8(k)?, self.u8(k + 1)?]))
    }

    fn u32(&self, k: usize) -> R<u32> {
        let b = self.data.get(k..k + 4).ok_or(Oob)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u128(&self, k: usize) -> R<u128> {
        let b: [u8; 16] = self.data.get(k..k + 16).ok_or(Oob)?.try_into().map_err(|_| Oob)?;
        Ok(u128::from_be_bytes(b))
    }

    /// Where the network header sits (fixed per link type; `vlan` shifts Ethernet).
    fn base(&self, shift: usize) -> usize {
        match self.linktype {
            LT_ETHERNET => 14 + shift,
            LT_SLL => 16,
            LT_SLL2 => 20,
            LT_NULL | LT_LOOP => 4,
            _ => 0,
        }
    }

    /// The link layer's "is this ethertype" test.
    fn is_type(&self, et: u16, shift: usize) -> R<bool> {
        match self.linktype {
            LT_ETHERNET => Ok(self.u16(12 + shift)? == et),
            LT_SLL => Ok(self.u16(14)? == et),
            LT_SLL2 => Ok(self.u16(0)? == et),
            LT_RAW => Ok(match et {
                0x0800 => self.u8(0)? & 0xf0 == 0x40,
                0x86dd => self.u8(0)? & 0xf0 == 0x60,
                _ => false,
            }),
            LT_IPV4 => Ok(et == 0x0800),
            LT_IPV6 => Ok(et == 0x86dd),
            LT_NULL | LT_LOOP => {
                if et != 0x0800 && et != 0x86dd {
                    return Ok(false);
                }
                let raw = self.u32(0)?;
                let af = if self.linktype == LT_NULL && !self.big_endian {
                    raw.swap_bytes()
                } else {
                    raw
                };
                Ok(if et == 0x0800 { af == 2 } else { matches!(af, 24 | 28 | 30) })
            }
            _ => Ok(false),
        }
    }

    fn v6_next_is(&self, b: usize, proto: u8) -> R<bool> {
        let nh = self.u8(b + 6)?;
        if nh == proto {
            return Ok(true);
        }
        Ok(nh == 44 && self.u8(b + 40)? == proto)
    }
}

fn supported(lt: u16) -> bool {
    matches!(lt, LT_ETHERNET | LT_SLL | LT_SLL2 | LT_RAW | LT_IPV4 | LT_IPV6 | LT_NULL | LT_LOOP)
}

pub(super) fn matches(f: &Filter, p: &PacketRef<'_>) -> bool {
    if f.root == Node::True {
        return true;
    }
    // tcpdump: "no VLAN support for <link type>".
    if f.uses_vlan && p.linktype != LT_ETHERNET {
        return false;
    }
    if !supported(p.linktype) {
        return false;
    }
    ev(&f.root, p).unwrap_or(false)
}

fn ev(n: &Node, p: &PacketRef<'_>) -> R<bool> {
    Ok(match n {
        Node::True => true,
        Node::And(a, b) => ev(a, p)? && ev(b, p)?,
        Node::Or(a, b) => ev(a, p)? || ev(b, p)?,
        Node::Not(a) => !ev(a, p)?,
        Node::Prim(prim) => prim_ev(prim, p)?,
    })
}

fn sides(dir: Dir) -> (bool, bool) {
    (matches!(dir, Dir::Any | Dir::Src), matches!(dir, Dir::Any | Dir::Dst))
}

fn prim_ev(prim: &Prim, p: &PacketRef<'_>) -> R<bool> {
    match *prim {
        Prim::Less(n) => Ok(p.wirelen <= n),
        Prim::Greater(n) => Ok(p.wirelen >= n),
        Prim::Link { ethertype, shift } => p.is_type(ethertype, shift),
        Prim::Vlan { id, shift } => {
            if !matches!(p.u16(12 + shift)?, 0x8100 | 0x88a8 | 0x9100) {
                return Ok(false);
            }
            Ok(match id {
                None => true,
                Some(v) => p.u16(14 + shift)? & 0x0fff == v,
            })
        }
        Prim::Proto { family, proto, shift } => {
            let b = p.base(shift);
            match family {
                Family::Ip => Ok(p.is_type(0x0800, shift)? && p.u8(b + 9)? == proto),
                Family::Ip6 => Ok(p.is_type(0x86dd, shift)? && p.v6_next_is(b, proto)?),
            }
        }
        Prim::L4 { proto, shift } => {
            let b = p.base(shift);
            if p.is_type(0x0800, shift)? {
                return Ok(p.u8(b + 9)? == proto);
            }
            Ok(p.is_type(0x86dd, shift)? && p.v6_next_is(b, proto)?)
        }
        Prim::Port { proto, dir, lo, hi, shift } => {
            let b = p.base(shift);
            let ok_proto = |v: u8| match proto {
                Some(want) => v == want,
                None => matches!(v, 6 | 17 | 132),
            };
            let hit = |off: usize| -> R<bool> {
                let (s, d) = sides(dir);
                if s && (lo..=hi).contains(&p.u16(off)?) {
                    return Ok(true);
                }
                Ok(d && (lo..=hi).contains(&p.u16(off + 2)?))
            };
            if p.is_type(0x86dd, shift)? {
                return Ok(ok_proto(p.u8(b + 6)?) && hit(b + 40)?);
            }
            if p.is_type(0x0800, shift)? {
                if !ok_proto(p.u8(b + 9)?) {
                    return Ok(false);
                }
                if p.u16(b + 6)? & 0x1fff != 0 {
                    return Ok(false);
                }
                let ihl = usize::from(p.u8(b)? & 0x0f) * 4;
                return hit(b + ihl);
            }
            Ok(false)
        }
        Prim::Addr { dir, net, shift } => {
            let b = p.base(shift);
            let (s, d) = sides(dir);
            match net {
                Net::V4 { addr, mask } => {
                    let m = |off: usize| -> R<bool> { Ok(p.u32(off)? & mask == addr) };
                    if p.is_type(0x0800, shift)? {
                        return Ok((s && m(b + 12)?) || (d && m(b + 16)?));
                    }
                    if matches!(p.linktype, LT_ETHERNET | LT_SLL | LT_SLL2) {
                        for et in [0x0806, 0x8035] {
                            if p.is_type(et, shift)? {
                                return Ok((s && m(b + 14)?) || (d && m(b + 24)?));
                            }
                        }
                    }
                    Ok(false)
                }
                Net::V6 { addr, mask } => {
                    if !p.is_type(0x86dd, shift)? {
                        return Ok(false);
                    }
                    let m = |off: usize| -> R<bool> { Ok(p.u128(off)? & mask == addr) };
                    Ok((s && m(b + 8)?) || (d && m(b + 24)?))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(lt: u16, data: &[u8]) -> PacketRef<'_> {
        PacketRef { linktype: lt, data, wirelen: data.len() as u32, big_endian: false }
    }

    #[test]
    fn raw_linktypes_have_no_test_field() {
        let f = Filter::parse("ip").unwrap();
        let g = Filter::parse("ip6").unwrap();
        let junk = [0u8; 4];
        assert!(f.matches(&pkt(LT_IPV4, &junk)) && !g.matches(&pkt(LT_IPV4, &junk)));
        assert!(!f.matches(&pkt(LT_IPV6, &junk)) && g.matches(&pkt(LT_IPV6, &junk)));
        assert!(!Filter::parse("arp").unwrap().matches(&pkt(LT_IPV4, &junk)));
    }

    #[test]
    fn out_of_bounds_rejects_even_under_not() {
        let f = Filter::parse("not port 80").unwrap();
        // Ethernet IPv4 header cut before the ports.
        let mut d = vec![0u8; 12];
        d.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0]);
        d.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(!f.matches(&pkt(LT_ETHERNET, &d)));
    }

    #[test]
    fn loop_and_null_families() {
        let f = Filter::parse("ip6").unwrap();
        assert!(f.matches(&pkt(LT_LOOP, &[0, 0, 0, 30])));
        assert!(f.matches(&pkt(LT_NULL, &[30, 0, 0, 0])));
        assert!(!f.matches(&pkt(LT_NULL, &[0, 0, 0, 30])));
        let sll2 = Filter::parse("ip").unwrap();
        assert!(sll2.matches(&pkt(LT_SLL2, &[0x08, 0x00])));
    }
}
