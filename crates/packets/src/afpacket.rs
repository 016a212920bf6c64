//! Live capture on Linux (spec §11): an AF_PACKET socket with a TPACKET_V3 ring mapped
//! into our memory, through raw syscalls (no libpcap, so the build needs no system
//! library).
//!
//! The kernel fills fixed-size blocks and hands each over by setting its status to
//! `TP_STATUS_USER`; we walk its packets and give the block back (`TP_STATUS_KERNEL`).
//! Every offset and length read from a block is checked against the block before use:
//! the memory is the kernel's, but a bad offset must cost a packet, never a panic or a
//! read outside the mapping. VLAN tags the kernel stripped are re-inserted so that frames
//! equal tcpdump's. Kernel drops come from `PACKET_STATISTICS` (reset on read, summed).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::capture::Frame;

const ETH_P_ALL: u16 = 0x0003;
const SOL_PACKET: libc::c_int = 263;
const PACKET_ADD_MEMBERSHIP: libc::c_int = 1;
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_VERSION: libc::c_int = 10;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const TPACKET_V3: libc::c_int = 2;
const PACKET_MR_PROMISC: libc::c_ushort = 1;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
const PACKET_OUTGOING: u8 = 4;
const BLOCK_SIZE: u32 = 1 << 22;
const FRAME_SIZE: u32 = 1 << 11;

#[repr(C)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

#[repr(C)]
struct PacketMreq {
    ifindex: libc::c_int,
    kind: libc::c_ushort,
    alen: libc::c_ushort,
    address: [u8; 8],
}

#[repr(C)]
#[derive(Default)]
struct TpacketStatsV3 {
    packets: u32,
    drops: u32,
    freeze_q_cnt: u32,
}

/// An open capture on one interface.
pub struct AfPacket {
    fd: OwnedFd,
    map: *mut u8,
    map_len: usize,
    blocks: usize,
    cur: usize,
    /// The interface index (flows' `if_index`).
    pub ifindex: u32,
    /// The link type of every frame (Ethernet and loopback 1, `ARPHRD_NONE` 101).
    pub linktype: u16,
    /// A loopback interface: each packet passes it twice (out, then in); as libpcap does,
    /// the outgoing copy is skipped so that frames equal tcpdump's.
    loopback: bool,
}

// SAFETY: the mapping is owned by this value alone and only touched through &mut self.
unsafe impl Send for AfPacket {}

fn last_err(what: &str, ifname: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("interface {ifname}: {what}: {e}"))
}

