"""The clock and device-sync seam: every clock read is preceded by a sync."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]  # monotonic nanoseconds
Sync = Callable[[], None]  # blocks until every device has finished its queued work

NS_PER_S = 1e9


def no_sync() -> None:
    """Sync for host-only work (NumPy): nothing is queued anywhere."""


def stamp(clock: Clock, sync: Sync) -> int:
    """Sync the devices, then read the clock (ns)."""
    sync()
    return clock()


default_clock: Clock = time.perf_counter_ns
