//! The third synthetic capture of the data README's to-do, generated here: pcapng with
//! Simple Packet Blocks, an obsolete Packet Block, two sections (one big-endian),
//! `if_tsoffset`, `if_tsresol` and a block of unknown type.

use std::path::Path;

use vantage_packets::{CaptureReader, ReadError};

struct Ng {
    big: bool,
    out: Vec<u8>,
}

impl Ng {
    fn u16(&self, v: u16) -> [u8; 2] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn u32(&self, v: u32) -> [u8; 4] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn block(&mut self, btype: u32, body: &[u8]) -> usize {
        let at = self.out.len();
        let mut b = body.to_vec();
        b.resize(body.len().div_ceil(4) * 4, 0);
        let len = 12 + b.len() as u32;
        let (t, l) = (self.u32(btype), self.u32(len));
        self.out.extend_from_slice(&t);
        self.out.extend_from_slice(&l);
        self.out.extend_from_slice(&b);
        self.out.extend_from_slice(&l);
        at
    }
    fn shb(&mut self, big: bool) {
        self.big = big;
        let mut b = self.u32(0x1A2B_3C4D).to_vec();
        b.extend_from_slice(&self.u16(1));
        b.extend_from_slice(&self.u16(0));
        b.extend_from_slice(&[0xff; 8]);
        self.block(0x0A0D_0D0A, &b);
    }
    fn idb(&mut self, linktype: u16, opts: &[(u16, Vec<u8>)]) {
        let mut b = self.u16(linktype).to_vec();
        b.extend_from_slice(&self.u16(0));
        b.extend_from_slice(&self.u32(0));
        for (code, val) in opts {
            b.extend_from_slice(&self.u16(*code));
            b.extend_from_slice(&self.u16(val.len() as u16));
            b.extend_from_slice(val);
            b.resize(b.len().div_ceil(4) * 4, 0);
        }
        b.extend_from_slice(&[0; 4]);
        self.block(1, &b);
    }
    fn epb(&mut self, btype: u32, ifid: u32, ticks: u64, data: &[u8], wirelen: u32) {
        let mut b = if btype == 6 {
            self.u32(ifid).to_vec()
        } else {
            let mut v = self.u16(ifid as u16).to_vec();
            v.extend_from_slice(&self.u16(0));
            v
        };
        b.extend_from_slice(&self.u32((ticks >> 32) as u32));
        b.extend_from_slice(&self.u32(ticks as u32));
        b.extend_from_slice(&self.u32(data.len() as u32));
        b.extend_from_slice(&self.u32(wirelen));
        b.extend_from_slice(data);
        self.block(btype, &b);
    }
}

fn build() -> (Vec<u8>, usize) {
    let mut ng = Ng { big: false, out: Vec::new() };
    ng.shb(false);
    let offset = 100i64.to_le_bytes().to_vec();
    ng.idb(1, &[(2, b"eth0".to_vec()), (14, offset)]);
    ng.epb(6, 0, 1_700_000_000_000_001, &[0xaa; 20], 60);
    let mut spb = ng.u32(30).to_vec();
    spb.extend_from_slice(&[0xbb; 30]);
    ng.block(3, &spb);
    let unknown = ng.block(0x0000_0B0E, &[1, 2, 3, 4]);
    ng.epb(2, 0, 1_700_000_000_000_002, &[0xcc; 10], 10);
    ng.shb(true);
    ng.idb(101, &[(9, vec![9])]);
    ng.epb(6, 0, 1_700_000_000_123_456_789, &[0x45; 20], 20);
    (ng.out, unknown)
}

#[test]
fn spb_pb_sections_big_endian_offsets_and_unknown_blocks() {
    let (bytes, unknown) = build();
    let mut r = CaptureReader::new(Path::new("synth.pcapng"), &bytes[..]).unwrap();
    let mut got = Vec::new();
    while let Some(f) = r.next_frame().unwrap() {
        got.push((f.ts_ns, f.data.len(), f.wirelen, f.ifid, f.linktype, f.big_endian));
    }
    let s = 1_000_000_000i64;
    assert_eq!(
        got,
        vec![
            (1_700_000_000 * s + 1000 + 100 * s, 20, 60, 0, 1, false),
            (100 * s, 30, 30, 0, 1, false),
            (1_700_000_000 * s + 2000 + 100 * s, 10, 10, 0, 1, false),
            (1_700_000_000_123_456_789, 20, 20, 1, 101, true),
        ]
    );
    assert_eq!(r.interfaces()[0].name.as_deref(), Some("eth0"));
    assert_eq!(r.warnings().len(), 1);
    assert!(
        r.warnings()[0].contains(&format!("offset {unknown}: unknown pcapng block type")),
        "{:?}",
        r.warnings()
    );
}

#[test]
fn truncated_pcapng_names_the_block() {
    let (bytes, _) = build();
    for n in 1..bytes.len() {
        let mut r = match CaptureReader::new(Path::new("t.pcapng"), &bytes[..n]) {
            Ok(r) => r,
            Err(e) => {
                assert!(e.offset() == Some(0), "{e}");
                continue;
            }
        };
        let mut err = None;
        loop {
            match r.next_frame() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = err {
            let msg = e.to_string();
            assert!(matches!(e, ReadError::Truncated { .. }), "{n}: {msg}");
            assert!(msg.contains("truncated block") && msg.contains(" of "), "{n}: {msg}");
        }
    }
}

#[test]
fn undefined_interface_is_an_error() {
    let mut ng = Ng { big: false, out: Vec::new() };
    ng.shb(false);
    ng.idb(1, &[]);
    let at = ng.out.len();
    ng.epb(6, 3, 0, &[0; 4], 4);
    let mut r = CaptureReader::new(Path::new("u.pcapng"), &ng.out[..]).unwrap();
    let e = r.next_frame().unwrap_err();
    assert_eq!(e.offset(), Some(at as u64));
    assert!(e.to_string().contains("undefined interface 3"), "{e}");
}
