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

# The seed journals nothing and attaches nothing: one refund and one attachment made
# through the API give versions, events and attachments rows for the path ids below.
api() {
  curl -fsS -X POST "$base$1" -H "Authorization: Bearer $token" \
    -H 'Content-Type: application/vnd.api+json' -H 'Accept: application/vnd.api+json' \
    --data "$2" >/dev/null
}
read -r capture currency < <(python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(*db.execute("SELECT id, currency_code FROM captures WHERE refund_balance_cents >= 100 ORDER BY id LIMIT 1").fetchone())' "$work/refunds.db")
api /api/refunds '{"data": {"type": "refunds", "attributes": {"amount_cents": 100, "currency_code": "'"$currency"'"},
  "relationships": {"reference_capture": {"data": {"type": "captures", "id": "'"$capture"'"}}}}}'
api /api/attachments '{"data": {"type": "attachments", "attributes": {"name": "Receipt"},
  "relationships": {"attachable": {"data": {"type": "captures", "id": "'"$capture"'"}}}}}'

# Path ids: random strings only ever reach a 404, so each `{id}` (and refunds' `{key}`) is
# drawn from the database's rows four times in five, and generated the fifth time.
python3 - "$work" <<'PY'
import os, sqlite3, sys

work = sys.argv[1]
db = sqlite3.connect(os.path.join(work, "refunds.db"))
# (type in the path, path parameter, SQL giving the values)
sources = [(t, "id", f"SELECT id FROM {t}") for t in (
    "refunds", "orders", "authorizations", "captures", "refund_captures",
    "versions", "events", "attachments")]
sources += [("refund_summaries", "id", "SELECT number FROM orders"),
            ("refunds", "key", "SELECT key FROM refunds")]
config = []
for kind, param, sql in sources:
    values = [v for (v,) in db.execute(sql + " ORDER BY 1 LIMIT 50")]
    if not values:
        continue
    name = f"{kind}_{param}"
    with open(os.path.join(work, name + ".dict"), "w") as f:
        f.writelines(f'"{v}"\n' for v in values)
    config.append(f'[dictionaries.{name}]\nfrom-file = "{os.path.join(work, name)}.dict"\n')
    path = f"^/api/{kind}/by_key/" if param == "key" else f"^/api/{kind}/\\\\{{id\\\\}}"
    config.append(
        f'[[operations]]\ninclude-path-regex = "{path}"\n'
        f'parameters = {{ "path.{param}" = {{ dictionary = "{name}", probability = 0.8 }} }}\n'
    )
# The Flow-compatible paths: the token's organization, and real keys and order numbers.
flow = {"organization": ["acme"],
        "key": [v for (v,) in db.execute("SELECT key FROM refunds ORDER BY 1 LIMIT 50")],
        "order_number": [v for (v,) in db.execute("SELECT number FROM orders ORDER BY 1 LIMIT 50")]}
for param, values in flow.items():
    if values:
        with open(os.path.join(work, f"flow_{param}.dict"), "w") as f:
            f.writelines(f'"{v}"\n' for v in values)
        config.append(f'[dictionaries.flow_{param}]\nfrom-file = "{os.path.join(work, "flow_" + param)}.dict"\n')
for regex, params in [
    ("^/flow/\\\\{organization\\\\}/refunds(/versions)?$", ["organization"]),
    ("^/flow/\\\\{organization\\\\}/refunds/summary/", ["organization", "order_number"]),
    ("^/flow/\\\\{organization\\\\}/refunds/\\\\{key\\\\}$", ["organization", "key"]),
]:
    chosen = ", ".join(f'"path.{p}" = {{ dictionary = "flow_{p}", probability = 0.9 }}'
                       for p in params if flow[p])
    config.append(f'[[operations]]\ninclude-path-regex = "{regex}"\nparameters = {{ {chosen} }}\n')
with open(os.path.join(work, "schemathesis.toml"), "w") as f:
    f.write("\n".join(config))
PY

curl -fsS "$base/openapi.json" -o "$work/openapi.json"
"$venv/bin/openapi-spec-validator" "$work/openapi.json"

# schemathesis keeps its state in the working directory: run it inside target/. One worker:
# hypothesis 6 on Python 3.11 fails with "AST constructor recursion depth mismatch" in threads.
mkdir -p "$target/schemathesis"
cd "$target/schemathesis"
status=0
"$venv/bin/st" --config-file "$work/schemathesis.toml" run "$base/openapi.json" \
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
