"""`semantic_models.sync_tables`: the models' tables as generated sync objects.

Each table a model reads from a database we have a connection for (sources.py) becomes one
ordinary sync object, `full` from that table into the semantic target, so it is an asset
like any other (lineage, checks, run metadata) and the semantic view reads real data. Two
models reading one table share its object. The objects are made when the configuration
loads: a PBIP folder is read then; a Fabric workspace is not called at load time (a code
location must load without the network), so its tables come from the definitions the
detection sensor last synced, cached in `sync_tables.cache`. A new Fabric model's tables
appear at the next reload of the code location.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import ValidationError

from sync_assets.config.models import SemanticModelsSpec, SyncObject
from sync_assets.paths import resolve
from sync_assets.semantic.model import SemanticModel
from sync_assets.semantic.pbip import SUFFIX, read_model
from sync_assets.semantic.sources import Location, TableSource, match_connection, table_sources

GROUP = "semantic_models"


@dataclass
class TablePlan:
    """The generated objects, each model table's object, and the tables left out (why)."""

    objects: list[SyncObject] = field(default_factory=list)
    tables: dict[str, dict[str, str]] = field(default_factory=dict)  # model -> table -> id
    skipped: dict[str, dict[str, str]] = field(default_factory=dict)  # model -> table -> why
    problems: list[str] = field(default_factory=list)


def plan_tables(spec: SemanticModelsSpec, connections: dict, base_dir: str | Path) -> TablePlan:
    """The sync objects of every known model's tables (nothing without `sync_tables`)."""
    plan = TablePlan()
    if spec.sync_tables is None:
        return plan
    for name in sorted(set(spec.sync_tables.sources.values()) - set(connections)):
        plan.problems.append(
            f"field 'sync_tables.sources': unknown connection '{name}' "
            f"(known: {', '.join(sorted(connections)) or 'none'})"
        )
    by_id: dict[str, SyncObject] = {}
    for model_id, sources in known_sources(spec, base_dir).items():
        found, skipped = sources
        mine, left = plan.tables.setdefault(model_id, {}), plan.skipped.setdefault(model_id, {})
        left.update(skipped)
        for source in found:
            conn = match_connection(source.location, connections, spec.sync_tables.sources)
            if conn is None or conn not in connections:
                left[source.model_table] = (
                    f"no connection is its source {source.location.label} (map it under "
                    f"sync_tables.sources: {source.location.expression or source.location.label})"
                )
                continue
            obj = by_id.get(_object_id(conn, source))
            try:
                obj = obj or _sync_object(spec, conn, source)
            except ValidationError as exc:
                plan.problems.append(f"model {model_id!r} table {source.model_table!r}: {exc}")
                continue
            by_id[obj.object_id] = obj
            mine[source.model_table] = obj.object_id
    plan.objects = list(by_id.values())
    return plan


def _object_id(conn: str, source: TableSource) -> str:
    return "pbi_" + "_".join(_ident(p) for p in (conn, source.schema, source.table) if p)


def _ident(name: str) -> str:
    """A name as an identifier our configs accept (letters, digits, underscores)."""
    text = re.sub(r"\W+", "_", name).strip("_").lower() or "t"
    return text if not text[0].isdigit() else f"t_{text}"


def _sync_object(spec: SemanticModelsSpec, conn: str, source: TableSource) -> SyncObject:
    tables = spec.sync_tables
    return SyncObject.model_validate(
        {
            "object_id": _object_id(conn, source),
            "name": f"{source.schema or ''}.{source.table} for the semantic models".lstrip("."),
            "group": GROUP,
            "source": {"connection": conn, "schema": source.schema, "object": source.table},
            "target": {
                "connection": spec.target,
                "schema": tables.schema_ or (_ident(source.schema) if source.schema else None),
                "object": _ident(source.table),
            },
            "sync_type": tables.sync_type,
            "frequency": tables.frequency,
            "automation": tables.automation,
            "enabled": tables.enabled,
        }
    )


# --------------------------------------------------------------------------- known models


def known_sources(spec: SemanticModelsSpec, base_dir) -> dict[str, tuple[list, dict]]:
    """model id -> (its table sources, {table: why not}): read from a PBIP folder, or the
    cache the sensor writes for a Fabric workspace."""
    if spec.source.type == "pbip_folder":
        root = Path(resolve(base_dir, spec.source.path))
        out = {}
        for folder in sorted(root.rglob(f"*{SUFFIX}")):
            model_id = folder.name.removesuffix(SUFFIX)
            try:
                out[model_id] = table_sources(read_model(folder, model_id))
            except Exception as exc:  # the sensor reports it; the rest still load
                out[model_id] = ([], {"*": f"the model does not read: {exc}"})
        return out
    path = Path(resolve(base_dir, spec.sync_tables.cache))
    if not path.is_file():
        return {}
    cached = json.loads(path.read_text())
    return {
        model_id: (
            [
                TableSource(t["model_table"], Location(**t["location"]), t["schema"], t["table"])
                for t in entry["found"]
            ],
            entry["skipped"],
        )
        for model_id, entry in cached.get(spec.source.workspace_id, {}).items()
    }


def remember(spec: SemanticModelsSpec, base_dir, model_id: str, model: SemanticModel) -> bool:
    """Cache a Fabric model's table sources for the next load; True when they changed (the
    code location needs a reload to add or drop table assets)."""
    if spec.sync_tables is None or spec.source.type != "fabric_workspace":
        return False
    path = Path(resolve(base_dir, spec.sync_tables.cache))
    path.parent.mkdir(parents=True, exist_ok=True)
    found, skipped = table_sources(model)
    entry = {"found": [asdict(s) for s in found], "skipped": skipped}
    # runs of several models may finish at once: one read-modify-write at a time
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cached = json.loads(path.read_text()) if path.is_file() else {}
        models = cached.setdefault(spec.source.workspace_id, {})
        if models.get(model_id) == entry:
            return False
        models[model_id] = entry
        _write_atomically(path, json.dumps(cached, indent=1, sort_keys=True))
    return True


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)
