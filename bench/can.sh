#!/usr/bin/env bash
# bench/can.sh [MIB] — the can format against its peer, on one corpus, in one run
# (issue 2, Acceptance: "Bench").
#
#   (a) write:  vantage can write DIR -o out.tar.lz4      vs  tar cf - DIR | lz4 -1 > out.tar.lz4
#       target: no slower (ratio vantage/peer <= 1.00), while vantage also takes every
#       member's sha1 and crc32, writes the index, fsyncs and publishes atomically.
#   (b) read one member near the end of the can, by index:
#               vantage can cat out.tar.lz4 MEMBER        vs  lz4 -dc out.tar.lz4 | tar xO MEMBER
#       target: >= 20x faster on a can of >= 200 MiB of input.
#
# MIB (default 200) is the corpus size: JSON files generated deterministically by
# bench/can_corpus.py. RUNS (default 5) runs of each, alternating, medians printed.
# Uses target/release/vantage; when the CLI's `can` commands are not wired, falls back to
# the vantage-can crate's example binary (crates/can/examples/can.rs) and says so.
set -euo pipefail

mib=${1:-200}
runs=${RUNS:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vantage-bench-can.XXXXXX")
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT

for tool in tar lz4 python3 cargo; do
    if ! command -v "$tool" >/dev/null; then
        if [ "$tool" = lz4 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get install -y lz4 >/dev/null
        else
            echo "bench/can.sh: $tool is required" >&2
            exit 1
        fi
    fi
done

echo "building (release)..." >&2
(cd "$root" && cargo build --release -q -p vantage 2>/dev/null) || true
bin="$root/target/release/vantage"
mkdir -p "$tmp/probe" && echo '{}' >"$tmp/probe/a.json"
if [ -x "$bin" ] && (cd "$tmp" && "$bin" can write probe -o probe.tar.lz4 >/dev/null 2>&1); then
    ours=("$bin" can)
    which_bin="target/release/vantage"
else
    (cd "$root" && cargo build --release -q -p vantage-can --example can)
    ours=("$root/target/release/examples/can")
    which_bin="target/release/examples/can (fallback: the vantage CLI's can commands are not wired)"
fi

echo "generating a ${mib} MiB corpus..." >&2
python3 "$root/bench/can_corpus.py" "$tmp/corpus" "$mib" >"$tmp/corpus.txt"
cd "$tmp"
cat corpus/*/*/* >/dev/null # warm the page cache for both sides alike

# Seconds (microsecond resolution, no fork around the command) of one run.
t() {
    local start=$EPOCHREALTIME
    "$@" >/dev/null 2>&1
    local end=$EPOCHREALTIME
    awk -v s="$start" -v e="$end" 'BEGIN { printf "%.6f\n", e - s }'
}
median() { sort -n | sed -n "$(((runs + 1) / 2))p"; }

ours_write() { rm -f out.tar.lz4 out.tar.lz4.index.jsonl; "${ours[@]}" write corpus -o out.tar.lz4; }
peer_write() { rm -f peer.tar.lz4; tar cf - corpus | lz4 -1 -q >peer.tar.lz4; }

: >ow && : >pw
for _ in $(seq "$runs"); do
    t ours_write >>ow
    t peer_write >>pw
done
ours_w=$(median <ow)
peer_w=$(median <pw)

# A member near the end: the last but one in the index.
member=$(python3 -c '
import json, sys
names = [l["name"] for l in map(json.loads, open(sys.argv[1])) if l.get("type") == "member"]
print(names[-2])' out.tar.lz4.index.jsonl)
"${ours[@]}" cat out.tar.lz4 "$member" | cmp - "corpus/$member"

ours_read() { "${ours[@]}" cat out.tar.lz4 "$member"; }
peer_read() { lz4 -dc out.tar.lz4 | tar xO "$member"; }
: >or && : >pr
for _ in $(seq "$runs"); do
    t ours_read >>or
    t peer_read >>pr
done
ours_r=$(median <or)
peer_r=$(median <pr)

in_bytes=$(du -sb corpus | cut -f1)
echo "corpus:  $(cat corpus.txt) ($((in_bytes / 1048576)) MiB)"
echo "can:     $(stat -c %s out.tar.lz4) bytes (index $(stat -c %s out.tar.lz4.index.jsonl)); tar|lz4 -1: $(stat -c %s peer.tar.lz4) bytes"
echo "vantage: $which_bin; peer: $(lz4 --version 2>&1 | head -1 | sed 's/^\*\** *//; s/ *\**$//'), $(tar --version | head -1)"
echo "build:   $(rustc --version), release profile"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -sr)"
echo "medians of $runs runs:"
awk -v o="$ours_w" -v p="$peer_w" 'BEGIN {
    r = o / p
    printf "  (a) write   vantage %.3fs  tar|lz4 -1 %.3fs  ratio %.2f (target <= 1.00: %s)\n", o, p, r, (r <= 1.0 ? "met" : "NOT met")
}'
awk -v o="$ours_r" -v p="$peer_r" -v m="$member" 'BEGIN {
    s = p / o
    printf "  (b) read    vantage %.4fs  lz4 -dc|tar xO %.4fs  speedup %.0fx (target >= 20x: %s)  member %s\n", o, p, s, (s >= 20 ? "met" : "NOT met"), m
}'
