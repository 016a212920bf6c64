//! Parses every flat file named on the command line and prints rows/s (parser alone,
//! no warehouse): `cargo run --release -p vantage-netstate --example parse_speed -- DIR/*.sql`.

fn main() {
    let mut rows = 0usize;
    let mut bytes = 0usize;
    let t = std::time::Instant::now();
    for path in std::env::args().skip(1) {
        let name = std::path::Path::new(&path)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let Some(f) = vantage_netstate::FileName::parse(&name) else { continue };
        let Some(def) = vantage_netstate::builtin_tables().into_iter().find(|d| d.name == f.table)
        else {
            continue;
        };
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        bytes += data.len();
        match vantage_netstate::parse_file(&data, &def) {
            Ok(lines) => rows += lines.len(),
            Err(e) => eprintln!("{path}:{}: {}", e.line, e.reason),
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!("{rows} rows, {bytes} bytes in {s:.3}s: {:.0} rows/s", rows as f64 / s);
}
