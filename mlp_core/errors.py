"""Why a trial cannot run here (no TensorFlow import): the runner records these as `skipped` with the message."""

from __future__ import annotations

import re


class UnavailableError(RuntimeError):
    """The trial needs something this machine does not have (a device, a library): skip it, say why."""


def missing_library(mode: str, module: str, install: str) -> UnavailableError:
    """The error for a mode whose library is not installed, with the command that installs it."""
    return UnavailableError(f"mode {mode!r} needs {module}, which is not installed: {install}")


class PlacementError(RuntimeError):
    """Ops ran somewhere other than the requested device: the result must not be reported."""


def reason_of(exc: BaseException, limit: int = 500) -> str:
    """An exception as one line for a trial's reason: its class and its whole message, with TensorFlow's noise
    taken out (the "Graph execution error:" header, the Python stack of the node it names, the [[{{node ...}}]]
    and [Op:...] tags), so that the cause (e.g. "Incompatible shapes: [32,3] vs. [32,1]") is what remains."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    name = type(exc).__name__
    if lines and lines[0].strip() == "in user code:":  # an error while tracing: the user's frames, then the cause
        return f"{name}: {lines[-1].strip().removeprefix(name + ': ')}"[:limit]
    kept, in_stack = [], False
    for line in lines:
        text = line.strip()
        if text.startswith("Detected at node") or text.endswith("(most recent call last):"):
            in_stack = True  # the node's Python stack follows: indented frames and blank lines
            continue
        if in_stack and line[:1].isspace():
            continue
        in_stack = False
        text = re.sub(r"\s*\[\[\{\{node [^}]*\}\}\]\]|\s*\[Op:[^\]]*\]", "", text).strip()
        if text and text != "Graph execution error:":
            kept.append(text)
    return f"{name}: {'; '.join(kept)}"[:limit] if kept else name
