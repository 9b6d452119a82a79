"""A process that loaded the code location freezes its heap at exit (process_exit.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_heap_is_frozen_before_the_last_collection():
    # registered before the code location loads, so it runs after the code location's hook
    code = (
        "import atexit, gc\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0, flush=True))\n"
        "import sync_assets.definitions\n"
    )
    env = dict(os.environ, SYNC_ASSETS_CONFIGS=str(ROOT / "configs"))
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("frozen True"), out.stdout
