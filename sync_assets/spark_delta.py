"""Delta tables as Spark engines (Fabric, Databricks, Synapse) write them, built by hand to the
Delta protocol (PROTOCOL.md of delta-io/delta): the demo's notebook-written lakehouse table and
the tests of the Delta source and target (no Spark cluster needed).

delta-rs cannot write deletion vectors, so the log is written here action by action:
- deletion vectors (section "Deletion Vectors" and "Deletion Vector Format"): the deleted row
  indexes as a 64-bit RoaringBitmap in the portable format, prefixed with the magic number
  1681511377, all little endian; stored inline (`storageType: "i"`, Z85 text in the log) or in
  a `deletion_vector_<uuid>.bin` file (`storageType: "u"`, version byte 1, then big-endian
  size, the bitmap and its CRC-32); the file's `add` is re-committed with the descriptor
  beside a `remove` of the old logical file, `stats.numRecords` stays the physical count and
  `tightBounds` turns false;
- column mapping (section "Column Mapping"): every column gets `delta.columnMapping.id` and
  `delta.columnMapping.physicalName`; Parquet files store the physical names and the ids as
  `field_id`; statistics are keyed by physical name;
- `timestamp_ntz` columns (feature `timestampNtz`), CHECK constraints (`delta.constraints.*`)
  and generated columns (`delta.generationExpression`);
- the change data feed: `cdc` actions pointing at `_change_data/` files with `_change_type`.

The 32-bit RoaringBitmap serialization is the standard one (RoaringFormatSpec: cookie 12346,
container keys and cardinalities, offsets, array or bitmap containers); tests check it against
the protocol's own example and against pyroaring.
"""

from __future__ import annotations

import json
import struct
import time
import uuid
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sync_assets.delta_dv import MAGIC as DV_MAGIC
from sync_assets.delta_dv import Z85

ENGINE = "Apache-Spark/3.5.1 Delta-Lake/3.2.0"


def z85_encode(data: bytes) -> str:
    """Z85 (ZeroMQ RFC 32), zero-padded to a multiple of 4 bytes as Delta's codec does."""
    data += b"\0" * (-len(data) % 4)
    out = []
    for i in range(0, len(data), 4):
        n, chunk = int.from_bytes(data[i : i + 4], "big"), []
        for _ in range(5):
            n, r = divmod(n, 85)
            chunk.append(Z85[r])
        out.extend(reversed(chunk))
    return "".join(out)


def roaring32(values: list[int]) -> bytes:
    """A 32-bit RoaringBitmap in the standard portable serialization (no run containers)."""
    groups: dict[int, list[int]] = {}
    for v in sorted(set(values)):
        groups.setdefault(v >> 16, []).append(v & 0xFFFF)
    keys = sorted(groups)
    head = struct.pack("<II", 12346, len(keys))
    head += b"".join(struct.pack("<HH", k, len(groups[k]) - 1) for k in keys)
    bodies = []
    for k in keys:
        low = groups[k]
        if len(low) <= 4096:  # array container
            bodies.append(struct.pack(f"<{len(low)}H", *low))
        else:  # bitmap container
            words = [0] * 1024
            for v in low:
                words[v >> 6] |= 1 << (v & 63)
            bodies.append(struct.pack("<1024Q", *words))
    offsets, start = [], len(head) + 4 * len(keys)
    for body in bodies:
        offsets.append(start)
        start += len(body)
    return head + struct.pack(f"<{len(keys)}I", *offsets) + b"".join(bodies)


def deletion_vector(rows: list[int]) -> bytes:
    """The serialized DV of Delta: magic number, then the 64-bit portable RoaringBitmap."""
    buckets: dict[int, list[int]] = {}
    for r in sorted(set(rows)):
        buckets.setdefault(r >> 32, []).append(r & 0xFFFFFFFF)
    out = struct.pack("<IQ", DV_MAGIC, len(buckets))
    for key in sorted(buckets):
        out += struct.pack("<I", key) + roaring32(buckets[key])
    return out


