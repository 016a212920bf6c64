//! `vantage serve`: the daemon — collector, uploads, pipeline ticks, HTTP API, web UI
//! and metrics in one process (crate `vantage-server`).

use crate::context::{Context, OrExit};

/// Arguments of `vantage serve`; each overrides its `[server]` option.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Listen address [config: server.bind] [default: 127.0.0.1:8080]
    #[arg(long, value_name = "HOST:PORT")]
    pub bind: Option<String>,
    /// Seconds between pipeline ticks of each kind [config: server.tick_seconds] [default: 60]
    #[arg(long, value_name = "SECONDS")]
    pub tick_seconds: Option<u64>,
}

/// Serves until SIGTERM or SIGINT.
pub fn run(ctx: &Context, args: &ServeArgs) -> anyhow::Result<()> {
    let mut config = ctx.config.clone();
    if let Some(b) = &args.bind {
        config.server.bind = b.clone();
    }
    if let Some(t) = args.tick_seconds {
        config.server.tick_seconds = t;
    }
    vantage_server::serve(&config).coded()
}
