//! The stored body of an update (`passive_updates.body`): a versioned encoding that
//! round-trips to the canonical parsed form (spec §3).
//!
//! Layout: 4 bytes of magic and major version, then an LZ4 block (its uncompressed size
//! prepended, little-endian u32) of the fields in [`Update`] order:
//!
//! * `PU2\0` (written): integers as LEB128 varints (signed ones zigzag-encoded), strings
//!   as a length and UTF-8 bytes, options as a 0/1 byte then the value, lists as a count
//!   then the items; packet times as deltas from the previous packet. About 4 bytes per
//!   packet before LZ4, and decoded without allocation per packet.
//! * `PU1\0` (read only): the canonical JSON, as the first version stored it.
//!
//! Reads are bounds-checked: a damaged body is a [`CodecError`], never a panic.

use crate::update::{
    ARecord, Address, CnameRecord, DroppedPackets, Flow, HttpUrl, Packet, Warning,
};
use crate::Update;

const MAGIC_JSON: &[u8; 4] = b"PU1\0";
const MAGIC: &[u8; 4] = b"PU2\0";

/// A stored body that cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Another magic or version.
    #[error("stored update body: unknown encoding (magic {0:?}); re-ingest the archive")]
    Magic(Vec<u8>),
    /// The LZ4 block is damaged.
    #[error("stored update body: {0}")]
    Lz4(String),
    /// The JSON does not describe an update.
    #[error("stored update body: {0}")]
    Json(String),
    /// The binary fields end early or hold an impossible value.
    #[error("stored update body: damaged at byte {0}")]
    Damaged(usize),
}

struct W(Vec<u8>);

impl W {
    fn u(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(b);
                return;
            }
            self.0.push(b | 0x80);
        }
    }
    fn i(&mut self, v: i64) {
        self.u(((v << 1) ^ (v >> 63)) as u64);
    }
    fn s(&mut self, v: &str) {
        self.u(v.len() as u64);
        self.0.extend_from_slice(v.as_bytes());
    }
    fn b(&mut self, v: bool) {
        self.0.push(u8::from(v));
    }
    fn oi(&mut self, v: Option<i64>) {
        match v {
            None => self.b(false),
            Some(x) => {
                self.b(true);
                self.i(x);
            }
        }
    }
}

struct R<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> R<'a> {
    fn fail(&self) -> CodecError {
        CodecError::Damaged(self.pos)
    }
    fn byte(&mut self) -> Result<u8, CodecError> {
        let b = *self.buf.get(self.pos).ok_or_else(|| self.fail())?;
        self.pos += 1;
        Ok(b)
    }
    fn u(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.fail())
    }
    fn i(&mut self) -> Result<i64, CodecError> {
        let v = self.u()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }
    fn n<T: TryFrom<i64>>(&mut self) -> Result<T, CodecError> {
        let v = self.i()?;
        T::try_from(v).map_err(|_| self.fail())
    }
    fn len(&mut self) -> Result<usize, CodecError> {
        let v = self.u()?;
        // A count can never exceed the bytes left: each item takes at least one byte.
        usize::try_from(v)
            .ok()
            .filter(|&n| n <= self.buf.len() - self.pos)
            .ok_or_else(|| self.fail())
    }
    fn s(&mut self) -> Result<String, CodecError> {
        let n = self.len()?;
        let bytes = self.buf.get(self.pos..self.pos + n).ok_or_else(|| self.fail())?;
        self.pos += n;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.fail())
    }
    fn b(&mut self) -> Result<bool, CodecError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.fail()),
        }
    }
    fn oi(&mut self) -> Result<Option<i64>, CodecError> {
        Ok(if self.b()? { Some(self.i()?) } else { None })
    }
    fn on<T: TryFrom<i64>>(&mut self) -> Result<Option<T>, CodecError> {
        match self.oi()? {
            None => Ok(None),
            Some(v) => T::try_from(v).map(Some).map_err(|_| self.fail()),
        }
    }
}

