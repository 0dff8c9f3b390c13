#!/usr/bin/env bash
# soak.sh: the server's memory under a long mixed load, on PostgreSQL or SQLite.
#
# Seeds a database (PostgreSQL: refunds_soak_<ORDERS>; SQLite: a file in a temporary
# directory), starts the release server on 127.0.0.1:18080 with rate limits off and runs,
# at the same time for SOAK_DURATION seconds:
#   readers  wrk -c6 (scripts/soak.lua) over four read shapes in turn: first page, a
#            filtered page, page 50, one refund
#   writers  wrk -c2 (scripts/bench-write.lua) creating 1-cent EUR refunds over
#            SOAK_CAPTURES captures in turn
# The server's VmRSS (from /proc/<pid>/status) is sampled every SOAK_INTERVAL seconds and
# printed as a table, then start (after the first requests), peak and end RSS, with each
# side's req/s and HTTP statuses.
#
# Usage: scripts/soak.sh [--sqlite] [--drop] [--reuse] [ORDERS]
#   --sqlite  run on SQLite instead of PostgreSQL
#   ORDERS    orders to seed (default 10000)
#   --drop    PostgreSQL: drop the database at the end (default: keep it)
#   --reuse   PostgreSQL: keep an existing, already seeded refunds_soak_<ORDERS>
# Environment: SOAK_DURATION (600), SOAK_INTERVAL (5), SOAK_READERS (6), SOAK_WRITERS (2),
#   SOAK_CAPTURES (10000), BENCH_PORT (18080), BENCH_WORKERS (2), BENCH_POOL_SIZE (32),
#   BENCH_SKIP_BUILD=1, BENCH_REV=<commit>, PGHOST/PGPORT/PGUSER (see bench-lib.sh), and any
#   REFUNDS_* setting, which the server inherits.
# Needs: cargo, psql, pgbench, wrk (apt-get install wrk), curl; sqlite3 with --sqlite.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
SQLITE=0
ARGS=()
for arg in "$@"; do
    if [[ "$arg" == --sqlite ]]; then SQLITE=1; else ARGS+=("$arg"); fi
done
# The soak seeds 10000 orders unless told otherwise.
bench_args 10000 "${ARGS[@]}"

DB="refunds_soak_${ORDERS}"
if [[ "$SQLITE" == 1 ]]; then bench_init sqlite3; else bench_init; fi
SOAK_DURATION="${SOAK_DURATION:-600}"
INTERVAL="${SOAK_INTERVAL:-5}"
READERS="${SOAK_READERS:-6}"
WRITERS="${SOAK_WRITERS:-2}"
CAPTURES="${SOAK_CAPTURES:-10000}"

# 1. Build, database, seed.
bench_build
if [[ "$SQLITE" == 1 ]]; then
    BACKEND=SQLite
    SQLITE_DB="$TMP/soak.db"
    export DATABASE_URL="sqlite://$SQLITE_DB"
    log "seeding $ORDERS orders into $SQLITE_DB"
    "$BIN" seed --organization "$ORG_SLUG" --mode test --orders "$ORDERS" --seed 1 >&2
    sql() { sqlite3 -batch "$SQLITE_DB" "$1"; }
else
    BACKEND=PostgreSQL
    bench_database
    sql() { q "$1"; }
fi
ORG_ID="$(sql "SELECT organization_id FROM refunds WHERE mode = 'test' LIMIT 1")"
SCOPE="organization_id = '$ORG_ID' AND mode = 'test'"
REFUND_ID="$(sql "SELECT id FROM refunds WHERE $SCOPE ORDER BY id LIMIT 1 OFFSET 100")"
sql "SELECT min(id) FROM captures WHERE $SCOPE AND currency_code = 'EUR' AND succeeded
       AND refund_balance_cents > 1000 GROUP BY order_id ORDER BY 1 LIMIT $CAPTURES" >"$TMP/captures.ids"
log "$(wc -l <"$TMP/captures.ids") captures to refund"
READS=(
    "/api/refunds?sort=-created_at&page%5Bsize%5D=25"
    "/api/refunds?filter%5Bq%5D%5Bcurrency_code_eq%5D=EUR&filter%5Bq%5D%5Bamount_cents_gt%5D=5000&sort=amount_cents&page%5Bsize%5D=25"
    "/api/refunds?page%5Bnumber%5D=50&page%5Bsize%5D=25"
    "/api/refunds/$REFUND_ID"
)

# 2. Server; its RSS once every read shape and a write have been answered.
bench_server
for path in "${READS[@]}"; do
    code="$(curl -sS -o "$TMP/read.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$BASE$path")"
    [[ "$code" == 200 ]] || { echo "GET $path: HTTP $code" >&2; cat "$TMP/read.json" >&2; exit 1; }
done
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$SERVER_PID/status"; }
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# 3. Readers and writers side by side, RSS sampled meanwhile.
log "soak on $BACKEND for ${SOAK_DURATION}s: $READERS readers, $WRITERS writers (RSS idle $RSS_IDLE)"
wrk -t1 -c"$READERS" -d"${SOAK_DURATION}s" --latency -s "$REPO/scripts/soak.lua" "$BASE" \
    -- "$TOKEN" "${READS[@]}" >"$TMP/reads.wrk" &
READ_PID=$!
wrk -t1 -c"$WRITERS" -d"${SOAK_DURATION}s" --latency -s "$REPO/scripts/bench-write.lua" "$BASE/api/refunds" \
    -- "$TMP/captures.ids" 1 "$TOKEN" 1 EUR >"$TMP/writes.wrk" &
WRITE_PID=$!
T0="$(now)"
printf '%8s | %9s\n' "seconds" "RSS MiB"
printf '%s\n' "---------|----------"
START_KB="" PEAK_KB=0 END_KB=0
while kill -0 "$READ_PID" 2>/dev/null || kill -0 "$WRITE_PID" 2>/dev/null; do
    kb="$(rss_kb)"
    [[ -n "$START_KB" ]] || START_KB="$kb"
    (( kb > PEAK_KB )) && PEAK_KB="$kb"
    END_KB="$kb"
    printf '%8.0f | %9s\n' "$(awk -v a="$T0" -v b="$(now)" 'BEGIN { print b - a }')" "$(mb "$kb")"
    sleep "$INTERVAL"
done
wait "$READ_PID" "$WRITE_PID"

# 4. Report.
declare -A RPS P50 P99 NON2XX REQUESTS
bench_wrk_parse "$TMP/reads.wrk" reads
bench_wrk_parse "$TMP/writes.wrk" writes
statuses() { awk '$1 == "status" { printf "%s%s=%s", sep, $2, $3; sep = " " }' "$1"; }
MEM="$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo
echo "machine: $(nproc) cores, $MEM RAM; backend $BACKEND; server workers=$WORKERS pool=$POOL, rate limits off"
echo "reads:  ${RPS[reads]} req/s, p50 ${P50[reads]}, p99 ${P99[reads]}; statuses $(statuses "$TMP/reads.wrk")"
echo "writes: ${RPS[writes]} req/s, p50 ${P50[writes]}, p99 ${P99[writes]}; statuses $(statuses "$TMP/writes.wrk")"
echo "RSS MiB: idle $RSS_IDLE, start $(mb "$START_KB"), peak $(mb "$PEAK_KB"), end $(mb "$END_KB")"
SERVER_ERRORS="$(grep -ciE 'error|panic' "$TMP/server.log" || true)"
echo "server log: $SERVER_ERRORS error/panic lines"
if [[ "$SQLITE" == 1 ]]; then bench_stop_server; else bench_finish; fi
