#!/usr/bin/env bash
# bench/reports.sh [SIZE_BYTES] — reports spec §12 / issue 5 acceptance, one run, one corpus.
#
# Generates a seeded corpus (default 1 GiB of report text, mostly web_connectivity), then:
#   canning:   `vantage reports can` vs `tar cf - | lz4 -5` and `lz4 -1` (wall time, medians of 3),
#              and the can bytes vs lz4 -5 bytes;
#   autoclave: MB/s per core = 10^6 bytes of report text / (user + sys CPU seconds), medians of 3;
#   show:      median wall time of `vantage reports show UID` from a cold process (21 runs).
# Prints one line per measure with both sides and the ratio. Needs lz4 and GNU tar.
set -euo pipefail
size=${1:-1073741824}
root=$(cd "$(dirname "$0")/.." && pwd)
# VANTAGE_BIN: a prebuilt binary (else the release build of this tree).
if [ -n "${VANTAGE_BIN:-}" ]; then V=$VANTAGE_BIN; else
  cargo build --release -q -p vantage --manifest-path "$root/Cargo.toml"
  V="$root/target/release/vantage"
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vantage-bench.XXXXXX"); trap 'rm -rf "$tmp"' EXIT
"$V" -q reports generate --out "$tmp/corpus" --size "$size" --seed 7
bytes=$(du -sb "$tmp/corpus" | cut -f1)
echo "corpus: $bytes bytes in $(find "$tmp/corpus" -type f | wc -l) files; $(nproc) cores; $(lz4 --version 2>&1 | head -1)"

t() { local TIMEFORMAT='%R %U %S'; { time "$@" >/dev/null 2>&1; } 2>&1; }
med3() { sort -n | sed -n 2p; }

peer5=$(for i in 1 2 3; do t sh -c "tar cf - -C '$tmp' corpus | lz4 -q -5 > '$tmp/peer.tar.lz4'"; done | awk '{print $1}' | med3)
peer5_size=$(stat -c %s "$tmp/peer.tar.lz4")
peer1=$(for i in 1 2 3; do t sh -c "tar cf - -C '$tmp' corpus | lz4 -q -1 > '$tmp/peer1.tar.lz4'"; done | awk '{print $1}' | med3)
can_runs=""; auto_real=""; auto_cpu=""
for i in 1 2 3; do
  rm -rf "$tmp/d"
  "$V" -q --data "$tmp/d" reports ingest "$tmp/corpus" >/dev/null
  can_runs+="$(t "$V" -q --data "$tmp/d" reports can | awk '{print $1}')"$'\n'
  r=$(t "$V" -q --data "$tmp/d" reports autoclave)
  auto_real+="$(echo "$r" | awk '{print $1}')"$'\n'
  auto_cpu+="$(echo "$r" | awk '{print $2 + $3}')"$'\n'
done
ours_can=$(printf '%s' "$can_runs" | med3)
ours_size=$(find "$tmp/d/archive" -name '*.tar.lz4' -printf '%s\n' | awk '{s+=$1} END {print s}')
cpu=$(printf '%s' "$auto_cpu" | med3)
real=$(printf '%s' "$auto_real" | med3)
awk -v b="$bytes" -v p="$peer5" -v p1="$peer1" -v o="$ours_can" -v ps="$peer5_size" -v os="$ours_size" 'BEGIN {
  printf "canning: tar|lz4 -5 %.2fs (%.1f MB/s)  tar|lz4 -1 %.2fs (%.1f MB/s)  vantage %.2fs (%.1f MB/s)  speed ratio vs lz4 -5 %.2f (goal >= 1.0), vs lz4 -1 %.2f\n",
    p, b/p/1e6, p1, b/p1/1e6, o, b/o/1e6, p/o, p1/o
  printf "can size: lz4 -5 %d bytes, vantage %d bytes, ratio %.3f (stretch <= 1.15)\n", ps, os, os/ps }'
awk -v b="$bytes" -v c="$cpu" -v r="$real" 'BEGIN {
  printf "autoclave: %.2fs wall, %.2f CPU s, %.1f MB/s per core (goal >= 50; OONI published 1.0-4.3), %.1fx OONI best\n", r, c, b/c/1e6, b/c/1e6/4.3 }'
uid=$("$V" -q --data "$tmp/d" --format csv sql "SELECT uid FROM reports_datum_locator ORDER BY uid LIMIT 1 OFFSET 1000" | tail -1)
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
show=$(for i in $(seq 21); do
  s=$(date +%s%N); "$V" -q --data "$tmp/d" reports show "$uid" >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000 ))
done | sort -n | sed -n 11p)
awk -v us="$show" 'BEGIN { printf "show: median %.2f ms from a cold process (goal < 5 ms)\n", us/1000 }'
