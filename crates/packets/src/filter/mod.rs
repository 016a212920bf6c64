//! The filter language (spec §5): a documented subset of pcap-filter(7), parsed by our
//! own code and evaluated on the packet bytes with libpcap 1.10's semantics for saved
//! files — fixed offsets after the link header, the sticky `vlan` shift, one look through
//! an IPv6 fragment header, and "a load past caplen rejects the whole packet".
//!
//! One parser serves class filters, the capture filter and `--filter` queries.

mod eval;
mod parse;

pub use eval::PacketRef;

use crate::error::FilterError;

/// Which side of a packet a primitive looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Either.
    Any,
    /// Source only.
    Src,
    /// Destination only.
    Dst,
}

/// An address with its prefix mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    /// IPv4 network.
    V4 {
        /// Network address.
        addr: u32,
        /// Mask.
        mask: u32,
    },
    /// IPv6 network.
    V6 {
        /// Network address.
        addr: u128,
        /// Mask.
        mask: u128,
    },
}

/// An IP family for `ip proto` / `ip6 proto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4 rule.
    Ip,
    /// IPv6 rule.
    Ip6,
}

/// One primitive; `shift` is the sum of the `vlan` shifts written before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prim {
    /// `[src|dst] host ADDR`, `[src|dst] net ADDR/LEN`.
    Addr {
        /// Side.
        dir: Dir,
        /// Network.
        net: Net,
        /// VLAN shift.
        shift: usize,
    },
    /// `[tcp|udp] [src|dst] port N` and `portrange N-M`.
    Port {
        /// Narrowed protocol (6 or 17), or any of tcp/udp/sctp.
        proto: Option<u8>,
        /// Side.
        dir: Dir,
        /// Lowest port.
        lo: u16,
        /// Highest port.
        hi: u16,
        /// VLAN shift.
        shift: usize,
    },
    /// `ip proto N`, `icmp`, `ip6 proto N`, `icmp6`.
    Proto {
        /// Which rule.
        family: Family,
        /// The protocol number.
        proto: u8,
        /// VLAN shift.
        shift: usize,
    },
    /// `tcp`, `udp`: IPv4 protocol or the IPv6 rule.
    L4 {
        /// 6 or 17.
        proto: u8,
        /// VLAN shift.
        shift: usize,
    },
    /// `ip`, `ip6`, `arp`: the link layer's type test.
    Link {
        /// 0x0800, 0x86dd or 0x0806.
        ethertype: u16,
        /// VLAN shift.
        shift: usize,
    },
    /// `vlan [ID]`.
    Vlan {
        /// The VLAN id to match, if given.
        id: Option<u16>,
        /// VLAN shift before this primitive.
        shift: usize,
    },
    /// `less N`: wire length ≤ N.
    Less(u32),
    /// `greater N`: wire length ≥ N.
    Greater(u32),
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// The empty filter: matches everything.
    True,
    /// Both.
    And(Box<Node>, Box<Node>),
    /// Either.
    Or(Box<Node>, Box<Node>),
    /// Negation.
    Not(Box<Node>),
    /// A primitive.
    Prim(Prim),
}

/// A compiled filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    text: String,
    root: Node,
    uses_vlan: bool,
}

impl Filter {
    /// Parses `text`; an error names the column.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let root = parse::parse(text)?;
        let uses_vlan = node_uses_vlan(&root);
        Ok(Filter { text: text.to_string(), root, uses_vlan })
    }

    /// The filter that matches everything.
    pub fn all() -> Filter {
        Filter { text: String::new(), root: Node::True, uses_vlan: false }
    }

    /// True for the empty filter.
    pub fn is_all(&self) -> bool {
        self.root == Node::True
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The syntax tree.
    pub fn root(&self) -> &Node {
        &self.root
    }

    /// Whether the packet matches, with libpcap's semantics.
    pub fn matches(&self, p: &PacketRef<'_>) -> bool {
        eval::matches(self, p)
    }
}

fn node_uses_vlan(n: &Node) -> bool {
    match n {
        Node::True => false,
        Node::And(a, b) | Node::Or(a, b) => node_uses_vlan(a) || node_uses_vlan(b),
        Node::Not(a) => node_uses_vlan(a),
        Node::Prim(p) => matches!(p, Prim::Vlan { .. }),
    }
}
