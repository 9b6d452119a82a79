"""A Parquet table: immutable data files plus a manifest that says which files are current.

Layout of a table folder:
    _manifest.json          the commit point: files per partition key, schema, sync state
    data/<key>/part-*.parquet
    _staging/<txn>/         scratch space of a write in progress
Writers put new files in place first and then replace `_manifest.json` with one atomic
rename, so a reader (or a crash) sees the table before or after a write, never half of it.
Files no manifest names (left by a crashed write) are removed by the next write.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
from pathlib import Path

import pyarrow as pa

MANIFEST = "_manifest.json"
FORMAT = "sync_assets.parquet/1"


class ParquetTable:
    def __init__(self, location: str):
        self.location = Path(location)

    @property
    def manifest_path(self) -> Path:
        return self.location / MANIFEST

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def load(self) -> dict:
        """The current manifest (an empty one before the first write)."""
        if not self.exists():
            return {"format": FORMAT, "version": 0, "partitions": {}, "state": {}, "schema": None}
        return json.loads(self.manifest_path.read_text())

    def schema(self, manifest: dict | None = None) -> pa.Schema | None:
        manifest = manifest or self.load()
        if not manifest.get("schema"):
            return None
        return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(manifest["schema"])))

    def files(self, manifest: dict | None = None, keys=None) -> list[dict]:
        """File entries of the given partition keys (all keys when None)."""
        parts = (manifest or self.load())["partitions"]
        chosen = parts if keys is None else {k: parts.get(k, []) for k in keys}
        return [entry for entries in chosen.values() for entry in entries]

    def current_files(self) -> list[str]:
        return [str(self.location / f["path"]) for f in self.files()]

    def logical_types(self) -> dict[str, str]:
        """Each column's Parquet type as the first current file stores it: DECIMAL(12,2),
        TIMESTAMP(MICROS, UTC), UUID, JSON, LIST<INT32>…"""
        files = self.current_files()
        return logical_types(files[0]) if files else {}

    def row_count(self, manifest: dict | None = None, keys=None) -> int:
        return sum(f["rows"] for f in self.files(manifest, keys))

    def commit(self, manifest: dict, schema: pa.Schema) -> dict:
        """Make `manifest` current with one atomic rename; return it as written."""
        manifest = dict(manifest)
        manifest["format"] = FORMAT
        manifest["version"] = manifest.get("version", 0) + 1
        manifest["schema"] = base64.b64encode(schema.serialize().to_pybytes()).decode()
        manifest["columns"] = [[f.name, str(f.type)] for f in schema]
        manifest["updated_at"] = dt.datetime.now(dt.UTC).isoformat()
        self.location.mkdir(parents=True, exist_ok=True)
        tmp = self.location / f".{MANIFEST}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            json.dump(manifest, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.manifest_path)
        _fsync_dir(self.location)
        return manifest

    def collect_garbage(self) -> int:
        """Delete data files and staging folders no manifest names; return how many files."""
        keep = {f["path"] for f in self.files()}
        removed = 0
        data = self.location / "data"
        if data.is_dir():
            for path in data.rglob("*.parquet"):
                if str(path.relative_to(self.location)) not in keep:
                    path.unlink()
                    removed += 1
        shutil.rmtree(self.location / "_staging", ignore_errors=True)
        for tmp in self.location.glob(f".{MANIFEST}.*.tmp"):
            tmp.unlink()
        return removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def logical_types(path: str) -> dict[str, str]:
    """Parquet logical (else physical) type of each top-level column of one file."""
    import pyarrow.parquet as pq

    schema = pq.ParquetFile(path).schema
    types: dict[str, str] = {}
    for i in range(len(schema)):
        column = schema.column(i)
        top, *inner = column.path.split(".")
        leaf = _leaf_type(column)
        types[top] = f"LIST<{leaf}>" if inner[-2:] == ["list", "element"] else leaf
    return types


def _leaf_type(column) -> str:
    logical, spelled = column.logical_type, str(column.logical_type)
    kind = logical.type
    if kind == "INT":
        bits = spelled.split("bitWidth=")[1].split(",")[0]
        return f"{'' if 'isSigned=true' in spelled else 'U'}INT{bits}"
    if kind == "DECIMAL":
        precision = spelled.split("precision=")[1].split(",")[0]
        scale = spelled.split("scale=")[1].rstrip(")")
        return f"DECIMAL({precision},{scale})"
    if kind in ("TIMESTAMP", "TIME"):
        unit = spelled.split("timeUnit=")[1].split(",")[0].rstrip(")").upper()
        zone = ", UTC" if "isAdjustedToUTC=true" in spelled else ""
        return f"{kind}({unit}{zone})"
    if kind == "NONE":
        return {"BYTE_ARRAY": "BINARY"}.get(column.physical_type, column.physical_type)
    return kind
