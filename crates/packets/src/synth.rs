//! Synthetic traffic for the demo, tests and benchmarks: many short TCP connections
//! (responses log-uniform from 300 bytes to 64 KB, as web objects are heavy-tailed), a
//! few bulk transfers, DNS over UDP and some IPv6, as Ethernet frames in time order.
//!
//! Deterministic (a seeded xorshift), generated in code so that nothing depends on the
//! conformance data; checksums are left zero, as tcpdump and Wireshark accept.

use std::io::{self, Write};
use std::path::Path;

use crate::capture::Frame;
use crate::pcapout::OutputWriter;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct SynthOptions {
    /// PRNG seed.
    pub seed: u64,
    /// Short TCP connections (handshake, request, response, teardown).
    pub short_conns: usize,
    /// Bulk TCP transfers.
    pub bulk_conns: usize,
    /// Payload bytes per bulk transfer.
    pub bulk_bytes: usize,
    /// DNS query/response pairs.
    pub dns: usize,
    /// Share of connections over IPv6, percent.
    pub ipv6_pct: u8,
    /// Time of the first packet (ns).
    pub start_ns: i64,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            seed: 7,
            short_conns: 200,
            bulk_conns: 4,
            bulk_bytes: 400_000,
            dns: 100,
            ipv6_pct: 20,
            start_ns: 1_700_000_000_000_000_000,
        }
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[derive(Clone, Copy)]
struct End {
    v6: bool,
    addr: [u8; 16],
    port: u16,
    mac: [u8; 6],
}

fn frame(src: &End, dst: &End, proto: u8, l4: &[u8], payload_len: usize, ts: i64) -> Frame {
    let mut d = Vec::with_capacity(14 + 40 + l4.len() + payload_len);
    d.extend_from_slice(&dst.mac);
    d.extend_from_slice(&src.mac);
    if src.v6 {
        d.extend_from_slice(&[0x86, 0xdd]);
        let plen = (l4.len() + payload_len) as u16;
        d.extend_from_slice(&[0x60, 0, 0, 0]);
        d.extend_from_slice(&plen.to_be_bytes());
        d.extend_from_slice(&[proto, 64]);
        d.extend_from_slice(&src.addr);
        d.extend_from_slice(&dst.addr);
    } else {
        d.extend_from_slice(&[0x08, 0x00]);
        let tot = (20 + l4.len() + payload_len) as u16;
        d.extend_from_slice(&[0x45, 0]);
        d.extend_from_slice(&tot.to_be_bytes());
        d.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
        d.extend_from_slice(&src.addr[12..]);
        d.extend_from_slice(&dst.addr[12..]);
    }
    d.extend_from_slice(l4);
    d.resize(d.len() + payload_len, 0x61);
    let wirelen = d.len() as u32;
    Frame { ts_ns: ts, wirelen, ifid: 0, linktype: 1, big_endian: false, data: d }
}

fn tcp(src: &End, dst: &End, seq: u32, flags: u8, payload: usize, ts: i64) -> Frame {
    let mut h = Vec::with_capacity(20);
    h.extend_from_slice(&src.port.to_be_bytes());
    h.extend_from_slice(&dst.port.to_be_bytes());
    h.extend_from_slice(&seq.to_be_bytes());
    h.extend_from_slice(&0u32.to_be_bytes());
    h.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    frame(src, dst, 6, &h, payload, ts)
}

fn udp(src: &End, dst: &End, payload: usize, ts: i64) -> Frame {
    let mut h = Vec::with_capacity(8);
    h.extend_from_slice(&src.port.to_be_bytes());
    h.extend_from_slice(&dst.port.to_be_bytes());
    h.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    frame(src, dst, 17, &h, payload, ts)
}

