"""Change Tracking: the fallback decision, the CHANGETABLE reads, and change streams applied
to real targets.

There is no SQL Server here, so the source side is split:
- `decide` and the SQL texts are pure and tested directly (CHANGETABLE does not parse in
  sqlglot, so its text is compared with golden text);
- the planner runs against a stand-in source session (a mock: it returns the versions a
  SQL Server would, and records the SQL it is asked to run) — the only mock in this file;
- the change stream the planner produces (rows + `__sync_deleted`) is applied for real to
  DuckDB, PostgreSQL (ADBC) and PostgreSQL through the ODBC writer.
"""

from __future__ import annotations

from contextlib import contextmanager

import pyarrow as pa
import pytest

from sync_assets.columns import DELETED_FLAG
from sync_assets.config.models import SyncObject
from sync_assets.sources.base import Source, SourceSession
from sync_assets.state import WHOLE, SyncState
from sync_assets.strategies import change_tracking as ct
from sync_assets.strategies import plan_sync
from sync_assets.strategies.change_feed import read_sql
from sync_assets.targets.base import WritePlan
from sync_assets_tests.harness import Project

# ----------------------------------------------------------------------------- decisions


def test_decide_full_modes_and_fallbacks():
    assert ct.decide("full", 10, 12, 1, "[dbo].[t]").action == "full"
    first = ct.decide("full_incremental", None, 12, 1, "[dbo].[t]")
    assert first.action == "full" and "first sync" in first.reason
    stale = ct.decide("full_incremental", 3, 12, 5, "[dbo].[t]")
    assert (
        stale.action == "full" and "older than CHANGE_TRACKING_MIN_VALID_VERSION 5" in stale.reason
    )
    assert ct.decide("incremental", 3, 12, 5, "[dbo].[t]").action == "full"  # cleaned up: fall back
    assert ct.decide("incremental", 12, 12, 5, "[dbo].[t]").action == "skip"
    assert ct.decide("full_incremental", 7, 12, 5, "[dbo].[t]").action == "changes"


def test_decide_errors_name_the_table():
    with pytest.raises(
        ct.ChangeTrackingError, match=r"no Change Tracking version is stored for \[dbo\]\.\[t\]"
    ):
        ct.decide("incremental", None, 12, 1, "[dbo].[t]")
    with pytest.raises(ct.ChangeTrackingError, match=r"not enabled on \[dbo\]\.\[t\]"):
        ct.decide("full_incremental", 3, 12, None, "[dbo].[t]")


# ----------------------------------------------------------------------------- SQL text


def test_changetable_read_text():
    relation = ct.changes_relation(
        "[sales].[orders]", ["id", "line", "amount", "note"], ["id", "line"], 42
    )
    assert relation == (
        "(SELECT ct.[id] AS [id], ct.[line] AS [line], t.[amount] AS [amount], t.[note] AS [note], "
        "CASE WHEN ct.[SYS_CHANGE_OPERATION] = N'D' THEN CAST(1 AS BIT) ELSE CAST(0 AS BIT) END AS [__sync_deleted] "
        "FROM CHANGETABLE(CHANGES [sales].[orders], 42) AS ct "
        "LEFT JOIN [sales].[orders] AS t ON t.[id] = ct.[id] AND t.[line] = ct.[line]) AS src"
    )
    assert ct.versions_sql("[sales].[orders]") == (
        "SELECT CHANGE_TRACKING_CURRENT_VERSION() AS current_version, "
        "CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(N'[sales].[orders]')) AS min_valid_version"
    )


def _obj(**fields) -> SyncObject:
    spec = {
        "object_id": "orders",
        "source": {"connection": "mssql", "schema": "sales", "object": "orders"},
        "target": {"connection": "tgt", "object": "orders"},
        "sync_type": "change_tracking",
        "merge_keys": ["id"],
        **fields,
    }
    return SyncObject.model_validate(spec)


def test_filter_lets_deletes_through_and_mappings_keep_the_flag():
    obj = _obj(
        filter_condition="status <> 'x'", column_mappings={"id": "id", "UPPER(status)": "status"}
    )
    sql = read_sql(obj, "(…) AS src", "tsql")
    assert sql == (
        'SELECT id AS "id", UPPER(status) AS "status", "__sync_deleted" FROM (…) AS src '
        """WHERE ("__sync_deleted" = 1 OR (status <> 'x'))"""
    )


