//! `vantage serve`: one daemon for all four kinds (issue 9).
//!
//! - [`Server`]: typed configuration, the listener and the runtime; [`Server::run`]
//!   serves until a shutdown future resolves, [`Server::spawn`] in the background
//!   (tests, `demo --serve`), [`serve`] until SIGTERM or SIGINT.
//! - `routes`: the HTTP API under `/api/v1/<kind>/` (one module per kind), the reports
//!   collector at OONI's root paths, uploads, `/metrics`, `/healthz`, the OpenAPI
//!   document and the embedded web UI.
//! - `ticks`: the periodic pipeline tick of each kind, under the kind's lock.
//! - `recorder`: the packet recorder and its console when `[packets] interface` is set,
//!   read live by the packets endpoints and `/metrics`, stopped last on shutdown.
//! - `query`: read-side SQL adapters where a kind has no library query of its own.
//! - [`ApiError`] and [`ServeError`]: the JSON error shape and the start-up failures.
#![deny(missing_docs)]

mod auth;
mod error;
mod limits;
mod metrics;
mod params;
mod query;
mod recorder;
mod routes;
mod server;
mod state;
mod ticks;

pub use crate::{
    error::{ApiError, ServeError},
    metrics::TickOutcome,
    server::{serve, shutdown_signal, Running, Server},
};
