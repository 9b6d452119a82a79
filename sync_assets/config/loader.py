"""Load and validate the YAML files under the configs folder.

Every problem found is reported in one `ConfigError`, one line per problem, as
`<file>:<line>: object_id '<id>' | connection '<name>': field '<dotted.path>': <message>`, so
a user can fix them all in one pass. Follow-on problems (objects naming a connection that
failed validation) are left out, and no secret is echoed: values of secret-named fields are
redacted from every line, parser messages lose the text they quote, and a key that holds a
value (`password:value`, `client_secret=…`) is named by its field part only.
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

from sync_assets.config.aliases import FIELD_ALIASES, AliasError, normalized
from sync_assets.config.models import (
    Connection,
    ProjectConfig,
    RunHistorySpec,
    SemanticModelsSpec,
    SyncObject,
)
from sync_assets.config.semantics import check_object, transpiled
from sync_assets.config.yaml_lines import (
    DuplicateKeyError,
    Located,
    load_json,
    load_yaml,
    safe_problem,
)
from sync_assets.connection_types import default_schema, dialect_of
from sync_assets.secrets import redact
from sync_assets.semantic.tables import TablePlan, plan_tables

CONFIGS_ENV = "SYNC_ASSETS_CONFIGS"
# the top-level keys of a config file
SECTIONS = ("connections", "sync_objects", "run_history", "semantic_models")
_TEMPLATE_VAR = re.compile(r"\{\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_CONNECTION = TypeAdapter(Connection)
# "merge_keys: sync_type merge needs ..." (a model rule's message, field first)
_NAMED = re.compile(r"^([a-z_][a-z0-9_.]*): (.+)$", re.S)
# fields whose values are secrets, in any connection type
_SECRET_FIELD = re.compile(r"(?i)(password|pwd|secret|token|private_key|account_key|sas|signature)")
# a key that swallowed its value: `password:value` (no space) or `client_secret=value`
_KEY_WITH_VALUE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*[:=]\s*\S")


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
    load = _Load(_environment(root.parent))
    files = [*root.rglob("*.yaml"), *root.rglob("*.yml"), *root.rglob("*.json")]
    for path in sorted(files):
        doc = load.read(path)
        if doc is not None:
            load.collect(path, doc)
    tables = _semantic_tables(load, root.parent)
    _cross_checks(load)
    if load.problems:
        raise ConfigError(
            [redact(p, sorted(load.secrets, key=len, reverse=True)) for p in load.problems]
        )
    return ProjectConfig(
        connections=load.connections,
        sync_objects=load.objects,
        sources=load.origins,
        aliases=load.aliases,
        env_vars=load.env_vars,
        run_history=load.sections.get("run_history", (None,))[0],
        semantic_models=load.sections.get("semantic_models", (None,))[0],
        semantic_tables=tables.tables,
        semantic_skipped=tables.skipped,
    )


def _semantic_tables(load: _Load, base_dir: Path) -> TablePlan:
    """The sync objects `semantic_models.sync_tables` generates, checked like written ones."""
    spec, where = load.sections.get("semantic_models", (None, ""))
    if spec is None or spec.sync_tables is None or spec.target in load.broken:
        return TablePlan()
    plan = plan_tables(spec, load.connections, base_dir)
    load.problems.extend(f"{where}: {p}" for p in plan.problems)
    for obj in plan.objects:
        label = f"{where}: sync_tables: object_id '{obj.object_id}'"
        if obj.object_id in load.origins:
            load.problems.append(
                f"{label}: duplicate of an object in {load.origins[obj.object_id]}"
            )
            continue
        load.origins[obj.object_id] = where.split(":")[0]
        load.raws[obj.object_id] = (None, label)
        load.objects.append(obj)
    return plan


def _environment(project_dir: Path) -> dict[str, str]:
    """Process environment over a `.env` file in the project folder (the process wins)."""
    values = {k: v for k, v in dotenv_values(project_dir / ".env").items() if v is not None}
    values.update(os.environ)
    return values


class _Load:
    """What one load collects: the valid connections and objects, where each came from, and
    every problem found."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.problems: list[str] = []
        self.connections: dict[str, Any] = {}
        self.broken: set[str] = set()  # connections that failed validation
        self.objects: list[SyncObject] = []
        self.origins: dict[str, str] = {}
        self.raws: dict[str, Any] = {}  # object_id -> the object as read (for lines)
        self.aliases: dict[str, list[str]] = {}
        self.secrets: set[str] = set()
        # connection -> {dotted field: variable} for fields given as Dagster's EnvVar
        self.env_vars: dict[str, dict[str, str]] = {}
        self._env_used: dict[str, str] = {}
        # run_history / semantic_models -> (the section, where it was written)
        self.sections: dict[str, tuple] = {}

    # ------------------------------------------------------------------ files

    def read(self, path: Path) -> dict | None:
        """One config file (YAML, or JSON for *.json) as Located mappings, or None."""
        try:
            text = path.read_text(encoding="utf-8")
            doc = load_json(text) if path.suffix == ".json" else load_yaml(text)
        except UnicodeDecodeError as exc:
            return self._fail(f"{path}: not UTF-8 text (byte {exc.start}): save it as UTF-8")
        except DuplicateKeyError as exc:
            return self._fail(f"{path}:{exc.line}: {exc}" if exc.line else f"{path}: {exc}")
        except json.JSONDecodeError as exc:
            return self._fail(
                f"{path}:{exc.lineno}: JSON syntax error (column {exc.colno}): {exc.msg}"
            )
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            column = f" (column {mark.column + 1})" if mark else ""
            return self._fail(f"{where}: YAML syntax error{column}: {safe_problem(exc)}")
        except (yaml.YAMLError, ValueError) as exc:  # e.g. an impossible date: 2025-02-30
            return self._fail(
                f"{path}: not readable as YAML: {safe_problem(exc) if isinstance(exc, yaml.YAMLError) else exc}"
            )
        if doc is None:
            return None
        if not isinstance(doc, dict):
            return self._fail(
                f"{path}:1: expected a mapping with 'connections' and/or 'sync_objects'"
            )
        for key in sorted(set(doc) - set(SECTIONS), key=str):
            self.problems.append(
                f"{path}:{doc.lines.get(key)}: unknown top-level key '{key}' (expected "
                f"{', '.join(SECTIONS)})"
            )
        return doc

    def _fail(self, problem: str) -> None:
        self.problems.append(problem)
        return None

    # ------------------------------------------------------------------ entries

    def collect(self, path: Path, doc: dict) -> None:
        connections = doc.get("connections")
        if connections is not None and not isinstance(connections, dict):
            self.problems.append(
                f"{path}:{doc.lines.get('connections')}: field 'connections': expected a "
                f"mapping of name: {{type: ...}}, got a {type(connections).__name__}"
            )
        elif connections:
            for name, raw in connections.items():
                self._connection(path, connections, name, raw)
        for section, model in (
            ("run_history", RunHistorySpec),
            ("semantic_models", SemanticModelsSpec),
        ):
            if section in doc:
                self._section(path, doc, section, model)
        objects = doc.get("sync_objects")
        if objects is not None and not isinstance(objects, list):
            self.problems.append(
                f"{path}:{doc.lines.get('sync_objects')}: field 'sync_objects': expected a "
                f"list of objects (each starting with '- '), got a {type(objects).__name__}"
            )
            return
        for index, raw in enumerate(objects or []):
            self._object(path, index, raw, doc.lines.get("sync_objects"))

    def _section(self, path: Path, doc, section: str, model) -> None:
        """`run_history:` or `semantic_models:` (one of each per project)."""
        where = f"{path}:{doc.lines.get(section)}: {section}"
        if section in self.sections:
            self.problems.append(f"{where}: defined twice (also in another file)")
            return
        raw = self._expand(doc[section], where, ())
        self._remember_secrets(raw)
        try:
            self.sections[section] = (model.model_validate(raw), where)
        except ValidationError as exc:
            self.problems.extend(_pydantic_problems(where, raw, exc))

    def _connection(self, path: Path, connections: Located, name, raw) -> None:
        where = f"{path}:{connections.lines.get(name)}: connection '{name}'"
        self._env_used = {}
        raw = self._expand(raw, where, ())
        if self._env_used:
            self.env_vars[name] = self._env_used
        self._remember_secrets(raw)  # after expansion: the values, not their ${VAR} names
        if name in self.connections or name in self.broken:
            self.problems.append(f"{where}: defined twice (also in another file)")
            return
        try:
            self.connections[name] = _CONNECTION.validate_python(raw)
        except ValidationError as exc:
            self.broken.add(name)
            self.problems.extend(_pydantic_problems(where, raw, exc, tagged=True))

    def _object(self, path: Path, index: int, raw, list_line: int | None) -> None:
        line = getattr(raw, "line", None) or list_line
        where = f"{path}:{line}: {_object_label(raw, index)}"
        if not isinstance(raw, dict):
            self.problems.append(f"{where}: expected a mapping of fields (object_id: ..., ...)")
            return
        located = raw
        raw = self._expand(raw, f"{path}:{{line}}: {_object_label(raw, index)}", (), located)
        try:
            raw, notes = normalized(raw)  # the source tools' field names and values
        except AliasError as exc:
            field, _, message = str(exc).partition(": ")
            self.problems.append(f"{_at(where, located, field)}: field '{field}': {message}")
            return
        try:
            obj = SyncObject.model_validate(raw)
        except ValidationError as exc:
            self.problems.extend(_pydantic_problems(where, located, exc))
            return
        if obj.object_id in self.origins:
            self.problems.append(
                f"{where}: field 'object_id': duplicate (also in {self.origins[obj.object_id]})"
            )
            return
        self.origins[obj.object_id] = str(path)
        self.raws[obj.object_id] = (located, where)
        if notes:
            self.aliases[obj.object_id] = notes
        self.objects.append(obj)

    # ------------------------------------------------------------------ ${VAR}s and secrets

    def _expand(self, value: Any, where: str, field: tuple, located=None) -> Any:
        """Replace ${VAR} and ${VAR:-default} in every string, and Dagster's EnvVar forms
        (`{env: VAR}`, `"{{ env.VAR }}"`) in a whole value; a missing variable is a problem
        naming the entry and the field."""
        name = _env_var_of(value)
        if name is not None:
            self._env_used[".".join(str(p) for p in field)] = name
            value = f"${{{name}}}"  # the same lookup and the same message when it is missing
        if isinstance(value, dict):
            out = Located(
                (k, self._expand(v, where, (*field, k), located)) for k, v in value.items()
            )
            out.line, out.lines = getattr(value, "line", None), getattr(value, "lines", {})
            return out
        if isinstance(value, list):
            return [self._expand(v, where, (*field, i), located) for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value

        def substitute(match: re.Match) -> str:
            name, default = match.group(1), match.group(2)
            if name in self.env:
                return self.env[name]
            if default is not None:
                return default
            dotted = ".".join(str(p) for p in field)
            at = where.replace("{line}", str(located.line_of(field))) if located else where
            self.problems.append(
                f"{at}: field '{dotted}': environment variable {name} is not set (used as "
                f"${{{name}}}): set it in the environment or .env, or give ${{{name}:-default}}"
            )
            return ""

        return _VAR.sub(substitute, value)

    def _remember_secrets(self, raw: Any) -> None:
        """Values of secret-named fields (at any depth), to redact from every problem."""
        if isinstance(raw, dict):
            for key, value in raw.items():
                if isinstance(value, str) and _SECRET_FIELD.search(str(key)) and len(value) >= 3:
                    self.secrets.add(value)
                self._remember_secrets(value)
            for key in raw:  # a key that swallowed its value: `password:hunter2`
                match = _KEY_WITH_VALUE.match(str(key))
                if match and _SECRET_FIELD.search(match.group(1)):
                    self.secrets.add(str(key)[match.end() - 1 :])


def _env_var_of(value: Any) -> str | None:
    """The variable of a value written in Dagster's EnvVar convention: `{env: VAR}` (config
    StringSource) or `"{{ env.VAR }}"` (Components templates); else None."""
    if isinstance(value, dict) and list(value) == ["env"] and isinstance(value["env"], str):
        return value["env"]
    if isinstance(value, str):
        match = _TEMPLATE_VAR.fullmatch(value.strip())
        return match.group(1) if match else None
    return None


def _at(where: str, located, field: str) -> str:
    """`where` (file:line: label) with the line of `field` when it is known (written as
    the field, or as an alias of it)."""
    if not isinstance(located, Located):
        return where
    parts = tuple(field.split("."))
    names = [parts] + [(a, *parts[1:]) for a, f in FIELD_ALIASES.items() if f == parts[0]]
    found = [located.line_of(n) for n in names if n[0] in located]
    line = found[0] if found else None
    if line is None:
        return where
    path_part, _, rest = where.partition(": ")
    return f"{path_part.rsplit(':', 1)[0]}:{line}: {rest}"


def _object_label(raw: Any, index: int) -> str:
    if isinstance(raw, dict) and raw.get("object_id"):
        return f"object_id '{raw['object_id']}'"
    return f"sync_objects[{index}] (no object_id)"


def _pydantic_problems(
    where: str, located, exc: ValidationError, tagged: bool = False
) -> list[str]:
    """One line per pydantic error at the line of its field; `tagged` drops the union tag
    pydantic puts first."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = err["loc"][1:] if tagged else err["loc"]  # the union's tag comes first
        field = ".".join(str(p) for p in loc)
        message = err["msg"].removeprefix("Value error, ")
        named = _NAMED.match(message)
        if named:  # a rule of a whole (sub)model that names its field first
            field = ".".join(p for p in (field, named.group(1)) if p)
            message = named.group(2)
        if err["type"] == "extra_forbidden":
            field, message = _unknown_field(field, message)
        at = _at(where, located, field) if field else where
        lines.append(f"{at}: field '{field or '-'}': {message}")
    return lines


def _unknown_field(field: str, message: str) -> tuple[str, str]:
    """An unknown key, named without any value it swallowed."""
    head, _, last = field.rpartition(".")
    match = _KEY_WITH_VALUE.match(last)
    if not match:
        return field, "unknown field (a typo? every field is listed in the README)"
    name = ".".join(p for p in (head, match.group(1)) if p)
    return name, (
        "a key and its value ran together (write `name: value`, with a space after the colon, "
        "not `name:value` or `name=value`); the value is not shown"
    )


def _cross_checks(load: _Load) -> None:
    """Checks across fields and connections, for every object that validated."""
    connections, targets = load.connections, {}
    for index, obj in enumerate(load.objects):
        located, where = load.raws[obj.object_id]

        def problem(text: str, located=located, where=where) -> str:
            named = re.match(r"field '([^']*)'", text)
            return f"{_at(where, located, named.group(1)) if named else where}: {text}"

        known = True
        for role in ("source", "target"):
            name = getattr(obj, role).connection
            if name in load.broken:  # its own problems are reported: no follow-on line
                known = False
            elif name not in connections:
                known = False
                names = ", ".join(sorted(connections | dict.fromkeys(load.broken))) or "none"
                load.problems.append(
                    problem(
                        f"field '{role}.connection': unknown connection '{name}' (known: {names})"
                    )
                )
        if known:
            # SQL written in another dialect (`dialect:`) is transpiled to the source's first
            obj, failed = transpiled(obj, dialect_of(connections[obj.source.connection]))
            load.objects[index] = obj
            load.problems.extend(problem(p) for p in failed)
            if not failed:
                load.problems.extend(problem(p) for p in check_object(obj, connections))
                load.problems.extend(problem(p) for p in _same_table(obj, connections))
        key = (obj.target.connection, obj.target.schema_, obj.target.object)
        if obj.active and key in targets:
            load.problems.append(
                problem(f"field 'target': same target table as object_id '{targets[key]}'")
            )
        targets.setdefault(key, obj.object_id)
    load.problems.extend(_section_problems(load))


def _section_problems(load: _Load) -> list[str]:
    """The connections run_history and semantic_models name must exist (and be Snowflake)."""
    problems, connections = [], load.connections
    names = ", ".join(sorted(connections)) or "none"
    for section, field in (("run_history", "connection"), ("semantic_models", "target")):
        spec, where = load.sections.get(section, (None, ""))
        name = getattr(spec, field, None)
        if spec is None or name in load.broken:
            continue
        if name not in connections:
            problems.append(
                f"{where}: field '{field}': unknown connection '{name}' (known: {names})"
            )
        elif section == "semantic_models":
            problems += _semantic_target(spec, where, connections[name])
    return problems


def _semantic_target(spec, where: str, target) -> list[str]:
    """Semantic models go to Snowflake (or, without semantic views, to a DuckDB file)."""
    if target.type == "snowflake":
        return []
    if target.type == "duckdb" and not spec.create_views:
        return []
    if target.type == "duckdb":
        return [
            f"{where}: field 'create_views': DuckDB has no semantic views: set "
            "create_views: false (the view's text is kept in _SEMANTIC_METADATA)"
        ]
    return [
        f"{where}: field 'target': '{spec.target}' is a {target.type} connection; semantic "
        "models are synced to a snowflake connection (or a duckdb file, without views)"
    ]


def _same_table(obj: SyncObject, connections: dict) -> list[str]:
    """A target that is its own source would be overwritten while it is read."""
    src, tgt = obj.source, obj.target
    if src.query or src.connection != tgt.connection:
        return []
    default = default_schema(connections[src.connection])
    if (src.schema_ or default, src.object) != (tgt.schema_ or default, tgt.object):
        return []
    return [
        f"field 'target': the target is the source table itself ({src.connection}: "
        f"{src.schema_ or default}.{src.object}): name another table"
    ]
