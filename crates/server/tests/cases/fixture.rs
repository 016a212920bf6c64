//! A data directory filled by the kinds' demos, and a server over it.

use std::path::Path;

use vantage_core::{Config, DataDir, GlobalArgs};
use vantage_warehouse::Warehouse;

pub const TOKEN: &str = "test-token-0123";

/// The configuration a test server runs with: port 0, a token, one-second ticks,
/// canning without waiting.
pub fn config(data: &Path, url: Option<&str>, extra: &[&str]) -> Config {
    let mut overrides = vec![
        "server.bind=127.0.0.1:0".to_string(),
        format!("server.token={TOKEN}"),
        "server.tick_seconds=1".to_string(),
        "reports.can_max_wait=0".to_string(),
    ];
    overrides.extend(extra.iter().map(|s| s.to_string()));
    let args = GlobalArgs {
        data: Some(data.to_path_buf()),
        warehouse: url.map(str::to_string),
        config: None,
        overrides,
    };
    Config::load_with_env(&args, |_| None, Vec::new()).expect("config")
}

/// Fills `data` with the packets, netstate and passive demos (reports arrive through the
/// collector in the tests themselves).
pub fn fill(data_dir: &Path, url: Option<&str>) {
    let data = DataDir::open(data_dir).unwrap();
    let mut wh = Warehouse::open(url, &data).unwrap();
    let mut sink = Vec::new();
    vantage_packets::demo(&data, &mut wh, &mut sink).expect("packets demo");
    vantage_netstate::demo(&data, &mut wh, &mut sink).expect("netstate demo");
    let env = vantage_passive::PassiveEnv::new(data.clone(), Default::default()).unwrap();
    vantage_passive::demo(&env, &mut wh, url).expect("passive demo");
}
