"""Stopping a run cleanly on SIGINT / SIGTERM: the first signal lets the repeats under way finish and be
recorded, the second stops at once. Light (the standard library only): the command line imports it."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any


class Interrupted(Exception):
    """A second stop request: stop at once (the repeats under way are lost; nothing committed is)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopRequest:
    """SIGINT / SIGTERM while measuring: the first lets the repeats under way finish and be recorded,
    then the loop ends; the second stops at once (raises Interrupted where the loop waits)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            raise Interrupted(signum)
        self.signum = signum

    @property
    def requested(self) -> bool:
        """Whether a stop was asked for."""
        return self.signum is not None

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopRequest]:
        """Catch SIGINT and SIGTERM while inside (the earlier handlers come back after)."""
        old = {s: signal.signal(s, self) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
