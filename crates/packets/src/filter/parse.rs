//! The parser: tokens with columns, then `expr := term (op term)*` with equal precedence
//! left to right, as pcap-filter has it.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{Dir, Family, Net, Node, Prim};
use crate::error::FilterError;

struct Tok<'a> {
    text: &'a str,
    col: usize,
}

fn tokenize(s: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c == b'(' || c == b')' || c == b'!' {
            i += 1;
        } else if (c == b'&' || c == b'|') && b.get(i + 1) == Some(&c) {
            i += 2;
        } else {
            while i < b.len() && !b"()!&| \t\r\n".contains(&b[i]) {
                i += 1;
            }
            if i == start {
                i += 1; // a lone '&' or '|': a token of its own, refused by the parser
            }
        }
        out.push(Tok { text: s.get(start..i).unwrap_or_default(), col: start + 1 });
    }
    out
}

struct Parser<'a> {
    text: &'a str,
    toks: Vec<Tok<'a>>,
    i: usize,
    shift: usize,
}

/// Parses a whole expression; the empty string is [`Node::True`].
pub fn parse(text: &str) -> Result<Node, FilterError> {
    let mut p = Parser { text, toks: tokenize(text), i: 0, shift: 0 };
    if p.toks.is_empty() {
        return Ok(Node::True);
    }
    let e = p.expr()?;
    if let Some(t) = p.toks.get(p.i) {
        return Err(p.err_at(t.col, format!("unexpected {:?}", t.text)));
    }
    Ok(e)
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.toks.get(self.i).map(|t| t.text)
    }

    fn col(&self) -> usize {
        self.toks.get(self.i).map(|t| t.col).unwrap_or(self.text.len() + 1)
    }

    fn err_at(&self, column: usize, problem: String) -> FilterError {
        FilterError { filter: self.text.to_string(), column, problem }
    }

    fn err(&self, problem: impl Into<String>) -> FilterError {
        self.err_at(self.col(), problem.into())
    }

    fn take(&mut self) -> Option<&'a str> {
        let t = self.peek();
        self.i += 1;
        t
    }

    fn expr(&mut self) -> Result<Node, FilterError> {
        let mut left = self.term()?;
        while let Some(op) = self.peek() {
            let and = match op {
                "and" | "&&" => true,
                "or" | "||" => false,
                _ => break,
            };
            self.i += 1;
            let right = self.term()?;
            left = if and {
                Node::And(Box::new(left), Box::new(right))
            } else {
                Node::Or(Box::new(left), Box::new(right))
            };
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Node, FilterError> {
        match self.peek() {
            Some("not") | Some("!") => {
                self.i += 1;
                Ok(Node::Not(Box::new(self.term()?)))
            }
            Some("(") => {
                self.i += 1;
                let e = self.expr()?;
                if self.peek() != Some(")") {
                    return Err(self.err("expected \")\""));
                }
                self.i += 1;
                Ok(e)
            }
            None => Err(self.err("expression expected at the end")),
            Some(_) => Ok(Node::Prim(self.primitive()?)),
        }
    }

    fn number(&mut self, max: u64) -> Result<u64, FilterError> {
        let col = self.col();
        let t = self.take().ok_or_else(|| self.err_at(col, "number expected".into()))?;
        match t.parse::<u64>() {
            Ok(n) if n <= max && t.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
            _ => Err(self.err_at(col, format!("number 0..{max} expected, got {t:?}"))),
        }
    }

    fn primitive(&mut self) -> Result<Prim, FilterError> {
        let shift = self.shift;
        let col = self.col();
        let mut tok = self.take().unwrap_or_default();
        let mut proto = None;
        if matches!(tok, "tcp" | "udp")
            && matches!(self.peek(), Some("port" | "portrange" | "src" | "dst"))
        {
            proto = Some(if tok == "tcp" { 6u8 } else { 17 });
            tok = self.take().unwrap_or_default();
        }
        let mut dir = Dir::Any;
        if matches!(tok, "src" | "dst") {
            dir = if tok == "src" { Dir::Src } else { Dir::Dst };
            tok = self.take().unwrap_or_default();
        }
        match tok {
            "host" | "net" => {
                if proto.is_some() {
                    return Err(self.err_at(col, format!("tcp/udp {tok} is not in the subset")));
                }
                let acol = self.col();
                let arg =
                    self.take().ok_or_else(|| self.err_at(acol, "address expected".into()))?;
                let net = if tok == "host" { host(arg) } else { network(arg) }
                    .map_err(|p| self.err_at(acol, p))?;
                return Ok(Prim::Addr { dir, net, shift });
            }
            "port" => {
                let p = self.number(65535)? as u16;
                return Ok(Prim::Port { proto, dir, lo: p, hi: p, shift });
            }
            "portrange" => {
                let acol = self.col();
                let arg = self.take().unwrap_or_default();
                let bad = || self.err_at(acol, format!("portrange N-M expected, got {arg:?}"));
                let (a, b) = arg.split_once('-').ok_or_else(bad)?;
                let a: u16 = a.parse().map_err(|_| bad())?;
                let b: u16 = b.parse().map_err(|_| bad())?;
                return Ok(Prim::Port { proto, dir, lo: a.min(b), hi: a.max(b), shift });
            }
            _ => {}
        }
        if proto.is_some() || dir != Dir::Any {
            return Err(
                self.err_at(col, "src/dst/tcp/udp must be followed by host, net or port".into())
            );
        }
        Ok(match tok {
            "ip" | "ip6" if self.peek() == Some("proto") => {
                self.i += 1;
                let family = if tok == "ip" { Family::Ip } else { Family::Ip6 };
                Prim::Proto { family, proto: self.number(255)? as u8, shift }
            }
            "tcp" => Prim::L4 { proto: 6, shift },
            "udp" => Prim::L4 { proto: 17, shift },
            "icmp" => Prim::Proto { family: Family::Ip, proto: 1, shift },
            "icmp6" => Prim::Proto { family: Family::Ip6, proto: 58, shift },
            "ip" => Prim::Link { ethertype: 0x0800, shift },
            "ip6" => Prim::Link { ethertype: 0x86dd, shift },
            "arp" => Prim::Link { ethertype: 0x0806, shift },
            "vlan" => {
                let id = match self.peek() {
                    Some(t) if t.bytes().all(|b| b.is_ascii_digit()) => {
                        Some(self.number(4095)? as u16)
                    }
                    _ => None,
                };
                self.shift += 4;
                Prim::Vlan { id, shift }
            }
            "less" => Prim::Less(self.number(u64::from(u32::MAX))? as u32),
            "greater" => Prim::Greater(self.number(u64::from(u32::MAX))? as u32),
            "" => return Err(self.err_at(col, "primitive expected".into())),
            other => return Err(self.err_at(col, format!("unknown primitive {other:?}"))),
        })
    }
}

fn host(arg: &str) -> Result<Net, String> {
    if let Ok(a) = arg.parse::<Ipv4Addr>() {
        return Ok(Net::V4 { addr: u32::from(a), mask: u32::MAX });
    }
    if let Ok(a) = arg.parse::<Ipv6Addr>() {
        return Ok(Net::V6 { addr: u128::from(a), mask: u128::MAX });
    }
    Err(format!("host takes an IPv4 or IPv6 address, got {arg:?} (names are not in the subset)"))
}

fn network(arg: &str) -> Result<Net, String> {
    let bad = || format!("net takes ADDR/LEN, got {arg:?}");
    let (a, len) = arg.split_once('/').ok_or_else(bad)?;
    let len: u32 = len.parse().map_err(|_| bad())?;
    if let Ok(a) = a.parse::<Ipv4Addr>() {
        if len > 32 {
            return Err(bad());
        }
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        let addr = u32::from(a);
        if addr & !mask != 0 {
            return Err(format!("{arg}: non-network bits set in the address"));
        }
        return Ok(Net::V4 { addr, mask });
    }
    if let Ok(a) = a.parse::<Ipv6Addr>() {
        if len > 128 {
            return Err(bad());
        }
        let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
        let addr = u128::from(a);
        if addr & !mask != 0 {
            return Err(format!("{arg}: non-network bits set in the address"));
        }
        return Ok(Net::V6 { addr, mask });
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar_and_errors() {
        assert_eq!(parse("").unwrap(), Node::True);
        assert!(parse("tcp and (port 80 or !udp) && vlan 5 || less 10").is_ok());
        for (bad, col) in [
            ("host a or b", 6),
            ("ether host 1.2.3.4", 1),
            ("port http", 6),
            ("tcp and", 8),
            ("(tcp", 5),
            ("net 10.0.0.1/8", 5),
            ("tcp host 1.2.3.4", 5),
            ("src tcp", 1),
            ("tcp )", 5),
            ("port 70000", 6),
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.column, col, "{bad}: {e}");
        }
    }

    #[test]
    fn vlan_shift_is_sticky() {
        let Node::Or(a, b) = parse("vlan or ip").unwrap() else { panic!() };
        assert_eq!(*a, Node::Prim(Prim::Vlan { id: None, shift: 0 }));
        assert_eq!(*b, Node::Prim(Prim::Link { ethertype: 0x0800, shift: 4 }));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in "[ -~]{0,60}") {
            let _ = parse(&s);
        }
    }
}
