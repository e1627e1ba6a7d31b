#!/usr/bin/env bash
# The README's first command: set-up, then the whole product on embedded defaults.
# FLEET_RUN_SKIP_BOOTSTRAP=1 skips the set-up (already done: the product's own test, quick re-runs).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${FLEET_RUN_SKIP_BOOTSTRAP:-}" != 1 ]; then bash scripts/bootstrap.sh; fi
exec node scripts/run-product.mjs "$@"