fn write_fields(w: &mut W, u: &Update) {
    w.i(i64::from(u.file_format_version));
    w.s(&u.build_id);
    w.s(&u.node_id);
    w.i(u.session_id);
    w.i(i64::from(u.sequence_number));
    w.i(u.created_at);
    w.oi(u.pcap_received.map(i64::from));
    w.oi(u.pcap_dropped.map(i64::from));
    w.oi(u.iface_dropped.map(i64::from));
    w.u(u.whitelist.len() as u64);
    for d in &u.whitelist {
        w.s(d);
    }
    match &u.anonymization_context {
        None => w.b(false),
        Some(c) => {
            w.b(true);
            w.s(c);
        }
    }
    w.i(i64::from(u.packet_series_dropped));
    w.u(u.packets.len() as u64);
    let mut prev = 0i64;
    for p in &u.packets {
        w.i(p.ts_us.wrapping_sub(prev));
        prev = p.ts_us;
        w.u(u64::from(p.size));
        w.i(i64::from(p.flow_id));
    }
    w.i(u.flow_table_baseline);
    w.i(i64::from(u.flow_table_size));
    w.i(i64::from(u.flow_table_expired));
    w.i(i64::from(u.flow_table_dropped));
    w.u(u.flows.len() as u64);
    for f in &u.flows {
        w.i(i64::from(f.flow_id));
        w.b(f.src_anonymized);
        w.s(&f.src_ip);
        w.b(f.dst_anonymized);
        w.s(&f.dst_ip);
        w.i(i64::from(f.protocol));
        w.i(i64::from(f.src_port));
        w.i(i64::from(f.dst_port));
    }
    w.i(i64::from(u.a_records_dropped));
    w.i(i64::from(u.cname_records_dropped));
    w.u(u.a_records.len() as u64);
    for a in &u.a_records {
        w.i(i64::from(a.packet_id));
        w.i(i64::from(a.address_id));
        w.b(a.anonymized);
        w.s(&a.domain);
        w.s(&a.ip);
        w.i(i64::from(a.ttl));
    }
    w.u(u.cname_records.len() as u64);
    for c in &u.cname_records {
        w.i(i64::from(c.packet_id));
        w.i(i64::from(c.address_id));
        w.b(c.domain_anonymized);
        w.s(&c.domain);
        w.b(c.cname_anonymized);
        w.s(&c.cname);
        w.i(i64::from(c.ttl));
    }
    w.i(i64::from(u.address_table_first_id));
    w.i(i64::from(u.address_table_size));
    w.u(u.addresses.len() as u64);
    for a in &u.addresses {
        w.s(&a.mac);
        w.s(&a.ip);
    }
    match &u.dropped_packets {
        None => w.b(false),
        Some(d) => {
            w.b(true);
            w.u(d.len() as u64);
            for e in d {
                w.i(i64::from(e.size));
                w.i(i64::from(e.count));
            }
        }
    }
    w.oi(u.http_urls_dropped.map(i64::from));
    w.u(u.http_urls.len() as u64);
    for h in &u.http_urls {
        w.i(i64::from(h.flow_id));
        w.s(&h.url_hash);
    }
    w.u(u.warnings.len() as u64);
    for x in &u.warnings {
        w.s(&x.section);
        w.u(x.line);
        w.s(&x.message);
    }
}

fn read_fields(r: &mut R<'_>) -> Result<Update, CodecError> {
    let mut u = Update {
        file_format_version: r.n()?,
        build_id: r.s()?,
        node_id: r.s()?,
        session_id: r.i()?,
        sequence_number: r.n()?,
        created_at: r.i()?,
        pcap_received: r.on()?,
        pcap_dropped: r.on()?,
        iface_dropped: r.on()?,
        ..Update::default()
    };
    for _ in 0..r.len()? {
        u.whitelist.push(r.s()?);
    }
    u.anonymization_context = if r.b()? { Some(r.s()?) } else { None };
    u.packet_series_dropped = r.n()?;
    let n = r.len()?;
    u.packets.reserve(n);
    let mut ts = 0i64;
    for _ in 0..n {
        ts = ts.wrapping_add(r.i()?);
        let size = u16::try_from(r.u()?).map_err(|_| r.fail())?;
        u.packets.push(Packet { ts_us: ts, size, flow_id: r.n()? });
    }
    u.flow_table_baseline = r.i()?;
    u.flow_table_size = r.n()?;
    u.flow_table_expired = r.n()?;
    u.flow_table_dropped = r.n()?;
    for _ in 0..r.len()? {
        u.flows.push(Flow {
            flow_id: r.n()?,
            src_anonymized: r.b()?,
            src_ip: r.s()?,
            dst_anonymized: r.b()?,
            dst_ip: r.s()?,
            protocol: r.n()?,
            src_port: r.n()?,
            dst_port: r.n()?,
        });
    }
    u.a_records_dropped = r.n()?;
    u.cname_records_dropped = r.n()?;
    for _ in 0..r.len()? {
        u.a_records.push(ARecord {
            packet_id: r.n()?,
            address_id: r.n()?,
            anonymized: r.b()?,
            domain: r.s()?,
            ip: r.s()?,
            ttl: r.n()?,
        });
    }
    for _ in 0..r.len()? {
        u.cname_records.push(CnameRecord {
            packet_id: r.n()?,
            address_id: r.n()?,
            domain_anonymized: r.b()?,
            domain: r.s()?,
            cname_anonymized: r.b()?,
            cname: r.s()?,
            ttl: r.n()?,
        });
    }
    u.address_table_first_id = r.n()?;
    u.address_table_size = r.n()?;
    for _ in 0..r.len()? {
        u.addresses.push(Address { mac: r.s()?, ip: r.s()? });
    }
    if r.b()? {
        let mut d = Vec::new();
        for _ in 0..r.len()? {
            d.push(DroppedPackets { size: r.n()?, count: r.n()? });
        }
        u.dropped_packets = Some(d);
    }
    u.http_urls_dropped = r.on()?;
    for _ in 0..r.len()? {
        u.http_urls.push(HttpUrl { flow_id: r.n()?, url_hash: r.s()? });
    }
    for _ in 0..r.len()? {
        u.warnings.push(Warning { section: r.s()?, line: r.u()?, message: r.s()? });
    }
    if r.pos != r.buf.len() {
        return Err(r.fail());
    }
    Ok(u)
}

