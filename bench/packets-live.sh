#!/usr/bin/env bash
# Live capture on loopback at the highest rate this machine's generator reaches (issue 4):
# `vantage packets record --interface lo` inside a network namespace of its own, a UDP
# flood to 127.0.0.1 there for SECONDS, then SIGTERM; prints packets/s recorded and the
# drop ratio (kernel + queue). Needs root and `ip`. Usage: bench/packets-live.sh [SECONDS] [VANTAGE]
# Result (debug build, 2 cores shared with other builds, 2026-12-01): sent 528832 datagrams in 5s
# (105766/s); recorded 528832 packets (105766/s); kernel drops 0, queue drops 0, drop ratio 0.0000%.
set -euo pipefail
secs=${1:-5}
bin=${2:-target/debug/vantage}
ns=vtbench$$
tmp=$(mktemp -d)
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" "$bin" --data "$tmp/d" packets record --interface lo 2>"$tmp/rec.err" &
rec=$!
sleep 1
ip netns exec "$ns" python3 - "$secs" >"$tmp/sent" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 9999))
msg = b"x" * 64; n = 0; end = time.time() + float(sys.argv[1])
while time.time() < end:
    for port in range(20000, 20064):
        try: s.sendto(msg, ("127.0.0.1", 9999)); n += 1
        except OSError: pass
print(n)
PY
sleep 1
kill -TERM "$(pgrep -P $rec || echo $rec)" 2>/dev/null || kill -TERM $rec
wait $rec || true
sent=$(cat "$tmp/sent")
line=$(grep 'packets recorded' "$tmp/rec.err")
rec_pkts=$(echo "$line" | awk '{print $1}')
kdrop=$(echo "$line" | sed -n 's/.*dropped \([0-9]*\).*/\1/p')
qdrop=$(echo "$line" | sed -n 's/.*queue drops \([0-9]*\).*/\1/p')
awk -v s="$sent" -v r="$rec_pkts" -v k="$kdrop" -v q="$qdrop" -v t="$secs" 'BEGIN {
  printf "sent %d datagrams in %ss (%.0f/s); recorded %d packets (%.0f/s); kernel drops %d, queue drops %d, drop ratio %.4f%%\n",
    s, t, s/t, r, r/t, k, q, (k+q)*100/(r+k+q) }'
