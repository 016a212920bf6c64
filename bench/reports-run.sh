#!/usr/bin/env bash
# bench/reports-run.sh [SIZE_BYTES] [PG_URL] — issue 6 acceptance: end-to-end `vantage reports run`
# (can -> autoclave -> centrifuge) on one seeded corpus (default 1 GiB of report text), in MB/s
# per core (10^6 bytes of report text / (user + sys CPU seconds of vantage)), medians of 3, on
# SQLite and, when PG_URL (or VANTAGE_TEST_PG) is set, PostgreSQL; compared with OONI's published
# 1.0-4.3 MB/s per core (goal on SQLite: >= 30). Ingest and the fingerprint load are outside the
# timing. On PostgreSQL the server's own CPU is not in vantage's figure, so the wall-time rate
# is printed beside it.
set -euo pipefail
size=${1:-1073741824}
pg=${2:-${VANTAGE_TEST_PG:-}}
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${VANTAGE_BIN:-}" ]; then V=$VANTAGE_BIN; else
  cargo build --release -q -p vantage --manifest-path "$root/Cargo.toml"
  V="$root/target/release/vantage"
fi
fp=$root/../shared/data/reports/fingerprints
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vantage-bench.XXXXXX"); trap 'rm -rf "$tmp"' EXIT
"$V" -q reports generate --out "$tmp/corpus" --size "$size" --seed 7
bytes=$(du -sb "$tmp/corpus" | cut -f1)
echo "corpus: $bytes bytes in $(find "$tmp/corpus" -type f | wc -l) files; $(nproc) cores; $("$V" --version 2>&1 | head -1)"

t() { local TIMEFORMAT='%R %U %S'; { time "$@" >/dev/null 2>&1; } 2>&1; }
med3() { sort -n | sed -n 2p; }

one() { # backend label, warehouse args...
  local label=$1; shift
  local cpu="" wall=""
  for i in 1 2 3; do
    rm -rf "$tmp/d"
    if [ -n "${PGRESET:-}" ]; then $PGRESET; fi
    "$V" -q --data "$tmp/d" "$@" reports ingest "$tmp/corpus" >/dev/null
    if [ -d "$fp" ]; then
      for f in "$fp"/fingerprints_dns.csv "$fp"/fingerprints_http.csv; do
        "$V" -q --data "$tmp/d" "$@" reports fingerprints load "$f" >/dev/null
      done
    fi
    r=$(t "$V" -q --data "$tmp/d" "$@" reports run)
    wall+="$(echo "$r" | awk '{print $1}')"$'\n'
    cpu+="$(echo "$r" | awk '{print $2 + $3}')"$'\n'
  done
  local c w
  c=$(printf '%s' "$cpu" | med3); w=$(printf '%s' "$wall" | med3)
  msm=$("$V" -q --data "$tmp/d" "$@" --format csv sql "SELECT COUNT(*) FROM reports_measurement" | tail -1)
  awk -v l="$label" -v b="$bytes" -v c="$c" -v w="$w" -v m="$msm" 'BEGIN {
    printf "reports run on %s: %d measurements, %.2fs wall, %.2f CPU s, %.1f MB/s per core (%.1f MB/s wall), %.1fx OONI best 4.3 MB/s per core, %.0fx OONI 1.0\n",
      l, m, w, c, b/c/1e6, b/w/1e6, b/c/1e6/4.3, b/c/1e6 }'
}
one SQLite
if [ -n "$pg" ]; then
  # A schema of our own per bench (never the shared database's public schema), dropped at exit.
  schema="vantage_bench_$$"
  export PGOPTIONS='-c client_min_messages=warning' # no NOTICE per dropped table in the output
  psql -q "$pg" -c "CREATE SCHEMA $schema" >/dev/null
  trap 'psql -q "$pg" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
  case "$pg" in *\?*) sep='&';; *) sep='?';; esac
  url="${pg}${sep}options=-csearch_path%3D$schema"
  pgone() { psql -q "$pg" -c "DROP SCHEMA IF EXISTS $schema CASCADE; CREATE SCHEMA $schema" >/dev/null; }
  PGRESET=pgone one PostgreSQL --warehouse "$url"
fi
