#!/usr/bin/env bash
# bench/reports-collector.sh [RATE] [SECONDS] — collector latency with fsync (reports spec §12,
# stretch goal: p99 < 50 ms at 200 submissions/s). No peer: OONI publishes no latency figure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cargo run --release -q -p vantage-reports --example collector_load --manifest-path "$root/Cargo.toml" -- "${1:-200}" "${2:-10}"
