//! Writing pcap and pcapng: segments (nanosecond pcap, native byte order, spec §3.4) and
//! query results (§7: nanosecond pcap, `--micro` microsecond, pcapng for mixed link types
//! or on request, one interface per link type).

use std::io::{self, Write};

/// The snaplen written in every header we produce.
pub const SNAPLEN: u32 = 262_144;

/// The 24-byte pcap file header, native byte order.
pub fn pcap_header(linktype: u16, nanos: bool) -> [u8; 24] {
    let mut h = [0u8; 24];
    let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
    h[0..4].copy_from_slice(&magic.to_ne_bytes());
    h[4..6].copy_from_slice(&2u16.to_ne_bytes());
    h[6..8].copy_from_slice(&4u16.to_ne_bytes());
    h[16..20].copy_from_slice(&SNAPLEN.to_ne_bytes());
    h[20..24].copy_from_slice(&u32::from(linktype).to_ne_bytes());
    h
}

/// A pcap record header for a packet at `ts_ns`.
pub fn pcap_record_header(ts_ns: i64, caplen: u32, wirelen: u32, nanos: bool) -> [u8; 16] {
    let sec = ts_ns.div_euclid(1_000_000_000).clamp(0, i64::from(u32::MAX)) as u32;
    let ns = ts_ns.rem_euclid(1_000_000_000) as u32;
    let frac = if nanos { ns } else { ns / 1000 };
    let mut h = [0u8; 16];
    h[0..4].copy_from_slice(&sec.to_ne_bytes());
    h[4..8].copy_from_slice(&frac.to_ne_bytes());
    h[8..12].copy_from_slice(&caplen.to_ne_bytes());
    h[12..16].copy_from_slice(&wirelen.to_ne_bytes());
    h
}

/// Writes query output: pcap for one link type, pcapng when asked or when a second link
/// type appears. The link types must be known up front (the query collects first).
pub struct OutputWriter<W: Write> {
    out: W,
    pcapng: bool,
    nanos: bool,
    linktypes: Vec<u16>,
    /// Bytes written.
    pub bytes: u64,
}

impl<W: Write> OutputWriter<W> {
    /// Writes the header(s) for `linktypes` (at least one; the first is used when empty).
    pub fn new(mut out: W, linktypes: &[u16], force_pcapng: bool, micro: bool) -> io::Result<Self> {
        let mut lts: Vec<u16> = linktypes.to_vec();
        lts.dedup();
        if lts.is_empty() {
            lts.push(1);
        }
        let pcapng = force_pcapng || lts.len() > 1;
        let mut bytes = 0u64;
        if pcapng {
            // Section Header Block.
            let mut shb = Vec::new();
            shb.extend_from_slice(&0x0A0D_0D0Au32.to_ne_bytes());
            shb.extend_from_slice(&28u32.to_ne_bytes());
            shb.extend_from_slice(&0x1A2B_3C4Du32.to_ne_bytes());
            shb.extend_from_slice(&1u16.to_ne_bytes());
            shb.extend_from_slice(&0u16.to_ne_bytes());
            shb.extend_from_slice(&(-1i64).to_ne_bytes());
            shb.extend_from_slice(&28u32.to_ne_bytes());
            out.write_all(&shb)?;
            bytes += shb.len() as u64;
            for lt in &lts {
                // IDB with if_tsresol = 9 (ns) or 6 (µs).
                let mut idb = Vec::new();
                idb.extend_from_slice(&1u32.to_ne_bytes());
                idb.extend_from_slice(&32u32.to_ne_bytes());
                idb.extend_from_slice(&lt.to_ne_bytes());
                idb.extend_from_slice(&0u16.to_ne_bytes());
                idb.extend_from_slice(&SNAPLEN.to_ne_bytes());
                idb.extend_from_slice(&9u16.to_ne_bytes());
                idb.extend_from_slice(&1u16.to_ne_bytes());
                idb.extend_from_slice(&[if micro { 6 } else { 9 }, 0, 0, 0]);
                idb.extend_from_slice(&0u32.to_ne_bytes()); // opt_endofopt
                idb.extend_from_slice(&32u32.to_ne_bytes());
                out.write_all(&idb)?;
                bytes += idb.len() as u64;
            }
        } else {
            out.write_all(&pcap_header(lts[0], !micro))?;
            bytes += 24;
        }
        Ok(OutputWriter { out, pcapng, nanos: !micro, linktypes: lts, bytes })
    }

    /// Appends one packet.
    pub fn write(
        &mut self,
        linktype: u16,
        ts_ns: i64,
        wirelen: u32,
        data: &[u8],
    ) -> io::Result<()> {
        let caplen = u32::try_from(data.len()).unwrap_or(u32::MAX);
        if self.pcapng {
            let ifid = self.linktypes.iter().position(|l| *l == linktype).unwrap_or(0) as u32;
            let pad = (4 - data.len() % 4) % 4;
            let total = 32 + data.len() + pad;
            let ticks = if self.nanos { ts_ns } else { ts_ns.div_euclid(1000) };
            let ticks = ticks.max(0) as u64;
            let mut h = Vec::with_capacity(28);
            h.extend_from_slice(&6u32.to_ne_bytes());
            h.extend_from_slice(&(total as u32).to_ne_bytes());
            h.extend_from_slice(&ifid.to_ne_bytes());
            h.extend_from_slice(&((ticks >> 32) as u32).to_ne_bytes());
            h.extend_from_slice(&(ticks as u32).to_ne_bytes());
            h.extend_from_slice(&caplen.to_ne_bytes());
            h.extend_from_slice(&wirelen.to_ne_bytes());
            self.out.write_all(&h)?;
            self.out.write_all(data)?;
            self.out.write_all(&[0u8; 3][..pad])?;
            self.out.write_all(&(total as u32).to_ne_bytes())?;
            self.bytes += total as u64;
        } else {
            self.out.write_all(&pcap_record_header(ts_ns, caplen, wirelen, self.nanos))?;
            self.out.write_all(data)?;
            self.bytes += 16 + data.len() as u64;
        }
        Ok(())
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::CaptureReader;
    use std::path::Path;

    #[test]
    fn outputs_read_back() {
        for (lts, ng, micro) in
            [(vec![1u16], false, false), (vec![1], false, true), (vec![1, 101], false, false)]
        {
            let mut w = OutputWriter::new(Vec::new(), &lts, ng, micro).unwrap();
            w.write(1, 1_700_000_000_123_456_789, 64, b"abcdefghij").unwrap();
            w.write(*lts.last().unwrap(), 1_700_000_001_000_000_000, 3, b"xyz").unwrap();
            let bytes = w.finish().unwrap();
            let mut r = CaptureReader::new(Path::new("q"), &bytes[..]).unwrap();
            let a = r.next_frame().unwrap().unwrap();
            let b = r.next_frame().unwrap().unwrap();
            assert!(r.next_frame().unwrap().is_none());
            let want = if micro { 1_700_000_000_123_456_000 } else { 1_700_000_000_123_456_789 };
            assert_eq!((a.ts_ns, a.wirelen, &a.data[..]), (want, 64, &b"abcdefghij"[..]));
            assert_eq!((b.linktype, &b.data[..]), (*lts.last().unwrap(), &b"xyz"[..]));
        }
    }
}
