# Shared by scripts/run.sh and scripts/test.sh: find Python 3.12+, keep .venv in step with
# the pinned requirements. Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

find_python() {
  local candidates=(python3.13 python3.12 python3)
  for dir in "$HOME"/.pyenv/versions/3.1[2-9]*/bin /usr/local/bin /usr/bin; do
    [ -x "$dir/python3" ] && candidates+=("$dir/python3")
  done
  for candidate in "${candidates[@]}"; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  echo "Sidebyside needs Python 3.12 or newer (Django 6.1); none was found." >&2
  return 1
}

# ensure_venv REQUIREMENTS_FILE: create .venv if needed and install the pinned packages
# once per change of the requirements files.
ensure_venv() {
  local requirements="$1"
  if [ ! -x "$PY" ]; then
    local python
    python="$(find_python)"
    say "Creating .venv with $python"
    "$python" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed-$(cat requirements.txt "$requirements" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    say "Installing Python packages from $requirements"
    "$PY" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$PY" -m pip install --quiet --disable-pip-version-check -r "$requirements"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
  fi
}

compile_translations() {
  if command -v msgfmt >/dev/null 2>&1; then
    "$PY" manage.py compilemessages --ignore=.venv >/dev/null
  fi  # else: the committed .mo files are used as they are
}
