"""The one error type every CLI turns into `prog: error: <message>` and exit status 2 (no traceback).

Its message names the field or file and the bad value. Light on purpose: `--help` imports it.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input (a flag, a file, an output path): one line naming what and why; exit status 2."""
