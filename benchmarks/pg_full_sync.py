"""Full sync of a PostgreSQL `orders` table to Delta and to Parquet, timed end to end.

Starts a throwaway PostgreSQL server, creates a deterministic `orders` table of N rows (id
bigint pk, customer_id int, status text with 5 values, amount numeric(12,2), note text of
~40 characters, created_at/updated_at timestamptz), then runs
`/usr/bin/time -v dagster asset materialize` once per target and prints wall time, peak RSS,
the sync step's own duration (from its metadata) and a row-count check.

    .venv/bin/python benchmarks/pg_full_sync.py --rows 1000000 [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sync_assets_tests.pg_server import PostgresServer  # noqa: E402

TARGETS = {
    "delta": {"type": "delta", "root": "lake"},
    "parquet": {"type": "parquet", "root": "bronze"},
    "duckdb": {"type": "duckdb", "path": "warehouse.duckdb"},
    "postgres": {"type": "postgres"},
}


def create_orders(uri: str, rows: int) -> None:
    with psycopg.connect(uri, autocommit=True) as con:
        con.execute(f"""
            CREATE TABLE orders AS SELECT
                g::bigint AS id, (g % 50000)::int AS customer_id,
                (ARRAY['placed','paid','shipped','delivered','returned'])[1 + g % 5] AS status,
                ((g * 7907) % 100000 / 100.0)::numeric(12,2) AS amount,
                'note ' || lpad(((g * 31) % 99991)::text, 5, '0') || ' for the order of customer ' || (g % 50000) AS note,
                timestamptz '2024-01-01 00:00:00+00' + (g % 31536000) * interval '1 second' AS created_at,
                timestamptz '2024-01-01 00:00:00+00' + (g % 31536000) * interval '1 second' AS updated_at
            FROM generate_series(1::bigint, {rows}) g;
            ALTER TABLE orders ADD PRIMARY KEY (id)""")
        # an incremental source indexes its change column (every tool's incremental read
        # filters on it)
        con.execute("CREATE INDEX orders_updated_at ON orders (updated_at)")
        con.execute("VACUUM ANALYZE orders")


def write_configs(folder: Path, uri: str) -> None:
    configs = folder / "configs"
    configs.mkdir(parents=True)
    connections = {"pg": {"type": "postgres", "dsn": uri}}
    objects = []
    for name, conn in TARGETS.items():
        if "root" in conn:
            conn = {**conn, "root": str(folder / conn["root"])}
        elif "path" in conn:
            conn = {**conn, "path": str(folder / conn["path"])}
        else:
            conn = {**conn, "dsn": uri.rsplit("/", 1)[0] + "/target"}
        connections[name] = conn
        objects.append(
            {
                "object_id": f"orders_{name}",
                "source": {"connection": "pg", "schema": "public", "object": "orders"},
                "target": {"connection": name, "schema": "bench", "object": "orders"},
                "sync_type": "full",
                "skip_unchanged": False,
            }
        )
    (configs / "bench.yaml").write_text(
        yaml.safe_dump({"connections": connections, "sync_objects": objects})
    )


def materialize(folder: Path, target: str) -> dict:
    env = dict(
        os.environ, SYNC_ASSETS_CONFIGS=str(folder / "configs"), DAGSTER_HOME=str(folder / "home")
    )
    cmd = [
        "/usr/bin/time",
        "-v",
        sys.executable,
        "-m",
        "dagster",
        "asset",
        "materialize",
        "-m",
        "sync_assets.definitions",
        "--select",
        f"{target}/bench/orders",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", done.stderr).group(
        1
    )
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    minutes, seconds = wall.rsplit(":", 1)
    step = re.search(r'Finished execution of step "[^"]+" in ([\d.]+)(ms|s)', done.stderr)
    step_s = float(step.group(1)) / (1000 if step.group(2) == "ms" else 1) if step else None
    return {
        "wall_s": int(minutes.split(":")[-1]) * 60 + float(seconds),
        "peak_rss_mb": rss_kb / 1024,
        "step_s": step_s,
    }


def count_rows(folder: Path, target: str, uri: str) -> int:
    import duckdb

    if target == "duckdb":
        with duckdb.connect(str(folder / "warehouse.duckdb"), read_only=True) as con:
            return con.execute("SELECT count(*) FROM bench.orders").fetchone()[0]
    if target == "postgres":
        with psycopg.connect(uri.rsplit("/", 1)[0] + "/target") as con:
            return con.execute("SELECT count(*) FROM bench.orders").fetchone()[0]
    if target == "delta":
        from deltalake import DeltaTable

        return DeltaTable(str(folder / "lake" / "bench" / "orders")).count()
    from sync_assets.parquet_table import ParquetTable

    return ParquetTable(str(folder / "bronze" / "bench" / "orders")).row_count()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--targets", default=",".join(TARGETS))
    args = parser.parse_args()
    server = PostgresServer().start()
    try:
        uri = server.create_database("bench")
        server.create_database("target")
        create_orders(uri, args.rows)
        with tempfile.TemporaryDirectory(prefix="sync_bench_") as tmp:
            folder = Path(tmp)
            (folder / "home").mkdir()
            write_configs(folder, uri)
            print(
                f"{'target':8} {'round':>5} {'wall s':>8} {'step s':>8} {'peak RSS MB':>12} {'rows/s (wall)':>14} rows ok"
            )
            for r in range(args.rounds):
                for target in args.targets.split(","):
                    m = materialize(folder, target)
                    ok = count_rows(folder, target, uri) == args.rows
                    print(
                        f"{target:8} {r + 1:>5} {m['wall_s']:>8.2f} {m['step_s'] or 0:>8.2f} {m['peak_rss_mb']:>12.0f} {args.rows / m['wall_s']:>14,.0f} {ok}"
                    )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
