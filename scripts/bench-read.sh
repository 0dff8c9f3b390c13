#!/usr/bin/env bash
# bench-read.sh: throughput and latency of the read API (GET /api/refunds) on PostgreSQL.
#
# Seeds a fresh database with deterministic data, starts the release server on
# 127.0.0.1:18080 and drives four request shapes with wrk:
#   list-first     /api/refunds?sort=-created_at&page[size]=25           (first page)
#   list-filter    filter[q][currency_code_eq]=EUR&filter[q][amount_cents_gt]=5000
#                  &sort=amount_cents&page[size]=25                      (first page)
#   list-page50    page[number]=50&page[size]=25, default sort (-created_at)
#   retrieve       /api/refunds/<id> of one real refund
# Beside each shape, pgbench replays the SQL the service issues for one such request
# (unfiltered list: one page query carrying the maintained count; filtered list: the page
# query, then COUNT(*); retrieve: one SELECT with id = $3; no pool check, which a
# busy pool skips: pool_check_idle_ms), so its TPS is the database-only ceiling; "ratio"
# is HTTP req/s divided by that TPS, paired per round (BENCH_ROUNDS) and reported as the
# median. pgbench's mean latency and its p99 (from its transaction log, -l) at the same
# concurrency stand beside the service's p50/p99. Beside req/s, the CPU time each request
# cost the server and PostgreSQL (from /proc, during the wrk run): on cores they share, the
# ratio is about (PostgreSQL + pgbench) / (PostgreSQL + server + wrk).
# Finally prints the server's RSS (VmRSS now, VmHWM peak), machine and data size.
#
# Usage: scripts/bench-read.sh [--drop] [--reuse] [ORDERS]
#   ORDERS   orders to seed (default 70000, about 100k refunds; 700000 is about 1M)
#   --drop   drop the database at the end (default: keep it)
#   --reuse  keep an existing, already seeded database refunds_bench_<ORDERS>
# Environment: BENCH_DURATION (wrk/pgbench seconds, default 10), BENCH_ROUNDS (3),
#   BENCH_THREADS (2), BENCH_CONNECTIONS (32), BENCH_PORT (18080), BENCH_WORKERS (2),
#   BENCH_REQUEST_TIMEOUT_MS (the server's statement timeout, 60000),
#   BENCH_POOL_SIZE (twice the cores: the database shares them; see the README),
#   PGHOST (127.0.0.1), PGPORT (5432), PGUSER (postgres), BENCH_SKIP_BUILD=1,
#   BENCH_KEEP_SQL=<dir> (copy the generated pgbench scripts there),
#   BENCH_RATE_LIMITS=1 and BENCH_LOG_LEVEL=info (the production defaults: the limiter
#   runs, with limits no load reaches, and every request writes a log line),
#   BENCH_FLOOR=1 (then also measure the stack's floor, examples/stack_floor.rs, on port
#   BENCH_PORT + 1: shapes floor-first and floor-retrieve, against the same pgbench ceilings).
# Needs: cargo, psql, pgbench, wrk (apt-get install wrk), curl; a PostgreSQL the
# PGUSER may create databases on. Only 127.0.0.1 is targeted.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_args "$@"

DB="refunds_bench_${ORDERS}"
export BENCH_POOL_SIZE="${BENCH_POOL_SIZE:-$((2 * $(nproc)))}"
bench_init

