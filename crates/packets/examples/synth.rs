//! Writes a synthetic trace for the benchmarks: `synth OUT.pcap MIB`.
//!
//! Mostly bulk transfers among many short connections and DNS, so that a 15k cutoff cuts
//! most bytes as on real links (IMC 2005).

use std::path::PathBuf;

use vantage_packets::synth::{write_pcap, SynthOptions};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().unwrap_or_else(|| "synth.pcap".into()));
    let mib: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1024);
    // One round of the default mix is ~4 MB: four 400 kB transfers, 200 web objects.
    let per_round = 4 * 400_000 + 200 * 12_000 + 100 * 300;
    let rounds = (mib * 1024 * 1024 / per_round).max(1) as usize;
    let opts = SynthOptions {
        short_conns: 200 * rounds,
        bulk_conns: 4 * rounds,
        bulk_bytes: 400_000,
        dns: 100 * rounds,
        ..Default::default()
    };
    let n = write_pcap(&out, &opts)?;
    eprintln!("{}: {n} bytes", out.display());
    Ok(())
}
