"""Progress of a long sync in the run log: every SYNC_ASSETS_PROGRESS_S seconds (default 10)
while a step writes, one line with the rows read so far, their rate, and the phase the write
is in, so a user watching a 200M-row backfill in the UI sees it moving:

    object_id 'orders_sync': applying; 12,400,000 rows read (1,030,000 rows/s), 12 s

Phases follow the named points every target passes (faults.py): `reading` while the stream
flows into the target (rows are staged or written as they come), `applying` once the
stream is staged (the set-based merge / replace), `committing` once data files are written
or the commit starts, `maintaining` for Delta's optimize / vacuum after the commit. A sync
shorter than the interval logs nothing. The reporter belongs to the step's thread, so steps
running at once (threaded_executor.py) each report their own.
"""

from __future__ import annotations

import os
import threading
import time

INTERVAL_ENV = "SYNC_ASSETS_PROGRESS_S"
# a named point -> the phase that starts there
PHASES = {
    "staged": "applying",
    "files_written": "committing",
    "before_commit": "committing",
    "maintenance": "maintaining",
}
_current = threading.local()


def interval_s() -> float:
    try:
        return max(0.05, float(os.environ.get(INTERVAL_ENV, "10")))
    except ValueError:
        return 10.0


class Progress:
    """Reports one write's progress to `log` (a Dagster log manager) from a timer thread."""

    def __init__(self, log, label: str, every_s: float | None = None):
        self.log, self.label = log, label
        self.every_s = every_s if every_s is not None else interval_s()
        self.rows = 0  # counted by the stream's wrapper (io_managers._RowCounter)
        self.phase = "reading"
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._report, name=f"progress {label}", daemon=True)

    def __enter__(self) -> Progress:
        _current.progress = self
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        _current.progress = None

    def line(self) -> str:
        elapsed = time.monotonic() - self._started
        rate = self.rows / elapsed if elapsed > 0 else 0.0
        return f"{self.label}: {self.phase}; {self.rows:,} rows read ({rate:,.0f} rows/s), {elapsed:.0f} s"

    def _report(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.log.info(self.line())
            except Exception:  # a progress line must never fail the sync
                pass


def reached(point: str) -> None:
    """A named point of the write was reached (faults.crashpoint): maybe a new phase."""
    progress = getattr(_current, "progress", None)
    if progress is not None and point in PHASES:
        progress.phase = PHASES[point]
