"""Delta tables as Spark engines write them (deletion vectors, column mapping, timestamp_ntz,
CHECK constraints, generated columns), built to the protocol by `spark_delta`: the fixtures
are checked against the protocol's own examples and two readers, then read by every sync
type and written by the Delta target."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pyroaring
import pytest
from deltalake import DeltaTable

from sync_assets.delta_dv import dv_path, z85_decode
from sync_assets.delta_read import KernelScan
from sync_assets.spark_delta import (
    SparkDeltaTable,
    deletion_vector,
    roaring32,
    z85_encode,
)
from sync_assets_tests.harness import Project, assert_same_rows

UTC = dt.UTC
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("customer name", pa.string()),  # a space: Fabric stores such names with column mapping
        ("amount", pa.decimal128(12, 2)),
        ("updated_at", pa.timestamp("us", "UTC")),
        ("local_time", pa.timestamp("us")),  # timestamp_ntz
    ]
)


def rows(first: int, count: int, stamp: dt.datetime | None = None) -> pa.Table:
    ids = range(first, first + count)
    base = stamp or dt.datetime(2025, 1, 1, tzinfo=UTC)
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "customer name": [f"customer {i}" for i in ids],
            "amount": pa.array([f"{i}.25" for i in ids]).cast(pa.decimal128(12, 2)),
            "updated_at": [base + dt.timedelta(hours=i) for i in ids],
            "local_time": [dt.datetime(2025, 1, 1) + dt.timedelta(minutes=i) for i in ids],
        },
        schema=SCHEMA,
    )


def kernel_rows(path) -> pa.Table:
    return KernelScan(DeltaTable(str(path))).reader().read_all()


def spark_table(path, mapping=None, cdf=False, **kw) -> SparkDeltaTable:
    """Two files of 100 rows; rows deleted by an inline DV and by a DV file; an update."""
    table = SparkDeltaTable(path, SCHEMA, column_mapping=mapping, cdf=cdf, **kw)
    table.append(rows(1, 100))
    table.append(rows(101, 100))
    table.delete(lambda r: r["id"] % 7 == 0, storage="i")
    table.delete(lambda r: r["id"] % 11 == 0, storage="u")
    table.update(lambda r: r["id"] % 5 == 0, lambda r: {**r, "customer name": "changed"})
    return table


# ---------------------------------------------------------------------- the fixtures themselves


def test_encodings_match_the_protocol_examples():
    assert z85_encode(bytes.fromhex("864FD26FB559F75B")) == "HelloWorld"  # ZeroMQ RFC 32
    # PROTOCOL.md, "JSON Example 1": prefix "ab" + the Z85 text of the DV file's uuid
    dv_uuid = uuid.UUID("d2c639aa-8816-431a-aaf6-d3fe2512ff61")
    assert "ab" + z85_encode(dv_uuid.bytes) == "ab^-aqEH.-t@S}K{vb[*k^"
    assert uuid.UUID(bytes=z85_decode("^-aqEH.-t@S}K{vb[*k^")) == dv_uuid
    described = {"storageType": "u", "pathOrInlineDv": "ab^-aqEH.-t@S}K{vb[*k^"}
    assert dv_path(described) == f"ab/deletion_vector_{dv_uuid}.bin"
    # the bitmap of the protocol's inline example (rows 3, 4, 7, 11, 18, 29)
    example = z85_decode("wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L")
    assert roaring32([3, 4, 7, 11, 18, 29]) == example[12:40]


@pytest.mark.parametrize("values", [[3, 4, 7], list(range(0, 70_000, 3)), [5, 2**32 + 9]])
def test_deletion_vectors_deserialize_in_pyroaring(values):
    blob = deletion_vector(values)
    assert int.from_bytes(blob[:4], "little") == 1681511377
    assert list(pyroaring.BitMap64.deserialize(blob[4:])) == sorted(values)


@pytest.mark.parametrize("mapping", [None, "name", "id"])
def test_fixture_tables_read_the_same_in_two_readers(tmp_path, mapping):
    import polars as pl

    table = spark_table(tmp_path / "t", mapping)
    expected = table.live_rows()
    assert expected.num_rows == 200 - 28 - 18 + 2  # multiples of 7 and of 11 (77, 154 both)
    got = kernel_rows(tmp_path / "t")
    assert_same_rows(expected, got, "id")
    # a second reader that shares nothing with the kernel: the log replayed here, files read
    # by pyarrow under their physical names, deletion vectors decoded by pyroaring
    assert_same_rows(expected, SparkDeltaTable.open(tmp_path / "t").live_rows(), "id")
    assert got.schema == SCHEMA  # the table's own types, never the kernel's string views
    features = DeltaTable(str(tmp_path / "t")).protocol().reader_features
    assert {"deletionVectors", "timestampNtz"} <= set(features)
    if mapping:  # data files hold physical names and field ids; polars refuses the mapping
        first = next((tmp_path / "t").glob("part-*.parquet"))
        names = pq.read_schema(first).names
        assert all(n.startswith("col-") for n in names)
        assert pq.read_schema(first).field(0).metadata[b"PARQUET:field_id"] == b"1"
    else:  # polars reads the DVs with its own Parquet reader
        assert_same_rows(expected, pl.scan_delta(str(tmp_path / "t")).collect().to_arrow(), "id")


# ---------------------------------------------------------------------- every sync type reads them


def lake_project(tmp_path, target_conn, **obj) -> Project:
    spec = {
        "object_id": "orders_sync",
        "source": {"connection": "lake", "schema": "dbo", "object": "orders"},
        "target": {"connection": "tgt", "object": "orders"},
        **obj,
    }
    lake = {"type": "delta", "root": str(tmp_path / "lake")}
    return Project(tmp_path, {"lake": lake, "tgt": target_conn}, [spec])


def later_changes(table: SparkDeltaTable) -> None:
    """Deletes and updates by DV and an append, all stamped after the first sync."""
    late = dt.datetime(2026, 1, 1, tzinfo=UTC)
    table.delete(lambda r: r["id"] % 13 == 0, storage="i")
    table.update(lambda r: r["id"] % 17 == 0, lambda r: {**r, "updated_at": late, "amount": 1})
    table.append(rows(1000, 20, stamp=late))


@pytest.mark.parametrize("target_kind", ["duckdb", "delta", "postgres"])
@pytest.mark.parametrize("mapping", [None, "name"])
@pytest.mark.parametrize(
    "sync",
    [
        {"sync_type": "full"},
        {"sync_type": "merge", "merge_keys": ["id"]},
        {"sync_type": "hash", "merge_keys": ["id"]},
        {"sync_type": "merge", "merge_keys": ["id"], "sync_column": "updated_at"},
    ],
    ids=["full", "merge", "hash", "merge_watermark"],
)
def test_sync_types_read_the_logical_rows(tmp_path, target_conn, mapping, sync):
    table = spark_table(tmp_path / "lake" / "dbo" / "orders", mapping)
    project = lake_project(tmp_path, target_conn, **sync)
    project.materialize("orders_sync")
    before = table.live_rows()
    assert_same_rows(before, project.target_table("orders_sync"), "id")
    later_changes(table)
    project.materialize("orders_sync")
    expected = table.live_rows()
    if "sync_column" in sync:  # a watermark merge carries no deletes: deleted keys stay
        live = set(expected.column("id").to_pylist())
        kept = [r for r in before.to_pylist() if r["id"] not in live]
        assert len(kept) == 15 - 3  # multiples of 13 but 91, 182 (by 7) and 143 (by 11)
        expected = pa.concat_tables([expected, pa.Table.from_pylist(kept, schema=SCHEMA)])
    assert_same_rows(expected, project.target_table("orders_sync"), "id")


@pytest.mark.parametrize("mapping", [None, "name"])
def test_incremental_reads_only_new_rows(tmp_path, mapping):
    conn = {"type": "duckdb", "path": str(tmp_path / "wh.duckdb")}
    table = spark_table(tmp_path / "lake" / "dbo" / "orders", mapping)
    project = lake_project(tmp_path, conn, sync_type="incremental", sync_column="updated_at")
    project.materialize("orders_sync")
    table.append(rows(1000, 20, stamp=dt.datetime(2026, 1, 1, tzinfo=UTC)))
    meta = project.materialize("orders_sync")
    assert meta["sync/rows_inserted"] == 20
    assert_same_rows(table.live_rows(), project.target_table("orders_sync"), "id")


@pytest.mark.parametrize("mapping", [None, "name"])
def test_partition_windows_read_the_logical_rows(tmp_path, mapping):
    conn = {"type": "duckdb", "path": str(tmp_path / "wh.duckdb")}
    table = spark_table(tmp_path / "lake" / "dbo" / "orders", mapping)
    project = lake_project(
        tmp_path,
        conn,
        sync_type="full",
        partition={"column": "updated_at", "granularity": "daily", "start": "2025-01-01"},
    )
    project.materialize("orders_sync", partition="2025-01-03")
    day = [
        r for r in table.live_rows().to_pylist() if r["updated_at"].date() == dt.date(2025, 1, 3)
    ]
    assert len(day) == 24 - 4 - 2  # ids 49..72; DVs remove 49, 56, 63, 70 and 55, 66
    assert_same_rows(
        pa.Table.from_pylist(day, schema=SCHEMA), project.target_table("orders_sync"), "id"
    )


# ---------------------------------------------------------------------- the change data feed


@pytest.mark.parametrize("target_kind", ["duckdb", "delta"])
@pytest.mark.parametrize("mapping", [None, "name", "id"])
def test_cdf_reads_changes_of_feature_tables(tmp_path, target_conn, mapping):
    table = spark_table(tmp_path / "lake" / "dbo" / "orders", mapping, cdf=True)
    project = lake_project(tmp_path, target_conn, sync_type="cdf", merge_keys=["id"])
    meta = project.materialize("orders_sync")
    assert meta["sync/cdf_decision"].startswith("first sync")
    assert_same_rows(table.live_rows(), project.target_table("orders_sync"), "id")
    later_changes(table)
    meta = project.materialize("orders_sync")
    assert meta["sync/cdf_decision"].startswith("changes of versions"), meta
    # deletes: the 12 live multiples of 13; updates: the live multiples of 17 (not of 13)
    live_before = set(range(1, 201)) - {i for i in range(1, 201) if i % 7 == 0 or i % 11 == 0}
    updated = {i for i in live_before if i % 17 == 0 and i % 13}
    assert (meta["sync/rows_inserted"], meta["sync/rows_updated"], meta["sync/rows_deleted"]) == (
        20,
        len(updated),
        12,
    )
    assert_same_rows(table.live_rows(), project.target_table("orders_sync"), "id")
    # a delete committed without a _change_data file: derived from the remove/add pair
    table.delete(lambda r: r["id"] in (1, 2, 1000), storage="i", write_cdc=False)
    meta = project.materialize("orders_sync")
    assert meta["sync/cdf_decision"].startswith("changes of versions"), meta
    assert meta["sync/rows_deleted"] == 3
    assert_same_rows(table.live_rows(), project.target_table("orders_sync"), "id")


# ---------------------------------------------------------------------- the Delta target


def into_spark_table(tmp_path, mapping=None, **kw) -> tuple[Project, SparkDeltaTable, Path]:
    """A plain Delta source of ids 1..200 (some changed) synced into a Spark-written target
    table that deletion vectors already removed rows from."""
    from deltalake import write_deltalake

    source = rows(1, 200)
    amounts = [f"{i}.25" if i % 3 else "0.50" for i in range(1, 201)]
    source = source.set_column(2, "amount", pa.array(amounts).cast(pa.decimal128(12, 2)))
    write_deltalake(str(tmp_path / "lake" / "dbo" / "orders"), source)
    target_path = tmp_path / "gold" / "dbo" / "orders"
    target = spark_table(target_path, mapping, **kw)
    return source, target, target_path


def gold_project(tmp_path, **obj) -> Project:
    spec = {
        "object_id": "orders_sync",
        "source": {"connection": "lake", "schema": "dbo", "object": "orders"},
        "target": {"connection": "gold", "schema": "dbo", "object": "orders"},
        **obj,
    }
    connections = {
        "lake": {"type": "delta", "root": str(tmp_path / "lake")},
        "gold": {"type": "delta", "root": str(tmp_path / "gold")},
    }
    return Project(tmp_path, connections, [spec])


def protocol(path) -> tuple:
    p = DeltaTable(str(path)).protocol()
    return p.min_reader_version, p.min_writer_version, p.reader_features, p.writer_features


@pytest.mark.parametrize("mapping", [None, "name", "id"])
@pytest.mark.parametrize(
    "sync",
    [
        {"sync_type": "merge", "merge_keys": ["id"]},
        {"sync_type": "hash", "merge_keys": ["id"]},
        {"sync_type": "full"},
        {
            "sync_type": "full",
            "partition": {"column": "updated_at", "granularity": "daily", "start": "2025-01-01"},
        },
    ],
    ids=["merge", "hash", "full", "partition"],
)
def test_target_writes_into_spark_tables_keeping_their_features(tmp_path, mapping, sync):
    source, target, path = into_spark_table(tmp_path, mapping)
    features = protocol(path)
    project = gold_project(tmp_path, **sync)
    day = "2025-01-03" if "partition" in sync else None
    if mapping and sync["sync_type"] == "hash":  # the hash column would be a new column
        with pytest.raises(Exception, match=r"cannot add columns.*\['_sync_hash'\].*nothing"):
            project.materialize("orders_sync")
        assert protocol(path) == features and kernel_rows(path).num_rows == 156
        return
    meta = project.materialize("orders_sync", partition=day)
    got = kernel_rows(path)
    if "partition" in sync:  # the window replaced exactly; the rest is the table as it was
        in_day = lambda r: r["updated_at"].date() == dt.date(2025, 1, 3)  # noqa: E731
        want = [r for r in target.live_rows().to_pylist() if not in_day(r)]
        want += [r for r in source.to_pylist() if in_day(r)]
        expected = pa.Table.from_pylist(want, schema=SCHEMA)
    else:
        expected = source
    assert_same_rows(expected, got, "id")
    assert protocol(path) == features  # no protocol change: features kept
    # counted without the rows DVs removed (the table's or the window's rows)
    if day:
        assert meta["dagster/partition_row_count"] == 24
    else:
        assert meta["dagster/row_count"] == expected.num_rows
    if sync["sync_type"] != "full":  # the keys DVs had removed come back as inserts
        assert meta["sync/rows_inserted"] == 200 - target.live_rows().num_rows
    newest = max(path.rglob("part-*.parquet"), key=lambda f: f.stat().st_mtime)
    names = pq.read_schema(newest).names
    assert all(n.startswith("col-") for n in names) if mapping else "id" in names


def test_target_refuses_writer_features_it_does_not_maintain(tmp_path):
    import json

    source, target, path = into_spark_table(tmp_path)
    log = path / "_delta_log" / "00000000000000000000.json"
    actions = [json.loads(line) for line in log.read_text().splitlines()]
    for action in actions:
        if "protocol" in action:
            action["protocol"]["writerFeatures"].append("rowTracking")
    log.write_text("\n".join(json.dumps(a) for a in actions) + "\n")
    version = DeltaTable(str(path)).version()
    project = gold_project(tmp_path, sync_type="merge", merge_keys=["id"])
    with pytest.raises(Exception, match=r"writer feature\(s\) \['rowTracking'\].*nothing was"):
        project.materialize("orders_sync")
    assert DeltaTable(str(path)).version() == version


@pytest.mark.parametrize(
    "feature, said",
    [
        ("typeWidening", r"reader feature\(s\) \['typeWidening'\]"),  # deltalake loads it
        ("geospatial", "table feature 'geospatial'"),  # the kernel refuses to load it
    ],
)
def test_source_refuses_reader_features_it_cannot_read(tmp_path, feature, said):
    import json

    table = spark_table(tmp_path / "lake" / "dbo" / "orders")
    log = table.path / "_delta_log" / "00000000000000000000.json"
    actions = [json.loads(line) for line in log.read_text().splitlines()]
    for action in actions:
        if "protocol" in action:
            action["protocol"]["readerFeatures"].append(feature)
            action["protocol"]["writerFeatures"].append(feature)
    log.write_text("\n".join(json.dumps(a) for a in actions) + "\n")
    conn = {"type": "duckdb", "path": str(tmp_path / "wh.duckdb")}
    project = lake_project(tmp_path, conn, sync_type="full")
    with pytest.raises(Exception, match=f"dbo/orders requires {said}.*nothing was read"):
        project.materialize("orders_sync")


def test_check_constraint_violations_fail_clearly_and_write_nothing(tmp_path):
    source, target, path = into_spark_table(tmp_path, constraints={"amount_over_one": "amount > 1"})
    version = DeltaTable(str(path)).version()
    project = gold_project(tmp_path, sync_type="merge", merge_keys=["id"])
    with pytest.raises(
        Exception,
        match=r"rows failed validation.*CHECK amount_over_one: amount > 1.*nothing was written",
    ):
        project.materialize("orders_sync")
    assert DeltaTable(str(path)).version() == version


def test_generated_columns_are_computed_for_rows_without_them(tmp_path):
    from deltalake import write_deltalake

    schema = pa.schema([("id", pa.int64()), ("updated_at", pa.timestamp("us", "UTC"))])
    stamps = [dt.datetime(2025, 1, 1, tzinfo=UTC) + dt.timedelta(hours=7 * i) for i in range(50)]
    source = pa.table({"id": pa.array(range(50), pa.int64()), "updated_at": stamps}, schema=schema)
    write_deltalake(str(tmp_path / "lake" / "dbo" / "orders"), source)
    with_day = schema.append(pa.field("order_date", pa.date32()))
    target = SparkDeltaTable(
        tmp_path / "gold" / "dbo" / "orders",
        with_day,
        generated={"order_date": "CAST(updated_at AS DATE)"},
    )
    first = source.slice(0, 5)
    target.append(first.append_column("order_date", pc_dates(first)))
    project = gold_project(tmp_path, sync_type="merge", merge_keys=["id"])
    project.materialize("orders_sync")
    got = kernel_rows(target.path)
    assert_same_rows(source.append_column("order_date", pc_dates(source)), got, "id")


def pc_dates(table: pa.Table) -> pa.Array:
    return pa.array([t.date() for t in table.column("updated_at").to_pylist()], pa.date32())


NO_NTZ = SCHEMA.remove(SCHEMA.get_field_index("local_time"))


@pytest.mark.parametrize(
    "properties, schema, refused",
    [
        ({"delta.enableDeletionVectors": "true"}, NO_NTZ, r"reader feature\(s\) \['variantType'\]"),
        (
            {"delta.enableDeletionVectors": "true", "delta.columnMapping.mode": "name"},
            NO_NTZ,
            r"reader feature\(s\) \['variantType'\]",
        ),
        # delta-rs leaves columnMapping out of a reader-3 protocol (a timestamp_ntz column)
        ({"delta.columnMapping.mode": "name"}, SCHEMA, "column mapping set but missing"),
        ({"delta.columnMapping.mode": "name"}, NO_NTZ, None),
        ({"delta.enableChangeDataFeed": "true"}, SCHEMA, None),
    ],
)
def test_created_tables_are_readable_by_spark(tmp_path, properties, schema, refused):
    from deltalake import write_deltalake

    source = rows(1, 50).select(schema.names)
    write_deltalake(str(tmp_path / "lake" / "dbo" / "orders"), source)
    project = gold_project(tmp_path, sync_type="full")
    gold = dict(project.connections["gold"], table_properties=properties)
    project.write(dict(project.connections, gold=gold), project.objects)
    path = tmp_path / "gold" / "dbo" / "orders"
    if refused:
        with pytest.raises(Exception, match=refused + ".*nothing was written"):
            project.materialize("orders_sync")
        assert not (path / "_delta_log").exists()
        return
    project.materialize("orders_sync")
    features = DeltaTable(str(path)).protocol().reader_features or []
    assert set(features) <= {"columnMapping", "deletionVectors", "timestampNtz"}
    assert_same_rows(source, kernel_rows(path), "id")
    # and our own source reads what the target wrote
    conn = {"type": "duckdb", "path": str(tmp_path / "wh.duckdb")}
    onward = Project(
        tmp_path / "onward",
        {"lake": {"type": "delta", "root": str(tmp_path / "gold")}, "tgt": conn},
        [
            {
                "object_id": "o",
                "source": {"connection": "lake", "schema": "dbo", "object": "orders"},
                "target": {"connection": "tgt", "object": "orders"},
                "sync_type": "full",
            }
        ],
    )
    onward.materialize("o")
    assert_same_rows(source, onward.target_table("o"), "id")


# ---------------------------------------------------------------------- on OneLake (Azurite)


@pytest.mark.parametrize("mapping", [None, "name"])
@pytest.mark.parametrize(
    "sync",
    [
        {"sync_type": "merge", "merge_keys": ["id"]},
        {"sync_type": "cdf", "merge_keys": ["id"]},
    ],
    ids=["merge", "cdf"],
)
def test_onelake_spark_tables_read_by_merge_and_cdf(tmp_path, azurite, mapping, sync):
    """The same tables in a Fabric lakehouse: built locally, uploaded to Azurite's `onelake`
    account under <lakehouse>.Lakehouse/Tables/dbo/orders, read through abfss:// URLs."""
    from sync_assets_tests.conftest import onelake_connection

    local = tmp_path / "built" / "orders"
    table = spark_table(local, mapping, cdf=True)
    lake = onelake_connection(azurite)
    prefix = f"{lake['lakehouse']}.Lakehouse/Tables/dbo/orders"
    azurite.upload("onelake", lake["workspace"], prefix, local)
    spec = {
        "object_id": "orders_sync",
        "source": {"connection": "lake", "schema": "dbo", "object": "orders"},
        "target": {"connection": "tgt", "object": "orders"},
        **sync,
    }
    conn = {"type": "duckdb", "path": str(tmp_path / "wh.duckdb")}
    project = Project(tmp_path, {"lake": lake, "tgt": conn}, [spec])
    project.materialize("orders_sync")
    assert_same_rows(table.live_rows(), project.target_table("orders_sync"), "id")
    later_changes(table)
    azurite.upload("onelake", lake["workspace"], prefix, local)
    meta = project.materialize("orders_sync")
    if sync["sync_type"] == "cdf":
        assert meta["sync/cdf_decision"].startswith("changes of versions"), meta
    assert meta["sync/rows_deleted"] == 12
    assert_same_rows(table.live_rows(), project.target_table("orders_sync"), "id")


