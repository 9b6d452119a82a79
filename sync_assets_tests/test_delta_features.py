"""Delta tables as Spark engines write them (deletion vectors, column mapping, timestamp_ntz,
CHECK constraints, generated columns), built to the protocol by `spark_delta`: the fixtures
are checked against the protocol's own examples and two readers, then read by every sync
type and written by the Delta target."""

from __future__ import annotations

import datetime as dt
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pyroaring
import pytest
from deltalake import DeltaTable

from sync_assets.delta_dv import dv_path, z85_decode
from sync_assets.delta_read import KernelScan
from sync_assets_tests.harness import Project, assert_same_rows
from sync_assets_tests.spark_delta import (
    SparkDeltaTable,
    deletion_vector,
    roaring32,
    z85_encode,
)

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
    assert_same_rows(expected, kernel_rows(tmp_path / "t"), "id")
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
