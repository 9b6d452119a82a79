#!/usr/bin/env bash
# Install the test dependencies (and a PostgreSQL server when apt-get can), run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "PostgreSQL server binaries are needed: sudo apt-get install -y postgresql" >&2
    exit 1
  fi
fi
bash scripts/bootstrap.sh test
exec .venv/bin/python -m pytest -n 2 -p no:cacheprovider "$@"
