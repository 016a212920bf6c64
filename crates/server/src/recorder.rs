//! The packet recorder inside `vantage serve`, when `[packets] interface` names one.
//!
//! It is `vantage packets record --interface IF` on a thread of its own: the AF_PACKET
//! capture, the storage loop with its flushes and flow rows (`packets_flows`, through a
//! warehouse connection of that thread), and the console listener of `[packets.console]`.
//! The HTTP API reads the same running recorder ([`Live`]): packet queries include the
//! memory rings, `/metrics` and `/api/v1/packets/stats` show its live figures.
//!
//! Start-up waits until capture runs (or failed: a bad interface is a configuration
//! error, another recorder on the directory is busy), so that `serve` never claims to
//! record what it does not. [`LiveRecorder::stop`] is the graceful end: capture stops,
//! the queue drains, segments are flushed, every connection left becomes a flow row
//! (`shutdown`) and the session's partition is marked done.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use vantage_core::{DataDir, Timestamp};
use vantage_packets::console::Live;
use vantage_packets::{LiveReport, PacketsConfig, StoreError};
use vantage_warehouse::Warehouse;

use crate::error::ServeError;

/// A recorder capturing in the background.
pub struct LiveRecorder {
    /// The running recorder, shared with the consoles and the HTTP handlers.
    pub live: Arc<Live>,
    /// The capture interface.
    pub interface: String,
    /// The console's address, when `[packets.console] remote`.
    pub console: Option<SocketAddr>,
    /// True while the recorder thread runs (false once it ended, by stop or failure).
    pub alive: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<LiveReport, StoreError>>>,
}

type Ready = (Arc<Live>, Option<SocketAddr>);

impl LiveRecorder {
    /// Opens `interface` and starts recording; returns once capture runs.
    pub fn start(
        data: &DataDir,
        warehouse_url: Option<String>,
        cfg: &PacketsConfig,
        interface: &str,
    ) -> Result<LiveRecorder, ServeError> {
        let stop = Arc::new(AtomicBool::new(false));
        let alive = Arc::new(AtomicBool::new(true));
        let (tx, rx) = mpsc::sync_channel::<Ready>(1);
        let thread = {
            let (data, cfg, iface, stop, alive) = (
                data.clone(),
                cfg.clone(),
                interface.to_string(),
                Arc::clone(&stop),
                Arc::clone(&alive),
            );
            std::thread::Builder::new()
                .name("packets-recorder".into())
                .spawn(move || {
                    let r = record(&data, warehouse_url, &cfg, &iface, &stop, tx);
                    alive.store(false, Ordering::SeqCst);
                    r
                })
                .map_err(|e| ServeError::Start(format!("recorder thread: {e}")))?
        };
        match rx.recv() {
            Ok((live, console)) => {
                tracing::info!(interface, console = ?console, "Packet recorder running.");
                Ok(LiveRecorder {
                    live,
                    interface: interface.to_string(),
                    console,
                    alive,
                    stop,
                    thread: Some(thread),
                })
            }
            // The thread ended without a word: its result says why.
            Err(_) => Err(match thread.join() {
                Ok(Err(e)) => ServeError::Packets(e),
                Ok(Ok(_)) => ServeError::Start("the packet recorder ended at start-up".into()),
                Err(_) => ServeError::Start("the packet recorder panicked at start-up".into()),
            }),
        }
    }

    /// Stops capture and waits for the flush and the last flow rows.
    pub fn stop(mut self) -> Result<LiveReport, ServeError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<LiveReport, ServeError> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take() {
            Some(t) => match t.join() {
                Ok(r) => r.map_err(ServeError::Packets),
                Err(_) => Err(ServeError::Start("the packet recorder panicked".into())),
            },
            None => Ok(LiveReport::default()),
        }
    }
}

impl Drop for LiveRecorder {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The recorder thread: its own warehouse connection, the capture, `run_live`. A
/// failure before `ready` drops the sender, and `start` reads this result.
fn record(
    data: &DataDir,
    warehouse_url: Option<String>,
    cfg: &PacketsConfig,
    iface: &str,
    stop: &AtomicBool,
    ready: mpsc::SyncSender<Ready>,
) -> Result<LiveReport, StoreError> {
    let mut wh = Warehouse::open(warehouse_url.as_deref(), data)?;
    let cap = open(cfg, iface)?;
    let session = format!("live:{iface}:{}", Timestamp::now().to_rfc3339());
    let result =
        vantage_packets::run_live(data, &mut wh, cfg, &session, cap, None, stop, |live, addr| {
            let _ = ready.send((Arc::clone(live), addr));
        });
    match &result {
        Ok(report) => tracing::info!(
            interface = iface,
            packets = report.packets,
            kernel_drops = report.kernel.drop,
            queue_drops = report.queue_drops,
            flows = report.flows_written,
            "Packet recorder stopped."
        ),
        Err(e) => tracing::error!(interface = iface, error = %e, "Packet recorder failed."),
    }
    result
}

#[cfg(target_os = "linux")]
fn open(
    cfg: &PacketsConfig,
    iface: &str,
) -> Result<vantage_packets::afpacket::AfPacket, StoreError> {
    vantage_packets::open_interface(cfg, iface)
}

#[cfg(not(target_os = "linux"))]
fn open(_: &PacketsConfig, iface: &str) -> Result<NoCapture, StoreError> {
    Err(StoreError::Config(vantage_packets::ConfigError::Invalid(format!(
        "[packets] interface = {iface:?}: live capture needs Linux (AF_PACKET)"
    ))))
}

#[cfg(not(target_os = "linux"))]
struct NoCapture;

#[cfg(not(target_os = "linux"))]
impl vantage_packets::Source for NoCapture {
    fn next_batch(&mut self, _: &mut dyn FnMut(&vantage_packets::Frame)) -> std::io::Result<usize> {
        Ok(0)
    }
}
