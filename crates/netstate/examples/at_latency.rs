//! The bench's query side: `at` latency over random instants and `changes` throughput,
//! in-process on an imported warehouse (spec §8).
//!
//! `cargo run --release -p vantage-netstate --example at_latency -- DATA_DIR [URL] [N]`
//! prints `at TABLE: median … ms, p99 … ms, mean rows …` and `changes: … changes/s`.

use std::time::Instant;

use vantage_netstate::query;
use vantage_warehouse::Warehouse;

/// The allocator of the `vantage` binary, whose `at` this measures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let data = args.next().expect("DATA_DIR");
    let url = args.next().filter(|u| !u.is_empty() && u != "-");
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let data = vantage_core::DataDir::open(std::path::Path::new(&data)).expect("data dir");
    let mut wh = Warehouse::open(url.as_deref(), &data).expect("warehouse");
    for table in ["FLOW", "LEARNING"] {
        let (lo, hi) = query::range(&mut wh, &[table.to_string()]).expect("range");
        let (Some(lo), Some(hi)) = (lo, hi) else { continue };
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut times = Vec::with_capacity(n);
        let mut rows = 0usize;
        for _ in 0..n {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let t = lo + (seed % (hi - lo).max(1) as u64) as i64;
            let start = Instant::now();
            rows += query::at(&mut wh, table, t, None).expect("at").len();
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(|a, b| a.total_cmp(b));
        let pick =
            |q: f64| times.get(((times.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(0.0);
        println!(
            "at {table}: median {:.2} ms, p99 {:.2} ms, mean rows {:.0} ({n} random t)",
            pick(0.5),
            pick(0.99),
            rows as f64 / n.max(1) as f64
        );
    }
    let (lo, hi) = query::range(&mut wh, &["FLOW".to_string()]).expect("range");
    if let (Some(lo), Some(hi)) = (lo, hi) {
        let to = lo + (hi - lo) / 20;
        let start = Instant::now();
        let changes = query::changes(&mut wh, &["FLOW".to_string()], lo - 1, to).expect("changes");
        let s = start.elapsed().as_secs_f64();
        println!(
            "changes FLOW (first 5% of the history): {} changes in {s:.2}s = {:.0} changes/s",
            changes.len(),
            changes.len() as f64 / s
        );
    }
}