# ---------------------------------------------------------------------- kill -9


def _before_or_after(before: pa.Table, after: pa.Table, current: pa.Table) -> None:
    try:
        assert_same_rows(before, current, "id")
    except AssertionError:
        assert_same_rows(after, current, "id")


@pytest.mark.parametrize(
    "target_kind, point",
    [
        ("delta", "mid_stream"),
        ("delta", "committed"),
        ("postgres", "before_commit"),
        ("duckdb", "staged"),
    ],
)
def test_cdf_from_a_column_mapped_table_survives_kill(tmp_path, target_conn, point):
    from sync_assets_tests.test_crash import killed_sync

    table = spark_table(tmp_path / "lake" / "dbo" / "orders", "name", cdf=True)
    project = lake_project(tmp_path, target_conn, sync_type="cdf", merge_keys=["id"], batch_size=16)
    project.materialize("orders_sync")
    before = project.target_table("orders_sync")
    later_changes(table)
    killed_sync(project, "orders_sync", point)
    _before_or_after(before, table.live_rows(), project.target_table("orders_sync"))
    project.materialize("orders_sync")
    assert_same_rows(table.live_rows(), project.target_table("orders_sync"), "id")


@pytest.mark.parametrize("mapping", [None, "name"])
@pytest.mark.parametrize("point", ["mid_stream", "committed"])
def test_merge_into_a_spark_table_survives_kill(tmp_path, mapping, point):
    from sync_assets_tests.test_crash import killed_sync

    source, target, path = into_spark_table(tmp_path, mapping)
    project = gold_project(tmp_path, sync_type="merge", merge_keys=["id"], batch_size=16)
    before = kernel_rows(path)
    features = protocol(path)
    killed_sync(project, "orders_sync", point)
    _before_or_after(before, source, kernel_rows(path))
    project.materialize("orders_sync")
    assert_same_rows(source, kernel_rows(path), "id")
    assert protocol(path) == features


