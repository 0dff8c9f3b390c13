#!/usr/bin/env bash
# End-to-end: the Flow Commerce JavaScript SDK (@flowio/node-sdk 1.1.x) against a locally
# started refunds service on a throwaway SQLite database. Needs cargo, Node >= 20 and npm.
# Exits non-zero when the build, the service or any Node test fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/../service.sh"
start_service flow-sdk

cd "$here"
npm ci --quiet --no-audit --no-fund
status=0
FLOW_E2E_BASE_URL="http://127.0.0.1:$port" FLOW_E2E_TOKEN="$token" \
  node --test --test-reporter=spec || status=$?
finish "$status"
