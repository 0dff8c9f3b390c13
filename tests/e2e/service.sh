# Sourced by the end-to-end checks: builds the service, starts it on a throwaway SQLite
# database seeded for organization acme, on a free loopback port, and stops it on exit.
# After `start_service NAME`: $bin, $port, $work and $token (an integration token for acme).
# `finish STATUS` prints the service's log when STATUS is not 0, then exits with it.

start_service() {
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  cd "$root"

  cargo build --quiet --bin refunds
  target="${CARGO_TARGET_DIR:-$root/target}"
  bin="$target/debug/refunds"

  mkdir -p "$target"
  work="$(mktemp -d "$target/e2e-$1.XXXXXX")"
  server_pid=""
  cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
      kill -TERM "$server_pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM

  # A throwaway database and signing secret; the service and the token command share both.
  export DATABASE_URL="sqlite://$work/refunds.db"
  export REFUNDS_JWT_SECRET="e2e-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  export REFUNDS_LOG_FORMAT=text REFUNDS_LOG_LEVEL=warn
  # The suite sends more reads per 10 s with one token than the test-mode burst allows, and
  # rate limiting is not what it tests.
  export REFUNDS_RATE_LIMIT_ENABLED=false

  "$bin" seed --organization acme --orders 20 >"$work/seed.log" 2>&1 \
    || { cat "$work/seed.log" >&2; exit 1; }

  # A free port: the kernel picks one, the service binds it right after.
  port="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
  REFUNDS_BIND="127.0.0.1:$port" "$bin" serve >"$work/server.log" 2>&1 &
  server_pid=$!

  ready=""
  for _ in $(seq 1 100); do
    kill -0 "$server_pid" 2>/dev/null || break
    if node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' \
      "http://127.0.0.1:$port/health"; then
      ready=1
      break
    fi
    sleep 0.1
  done
  if [ -z "$ready" ]; then
    echo "the refunds service did not come up on 127.0.0.1:$port" >&2
    cat "$work/server.log" >&2
    exit 1
  fi

  token="$("$bin" token --organization acme 2>/dev/null)"
}

finish() {
  if [ "$1" -ne 0 ]; then
    echo "--- refunds service log ---" >&2
    cat "$work/server.log" >&2
  fi
  exit "$1"
}
