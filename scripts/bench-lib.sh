# bench-lib.sh: shared parts of bench-read.sh and bench-write.sh. Source it, do not run it.
#
# bench_args ARGS...    --drop, --reuse, ORDERS (default 70000), -h/--help (the caller's header);
#                       sets DROP, REUSE, ORDERS
# bench_init            settings from the environment, tool check, $TMP, cleanup trap, helpers
# bench_build           cargo build --release (unless BENCH_SKIP_BUILD=1); BENCH_REV: see below
# bench_database        create and seed $DB (or keep it with REUSE=1); sets SEED_SECS, REFUNDS, ORDERS_N
# bench_server [CMD..]  start the release server on 127.0.0.1:$PORT, under CMD when given (e.g.
#                       valgrind); sets SERVER_PID, RSS_IDLE, TOKEN
#                       (no rate limits unless BENCH_RATE_LIMITS=1, which runs the limiter
#                       with limits no load reaches; log level BENCH_LOG_LEVEL, default warn;
#                       statement timeout BENCH_REQUEST_TIMEOUT_MS, default 60 s:
#                       a 1M-row filtered count behind a checkpoint once took over the 15 s default)
# bench_wrk_parse F S   read wrk output file F into RPS[S] P50[S] P99[S] NON2XX[S] REQUESTS[S]
#                       (callers declare them with declare -A)
# bench_facts           sets MEM, PGVER, REV
# bench_read_targets    the read shapes' ORG_ID, REFUND_ID and URL[list-first|list-filter|
#                       list-page50|retrieve]
# bench_wait_up B LOG   wait until $SERVER_PID answers B/health (exit, showing LOG, if it dies)
# bench_stop_server     stop the server (cleanup does it too)
# bench_finish          stop the server, then drop $DB when DROP=1, else keep it
# Callers set ORDERS, DB, REUSE before bench_database.

bench_args() {
    DROP=0
    REUSE=0
    ORDERS=70000
    local arg
    for arg in "$@"; do
        case "$arg" in
            --drop) DROP=1 ;;
            --reuse) REUSE=1 ;;
            -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
            *[!0-9]*|'') echo "unknown argument: $arg" >&2; exit 2 ;;
            *) ORDERS="$arg" ;;
        esac
    done
}

bench_init() {
    REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    DURATION="${BENCH_DURATION:-10}"
    ROUNDS="${BENCH_ROUNDS:-3}"
    THREADS="${BENCH_THREADS:-2}"
    CONNS="${BENCH_CONNECTIONS:-32}"
    PORT="${BENCH_PORT:-18080}"
    WORKERS="${BENCH_WORKERS:-2}"
    POOL="${BENCH_POOL_SIZE:-32}"
    export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
    BIN="$REPO/target/release/refunds"
    BASE="http://127.0.0.1:${PORT}"
    ORG_SLUG=bench
    local tool
    for tool in cargo psql pgbench wrk curl "$@"; do
        command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
    done
    TMP="$(mktemp -d)"
    SERVER_PID=""
    trap bench_cleanup EXIT
}

bench_cleanup() {
    bench_stop_server
    rm -rf "$TMP"
}

bench_stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}

bench_finish() {
    bench_stop_server
    if [[ "$DROP" == 1 ]]; then
        log "dropping database $DB"
        psql -X -q -d postgres -c "DROP DATABASE $DB"
    else
        log "database kept: $DB"
    fi
}

log() { printf '==> %s\n' "$*" >&2; }
# The median of its arguments (numbers).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# A wrk latency (e.g. 950.00us, 9.19ms, 1.20s) in milliseconds.
to_ms() { awk -v t="$1" 'BEGIN { n = t + 0; if (t ~ /us$/) n /= 1000; else if (t ~ /[0-9]s$/ && t !~ /ms$/) n *= 1000; if (t ~ /m$/) n *= 60000; printf "%.2f", n }'; }
q() { psql -X -q -v ON_ERROR_STOP=1 -At -d "$DB" -c "$1"; }
now() { date +%s.%N; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# BENCH_REV=<commit>: build and run that commit, exported with git archive into
# ${BENCH_BUILD_DIR:-/tmp/refunds-bench-build}/<hash> (its own target dir, first seeded with
# a copy of the repository's target/release so dependencies are not rebuilt), instead of
# the working tree, which others may be in the middle of editing.
bench_build() {
    if [[ -n "${BENCH_REV:-}" ]]; then
        BENCH_REV_HASH="$(git -C "$REPO" rev-parse --short "${BENCH_REV}^{commit}")"
        local src="${BENCH_BUILD_DIR:-/tmp/refunds-bench-build}/$BENCH_REV_HASH"
        if [[ ! -f "$src/Cargo.toml" ]]; then
            mkdir -p "$src"
            git -C "$REPO" archive "$BENCH_REV_HASH" | tar -x -C "$src"
        fi
        if [[ ! -d "$src/target/release" && -d "$REPO/target/release/deps" ]]; then
            log "seeding $src/target/release from $REPO/target/release"
            mkdir -p "$src/target/release"
            cp -a "$REPO/target/release/deps" "$REPO/target/release/build" "$REPO/target/release/.fingerprint" \
                "$src/target/release/" 2>/dev/null || true
        fi
        BIN="$src/target/release/refunds"
        if [[ "${BENCH_SKIP_BUILD:-0}" != 1 || ! -x "$BIN" ]]; then
            log "cargo build --release of $BENCH_REV_HASH in $src"
            (cd "$src" && cargo build --release --quiet)
        fi
    elif [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
        log "cargo build --release"
        (cd "$REPO" && cargo build --release --quiet)
    fi
}

bench_database() {
    export DATABASE_URL="postgres://${PGUSER}@${PGHOST}:${PGPORT}/${DB}"
    local exists t0 t1
    exists="$(psql -X -At -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")"
    SEED_SECS="(reused)"
    if [[ "$REUSE" == 1 && "$exists" == 1 ]]; then
        log "reusing database $DB"
    else
        log "creating database $DB"
        psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
        log "seeding $ORDERS orders for organization $ORG_SLUG"
        t0="$(now)"
        "$BIN" seed --organization "$ORG_SLUG" --mode test --orders "$ORDERS" --seed 1 >&2
        t1="$(now)"
        SEED_SECS="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f s", b - a }')"
        log "seeded in $SEED_SECS; VACUUM ANALYZE"
        q "VACUUM ANALYZE"
    fi
    REFUNDS="$(q "SELECT count(*) FROM refunds")"
    ORDERS_N="$(q "SELECT count(*) FROM orders")"
    log "refunds: $REFUNDS (orders: $ORDERS_N)"
}