# ----------------------------------------------------------------------------- planner


class _StandInSession(SourceSession):
    """Mock of a SQL Server read session: answers the version probe with fixed numbers and
    records every statement. No SQL Server runs on these machines."""

    def __init__(self, current, min_valid):
        self.current, self.min_valid, self.seen = current, min_valid, []

    def schema(self, sql):
        self.seen.append(sql)
        return pa.schema([("id", pa.int64()), ("status", pa.string())])

    def fetch_small(self, sql):
        self.seen.append(sql)
        return pa.table({"current_version": [self.current], "min_valid_version": [self.min_valid]})

    def stream(self, sql, batch_size):
        self.seen.append(sql)
        return pa.RecordBatchReader.from_batches(pa.schema([("id", pa.int64())]), [])


class _StandInSource(Source):
    dialect, kind = "tsql", "tsql"

    def __init__(self, session):
        self._session = session

    def relation(self, spec):
        return '"sales"."orders"'

    @contextmanager
    def session(self, spec):
        yield self._session


def _plan(obj, state, current=20, min_valid=5):
    session = _StandInSession(current, min_valid)
    batch = plan_sync(obj, _StandInSource(session), state, None)
    batch.close()
    return batch, session


def test_planner_first_run_is_a_full_load_with_the_version():
    batch, session = _plan(_obj(soft_delete=True), SyncState())
    assert batch.plan == WritePlan("replace", soft_delete=True)
    assert batch.full_resync and batch.state.watermarks == {WHOLE: 20}
    assert (
        batch.notes["sync/change_tracking_decision"]
        == "first sync: no Change Tracking version stored yet"
    )
    assert (
        session.seen[-1]
        == "SELECT * FROM (SELECT t.*, CAST(0 AS BIT) AS [__sync_deleted] FROM [sales].[orders] AS t) AS src"
    )


def test_planner_reads_changes_since_the_stored_version():
    batch, session = _plan(_obj(), SyncState({WHOLE: 7}))
    assert batch.plan == WritePlan("merge", ("id",), deletes=True)
    assert batch.state.watermarks == {WHOLE: 20} and not batch.full_resync
    assert "FROM CHANGETABLE(CHANGES [sales].[orders], 7) AS ct" in session.seen[-1]


def test_planner_stale_version_falls_back_and_says_so():
    batch, _ = _plan(_obj(), SyncState({WHOLE: 3}), min_valid=5)
    assert batch.plan.mode == "replace"
    assert (
        "older than CHANGE_TRACKING_MIN_VALID_VERSION 5"
        in batch.notes["sync/change_tracking_decision"]
    )


def test_planner_skips_when_nothing_changed():
    batch, session = _plan(_obj(), SyncState({WHOLE: 20}))
    assert (
        batch.reader is None and batch.skip_reason == "no changes since Change Tracking version 20"
    )
    assert len(session.seen) == 1  # only the version probe


# ----------------------------------------------------------------------------- applying streams

CHANGE_TARGETS = ["duckdb", "postgres", "odbc", "delta", "parquet"]
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("name", pa.string()),
        ("amount", pa.decimal128(12, 2)),
        (DELETED_FLAG, pa.bool_()),
    ]
)


def _stream(rows):
    table = pa.Table.from_pylist([dict(zip(SCHEMA.names, r, strict=True)) for r in rows], SCHEMA)
    return pa.RecordBatchReader.from_batches(SCHEMA, table.to_batches(max_chunksize=2))


def _target(tmp_path, target_conn):
    spec = {
        "object_id": "orders",
        "source": {"connection": "src", "object": "orders"},
        "target": {"connection": "tgt", "object": "orders"},
        "sync_type": "full",
    }
    project = Project(
        tmp_path,
        {"src": {"type": "duckdb", "path": str(tmp_path / "s.duckdb")}, "tgt": target_conn},
        [spec],
    )
    return project.target("orders")


def _dicts(target) -> list[dict]:
    return target.read().read_all().to_pylist()


def _rows(target):
    table = target.read().read_all()
    return sorted(tuple(r.values()) for r in table.to_pylist())


