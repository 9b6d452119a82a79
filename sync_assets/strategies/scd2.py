"""SCD type 2 (`scd_type: 2`): turn any strategy's batch into history, written as a plain
keyed merge, so every target keeps history with the merge it already has.

A history row is identified by the object's merge keys plus `valid_from`. Given the rows a
strategy read (whole source, rows past a watermark, a change stream with flagged deletes, or a
hash sync's changes), one local DuckDB (memory capped, spilling) compares them with the
target's current rows (`is_current`) in the run's window and produces:
- a new version (valid_from = the sync's time, or the row's `scd.validity_column`; valid_to
  NULL; is_current true) for every key that is new, comes back after a delete, or whose
  values differ from its current version;
- the closed current version (valid_to = the new version's valid_from, or the sync's time for
  a key gone from the source; is_current false) of every key that changed or went away.
The target merges that stream on (merge keys, valid_from): closings update their row, new
versions are inserted, one atomic write as always. A rerun finds every current version equal
to the source and adds nothing; compound keys are compared column by column. A change whose
validity equals the current version's valid_from replaces that version in place; a validity
earlier than it is an error (the source's clock went back).
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from sync_assets import duck
from sync_assets.columns import DELETED_FLAG
from sync_assets.sql.flavors import DUCKDB
from sync_assets.sql.literals import quote_ident, quote_string
from sync_assets.sql.statements import differs, key_match
from sync_assets.strategies.planner import Planner, SyncBatch
from sync_assets.streams import closing
from sync_assets.targets.base import WritePlan

OLD = "__sync_old_from"


def historize(p: Planner, batch: SyncBatch, now: dt.datetime | None = None) -> SyncBatch:
    """`batch` as versions and closings merged on (merge keys, valid_from)."""
    if batch.reader is None:
        return batch
    obj, scd = p.obj, p.obj.scd
    keys = list(obj.merge_keys)
    whole = batch.plan.mode == "replace" or batch.plan.delete_missing
    flagged = DELETED_FLAG in batch.reader.schema.names
    stamp = now or dt.datetime.now(dt.UTC)
    con = duck.connect()
    try:
        incoming = _load_incoming(con, batch.reader, scd, flagged)
        h = _History(con, keys, scd, incoming, flagged, stamp)
        h.load_current(p, whole)
        counts = h.compare(whole)
        reader = h.stream(p.obj.batch_size)
    except BaseException:
        con.close()
        raise
    batch.reader = closing(reader, con.close)
    batch.plan = WritePlan(
        "merge",
        tuple(keys + [scd.valid_from]),
        window=batch.plan.window,
        dry_run=batch.plan.dry_run,
    )
    batch.notes.update(
        {
            "sync/scd2_new_keys": counts[0],
            "sync/scd2_changed_keys": counts[1],
            "sync/scd2_closed_keys": counts[2],
            "sync/scd2_valid_from": (
                f"column {scd.validity_column}" if scd.validity_column else f"sync time {stamp}"
            ),
        }
    )
    return batch


def _load_incoming(con, reader: pa.RecordBatchReader, scd, flagged: bool) -> pa.Schema:
    """Table `inc`: the strategy's rows; their schema without the delete flag."""
    clash = [c for c in (scd.valid_from, scd.valid_to, scd.is_current) if c in reader.schema.names]
    if clash:
        raise ValueError(f"scd: the synced rows already have columns {clash}; rename them in scd")
    if scd.validity_column and scd.validity_column not in reader.schema.names:
        raise ValueError(
            f"field 'scd.validity_column': '{scd.validity_column}' is not a column of the synced "
            f"rows (they have {[n for n in reader.schema.names if n != DELETED_FLAG]})"
        )
    con.register("inc_in", reader)
    con.execute("CREATE TEMP TABLE inc AS SELECT * FROM inc_in")
    con.unregister("inc_in")
    return pa.schema([f for f in reader.schema if f.name != DELETED_FLAG])


