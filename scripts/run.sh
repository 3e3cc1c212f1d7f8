#!/usr/bin/env bash
# The run command: set everything up (idempotent) and run the app with demo data on the
# embedded defaults. Ctrl-C stops the web server and the worker.
source "$(dirname "$0")/lib.sh"
export DJANGO_DEBUG="${DJANGO_DEBUG:-1}"
ensure_venv requirements.txt
compile_translations
say "Migrating the database"
"$PY" manage.py migrate --noinput
"$PY" manage.py collectstatic --noinput >/dev/null
say "Loading demo data"
"$PY" manage.py load_demo --with-operator
say "Starting Sidebyside on http://${HOST:-127.0.0.1}:${PORT:-8000}/ (Ctrl-C to stop)"
exec "$PY" manage.py serve --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
