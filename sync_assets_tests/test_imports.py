"""`sync-assets import` on the seed documents' own example configs (seed_examples/): each
imports with a report, validates, and runs on the local stand-ins. (Issue: configs from
the seeds.)

- synapse-sync (seed 000): CUSTOMER_SYNC, CUST_DAILY_SYNC, ORDER_REALTIME_SYNC (one way) and
  PRODUCT_DIM_SYNC, from a DuckDB file in Fabric's place to a real PostgreSQL server in
  Synapse's;
- synchub (seed 002): users_sync and the multi-strategy pipeline, PostgreSQL to PostgreSQL;
- azsql-ct (seed 004): pipeline_1. There is no SQL Server here, so its Change Tracking reads
  come from a stand-in session (a mock answering the version probe and streaming fixed rows,
  as in test_change_tracking.py); the writes go to the real Parquet folder it configures.
"""

from __future__ import annotations

import csv
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow as pa
import yaml

from sync_assets.cli import main
from sync_assets.columns import DELETED_FLAG
from sync_assets.config.loader import load_project
from sync_assets.connection_types import make_target
from sync_assets.importers import synapse_sync
from sync_assets.sources.base import Source, SourceSession
from sync_assets.state import SyncState
from sync_assets.strategies import plan_sync
from sync_assets_tests.harness import Project, duck

EXAMPLES = Path(__file__).parent / "seed_examples"


def _import(project: Project, monkeypatch, *args: str) -> int:
    monkeypatch.setenv("SYNC_ASSETS_CONFIGS", str(project.configs))  # main sets it
    return main(["--configs", str(project.configs), "import", *args])


def _pg(uri: str, sql: str) -> list[tuple]:
    with psycopg.connect(uri, autocommit=True) as con:
        cur = con.execute(sql)
        return cur.fetchall() if cur.description else []


# ----------------------------------------------------------------------------- synapse-sync


def _fabric_source(path: Path) -> None:
    duck(
        path,
        "CREATE SCHEMA dbo",
        "CREATE SCHEMA sales",
        """CREATE TABLE dbo.customers AS SELECT i AS customer_id, 'customer ' || i AS customer_name,
            'c' || i || '@example.com' AS email_address, (i % 4 <> 0)::INTEGER AS active_flag,
            TIMESTAMP '2025-01-01' + to_hours(i) AS modified_date FROM range(1, 41) r(i)""",
        """CREATE TABLE dbo.dim_customer AS SELECT i AS customer_key, 'segment ' || (i % 3) AS segment,
            (i % 5 <> 0)::INTEGER AS active_flag FROM range(1, 21) r(i)""",
        """CREATE TABLE sales.orders AS SELECT i AS order_id, i % 7 AS customer_id,
            (i * 9.99)::DECIMAL(10,2) AS order_total, 'internal' AS note,
            TIMESTAMP '2025-02-01' + to_minutes(i) AS last_updated FROM range(1, 31) r(i)""",
        "CREATE TABLE categories AS SELECT i AS category_id, 'category ' || i AS category_name FROM range(1, 4) r(i)",
        "CREATE TABLE suppliers AS SELECT i AS supplier_id, 'supplier ' || i AS supplier_name FROM range(1, 3) r(i)",
        """CREATE TABLE products AS SELECT i AS product_id, 'product ' || i AS product_name,
            1 + i % 3 AS category_id, 1 + i % 2 AS supplier_id, (i * 1.5)::DECIMAL(8,2) AS unit_price,
            i * 10 AS units_in_stock, (i % 5 = 0)::INTEGER AS discontinued FROM range(1, 16) r(i)""",
    )


