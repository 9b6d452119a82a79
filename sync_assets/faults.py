"""Named crash points for the kill -9 tests.

`crashpoint("staged")` kills the process with SIGKILL when the environment variable
SYNC_ASSETS_CRASH_AT names that point: the tests use it to stop a real sync at exact moments
(data staged, before commit, files written before the manifest) and then prove that a rerun
leaves the target equal to the source. Unset (always, outside tests) it does nothing.
"""

from __future__ import annotations

import os
import signal
import time

CRASH_ENV = "SYNC_ASSETS_CRASH_AT"
# "<point>:<seconds>": sleep there instead (the two-writer tests hold a lock open with it)
PAUSE_ENV = "SYNC_ASSETS_PAUSE_AT"
PAUSE_MARK_ENV = "SYNC_ASSETS_PAUSE_MARK"


def crashpoint(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    point, _, seconds = os.environ.get(PAUSE_ENV, "").partition(":")
    if point == name:
        mark = os.environ.get(PAUSE_MARK_ENV)
        if mark:  # tells the test the process is paused here
            open(mark, "w").close()  # noqa: SIM115
        time.sleep(float(seconds))
