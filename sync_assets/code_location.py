"""Build the code location's definitions from a loaded configuration (the one builder the
`dg` Component, `definitions.py` and the CLI share)."""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg

from sync_assets.automation import automation_sensors, schedules_for, unpartitioned_job
from sync_assets.config.loader import default_configs_dir, load_project
from sync_assets.config.models import ProjectConfig
from sync_assets.connection_checks import connections_job
from sync_assets.connection_types import record
from sync_assets.factory import build_asset, io_manager_key
from sync_assets.history_defs import history_definitions
from sync_assets.io_managers import SyncIOManager
from sync_assets.run_worker import sync_executor
from sync_assets.semantic.defs import semantic_definitions
from sync_assets.sensors import change_sensors
from sync_assets.specs import asset_key, source_specs

# backfill_policy is marked beta; we rely on it deliberately (see specs.backfill_policy_for)
warnings.filterwarnings("ignore", category=dg.BetaWarning, message=".*backfill_policy.*")
# and so are partitioned checks (checks.py, schema_change.py), which check each partition
# where the sync ran
warnings.filterwarnings(
    "ignore", category=dg.PreviewWarning, message=".*partitions_def on an AssetCheckSpec.*"
)

# Steps run in the run's own process: a step is one streamed copy, and a subprocess per step
# would cost seconds of start-up each. Steps of one run therefore never write concurrently;
# across runs, each asset's pool (one slot) keeps one writer per DuckDB file / target table,
# and the executor frees the slots of runs that were killed (run_worker.py).
EXECUTOR = sync_executor


def build_definitions(project: ProjectConfig, base_dir: str | Path) -> dg.Definitions:
    """Assets (sync objects and their external source tables), IO managers, jobs, schedules
    and sensors."""
    base_dir = str(base_dir)
    objects = project.active_objects()
    keys = {o.object_id: asset_key(o, project) for o in objects}
    resources = {}
    for name in sorted({o.target.connection for o in objects}):
        conn = project.connections[name]
        mine = {keys[o.object_id]: o for o in objects if o.target.connection == name}
        env_vars = project.env_vars.get(name, {})
        resources[io_manager_key(name)] = io_manager_def(name, conn, base_dir, mine, env_vars)
    job = unpartitioned_job(objects, keys)
    synced = [build_asset(o, project, base_dir) for o in objects]
    history_jobs, history_sensors = history_definitions(project, base_dir)
    semantic_assets, semantic_jobs, semantic_sensors = semantic_definitions(project, base_dir)
    return dg.Definitions(
        assets=synced + source_specs(project) + semantic_assets,
        resources=resources,
        jobs=([job] if job else [])
        + [connections_job(project, Path(base_dir))]
        + history_jobs
        + semantic_jobs,
        schedules=schedules_for(objects, keys),
        sensors=automation_sensors(objects, keys)
        + change_sensors(project, base_dir, keys)
        + history_sensors
        + semantic_sensors,
        executor=EXECUTOR,
    )


def io_manager_def(name, conn, base_dir, mine, env_vars: dict[str, str]) -> dg.IOManagerDefinition:
    """The IO manager resource of one target connection. Fields the config gave as Dagster's
    EnvVar (`{env: VAR}`) are declared as its config, defaulting to that variable: the UI
    shows the variable's name (never its value), and each run reads it when it starts, so a
    rotated password needs no reload."""
    description = f"{record(conn).family}: connection '{name}'"
    if not env_vars:
        manager = SyncIOManager(name, conn, base_dir, mine)
        return dg.IOManagerDefinition.hardcoded_io_manager(manager, description=description)
    schema = {
        _config_key(f): dg.Field(dg.StringSource, default_value={"env": var}, is_required=False)
        for f, var in env_vars.items()
    }

    def from_environment(context) -> SyncIOManager:
        values = {f: context.resource_config[_config_key(f)] for f in env_vars}
        return SyncIOManager(name, with_values(conn, values), base_dir, mine)

    return dg.IOManagerDefinition(from_environment, config_schema=schema, description=description)


def _config_key(dotted: str) -> str:
    return dotted.replace(".", "__")


def with_values(conn, values: dict[str, str]):
    """The connection with fields (dotted: `storage_options.key`) set to new values."""
    update: dict = {}
    for dotted, value in values.items():
        head, _, key = dotted.partition(".")
        if key:  # a key of a mapping field (storage_options, options, ...)
            update[head] = {**(update.get(head) or getattr(conn, head)), key: value}
        else:
            update[head] = value
    return conn.model_copy(update=update)


def load_definitions(configs_dir: str | Path | None = None) -> dg.Definitions:
    """Definitions for a configs folder (default: $SYNC_ASSETS_CONFIGS or ./configs); relative
    paths in it are relative to the folder's parent."""
    root = Path(configs_dir) if configs_dir else default_configs_dir()
    return build_definitions(load_project(root), root.parent)
