#!/usr/bin/env bash
# The prepared GPU check (issue: throughput): set up .venv, then benchmarks/gpu.py on the CUDA device.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh >/dev/null
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
.venv/bin/python benchmarks/gpu.py "$@"
