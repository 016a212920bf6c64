//! What every handler and tick shares: the data directory, the warehouse URL, each kind's
//! typed configuration, the token, the collector and the metrics.
//!
//! A [`Warehouse`] is one synchronous connection and not `Sync`, so nothing here holds
//! one: [`AppState::blocking`] opens a connection per request inside `spawn_blocking`,
//! which keeps async workers free and lets SQLite's WAL serve readers beside a tick.

use std::sync::Arc;

use vantage_core::{Config, DataDir};
use vantage_netstate::NetstateConfig;
use vantage_packets::PacketsConfig;
use vantage_passive::PassiveConfig;
use vantage_reports::collector::Collector;
use vantage_reports::ReportsConfig;
use vantage_warehouse::Warehouse;

use crate::error::{ApiError, ServeError};
use crate::metrics::Metrics;

/// Shared, read-only after start-up (counters aside).
pub struct AppState {
    /// The data directory.
    pub data: DataDir,
    /// `[warehouse] url` resolved (None: SQLite in the data directory).
    pub warehouse_url: Option<String>,
    /// The server token; `None` only on a loopback bind, where writes are refused.
    pub token: Option<String>,
    /// Seconds between ticks.
    pub tick_seconds: u64,
    /// `[reports]`.
    pub reports: ReportsConfig,
    /// `[passive]`.
    pub passive: PassiveConfig,
    /// `[netstate]`.
    pub netstate: NetstateConfig,
    /// `[packets]`.
    pub packets: PacketsConfig,
    /// The probe-facing collector.
    pub collector: Arc<Collector>,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// The per-address limit of `/api/v1`.
    pub rate_limit: crate::limits::RateLimit,
    /// `[server] max_body`: the body limit of writes without one of their own.
    pub max_body: usize,
    /// `[server] shutdown_grace`, seconds.
    pub shutdown_grace: u64,
    /// The running packet recorder (`[packets] interface`), if any.
    pub live: Option<LiveState>,
}

/// What the handlers see of the running packet recorder.
#[derive(Clone)]
pub struct LiveState {
    /// The recorder, shared with its storage loop and consoles.
    pub live: Arc<vantage_packets::console::Live>,
    /// The capture interface.
    pub interface: String,
    /// The packet console's address, if it listens.
    pub console: Option<std::net::SocketAddr>,
    /// False once the recorder stopped (a failure while serving: `/healthz` says so).
    pub alive: Arc<std::sync::atomic::AtomicBool>,
}

impl AppState {
    /// Types every section and opens the collector; configuration errors (exit 1)
    /// come from here, before anything listens.
    pub fn build(config: &Config, token: Option<String>) -> Result<AppState, ServeError> {
        let data = DataDir::open(&config.data)?;
        let reports: ReportsConfig = config.section("reports")?;
        let passive: PassiveConfig = config.section("passive")?;
        let netstate: NetstateConfig = config.section("netstate")?;
        let packets: PacketsConfig = config.section("packets")?;
        packets
            .build()
            .map_err(|e| ServeError::KindConfig { section: "packets", message: e.to_string() })?;
        vantage_passive::PassiveEnv::new(data.clone(), passive.clone())
            .map_err(|e| ServeError::KindConfig { section: "passive", message: e.to_string() })?;
        // Open once here so that migrations run before the first request.
        let mut wh = Warehouse::open(config.warehouse.url.as_deref(), &data)?;
        wh.migrate("reports", vantage_reports::MIGRATIONS)?;
        vantage_passive::schema::migrate(&mut wh)
            .map_err(|e| ServeError::Start(format!("passive tables: {e}")))?;
        vantage_netstate::migrate(&mut wh)?;
        drop(wh);
        let collector = Collector::open(
            &data,
            reports.collector.clone(),
            config.warehouse.url.clone(),
            vantage_core::Timestamp::now(),
        )
        .map_err(|e| ServeError::Start(format!("collector: {e}")))?;
        Ok(AppState {
            data,
            warehouse_url: config.warehouse.url.clone(),
            token,
            tick_seconds: config.server.tick_seconds.max(1),
            reports,
            passive,
            netstate,
            packets,
            collector: Arc::new(collector),
            metrics: Metrics::default(),
            rate_limit: crate::limits::RateLimit::new(config.server.rate, config.server.burst),
            max_body: usize::try_from(config.server.max_body).unwrap_or(usize::MAX),
            shutdown_grace: config.server.shutdown_grace,
            live: None,
        })
    }

    /// Opens a warehouse connection of this request's own.
    pub fn open(&self) -> Result<Warehouse, ApiError> {
        Warehouse::open(self.warehouse_url.as_deref(), &self.data).map_err(ApiError::from)
    }

    /// Runs `f` with a fresh warehouse connection on a blocking thread.
    pub async fn blocking<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&AppState, &mut Warehouse) -> Result<T, ApiError> + Send + 'static,
    {
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut wh = state.open()?;
            f(&state, &mut wh)
        })
        .await
        .map_err(|e| ApiError::storage(format!("the request's worker failed: {e}")))?
    }

    /// Runs `f` on a blocking thread without a warehouse (file reads).
    pub async fn blocking_fs<T, F>(self: &Arc<Self>, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&AppState) -> Result<T, ApiError> + Send + 'static,
    {
        let state = self.clone();
        tokio::task::spawn_blocking(move || f(&state))
            .await
            .map_err(|e| ApiError::storage(format!("the request's worker failed: {e}")))?
    }
}
