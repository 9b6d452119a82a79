#!/usr/bin/env bash
# Create .venv and install sync_assets with the locked dependency versions.
# Usage: scripts/bootstrap.sh [test]   ("test" adds the test dependencies)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
lock=requirements.lock
[ "${1:-}" = "test" ] && lock=requirements-test.lock
# --compile-bytecode: write .pyc files now. Where PYTHONDONTWRITEBYTECODE is set, Python
# would otherwise recompile dagster's sources in every process (~4.5 s per run).
.venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python -r "$lock"
.venv/bin/uv pip install --quiet --compile-bytecode --python .venv/bin/python --no-deps -e .
# also covers packages a venv from an older bootstrap installed without bytecode (quick when current)
.venv/bin/python -m compileall -q -j 0 sync_assets .venv/lib/python*/site-packages >/dev/null 2>&1 || true
