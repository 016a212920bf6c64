//! The daemon's life: check the configuration, bind, serve, tick, and stop cleanly.
//!
//! Shutdown (SIGTERM, SIGINT or a test's stop): the listener stops accepting, requests in
//! flight finish, the tick loops end after their current tick — waited for up to
//! `[server] shutdown_grace` seconds, then abandoned: its stage commits per partition,
//! so an interrupted tick loses nothing the next run would not redo —,
//! then the packet recorder (when `[packets] interface` runs one) stops capturing,
//! flushes and writes its last flow rows; only then does [`Server::run`] return.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tracing::{info, warn};
use vantage_core::Config;

use crate::error::ServeError;
use crate::recorder::LiveRecorder;
use crate::state::{AppState, LiveState};
use crate::ticks;

/// A configured, bound server, not yet serving.
pub struct Server {
    runtime: tokio::runtime::Runtime,
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    addr: SocketAddr,
    ticks: bool,
    recorder: Option<LiveRecorder>,
}

impl Server {
    /// Checks the configuration, binds, and starts the packet recorder when
    /// `[packets] interface` names one. A non-loopback bind without a token is a
    /// configuration error (exit 1): writes must never be open to the network.
    pub fn bind(config: &Config) -> Result<Server, ServeError> {
        let bind = &config.server.bind;
        let addr: SocketAddr = bind.parse().map_err(|_| ServeError::BadBind(bind.clone()))?;
        let token = config.server.token.clone().filter(|t| !t.is_empty());
        if !addr.ip().is_loopback() && token.is_none() {
            return Err(ServeError::NoToken(addr));
        }
        let mut state = AppState::build(config, token)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("vantage-serve")
            .build()
            .map_err(|e| ServeError::Start(format!("runtime: {e}")))?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|source| ServeError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Bind { addr, source })?;
        let recorder = match state.packets.interface.clone().filter(|i| !i.is_empty()) {
            Some(iface) => Some(LiveRecorder::start(
                &state.data,
                state.warehouse_url.clone(),
                &state.packets,
                &iface,
            )?),
            None => None,
        };
        state.live = recorder.as_ref().map(|r| LiveState {
            live: r.live.clone(),
            interface: r.interface.clone(),
            console: r.console,
            alive: r.alive.clone(),
        });
        let state = Arc::new(state);
        Ok(Server { runtime, listener, state, addr, ticks: true, recorder })
    }

    /// The bound address (the real port when the configuration asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The packet console's address, when a recorder runs with `[packets.console] remote`.
    pub fn console_addr(&self) -> Option<SocketAddr> {
        self.recorder.as_ref().and_then(|r| r.console)
    }

    /// Without periodic ticks (tests that drive ticks themselves).
    pub fn without_ticks(mut self) -> Server {
        self.ticks = false;
        self
    }

    /// Runs one tick of `kind` now, on the caller's thread; returns its summary.
    pub fn tick_now(&self, kind: &str) -> Result<String, String> {
        ticks::run_once(&self.state, kind).map_err(|e| format!("{e:?}"))
    }

    /// Serves until `shutdown` resolves, then stops gracefully.
    pub fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Server { runtime, listener, state, addr, ticks: with_ticks, recorder } = self;
        let grace = state.shutdown_grace;
        let served = runtime.block_on(async move {
            let (stop_tx, stop_rx) = watch::channel(false);
            let mut loops = Vec::new();
            if with_ticks {
                for kind in ticks::KINDS {
                    loops.push(tokio::spawn(ticks::run_loop(state.clone(), kind, stop_rx.clone())));
                }
            }
            info!(%addr, tick_seconds = state.tick_seconds, "Serving.");
            let app = crate::routes::router(state.clone())
                .into_make_service_with_connect_info::<SocketAddr>();
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    shutdown.await;
                    info!("Shutting down: no new connections; finishing requests and ticks.");
                })
                .await;
            let _ = stop_tx.send(true);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(grace);
            for (kind, l) in ticks::KINDS.iter().zip(loops) {
                if tokio::time::timeout_at(deadline, l).await.is_err() {
                    warn!(
                        kind,
                        grace_seconds = grace,
                        "Tick still running after [server] shutdown_grace: abandoned; its open \
                         transaction rolls back and the next start redoes it."
                    );
                }
            }
            served.map_err(|e| ServeError::Start(format!("{addr}: {e}")))
        });
        // The runtime ends first, so that no request is querying the recorder as it stops;
        // an abandoned tick's thread is not waited for.
        runtime.shutdown_timeout(Duration::from_millis(100));
        let recorded = match recorder {
            Some(r) => {
                info!("Stopping the packet recorder: flushing and writing the last flows.");
                r.stop().map(|_| ())
            }
            None => Ok(()),
        };
        info!("Stopped.");
        served.and(recorded)
    }

    /// Serves on a thread of its own until [`Running::stop`].
    pub fn spawn(self) -> Running {
        let addr = self.addr;
        let (tx, rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            self.run(async move {
                let _ = rx.await;
            })
        });
        Running { addr, stop: Some(tx), thread: Some(thread) }
    }
}

/// A server serving in the background.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), ServeError>>>,
}

impl Running {
    /// Stops gracefully and waits for the end; returns how the server ended.
    pub fn stop(mut self) -> Result<(), ServeError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(ServeError::Start("the server thread panicked".into()))),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("SIGINT received."),
        _ = term => info!("SIGTERM received."),
    }
}

/// `vantage serve`: binds, then serves until SIGTERM or SIGINT.
pub fn serve(config: &Config) -> Result<(), ServeError> {
    let server = Server::bind(config)?;
    if let Some(console) = server.console_addr() {
        eprintln!("vantage serve: packet console on {console}");
    }
    eprintln!("vantage serve: listening on http://{}/", server.local_addr());
    server.run(shutdown_signal())
}
