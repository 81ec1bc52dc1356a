#!/usr/bin/env bash
# Set up everything (scripts/bootstrap.sh) and run the whole test suite, then ruff.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# headless Chromium for the review page's browser test (CI runs as root)
command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
export MALLOC_ARENA_MAX=2
.venv/bin/python -m pytest "$@"
.venv/bin/ruff check faceoff tests benchmarks
