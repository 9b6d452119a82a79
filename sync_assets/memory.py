"""The process's resident memory around one sync (Linux /proc; None elsewhere).

A sync resets the kernel's peak-RSS mark when it starts and reads it when it ends, so its
materialization says how much memory that sync took (`sync/peak_rss_mb`) and how much of it
the sync itself added to the running process (`sync/rss_growth_mb`).
"""

from __future__ import annotations

_STATUS = "/proc/self/status"


def _status_mb(field: str) -> float | None:
    try:
        with open(_STATUS) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        return None
    return None


def start() -> float | None:
    """Reset the peak mark to the current RSS (writing 5 to clear_refs); return the RSS in MB."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return None  # not Linux, or not allowed: no figures
    return _status_mb("VmRSS")


def peak() -> float | None:
    """The highest RSS in MB since `start()`."""
    return _status_mb("VmHWM")