bench_server() {
    # BENCH_RATE_LIMITS=1: the limiter runs (with limits no load reaches), to count its cost.
    local RATE_LIMITS=false
    [[ "${BENCH_RATE_LIMITS:-0}" == 1 ]] && RATE_LIMITS=true
    log "starting server on $BASE (workers $WORKERS, pool $POOL)${1:+ under $1}"
    REFUNDS_BIND="127.0.0.1:${PORT}" REFUNDS_WORKERS="$WORKERS" REFUNDS_POOL_SIZE="$POOL" \
        REFUNDS_LOG_LEVEL="${BENCH_LOG_LEVEL:-warn}" REFUNDS_RATE_LIMIT_ENABLED="$RATE_LIMITS" \
        REFUNDS_RATE_LIMIT_READS_PER_MINUTE=4000000000 REFUNDS_RATE_LIMIT_READS_BURST=4000000000 \
        REFUNDS_RATE_LIMIT_WRITES_PER_MINUTE=4000000000 REFUNDS_RATE_LIMIT_WRITES_BURST=4000000000 \
        REFUNDS_REQUEST_TIMEOUT_MS="${BENCH_REQUEST_TIMEOUT_MS:-60000}" \
        "$@" "$BIN" serve >"$TMP/server.log" 2>&1 &
    SERVER_PID=$!
    bench_wait_up "$BASE" "$TMP/server.log"
    RSS_IDLE="$(awk '/^VmRSS/ { print $2 " " $3 }' "/proc/$SERVER_PID/status")"
    TOKEN="$("$BIN" token --organization "$ORG_SLUG" 2>/dev/null)"
}

# Waits for $SERVER_PID to answer BASE/health; shows its LOG and exits if it dies first.
bench_wait_up() {
    local base="$1" log="$2" _
    # Up to a minute: under valgrind the server takes a while to start.
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "$base/health" 2>/dev/null && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; exit 1; }
        sleep 0.2
    done
    curl -fsS -o /dev/null "$base/health" || { echo "server did not answer /health" >&2; exit 1; }
}

bench_read_targets() {
    ORG_ID="$(q "SELECT organization_id FROM refunds WHERE mode = 'test' LIMIT 1")"
    # A refund from the middle of the table, for the retrieve shape.
    REFUND_ID="$(q "SELECT id FROM refunds WHERE organization_id = '$ORG_ID' AND mode = 'test'
                    ORDER BY id OFFSET (SELECT count(*) / 2 FROM refunds) LIMIT 1")"
    declare -gA URL
    URL[list-first]="/api/refunds?sort=-created_at&page%5Bsize%5D=25"
    URL[list-filter]="/api/refunds?filter%5Bq%5D%5Bcurrency_code_eq%5D=EUR&filter%5Bq%5D%5Bamount_cents_gt%5D=5000&sort=amount_cents&page%5Bsize%5D=25"
    URL[list-page50]="/api/refunds?page%5Bnumber%5D=50&page%5Bsize%5D=25"
    URL[retrieve]="/api/refunds/${REFUND_ID}"
}

bench_wrk_parse() {
    local file="$1" shape="$2"
    RPS[$shape]="$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$file")"
    P50[$shape]="$(awk '$1 == "50%" { print $2 }' "$file")"
    P99[$shape]="$(awk '$1 == "99%" { print $2 }' "$file")"
    NON2XX[$shape]="$(awk -F: '/Non-2xx/ { gsub(/ /, "", $2); print $2 }' "$file")"
    REQUESTS[$shape]="$(awk '/requests in/ { print $1 }' "$file")"
}

bench_facts() {
    MEM="$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    PGVER="$(q "SHOW server_version" | cut -d' ' -f1)"
    if [[ -n "${BENCH_REV_HASH:-}" ]]; then
        REV="$BENCH_REV_HASH (BENCH_REV)"
    else
        REV="$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown)"
    fi
}
