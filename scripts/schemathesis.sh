#!/usr/bin/env bash
# Property-based API test: schemathesis drives the service from its own /openapi.json.
#
# A throwaway SQLite database seeded with `refunds seed`, the debug binary on a free local
# port (REFUNDS_PUBLIC_URL unset, rate limits off), a token from `refunds token`, and a pinned
# schemathesis in a virtualenv under target/. Checks: no 5xx, and responses that match the
# document (schema and content type). Exits non-zero on any failure.
#
#   scripts/schemathesis.sh                 # build if needed, run, stop the server
#   ST_MAX_EXAMPLES=50 scripts/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION="4.32.5"
OPENAPI_SPEC_VALIDATOR_VERSION="0.9.0"
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-25}"
SEED="${ST_SEED:-20240601}"

root="$(pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/schemathesis-venv"
if ! "$venv/bin/st" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" "openapi-spec-validator==$OPENAPI_SPEC_VALIDATOR_VERSION"
fi

cargo build -q --bin refunds
bin="$target/debug/refunds"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
unset REFUNDS_PUBLIC_URL
export DATABASE_URL="sqlite://$work/refunds.db"
export REFUNDS_DATABASE_URL="$DATABASE_URL"
export REFUNDS_BIND="127.0.0.1:$port"
export REFUNDS_RATE_LIMIT_ENABLED=false
export REFUNDS_LOG_LEVEL="${REFUNDS_LOG_LEVEL:-warn}"
export REFUNDS_WORKERS=2

"$bin" seed --organization acme --orders 30 >/dev/null
token="$("$bin" token --organization acme)"

"$bin" serve >"$work/server.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  curl -fsS "$base/health" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done

curl -fsS "$base/openapi.json" -o "$work/openapi.json"
"$venv/bin/openapi-spec-validator" "$work/openapi.json"

# schemathesis keeps its state in the working directory: run it inside target/. One worker:
# hypothesis 6 on Python 3.11 fails with "AST constructor recursion depth mismatch" in threads.
mkdir -p "$target/schemathesis"
cd "$target/schemathesis"
status=0
"$venv/bin/st" run "$base/openapi.json" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance,content_type_conformance \
  --seed "$SEED" \
  --max-examples "$MAX_EXAMPLES" \
  --phases examples,fuzzing \
  --workers 1 \
  --request-timeout 10 \
  --report junit --report-dir . || status=$?

if [ "$status" -ne 0 ]; then
  echo "schemathesis failed (exit $status); server log tail:" >&2
  tail -n 40 "$work/server.log" >&2
fi
exit "$status"
