//! Serves a data directory without the `vantage` binary, for trying the UI:
//! `cargo run -p vantage-server --example serve_dir -- DATA_DIR [HOST:PORT]`.

fn main() {
    let mut args = std::env::args().skip(1);
    let data = args.next().unwrap_or_else(|| "vantage-data".into());
    let g = vantage_core::GlobalArgs { data: Some(data.into()), ..Default::default() };
    let mut config = match vantage_core::Config::load(&g) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1)
        }
    };
    if let Some(bind) = args.next() {
        config.server.bind = bind;
    }
    if let Err(e) = vantage_server::serve(&config) {
        eprintln!("error: {e}");
        std::process::exit(1)
    }
}
