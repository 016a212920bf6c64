#!/usr/bin/env bash
# Side by side with tcpdump (packets spec §13, issue 3 acceptance), one run, medians of 3:
#   1. record: `vantage packets record --read IN` (cutoff 15k, five indexes) vs `tcpdump -r IN -w OUT`
#   2. conn4 query on the stored data vs `tcpdump -r S -w - '<conn filter>'` over every segment S
#   3. ip query vs `tcpdump -r S -w - 'host A'` over every segment
#   4. index bytes as a share of stored packet bytes
# Usage: bench/packets.sh [IN.pcap] [MiB]  (without IN, a synthetic trace of MiB, default 1024, is made)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
V=${VANTAGE:-$root/target/release/vantage}
SYNTH=${SYNTH:-$root/target/release/examples/synth}
command -v tcpdump >/dev/null || { echo "tcpdump is needed (apt-get install -y tcpdump)"; exit 1; }
[ -x "$V" ] || (cd "$root" && cargo build --release -p vantage)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
in=${1:-}
if [ -z "$in" ]; then
  [ -x "$SYNTH" ] || (cd "$root" && cargo build --release -p vantage-packets --example synth)
  in=$tmp/in.pcap
  "$SYNTH" "$in" "${2:-1024}"
fi
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN{printf "%.4f\n", e-s}'; }
med3() { local a b c; a=$("$@"); b=$("$@"); c=$("$@"); printf '%s\n%s\n%s\n' "$a" "$b" "$c" | sort -n | sed -n 2p; }
rec() { rm -rf "$tmp/d"; t "$V" --data "$tmp/d" --config "$here/packets.toml" -q packets record --read "$in"; }
dump() { t tcpdump -r "$in" -w "$tmp/out.pcap"; }
echo "input: $in ($(stat -c %s "$in") bytes); $(tcpdump --version 2>&1 | head -1); vantage $("$V" --version | awk '{print $2}'); $(nproc) cores"
peer=$(med3 dump)
ours=$(med3 rec)
awk -v p="$peer" -v o="$ours" 'BEGIN {printf "record: tcpdump -w %ss  vantage record %ss  ratio %.2f (target <= 1.5)\n", p, o, o/p}'
# The data of the last record run stay in $tmp/d for the queries.
row=$("$V" --data "$tmp/d" --format csv sql "SELECT orig_addr, orig_port, resp_addr, resp_port FROM packets_flows WHERE proto = 6 ORDER BY stored_pkts DESC, flow_id LIMIT 1" | tail -1)
IFS=, read -r A p B q <<<"$row"
segs=$(find "$tmp/d/packets/classes" -name '*.pcap' | sort)
key="tcp $A:$p $B:$q"
cf="tcp and ((src host $A and src port $p and dst host $B and dst port $q) or (src host $B and src port $q and dst host $A and dst port $p))"
tq() { local seg; for seg in $segs; do tcpdump -r "$seg" -w - "$1"; done; }
peer=$(med3 t tq "$cf")
ours=$(med3 t "$V" --data "$tmp/d" --config "$here/packets.toml" -q packets query --index conn4 --key "$key" -w "$tmp/q.pcap")
n=$(tcpdump -r "$tmp/q.pcap" 2>/dev/null | wc -l); m=0
for seg in $segs; do m=$((m + $(tcpdump -r "$seg" "$cf" 2>/dev/null | wc -l))); done
inproc=$("$V" --data "$tmp/d" --config "$here/packets.toml" packets query --index conn4 --key "$key" -w "$tmp/q.pcap" 2>&1 | sed -n 's/.* in \([0-9.]*\) ms.*/\1/p')
awk -v p="$peer" -v o="$ours" -v n="$n" -v m="$m" -v i="$inproc" 'BEGIN {printf "conn4 query: tcpdump %ss  vantage %ss  speedup %.1fx (target >= 100)  packets %d vs %d; search in-process %s ms (%.0fx)\n", p, o, p/o, n, m, i, p*1000/i}'
peer=$(med3 t tq "host $A")
ours=$(med3 t "$V" --data "$tmp/d" --config "$here/packets.toml" -q packets query --index ip --key "$A" -w "$tmp/q.pcap")
awk -v p="$peer" -v o="$ours" 'BEGIN {printf "ip query: tcpdump %ss  vantage %ss  speedup %.1fx (target >= 10)\n", p, o, p/o}'
"$V" --data "$tmp/d" --format json packets stats | awk '/index_pct_of_stored/ {gsub(/[,"]/, ""); printf "index size: %s%% of stored packet bytes (target < 10)\n", $2}'
