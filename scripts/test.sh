#!/usr/bin/env bash
# The README's test command: set-up, services, lint, type checks, then every test tier from the
# root in one vitest run. Fails on any failing, erroring or skipped test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
bash scripts/services.sh
echo "== lint"
pnpm run lint
echo "== typecheck"
pnpm -r --workspace-concurrency=1 run typecheck
echo "== tests"
mkdir -p test-artifacts
status=0
node_modules/.bin/vitest run --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest.json "$@" || status=$?
node scripts/test-summary.mjs test-artifacts/vitest.json || status=1
exit $status