class _History:
    """The comparison of one run's rows with the target's current versions, in DuckDB."""

    def __init__(self, con, keys, scd, incoming: pa.Schema, flagged: bool, stamp: dt.datetime):
        self.con, self.keys, self.scd, self.incoming = con, keys, scd, incoming
        self.flagged = flagged
        self.vf, self.vt, self.cur = (
            quote_ident(scd.valid_from),
            quote_ident(scd.valid_to),
            quote_ident(scd.is_current),
        )
        self.sync_time = f"TIMESTAMPTZ {quote_string(stamp.isoformat())}"
        self.vf_type = self._validity_type()
        flag = quote_ident(DELETED_FLAG)
        self.live = f"(SELECT * EXCLUDE ({flag}) FROM inc WHERE NOT {flag})" if flagged else "inc"

    def _validity_type(self) -> str:
        if not self.scd.validity_column:
            return "TIMESTAMPTZ"
        rows = self.con.execute("DESCRIBE inc").fetchall()
        return next(r[1] for r in rows if r[0] == self.scd.validity_column)

    def load_current(self, p: Planner, whole: bool) -> None:
        """Table `cur`: the target's current versions in the window (of the incoming keys,
        unless the whole source is compared)."""
        existing = p.target.arrow_schema() if p.target is not None else None
        if existing is None:
            self.con.execute(
                f"CREATE TEMP TABLE cur AS SELECT *, CAST(NULL AS {self.vf_type}) AS {self.vf}, "
                f"CAST(NULL AS {self.vf_type}) AS {self.vt}, TRUE AS {self.cur} FROM {self.live} "
                "WHERE FALSE"
            )
            return
        lacking = [
            c
            for c in (self.scd.valid_from, self.scd.valid_to, self.scd.is_current)
            if c not in existing.names
        ]
        if lacking:
            raise ValueError(
                f"scd_type 2: target {p.target.uri} exists without the history columns {lacking}; "
                "sync into a new table (or drop this one) to start its history"
            )
        self.con.register("cur_in", p.target.read(p.target_window()))
        match = key_match(self.keys, "c", "s", DUCKDB)
        scope = "" if whole else f" AND EXISTS (SELECT 1 FROM inc AS s WHERE {match})"
        self.con.execute(
            f"CREATE TEMP TABLE cur AS SELECT * FROM cur_in AS c WHERE c.{self.cur} IS TRUE{scope}"
        )
        self.con.unregister("cur_in")

    def compare(self, whole: bool) -> tuple[int, int, int]:
        """Tables `ver` (new versions) and `closed`; (new keys, changed keys, closed keys)."""
        known = {r[0] for r in self.con.execute("DESCRIBE cur").fetchall()}
        scd_names = (self.scd.valid_from, self.scd.valid_to, self.scd.is_current)
        tracked = [n for n in self.incoming.names if n not in self.keys and n not in scd_names]
        match = key_match(self.keys, "c", "s", DUCKDB)
        valid_from = self.sync_time
        if self.scd.validity_column:
            own = f"s.{quote_ident(self.scd.validity_column)}"
            valid_from = f"COALESCE({own}, CAST({self.sync_time} AS {self.vf_type}))"
        self.con.execute(
            f"CREATE TEMP TABLE ver AS SELECT s.*, CAST({valid_from} AS {self.vf_type}) AS {self.vf}, "
            f"CAST(NULL AS {self.vf_type}) AS {self.vt}, TRUE AS {self.cur}, c.{self.vf} AS {OLD} "
            f"FROM {self.live} AS s LEFT JOIN cur AS c ON {match} "
            f"WHERE c.{self.cur} IS NULL OR {differs('c', 's', tracked, DUCKDB, known=known)}"
        )
        self._check_order()
        gone = []
        if self.flagged:
            flag = quote_ident(DELETED_FLAG)
            gone.append(f"EXISTS (SELECT 1 FROM inc AS s WHERE {match} AND s.{flag})")
        if whole:
            gone.append(f"NOT EXISTS (SELECT 1 FROM inc AS s WHERE {match})")
        went = f" OR (v.{self.cur} IS NULL AND ({' OR '.join(gone)}))" if gone else ""
        closes = f"COALESCE(v.{self.vf}, CAST({self.sync_time} AS {self.vf_type}))"
        by_version = key_match(self.keys, "c", "v", DUCKDB)
        self.con.execute(
            f"CREATE TEMP TABLE closed AS SELECT c.* REPLACE ({closes} AS {self.vt}, "
            f"FALSE AS {self.cur}) FROM cur AS c LEFT JOIN ver AS v ON {by_version} "
            f"WHERE (v.{OLD} IS NOT NULL AND v.{self.vf} > v.{OLD}){went}"
        )
        new, changed = duck.first_row(
            self.con,
            f"SELECT count(*) FILTER ({OLD} IS NULL), count(*) FILTER ({OLD} IS NOT NULL) FROM ver",
        )
        closed = duck.first_row(self.con, "SELECT count(*) FROM closed")[0]
        replaced = duck.first_row(self.con, f"SELECT count(*) FROM ver WHERE {OLD} < {self.vf}")[0]
        return int(new), int(changed), int(closed) - int(replaced)

    def _check_order(self) -> None:
        keys = ", ".join(quote_ident(k) for k in self.keys)
        back = duck.first_row(
            self.con, f"SELECT {keys}, {OLD}, {self.vf} FROM ver WHERE {self.vf} < {OLD} LIMIT 1"
        )
        if back:
            raise ValueError(
                f"scd.validity_column '{self.scd.validity_column}': key {tuple(back[:-2])} has "
                f"a new version valid from {back[-1]}, before its current version's {back[-2]}"
            )

    def stream(self, batch_size: int) -> pa.RecordBatchReader:
        """New versions, then closed ones, typed as the incoming rows (and the history columns)."""
        out = self.con.sql(
            f"SELECT * EXCLUDE ({OLD}) FROM ver UNION ALL BY NAME SELECT * FROM closed"
        ).to_arrow_reader(batch_size)
        own = {f.name: f.type for f in self.incoming}
        schema = pa.schema([pa.field(f.name, own.get(f.name, f.type)) for f in out.schema])

        def batches():
            for batch in out:
                yield batch.cast(schema)

        return pa.RecordBatchReader.from_batches(schema, batches())
