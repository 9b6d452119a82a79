"""Named crash points for the kill -9 tests.

`crashpoint("staged")` kills the process with SIGKILL when the environment variable
SYNC_ASSETS_CRASH_AT names that point: the tests use it to stop a real sync at exact moments
(data staged, before commit, files written before the manifest) and then prove that a rerun
leaves the target equal to the source. Unset (always, outside tests) it does nothing.

SYNC_ASSETS_TRACE names a file each point reached is appended to, with the wall-clock time:
the random kill tests place kills inside the phases a complete run went through, and read
there which phase a killed sync had reached. SYNC_ASSETS_KILL_AFTER="<point>:<seconds>" kills
the process that many seconds after it reaches that point (a random moment inside a phase).
"""

from __future__ import annotations

import os
import signal
import threading
import time

from sync_assets import progress

CRASH_ENV = "SYNC_ASSETS_CRASH_AT"
# "<point>:<seconds>": sleep there instead (the two-writer tests hold a lock open with it)
PAUSE_ENV = "SYNC_ASSETS_PAUSE_AT"
PAUSE_MARK_ENV = "SYNC_ASSETS_PAUSE_MARK"
PAUSE_RELEASE_ENV = "SYNC_ASSETS_PAUSE_RELEASE"  # a file whose appearance ends the pause
TRACE_ENV = "SYNC_ASSETS_TRACE"
KILL_AFTER_ENV = "SYNC_ASSETS_KILL_AFTER"


def crashpoint(name: str) -> None:
    progress.reached(name)  # the run log's progress lines name the phase
    trace = os.environ.get(TRACE_ENV)
    if trace:
        with open(trace, "a") as out:
            out.write(f"{name} {time.time()}\n")
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    point, _, seconds = os.environ.get(KILL_AFTER_ENV, "").partition(":")
    if point == name:
        kill_after(float(seconds))
    point, _, seconds = os.environ.get(PAUSE_ENV, "").partition(":")
    if point == name:
        mark = os.environ.get(PAUSE_MARK_ENV)
        if mark:  # tells the test the process is paused here
            open(mark, "w").close()  # noqa: SIM115
        _pause(float(seconds), os.environ.get(PAUSE_RELEASE_ENV))


def _pause(seconds: float, release: str | None) -> None:
    """Sleep `seconds`, or until the file `release` appears (the test decides when)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if release and os.path.exists(release):
            return
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def kill_after(seconds: float) -> None:
    """SIGKILL this process `seconds` from now, whatever it is doing then."""
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGKILL))
    timer.daemon = True
    timer.start()
