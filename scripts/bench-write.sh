#!/usr/bin/env bash
# bench-write.sh: throughput and latency of refund creation (POST /api/refunds) on PostgreSQL.
#
# Seeds a fresh database with deterministic data (refunds_wbench_<ORDERS>: writes change
# it, so it is not bench-read.sh's database), starts the release server on 127.0.0.1:18080
# and drives two request shapes with wrk (scripts/bench-write.lua), each request creating
# a refund of BENCH_AMOUNT (1) cent EUR drawn on one capture:
#   fresh-capture  rotates over BENCH_FRESH_CAPTURES (10000) EUR captures, one per order,
#                  so two requests rarely want the same order lock
#   hot-capture    every request refunds the same capture (all wait for one order lock)
# Beside them, on the same PostgreSQL server, pgbench -N (simple-update) on a scratch
# database (pgbench -i -s 10, dropped afterwards) gives the server's write ceiling here.
# Then checks in SQL, for every capture the run touched, that refund_amount_cents is the
# sum of its refund_captures that did not fail (pending ones are reserved) and
# refund_amount_cents + refund_balance_cents = amount_cents;
# that refund numbers are unique; that record_counts match COUNT(*); and scans the
# server log and this database's lines of the PostgreSQL log for errors and deadlocks.
#
# Usage: scripts/bench-write.sh [--drop] [--reuse] [ORDERS]
#   ORDERS   orders to seed (default 70000, about 100k refunds)
#   --drop   drop the database at the end (default: keep it)
#   --reuse  keep an existing, already seeded refunds_wbench_<ORDERS> (earlier runs' refunds stay)
# Environment: as bench-read.sh (BENCH_DURATION 10, BENCH_THREADS 2, BENCH_CONNECTIONS 32,
#   BENCH_PORT 18080, BENCH_WORKERS 2, BENCH_POOL_SIZE 32, BENCH_REQUEST_TIMEOUT_MS 60000,
#   PGHOST/PGPORT/PGUSER,
#   BENCH_SKIP_BUILD=1, BENCH_REV=<commit> to build that commit outside the working tree,
#   see bench-lib.sh), plus BENCH_AMOUNT (cents per refund, 1; must not end in 13, which
#   the test gateway declines), BENCH_FRESH_CAPTURES (10000), BENCH_PGBENCH_SCALE (10),
#   PG_LOG (/var/log/postgresql/postgresql-<ver>-main.log, read if readable).
# Needs: cargo, psql, pgbench, wrk, curl. Only 127.0.0.1 is targeted.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_args "$@"

DB="refunds_wbench_${ORDERS}"
PGB_DB="refunds_wbench_pgbench"
bench_init
LUA="$REPO/scripts/bench-write.lua"
AMOUNT="${BENCH_AMOUNT:-1}"
FRESH_N="${BENCH_FRESH_CAPTURES:-10000}"
SCALE="${BENCH_PGBENCH_SCALE:-10}"
CURRENCY=EUR
if (( AMOUNT <= 0 || AMOUNT % 100 == 13 )); then
    echo "BENCH_AMOUNT=$AMOUNT: must be positive and not end in 13 (declined)" >&2; exit 2
fi

# 1. Build, database, seed.
bench_build
bench_database
ORG_ID="$(q "SELECT organization_id FROM refunds WHERE mode = 'test' LIMIT 1")"
SCOPE="organization_id = '$ORG_ID' AND mode = 'test'"

