"""Small helpers for Arrow record-batch streams."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa


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
