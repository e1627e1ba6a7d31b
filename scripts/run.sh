#!/usr/bin/env bash
# The README's first command: set-up, then the whole product on embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec node scripts/run-product.mjs "$@"
