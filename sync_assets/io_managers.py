"""The IO manager: consumes a SyncBatch stream and commits it to the object's target.

One class serves every target connection (one resource per connection); what differs per
system lives in the target classes and in the connection type's record, whose `family`
describes the resource in the UI.

The asset returns a lazy SyncBatch (row stream + write plan + new state); `handle_output`
drains it batch by batch into the target, so memory is bounded by the batch size.
`load_input` returns a lazy Arrow RecordBatchReader over the synced table (or partition).
"""

from __future__ import annotations

import re
import time

import dagster as dg
import pyarrow as pa

from sync_assets.bad_rows import BadRows, guarded
from sync_assets.config.models import SyncObject
from sync_assets.connection_types import make_target, record
from sync_assets.faults import crashpoint
from sync_assets.metadata import write_metadata
from sync_assets.partitions import keys_window
from sync_assets.progress import Progress
from sync_assets.retries import is_permanent
from sync_assets.secrets import connection_secrets, redact
from sync_assets.strategies.planner import SyncBatch
from sync_assets.targets.base import Target, WriteResult, target_window


class SyncError(RuntimeError):
    """A sync that failed, naming the object, the partition and the failing step."""


class FinalSyncError(SyncError, dg.Failure):
    """A SyncError that no retry can mend (retries.is_permanent): the step fails at once,
    whatever the object's `retries:` say."""

    def __init__(self, message: str):
        dg.Failure.__init__(self, description=message, allow_retries=False)


def sync_error(message: str, cause: BaseException) -> SyncError:
    """The error a failed sync raises (`from cause`): final when retrying cannot help."""
    return FinalSyncError(message) if is_permanent(cause) else SyncError(message)


class SyncIOManager(dg.IOManager):
    """Writes SyncBatches to the tables of one target connection."""

    def __init__(
        self,
        connection_name: str,
        connection,
        base_dir: str,
        objects: dict[dg.AssetKey, SyncObject],
    ):
        self.connection_name = connection_name
        self.connection = connection
        self.base_dir = base_dir
        self.objects = objects

    @property
    def family(self) -> str:
        """What this resource writes, as the UI says it (e.g. "Delta tables")."""
        return record(self.connection).family

    def target_for(self, obj: SyncObject) -> Target:
        return make_target(obj, self.connection, self.base_dir)

    def handle_output(self, context: dg.OutputContext, batch: SyncBatch) -> None:
        obj = batch.obj or self.objects[context.asset_key]
        target = self.target_for(obj)
        partition = _partition_label(context)
        counter = _RowCounter()
        bad_rows = batch.bad_rows or BadRows(obj.object_id, "fail", obj.merge_keys, None)
        started = time.monotonic()
        try:
            if batch.reader is None:
                result = WriteResult(committed=False)
            else:
                # the target's limits are checked on the rows it takes (bad_rows.py)
                reader = guarded(counter.wrap(batch.reader), bad_rows, target.value_limits())
                with Progress(context.log, f"object_id '{obj.object_id}'{partition}") as shown:
                    counter.progress = shown
                    result = target.write(reader, batch.plan, batch.state.to_dict())
            bad_rows.publish()
        except Exception as exc:
            bad_rows.discard()
            batch.close(after_failure=True)
            secrets = connection_secrets(self.connection)
            cause = counter.source_error or bad_rows.error or exc
            if counter.source_error is not None:  # the read failed, not the write
                what = f"reading the source failed ({target.uri} is unchanged)"
            elif bad_rows.error is not None:
                what = f"a value does not fit the target ({target.uri} is unchanged)"
            else:
                what = f"writing to {target.uri} failed ({batch.plan.mode})"
            message = f"object_id '{obj.object_id}'{partition}: {what}: {_spelled(cause)}"
            raise sync_error(redact(message, secrets), cause) from cause
        finally:
            batch.close()
        crashpoint("committed")
        if not result.committed:
            _fill_unchanged(result, target, batch.plan.window)
        meta = write_metadata(
            obj,
            target,
            batch,
            result,
            counter.rows,
            time.monotonic() - started,
            len(context.asset_partition_keys) if context.has_asset_partitions else 0,
        )
        schema = meta.get("dagster/column_schema")
        batch.column_schema = schema.value if schema is not None else None  # for the check
        context.add_output_metadata(meta)

    def load_input(self, context: dg.InputContext) -> pa.RecordBatchReader:
        key = context.upstream_output.asset_key if context.upstream_output else context.asset_key
        obj = self.objects[key]
        window = None
        if context.has_asset_partitions and obj.partition:
            keys = tuple(context.asset_partition_keys)
            window = target_window(obj, *keys_window(obj.partition, keys), keys)
        return self.target_for(obj).read(window)


# one of our own errors, raised in a stream a driver was reading and wrapped in its message
_OURS = re.compile(r"^sync_assets\.[\w.]+\.(\w+Error): (.+)$", re.M)


def _spelled(exc: Exception) -> str:
    """The error as the user reads it: ours when a driver wrapped it (with its traceback)."""
    ours = _OURS.findall(str(exc))
    if ours:
        return f"{ours[-1][0]}: {ours[-1][1]}"
    return f"{type(exc).__name__}: {exc}"


def _partition_label(context) -> str:
    if not context.has_asset_partitions:
        return ""
    keys = context.asset_partition_keys
    return f", partition {keys[0]}" if len(keys) == 1 else f", partitions {keys[0]}...{keys[-1]}"


def _fill_unchanged(result: WriteResult, target: Target, window) -> None:
    """Metadata for a run that wrote nothing: the table as it stands."""
    described = target.describe()
    result.schema, result.sql_types = described["schema"], described.get("sql_types")
    result.row_count = target.count_rows(window)


class _RowCounter:
    """Counts the rows a target consumes, and notes an error raised by the source's reader
    (the stream is lazy: a bad source value surfaces while the target writes)."""

    def __init__(self):
        self.rows = 0
        self.source_error: Exception | None = None
        self.progress: Progress | None = None

    def wrap(self, reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
        def batches():
            i = 0
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    if self.progress is not None and self.progress.phase == "reading":
                        self.progress.phase = "applying"  # the whole stream is in the target
                    return
                except Exception as exc:
                    self.source_error = exc
                    raise
                self.rows += batch.num_rows
                if self.progress is not None:  # the target may pull from its own threads
                    self.progress.rows += batch.num_rows
                yield batch
                if i == 0:
                    crashpoint("mid_stream")  # tests: die after the target took the first batch
                i += 1

        return pa.RecordBatchReader.from_batches(reader.schema, batches())
