#!/usr/bin/env bash
# bench-instructions.sh: the server's user-space instructions per request, counted by
# callgrind, for the read shapes of bench-read.sh.
#
# Wall-clock figures on a shared machine move by a fifth from one minute to the next;
# an instruction count does not, so it is what a change to the hot path is judged by.
# The count covers the server process only (not PostgreSQL, not the kernel's TCP work).
# For each shape: start the release server under valgrind --tool=callgrind, warm it up
# (3 s of the same load), reset the counters, drive it with wrk at low concurrency, dump
# and divide.
#
# Usage: scripts/bench-instructions.sh [--drop] [--reuse] [ORDERS]
#   ORDERS   orders to seed (default 70000, about 100k refunds)
#   --drop   drop the database at the end (default: keep it)
#   --reuse  keep an existing, already seeded database refunds_bench_<ORDERS>
# Environment: BENCH_DURATION (wrk seconds per shape, default 20), BENCH_PORT (18080),
#   BENCH_WORKERS (2), BENCH_POOL_SIZE (4), BENCH_REQUEST_TIMEOUT_MS (60000),
#   BENCH_SKIP_BUILD=1, BENCH_REV=<commit>, BENCH_PROFILE_DIR=<dir> (keep the callgrind
#   profiles there, one per shape, for callgrind_annotate), BENCH_RATE_LIMITS=1 and
#   BENCH_LOG_LEVEL=info (the production defaults: see bench-read.sh)
#   (see bench-lib.sh), PGHOST/PGPORT/PGUSER.
# Needs: valgrind (callgrind_control), cargo, psql, wrk, curl. Only 127.0.0.1 is targeted.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_args "$@"

DB="refunds_bench_${ORDERS}"
export BENCH_DURATION="${BENCH_DURATION:-20}"
export BENCH_POOL_SIZE="${BENCH_POOL_SIZE:-4}"
bench_init valgrind callgrind_control
bench_build
bench_database

bench_read_targets
SHAPES=(list-first list-page50 retrieve)

declare -A PER_REQUEST RPS P50 P99 NON2XX REQUESTS
for shape in "${SHAPES[@]}"; do
    url="$BASE${URL[$shape]}"
    bench_server valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.$shape.%p"
    # Warm up at the measured concurrency, so that every pooled connection is open
    # before the reset: a connection's TLS handshake would otherwise count as requests.
    curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "$url"
    wrk -t1 -c4 -d3s -H "Authorization: Bearer $TOKEN" "$url" >/dev/null
    callgrind_control -z "$SERVER_PID" >/dev/null
    wrk -t1 -c4 -d"${DURATION}s" -H "Authorization: Bearer $TOKEN" "$url" >"$TMP/$shape.wrk"
    callgrind_control -d "$SERVER_PID" >/dev/null
    bench_stop_server
    bench_wrk_parse "$TMP/$shape.wrk" "$shape"
    # The dump after the reset is part 1 of the profile.
    total="$(awk '/^summary:/ { print $2 }' "$TMP"/cg."$shape".*.1)"
    PER_REQUEST[$shape]="$(awk -v t="$total" -v n="${REQUESTS[$shape]}" 'BEGIN { printf "%.0f", t / n }')"
    if [[ -n "${BENCH_PROFILE_DIR:-}" ]]; then
        mkdir -p "$BENCH_PROFILE_DIR"
        cp "$TMP"/cg."$shape".*.1 "$BENCH_PROFILE_DIR/callgrind.$shape"
    fi
done

bench_facts
echo
echo "server: rev $REV, workers=$WORKERS pool=$POOL log=${BENCH_LOG_LEVEL:-warn} rate-limits=${BENCH_RATE_LIMITS:-0}; data: $REFUNDS refunds / $ORDERS_N orders"
echo "load: wrk -t1 -c4 -d${DURATION}s per shape, after a 3 s warm-up"
echo
printf '%-12s | %9s | %s\n' shape requests "instructions/request"
printf '%s\n' "-------------|-----------|---------------------"
for shape in "${SHAPES[@]}"; do
    printf '%-12s | %9s | %s\n' "$shape" "${REQUESTS[$shape]}" "${PER_REQUEST[$shape]}"
done

bench_finish
