"""The code location: `dg dev` / `dg launch` (pyproject's [tool.dg]), `dagster dev`
(workspace.yaml) and `dagster asset materialize -m sync_assets.definitions` load `defs`.

`defs` is what `SyncObjectsComponent` builds for the configs folder (the defs folder
`sync_assets/defs/` declares that component; a test checks both give the same definitions).
It is built here directly rather than through `dg.load_from_defs_folder`, which imports every
installed component registry (dagster-snowflake's alone takes ~2.5 s) in each run process.
"""

from __future__ import annotations

from sync_assets.code_location import build_definitions, load_definitions

__all__ = ["build_definitions", "defs", "load_definitions"]

defs = load_definitions()