def test_synapse_sync_examples_import_validate_and_run(tmp_path, pg_uri, monkeypatch, capsys):
    source = tmp_path / "fabric.duckdb"
    _fabric_source(source)
    connections = {
        "fabric": {"type": "duckdb", "path": str(source)},
        "synapse": {"type": "postgres", "dsn": pg_uri},
    }
    project = Project(tmp_path, connections, [])
    assert _import(project, monkeypatch, "synapse-sync", str(EXAMPLES / "synapse_objects.sql")) == 0
    out = capsys.readouterr().out
    assert "imported from synapse-sync" in out and "3 sync objects" in out
    assert "ORDER_REALTIME_SYNC: sync_direction BIDIRECTIONAL: imported one way" in out
    assert "validation of" in out and out.rstrip().endswith(": OK")
    assert _import(project, monkeypatch, "synapse-sync", str(EXAMPLES / "product_dim.json")) == 0

    loaded = {o.object_id: o for o in load_project(project.configs).sync_objects}
    assert sorted(loaded) == [
        "CUSTOMER_SYNC", "CUST_DAILY_SYNC", "ORDER_REALTIME_SYNC", "PRODUCT_DIM_SYNC",
    ]  # fmt: skip
    customers = loaded["CUSTOMER_SYNC"]
    assert (customers.sync_type, customers.frequency.every, customers.name) == (
        "incremental", "hourly", "Customer Data Sync",
    )  # fmt: skip
    assert customers.target.schema_ == "staging" and customers.target.object == "stg_customers"
    assert loaded["ORDER_REALTIME_SYNC"].frequency.every == "continuous"
    assert loaded["PRODUCT_DIM_SYNC"].merge_keys == ["product_id"]

    project.materialize_all()
    assert _pg(pg_uri, "SELECT count(*) FROM staging.stg_customers") == [(30,)]  # active only
    columns = _pg(
        pg_uri,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'stg_customers' "
        "ORDER BY ordinal_position",
    )
    assert [c for (c,) in columns] == ["customer_id", "customer_name"]  # the mapped columns
    assert _pg(pg_uri, "SELECT count(*) FROM datamart.dim_customer") == [(16,)]
    total = sum(Decimal(i) * Decimal("9.99") for i in range(1, 31))
    assert _pg(pg_uri, "SELECT sum(order_total) FROM sales.orders") == [(total,)]
    assert _pg(pg_uri, "SELECT count(*), min(category_name) FROM warehouse.dim_product") == [
        (12, "category 1")
    ]

    # an hour later: new customers arrive; the incremental object reads only them
    duck(
        source,
        """INSERT INTO dbo.customers SELECT i, 'customer ' || i, 'x', 1,
           TIMESTAMP '2025-03-01' + to_hours(i) FROM range(41, 44) r(i)""",
    )
    meta = project.materialize("CUSTOMER_SYNC")
    assert meta["sync/rows_read"] == 3 and meta["sync/rows_inserted"] == 3


def test_the_csv_export_and_the_python_form_import_alike(tmp_path):
    rows = synapse_sync.read_rows(EXAMPLES / "synapse_objects.sql")
    exported = tmp_path / "config_synapse_extract_objects.csv"
    with exported.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(synapse_sync.COLUMNS))
        writer.writeheader()
        writer.writerows({k: ("NULL" if v is None else v) for k, v in r.items()} for r in rows)
    known = {"fabric": "duckdb", "synapse": "postgres"}
    from_sql = synapse_sync.import_file(EXAMPLES / "synapse_objects.sql", known=known)
    from_csv = synapse_sync.import_file(exported, known=known)
    assert from_csv.objects == from_sql.objects

    python_form = synapse_sync.import_file(EXAMPLES / "customer_sync.json", known=known)
    (obj,) = python_form.objects
    assert obj["column_mappings"] == {
        "customer_id": "customer_id", "customer_name": "customer_name", "email_address": "email",
    }  # fmt: skip
    assert obj["source"] == {"connection": "fabric", "object": "customers", "schema": "dbo"}


def test_missing_connections_get_skeletons_and_validation_names_what_to_fill(
    tmp_path, monkeypatch, capsys
):
    project = Project(tmp_path, {}, [])
    assert _import(project, monkeypatch, "synapse-sync", str(EXAMPLES / "synapse_objects.sql")) == 1
    out = capsys.readouterr().out
    assert "connection 'fabric': not in the configs folder; a skeleton was written" in out
    assert "environment variable SYNAPSE_SERVER is not set" in out
    written = yaml.safe_load((project.configs / "synapse_sync_synapse_objects.yaml").read_text())
    assert written["connections"]["synapse"]["flavor"] == "synapse"
    # a second import does not overwrite without --force
    assert _import(project, monkeypatch, "synapse-sync", str(EXAMPLES / "synapse_objects.sql")) == 2


# ----------------------------------------------------------------------------- synchub


def _datastores(tmp_path, pg_server) -> Path:
    """Seed 002's datastores.yaml shape, pointing at the test server (trust authentication:
    the password is not checked, but it still travels as ${SOURCE_DB_PASSWORD})."""
    stores = {}
    for name in ("source_db", "dest_db"):
        db = pg_server.create_database(f"synchub_{name}_{tmp_path.name[-20:]}".lower())
        stores[name] = {
            "type": "postgres",
            "connection": {
                "host": "127.0.0.1",
                "port": pg_server.port,
                "user": "postgres",
                "password": "your_password",
                "dbname": db.rsplit("/", 1)[1],
                "schema": "public",
            },  # fmt: skip
        }
    path = tmp_path / "datastores.yaml"
    path.write_text(yaml.safe_dump({"datastores": stores}))
    return path