# ---------------------------------------------------------------------- projection for the kernel


@pytest.mark.parametrize(
    "sql, wanted",
    [
        ('SELECT "updated_at" FROM __source', ["updated_at"]),
        # the probe's shape: a star the outer query does not use reads nothing
        (
            'SELECT count(*), max(q.w) FROM (SELECT "updated_at" AS w, * FROM __source) q',
            ["updated_at"],
        ),
        ("SELECT count(*) FROM __source", ["id"]),
        ('SELECT "ID", md5("customer name") FROM __source', ["id", "customer name"]),
        ("SELECT * FROM __source WHERE updated_at > now()", None),
        (
            "SELECT * EXCLUDE (amount) FROM __source",
            ["id", "customer name", "updated_at", "local_time"],
        ),
        ("SELECT FROM WHERE", None),  # not parsable: every column
    ],
)
def test_kernel_scans_read_only_the_columns_a_query_names(sql, wanted):
    from sync_assets.delta_read import query_columns

    got = query_columns(sql, SCHEMA.names)
    if wanted is None:  # every column: listed, or None for "all"
        assert got in (None, SCHEMA.names)
    else:
        assert got == wanted


# ---------------------------------------------------------------------- more of the target


@pytest.mark.parametrize("mapping", [None, "name"])
def test_maintenance_on_spark_tables(tmp_path, mapping):
    """Compaction applies the deletion vectors it rewrites; vacuum keeps the DV files still
    referenced; column-mapped tables are not compacted (delta-rs cannot), and say so."""
    source, target, path = into_spark_table(tmp_path, mapping)
    project = gold_project(tmp_path, sync_type="merge", merge_keys=["id"])
    rules = {"optimize": True, "vacuum_retention_hours": 0}
    gold = dict(project.connections["gold"], maintenance=rules)
    project.write(dict(project.connections, gold=gold), project.objects)
    meta = project.materialize("orders_sync")
    assert "sync/delta_maintenance_error" not in meta
    if mapping:
        assert meta["sync/delta_optimize"].startswith("skipped: delta-rs cannot OPTIMIZE")
    else:
        assert "files ->" in meta["sync/delta_optimize"]
    assert_same_rows(source, kernel_rows(path), "id")


