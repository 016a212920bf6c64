//! `vantage packets record --interface IF`: the running recorder (spec §3, §8, §9, §11).
//!
//! Three kinds of thread share one [`Live`] recorder:
//! - capture: the AF_PACKET ring, one batch per kernel block, into a bounded queue;
//!   when the queue is full the batch is dropped and counted (`queue_drops`, logged), so
//!   capture never waits for disk or for a console;
//! - storage (the caller's thread): records batches, and on the wall clock flushes and
//!   sweeps every `flush_interval`, writes flow rows every second, the three logs every
//!   `log_interval`;
//! - consoles: the TCP server's clients, executing commands on the same recorder.
//!
//! The session is one `catalog_partitions` row (`pending` while capturing, then `done`);
//! at the end every connection left becomes a flow row (`shutdown`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vantage_core::DataDir;
use vantage_warehouse::catalog::{self, Partition, PartitionState};
use vantage_warehouse::{Lock, Warehouse};

use crate::capture::Frame;
use crate::config::PacketsConfig;
use crate::conn::EndReason;
use crate::console::{serve, Live, ServerHandle};
use crate::error::{ConfigError, StoreError};
use crate::metrics::KernelStats;
use crate::record::{packets_root, sensor, write_flows, CODE_VERSION, PROCESSOR};
use crate::recorder::Recorder;

/// Batches held between capture and storage (each one kernel block, ≤ 4 MiB).
pub const QUEUE_BATCHES: usize = 64;

/// What a live session did.
#[derive(Debug, Clone, Default)]
pub struct LiveReport {
    /// Packets handed to storage.
    pub packets: u64,
    /// Packets dropped because the queue was full.
    pub queue_drops: u64,
    /// Kernel counters of the session.
    pub kernel: KernelStats,
    /// Flow rows written.
    pub flows_written: u64,
    /// The console's address, if one ran.
    pub console: Option<SocketAddr>,
}

/// The console token of `[packets.console] token_file`, if set (trimmed; an empty or
/// unreadable file is a configuration error naming it).
pub fn console_token(cfg: &PacketsConfig) -> Result<Option<String>, StoreError> {
    let Some(p) = &cfg.console.token_file else { return Ok(None) };
    let t = std::fs::read_to_string(p).map_err(|e| StoreError::io(p, e))?;
    let t = t.trim().to_string();
    if t.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "[packets.console] token_file {}: empty; write a token into it",
            p.display()
        ))
        .into());
    }
    Ok(Some(t))
}

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
}

/// Installs SIGINT and SIGTERM handlers that ask a live session to stop (the flag
/// polled by [`record_live`]'s `stop`). Only an atomic store runs in the handler.
pub fn stop_on_signals() -> &'static AtomicBool {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    &SIGNALLED
}

/// A frame source for [`run_live`]: the AF_PACKET capture, or a test's generator.
pub trait Source: Send + 'static {
    /// Waits up to 100 ms for packets; hands each to `each`; returns how many.
    fn next_batch(&mut self, each: &mut dyn FnMut(&Frame)) -> std::io::Result<usize>;
    /// Kernel counters since the last call (received, dropped, freezes).
    fn kernel(&mut self) -> (u64, u64, u64) {
        (0, 0, 0)
    }
    /// The capture interface's index (`if_index` of flows).
    fn if_index(&self) -> u32 {
        0
    }
}

#[cfg(target_os = "linux")]
impl Source for crate::afpacket::AfPacket {
    fn next_batch(&mut self, each: &mut dyn FnMut(&Frame)) -> std::io::Result<usize> {
        self.next_block(100, each)
    }
    fn kernel(&mut self) -> (u64, u64, u64) {
        self.stats().unwrap_or((0, 0, 0))
    }
    fn if_index(&self) -> u32 {
        self.ifindex
    }
}

/// Opens the live capture of `iface` as `[packets.capture]` says.
#[cfg(target_os = "linux")]
pub fn open_interface(
    cfg: &PacketsConfig,
    iface: &str,
) -> Result<crate::afpacket::AfPacket, StoreError> {
    crate::afpacket::AfPacket::open(iface, cfg.capture.ring.0, cfg.capture.promisc).map_err(|e| {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            StoreError::Config(ConfigError::Invalid(format!(
                "{e}; run as root or grant CAP_NET_RAW (setcap cap_net_raw+ep)"
            )))
        } else {
            StoreError::Config(ConfigError::Invalid(e.to_string()))
        }
    })
}

