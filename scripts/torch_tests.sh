#!/usr/bin/env bash
# Runs the PyTorch port's tests (tests_torch/) in .venv-torch (Python 3.11, torch 2.13.0).
# Where no such venv can be set up, it says so in one line and exits 0 (the port is optional).
set -uo pipefail
cd "$(dirname "$0")/.."
if ! reason=$(bash scripts/setup_torch_venv.sh 2>&1 >/dev/null | tail -n 1; exit "${PIPESTATUS[0]}"); then
  echo "torch port tests skipped: ${reason:-setting up .venv-torch failed}"
  exit 0
fi
exec .venv-torch/bin/python -m pytest tests_torch -q "$@"
