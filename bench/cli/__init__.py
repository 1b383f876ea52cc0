"""What every `python -m bench.*` command shares: a one-line argparse error and the exit-2 wrapper."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from bench.format.errors import InputError


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump), exit status 2."""

    def error(self, message: str) -> None:
        self.exit(2, f"{self.prog}: error: {message}\n")


def parser(prog: str, doc: str | None, epilog: str | None = None) -> Parser:
    """A Parser with the module docstring as its description, kept as written."""
    return Parser(prog=prog, description=doc, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)


def command(make_parser: Callable[[], argparse.ArgumentParser], body: Callable[[argparse.Namespace], int],
            argv: list[str] | None = None, *, parse: str = "args") -> int:
    """Every command's `main`: parse (usage errors: exit 2), then run the body guarded. The body finds the
    command line as typed in `args.command_line` ([prog, *arguments]: what a run directory records).
    `parse`: "args" (argparse's parse_args), "intermixed" (positionals and options in any order) or "known"
    (the arguments the parser does not know are left in `args.rest`, for a command that passes them on)."""
    p = make_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if parse == "known":
        args, rest = p.parse_known_args(argv)
        args.rest = rest
    else:
        args = p.parse_intermixed_args(argv) if parse == "intermixed" else p.parse_args(argv)
    args.command_line = [p.prog, *argv]
    return guarded(p.prog, lambda: body(args))


def guarded(prog: str, body: Callable[[], int]) -> int:
    """Run a CLI body; InputError becomes one line on stderr and exit status 2."""
    try:
        return body()
    except InputError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