# 2. Captures. Hot: the EUR capture with the most left to refund. Fresh: one EUR capture
# per other order with more than 1000 cents left, in a scrambled but fixed order.
read -r HOT_ID HOT_ORDER HOT_BALANCE < <(q "SELECT id, order_id, refund_balance_cents FROM captures
    WHERE $SCOPE AND currency_code = '$CURRENCY' AND succeeded
    ORDER BY refund_balance_cents DESC, id LIMIT 1" | tr '|' ' ')
q "SELECT id FROM (SELECT DISTINCT ON (order_id) id FROM captures
       WHERE $SCOPE AND currency_code = '$CURRENCY' AND succeeded
         AND refund_balance_cents > 1000 + $AMOUNT AND order_id <> '$HOT_ORDER'
       ORDER BY order_id, id) c
   ORDER BY md5(id) LIMIT $FRESH_N" >"$TMP/fresh-capture.ids"
echo "$HOT_ID" >"$TMP/hot-capture.ids"
FRESH_GOT="$(wc -l <"$TMP/fresh-capture.ids")"
log "fresh-capture: $FRESH_GOT captures; hot-capture: $HOT_ID (balance $HOT_BALANCE cents)"
(( FRESH_GOT >= 5000 )) || log "warning: only $FRESH_GOT fresh captures (wanted >= 5000)"
(( HOT_BALANCE >= 100000 * AMOUNT )) || log "warning: hot capture has only $HOT_BALANCE cents left; it may run out (422)"

# 3. Server, token, one request of each kind by hand.
bench_server
code="$(curl -sS -o "$TMP/capture.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$BASE/api/captures/$HOT_ID")"
if [[ "$code" != 200 ]] || ! grep -q "\"currency_code\":\"$CURRENCY\"" "$TMP/capture.json"; then
    echo "GET /api/captures/$HOT_ID: HTTP $code, expected a $CURRENCY capture" >&2; cat "$TMP/capture.json" >&2; exit 1
fi
T0="$(q "SELECT date_trunc('milliseconds', now() AT TIME ZONE 'UTC')")"
PG_LOG="${PG_LOG:-/var/log/postgresql/postgresql-$(q "SHOW server_version_num" | cut -c1-2)-main.log}"
PG_LOG_OFFSET=""
[[ -r "$PG_LOG" ]] && PG_LOG_OFFSET="$(stat -c %s "$PG_LOG")"
body="{\"data\":{\"type\":\"refunds\",\"attributes\":{\"amount_cents\":$AMOUNT,\"currency_code\":\"$CURRENCY\"},\"relationships\":{\"reference_capture\":{\"data\":{\"type\":\"captures\",\"id\":\"$(head -1 "$TMP/fresh-capture.ids")\"}}}}}"
code="$(curl -sS -o "$TMP/smoke.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/vnd.api+json' --data "$body" "$BASE/api/refunds")"
if [[ "$code" != 201 ]]; then
    echo "POST /api/refunds: HTTP $code, expected 201" >&2; cat "$TMP/smoke.json" >&2; exit 1
fi

