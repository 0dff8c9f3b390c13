#!/usr/bin/env bash
# End-to-end: the Commerce Layer JavaScript SDK (@commercelayer/sdk 7.x) against a locally
# started refunds service on a throwaway SQLite database. Needs cargo, Node >= 20 and npm.
# Exits non-zero when the build, the service or any Node test fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../service.sh"
start_service commercelayer-sdk
# Expired two minutes ago, beyond the default 30 s leeway.
expired_token="$("$bin" token --organization acme --ttl=-120 2>/dev/null)"

cd "$here"
npm ci --quiet --no-audit --no-fund
status=0
CL_E2E_BASE_URL="http://127.0.0.1:$port" CL_E2E_TOKEN="$token" CL_E2E_EXPIRED_TOKEN="$expired_token" \
  node --test --test-reporter=spec || status=$?
finish "$status"
