#!/usr/bin/env bash
# Install everything, build the demo source, materialize every demo asset, print a summary.
# Rerunnable: a second run finds nothing changed and writes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD}"
exec .venv/bin/sync-assets demo "$@"