def _delta_type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "timestamp" if t.tz else "timestamp_ntz"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    return {
        pa.int64(): "long",
        pa.int32(): "integer",
        pa.string(): "string",
        pa.float64(): "double",
        pa.bool_(): "boolean",
        pa.date32(): "date",
        pa.binary(): "binary",
    }[t]


def _stat(value):
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text.replace("+00:00", "Z") if getattr(value, "tzinfo", None) else text
    return str(value) if not isinstance(value, (int, float, str, bool)) else value


class SparkDeltaTable:
    """A Delta table at `path` written action by action as a Spark engine would.

    `column_mapping` is None, "name" or "id"; `legacy` gives the pre-table-features protocol
    (reader 2 / writer 5) of column-mapped tables without deletion vectors."""

    def __init__(
        self,
        path: Path,
        schema: pa.Schema,
        *,
        deletion_vectors: bool = True,
        column_mapping: str | None = None,
        cdf: bool = False,
        legacy: bool = False,
        constraints: dict[str, str] | None = None,
        generated: dict[str, str] | None = None,
        partition_by: str | None = None,
    ):
        self.path, self.schema, self.partition = Path(path), schema, partition_by
        self.mapping, self.cdf, self.version = column_mapping, cdf, -1
        self.files: dict[str, dict] = {}  # path -> live add action
        self.physical = {
            f.name: (f"col-{uuid.uuid4()}" if column_mapping else f.name) for f in schema
        }
        self.ids = {f.name: i + 1 for i, f in enumerate(schema)}
        (self.path / "_delta_log").mkdir(parents=True, exist_ok=True)
        self._commit(
            "CREATE TABLE",
            [
                self._protocol(deletion_vectors, legacy, constraints, generated),
                self._metadata(deletion_vectors, constraints or {}, generated or {}),
            ],
        )

    @classmethod
    def open(cls, path: Path) -> SparkDeltaTable:
        """A table this class wrote earlier, its live files and deletion vectors replayed
        from the log, so more commits can follow."""
        import pyarrow.fs as pa_fs
        from deltalake import DeltaTable

        from sync_assets.delta_dv import deleted_rows

        table = cls.__new__(cls)
        delta = DeltaTable(str(path))
        table.path, table.version = Path(path), delta.version()
        table.schema = pa.schema(delta.schema().to_arrow())
        config = delta.metadata().configuration
        table.mapping = config.get("delta.columnMapping.mode")
        table.cdf = config.get("delta.enableChangeDataFeed") == "true"
        table.partition = next(iter(delta.metadata().partition_columns), None)
        fields = delta.schema().fields
        table.physical = {
            f.name: f.metadata.get("delta.columnMapping.physicalName", f.name) for f in fields
        }
        table.ids = {
            f.name: f.metadata.get("delta.columnMapping.id", i + 1) for i, f in enumerate(fields)
        }
        live: dict[str, dict] = {}
        for version in range(table.version + 1):
            log = table.path / "_delta_log" / f"{version:020d}.json"
            for action in map(json.loads, log.read_text().splitlines()):
                if "remove" in action:
                    live.pop(action["remove"]["path"], None)
                if "add" in action:
                    live[action["add"]["path"]] = action["add"]
        local = pa_fs.SubTreeFileSystem(str(table.path), pa_fs.LocalFileSystem())
        logical = {v: k for k, v in table.physical.items()}
        table.files = {}
        for name, add in live.items():
            data = pq.read_table(table.path / name)
            data = data.rename_columns([logical.get(n, n) for n in data.column_names])
            if table.partition:
                value = add["partitionValues"][table.physical[table.partition]]
                kind = table.schema.field(table.partition).type
                data = data.append_column(
                    table.partition, pa.array([value] * data.num_rows, pa.string()).cast(kind)
                )
            dv = add.get("deletionVector")
            table.files[name] = {
                "add": add,
                "rows": data.cast(table.schema),
                "deleted": deleted_rows(local, dv) if dv else set(),
            }
        return table

    # ------------------------------------------------------------------ table actions

    def _protocol(self, dvs, legacy, constraints, generated) -> dict:
        ntz = any(pa.types.is_timestamp(f.type) and not f.type.tz for f in self.schema)
        if legacy and not dvs and not ntz:
            return {
                "protocol": {
                    "minReaderVersion": 2 if self.mapping else 1,
                    "minWriterVersion": 5 if self.mapping else 4,
                }
            }
        reader = [
            n
            for n, on in (
                ("columnMapping", self.mapping),
                ("deletionVectors", dvs),
                ("timestampNtz", ntz),
            )
            if on
        ]
        writer = reader + [
            n
            for n, on in (
                ("changeDataFeed", self.cdf),
                ("checkConstraints", constraints),
                ("generatedColumns", generated),
            )
            if on
        ]
        return {
            "protocol": {
                "minReaderVersion": 3,
                "minWriterVersion": 7,
                "readerFeatures": reader,
                "writerFeatures": writer,
            }
        }

    def _metadata(self, dvs: bool, constraints: dict, generated: dict) -> dict:
        fields = []
        for f in self.schema:
            meta = {}
            if self.mapping:
                meta = {
                    "delta.columnMapping.id": self.ids[f.name],
                    "delta.columnMapping.physicalName": self.physical[f.name],
                }
            if f.name in generated:
                meta["delta.generationExpression"] = generated[f.name]
            fields.append(
                {"name": f.name, "type": _delta_type(f.type), "nullable": True, "metadata": meta}
            )
        config = {f"delta.constraints.{k}": v for k, v in constraints.items()}
        if dvs:
            config["delta.enableDeletionVectors"] = "true"
        if self.mapping:
            config["delta.columnMapping.mode"] = self.mapping
            config["delta.columnMapping.maxColumnId"] = str(len(self.schema))
        if self.cdf:
            config["delta.enableChangeDataFeed"] = "true"
        return {
            "metaData": {
                "id": str(uuid.uuid4()),
                "format": {"provider": "parquet", "options": {}},
                "schemaString": json.dumps({"type": "struct", "fields": fields}),
                "partitionColumns": [self.partition] if self.partition else [],
                "configuration": config,
                "createdTime": int(time.time() * 1000),
            }
        }

    def _data_fields(self) -> list[pa.Field]:
        """The schema's fields stored in data files (partition values live in the log)."""
        return [f for f in self.schema if f.name != self.partition]

    def _physical_table(self, rows: pa.Table, extra: tuple[pa.Field, ...] = ()) -> pa.Table:
        fields = [
            pa.field(
                self.physical[f.name],
                f.type,
                metadata={b"PARQUET:field_id": str(self.ids[f.name]).encode()}
                if self.mapping
                else None,
            )
            for f in self._data_fields()
        ]
        columns = [rows.column(f.name) for f in self._data_fields()]
        columns += [rows.column(f.name) for f in extra]
        return pa.Table.from_arrays(columns, schema=pa.schema(fields + list(extra)))

    def _groups(self, rows: pa.Table) -> list[tuple[dict, pa.Table]]:
        """(partitionValues, rows) per partition value: one group unless partitioned."""
        if not self.partition:
            return [({}, rows)]
        key = self.physical[self.partition]
        values = rows.column(self.partition)
        out = []
        for value in sorted({v for v in values.to_pylist()}, key=str):
            mask = pc.equal(values, pa.scalar(value, values.type))
            out.append(({key: str(value)}, rows.filter(mask)))
        return out

    def _write_file(
        self, rows: pa.Table, partition: dict, folder: str = "", extra=()
    ) -> tuple[str, int]:
        """One Parquet file (under `<physical>=<value>/` when partitioned)."""
        subdir = "".join(f"{k}={v}/" for k, v in partition.items())
        name = f"{folder}{subdir}part-00000-{uuid.uuid4()}-c000.snappy.parquet"
        (self.path / name).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(self._physical_table(rows, extra), self.path / name)
        return name, (self.path / name).stat().st_size

    def _new_files(self, rows: pa.Table) -> list[dict]:
        """Data files for `rows`, one per partition value; their add actions."""
        adds = []
        for partition, group in self._groups(rows.select(self.schema.names).cast(self.schema)):
            name, size = self._write_file(group, partition)
            add = {
                "path": name,
                "partitionValues": partition,
                "size": size,
                "modificationTime": int(time.time() * 1000),
                "dataChange": True,
                "stats": self._stats(group),
            }
            self.files[name] = {"add": add, "rows": group, "deleted": set()}
            adds.append({"add": add})
        return adds

    def _stats(self, rows: pa.Table, tight: bool = True) -> str:
        stats = {"numRecords": rows.num_rows, "minValues": {}, "maxValues": {}, "nullCount": {}}
        for f in self._data_fields():
            col, key = rows.column(f.name), self.physical[f.name]
            stats["nullCount"][key] = col.null_count
            if col.null_count < len(col) and not pa.types.is_binary(f.type):
                bounds = pc.min_max(col).as_py()
                stats["minValues"][key] = _stat(bounds["min"])
                stats["maxValues"][key] = _stat(bounds["max"])
        if not tight:
            stats["tightBounds"] = False
        return json.dumps(stats)

    def _commit(self, operation: str, actions: list[dict]) -> int:
        self.version += 1
        info = {
            "commitInfo": {
                "timestamp": int(time.time() * 1000),
                "operation": operation,
                "operationParameters": {},
                "engineInfo": ENGINE,
                "isBlindAppend": operation == "WRITE",
            }
        }
        lines = [json.dumps(a) for a in [info, *actions]]
        log = self.path / "_delta_log" / f"{self.version:020d}.json"
        log.write_text("\n".join(lines) + "\n")
        return self.version

    # ------------------------------------------------------------------ data operations

    def append(self, rows: pa.Table) -> int:
        """New data files with `rows` (a blind append; one file per partition value)."""
        # no cdc action: change data readers take a blind append's inserts from its adds
        return self._commit("WRITE", self._new_files(rows))

    def delete(
        self,
        where,
        storage: str = "u",
        operation: str = "DELETE",
        extra_actions: list[dict] | None = None,
        cdc_rows: pa.Table | None = None,
        write_cdc: bool | None = None,
    ) -> int:
        """Delete the rows for which `where(row_dict)` holds, as deletion vectors on the files
        holding them (one more DV per file, unioned with the one it had). `write_cdc=False`
        leaves out the `_change_data` file, as engines that skip it do: readers then derive
        the deletes from the remove/add pair."""
        actions, deleted_rows = [], []
        dv_file = None
        for name, entry in self.files.items():
            rows = entry["rows"].to_pylist()
            hit = {i for i, r in enumerate(rows) if i not in entry["deleted"] and where(r)}
            if not hit:
                continue
            deleted_rows += [rows[i] for i in sorted(hit)]
            old = entry["add"]
            entry["deleted"] |= hit
            blob = deletion_vector(sorted(entry["deleted"]))
            if storage == "i":
                dv = {
                    "storageType": "i",
                    "pathOrInlineDv": z85_encode(blob),
                    "sizeInBytes": len(blob),
                    "cardinality": len(entry["deleted"]),
                }
            else:
                if dv_file is None:
                    dv_file = _DvFile(self.path)
                dv = dv_file.add(blob, len(entry["deleted"]))
            remove = {
                "path": name,
                "deletionTimestamp": int(time.time() * 1000),
                "dataChange": True,
                "extendedFileMetadata": True,
                "partitionValues": old["partitionValues"],
                "size": old["size"],
                "stats": old["stats"],
            }
            if "deletionVector" in old:
                remove["deletionVector"] = old["deletionVector"]
            add = dict(
                old,
                deletionVector=dv,
                modificationTime=int(time.time() * 1000),
                stats=self._stats(entry["rows"], tight=False),
            )
            entry["add"] = add
            actions += [{"remove": remove}, {"add": add}]
        if dv_file is not None:
            dv_file.close()
        if self.cdf if write_cdc is None else write_cdc:
            changes = (
                cdc_rows
                if cdc_rows is not None
                else _with_change_type(
                    pa.Table.from_pylist(deleted_rows, schema=self.schema), "delete"
                )
            )
            actions += self._cdc(changes)
        return self._commit(operation, actions + (extra_actions or []))

    def update(self, where, change, storage: str = "u") -> int:
        """Spark's UPDATE with deletion vectors: the old rows are deleted by DV, the new
        versions land in a new file; the CDF gets pre- and post-images."""
        old = [
            r
            for e in self.files.values()
            for i, r in enumerate(e["rows"].to_pylist())
            if i not in e["deleted"] and where(r)
        ]
        new = pa.Table.from_pylist([change(dict(r)) for r in old], schema=self.schema)
        staged = dict(self.files)  # the new files join the table after the DVs are made
        adds = self._new_files(new)
        added = {a["add"]["path"]: self.files[a["add"]["path"]] for a in adds}
        self.files = staged
        cdc = None
        if self.cdf:
            cdc = pa.concat_tables(
                [
                    _with_change_type(
                        pa.Table.from_pylist(old, schema=self.schema), "update_preimage"
                    ),
                    _with_change_type(new, "update_postimage"),
                ]
            )
        version = self.delete(where, storage, "UPDATE", adds, cdc_rows=cdc)
        self.files.update(added)
        return version

    def _cdc(self, changes: pa.Table) -> list[dict]:
        """`_change_data/` files of the changes, one per partition value, as cdc actions."""
        kind = pa.field("_change_type", pa.string())
        actions = []
        for partition, group in self._groups(changes):
            name, size = self._write_file(group, partition, "_change_data/", extra=(kind,))
            actions.append(
                {
                    "cdc": {
                        "path": name,
                        "partitionValues": partition,
                        "size": size,
                        "dataChange": False,
                    }
                }
            )
        return actions

    def live_rows(self) -> pa.Table:
        """The logical rows of the table: what every reader must return."""
        rows = [
            r
            for e in self.files.values()
            for i, r in enumerate(e["rows"].to_pylist())
            if i not in e["deleted"]
        ]
        return pa.Table.from_pylist(rows, schema=self.schema)


def _with_change_type(rows: pa.Table, kind: str) -> pa.Table:
    return rows.append_column("_change_type", pa.array([kind] * rows.num_rows, pa.string()))


class _DvFile:
    """One `deletion_vector_<uuid>.bin` under a random two-letter prefix folder, holding the
    DVs of one commit: version byte 1, then per DV big-endian size, bitmap, CRC-32."""

    def __init__(self, root: Path):
        self.uuid, self.prefix = uuid.uuid4(), "ab"
        folder = root / self.prefix
        folder.mkdir(exist_ok=True)
        self.handle = open(folder / f"deletion_vector_{self.uuid}.bin", "wb")  # noqa: SIM115
        self.handle.write(b"\x01")

    def add(self, blob: bytes, cardinality: int) -> dict:
        offset = self.handle.tell()
        self.handle.write(len(blob).to_bytes(4, "big") + blob)
        self.handle.write(zlib.crc32(blob).to_bytes(4, "big"))
        return {
            "storageType": "u",
            "pathOrInlineDv": self.prefix + z85_encode(self.uuid.bytes),
            "offset": offset,
            "sizeInBytes": len(blob),
            "cardinality": cardinality,
        }

    def close(self) -> None:
        self.handle.close()
