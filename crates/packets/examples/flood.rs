//! A traffic generator for `bench/packets-live.sh`: UDP/IPv4 frames to an interface as
//! fast as the machine allows (or at a given rate), in batches of `sendmmsg(2)`.
//!
//! - `--raw` (default): whole Ethernet frames through an AF_PACKET socket, addressed to
//!   a MAC that is not the interface's, so the kernel's IP stack drops them at once and
//!   the generator pays only for the copy; the capture sees each frame once.
//! - `--udp`: datagrams through UDP sockets to 127.0.0.1:9999 (the whole IP stack).
//!
//! Usage: `flood [--raw|--udp] [--if lo] [--secs 5] [--rate PPS] [--flows 64]
//! [--size 64] [--threads 1]`; prints `sent N packets in S s (R/s)`. Linux only.

#[cfg(target_os = "linux")]
mod linux {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    /// Frames per `sendmmsg` call.
    const BATCH: usize = 256;

    #[derive(Clone)]
    pub struct Opts {
        pub raw: bool,
        pub iface: String,
        pub secs: f64,
        pub rate: u64,
        pub flows: u16,
        pub size: usize,
        pub threads: usize,
    }

    pub fn parse() -> Result<Opts, String> {
        let mut o = Opts {
            raw: true,
            iface: "lo".into(),
            secs: 5.0,
            rate: 0,
            flows: 64,
            size: 64,
            threads: 1,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            let mut val = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            match a.as_str() {
                "--raw" => o.raw = true,
                "--udp" => o.raw = false,
                "--if" => o.iface = val("--if")?,
                "--secs" => o.secs = val("--secs")?.parse().map_err(|e| format!("--secs: {e}"))?,
                "--rate" => o.rate = val("--rate")?.parse().map_err(|e| format!("--rate: {e}"))?,
                "--flows" => {
                    o.flows = val("--flows")?.parse().map_err(|e| format!("--flows: {e}"))?
                }
                "--size" => o.size = val("--size")?.parse().map_err(|e| format!("--size: {e}"))?,
                "--threads" => {
                    o.threads = val("--threads")?.parse().map_err(|e| format!("--threads: {e}"))?
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        if o.flows == 0 || o.threads == 0 || !(42..=1500).contains(&o.size) {
            return Err("--flows and --threads must be > 0, --size within 42..=1500".into());
        }
        Ok(o)
    }

    /// An Ethernet/IPv4/UDP frame of `size` bytes from 127.0.0.1:`sport` to 127.0.0.1:9999.
    fn frame(size: usize, sport: u16) -> Vec<u8> {
        let mut d = vec![0u8; size];
        d[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        d[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        d[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip_len = (size - 14) as u16;
        d[14] = 0x45;
        d[16..18].copy_from_slice(&ip_len.to_be_bytes());
        d[22] = 64;
        d[23] = 17;
        d[26..30].copy_from_slice(&[127, 0, 0, 1]);
        d[30..34].copy_from_slice(&[127, 0, 0, 1]);
        let mut sum = 0u32;
        for w in d[14..34].chunks(2) {
            sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        d[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        d[34..36].copy_from_slice(&sport.to_be_bytes());
        d[36..38].copy_from_slice(&9999u16.to_be_bytes());
        d[38..40].copy_from_slice(&(ip_len - 20).to_be_bytes());
        d
    }

    fn os_err(what: &str) -> String {
        format!("{what}: {}", std::io::Error::last_os_error())
    }

    /// One sender: a socket and a batch of prepared messages, sent until `end`.
    fn sender(o: &Opts, id: usize, end: Instant, sent: &AtomicU64) -> Result<(), String> {
        // SAFETY: plain socket calls on values we own; every pointer handed to the kernel
        // points into buffers that live until the calls return.
        unsafe {
            let flows: Vec<u16> =
                (0..o.flows).filter(|f| usize::from(*f) % o.threads == id).collect();
            let flows = if flows.is_empty() { vec![0] } else { flows };
            let mut socks = Vec::new();
            let mut bufs: Vec<Vec<u8>> = Vec::new();
            let mut ll: libc::sockaddr_ll = std::mem::zeroed();
            if o.raw {
                let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
                if fd < 0 {
                    return Err(os_err("socket(AF_PACKET)"));
                }
                let name = std::ffi::CString::new(o.iface.clone()).map_err(|e| e.to_string())?;
                let ifindex = libc::if_nametoindex(name.as_ptr());
                if ifindex == 0 {
                    return Err(os_err(&format!("interface {}", o.iface)));
                }
                ll.sll_family = libc::AF_PACKET as u16;
                ll.sll_ifindex = ifindex as i32;
                ll.sll_halen = 6;
                socks.push(fd);
                for i in 0..BATCH {
                    bufs.push(frame(o.size, 20000 + flows[i % flows.len()]));
                }
            } else {
                for f in &flows {
                    let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
                    if fd < 0 {
                        return Err(os_err("socket(AF_INET)"));
                    }
                    let mut a: libc::sockaddr_in = std::mem::zeroed();
                    a.sin_family = libc::AF_INET as u16;
                    a.sin_port = (20000 + f).to_be();
                    a.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
                    let r = libc::bind(
                        fd,
                        &a as *const _ as *const libc::sockaddr,
                        std::mem::size_of::<libc::sockaddr_in>() as u32,
                    );
                    if r != 0 {
                        return Err(os_err("bind"));
                    }
                    socks.push(fd);
                }
                for _ in 0..BATCH {
                    bufs.push(vec![b'x'; o.size - 42]);
                }
            }
            let mut dst: libc::sockaddr_in = std::mem::zeroed();
            dst.sin_family = libc::AF_INET as u16;
            dst.sin_port = 9999u16.to_be();
            dst.sin_addr.s_addr = u32::from_be_bytes([127, 0, 0, 1]).to_be();
            let mut iov: Vec<libc::iovec> = bufs
                .iter_mut()
                .map(|b| libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() })
                .collect();
            let mut msgs: Vec<libc::mmsghdr> = (0..BATCH)
                .map(|i| {
                    let mut m: libc::mmsghdr = std::mem::zeroed();
                    if o.raw {
                        m.msg_hdr.msg_name = &mut ll as *mut _ as *mut libc::c_void;
                        m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
                    } else {
                        m.msg_hdr.msg_name = &mut dst as *mut _ as *mut libc::c_void;
                        m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
                    }
                    m.msg_hdr.msg_iov = &mut iov[i];
                    m.msg_hdr.msg_iovlen = 1;
                    m
                })
                .collect();
            // Pacing: each thread owns rate / threads packets per second.
            let per_thread = o.rate as f64 / o.threads as f64;
            let started = Instant::now();
            let mut mine = 0u64;
            let mut turn = 0usize;
            while Instant::now() < end {
                if per_thread > 0.0 {
                    let due = Duration::from_secs_f64(mine as f64 / per_thread);
                    let now = started.elapsed();
                    if due > now {
                        std::thread::sleep(due - now);
                    }
                }
                let fd = socks[turn % socks.len()];
                turn += 1;
                let n = libc::sendmmsg(fd, msgs.as_mut_ptr(), BATCH as u32, 0);
                if n > 0 {
                    mine += n as u64;
                    sent.fetch_add(n as u64, Ordering::Relaxed);
                } else if n < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.raw_os_error() != Some(libc::ENOBUFS)
                        && e.raw_os_error() != Some(libc::EAGAIN)
                    {
                        return Err(format!("sendmmsg: {e}"));
                    }
                }
            }
            for fd in socks {
                libc::close(fd);
            }
        }
        Ok(())
    }

    pub fn run(o: Opts) -> Result<(), String> {
        // A bound, never read, receiver: datagrams fill its buffer and are dropped there
        // silently, instead of each drawing an ICMP port unreachable (recorded too).
        let _sink = if o.raw {
            None
        } else {
            Some(
                std::net::UdpSocket::bind("127.0.0.1:9999")
                    .map_err(|e| format!("bind 9999: {e}"))?,
            )
        };
        let sent = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let end = started + Duration::from_secs_f64(o.secs);
        let handles: Vec<_> = (0..o.threads)
            .map(|id| {
                let (o, sent) = (o.clone(), Arc::clone(&sent));
                std::thread::spawn(move || sender(&o, id, end, &sent))
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "a sender panicked".to_string())??;
        }
        let took = started.elapsed().as_secs_f64();
        let n = sent.load(Ordering::Relaxed);
        println!("sent {n} packets in {took:.2} s ({:.0}/s)", n as f64 / took);
        Ok(())
    }
}

#[cfg(target_os = "linux")]
fn main() {
    if let Err(e) = linux::parse().and_then(linux::run) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("error: flood needs Linux (AF_PACKET, sendmmsg)");
    std::process::exit(1);
}