# 4. The two shapes.
SHAPES=(fresh-capture hot-capture)
declare -A RPS P50 P99 NON2XX REQUESTS CREATES STATUS SOCKERR LOAD_B LOAD_A ROWS WAITS
# What the service's PostgreSQL sessions are doing, sampled every 0.2 s while wrk runs:
# "CPU" (active, no wait event), a wait event such as Lock:transactionid (a row lock
# held by another transaction; @ the start of the waiting statement) or IO:WALSync (commit
# flush), or "idle" (waiting for the service).
sample_waits() {
    while :; do
        psql -X -At -d postgres -c "SELECT CASE WHEN state = 'active' AND wait_event_type = 'Lock'
                THEN replace(wait_event_type || ':' || wait_event || '@' || left(query, 30), ' ', '_')
            WHEN state = 'active' THEN coalesce(wait_event_type || ':' || wait_event, 'CPU')
            WHEN state = 'idle in transaction' THEN 'idle-in-tx(service)' ELSE state END
            FROM pg_stat_activity WHERE datname = '$DB' AND backend_type = 'client backend' AND pid <> pg_backend_pid()" >>"$1" 2>/dev/null || true
        sleep 0.2
    done
}
LOAD_BEFORE="$(loadavg)"
for shape in "${SHAPES[@]}"; do
    t_start="$(q "SELECT date_trunc('milliseconds', now() AT TIME ZONE 'UTC')")"
    LOAD_B[$shape]="$(loadavg)"
    log "$shape: wrk -t$THREADS -c$CONNS -d${DURATION}s POST /api/refunds (load ${LOAD_B[$shape]})"
    sample_waits "$TMP/$shape.waits" &
    SAMPLER=$!
    wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s "$LUA" "$BASE/api/refunds" \
        -- "$TMP/$shape.ids" "$THREADS" "$TOKEN" "$AMOUNT" "$CURRENCY" >"$TMP/$shape.wrk"
    kill "$SAMPLER" 2>/dev/null; wait "$SAMPLER" 2>/dev/null || true
    LOAD_A[$shape]="$(loadavg)"
    WAITS[$shape]="$(sort "$TMP/$shape.waits" | uniq -c | sort -rn | head -4 \
        | awk -v n="$(wc -l <"$TMP/$shape.waits")" '{ printf "%s%s %.0f%%", sep, $2, 100 * $1 / n; sep = ", " }')"
    sleep 1 # requests wrk gave up on at the deadline may still commit
    bench_wrk_parse "$TMP/$shape.wrk" "$shape"
    NON2XX[$shape]="${NON2XX[$shape]:-0}"
    STATUS[$shape]="$(awk '$1 == "status" { printf "%s%s=%s", sep, $2, $3; sep = " " }' "$TMP/$shape.wrk")"
    SOCKERR[$shape]="$(awk -F': ' '/Socket errors/ { print $2 }' "$TMP/$shape.wrk")"
    CREATES[$shape]="$(awk '$1 == "status" && $2 == 201 { n = $3 }
        / requests in / { sub(/s,?$/, "", $4); t = $4 }
        END { if (t > 0) printf "%.0f", n / t; else print 0 }' "$TMP/$shape.wrk")"
    ROWS[$shape]="$(q "SELECT count(*) FROM refunds WHERE $SCOPE AND created_at >= '$t_start'")"
    log "$shape: ${CREATES[$shape]} creates/s, p50 ${P50[$shape]}, p99 ${P99[$shape]}, statuses ${STATUS[$shape]}"
done

# 5. pgbench simple-update on a scratch database of the same server.
log "pgbench -i -s $SCALE on scratch database $PGB_DB"
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $PGB_DB" -c "CREATE DATABASE $PGB_DB"
pgbench -i -q -s "$SCALE" "$PGB_DB" >"$TMP/pgbench-init.log" 2>&1 || { cat "$TMP/pgbench-init.log" >&2; exit 1; }
LOAD_B[pgbench]="$(loadavg)"
log "pgbench -N -c$CONNS -j$THREADS -T$DURATION (load ${LOAD_B[pgbench]})"
pgbench -N -c"$CONNS" -j"$THREADS" -T"$DURATION" "$PGB_DB" >"$TMP/pgbench.out" 2>"$TMP/pgbench.err" \
    || { cat "$TMP/pgbench.out" "$TMP/pgbench.err" >&2; exit 1; }
LOAD_A[pgbench]="$(loadavg)"
PGB_TPS="$(awk '/^tps = / { printf "%.0f", $3 }' "$TMP/pgbench.out")"
PGB_LAT="$(awk '/^latency average/ { print $4 " " $5 }' "$TMP/pgbench.out")"
psql -X -q -d postgres -c "DROP DATABASE $PGB_DB"
LOAD_AFTER="$(loadavg)"
RSS_PEAK="$(awk '/^VmHWM/ { print $2 " " $3 }' "/proc/$SERVER_PID/status")"

# 6. Consistency of what the run wrote.
log "consistency checks"
# A failed part takes nothing from its capture (revisions before part statuses have none).
TAKEN="TRUE"
if [[ -n "$(q "SELECT 1 FROM information_schema.columns WHERE table_name = 'refund_captures' AND column_name = 'status' LIMIT 1")" ]]; then
    TAKEN="status <> 'failed'"
