"""The tree passes the project's ruff configuration (pyproject.toml [tool.ruff])."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
TREE = ["sync_assets", "sync_assets_tests", "benchmarks", "scripts"]


def test_ruff_lint_and_format():
    ruff = [sys.executable, "-m", "ruff"]
    lint = subprocess.run([*ruff, "check", *TREE], cwd=PROJECT, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout[-4000:]
    fmt = subprocess.run(
        [*ruff, "format", "--check", *TREE], cwd=PROJECT, capture_output=True, text=True
    )
    assert fmt.returncode == 0, fmt.stdout[-4000:]