# 1. Build, database, seed.
bench_build
FLOOR_BIN="$REPO/target/release/examples/stack_floor"
if [[ "${BENCH_FLOOR:-0}" == 1 && "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    log "cargo build --release --example stack_floor"
    (cd "$REPO" && cargo build --release --quiet --example stack_floor)
fi
bench_database

bench_read_targets

# 2. Server and token.
bench_server

# 3 + 4. Shapes: name, path+query, pgbench script.
SHAPES=(list-first list-filter list-page50 retrieve)

# pgbench scripts: the statements of one request exactly as the service sends them
# (checked with log_min_duration_statement=0): diesel's cached named prepared statements
# (hence -M prepared) and no explicit transaction. pgbench's \set only holds numbers, so
# the text values (org, mode, currency, id array) come in with -D.
# The columns a read shows (refunds::ShownRow): no tenant, no write-side bookkeeping.
COLS='"refunds"."id", "refunds"."order_id", "refunds"."reference_capture_id", "refunds"."authorization_id", "refunds"."number", "refunds"."key", "refunds"."currency_code", "refunds"."amount_cents", "refunds"."succeeded", "refunds"."payment_method_type", "refunds"."message", "refunds"."error_code", "refunds"."error_detail", "refunds"."token", "refunds"."gateway_transaction_id", "refunds"."reference", "refunds"."reference_origin", "refunds"."metadata", "refunds"."created_at", "refunds"."updated_at"'
SCOPE='("refunds"."organization_id" = :org) AND ("refunds"."mode" = :mode)'
FILTERED='(((("refunds"."organization_id" = :org) AND ("refunds"."mode" = :mode)) AND ("refunds"."currency_code" = :cur)) AND ("refunds"."amount_cents" > :gt))'
# Unfiltered lists read the maintained, sharded count (record_counts) in the page query
# itself, as a scalar subquery, when the schema has it; else they run COUNT(*) first.
if [[ -n "$(q "SELECT to_regclass('record_counts')")" ]]; then
    WHOLE_PAGE='SELECT '"$COLS"', (SELECT CAST(SUM("record_counts"."record_count") AS BIGINT) FROM "record_counts" WHERE "record_counts"."organization_id" = :org AND "record_counts"."mode" = :mode AND "record_counts"."resource_type" = :rtype) FROM "refunds" WHERE ('"$SCOPE"') ORDER BY "refunds"."created_at" DESC, "refunds"."id" ASC LIMIT 25;'
    # Later pages select their ids first (an index-only scan over the skipped rows).
    LATER_PAGE='SELECT '"$COLS"', (SELECT CAST(SUM("record_counts"."record_count") AS BIGINT) FROM "record_counts" WHERE "record_counts"."organization_id" = :org AND "record_counts"."mode" = :mode AND "record_counts"."resource_type" = :rtype) FROM "refunds" WHERE (('"$SCOPE"') AND "refunds"."id" = ANY(ARRAY(SELECT "refunds"."id" FROM "refunds" WHERE ('"$SCOPE"') ORDER BY "refunds"."created_at" DESC, "refunds"."id" ASC LIMIT :size OFFSET :off))) ORDER BY "refunds"."created_at" DESC, "refunds"."id" ASC;'
    COUNT_NOTE="unfiltered lists: one page query with the maintained count (record_counts shards) as a subquery, page 50 selecting its ids first; list-filter: page query, then COUNT(*)"
else
    WHOLE_PAGE="SELECT COUNT(*) FROM \"refunds\" WHERE (${SCOPE});
SELECT $COLS FROM \"refunds\" WHERE (${SCOPE}) ORDER BY \"refunds\".\"created_at\" DESC, \"refunds\".\"id\" ASC LIMIT :size OFFSET :off;"
    LATER_PAGE="$WHOLE_PAGE"
    COUNT_NOTE="lists: COUNT(*) + page query"
fi
cat >"$TMP/list-first.sql" <<EOF
\set size 25
\set off 0
$WHOLE_PAGE
EOF
cat >"$TMP/list-filter.sql" <<EOF
\set size 25
\set gt 5000
SELECT $COLS FROM "refunds" WHERE $FILTERED ORDER BY "refunds"."amount_cents" ASC, "refunds"."id" ASC LIMIT 25;
SELECT COUNT(*) FROM "refunds" WHERE $FILTERED;
EOF
cat >"$TMP/list-page50.sql" <<EOF
\set size 25
\set off 49 * 25
$LATER_PAGE
EOF
cat >"$TMP/retrieve.sql" <<EOF
SELECT $COLS FROM "refunds" WHERE ((${SCOPE}) AND ("refunds"."id" = :rid)) ORDER BY "refunds"."id" ASC;
EOF
if [[ -n "${BENCH_KEEP_SQL:-}" ]]; then
    mkdir -p "$BENCH_KEEP_SQL" && cp "$TMP"/*.sql "$BENCH_KEEP_SQL"/
fi

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
# Rounds: each shape's wrk run is followed at once by its pgbench run, and the ratio is
# taken per round, so a machine that speeds up or slows down between runs (a shared VM
# does) moves both sides of a ratio together. Medians are reported.
declare -A RPS P50 P99 TPS NON2XX REQUESTS RATIOS RPS_ALL TPS_ALL P50_ALL P99_ALL PGAVG_ALL PG99_ALL SVC_ALL PGCPU_ALL
# CPU time (user + system, in clock ticks) of the server, and of every PostgreSQL process:
# divided by the requests of a run, they say where each request's time went on the shared
# cores, which is what bounds a ratio.
TICK_US="$(( 1000000 / $(getconf CLK_TCK) ))"
server_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }
pg_ticks() {
    local p
    for p in $(pgrep -x postgres); do awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null; done \
        | awk '{ s += $1 } END { print s + 0 }'
}
# Microseconds of CPU per request: ticks, requests.
per_request() { awk -v t="$1" -v n="$2" -v us="$TICK_US" 'BEGIN { printf "%.0f", t * us / n }'; }
# One round of one shape: wrk on URL, then pgbench on the shape's script (SQL named by
# the shape, or by the third argument).
measure() {
    local shape="$1" url="$2" sql="${3:-$1}" code svc0 pg0 svc1 pg1 tps pgavg pg99
    code="$(curl -sS -o "$TMP/$shape.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$url")"
    if [[ "$code" != 200 ]]; then
        echo "$shape: HTTP $code from $url" >&2; cat "$TMP/$shape.json" >&2; exit 1
    fi
    log "round $round/$ROUNDS $shape: wrk -t$THREADS -c$CONNS -d${DURATION}s  $url"
    svc0="$(server_ticks)" pg0="$(pg_ticks)"
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency \
        -H "Authorization: Bearer $TOKEN" "$url" >"$TMP/$shape.wrk"
    svc1="$(server_ticks)" pg1="$(pg_ticks)"
    bench_wrk_parse "$TMP/$shape.wrk" "$shape"
    SVC_ALL[$shape]+="$(per_request $((svc1 - svc0)) "${REQUESTS[$shape]}") "
    PGCPU_ALL[$shape]+="$(per_request $((pg1 - pg0)) "${REQUESTS[$shape]}") "
    log "round $round/$ROUNDS $shape: pgbench -n -M prepared -c$CONNS -j$THREADS -T$DURATION"
    rm -f "$TMP/pglog".*
    pgbench -n -M prepared -c"$CONNS" -j"$THREADS" -T"$DURATION" -f "$TMP/$sql.sql" \
        -l --log-prefix="$TMP/pglog" \
        -D org="$ORG_ID" -D mode=test -D cur=EUR -D rtype=refunds -D rid="$REFUND_ID" "$DB" \
        >"$TMP/$shape.pgb" 2>"$TMP/$shape.pgb.err" \
        || { cat "$TMP/$shape.pgb" "$TMP/$shape.pgb.err" >&2; exit 1; }
    tps="$(awk '/^tps = / { printf "%.0f", $3 }' "$TMP/$shape.pgb")"
    # pgbench's per-transaction log (-l) cannot give the median: its clock is read lazily,
    # and at tens of thousands of statements a second over a third of the transactions are
    # logged as taking 0 us. Its summary's average is measured over the whole run; the
    # log's 99th percentile (third field, microseconds) sits far above those zeros.
    pgavg="$(awk '/^latency average = / { printf "%.2f", $4 }' "$TMP/$shape.pgb")"
    pg99="$(cat "$TMP/pglog".* | awk '{ print $3 }' | sort -n | awk '
        { v[NR] = $1 }
        END { printf "%.2f\n", v[int((NR + 1) * 0.99)] / 1000 }')"
    PGAVG_ALL[$shape]+="$pgavg "
    PG99_ALL[$shape]+="$pg99 "
    RATIOS[$shape]+="$(awk -v a="${RPS[$shape]}" -v b="$tps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print 0 }') "
    RPS_ALL[$shape]+="${RPS[$shape]} "
    TPS_ALL[$shape]+="$tps "
    P50_ALL[$shape]+="$(to_ms "${P50[$shape]}") "
    P99_ALL[$shape]+="$(to_ms "${P99[$shape]}") "
    if [[ -n "${NON2XX[$shape]}" ]]; then
        echo "  warning: $shape had ${NON2XX[$shape]} non-2xx responses in round $round" >&2
    fi
}
for round in $(seq 1 "$ROUNDS"); do
  for shape in "${SHAPES[@]}"; do
    measure "$shape" "$BASE${URL[$shape]}"
  done
done

# 5. Server memory after the runs.
RSS_NOW="$(awk '/^VmRSS/ { print $2 " " $3 }' "/proc/$SERVER_PID/status")"
RSS_PEAK="$(awk '/^VmHWM/ { print $2 " " $3 }' "/proc/$SERVER_PID/status")"

# 5b. BENCH_FLOOR=1: the stack's floor (examples/stack_floor.rs) on the same data: the fixed
# crates alone loading the same rows and answering with the documents the server just
# rendered, against the same pgbench scripts. What it costs, no engine on this stack and
# machine can go below; its ratio is the most any can reach.
if [[ "${BENCH_FLOOR:-0}" == 1 ]]; then
    FLOOR_BASE="http://127.0.0.1:$((PORT + 1))"
    # Each shape's last response from the server (measure keeps it) is what the floor answers.
    cp "$TMP/list-first.json" "$TMP/first.body"
    cp "$TMP/retrieve.json" "$TMP/retrieve.body"
    bench_stop_server
    log "starting the stack floor on $FLOOR_BASE (workers $WORKERS, pool $POOL)"
    REFUNDS_BIND="${FLOOR_BASE#http://}" REFUNDS_WORKERS="$WORKERS" REFUNDS_POOL_SIZE="$POOL" \
        FLOOR_ORGANIZATION_ID="$ORG_ID" FLOOR_MODE=test \
        FLOOR_FIRST_BODY="$TMP/first.body" FLOOR_RETRIEVE_BODY="$TMP/retrieve.body" \
        "$FLOOR_BIN" >"$TMP/floor.log" 2>&1 &
    SERVER_PID=$!
    bench_wait_up "$FLOOR_BASE" "$TMP/floor.log"
    for round in $(seq 1 "$ROUNDS"); do
        measure floor-first "$FLOOR_BASE/first" list-first
        measure floor-retrieve "$FLOOR_BASE/retrieve/$REFUND_ID" retrieve
    done
    SHAPES+=(floor-first floor-retrieve)
fi
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# 6. Report.
bench_facts
TABLE_SIZE="$(q "SELECT pg_size_pretty(pg_total_relation_size('refunds'))")"
DB_SIZE="$(q "SELECT pg_size_pretty(pg_database_size('$DB'))")"
echo
echo "machine: $(nproc) cores, $MEM RAM; PostgreSQL $PGVER (same host); loadavg before/after runs: $LOAD_BEFORE / $LOAD_AFTER
client: wrk -t$THREADS -c$CONNS -d${DURATION}s; pgbench -c$CONNS -j$THREADS -T$DURATION -M prepared"
echo "server: rev $REV, workers=$WORKERS pool=$POOL log=${BENCH_LOG_LEVEL:-warn} rate-limits=${BENCH_RATE_LIMITS:-0}; data: $REFUNDS refunds / $ORDERS_N orders (org $ORG_SLUG, mode test); refunds table+indexes $TABLE_SIZE, database $DB_SIZE; seed time $SEED_SECS"
echo
printf '%-14s | %8s | %9s | %9s | %7s | %7s | %11s | %9s | %9s | %5s | %s\n' shape req/s p50 p99 \
    "svc cpu" "pg cpu" \
    "pgbench tps" "pgb avg" "pgb p99" ratio "ratios per round"
printf '%s\n' "---------------|----------|-----------|-----------|---------|---------|-------------|-----------|-----------|-------|-----------------"
for shape in "${SHAPES[@]}"; do
    printf '%-14s | %8s | %7.2fms | %7.2fms | %5sus | %5sus | %11s | %7.2fms | %7.2fms | %5.2f | %s\n' "$shape" \
        "$(median ${RPS_ALL[$shape]})" "$(median ${P50_ALL[$shape]})" "$(median ${P99_ALL[$shape]})" \
        "$(median ${SVC_ALL[$shape]})" "$(median ${PGCPU_ALL[$shape]})" \
        "$(median ${TPS_ALL[$shape]})" "$(median ${PGAVG_ALL[$shape]})" "$(median ${PG99_ALL[$shape]})" \
        "$(median ${RATIOS[$shape]})" "${RATIOS[$shape]% }"
done
echo "(medians of $ROUNDS rounds; svc/pg cpu: CPU time (user + system) of the server and of all"
echo " PostgreSQL processes per request during the wrk run;"
echo " ratio: the median of each round's req/s over the pgbench tps"
echo " measured right after it; pgb avg: pgbench's mean latency;"
echo " pgb p99: from its transaction log)"
echo "(page[size]=25; page50 = OFFSET 1225, default sort -created_at; pgbench transaction ="
echo " $COUNT_NOTE; retrieve: one SELECT by id)"
if [[ "${BENCH_FLOOR:-0}" == 1 ]]; then
    echo "(floor-*: examples/stack_floor.rs, built from the working tree: actix-web, web::block, r2d2"
    echo " and diesel's PgConnection send the service's statements and answer with a document"
    echo " rendered beforehand; svc cpu is then the floor's)"
fi
echo
echo "server RSS: idle $RSS_IDLE, after runs $RSS_NOW, peak (VmHWM) $RSS_PEAK"

bench_finish