/// Streams synthetic frames, in time order, to `sink`; stops early when it returns false.
pub fn generate(opts: &SynthOptions, mut sink: impl FnMut(Frame) -> bool) {
    let mut rng = Rng(opts.seed.max(1));
    let mut t = opts.start_ns;
    let host = |rng: &mut Rng, v6: bool, client: bool| -> End {
        let mut addr = [0u8; 16];
        let n = rng.below(250) as u8 + 1;
        if v6 {
            addr[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
            addr[15] = n;
            addr[14] = if client { 1 } else { 2 };
        } else {
            addr[10] = 0xff;
            addr[11] = 0xff;
            addr[12..].copy_from_slice(&if client { [10, 0, 0, n] } else { [192, 0, 2, n] });
        }
        let port = if client { 1024 + rng.below(60000) as u16 } else { 80 };
        End { v6, addr, port, mac: [2, 0, 0, 0, u8::from(client), n] }
    };
    let total = opts.short_conns + opts.bulk_conns + opts.dns;
    let bulk_every = if opts.bulk_conns == 0 { usize::MAX } else { total / opts.bulk_conns.max(1) };
    let (mut shorts, mut bulks, mut dnss) = (0, 0, 0);
    for i in 0..total {
        let v6 = rng.below(100) < u64::from(opts.ipv6_pct);
        let kind = if bulks < opts.bulk_conns && i % bulk_every.max(1) == 0 {
            bulks += 1;
            1
        } else if shorts < opts.short_conns && (dnss >= opts.dns || rng.below(3) > 0) {
            shorts += 1;
            0
        } else if dnss < opts.dns {
            dnss += 1;
            2
        } else {
            shorts += 1;
            0
        };
        let c = host(&mut rng, v6, true);
        let mut s = host(&mut rng, v6, false);
        let step = 200_000 + rng.below(800_000) as i64; // 0.2-1 ms between packets
        let mut send = |f: Frame| sink(f);
        match kind {
            2 => {
                s.port = 53;
                if !send(udp(&c, &s, 30 + rng.below(20) as usize, t)) {
                    return;
                }
                t += step;
                if !send(udp(&s, &c, 80 + rng.below(200) as usize, t)) {
                    return;
                }
            }
            _ => {
                s.port = if kind == 1 { 443 } else { 80 };
                // Web objects are heavy-tailed: log-uniform from 300 bytes to 64 KB.
                let u = rng.below(1_000_000) as f64 / 1e6;
                let short = (300.0 * (65_536.0f64 / 300.0).powf(u)) as usize;
                let bytes = if kind == 1 { opts.bulk_bytes } else { short };
                let mut pk = vec![
                    (c, s, 0x02u8, 0usize),
                    (s, c, 0x12, 0),
                    (c, s, 0x10, 0),
                    (c, s, 0x18, 200),
                ];
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(1448);
                    pk.push((s, c, 0x10, n));
                    left -= n;
                }
                pk.extend([(c, s, 0x11, 0), (s, c, 0x11, 0), (c, s, 0x10, 0)]);
                for (seq, (a, b, fl, n)) in pk.into_iter().enumerate() {
                    if !send(tcp(&a, &b, seq as u32, fl, n, t)) {
                        return;
                    }
                    t += step / 4;
                }
            }
        }
        t += step;
    }
}

/// Writes frames as a microsecond pcap (what `tcpdump -w` writes).
pub fn write_pcap(path: &Path, opts: &SynthOptions) -> io::Result<u64> {
    let file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut w = OutputWriter::new(file, &[1], false, true)?;
    let mut err = None;
    generate(opts, |f| match w.write(f.linktype, f.ts_ns, f.wirelen, &f.data) {
        Ok(()) => true,
        Err(e) => {
            err = Some(e);
            false
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    let n = w.bytes;
    w.finish()?.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_ordered_and_mixed() {
        let mut frames = Vec::new();
        generate(
            &SynthOptions {
                short_conns: 20,
                bulk_conns: 1,
                bulk_bytes: 20_000,
                dns: 10,
                ..Default::default()
            },
            |f| {
                frames.push(f);
                true
            },
        );
        assert!(frames.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
        let v6 = frames.iter().filter(|f| f.data[12..14] == [0x86, 0xdd]).count();
        assert!(v6 > 0 && v6 < frames.len());
        let d = crate::decode::decode(1, &frames[0].data, false);
        assert!(d.l3 != crate::decode::L3::None);
    }
}
