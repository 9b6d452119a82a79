"""The sync state of one object: watermarks per partition key and source fingerprints.

It is stored with the data by each target (state table, Delta commit metadata, Parquet
manifest) and mirrored into Dagster metadata. The empty partition key "" is the whole
table of an unpartitioned object.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

WHOLE = ""


@dataclass
class SyncState:
    watermarks: dict[str, object] = field(default_factory=dict)
    # windows whose target content was last written from a source with this fingerprint
    fingerprints: list[dict] = field(default_factory=list)
    # partition keys (WHOLE: the table) `sync-assets reset` cleared: their next run is a
    # full refresh
    refresh: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict | None) -> SyncState:
        data = data or {}
        return cls(
            dict(data.get("watermarks", {})),
            list(data.get("fingerprints", [])),
            list(data.get("refresh", [])),
        )

    def to_dict(self) -> dict:
        data = {"watermarks": self.watermarks, "fingerprints": self.fingerprints}
        if self.refresh:
            data["refresh"] = self.refresh
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    # ------------------------------------------------------------------ fingerprints

    def fingerprint_for(self, start: dt.datetime | None, end: dt.datetime | None) -> dict | None:
        """The fingerprint recorded for exactly this window (None, None = whole table)."""
        key = (_iso(start), _iso(end))
        for entry in self.fingerprints:
            if (entry.get("start"), entry.get("end")) == key:
                return entry
        return None

    def with_fingerprint(self, start, end, fingerprint: str | None, rows: int) -> SyncState:
        """A copy where this window's fingerprint replaces every overlapping one."""
        kept = [e for e in self.fingerprints if not _overlaps(e, start, end)]
        if fingerprint is not None:
            kept.append(
                {"start": _iso(start), "end": _iso(end), "fingerprint": fingerprint, "rows": rows}
            )
        return SyncState(dict(self.watermarks), kept, list(self.refresh))

    def with_watermark(self, keys, value) -> SyncState:
        """A copy with `value` as the watermark of every key in `keys`."""
        marks = dict(self.watermarks)
        marks.update({k: value for k in keys})
        return SyncState(marks, list(self.fingerprints), list(self.refresh))

    def without_fingerprints(self, start, end) -> SyncState:
        return self.with_fingerprint(start, end, None, 0)

    # ------------------------------------------------------------------ resets

    def without_keys(self, keys, start=None, end=None) -> SyncState:
        """A copy that forgets `keys` (None: everything): their watermarks, the fingerprints
        of windows overlapping [start, end), and their pending refresh."""
        if keys is None:
            return SyncState()
        marks = {k: v for k, v in self.watermarks.items() if k not in keys}
        kept = [e for e in self.fingerprints if not _overlaps(e, start, end)]
        return SyncState(marks, kept, [k for k in self.refresh if k not in keys])

    def reset(self, keys, start=None, end=None) -> SyncState:
        """What `sync-assets reset` stores: `keys` forgotten and marked for a full refresh."""
        cleared = self.without_keys(keys, start, end)
        cleared.refresh = sorted(set(cleared.refresh) | set(keys))
        return cleared

    def needs_refresh(self, keys) -> bool:
        """Whether a run of `keys` must be a full refresh (one of them was reset)."""
        return bool(set(self.refresh) & set(keys))


def _iso(value: dt.datetime | int | None) -> str | int | None:
    """A window bound as stored: ISO text, or the integer of an integer range."""
    if isinstance(value, int) or value is None:
        return value
    return value.isoformat()


def _overlaps(entry: dict, start, end) -> bool:
    if start is None or entry.get("start") is None:
        return True  # the whole table overlaps everything
    e_start, e_end = entry["start"], entry["end"]
    if isinstance(start, int) != isinstance(e_start, int):
        return True  # the partitioning changed kind: nothing stored still describes a window
    if not isinstance(e_start, int):
        e_start, e_end = dt.datetime.fromisoformat(e_start), dt.datetime.fromisoformat(e_end)
    return e_start < end and start < e_end
