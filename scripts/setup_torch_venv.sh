#!/usr/bin/env bash
# Builds .venv-torch (Python 3.11, torch 2.13.0, no TensorFlow) for the optional PyTorch port;
# a no-op when it is up to date. On failure it prints ONE line saying why and exits non-zero.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-torch
STAMP="$VENV/.iba-tf-torch-installed"
TORCH_VERSION=2.13.0
LOG="${TMPDIR:-/tmp}/iba-tf-torch-venv.$$.log"
# What the installed set depends on: a change to any of these files triggers a reinstall.
INPUTS="setup.py scripts/setup_torch_venv.sh"
want=$(cat $INPUTS | sha256sum | cut -d' ' -f1)

fail() { echo "$*" >&2; rm -f "$LOG"; exit 1; }

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
    && "$VENV/bin/python" -c 'import torch, iba_tf.pytorch' >/dev/null 2>&1; then
  exit 0
fi

find_python311() {
  local candidate root
  root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
  # A pyenv shim named python3.11 exists even where it cannot run, so ask each interpreter.
  for candidate in "${PYTHON311:-}" python3.11 "$root"/versions/3.11*/bin/python3.11; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c 'import sys, venv; sys.exit(sys.version_info[:2] != (3, 11))' \
        >/dev/null 2>&1; then
      "$candidate" -c 'import sys; print(sys.executable)'; return 0
    fi
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ] \
    || ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  py=$(find_python311) || fail "no Python 3.11 found (put python3.11 on PATH, set PYTHON311=/path/to/python3.11, or run: pyenv install 3.11)"
  echo "Creating $VENV with $py" >&2
  rm -rf "$VENV"
  "$py" -m venv "$VENV" > "$LOG" 2>&1 || fail "could not create $VENV with $py: $(tail -n 1 "$LOG")"
fi

pip_install() {
  "$VENV/bin/python" -m pip install --quiet "$@" >> "$LOG" 2>&1
}
# Exactly this torch: pip takes the CPU wheel from the local wheel directory where there is one;
# any other version would download several GB.
pip_install "torch==$TORCH_VERSION" \
  || fail "could not install torch==$TORCH_VERSION into $VENV: $(grep -m1 -E 'ERROR|error' "$LOG" || tail -n 1 "$LOG")"
pip_install numpy scipy matplotlib tqdm pytest \
  || fail "could not install numpy/scipy/matplotlib/tqdm/pytest into $VENV: $(grep -m1 -E 'ERROR|error' "$LOG" || tail -n 1 "$LOG")"
pip_install --no-deps -e . \
  || fail "could not install iba_tf into $VENV: $(grep -m1 -E 'ERROR|error' "$LOG" || tail -n 1 "$LOG")"
"$VENV/bin/python" -c 'import torch, iba_tf.pytorch' >> "$LOG" 2>&1 \
  || fail "torch or iba_tf.pytorch does not import in $VENV: $(tail -n 1 "$LOG")"
rm -f "$LOG"
echo "$want" > "$STAMP"
echo "$VENV is ready." >&2