def test_dry_run_into_a_spark_table_counts_and_writes_nothing(tmp_path):
    from sync_assets_tests.test_dry_run import _dry

    source, target, path = into_spark_table(tmp_path, "name")
    version = DeltaTable(str(path)).version()
    project = gold_project(tmp_path, sync_type="merge", merge_keys=["id"])
    meta = _dry(project, "orders_sync")
    live = set(target.live_rows().column("id").to_pylist())
    # the source's amount differs on multiples of 3, the UPDATE's names on multiples of 5
    changed = {i for i in live if i % 3 == 0 or i % 5 == 0}
    assert meta["sync/dry_run"] is True
    assert meta["sync/rows_inserted"] == 200 - len(live)
    assert meta["sync/rows_updated"] == len(changed)
    assert DeltaTable(str(path)).version() == version


@pytest.mark.parametrize("point", ["mid_stream", "committed"])
def test_partition_replace_into_a_spark_table_survives_kill(tmp_path, point):
    from sync_assets_tests.test_crash import killed_sync

    source, target, path = into_spark_table(tmp_path, "name")
    window = {"column": "updated_at", "granularity": "daily", "start": "2025-01-01"}
    project = gold_project(tmp_path, sync_type="full", partition=window, batch_size=4)
    before = kernel_rows(path)
    in_day = lambda r: r["updated_at"].date() == dt.date(2025, 1, 3)  # noqa: E731
    want = [r for r in target.live_rows().to_pylist() if not in_day(r)]
    after = pa.Table.from_pylist(want + [r for r in source.to_pylist() if in_day(r)], schema=SCHEMA)
    killed_sync(project, "orders_sync", point, partition="2025-01-03")
    _before_or_after(before, after, kernel_rows(path))
    project.materialize("orders_sync", partition="2025-01-03")
    assert_same_rows(after, kernel_rows(path), "id")


