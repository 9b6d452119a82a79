"""`SyncObjectsComponent`: the sync objects of a configs folder as a Dagster Component.

In a `dg` project, a `defs.yaml` declares it:

    type: sync_assets.SyncObjectsComponent
    attributes:
      configs: configs        # relative to the project root; default: configs/

`dg check defs`, `dg list defs` and `dg dev` then load the same assets, IO managers, jobs
and schedules as `sync_assets.definitions`. $SYNC_ASSETS_CONFIGS, when set, points every
instance at that folder instead (as for the code location).
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from sync_assets.code_location import load_definitions
from sync_assets.config.loader import CONFIGS_ENV


class SyncObjectsComponent(dg.Component, dg.Model, dg.Resolvable):
    """Every active sync object declared in YAML under `configs` becomes one asset."""

    configs: str = "configs"

    def configs_dir(self, project_root: Path) -> Path:
        if os.environ.get(CONFIGS_ENV):
            return Path(os.environ[CONFIGS_ENV])
        path = Path(self.configs).expanduser()
        return path if path.is_absolute() else project_root / path

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return load_definitions(self.configs_dir(Path(context.project_root)))
