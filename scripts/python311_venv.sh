# Sourced by setup_tf2_venv.sh and setup_torch_venv.sh, which both build a Python 3.11 venv.
# The sourcing script sets VENV (the venv folder) and LOG (a log file) first.

# Prints ONE line saying why, and exits: FAIL_STATUS if set (3: no Python 3.11), else 1.
fail() { echo "$*" >&2; rm -f "$LOG"; exit "${FAIL_STATUS:-1}"; }

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

# Creates $VENV with Python 3.11 unless it already runs one.
ensure_python311_venv() {
  local py
  if [ -x "$VENV/bin/python" ] \
      && "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    return 0
  fi
  py=$(find_python311) || FAIL_STATUS=3 fail "no Python 3.11 found (put python3.11 on PATH, set PYTHON311=/path/to/python3.11, or run: pyenv install 3.11)"
  echo "Creating $VENV with $py" >&2
  rm -rf "$VENV"
  "$py" -m venv "$VENV" > "$LOG" 2>&1 || fail "could not create $VENV with $py: $(tail -n 1 "$LOG")"
}

pip_install() {
  "$VENV/bin/python" -m pip install --quiet "$@" >> "$LOG" 2>&1
}

# pip's first error line in the log (its last line where it printed no ERROR).
first_error() { grep -m1 -E '^ERROR' "$LOG" || grep -m1 -iE 'error' "$LOG" || tail -n 1 "$LOG"; }
