"""Small helpers for Arrow record-batch streams."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import pyarrow as pa

from sync_assets.sql.literals import quote_ident
from sync_assets.types import JSON_TEXT


def closing(reader: pa.RecordBatchReader, *close: Callable[[], object]) -> pa.RecordBatchReader:
    """A reader over `reader` that calls each `close` once the stream ends (or is dropped).

    The callables also keep whatever they close (a connection, a cursor) referenced for as
    long as the stream is read: a collected cursor would close its stream under the reader.
    """

    def batches():
        try:
            yield from reader
        finally:
            for fn in close:
                fn()

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def nested_as_json(reader: pa.RecordBatchReader, keep=None) -> pa.RecordBatchReader:
    """Nested columns (list, struct, map) as JSON text, converted batch by batch by DuckDB,
    for targets that store them as JSON (PostgreSQL jsonb, T-SQL NVARCHAR(MAX)); columns
    whose type `keep` accepts stay as they are (PostgreSQL arrays). Only the nested columns
    pass through DuckDB: the others keep their exact Arrow arrays and field metadata (DuckDB
    cannot scan every Arrow type, decimal256 for one)."""
    nested = [
        f.name for f in reader.schema if pa.types.is_nested(f.type) and not (keep and keep(f.type))
    ]
    if not nested:
        return reader
    from sync_assets import duck

    con = duck.connect()
    schema = pa.schema(
        [
            f.with_type(pa.string()).with_metadata({**(f.metadata or {}), JSON_TEXT: b"1"})
            if f.name in nested
            else f
            for f in reader.schema
        ]
    )
    select = ", ".join(f"to_json({quote_ident(c)})::VARCHAR AS {quote_ident(c)}" for c in nested)

    def convert(batch: pa.RecordBatch) -> pa.RecordBatch:
        con.register("b", pa.Table.from_batches([batch.select(nested)]))
        out = con.sql(f"SELECT {select} FROM b").to_arrow_table()  # keeps the row order
        con.unregister("b")
        columns = [
            out.column(n).combine_chunks() if n in nested else batch.column(n) for n in schema.names
        ]
        return pa.RecordBatch.from_arrays(columns, schema=schema)

    return closing(
        pa.RecordBatchReader.from_batches(schema, (convert(b) for b in reader)), con.close
    )


def with_soft_delete_columns(
    reader: pa.RecordBatchReader, flag: str | None, column: str, deleted_at: str
) -> pa.RecordBatchReader:
    """The stream with `column` (a copy of its delete `flag`, or false without one) and
    `deleted_at` (NULL) added before the flag, which stays last: upserted rows are live;
    flagged rows only mark their key."""
    stamp = pa.timestamp("us", tz="UTC")
    at = reader.schema.get_field_index(flag) if flag else len(reader.schema)
    added = [pa.field(column, pa.bool_()), pa.field(deleted_at, stamp)]
    schema = pa.schema(list(reader.schema)[:at] + added + list(reader.schema)[at:])

    def batches():
        for batch in reader:
            if flag is None:
                marks = pa.array([False] * batch.num_rows, pa.bool_())
            else:
                marks = batch.column(at)
            columns = batch.columns
            new = [marks, pa.nulls(batch.num_rows, stamp)]
            yield pa.RecordBatch.from_arrays(columns[:at] + new + columns[at:], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def with_null_column(
    reader: pa.RecordBatchReader, name: str, type_: pa.DataType, before: str | None = None
) -> pa.RecordBatchReader:
    """The stream with a NULL column `name` added (before the column `before` when the
    stream has it, else last)."""
    names = reader.schema.names
    at = names.index(before) if before in names else len(names)
    fields = list(reader.schema)
    schema = pa.schema(fields[:at] + [pa.field(name, type_)] + fields[at:])

    def batches():
        for batch in reader:
            columns = batch.columns
            nulls = pa.nulls(batch.num_rows, type_)
            yield pa.RecordBatch.from_arrays(columns[:at] + [nulls] + columns[at:], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


_END = object()


class Prefetch:
    """Reads a stream ahead in a background thread, `depth` batches at most.

    Reading the source (network, decoding) and writing the target (encoding, compression)
    then overlap on two cores instead of taking turns; both sides of pyarrow, ADBC and
    DuckDB release the GIL while they work. Memory stays bounded: at most `depth` batches
    wait in the queue. `close()` stops the thread and waits for it; call it before the
    source connection closes.
    """

    def __init__(self, reader: pa.RecordBatchReader, depth: int = 2):
        self.schema = reader.schema
        self._source = reader
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="sync-read-ahead", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for batch in self._source:
                if not self._put(batch):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the reading side, raised there
            self._put(exc)

    def _batches(self):
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, self._batches())

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