@pytest.mark.parametrize("mapping", [None, "id"])
def test_append_only_appends_the_new_logical_rows(tmp_path, mapping):
    conn = {"type": "duckdb", "path": str(tmp_path / "wh.duckdb")}
    table = spark_table(
        tmp_path / "lake" / "dbo" / "orders",
        mapping,
        constraints={"amount_positive": "amount > 0"},
        generated={"local_time": "CAST(updated_at AS TIMESTAMP_NTZ)"},
    )
    project = lake_project(tmp_path, conn, sync_type="append_only", sync_column="id")
    project.materialize("orders_sync")
    before = table.live_rows()
    later_changes(table)
    meta = project.materialize("orders_sync")
    assert meta["sync/rows_inserted"] == 20
    new = rows(1000, 20, stamp=dt.datetime(2026, 1, 1, tzinfo=UTC))
    assert_same_rows(pa.concat_tables([before, new]), project.target_table("orders_sync"), "id")


# ---------------------------------------------------------------------- partitioned Spark tables

P_SCHEMA = SCHEMA.append(pa.field("day", pa.date32()))


def day_rows(first: int, count: int, stamp: dt.datetime | None = None) -> pa.Table:
    base = rows(first, count, stamp)
    days = pa.array([t.date() for t in base.column("updated_at").to_pylist()], pa.date32())
    return base.append_column("day", days)


