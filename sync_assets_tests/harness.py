"""Test helpers: a project folder with YAML configs, materializations, and table comparison."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from sync_assets.config.loader import load_project
from sync_assets.connection_types import make_target
from sync_assets.definitions import build_definitions

warnings.filterwarnings("ignore", category=dg.BetaWarning)


class Project:
    """A configs/ folder under `root` plus helpers to materialize and inspect its objects."""

    def __init__(self, root: Path, connections: dict, objects: list[dict]):
        self.root = Path(root)
        self.configs = self.root / "configs"
        self.configs.mkdir(parents=True, exist_ok=True)
        self.sections: dict = {}  # run_history, semantic_models
        self.write(connections, objects)
        self.instance = dg.DagsterInstance.ephemeral()

    def write(self, connections: dict, objects: list[dict]) -> None:
        self.connections, self.objects = connections, objects
        doc = {"connections": connections, "sync_objects": objects, **self.sections}
        (self.configs / "project.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))

    def set_section(self, name: str, value: dict) -> None:
        """A top-level section of the config file (run_history:, semantic_models:)."""
        self.sections[name] = value
        self.write(self.connections, self.objects)

    def update_object(self, object_id: str, **changes) -> None:
        objects = [dict(o, **changes) if o["object_id"] == object_id else o for o in self.objects]
        self.write(self.connections, objects)

    def definitions(self) -> dg.Definitions:
        return build_definitions(load_project(self.configs), self.root)

    def materialize(
        self,
        object_id: str,
        partition: str | None = None,
        partition_range: tuple[str, str] | None = None,
        tags: dict | None = None,
        run_config: dict | None = None,
    ) -> dict:
        """Materialize one object; return its materialization metadata as plain values.
        `run_config` is the asset's SyncRunConfig (e.g. {"full_refresh": True})."""
        defs = self.definitions()
        project = load_project(self.configs)
        obj = next(o for o in project.sync_objects if o.object_id == object_id)
        from sync_assets.specs import asset_key

        key = asset_key(obj, project)
        asset = next(a for a in defs.assets if isinstance(a, dg.AssetsDefinition) and key in a.keys)
        tags = dict(tags or {})
        if partition_range:
            tags["dagster/asset_partition_range_start"] = partition_range[0]
            tags["dagster/asset_partition_range_end"] = partition_range[1]
        config = {"ops": {asset.op.name: {"config": run_config}}} if run_config else None
        result = dg.materialize(
            [asset],
            resources=dict(defs.resources),
            instance=self.instance,
            partition_key=partition,
            tags=tags,
            run_config=config,
        )
        assert result.success
        event = result.get_asset_materialization_events()[0]
        return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}

    def materialize_all(self) -> None:
        """Materialize every object of the project in one run."""
        defs = self.definitions()
        assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
        result = dg.materialize(assets, resources=dict(defs.resources), instance=self.instance)
        assert result.success

    def target(self, object_id: str):
        project = load_project(self.configs)
        obj = next(o for o in project.sync_objects if o.object_id == object_id)
        return make_target(obj, project.connections[obj.target.connection], str(self.root))

    def target_table(self, object_id: str, window=None) -> pa.Table:
        return self.target(object_id).read(window).read_all()


def duck(path: Path, *statements: str) -> None:
    """Run statements against a DuckDB file (the tests' source database)."""
    con = duckdb.connect(str(path))
    try:
        for sql in statements:
            con.execute(sql)
    finally:
        con.close()


def duck_table(path: Path, sql: str) -> pa.Table:
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.sql(sql).to_arrow_table()
    finally:
        con.close()


def _comparable(table: pa.Table, like: pa.Schema) -> pa.Table:
    columns = []
    for field in like:
        col = table.column(field.name)
        if col.type != field.type:
            col = pc.cast(col, field.type)
        columns.append(col)
    return pa.table(columns, schema=pa.schema([pa.field(f.name, f.type) for f in like]))


def assert_same_rows(expected: pa.Table, actual: pa.Table, key: str | list[str]) -> None:
    """The target holds exactly the expected rows (compared on the expected columns)."""
    keys = [key] if isinstance(key, str) else key
    missing = set(expected.column_names) - set(actual.column_names)
    assert not missing, f"target lacks columns {sorted(missing)}"
    actual = _comparable(actual, expected.schema)
    order = [(k, "ascending") for k in keys]
    exp_rows = expected.sort_by(order).to_pylist()
    act_rows = actual.sort_by(order).to_pylist()
    assert len(act_rows) == len(exp_rows), f"row count {len(act_rows)} != expected {len(exp_rows)}"
    for e, a in zip(exp_rows, act_rows, strict=True):
        assert a == e, f"row differs:\n expected {e}\n actual   {a}"


def write_marker(project: Project, object_id: str):
    """Something that changes whenever the target is written (a commit, a manifest, a state row)."""
    target = project.target(object_id)
    kind = target.kind
    if kind == "deltalake":
        from deltalake import DeltaTable

        return DeltaTable(target.location, storage_options=target.storage_options).version()
    if kind == "parquet":
        return target.table.load()["version"]
    from sync_assets.sql import statements as sql

    q = target.flavor.quote
    with target.session(autocommit=True) as s:
        return s.scalar(
            f"SELECT {q('updated_at')} FROM {sql.state_table(target.flavor)} WHERE {q('object_id')} = ?",
            object_id,
        )


def start_sync(
    project: Project, cwd: Path, object_id: str = "items_sync", **env
) -> subprocess.Popen:
    """Materialize `object_id` in a child process on its own instance (crash_runner), with
    extra environment (crash, pause and lock settings); stdout and stderr together."""
    cmd = [sys.executable, "-m", "sync_assets_tests.crash_runner", str(project.root), object_id]
    return subprocess.Popen(
        cmd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=str(cwd),
    )


def wait_for_file(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def stop_dagster(process: subprocess.Popen, seconds: float = 30) -> None:
    """Stop a `dagster dev` / `dagster-daemon` started in its own session: Ctrl-C, which
    they shut down on (they ignore SIGTERM), then kill -9 after `seconds`."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