INITIAL = [(1, "a", 1, False), (2, "b", 2, False), (3, "c", 3, False)]
CHANGES = [(2, "b2", 20, False), (3, None, None, True), (4, "d", 4, False), (99, None, None, True)]


@pytest.mark.parametrize("target_kind", CHANGE_TARGETS)
def test_change_stream_hard_deletes(tmp_path, target_conn):
    target = _target(tmp_path, target_conn)
    target.write(_stream(INITIAL), WritePlan("replace"), {"watermarks": {WHOLE: 5}})
    result = target.write(
        _stream(CHANGES), WritePlan("merge", ("id",), deletes=True), {"watermarks": {WHOLE: 9}}
    )
    assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (1, 1, 1)
    assert [r[:2] for r in _rows(target)] == [(1, "a"), (2, "b2"), (4, "d")]
    assert target.read_state() == {"watermarks": {WHOLE: 9}}
    again = target.write(
        _stream(CHANGES), WritePlan("merge", ("id",), deletes=True), {"watermarks": {WHOLE: 9}}
    )
    assert (again.rows_inserted, again.rows_updated, again.rows_deleted) == (0, 0, 0)
    assert "__sync_deleted" not in target.read().schema.names


@pytest.mark.parametrize("target_kind", CHANGE_TARGETS)
def test_change_stream_soft_deletes_keep_the_last_values(tmp_path, target_conn):
    target = _target(tmp_path, target_conn)
    target.write(_stream(INITIAL), WritePlan("replace", soft_delete=True), {})
    result = target.write(
        _stream(CHANGES), WritePlan("merge", ("id",), deletes=True, soft_delete=True), {}
    )
    assert (result.rows_inserted, result.rows_updated, result.rows_deleted) == (1, 1, 1)
    rows = {
        r["id"]: (r["name"], r["_is_deleted"], r["_deleted_at"] is not None) for r in _dicts(target)
    }
    assert rows == {
        1: ("a", False, False),
        2: ("b2", False, False),
        3: ("c", True, True),
        4: ("d", False, False),
    }
    stamp = {r["id"]: r["_deleted_at"] for r in _dicts(target)}[3]
    # deleted again: the row keeps its first stamp
    target.write(
        _stream([(3, None, None, True)]),
        WritePlan("merge", ("id",), deletes=True, soft_delete=True),
        {},
    )
    assert {r["id"]: r["_deleted_at"] for r in _dicts(target)}[3] == stamp
    # a key deleted and then inserted again is live again
    back = target.write(
        _stream([(3, "c again", 3, False)]),
        WritePlan("merge", ("id",), deletes=True, soft_delete=True),
        {},
    )
    assert back.rows_updated == 1
    back_row = {r["id"]: r for r in _dicts(target)}[3]
    assert (back_row["name"], back_row["_is_deleted"], back_row["_deleted_at"]) == (
        "c again",
        False,
        None,
    )


@pytest.mark.parametrize("target_kind", ["odbc"])
def test_declared_text_lengths_are_kept(tmp_path, target_conn):
    """A text column whose source declares a length (T-SQL sources record it from
    sp_describe_first_result_set) gets a sized column, as the source documents' type table asks."""
    import psycopg

    from sync_assets.sources.odbc import system_type
    from sync_assets.tsql.types import MAX_LENGTH

    assert system_type("nvarchar(12)") == ("nvarchar", None, 12) and system_type(
        "nvarchar(max)"
    ) == ("nvarchar", None, None)
    schema = pa.schema(
        [
            pa.field("id", pa.int64()),
            pa.field("code", pa.string(), metadata={MAX_LENGTH: "12"}),
            pa.field("label", pa.string()),
        ]
    )
    reader = pa.RecordBatchReader.from_batches(
        schema, [pa.record_batch([[1], ["abc"], ["x"]], schema=schema)]
    )
    _target(tmp_path, target_conn).write(reader, WritePlan("replace"), {})
    c = target_conn
    with psycopg.connect(
        host=c["server"], port=c["port"], dbname=c["database"], user=c["user"]
    ) as con:
        lengths = dict(
            con.execute(
                "SELECT column_name, character_maximum_length FROM information_schema.columns "
                "WHERE table_name = 'orders'"
            ).fetchall()
        )
    assert lengths == {"id": None, "code": 12, "label": None}