@pytest.mark.parametrize("mapping", [None, "name", "id"])
@pytest.mark.parametrize("sync_type", ["full", "cdf"])
def test_partitioned_spark_tables(tmp_path, mapping, sync_type):
    """Partition values live in the log (keyed by physical name), not in the files."""
    path = tmp_path / "lake" / "dbo" / "orders"
    table = SparkDeltaTable(path, P_SCHEMA, column_mapping=mapping, cdf=True, partition_by="day")
    table.append(day_rows(1, 100))
    table.delete(lambda r: r["id"] % 7 == 0, storage="i")
    assert (
        len(
            {
                a["add"]["partitionValues"][table.physical["day"]]
                for a in [e for e in table.files.values()]
            }
        )
        == 5
    )  # 100 hours: 5 days
    conn = {"type": "duckdb", "path": str(tmp_path / "wh.duckdb")}
    project = lake_project(tmp_path, conn, sync_type=sync_type, merge_keys=["id"])
    project.materialize("orders_sync")
    assert_same_rows(table.live_rows(), project.target_table("orders_sync"), "id")
    table.update(lambda r: r["id"] % 9 == 0, lambda r: {**r, "customer name": "moved"})
    table.delete(lambda r: r["id"] % 10 == 0, storage="u")
    table.append(day_rows(500, 30, stamp=dt.datetime(2026, 1, 1, tzinfo=UTC)))
    meta = project.materialize("orders_sync")
    if sync_type == "cdf":
        assert meta["sync/cdf_decision"].startswith("changes of versions"), meta
    assert_same_rows(table.live_rows(), project.target_table("orders_sync"), "id")
    assert_same_rows(table.live_rows(), kernel_rows(path), "id")


