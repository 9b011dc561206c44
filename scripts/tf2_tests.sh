#!/usr/bin/env bash
# Runs the TensorFlow test suite (tests/) on the TensorFlow 2 stack, in .venv-tf2 (Python 3.11,
# tensorflow-cpu 2.14, innvestigate 2.1.2; see requirements-tf2.txt). Where no Python 3.11 can
# be found it says so in one line and exits 0, as the PyTorch port's tests do; any other set-up
# failure is an error.
set -uo pipefail
cd "$(dirname "$0")/.."
reason=$(bash scripts/setup_tf2_venv.sh 2>&1 >/dev/null | tail -n 1; exit "${PIPESTATUS[0]}")
status=$?
if [ "$status" -eq 3 ]; then
  echo "TF 2 stack tests skipped: $reason"
  exit 0
elif [ "$status" -ne 0 ]; then
  echo "TF 2 stack tests: setting up .venv-tf2 failed: ${reason:-unknown reason}" >&2
  exit 1
fi
echo "== TensorFlow suite on the TF 2.14 stack (.venv-tf2, Python 3.11) =="
exec .venv-tf2/bin/python -m pytest tests -q "$@"