def _uri(pg_server, datastores: Path, name: str) -> str:
    store = yaml.safe_load(datastores.read_text())["datastores"][name]["connection"]
    return pg_server.uri(store["dbname"])


def _synchub(tmp_path, pg_server, monkeypatch, example: str, source_sql: str):
    """The source database filled by `source_sql`, then `example` imported with its
    datastores pointing at the test server; (project, source uri, dest uri, import exit code)."""
    stores = _datastores(tmp_path, pg_server)
    src, dest = _uri(pg_server, stores, "source_db"), _uri(pg_server, stores, "dest_db")
    _pg(src, source_sql)
    monkeypatch.setenv("SOURCE_DB_PASSWORD", "unused")
    monkeypatch.setenv("DEST_DB_PASSWORD", "unused")
    project = Project(tmp_path, {}, [])
    args = ["synchub", str(EXAMPLES / example), "--datastores", str(stores)]
    return project, src, dest, _import(project, monkeypatch, *args)


def test_synchub_users_sync_imports_with_range_partitions_and_runs(
    tmp_path, pg_server, monkeypatch, capsys
):
    project, src, dest, code = _synchub(
        tmp_path, pg_server, monkeypatch, "users_sync.yaml",
        """CREATE TABLE public.users AS SELECT i::int AS id, 'user ' || i AS name,
           'u' || i || '@example.com' AS email,
           TIMESTAMP '2025-01-01' + i * INTERVAL '1 minute' AS updated_at
           FROM generate_series(1, 25000) i""",
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "password written as ${SOURCE_DB_PASSWORD}" in out and "your_password" not in out
    (obj,) = load_project(project.configs).sync_objects
    assert (obj.sync_type, obj.sync_column, obj.frequency.every, obj.merge_keys) == (
        "merge", "updated_at", "0 * * * *", ["id"],
    )  # fmt: skip
    assert (obj.partition.column, obj.partition.step, obj.partition.end) == ("id", 10000, 1_000_000)

    meta = project.materialize("users_sync", partition_range=("0-9999", "990000-999999"))
    assert meta["sync/rows_inserted"] == 25000
    assert _pg(dest, "SELECT count(*), max(id) FROM public.users_copy") == [(25000, 25000)]
    _pg(src, "UPDATE public.users SET name = 'renamed', updated_at = now() WHERE id IN (5, 15005)")
    meta = project.materialize("users_sync", partition="10000-19999")
    assert (meta["sync/rows_updated"], meta["dagster/partition_row_count"]) == (1, 10000)
    assert _pg(dest, "SELECT id FROM public.users_copy WHERE name = 'renamed'") == [(15005,)]


def test_synchub_multi_strategy_pipeline_imports_and_each_strategy_runs(
    tmp_path, pg_server, monkeypatch, capsys
):
    project, src, dest, code = _synchub(
        tmp_path, pg_server, monkeypatch, "advanced_sync_pipeline.yaml",
        """CREATE TABLE public.customers AS SELECT i AS id, 'customer ' || i AS name
               FROM generate_series(1, 5) i;
           CREATE TABLE public.orders AS SELECT i AS id, 1 + i % 5 AS customer_id,
               TIMESTAMP '2025-01-01' + i * INTERVAL '1 hour' AS order_date,
               (i * 2.5)::numeric(10,2) AS total, CASE WHEN i % 10 = 0 THEN 'void' ELSE 'active' END AS status,
               TIMESTAMP '2025-01-01' + i * INTERVAL '1 hour' AS updated_at
               FROM generate_series(1, 200) i""",
    )  # fmt: skip
    assert code == 0
    _pg(dest, "CREATE SCHEMA analytics")
    out = capsys.readouterr().out
    assert "enrichment (dimension lookups, Python transformations) has no counterpart" in out
    (obj,) = load_project(project.configs).sync_objects
    assert [s.name for s in obj.strategies] == ["delta_sync", "hash_sync", "full_sync"]
    assert obj.partition.column == "order_id" and obj.source.query.startswith("SELECT o.id AS")

    every = ("0-49999", "4950000-4999999")
    first = project.materialize("advanced_sync_pipeline", partition_range=every)
    assert first["sync/strategy"] == "delta_sync" and first["sync/rows_inserted"] == 180
    _pg(src, "UPDATE public.orders SET total = 0, updated_at = now() WHERE id = 7")
    _pg(src, "DELETE FROM public.orders WHERE id = 8")
    delta = project.materialize(
        "advanced_sync_pipeline", partition_range=every, tags={"sync/strategy": "delta_sync"}
    )
    assert (delta["sync/rows_updated"], delta["sync/rows_deleted"]) == (1, 0)
    hashed = project.materialize(
        "advanced_sync_pipeline", partition_range=every, tags={"sync/strategy": "hash_sync"}
    )
    assert hashed["sync/rows_deleted"] == 1  # the delete only the hash strategy sees
    expected = _pg(
        src,
        "SELECT o.id, c.name, o.total FROM public.orders o LEFT JOIN public.customers c "
        "ON o.customer_id = c.id WHERE o.status = 'active' ORDER BY o.id",
    )
    assert (
        _pg(
            dest,
            "SELECT order_id, customer_name, total_amount FROM analytics.orders_enriched ORDER BY 1",
        )
        == expected
    )


# ----------------------------------------------------------------------------- azsql-ct

ORDERS = pa.schema([("order_id", pa.int64()), ("status", pa.string()), (DELETED_FLAG, pa.bool_())])


class _StandInSession(SourceSession):
    """Mock of a SQL Server session with Change Tracking (no SQL Server on these machines):
    answers the version probe and streams the given rows."""

    def __init__(self, current: int, rows: list[tuple]):
        self.current, self.rows = current, rows

    def schema(self, sql):
        return ORDERS.remove(2)

    def fetch_small(self, sql):
        return pa.table({"current_version": [self.current], "min_valid_version": [1]})

    def stream(self, sql, batch_size):
        table = pa.Table.from_pylist(
            [dict(zip(ORDERS.names, r, strict=True)) for r in self.rows], ORDERS
        )
        return pa.RecordBatchReader.from_batches(ORDERS, table.to_batches())


class _StandInSource(Source):
    dialect, kind = "tsql", "tsql"

    def __init__(self, session):
        self._session = session

    def relation(self, spec):
        return f"[{spec.schema_}].[{spec.object}]"

    @contextmanager
    def session(self, spec):
        yield self._session


def test_azsql_ct_pipeline_1_imports_validates_and_writes_parquet(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ADMIN_PASSWORD", "s3cret")
    project = Project(tmp_path, {}, [])
    args = ["azsql-ct", str(EXAMPLES / "pipeline_1.yaml"), "--key", "dbo.orders=order_id"]
    assert _import(project, monkeypatch, *args, "--key", "dbo.audit_log=audit_id") == 0
    out = capsys.readouterr().out
    assert "uc_catalog, dbo.uc_schema are informational" in out and "s3cret" not in out
    loaded = load_project(project.configs)
    objects = {o.object_id: o for o in loaded.sync_objects}
    orders = objects["sales_db_dbo_orders"]
    assert (orders.sync_type, orders.change_mode, orders.soft_delete) == (
        "change_tracking", "full_incremental", True,
    )  # fmt: skip
    assert objects["sales_db_dbo_audit_log"].change_mode == "incremental"
    server = loaded.connections["azsql_sales_db"]
    assert (server.flavor, server.server, server.password) == (
        "azure_sql", "contoso-sql.database.windows.net", "s3cret",
    )  # fmt: skip

    target = make_target(orders, loaded.connections[orders.target.connection], str(tmp_path))
    first = plan_sync(
        orders,
        _StandInSource(_StandInSession(10, [(1, "new", False), (2, "new", False)])),
        SyncState(),
        None,
    )
    target.write(first.reader, first.plan, first.state.to_dict())
    first.close()
    state = SyncState.from_dict(target.read_state())
    changes = _StandInSession(12, [(1, "shipped", False), (2, None, True), (3, "new", False)])
    second = plan_sync(orders, _StandInSource(changes), state, None)
    assert second.notes["sync/change_tracking_decision"] == "changes of versions 11 to 12"
    target.write(second.reader, second.plan, second.state.to_dict())
    second.close()
    rows = {r["order_id"]: r for r in target.read().read_all().to_pylist()}
    assert rows[1]["status"] == "shipped" and rows[3]["status"] == "new"
    assert rows[2]["_is_deleted"] is True  # soft_delete: true in pipeline_1
    assert (tmp_path / "my_pipeline" / "data" / "sales_db" / "dbo" / "orders").is_dir()


def test_azsql_ct_without_a_key_says_which_table_needs_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ADMIN_PASSWORD", "x")
    project = Project(tmp_path, {}, [])
    assert _import(project, monkeypatch, "azsql-ct", str(EXAMPLES / "pipeline_1.yaml")) == 1
    out = capsys.readouterr().out
    assert "give --key dbo.orders=<column> or fill in merge_keys" in out
    assert "object_id 'sales_db_dbo_orders': field 'merge_keys'" in out
