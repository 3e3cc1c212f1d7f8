#!/usr/bin/env bash
# The test command: set everything up (idempotent), lint, then run the whole suite on the
# embedded defaults (SQLite, in-memory channel layer) and again on PostgreSQL + Redis.
#
# PostgreSQL and Redis are taken from DATABASE_URL / REDIS_URL, or the local defaults
# (127.0.0.1:5432 user postgres, 127.0.0.1:6379). Without them the second pass is skipped
# with a message, unless REQUIRE_POSTGRES=1 (CI sets it) which makes that a failure.
# Extra arguments go to pytest, e.g. `make test ARGS="tests/booking -x"`.
source "$(dirname "$0")/lib.sh"
ensure_venv requirements-dev.txt
export DJANGO_DEBUG=1
compile_translations

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "Installing Debian's Chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    say "Installing Debian's Chromium for the browser tests"
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    say "Chromium is missing and cannot be installed here: browser tests will be skipped"
  fi
fi

# axe-core for the accessibility browser test (and Lighthouse for bench/lighthouse.py), from
# npm, pinned with their lock file; the test skips with a message when npm is missing.
if [ ! -f bench/lighthouse/node_modules/axe-core/axe.min.js ] && command -v npm >/dev/null 2>&1; then
  say "Installing axe-core and Lighthouse (bench/lighthouse, npm ci)"
  (cd bench/lighthouse && npm ci --no-audit --no-fund >/dev/null) || say "npm ci failed: the accessibility test will be skipped"
fi

say "Lint (ruff)"
"$PY" -m ruff check .
"$PY" -m ruff format --check . >/dev/null || { "$PY" -m ruff format --diff . | head -50; exit 1; }

run_pytest() {
  local label="$1"; shift
  say "Tests on $label"
  set +e
  "$PY" -m pytest "$@"
  local code=$?
  set -e
  # 5 = no tests collected: a selection that matched nothing is not a failure of the suite.
  if [ "$code" = 5 ]; then echo "(no tests collected for this selection)"; code=0; fi
  return "$code"
}

(unset DATABASE_URL REDIS_URL; run_pytest "SQLite + in-memory channel layer" "$@")

PG_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
RD_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
if "$PY" scripts/services_up.py "$PG_URL" "$RD_URL"; then
  DATABASE_URL="$PG_URL" REDIS_URL="$RD_URL" run_pytest "PostgreSQL + Redis" "$@"
elif [ "${REQUIRE_POSTGRES:-0}" = 1 ]; then
  echo "PostgreSQL or Redis is not reachable at $PG_URL / $RD_URL" >&2
  exit 1
else
  say "PostgreSQL or Redis not reachable: skipped the second pass (set DATABASE_URL and REDIS_URL)"
fi