/// Records from `source` until `stop` is set, with the console (when
/// `[packets.console] remote`) on `listen` (default `console.listen`). `ready` is called
/// once everything runs, with the shared recorder and the console address.
#[allow(clippy::too_many_arguments)]
pub fn run_live<S: Source>(
    data: &DataDir,
    wh: &mut Warehouse,
    cfg: &PacketsConfig,
    session: &str,
    source: S,
    listen: Option<&str>,
    stop: &AtomicBool,
    ready: impl FnOnce(&Arc<Live>, Option<SocketAddr>),
) -> Result<LiveReport, StoreError> {
    let root: PathBuf = packets_root(data, cfg)?;
    wh.migrate("packets", crate::flows::MIGRATIONS)?;
    let _lock = Lock::acquire(wh, data, "packets")?;
    let token = console_token(cfg)?;
    let rec = Recorder::open(&root, cfg)?;
    let names = rec.class_names();
    let sensor = sensor(cfg);
    catalog::set_processor_version(wh, "packets", PROCESSOR, CODE_VERSION)?;
    let part = |state, error| Partition {
        kind: "packets".into(),
        key: session.to_string(),
        processor: PROCESSOR.into(),
        code_version: CODE_VERSION,
        state,
        error,
    };
    catalog::set_partition(wh, &part(PartitionState::Pending, None))?;
    let server: Option<ServerHandle>;
    let live;
    {
        let listen = listen.map(String::from).unwrap_or_else(|| cfg.console.listen.clone());
        if cfg.console.remote || listen != cfg.console.listen {
            live = Live::new(rec, token);
            let max = usize::try_from(cfg.console.max_clients.max(1)).unwrap_or(16);
            let idle = Duration::from_nanos(
                u64::try_from(cfg.console.idle_timeout.0.max(1)).unwrap_or(u64::MAX),
            );
            let h = serve(Arc::clone(&live), &listen, max, idle)
                .map_err(|e| StoreError::Config(ConfigError::Invalid(e)))?;
            live.recorder().store_mut().note_console(&h.addr().to_string());
            tracing::info!(console = %h.addr(), "Console listening.");
            server = Some(h);
        } else {
            live = Live::new(rec, None);
            server = None;
        }
    }
    let console = server.as_ref().map(ServerHandle::addr);

    // Capture thread → bounded queue → this thread.
    let (tx, rx) = sync_channel::<Vec<Frame>>(QUEUE_BATCHES);
    let capture_stop = Arc::new(AtomicBool::new(false));
    let queue_drops = Arc::new(AtomicU64::new(0));
    let kernel = Arc::new(Mutex::new(KernelStats::default()));
    let cap = {
        let (capture_stop, queue_drops, kernel) =
            (Arc::clone(&capture_stop), Arc::clone(&queue_drops), Arc::clone(&kernel));
        let mut source = source;
        std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || -> std::io::Result<()> {
                let mut last_warn: Option<Instant> = None;
                let mut last_stats = Instant::now();
                while !capture_stop.load(Ordering::SeqCst) {
                    let mut batch = Vec::new();
                    source.next_batch(&mut |f: &Frame| batch.push(f.clone()))?;
                    if last_stats.elapsed() >= Duration::from_millis(200) {
                        let (r, d, fz) = source.kernel();
                        let mut k = kernel.lock().unwrap_or_else(|p| p.into_inner());
                        k.recv += r;
                        k.drop += d;
                        k.ifdrop += fz;
                        last_stats = Instant::now();
                    }
                    if batch.is_empty() {
                        continue;
                    }
                    match tx.try_send(batch) {
                        Ok(()) => {}
                        Err(TrySendError::Full(b)) => {
                            queue_drops.fetch_add(b.len() as u64, Ordering::Relaxed);
                            if last_warn.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                                tracing::warn!(
                                    dropped = b.len(),
                                    "Storage behind capture: packets dropped (queue_drops)."
                                );
                                last_warn = Some(Instant::now());
                            }
                        }
                        Err(TrySendError::Disconnected(_)) => break,
                    }
                }
                let (r, d, fz) = source.kernel();
                let mut k = kernel.lock().unwrap_or_else(|p| p.into_inner());
                k.recv += r;
                k.drop += d;
                k.ifdrop += fz;
                Ok(())
            })
            .map_err(|e| StoreError::Config(ConfigError::Invalid(format!("capture thread: {e}"))))?
    };
    ready(&live, console);

    let mut report = LiveReport { console, ..Default::default() };
    let started = Instant::now();
    let flush_every =
        Duration::from_nanos(u64::try_from(cfg.flush_interval.0.max(1)).unwrap_or(1_000_000_000));
    let log_every =
        Duration::from_nanos(u64::try_from(cfg.log_interval.0.max(1)).unwrap_or(60_000_000_000));
    let (mut last_tick, mut last_flows, mut last_log) =
        (Instant::now(), Instant::now(), Instant::now());
    let mut disk_full_logged = false;
    let base_queue_drops = live.recorder().counters.queue_drops;
    let mut result: Result<(), StoreError> = Ok(());
    let mut draining = false;
    loop {
        if !draining && stop.load(Ordering::SeqCst) {
            capture_stop.store(true, Ordering::SeqCst);
            draining = true;
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(batch) => {
                let mut rec = live.recorder();
                for f in &batch {
                    report.packets += 1;
                    match rec.record(f) {
                        Ok(()) => {}
                        Err(e @ StoreError::DiskFull { .. }) => {
                            if !disk_full_logged {
                                tracing::error!(error = %e, "Recording stopped; queries go on.");
                                disk_full_logged = true;
                            }
                        }
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if result.is_err() {
            capture_stop.store(true, Ordering::SeqCst);
            break;
        }
        {
            let mut rec = live.recorder();
            rec.counters.queue_drops = base_queue_drops + queue_drops.load(Ordering::Relaxed);
            rec.kernel = *kernel.lock().unwrap_or_else(|p| p.into_inner());
        }
        if last_tick.elapsed() >= flush_every {
            last_tick = Instant::now();
            let now = vantage_core::Timestamp::now().nanos();
            if let Err(e) = live.recorder().tick(now) {
                if !matches!(e, StoreError::DiskFull { .. }) {
                    result = Err(e);
                    capture_stop.store(true, Ordering::SeqCst);
                    break;
                }
            }
        }
        if last_flows.elapsed() >= Duration::from_secs(1) {
            last_flows = Instant::now();
            let flows = live.recorder().take_flows();
            report.flows_written += write_flows(wh, &sensor, &flows, &names)?;
        }
        if last_log.elapsed() >= log_every {
            last_log = Instant::now();
            live.recorder().write_logs(started.elapsed().as_secs_f64());
        }
    }
    let cap_result = cap.join();
    if let Some(h) = server {
        h.stop();
    }
    let flows = {
        let mut rec = live.recorder();
        rec.counters.queue_drops = base_queue_drops + queue_drops.load(Ordering::Relaxed);
        rec.kernel = *kernel.lock().unwrap_or_else(|p| p.into_inner());
        report.kernel = rec.kernel;
        let mut flows = rec.take_flows();
        flows.extend(rec.shutdown(EndReason::Shutdown)?);
        flows
    };
    report.queue_drops = queue_drops.load(Ordering::Relaxed);
    report.flows_written += write_flows(wh, &sensor, &flows, &names)?;
    let cap_err = match cap_result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("capture: {e}")),
        Err(_) => Some("capture thread panicked".to_string()),
    };
    let err_text = result.as_ref().err().map(|e| e.to_string()).or(cap_err.clone());
    let state = if err_text.is_some() { PartitionState::Failed } else { PartitionState::Done };
    catalog::set_partition(wh, &part(state, err_text))?;
    result?;
    if let Some(e) = cap_err {
        return Err(StoreError::Config(ConfigError::Invalid(e)));
    }
    Ok(report)
}
