#!/usr/bin/env bash
# bench/passive.sh [UPDATES_PER_SESSION] — passive spec §10, issue 7.
#
# One generated corpus (50 routers × 4 sessions × 240 updates, seed 1, tarballs of gzips;
# --updates raised until it holds at least 1 GiB of uncompressed update text), then in one
# run:
#   Z    = wall time of  for t in *.tar; do tar -xOf "$t" | zcat; done >/dev/null
#   E2E  = wall time of  vantage passive run --watch SPOOL --workers 1  (ingest + process
#          into an empty warehouse)                       target: E2E / Z <= 3
#          (and the same with --workers 2, informative)
#   P1, P2 = wall time of vantage passive process --workers 1 / 2 over the same ingested
#          warehouse (two copies)                         target: P1 / P2 >= 1.7
# Prints every time and ratio, the corpus size, the machine and the versions.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p vantage >/dev/null 2>&1 || cargo build --release -p vantage
V=$PWD/target/release/vantage
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vantage-passive-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
t() { local TIMEFORMAT=%R; { time "$@" >/dev/null 2>&1; } 2>&1; }

updates=${1:-240}
while :; do
    rm -rf "$tmp/corpus"
    line=$("$V" --format csv passive generate --out "$tmp/corpus" --routers 50 --sessions 4 \
        --updates "$updates" --seed 1 --layout tar | tail -1)
    size=$(echo "$line" | cut -d, -f4)
    [ "$size" -ge 1073741824 ] && break
    updates=$(( updates * 1073741824 / size + 1 ))
    echo "corpus holds $size bytes; regenerating with --updates $updates"
done
echo "corpus: $line (files,updates,packets,uncompressed_bytes,compressed_bytes), --updates $updates"
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(nproc) cores, $(uname -srm), $("$V" --version), $(zcat --version | head -1)"

cd "$tmp/corpus"
zt=$(t bash -c 'for t in *.tar; do tar -xOf "$t" | zcat; done')
cd - >/dev/null

e2e() {
    rm -rf "$tmp/spool" "$tmp/d1"
    cp -al "$tmp/corpus" "$tmp/spool"
    rm -rf "$tmp/spool/keys" "$tmp/spool/truth.json"
    t "$V" -q --data "$tmp/d1" passive run --watch "$tmp/spool" --workers "$1"
    rm -rf "$tmp/d1"
}
e2e=$(e2e 1)
e2e2=$(e2e 2)

ing=$(t "$V" -q --data "$tmp/d2" passive ingest "$tmp/corpus")
cp -r "$tmp/d2" "$tmp/d3"
# Wall time, CPU time and peak RSS of a command.
twr() { /usr/bin/time -f "%e %U %S %M" "$@" 2>&1 >/dev/null | tail -1; }
r1=$(twr "$V" -q --data "$tmp/d2" passive process --workers 1)
r2=$(twr "$V" -q --data "$tmp/d3" passive process --workers 2)
p1=${r1%% *}
p2=${r2%% *}
idle=$(t "$V" -q --data "$tmp/d3" passive process --workers 2)

awk -v z="$zt" -v e="$e2e" -v e2="$e2e2" -v i="$ing" -v p1="$p1" -v p2="$p2" -v idle="$idle" 'BEGIN {
    printf "zcat %.2fs  passive run (workers 1) %.2fs  ratio %.2f (target <= 3)\n", z, e, e / z
    printf "zcat %.2fs  passive run (workers 2) %.2fs  ratio %.2f\n", z, e2, e2 / z
    printf "ingest %.2fs  process workers 1 %.2fs  workers 2 %.2fs  speed-up %.2f (target >= 1.7)\n", i, p1, p2, p1 / p2
    printf "process with nothing new %.2fs (stretch <= 1 s)\n", idle
}'
echo "process workers 1: wall user sys peak-KB = $r1"
echo "process workers 2: wall user sys peak-KB = $r2"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (a loaded machine hides the speed-up)"
