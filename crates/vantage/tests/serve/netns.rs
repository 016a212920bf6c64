//! A network namespace of the test's own with a veth pair, `vsa` (where the recorder
//! captures) and `vsb` (where the test writes a capture's frames with an AF_PACKET
//! socket). IPv6 is off inside it, so that the kernel adds no packets of its own; both
//! ends stay inside the namespace, so nothing written reaches any other network. The
//! namespace is deleted on drop.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::process::Command;

/// The capture end.
pub const CAPTURE: &str = "vsa";
/// The end the test writes into.
pub const INJECT: &str = "vsb";

/// The namespace.
pub struct Netns {
    /// Its name (`ip netns`).
    pub name: String,
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip").args(args).status().is_ok_and(|s| s.success())
}

impl Netns {
    /// Creates it, or prints why not and gives `None` (not root, no `ip netns`).
    pub fn with_veth(tag: &str) -> Option<Netns> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { geteuid() } != 0 {
            eprintln!("notice: the recorder part of this test is skipped: not root");
            return None;
        }
        let name = format!("vt{tag}{}", std::process::id());
        if !ip(&["netns", "add", &name]) {
            eprintln!("notice: the recorder part of this test is skipped: `ip netns add` failed");
            return None;
        }
        let ns = Netns { name };
        let n = ns.name.as_str();
        let sysctl = Command::new("ip")
            .args(["netns", "exec", n, "sysctl", "-qw"])
            .args(["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"])
            .status()
            .is_ok_and(|s| s.success());
        let ok = sysctl
            && ip(&["-n", n, "link", "set", "lo", "up"])
            && ip(&["-n", n, "link", "add", CAPTURE, "type", "veth", "peer", "name", INJECT])
            && ip(&["-n", n, "link", "set", CAPTURE, "up"])
            && ip(&["-n", n, "link", "set", INJECT, "up"]);
        if !ok {
            eprintln!("notice: the recorder part of this test is skipped: no veth pair");
            return None;
        }
        Some(ns)
    }

    /// `ip netns exec NAME PROGRAM`: a command run inside.
    pub fn exec(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program])
            .env_remove("VANTAGE_SERVER_TOKEN")
            .env_remove("VANTAGE_CONFIG")
            .env_remove("VANTAGE_WAREHOUSE")
            .env_remove("VANTAGE_DATA");
        c
    }

    /// Moves the calling thread inside (sockets it opens and children it spawns too).
    pub fn enter(&self) {
        let f = std::fs::File::open(format!("/run/netns/{}", self.name)).expect("netns file");
        // SAFETY: setns on a namespace file we hold open; it affects this thread only.
        let rc = unsafe { setns(f.as_raw_fd(), CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}

/// Writes each frame (whole Ethernet frames) onto `iface` of the calling thread's
/// namespace; returns how many were sent.
pub fn inject(iface: &str, frames: &[Vec<u8>]) -> usize {
    let name = CString::new(iface).unwrap();
    // SAFETY: a NUL-terminated name.
    let index = unsafe { if_nametoindex(name.as_ptr()) };
    assert!(index > 0, "{iface}: no such interface");
    // SAFETY: plain socket call; the descriptor is owned by the File below.
    let fd = unsafe { socket(AF_PACKET, SOCK_RAW, 0) };
    assert!(fd >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
    // SAFETY: fd is a fresh descriptor that nothing else owns.
    let owned = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let addr = SockaddrLl {
        family: AF_PACKET as u16,
        protocol: 0,
        ifindex: index as i32,
        hatype: 0,
        pkttype: 0,
        halen: 0,
        addr: [0; 8],
    };
    // SAFETY: addr is a valid sockaddr_ll of the size given.
    let rc = unsafe { bind(owned.as_raw_fd(), &addr, std::mem::size_of::<SockaddrLl>() as u32) };
    assert_eq!(rc, 0, "bind {iface}: {}", std::io::Error::last_os_error());
    let mut sent = 0;
    for f in frames {
        // SAFETY: the buffer is valid for its length.
        let n = unsafe { send(owned.as_raw_fd(), f.as_ptr(), f.len(), 0) };
        assert_eq!(n, f.len() as isize, "send: {}", std::io::Error::last_os_error());
        sent += 1;
    }
    sent
}

const AF_PACKET: i32 = 17;
const SOCK_RAW: i32 = 3;
const CLONE_NEWNET: i32 = 0x4000_0000;

/// `struct sockaddr_ll` (linux/if_packet.h).
#[repr(C)]
struct SockaddrLl {
    family: u16,
    protocol: u16,
    ifindex: i32,
    hatype: u16,
    pkttype: u8,
    halen: u8,
    addr: [u8; 8],
}

extern "C" {
    fn geteuid() -> u32;
    fn setns(fd: i32, nstype: i32) -> i32;
    fn if_nametoindex(name: *const std::ffi::c_char) -> u32;
    fn socket(domain: i32, ty: i32, protocol: i32) -> i32;
    fn bind(fd: i32, addr: *const SockaddrLl, len: u32) -> i32;
    fn send(fd: i32, buf: *const u8, len: usize, flags: i32) -> isize;
}
