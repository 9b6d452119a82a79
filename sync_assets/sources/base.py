"""What every source connector provides: a relation to select from and a read session."""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager

import pyarrow as pa

from sync_assets.config.models import SourceSpec
from sync_assets.connection_types import default_schema
from sync_assets.sql.literals import qualified


class SourceSession(ABC):
    """One consistent read of a source: small queries and streams see the same snapshot."""

    # the sync's policy for rows holding a value no target holds (bad_rows.BadRows); a source
    # that finds such values refuses them without one
    bad_rows = None

    @abstractmethod
    def schema(self, sql: str) -> pa.Schema:
        """The Arrow schema a query returns, without reading its rows."""

    @abstractmethod
    def fetch_small(self, sql: str) -> pa.Table:
        """A query with a tiny result (probes)."""

    @abstractmethod
    def stream(self, sql: str, batch_size: int) -> pa.RecordBatchReader:
        """A query's rows as Arrow record batches, never materialised whole."""

    def indexed(self, column: str) -> bool:
        """Whether the source table has an index led by `column`, which answers max() and
        IS NULL without a scan (default: not known, so the probe scans once)."""
        return False


class Source(ABC):
    """A source system. `dialect` is the SQL dialect of filter_condition and mappings."""

    dialect: str
    kind: str

    conn: object  # the connection config

    def relation(self, spec: SourceSpec) -> str:
        """The FROM item for a source spec (quoted table name or parenthesised query); a
        table without a schema is in the connection type's default schema."""
        if spec.query:
            return f"({spec.query}) AS src"
        return qualified(spec.schema_ or default_schema(self.conn), spec.object)

    @abstractmethod
    def session(self, spec: SourceSpec) -> AbstractContextManager[SourceSession]:
        """Open a read session in which `relation(spec)` can be queried."""

    def describe(self, spec: SourceSpec) -> str:
        """A human-readable location without secrets."""
        return spec.query and "query" or f"{spec.schema_ or ''}.{spec.object}".lstrip(".")
