#!/usr/bin/env bash
# The benchmark command: installs the app (.venv) and the peers (.venv-bench), then runs
# benchmarks/run.py with the given arguments (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
if [ ! -x .venv-bench/bin/python ]; then python3 -m venv .venv-bench; fi
.venv-bench/bin/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
.venv-bench/bin/uv pip install --quiet --compile-bytecode --python .venv-bench/bin/python -r benchmarks/requirements.txt
exec .venv/bin/python -m benchmarks.run "$@"
