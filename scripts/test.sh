#!/usr/bin/env bash
# Install the test dependencies (and, when apt-get can, a PostgreSQL server, unixODBC, the
# PostgreSQL ODBC driver and Chromium for the UI test), run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
SYSTEM_PACKAGES="postgresql unixodbc odbc-postgresql chromium"
have_pg() { ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; }
have_chromium() { command -v chromium >/dev/null 2>&1; }
have_odbc() { ls /usr/lib/*/odbc/psqlodbcw.so >/dev/null 2>&1 && ls /usr/lib/*/libodbc.so.2 >/dev/null 2>&1; }
if ! have_pg || ! have_odbc || ! have_chromium; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $SYSTEM_PACKAGES >/dev/null
  else
    echo "the tests need: sudo apt-get install -y $SYSTEM_PACKAGES" >&2
    exit 1
  fi
fi
bash scripts/bootstrap.sh test
# Azurite (the ADLS Gen2 / OneLake stand-in), from the npm registry at the locked version
if [ ! -x tools/node_modules/.bin/azurite-blob ]; then
  if ! command -v npm >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  npm ci --prefix tools --no-audit --no-fund --loglevel=error
fi
exec .venv/bin/python -m pytest -n 2 -p no:cacheprovider "$@"
