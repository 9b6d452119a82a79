"""Load and validate the YAML files under the configs folder.

Every problem found is reported in one `ConfigError` whose lines name the file, the
object_id (or connection name) and the field, so a user can fix them all in one pass.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values
from pydantic import TypeAdapter, ValidationError

from sync_assets.config.aliases import AliasError, normalized
from sync_assets.config.models import Connection, ProjectConfig, SyncObject
from sync_assets.config.semantics import check_object, transpiled
from sync_assets.connection_types import dialect_of

CONFIGS_ENV = "SYNC_ASSETS_CONFIGS"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_CONNECTION = TypeAdapter(Connection)
# "merge_keys: sync_type merge needs ..." (a model rule's message, field first)
_NAMED = re.compile(r"^([a-z_][a-z0-9_.]*): (.+)$", re.S)


class ConfigError(ValueError):
    """A configuration problem, with one line per problem naming file, object and field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid sync_assets configuration:\n  - " + "\n  - ".join(problems))


def default_configs_dir() -> Path:
    """`$SYNC_ASSETS_CONFIGS`, else `configs/` beside the package's project root."""
    if os.environ.get(CONFIGS_ENV):
        return Path(os.environ[CONFIGS_ENV]).resolve()
    return (Path(__file__).resolve().parents[2] / "configs").resolve()


def load_project(configs_dir: str | Path | None = None) -> ProjectConfig:
    """Read every *.yaml / *.yml / *.json file in `configs_dir` (recursively) into one
    ProjectConfig."""
    root = Path(configs_dir) if configs_dir else default_configs_dir()
    if not root.is_dir():
        raise ConfigError([f"{root}: configs folder not found (set {CONFIGS_ENV})"])
    env = _environment(root.parent)
    problems: list[str] = []
    connections: dict[str, Any] = {}
    objects: list[SyncObject] = []
    origins: dict[str, str] = {}
    aliases: dict[str, list[str]] = {}
    files = [*root.rglob("*.yaml"), *root.rglob("*.yml"), *root.rglob("*.json")]
    for path in sorted(files):
        doc = _read_yaml(path, env, problems)
        if doc is not None:
            _collect(path, doc, connections, objects, origins, problems, aliases)
    _cross_checks(connections, objects, origins, problems)
    if problems:
        raise ConfigError(problems)
    return ProjectConfig(
        connections=connections, sync_objects=objects, sources=origins, aliases=aliases
    )


def _environment(project_dir: Path) -> dict[str, str]:
    """Process environment over a `.env` file in the project folder (the process wins)."""
    values = {k: v for k, v in dotenv_values(project_dir / ".env").items() if v is not None}
    values.update(os.environ)
    return values


def _read_yaml(path: Path, env: dict[str, str], problems: list[str]) -> dict | None:
    """One config file (YAML, or JSON for *.json) as a dict with ${VAR}s expanded."""
    try:
        if path.suffix == ".json":
            doc = json.loads(path.read_text())
        else:
            doc = yaml.safe_load(path.read_text())
    except json.JSONDecodeError as exc:
        problems.append(
            f"{path}: line {exc.lineno}, column {exc.colno} JSON syntax error: {exc.msg}"
        )
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.append(f"{path}:{where} YAML syntax error: {getattr(exc, 'problem', exc)}")
        return None
    if doc is None:
        return None
    if not isinstance(doc, dict):
        problems.append(f"{path}: expected a mapping with 'connections' and/or 'sync_objects'")
        return None
    unknown = set(doc) - {"connections", "sync_objects"}
    if unknown:
        problems.append(f"{path}: unknown top-level key(s) {sorted(unknown)}")
    return _expand(doc, env, path, problems)


def _expand(value: Any, env: dict[str, str], path: Path, problems: list[str]) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string of a parsed YAML document."""
    if isinstance(value, dict):
        return {k: _expand(v, env, path, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env, path, problems) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append(f"{path}: environment variable {name} is not set (used as ${{{name}}})")
        return ""

    return _VAR.sub(substitute, value)


def _collect(path, doc, connections, objects, origins, problems, aliases) -> None:
    for name, raw in (doc.get("connections") or {}).items():
        if name in connections:
            problems.append(f"{path}: connection '{name}': defined twice")
            continue
        try:
            connections[name] = _CONNECTION.validate_python(raw)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(path, f"connection '{name}'", exc, tagged=True))
    raw_objects = doc.get("sync_objects") or []
    if not isinstance(raw_objects, list):
        problems.append(f"{path}: sync_objects must be a list")
        return
    for index, raw in enumerate(raw_objects):
        try:
            raw, notes = normalized(raw)  # the source tools' field names and values
        except AliasError as exc:
            field, _, message = str(exc).partition(": ")
            problems.append(f"{path}: {_object_label(raw, index)}: field '{field}': {message}")
            continue
        label = _object_label(raw, index)
        try:
            obj = SyncObject.model_validate(raw)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(path, label, exc))
            continue
        if obj.object_id in origins:
            problems.append(
                f"{path}: object_id '{obj.object_id}': duplicate (also in {origins[obj.object_id]})"
            )
            continue
        origins[obj.object_id] = str(path)
        if notes:
            aliases[obj.object_id] = notes
        objects.append(obj)


def _object_label(raw: Any, index: int) -> str:
    if isinstance(raw, dict) and raw.get("object_id"):
        return f"object_id '{raw['object_id']}'"
    return f"sync_objects[{index}] (no object_id)"


def _pydantic_problems(
    path: Path, label: str, exc: ValidationError, tagged: bool = False
) -> list[str]:
    """One line per pydantic error; `tagged` drops the union tag pydantic puts first."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = err["loc"][1:] if tagged and len(err["loc"]) > 1 else err["loc"]
        field = ".".join(str(p) for p in loc)
        message = err["msg"].removeprefix("Value error, ")
        named = _NAMED.match(message)
        if named:  # a rule of a whole (sub)model that names its field first
            field = ".".join(p for p in (field, named.group(1)) if p)
            message = named.group(2)
        lines.append(f"{path}: {label}: field '{field or '-'}': {message}")
    return lines


def _cross_checks(connections, objects, origins, problems) -> None:
    targets: dict[tuple, str] = {}
    for index, obj in enumerate(objects):
        where = f"{origins[obj.object_id]}: object_id '{obj.object_id}'"
        for role in ("source", "target"):
            name = getattr(obj, role).connection
            if name not in connections:
                known = ", ".join(sorted(connections)) or "none"
                problems.append(
                    f"{where}: field '{role}.connection': unknown connection '{name}' (known: {known})"
                )
        if obj.source.connection in connections and obj.target.connection in connections:
            # SQL written in another dialect (`dialect:`) is transpiled to the source's first
            obj, failed = transpiled(obj, dialect_of(connections[obj.source.connection]))
            objects[index] = obj
            problems.extend(f"{where}: {p}" for p in failed)
            if not failed:
                problems.extend(f"{where}: {p}" for p in check_object(obj, connections))
        key = (obj.target.connection, obj.target.schema_, obj.target.object)
        if obj.active and key in targets:
            problems.append(
                f"{where}: field 'target': same target table as object_id '{targets[key]}'"
            )
        targets.setdefault(key, obj.object_id)