def test_legacy_column_mapping_protocol(tmp_path):
    """Column mapping on reader version 2 / writer version 5 (no table features), as older
    Fabric and Databricks runtimes wrote it: read, carried by cdf, and written into."""
    legacy = NO_NTZ
    path = tmp_path / "lake" / "dbo" / "orders"
    table = SparkDeltaTable(
        path, legacy, column_mapping="name", cdf=True, deletion_vectors=False, legacy=True
    )
    table.append(rows(1, 50).select(legacy.names))
    assert protocol(path)[:2] == (2, 5)
    conn = {"type": "duckdb", "path": str(tmp_path / "wh.duckdb")}
    project = lake_project(tmp_path, conn, sync_type="cdf", merge_keys=["id"])
    project.materialize("orders_sync")
    table.append(rows(100, 5).select(legacy.names))
    meta = project.materialize("orders_sync")
    assert meta["sync/cdf_decision"].startswith("changes of versions")
    assert meta["sync/rows_inserted"] == 5
    assert_same_rows(table.live_rows(), project.target_table("orders_sync"), "id")
    # and as a target: a merge keeps the legacy protocol and the physical names
    from deltalake import write_deltalake

    write_deltalake(str(tmp_path / "src" / "dbo" / "orders"), rows(1, 80).select(legacy.names))
    into = Project(
        tmp_path / "into",
        {
            "src": {"type": "delta", "root": str(tmp_path / "src")},
            "lake": {"type": "delta", "root": str(tmp_path / "lake")},
        },
        [
            {
                "object_id": "o",
                "source": {"connection": "src", "schema": "dbo", "object": "orders"},
                "target": {"connection": "lake", "schema": "dbo", "object": "orders"},
                "sync_type": "merge",
                "merge_keys": ["id"],
            }
        ],
    )
    into.materialize("o")
    assert protocol(path)[:2] == (2, 5)
    assert_same_rows(rows(1, 80).select(legacy.names), kernel_rows(path), "id")
