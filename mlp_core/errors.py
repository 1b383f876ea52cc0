"""Why a trial cannot run here (no TensorFlow import): the runner records these as `skipped` with the message."""

from __future__ import annotations


class UnavailableError(RuntimeError):
    """The trial needs something this machine does not have (a device, a library): skip it, say why."""


def missing_library(mode: str, module: str, install: str) -> UnavailableError:
    """The error for a mode whose library is not installed, with the command that installs it."""
    return UnavailableError(f"mode {mode!r} needs {module}, which is not installed: {install}")


class PlacementError(RuntimeError):
    """Ops ran somewhere other than the requested device: the result must not be reported."""
