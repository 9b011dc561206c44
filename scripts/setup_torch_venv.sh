#!/usr/bin/env bash
# Builds .venv-torch (Python 3.11, torch 2.13.0, no TensorFlow) for the optional PyTorch port;
# a no-op when it is up to date. On failure it prints ONE line saying why and exits non-zero
# (3 where no Python 3.11 is found).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/python311_venv.sh
VENV=.venv-torch
STAMP="$VENV/.iba-tf-torch-installed"
TORCH_VERSION=2.13.0
LOG="${TMPDIR:-/tmp}/iba-tf-torch-venv.$$.log"
# What the installed set depends on: a change to any of these files triggers a reinstall.
INPUTS="setup.py scripts/setup_torch_venv.sh scripts/python311_venv.sh"
want=$(cat $INPUTS | sha256sum | cut -d' ' -f1)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
    && "$VENV/bin/python" -c 'import torch, iba_tf.pytorch' >/dev/null 2>&1; then
  exit 0
fi

ensure_python311_venv

# Exactly this torch: pip takes the CPU wheel from the local wheel directory where there is one;
# any other version would download several GB.
pip_install "torch==$TORCH_VERSION" \
  || fail "could not install torch==$TORCH_VERSION into $VENV: $(first_error)"
pip_install numpy scipy matplotlib tqdm pytest \
  || fail "could not install numpy/scipy/matplotlib/tqdm/pytest into $VENV: $(first_error)"
pip_install --no-deps -e . \
  || fail "could not install iba_tf into $VENV: $(first_error)"
"$VENV/bin/python" -c 'import torch, iba_tf.pytorch' >> "$LOG" 2>&1 \
  || fail "torch or iba_tf.pytorch does not import in $VENV: $(tail -n 1 "$LOG")"
rm -f "$LOG"
echo "$want" > "$STAMP"
echo "$VENV is ready." >&2
