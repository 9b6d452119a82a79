"""The many-tables case: what users schedule. 40 PostgreSQL tables of three shapes and
100k-500k rows (scaled by --many-scale) into PostgreSQL, as one run of every object: an
initial load, then, after 1% updates and 0.5% inserts in every table, an incremental run.

    sync_assets  one `dagster asset materialize --select *` of 40 incremental objects, with
                 SYNC_ASSETS_MAX_CONCURRENT steps at once (threads)
    sling        one replication of 40 streams, incremental on updated_at, SLING_THREADS
    dlt          one pipeline run of sql_database's 40 tables (merge, incremental on
                 updated_at), with parallel extract and EXTRACT/NORMALIZE/LOAD workers

Every tool gets the same parallelism (--many-threads, default 2: this machine's cores).
After each run every target table is checked against its source (count, sum of id).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import yaml

TABLES = 40


def shape_sql(i: int, rows: int) -> str:
    """Table t<i>: orders-like, wide numeric, or text-heavy."""
    common = "g AS id, now() - (g || ' s')::interval AS updated_at"
    if i % 3 == 0:
        cols = (
            "(g % 977)::int AS customer_id, (g * 1.25)::numeric(12,2) AS amount, 'placed' AS status"
        )
    elif i % 3 == 1:
        cols = ", ".join(f"(g * {k})::bigint AS n{k}" for k in range(1, 11))
    else:
        cols = "md5(g::text) AS a, repeat(md5(g::text), 3) AS b, (g % 2 = 0) AS flag"
    return f"CREATE TABLE t{i} AS SELECT {common}, {cols} FROM generate_series(1, {rows}) g"


def build(uri: str, scale: float) -> int:
    total = 0
    with psycopg.connect(uri, autocommit=True) as con:
        for i in range(TABLES):
            rows = int((100_000 + (i % 5) * 100_000) * scale)
            con.execute(shape_sql(i, rows))
            con.execute(f"ALTER TABLE t{i} ADD PRIMARY KEY (id)")
            con.execute(f"CREATE INDEX t{i}_updated_at ON t{i} (updated_at)")
            total += rows
    return total


def mutate(uri: str) -> None:
    with psycopg.connect(uri, autocommit=True) as con:
        for i in range(TABLES):
            top = con.execute(f"SELECT max(id) FROM t{i}").fetchone()[0]
            con.execute(f"UPDATE t{i} SET updated_at = now() WHERE id % 100 = 3")
            # new keys: copies of the first 0.5% of rows under ids past the top
            con.execute(
                f"INSERT INTO t{i} SELECT id + {top}, now(), {', '.join(_other_columns(con, i))} "
                f"FROM t{i} WHERE id <= {top // 200}"
            )


def _other_columns(con, i: int) -> list[str]:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "AND column_name NOT IN ('id', 'updated_at') ORDER BY ordinal_position",
        (f"t{i}",),
    ).fetchall()
    return [r[0] for r in rows]


def summaries(uri: str, schema: str) -> dict:
    with psycopg.connect(uri) as con:
        return {
            i: con.execute(f"SELECT count(*), sum(id) FROM {schema}.t{i}").fetchone()
            for i in range(TABLES)
        }


def sync_assets_config(out: Path, src: str, tgt: str) -> Path:
    objects = [
        {
            "object_id": f"t{i}",
            "source": {"connection": "pg", "schema": "public", "object": f"t{i}"},
            "target": {"connection": "tgt", "schema": "bench", "object": f"t{i}"},
            "sync_type": "incremental",
            "sync_column": "updated_at",
            "merge_keys": ["id"],
        }
        for i in range(TABLES)
    ]
    doc = {
        "connections": {
            "pg": {"type": "postgres", "dsn": src},
            "tgt": {"type": "postgres", "dsn": tgt},
        },
        "sync_objects": objects,
    }
    configs = out / "configs"
    configs.mkdir(parents=True, exist_ok=True)
    (configs / "bench.yaml").write_text(yaml.safe_dump(doc))
    return configs


def sling_replication(out: Path, threads: int) -> Path:
    doc = {
        "source": "SRC",
        "target": "TGT",
        "defaults": {
            "mode": "incremental",
            "primary_key": ["id"],
            "update_key": "updated_at",
            "object": "bench.{stream_table}",
        },
        "streams": {f"public.t{i}": None for i in range(TABLES)},
        "env": {"SLING_THREADS": threads},
    }
    path = out / "replication.yaml"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