fi
IFS='|' read -r TOUCHED BAD_SUM BAD_BAL NEG_BAL < <(q "
    WITH touched AS (SELECT DISTINCT capture_id FROM refund_captures WHERE $SCOPE AND created_at >= '$T0'),
    sums AS (SELECT capture_id, sum(amount_cents) AS s FROM refund_captures
             WHERE capture_id IN (SELECT capture_id FROM touched) AND $TAKEN GROUP BY capture_id)
    SELECT count(*),
           count(*) FILTER (WHERE c.refund_amount_cents <> s.s),
           count(*) FILTER (WHERE c.refund_amount_cents + c.refund_balance_cents <> c.amount_cents),
           count(*) FILTER (WHERE c.refund_balance_cents < 0)
    FROM touched t JOIN captures c ON c.id = t.capture_id JOIN sums s ON s.capture_id = t.capture_id")
IFS='|' read -r NEW_REFUNDS NEW_FAILED NEW_RC < <(q "
    SELECT (SELECT count(*) FROM refunds WHERE $SCOPE AND created_at >= '$T0'),
           (SELECT count(*) FROM refunds WHERE $SCOPE AND created_at >= '$T0' AND NOT succeeded),
           (SELECT count(*) FROM refund_captures WHERE $SCOPE AND created_at >= '$T0')")
DUP_NUMBERS="$(q "SELECT count(*) FROM (SELECT 1 FROM refunds WHERE $SCOPE
    AND order_id IN (SELECT order_id FROM refunds WHERE $SCOPE AND created_at >= '$T0')
    GROUP BY order_id, number HAVING count(*) > 1) d")"
COUNT_DRIFT="$(q "SELECT string_agg(resource_type || ' ' || record_count || '<>' || actual, ', ') FROM (
    SELECT cc.resource_type, cc.record_count, CASE cc.resource_type
        WHEN 'refunds' THEN (SELECT count(*) FROM refunds WHERE $SCOPE)
        WHEN 'refund_captures' THEN (SELECT count(*) FROM refund_captures WHERE $SCOPE)
        WHEN 'versions' THEN (SELECT count(*) FROM versions WHERE $SCOPE)
        WHEN 'events' THEN (SELECT count(*) FROM events WHERE $SCOPE) END AS actual
    FROM (SELECT resource_type, sum(record_count) AS record_count FROM record_counts
          WHERE organization_id = '$ORG_ID' AND mode = 'test' GROUP BY resource_type) cc
    WHERE cc.resource_type IN ('refunds', 'refund_captures', 'versions', 'events')) x
    WHERE record_count <> actual")"
HOT_AFTER="$(q "SELECT refund_balance_cents FROM captures WHERE id = '$HOT_ID'")"
SENT_2XX=1 # the hand-made request
for shape in "${SHAPES[@]}"; do
    SENT_2XX=$(( SENT_2XX + $(awk '$1 == "status" && $2 ~ /^2/ { n += $3 } END { print n + 0 }' "$TMP/$shape.wrk") ))
done
if (( TOUCHED > 0 && BAD_SUM == 0 && BAD_BAL == 0 && NEG_BAL == 0 && DUP_NUMBERS == 0 )) \
    && [[ -z "$COUNT_DRIFT" && "$NEW_RC" == $(( NEW_REFUNDS - NEW_FAILED )) ]]; then
    CONSISTENT=OK
else
    CONSISTENT=FAILED
fi

# 7. Logs.
SERVER_ERRORS="$(grep -ciE 'error|panic' "$TMP/server.log" || true)"
PG_NOTE="not readable ($PG_LOG)"
if [[ -n "$PG_LOG_OFFSET" ]]; then
    tail -c +"$((PG_LOG_OFFSET + 1))" "$PG_LOG" | grep -F "@$DB " >"$TMP/pg.log" || true
    PG_NOTE="$(grep -c 'ERROR:' "$TMP/pg.log" || true) ERROR, $(grep -c 'deadlock detected' "$TMP/pg.log" || true) deadlock, $(grep -c 'could not serialize' "$TMP/pg.log" || true) serialization failures"
fi

# 8. Report.
bench_facts
DB_SIZE="$(q "SELECT pg_size_pretty(pg_database_size('$DB'))")"
REFUNDS_NOW="$(q "SELECT count(*) FROM refunds")"
SYNC="$(q "SHOW synchronous_commit")"
echo
echo "machine: $(nproc) cores, $MEM RAM; PostgreSQL $PGVER (same host, synchronous_commit=$SYNC); loadavg before/after all runs: $LOAD_BEFORE / $LOAD_AFTER"
echo "client: wrk -t$THREADS -c$CONNS -d${DURATION}s --latency, POST $AMOUNT cent $CURRENCY per request; pgbench -N -c$CONNS -j$THREADS -T$DURATION (scale $SCALE)"
echo "server: rev $REV, workers=$WORKERS pool=$POOL log=${BENCH_LOG_LEVEL:-warn} rate-limits=${BENCH_RATE_LIMITS:-0}; data: $REFUNDS refunds before, $REFUNDS_NOW after / $ORDERS_N orders (org $ORG_SLUG, mode test); database $DB_SIZE; seed time $SEED_SECS"
echo
printf '%-14s | %9s | %9s | %9s | %7s | %s\n' shape creates/s p50 p99 non-2xx "loadavg before -> after"
printf '%s\n' "---------------|-----------|-----------|-----------|---------|------------------------"
for shape in "${SHAPES[@]}"; do
    printf '%-14s | %9s | %9s | %9s | %7s | %s -> %s\n' "$shape" "${CREATES[$shape]}" "${P50[$shape]}" \
        "${P99[$shape]}" "${NON2XX[$shape]}" "${LOAD_B[$shape]}" "${LOAD_A[$shape]}"
done
echo
echo "pgbench simple-update (-N) on scratch db: $PGB_TPS tps, latency avg $PGB_LAT (loadavg ${LOAD_B[pgbench]} -> ${LOAD_A[pgbench]})"
for shape in "${SHAPES[@]}"; do
    echo "$shape: statuses ${STATUS[$shape]:-none}; refunds stored ${ROWS[$shape]}${SOCKERR[$shape]:+; socket errors ${SOCKERR[$shape]}}"
    echo "  PostgreSQL sessions (sampled): ${WAITS[$shape]}"
done
echo "consistency: $CONSISTENT — $TOUCHED captures touched: $BAD_SUM with refund_amount_cents <> sum(refund_captures), $BAD_BAL with refunded + balance <> amount, $NEG_BAL negative; $NEW_REFUNDS refunds stored ($NEW_FAILED declined, $SENT_2XX 2xx answers seen), $NEW_RC refund_captures; $DUP_NUMBERS duplicate refund numbers; record_counts drift: ${COUNT_DRIFT:-none}; hot capture balance $HOT_BALANCE -> $HOT_AFTER"
echo "logs: server $SERVER_ERRORS error/panic lines; PostgreSQL ($DB): $PG_NOTE"
if [[ "$SERVER_ERRORS" != 0 ]]; then grep -iE 'error|panic' "$TMP/server.log" | sort | uniq -c | sort -rn | head -5; fi
if [[ -s "${TMP}/pg.log" ]]; then grep -E 'ERROR|deadlock' "$TMP/pg.log" | cut -c1-200 | head -5; fi
echo "server RSS: idle $RSS_IDLE, peak (VmHWM) $RSS_PEAK"

bench_finish
[[ "$CONSISTENT" == OK ]]
