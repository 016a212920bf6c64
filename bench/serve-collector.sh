#!/usr/bin/env bash
# Collector load (issue 9): concurrent probes on loopback submit measurements to the
# collector for SECONDS (default 60) from CLIENTS clients (default 8); prints sustained
# submissions/s, p50/p99 latency, and checks that every acknowledged measurement is in the
# warehouse after the reports tick. Release build; only 127.0.0.1 is contacted.
#
#   bench/serve-collector.sh [SECONDS] [CLIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -q -p vantage-server --example serve_collector_load -- "${1:-60}" "${2:-8}"
