#!/usr/bin/env bash
# Browser test of the web UI (issue 9): `vantage demo --serve` on a free loopback port,
# and headless Chromium (Debian's `chromium`) on every page. Each page
# must reach main[data-ready="yes"] with its tables and SVG plots drawn; a screenshot
# of each is saved as a test artifact.
#
#   crates/server/tests/ui/browser.sh [ARTIFACT_DIR]      (default: target/ui-screenshots)
#
# VANTAGE_BIN names the binary (default target/debug/vantage). VANTAGE_UI_LIVE=1 runs
# the server with the packet recorder capturing `lo` of a network namespace made for the
# run (root and `ip netns` needed, else a notice and exit 0), Chromium inside it too, so
# that the packets page is checked against a running recorder (it records the browser's
# own requests). Exit 0 when every page rendered, 1 otherwise. Stops the server it
# started by its pid and deletes its namespace.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../../.." && pwd)
bin=${VANTAGE_BIN:-$root/target/debug/vantage}
out=${1:-$root/target/ui-screenshots}
mkdir -p "$out"
command -v chromium >/dev/null || { echo "chromium is not installed (apt-get install -y chromium)"; exit 1; }
live=${VANTAGE_UI_LIVE:-0}
ns=
inside=()
extra=()
if [ "$live" = 1 ]; then
  if [ "$(id -u)" != 0 ] || ! ip netns add "vtui$$" 2>/dev/null; then
    echo "notice: VANTAGE_UI_LIVE=1 needs root and ip netns; skipped"
    exit 0
  fi
  ns=vtui$$
  ip -n "$ns" link set lo up
  inside=(ip netns exec "$ns")
  extra=(--set packets.interface=lo --set packets.console.listen=127.0.0.1:0)
fi
work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  wait 2>/dev/null
  [ -n "$ns" ] && ip netns del "$ns"
  rm -rf "$work"
}
trap cleanup EXIT

data=$work/data
# `demo --serve`: every kind's demo data, then the daemon on a free loopback port.
"${inside[@]}" "$bin" --data "$data" "${extra[@]}" demo --serve --bind 127.0.0.1:0 \
  >"$work/demo.log" 2>"$work/serve.log" &
server=$!
url=
for _ in $(seq 600); do
  url=$(sed -n 's|.*listening on \(http://[^ ]*\)|\1|p' "$work/serve.log" | head -1)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "serve did not start:"; cat "$work/serve.log"; exit 1; }

chrome() {
  timeout 90 "${inside[@]}" chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$(mktemp -d -p "$work")" --virtual-time-budget=10000 "$@" 2>/dev/null
}

# page:minimum tables:minimum svg plots:height
pages="overview:1:0:900 cans:1:0:700 reports:3:1:1400 passive:1:3:1150 netstate:2:1:1000 packets?filter=tcp:2:2:1100"
fail=0
for spec in $pages; do
  IFS=: read -r page tables plots height <<<"$spec"
  name=${page%%\?*}
  dom=$(chrome --dump-dom "${url}#${page}")
  got_tables=$( (grep -o '<table' <<<"$dom" || true) | wc -l)
  got_plots=$( (grep -o '<svg' <<<"$dom" || true) | wc -l)
  ready=$( (grep -o 'data-ready="[a-z]*"' <<<"$dom" || true) | head -1)
  chrome --window-size=1280,"$height" --screenshot="$out/$name.png" "${url}#${page}" >/dev/null || true
  if [ "$ready" != 'data-ready="yes"' ] || [ "$got_tables" -lt "$tables" ] || [ "$got_plots" -lt "$plots" ]; then
    echo "FAIL $name: $ready, $got_tables tables (want $tables), $got_plots plots (want $plots)"
    fail=1
  else
    echo "ok   $name: $got_tables tables, $got_plots plots, screenshot $out/$name.png"
  fi
done
if [ "$name" = packets ] && ! grep -q 'pcap —' <<<"$dom"; then
  echo "FAIL packets: the query form did not return a pcap"; fail=1
fi
if [ "$live" = 1 ]; then
  if grep -q 'Recording live on lo' <<<"$dom"; then
    echo "ok   packets: the page shows the live recorder on lo"
  else
    echo "FAIL packets: no live recorder shown"; fail=1
  fi
fi
exit $fail
