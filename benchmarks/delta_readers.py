"""Delta readers side by side, on the queries a Delta source runs: a full read, a probe
(count and max of the sync column) and a filtered read (the newest 1.5% of rows).

    .venv/bin/python benchmarks/delta_readers.py [--rows 3000000] [--rounds 3]

Readers, each queried by DuckDB as the Delta source does:
- dataset: deltalake's pyarrow dataset (projection and filter pushdown), on a copy of the
  table without deletion vectors (it refuses tables with them or with column mapping);
- kernel: deltalake's kernel scan of every column (`delta_read.KernelScan`);
- kernel+projection: what the Delta source registers for such tables: a kernel scan of the
  columns the query reads (`delta_read.query_columns`);
- polars: `polars.scan_delta` as a LazyFrame (DuckDB pushes projections and filters into it);
  it reads deletion vectors but refuses column mapping.
The tables are built by `sync_assets.spark_delta` as Spark writes them: 6 files, 1% of rows
deleted by deletion vectors. Medians of the rounds are printed, in seconds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync_assets.delta_read import KernelScan, query_columns  # noqa: E402
from sync_assets.spark_delta import SparkDeltaTable  # noqa: E402

QUERIES = {
    "full read": "SELECT * FROM v",
    "probe": "SELECT count(*), max(updated_at) FROM v",
    "filtered": "SELECT * FROM v WHERE updated_at > TIMESTAMPTZ '{cut}'",
}
FILES = 6


def build(root: Path, rows: int, mapping: str | None) -> tuple[Path, str]:
    """A DV table of `rows` rows (1% deleted) and the cut-off of its newest 1.5%."""
    con = duckdb.connect()
    path = root / f"t_{mapping or 'plain'}"
    per_file = rows // FILES
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("amount", pa.int64()),
            ("customer name", pa.string()),
            ("updated_at", pa.timestamp("us", "UTC")),
        ]
    )
    table = SparkDeltaTable(path, schema, column_mapping=mapping)
    for f in range(FILES):
        part = con.sql(
            f"SELECT i AS id, (i * 7919) % 1000000 AS amount, 'name-' || i AS \"customer name\", "
            f"TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_seconds(i) AS updated_at "
            f"FROM range({f * per_file}, {(f + 1) * per_file}) r(i)"
        ).to_arrow_table()
        table.append(part.cast(schema))
    table.delete(lambda r: r["id"] % 100 == 0)
    cut = con.execute(
        f"SELECT TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_seconds({int(rows * 0.985)})"
    ).fetchall()[0][0]
    return path, cut.isoformat()


def plain_copy(path: Path) -> Path:
    """The same files without deletion vectors, readable by the pyarrow dataset."""
    copy = path.with_name(path.name + "_nodv")
    shutil.copytree(path, copy)
    logs = sorted((copy / "_delta_log").glob("*.json"))
    logs[-1].unlink()  # the DELETE commit
    first = logs[0]
    actions = [json.loads(line) for line in first.read_text().splitlines()]
    for action in actions:
        if "protocol" in action:
            action["protocol"] = {"minReaderVersion": 1, "minWriterVersion": 2}
        if "metaData" in action:
            action["metaData"]["configuration"] = {}
    first.write_text("\n".join(json.dumps(a) for a in actions) + "\n")
    return copy


def timed(register, sql: str) -> float:
    con = duckdb.connect()
    try:
        register(con, sql)
        started = time.perf_counter()
        reader = con.sql(sql).to_arrow_reader(100_000)
        for _ in reader:
            pass
        return time.perf_counter() - started
    finally:
        con.close()


def readers(path: Path, mapping: str | None) -> dict:
    """name -> register(con, sql) for each reader that can read the table."""
    import polars as pl
    from deltalake import DeltaTable

    table = DeltaTable(str(path))
    columns = [f.name for f in table.schema().fields]
    found = {
        "kernel": lambda c, q: c.register("v", KernelScan(table)),
        "kernel+projection": lambda c, q: c.register(
            "v", KernelScan(table, query_columns(q, columns, view="v"))
        ),
    }
    if mapping is None:  # neither reads column mapping
        plain = DeltaTable(str(plain_copy(path)))
        found["dataset"] = lambda c, q: c.register("v", plain.to_pyarrow_dataset())
        found["polars"] = lambda c, q: c.register("v", pl.scan_delta(str(path)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="delta-readers-"))
    try:
        for mapping in (None, "name"):
            path, cut = build(root, args.rows, mapping)
            print(f"\n{args.rows:,} rows, column mapping {mapping or 'none'}, 1% deleted by DVs")
            print(f"{'reader':18}" + "".join(f"{q:>12}" for q in QUERIES))
            for name, register in readers(path, mapping).items():
                cells = []
                for sql in QUERIES.values():
                    times = [timed(register, sql.format(cut=cut)) for _ in range(args.rounds)]
                    cells.append(f"{statistics.median(times):12.2f}")
                print(f"{name:18}" + "".join(cells))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
