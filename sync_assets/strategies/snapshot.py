"""Snapshot strategy (`full`, and `merge` of the whole source): compare the source's
fingerprint with the one stored with the target, then read everything (or the partition)."""

from __future__ import annotations

from sync_assets.sql.literals import to_json_value
from sync_assets.strategies.planner import Planner, SyncBatch
from sync_assets.targets.base import WritePlan


def plan(p: Planner) -> SyncBatch:
    obj = p.obj
    start, end = p.span()
    if obj.skip_unchanged:
        probe = p.probe(fingerprint=True)
        if unchanged(p, probe):
            return p.skip("source unchanged since the last sync (same fingerprint)")
    else:  # no skip wanted: spare the source a full hashing scan
        probe = (
            p.probe(fingerprint=False) if obj.sync_column else {"n_rows": 0, "fingerprint": None}
        )
    new_state = p.state.with_fingerprint(start, end, probe.get("fingerprint"), probe["n_rows"])
    if obj.sync_column and probe.get("hi") is not None:
        new_state = new_state.with_watermark(p.keys(), to_json_value(probe["hi"]))
    if obj.sync_type == "full":
        write = WritePlan("replace", window=p.target_window())
    else:
        write = WritePlan(
            "merge",
            tuple(obj.merge_keys),
            delete_missing=obj.deletes_missing,
            soft_delete=obj.soft_delete,
            window=p.target_window(),
        )
    return p.read(write, new_state, p.select([]), probe.get("hi"))


def unchanged(p: Planner, probe: dict) -> bool:
    """The stored fingerprint matches, and the target still holds that many rows."""
    known = p.state.fingerprint_for(*p.span())
    if (
        not known
        or known["fingerprint"] != probe["fingerprint"]
        or known["rows"] != probe["n_rows"]
    ):
        return False
    return p.target is None or p.target.count_rows(p.target_window()) == probe["n_rows"]
