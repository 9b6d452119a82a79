"""Run one materialization in a fresh process (the kill -9 tests start this and kill it).

Usage: python -m sync_assets_tests.crash_runner PROJECT_DIR OBJECT_ID [PARTITION]
"""

from __future__ import annotations

import sys
from pathlib import Path

from sync_assets_tests.harness import Project


def main() -> None:
    root, object_id = Path(sys.argv[1]), sys.argv[2]
    partition = sys.argv[3] if len(sys.argv) > 3 else None
    project = Project.__new__(Project)
    project.root, project.configs = root, root / "configs"
    import dagster as dg

    project.instance = dg.DagsterInstance.ephemeral()
    project.materialize(object_id, partition=partition)


if __name__ == "__main__":
    main()
