"""Run history replicated to SQL (seed 003's `sync_to`): Dagster's own records of sync runs,
as tables of a target connection that a SQL user or Power BI can query.

    object_runs  one row per sync of an object (and its partitions) in a run: counts,
                 watermark, duration, status, error (a materialization or a step failure)
    runs         one row per run: job, trigger, status, start, end, duration, error
    failures     one row per failure event: the step, the error type and its message

Incremental by the event log's storage id: each table's cursor (the highest storage id it
has seen) is committed with its rows in the target's own atomic state commit, and rows are
upserted on their key, so a rerun (or a replication that died half way) repeats nothing.
`mode: full` replaces the tables with everything of the last `sync_last_days` days. Error
messages are redacted of every connection secret.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import dagster as dg
import pyarrow as pa
from dagster._core.event_api import RunStatusChangeRecordsFilter
from dagster._core.events import DagsterEventType
from dagster._core.storage.dagster_run import RunsFilter

from sync_assets.config.models import ProjectConfig, RunHistorySpec
from sync_assets.connection_types import _load, record
from sync_assets.secrets import connection_secrets, redact
from sync_assets.specs import asset_key
from sync_assets.state import WHOLE
from sync_assets.targets.base import Target, WritePlan

PAGE = 1000
RUN_STATUS_EVENTS = (
    DagsterEventType.RUN_START,
    DagsterEventType.RUN_SUCCESS,
    DagsterEventType.RUN_FAILURE,
    DagsterEventType.RUN_CANCELED,
)
TS = pa.timestamp("us", tz="UTC")

SCHEMAS = {
    "object_runs": pa.schema(
        [
            ("event_id", pa.int64()),
            ("run_id", pa.string()),
            ("object_id", pa.string()),
            ("asset_key", pa.string()),
            ("partition", pa.string()),
            ("status", pa.string()),
            ("started_at", TS),
            ("ended_at", TS),
            ("duration_s", pa.float64()),
            ("rows_read", pa.int64()),
            ("rows_inserted", pa.int64()),
            ("rows_updated", pa.int64()),
            ("rows_deleted", pa.int64()),
            ("watermark", pa.string()),
            ("error_message", pa.string()),
        ]
    ),
    "runs": pa.schema(
        [
            ("run_id", pa.string()),
            ("job_name", pa.string()),
            ("trigger", pa.string()),
            ("status", pa.string()),
            ("partition", pa.string()),
            ("started_at", TS),
            ("ended_at", TS),
            ("duration_s", pa.float64()),
            ("error_message", pa.string()),
        ]
    ),
    "failures": pa.schema(
        [
            ("event_id", pa.int64()),
            ("run_id", pa.string()),
            ("object_id", pa.string()),
            ("step_key", pa.string()),
            ("failed_at", TS),
            ("error_type", pa.string()),
            ("error_message", pa.string()),
        ]
    ),
}
# with the run id: a step failure's storage id counts per run in a sharded (default SQLite)
# event log
KEYS = {
    "object_runs": ("run_id", "event_id"),
    "runs": ("run_id",),
    "failures": ("run_id", "event_id"),
}


@dataclass
class Replicated:
    """What one replication did to one table."""

    table: str
    rows: int
    cursor: int | None


def history_target(project: ProjectConfig, base_dir: str, table: str) -> Target:
    """The target of one history table (`<schema>.<table>` on the history connection)."""
    spec = project.run_history
    conn = project.connections[spec.connection]
    cls = _load(record(conn).target)
    return cls(conn, base_dir, f"_run_history_{table}", spec.schema_, table)


def stored_cursor(target: Target) -> int | None:
    """The highest storage id the table holds rows up to (None: never replicated)."""
    if target.arrow_schema() is None:
        return None
    return target.read_state().get("watermarks", {}).get(WHOLE)


def replicate(
    instance: dg.DagsterInstance,
    project: ProjectConfig,
    base_dir: str,
    mode: str | None = None,
    tables: list[str] | None = None,
) -> list[Replicated]:
    """Replicate the history tables (the config's, or `tables`) from `instance`."""
    spec = project.run_history
    mode = mode or spec.mode
    reader = _Records(instance, project, spec)
    done = []
    for table in tables or spec.tables:
        target = history_target(project, base_dir, table)
        with target.writer_lock():
            since = None if mode == "full" else stored_cursor(target)
            rows, hi = reader.rows(table, since)
            cursor = hi if hi is not None else since
            if cursor == since and since is not None:
                done.append(Replicated(table, 0, since))  # no event since the last time
                continue
            batch = pa.Table.from_pylist(rows, schema=SCHEMAS[table])
            if mode == "full":
                plan = WritePlan("replace")
            elif rows:
                plan = WritePlan("merge", merge_keys=KEYS[table])
            else:  # nothing for this table: only its cursor moves (the table is created)
                plan = WritePlan("append", state_only=True)
            target.write(batch.to_reader(), plan, {"watermarks": {WHOLE: cursor}})
            done.append(Replicated(table, len(rows), cursor))
    return done


class _Records:
    """Rows of the history tables from the instance's event log and run storage."""

    def __init__(self, instance: dg.DagsterInstance, project: ProjectConfig, spec: RunHistorySpec):
        self.instance = instance
        self.objects = {asset_key(o, project): o.object_id for o in project.sync_objects}
        self.by_op = {o.object_id for o in project.sync_objects}
        self.keys_by_object = {v: k.to_user_string() for k, v in self.objects.items()}
        self.secrets = sorted(
            {s for c in project.connections.values() for s in connection_secrets(c)},
            key=len,
            reverse=True,
        )
        days = spec.sync_last_days
        now = dt.datetime.now(dt.UTC)
        self.since_ts = (now - dt.timedelta(days=days)).timestamp() if days else None
        # the newest event when this replication began: every table reads up to it
        self.hi = instance.event_log_storage.get_maximum_record_id()
        self._runs: dict[str, object] = {}

    def rows(self, table: str, after: int | None) -> tuple[list[dict], int | None]:
        """The table's rows from events after storage id `after`, and the cursor they reach.
        Only events of the event log's index are read by storage id (materializations and
        run status changes), which every Dagster storage keeps in one sequence (a default
        SQLite instance shards the other events per run: a failed run's step failures are
        read from its own events)."""
        if table == "object_runs":
            rows = self._object_runs(after) + [
                self._failed_object_run(step)
                for r in self._status_changes(DagsterEventType.RUN_FAILURE, after)
                for step in self._step_failures(r.event_log_entry.run_id)
                if self._object_of(step) in self.by_op
            ]
        elif table == "failures":
            rows = [
                row
                for r in self._status_changes(DagsterEventType.RUN_FAILURE, after)
                for row in self._failure_rows(r)
            ]
        else:
            run_ids = {
                r.event_log_entry.run_id
                for event_type in RUN_STATUS_EVENTS
                for r in self._status_changes(event_type, after)
            }
            rows = [self._run_row(self._run(run_id)) for run_id in sorted(run_ids)]
            rows = [r for r in rows if r is not None]
        return rows, self.hi

    # ------------------------------------------------------------------ events

    def _asset_events(self, fetch, key: dg.AssetKey, after: int | None):
        """`fetch` (materializations or failed ones) of one asset after `after`, up to hi."""
        records_filter = dg.AssetRecordsFilter(
            asset_key=key,
            after_storage_id=after,
            before_storage_id=self.hi + 1 if self.hi is not None else None,
            after_timestamp=self.since_ts,
        )
        return self._pages(lambda cursor: fetch(records_filter, PAGE, cursor, True))

    def _status_changes(self, event_type, after: int | None):
        records_filter = RunStatusChangeRecordsFilter(
            event_type=event_type,
            after_storage_id=after,
            before_storage_id=self.hi + 1 if self.hi is not None else None,
            after_timestamp=self.since_ts,
        )
        return self._pages(
            lambda cursor: self.instance.fetch_run_status_changes(
                records_filter, PAGE, cursor, ascending=True
            )
        )

    def _pages(self, fetch_page):
        """Every record of a paged fetch, oldest first."""
        if self.hi is None:
            return
        cursor = None
        while True:
            result = fetch_page(cursor)
            yield from result.records
            if not result.has_more:
                return
            cursor = result.cursor

    def _run(self, run_id: str):
        if run_id not in self._runs:
            found = self.instance.get_run_records(RunsFilter(run_ids=[run_id]), limit=1)
            self._runs[run_id] = found[0] if found else None
        return self._runs[run_id]

    def _object_of(self, record) -> str | None:
        """The object a step event belongs to (a sync asset's step key is its object_id)."""
        step = record.event_log_entry.step_key
        return step.split(".")[0] if step else None

    def _step_failures(self, run_id: str) -> list:
        return list(
            self.instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_FAILURE).records
        )

    # ------------------------------------------------------------------ rows

    def _object_runs(self, after: int | None) -> list[dict]:
        """A row per object run: the materializations of one asset in one run are one sync
        (a partition range is one streamed read and one write), shown as `first...last`."""
        rows = []
        for key in self.objects:
            groups: dict[str, list] = {}
            for r in self._asset_events(self.instance.fetch_materializations, key, after):
                groups.setdefault(r.event_log_entry.run_id, []).append(r)
            for records in groups.values():
                row = self._materialized(records[0])
                keys = sorted(
                    p for r in records if (p := r.event_log_entry.dagster_event.partition)
                )
                if len(keys) > 1:
                    row["partition"] = f"{keys[0]}...{keys[-1]}"
                rows.append(row)
        return rows

    def _materialized(self, record) -> dict:
        entry = record.event_log_entry
        event = entry.dagster_event
        meta = {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}
        run = self._run(entry.run_id)
        ended = _ts(entry.timestamp)
        duration = meta.get("sync/duration_s")
        return {
            "event_id": record.storage_id,
            "run_id": entry.run_id,
            "object_id": self.objects[event.asset_key],
            "asset_key": event.asset_key.to_user_string(),
            "partition": _partition(run, event.partition),
            "status": "SUCCESS",
            "started_at": _ts(run.start_time) if run and run.start_time else None,
            "ended_at": ended,
            "duration_s": float(duration) if duration is not None else None,
            "rows_read": meta.get("sync/rows_read"),
            "rows_inserted": meta.get("sync/rows_inserted"),
            "rows_updated": meta.get("sync/rows_updated"),
            "rows_deleted": meta.get("sync/rows_deleted"),
            "watermark": _text(meta.get("sync/watermark")),
            "error_message": None,
        }

    def _failed_object_run(self, step) -> dict:
        """A row of object_runs for a failed sync: the failure of the object's step."""
        entry = step.event_log_entry
        run = self._run(entry.run_id)
        started = _ts(run.start_time) if run and run.start_time else None
        ended = _ts(entry.timestamp)
        return {
            "event_id": step.storage_id,
            "run_id": entry.run_id,
            "object_id": self._object_of(step),
            "asset_key": self.keys_by_object.get(self._object_of(step)),
            "partition": _partition(run, None),
            "status": "FAILED",
            "started_at": started,
            "ended_at": ended,
            "duration_s": (ended - started).total_seconds() if started else None,
            "rows_read": None,
            "rows_inserted": None,
            "rows_updated": None,
            "rows_deleted": None,
            "watermark": None,
            "error_message": self._message(step),
        }

    def _failure_rows(self, run_failure) -> list[dict]:
        """A row per step that failed in a failed run (or one for the run itself)."""
        run_id = run_failure.event_log_entry.run_id
        steps = self._step_failures(run_id)
        return [
            {
                "event_id": r.storage_id,
                "run_id": run_id,
                "object_id": self._object_of(r) if self._object_of(r) in self.by_op else None,
                "step_key": r.event_log_entry.step_key,
                "failed_at": _ts(r.event_log_entry.timestamp),
                "error_type": _error_of(r).cls_name if _error_of(r) else None,
                "error_message": self._message(r),
            }
            for r in steps or [run_failure]
        ]

    def _message(self, record) -> str | None:
        error = _error_of(record)
        text = _error_text(error) if error else record.event_log_entry.message
        return redact(text, self.secrets) if text else None

    def _run_row(self, run_record) -> dict | None:
        if run_record is None:
            return None
        run = run_record.dagster_run
        started = _ts(run_record.start_time) if run_record.start_time else None
        ended = _ts(run_record.end_time) if run_record.end_time else None
        tags = run.tags
        trigger = (
            tags.get("dagster/schedule_name")
            or tags.get("dagster/sensor_name")
            or ("backfill " + tags["dagster/backfill"] if "dagster/backfill" in tags else None)
            or "manual"
        )
        error = None
        if run.status == dg.DagsterRunStatus.FAILURE:
            error = self._run_error(run.run_id)
        return {
            "run_id": run.run_id,
            "job_name": run.job_name,
            "trigger": trigger,
            "status": run.status.value,
            "partition": _partition(run_record, None),
            "started_at": started,
            "ended_at": ended,
            "duration_s": (ended - started).total_seconds() if started and ended else None,
            "error_message": error,
        }

    def _run_error(self, run_id: str) -> str | None:
        records = self.instance.get_records_for_run(
            run_id, of_type=DagsterEventType.RUN_FAILURE, limit=1
        ).records
        return self._message(records[0]) if records else None


def _error_of(record):
    """The SerializableErrorInfo of a step or run failure event (None if it has none)."""
    event = record.event_log_entry.dagster_event
    data = event.event_specific_data if event else None
    return getattr(data, "error", None)


def _error_text(error) -> str:
    """The error's own message (and its cause's), without the traceback."""
    text = error.message.strip()
    cause = getattr(error, "cause", None)
    return f"{text} (caused by: {cause.message.strip()})" if cause else text


def _partition(run_or_record, partition: str | None) -> str | None:
    """The event's partition, or the run's partition (range) from its tags."""
    if partition:
        return partition
    if run_or_record is None:
        return None
    run = getattr(run_or_record, "dagster_run", run_or_record)
    tags = run.tags
    if "dagster/partition" in tags:
        return tags["dagster/partition"]
    start, end = (
        tags.get("dagster/asset_partition_range_start"),
        tags.get("dagster/asset_partition_range_end"),
    )
    return f"{start}...{end}" if start else None


def _ts(value) -> dt.datetime:
    return dt.datetime.fromtimestamp(value, dt.UTC)


def _text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str)