fn setsockopt<T>(fd: libc::c_int, opt: libc::c_int, v: &T) -> libc::c_int {
    // SAFETY: `v` points to a live T of the size given.
    unsafe {
        libc::setsockopt(
            fd,
            SOL_PACKET,
            opt,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    }
}

impl AfPacket {
    /// Opens `ifname` with a ring of about `ring_bytes` (at least two 4 MiB blocks);
    /// `promisc` puts the interface in promiscuous mode for the socket's life.
    pub fn open(ifname: &str, ring_bytes: u64, promisc: bool) -> io::Result<AfPacket> {
        let cname = std::ffi::CString::new(ifname)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name holds NUL"))?;
        // SAFETY: plain syscalls on a name we own; results checked.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("interface {ifname}: no such interface (see `ip link`)"),
            ));
        }
        // SAFETY: socket(2); the descriptor is owned at once.
        let raw = unsafe {
            libc::socket(libc::AF_PACKET, libc::SOCK_RAW, libc::c_int::from(ETH_P_ALL.to_be()))
        };
        if raw < 0 {
            return Err(last_err("socket (live capture needs root or CAP_NET_RAW)", ifname));
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let (linktype, loopback) = link_type(fd.as_raw_fd(), ifname)?;
        if setsockopt(fd.as_raw_fd(), PACKET_VERSION, &TPACKET_V3) != 0 {
            return Err(last_err("PACKET_VERSION TPACKET_V3", ifname));
        }
        // On loopback the outgoing copy of each packet is a duplicate: asking the kernel
        // not to queue it (Linux 4.20+) halves the ring's work; on an older kernel the
        // copies still come and are skipped while reading a block.
        if loopback {
            let _ = setsockopt(fd.as_raw_fd(), PACKET_IGNORE_OUTGOING, &1i32);
        }
        let blocks = (ring_bytes / u64::from(BLOCK_SIZE)).clamp(2, 4096) as u32;
        let req = TpacketReq3 {
            block_size: BLOCK_SIZE,
            block_nr: blocks,
            frame_size: FRAME_SIZE,
            frame_nr: BLOCK_SIZE / FRAME_SIZE * blocks,
            retire_blk_tov: 10, // ms: a quiet link still hands packets over promptly
            sizeof_priv: 0,
            feature_req_word: 0,
        };
        if setsockopt(fd.as_raw_fd(), PACKET_RX_RING, &req) != 0 {
            return Err(last_err("PACKET_RX_RING", ifname));
        }
        let map_len = BLOCK_SIZE as usize * blocks as usize;
        // SAFETY: maps the ring the kernel just allocated for this descriptor.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(last_err("mmap of the ring", ifname));
        }
        let cap = AfPacket {
            fd,
            map: map.cast(),
            map_len,
            blocks: blocks as usize,
            cur: 0,
            ifindex,
            linktype,
            loopback,
        };
        // SAFETY: sockaddr_ll is plain data; zeroed then filled.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETH_P_ALL.to_be();
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: bind(2) with a sockaddr_ll of the size given.
        let rc = unsafe {
            libc::bind(
                cap.fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(last_err("bind", ifname));
        }
        if promisc {
            let m = PacketMreq {
                ifindex: ifindex as i32,
                kind: PACKET_MR_PROMISC,
                alen: 0,
                address: [0; 8],
            };
            if setsockopt(cap.fd.as_raw_fd(), PACKET_ADD_MEMBERSHIP, &m) != 0 {
                return Err(last_err("promiscuous mode", ifname));
            }
        }
        // Counters start now, not at socket creation.
        let _ = cap.stats();
        Ok(cap)
    }

    /// Kernel counters since the last call: (received, dropped, queue freezes).
    pub fn stats(&self) -> io::Result<(u64, u64, u64)> {
        let mut st = TpacketStatsV3::default();
        let mut len = std::mem::size_of::<TpacketStatsV3>() as libc::socklen_t;
        // SAFETY: getsockopt(2) into a struct of the size given.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                SOL_PACKET,
                PACKET_STATISTICS,
                (&mut st as *mut TpacketStatsV3).cast(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((u64::from(st.packets), u64::from(st.drops), u64::from(st.freeze_q_cnt)))
    }

    fn block(&self, i: usize) -> *mut u8 {
        // SAFETY (of the caller's use): i < blocks, so the block lies inside the map.
        self.map.wrapping_add(i * BLOCK_SIZE as usize)
    }

    /// Waits up to `timeout_ms` for a block, then hands each of its frames to `each`
    /// (the frame is reused between calls). Returns the packets seen.
    pub fn next_block(
        &mut self,
        timeout_ms: i32,
        mut each: impl FnMut(&Frame),
    ) -> io::Result<usize> {
        let blk = self.block(self.cur);
        let status_ptr = blk.wrapping_add(8).cast::<u32>();
        // SAFETY: the block header lies in our mapping; the kernel writes it, hence volatile.
        let mut status = unsafe { std::ptr::read_volatile(status_ptr) };
        if status & TP_STATUS_USER == 0 {
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN | libc::POLLERR,
                revents: 0,
            };
            // SAFETY: poll(2) on one descriptor we own.
            let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
            if rc < 0 {
                let e = io::Error::last_os_error();
                return if e.kind() == io::ErrorKind::Interrupted { Ok(0) } else { Err(e) };
            }
            // SAFETY: as above.
            status = unsafe { std::ptr::read_volatile(status_ptr) };
            if status & TP_STATUS_USER == 0 {
                return Ok(0);
            }
        }
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        let bs = BLOCK_SIZE as usize;
        // SAFETY: the kernel has handed the whole block to us until we give it back.
        let bytes = unsafe { std::slice::from_raw_parts(blk.cast_const(), bs) };
        let u32_at = |o: usize| -> Option<u32> {
            bytes.get(o..o + 4).and_then(|b| b.try_into().ok()).map(u32::from_ne_bytes)
        };
        let u16_at = |o: usize| -> Option<u16> {
            bytes.get(o..o + 2).and_then(|b| b.try_into().ok()).map(u16::from_ne_bytes)
        };
        let num = u32_at(12).unwrap_or(0) as usize;
        let mut off = u32_at(16).unwrap_or(0) as usize;
        let mut f = Frame { linktype: self.linktype, ifid: self.ifindex, ..Default::default() };
        let mut seen = 0;
        for _ in 0..num {
            let (Some(next), Some(sec), Some(nsec), Some(snap), Some(len), Some(st), Some(mac)) = (
                u32_at(off),
                u32_at(off + 4),
                u32_at(off + 8),
                u32_at(off + 12),
                u32_at(off + 16),
                u32_at(off + 20),
                u16_at(off + 24),
            ) else {
                break;
            };
            // sockaddr_ll follows the header at TPACKET_ALIGN(sizeof tpacket3_hdr) = 48;
            // its sll_pkttype is byte 10.
            let outgoing = bytes.get(off + 48 + 10).copied() == Some(PACKET_OUTGOING);
            if self.loopback && outgoing {
                if next == 0 {
                    break;
                }
                off += next as usize;
                continue;
            }
            let start = off + mac as usize;
            let Some(data) = bytes.get(start..start + snap as usize) else { break };
            f.ts_ns = i64::from(sec) * 1_000_000_000 + i64::from(nsec);
            f.wirelen = len;
            f.data.clear();
            let tci = u32_at(off + 32).unwrap_or(0);
            if st & TP_STATUS_VLAN_VALID != 0 && self.linktype == 1 && data.len() >= 12 {
                let tpid = if st & TP_STATUS_VLAN_TPID_VALID != 0 {
                    u16_at(off + 36).unwrap_or(0x8100)
                } else {
                    0x8100
                };
                f.data.extend_from_slice(&data[..12]);
                f.data.extend_from_slice(&tpid.to_be_bytes());
                f.data.extend_from_slice(&(tci as u16).to_be_bytes());
                f.data.extend_from_slice(&data[12..]);
                f.wirelen = f.wirelen.saturating_add(4);
            } else {
                f.data.extend_from_slice(data);
            }
            each(&f);
            seen += 1;
            if next == 0 {
                break;
            }
            off += next as usize;
        }
        std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
        // SAFETY: gives the block back to the kernel; volatile as the kernel reads it.
        unsafe { std::ptr::write_volatile(status_ptr, TP_STATUS_KERNEL) };
        self.cur = (self.cur + 1) % self.blocks;
        Ok(seen)
    }
}