/// Encodes an update.
pub fn encode(u: &Update) -> Vec<u8> {
    let mut w = W(Vec::with_capacity(64 + u.packets.len() * 5));
    write_fields(&mut w, u);
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&lz4_flex::block::compress_prepend_size(&w.0));
    out
}

/// Decodes a body written by [`encode`] (or by the JSON version 1).
pub fn decode(body: &[u8]) -> Result<Update, CodecError> {
    let (json, rest) =
        match (body.strip_prefix(MAGIC.as_slice()), body.strip_prefix(MAGIC_JSON.as_slice())) {
            (Some(rest), _) => (false, rest),
            (None, Some(rest)) => (true, rest),
            _ => return Err(CodecError::Magic(body.iter().take(4).copied().collect())),
        };
    let raw = lz4_flex::block::decompress_size_prepended(rest)
        .map_err(|e| CodecError::Lz4(e.to_string()))?;
    if json {
        return serde_json::from_slice(&raw).map_err(|e| CodecError::Json(e.to_string()));
    }
    read_fields(&mut R { buf: &raw, pos: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Update {
        let text = "5\nUNKNOWN\nOW1 -5 3 99\n1 2 3\n\nx.com\n\nsig\n\n100 0\n0 10 7\n-3 20 -1\n\n\
                    1 2 3 4\n7 1 aa 0 bb 6 1 2\n\n0 0\n0 0 0 x.com ip 30\n\n0 0 0 a 1 b 5\n\n0 256\nmac ip\n\n1 2\n\n";
        crate::parse_update(text).unwrap()
    }

    #[test]
    fn round_trip_every_field() {
        let mut u = sample();
        u.http_urls_dropped = Some(2);
        u.http_urls.push(HttpUrl { flow_id: 7, url_hash: "h".into() });
        u.warnings.push(Warning { section: "intro".into(), line: 3, message: "m".into() });
        u.anonymization_context = None;
        let b = encode(&u);
        assert_eq!(decode(&b).unwrap(), u);
    }

    #[test]
    fn version_1_json_still_reads() {
        let u = sample();
        let mut b = MAGIC_JSON.to_vec();
        b.extend_from_slice(&lz4_flex::block::compress_prepend_size(
            &serde_json::to_vec(&u).unwrap(),
        ));
        assert_eq!(decode(&b).unwrap(), u);
    }

    #[test]
    fn damage_is_an_error_never_a_panic() {
        let u = sample();
        let b = encode(&u);
        assert!(matches!(decode(b"XXXX"), Err(CodecError::Magic(_))));
        for n in 0..b.len() {
            assert!(decode(&b[..n]).is_err(), "prefix {n}");
        }
        let mut w = W(Vec::new());
        write_fields(&mut w, &u);
        for n in 0..w.0.len() {
            assert!(read_fields(&mut R { buf: &w.0[..n], pos: 0 }).is_err());
            let mut flipped = w.0.clone();
            flipped[n] ^= 0xff;
            let _ = read_fields(&mut R { buf: &flipped, pos: 0 });
        }
    }
}
