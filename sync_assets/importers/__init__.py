"""`sync-assets import <tool> FILE`: the configs of the tools our users come from, as ours.

Each importer reads one tool's own format and returns an `Imported`: connections and sync
objects in our YAML shape, and a report of what mapped (and how) and what did not. The CLI
writes them to one file under configs/ with the report as its header, then validates the
folder, so anything left to fill in is named by file, object and field.

| tool | reads | module |
|---|---|---|
| synapse-sync | seed 000's `config_synapse_extract_objects` rows: CSV, SQL INSERTs or JSON | `synapse_sync` |
| azsql-ct | seed 004's pipeline YAML / JSON | `azsql_ct` |
| synchub | seed 002's pipeline YAML (+ its datastores.yaml) | `synchub` |
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml


class ImportProblem(ValueError):
    """A file the importer cannot read (names the file and, where known, the line or row)."""


@dataclass
class Imported:
    """What one import produced: our configs and how each of their fields was found."""

    tool: str
    source: str
    connections: dict[str, dict] = field(default_factory=dict)
    objects: list[dict] = field(default_factory=list)
    mapped: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)

    def document(self) -> dict:
        doc: dict = {}
        if self.connections:
            doc["connections"] = self.connections
        doc["sync_objects"] = self.objects
        return doc

    def report(self) -> str:
        lines = [f"imported from {self.tool} ({self.source}): {len(self.objects)} sync objects"]
        if self.connections:
            lines.append(f"connections written: {', '.join(self.connections)}")
        lines += ["", "mapped:"] + [f"  {m}" for m in self.mapped]
        lines += ["", "not mapped:"] + ([f"  {u}" for u in self.unmapped] or ["  (nothing)"])
        return "\n".join(lines)

    def yaml_text(self) -> str:
        """The config file: the report as comments, then the document."""
        header = "".join(f"# {line}".rstrip() + "\n" for line in self.report().splitlines())
        return header + "\n" + yaml.safe_dump(self.document(), sort_keys=False, width=100)


_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]+")


def ident(text: str) -> str:
    """`text` as an identifier (object ids, connection names): other characters become _."""
    name = _NOT_IDENT.sub("_", str(text)).strip("_") or "unnamed"
    return name if not name[0].isdigit() else f"_{name}"


def secret_reference(result: Imported, connection: str, field: str, value) -> str | None:
    """A secret as a ${VAR} reference: the value itself is never written into configs/."""
    if value is None or (isinstance(value, str) and value.startswith("${")):
        return value
    var = f"{ident(connection).upper()}_{field.upper()}"
    result.unmapped.append(
        f"connection '{connection}': {field} written as ${{{var}}}; set {var} in the "
        "environment or the project's .env (the value is not copied into configs/)"
    )
    return f"${{{var}}}"


def read_text(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ImportProblem(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise ImportProblem(f"{path}: not UTF-8 text (byte {exc.start})") from None


def read_mapping(path: Path) -> dict:
    """A YAML or JSON file that holds one mapping."""
    text = read_text(path)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", exc)
        raise ImportProblem(f"{path}:{where} YAML syntax error: {problem}") from None
    if not isinstance(doc, dict):
        raise ImportProblem(f"{path}: expected a mapping at the top level")
    return doc


def known_connections(configs: Path, skip: Path | None = None) -> dict[str, str]:
    """Connection name -> type of every connection the configs folder defines (read as
    plain YAML, so a folder that does not validate yet still answers)."""
    known: dict[str, str] = {}
    files = [*configs.rglob("*.yaml"), *configs.rglob("*.yml"), *configs.rglob("*.json")]
    for path in files if configs.is_dir() else []:
        if skip is not None and path.resolve() == skip.resolve():
            continue
        try:
            doc = yaml.safe_load(path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        connections = doc.get("connections") if isinstance(doc, dict) else None
        for name, conn in (connections or {}).items() if isinstance(connections, dict) else ():
            known[name] = conn.get("type") if isinstance(conn, dict) else None
    return known
