#!/usr/bin/env bash
# bench/netstate.sh — netstate spec §8, one run on the same generated files:
#   import rows/s into SQLite and into PostgreSQL, against a plain PostgreSQL COPY of the
#   same rows (converted beforehand, untimed) into unindexed tables in one transaction;
#   then `at` latency over 1,000 random instants and `changes` throughput on SQLite.
#
# Usage: bench/netstate.sh [ROWS]        (default 10000000; ROUNDS=3 rounds of the three
#        imports, medians printed; env PG=postgres://... for the
#        PostgreSQL parts, default $VANTAGE_TEST_PG or the local test database; KEEP=1 keeps
#        the scratch directory; TMPDIR chooses where ~1.3 GB per 10 M rows go; BIN=DIR
#        runs the binaries in DIR instead of building this checkout)
set -euo pipefail
ROWS=${1:-10000000}
# Controllers deliver concurrently: their files arrive in BATCHES rounds, interleaved.
BATCHES=${BATCHES:-20}
ROUNDS=${ROUNDS:-3}
PG=${PG:-${VANTAGE_TEST_PG:-postgres://vantage:vantage@127.0.0.1:5432/vantage_test}}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/netstate-bench.XXXXXX")
schema_import="ns_bench_import_$$"
schema_copy="ns_bench_copy_$$"
cleanup() {
    psql -q "$PG" -c "DROP SCHEMA IF EXISTS $schema_import CASCADE; DROP SCHEMA IF EXISTS $schema_copy CASCADE" >/dev/null 2>&1 || true
    [ "${KEEP:-0}" = 1 ] || rm -rf "$tmp"
}
trap cleanup EXIT

# BIN=DIR runs binaries built before (vantage, examples copy_convert and at_latency), e.g.
# an older commit's for a side-by-side run; else this checkout is built.
if [ -n "${BIN:-}" ]; then
    rel=$BIN
    mkdir -p "$rel/examples"
    for e in copy_convert at_latency; do [ -e "$rel/examples/$e" ] || cp "$rel/$e" "$rel/examples/"; done
else
    (cd "$root" && cargo build --release -q -p vantage -p vantage-netstate --examples --bins)
    # Cargo builds into CARGO_TARGET_DIR when it is set.
    rel="${CARGO_TARGET_DIR:-$root/target}/release"
fi
# Private copies: another build of the shared target must not replace them mid-run.
mkdir -p "$tmp/bin"
cp "$rel/vantage" "$rel/examples/copy_convert" "$rel/examples/at_latency" "$tmp/bin/"
V="$tmp/bin/vantage"
EX="$tmp/bin"
now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "versions: $("$V" --version), $(psql --version | head -1), sqlite (bundled by rusqlite)"

echo "generating $ROWS rows (2 controllers)..."
"$V" --data "$tmp/gdata" -q netstate generate --out "$tmp/gen" --rows "$ROWS" --seed 1 --sources 2 --batches "$BATCHES" \
    > "$tmp/manifest.txt"
total=$(python3 -c "import json,sys; print(json.load(open('$tmp/gen/MANIFEST.json'))['rows'])")
echo "generated $total rows, $(du -sh "$tmp/gen" | cut -f1) of flat files"

import_into() { # $1 = label, $2 = extra global args
    local label=$1; shift
    rm -rf "$tmp/run" && cp -al "$tmp/gen" "$tmp/run"
    local t0 t1
    t0=$(now)
    for b in $(seq -f %03g 0 $((BATCHES - 1))); do
        for s in ctl-0 ctl-1; do
            mkdir -p "$tmp/loaded-$label/$s" "$tmp/run/$s/batch-$b"
            "$V" --data "$tmp/data-$label" "$@" -q netstate import --import "$tmp/run/$s/batch-$b" \
                --loaded "$tmp/loaded-$label/$s" --source "$s"
        done
    done
    t1=$(now)
    echo "$(rate "$total" "$t0" "$t1") $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

pg_ok=1
psql -q "$PG" -c "CREATE SCHEMA $schema_copy" >/dev/null 2>&1 || pg_ok=0
if [ "$pg_ok" = 1 ]; then
    "$EX/copy_convert" "$tmp/copy" $(find "$tmp/gen" -name '*.sql' | sort) >/dev/null
    url="$PG"; case "$url" in *\?*) url="$url&";; *) url="$url?";; esac
    url="${url}options=-csearch_path%3D$schema_import"
else
    echo "PostgreSQL at $PG not reachable: PostgreSQL import and COPY peer skipped"
fi

# The host's speed drifts over minutes: each round runs the three side by side, and the
# figures are medians over the rounds (spec §8: medians of 3).
sq_all="" pg_all="" copy_all="" ratio_all=""
for round in $(seq 1 "$ROUNDS"); do
    rm -rf "$tmp/data-sqlite" "$tmp/loaded-sqlite"
    read -r sq_rate sq_s < <(import_into sqlite)
    echo "round $round: vantage import, SQLite:     $sq_s s, $sq_rate rows/s"
    sq_all="$sq_all $sq_rate"
    [ "$pg_ok" = 1 ] || continue
    psql -q "$PG" -c "DROP SCHEMA IF EXISTS $schema_import CASCADE; CREATE SCHEMA $schema_import" >/dev/null 2>&1
    rm -rf "$tmp/data-postgres" "$tmp/loaded-postgres"
    read -r pg_rate pg_s < <(import_into postgres --warehouse "$url")
    echo "round $round: vantage import, PostgreSQL: $pg_s s, $pg_rate rows/s"
    PGOPTIONS="-c search_path=$schema_copy" psql -q "$PG" -f "$tmp/copy/schema.sql" >/dev/null 2>&1
    t0=$(now)
    PGOPTIONS="-c search_path=$schema_copy" psql -q -1 "$PG" -f "$tmp/copy/load.sql" >/dev/null
    t1=$(now)
    copy_rate=$(rate "$total" "$t0" "$t1")
    echo "round $round: peer: psql COPY, unindexed: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s, $copy_rate rows/s"
    pg_all="$pg_all $pg_rate" copy_all="$copy_all $copy_rate"
    ratio_all="$ratio_all $(awk -v p="$pg_rate" -v c="$copy_rate" 'BEGIN { printf "%.3f", p / c }')"
done
sq_rate=$(echo "$sq_all" | median)
echo "vantage import, SQLite, median of $ROUNDS: $sq_rate rows/s (goal >= 300k rows/s)"
if [ "$pg_ok" = 1 ]; then
    pg_rate=$(echo "$pg_all" | median) copy_rate=$(echo "$copy_all" | median)
    echo "vantage import, PostgreSQL, median of $ROUNDS: $pg_rate rows/s"
    echo "peer: psql COPY, unindexed, median of $ROUNDS: $copy_rate rows/s"
    awk -v p="$pg_rate" -v s="$sq_rate" -v c="$copy_rate" -v r="$(echo "$ratio_all" | median)" 'BEGIN {
        printf "ratio PostgreSQL import / COPY: %.2f of the medians, %.2f median of the rounds (goal >= 0.5, issue: within 2x)\n", p / c, r
        printf "ratio SQLite import / COPY:     %.2f (stretch >= 0.4x COPY)\n", s / c }'
fi

"$EX/at_latency" "$tmp/data-sqlite" - 1000
echo "uptime at the end: $(uptime)"