impl Drop for AfPacket {
    fn drop(&mut self) {
        // SAFETY: unmaps the mapping made in open, once.
        unsafe { libc::munmap(self.map.cast(), self.map_len) };
    }
}

/// The interface's link type from its hardware type (spec §11): Ethernet and loopback
/// 1, `ARPHRD_NONE` (tun, wireguard) 101; others refused.
fn link_type(fd: libc::c_int, ifname: &str) -> io::Result<(u16, bool)> {
    // SAFETY: ifreq is plain data; the name is copied in bounded.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(ifname.bytes().take(libc::IFNAMSIZ - 1)) {
        *d = s as libc::c_char;
    }
    // SAFETY: SIOCGIFHWADDR fills the ifreq we pass.
    if unsafe { libc::ioctl(fd, libc::SIOCGIFHWADDR as _, &mut ifr) } != 0 {
        return Err(last_err("SIOCGIFHWADDR", ifname));
    }
    // SAFETY: the kernel filled ifru_hwaddr for this request.
    let family = unsafe { ifr.ifr_ifru.ifru_hwaddr.sa_family };
    match family {
        libc::ARPHRD_ETHER => Ok((1, false)),
        libc::ARPHRD_LOOPBACK => Ok((1, true)),
        libc::ARPHRD_NONE => Ok((101, false)),
        other => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("interface {ifname}: hardware type {other} not supported (Ethernet, loopback, none)"),
        )),
    }
}
