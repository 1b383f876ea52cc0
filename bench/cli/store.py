"""`python -m bench.store {check,columns,upgrade}`: check a run directory, print the column
dictionary, or write an older run directory out as the current schema.

  check RUN_DIR [RUN_DIR ...]   read and check each (exit 0 when all are valid, 2 otherwise)
  columns                       the column dictionary of every file (markdown, as in the README)
  upgrade OLD NEW               OLD (any readable schema) rewritten as the current schema into NEW
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.cli import command
from bench.cli import parser as make_parser
from bench.format import META_FILE, StoreError, column_dictionary, load_run
from bench.format.runs import read_any, read_meta
from bench.format.writer import write_run


def parser():
    """The command line."""
    p = make_parser("python -m bench.store", __doc__)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="read and check run directories")
    c.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    sub.add_parser("columns", help="the column dictionary (markdown)")
    u = sub.add_parser("upgrade", help="rewrite a run directory as the current schema into a new directory")
    u.add_argument("old", metavar="OLD")
    u.add_argument("new", metavar="NEW")
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI."""
    return command(parser, _run, argv)


def _run(args) -> int:
    if args.command == "columns":
        sys.stdout.write(column_dictionary())
        return 0
    if args.command == "check":
        for path in args.run_dirs:
            run = load_run(path)
            print(f"{path}: schema {run.schema_version}, {len(run.summary)} trials, {len(run.repeats)} repeats, "
                  f"{len(run.raw)} epoch rows: ok")
            for warning in run.warnings:
                print(f"  note: {warning}")
        return 0
    return _upgrade(Path(args.old), Path(args.new))


def _upgrade(old: Path, new: Path) -> int:
    if new.resolve() == old.resolve():
        raise StoreError(f"NEW: {new}: is OLD; upgrade writes a new directory and never overwrites its input")
    if new.exists() and any(new.iterdir()):
        raise StoreError(f"NEW: {new}: exists and is not empty")
    run = load_run(old)  # checked first
    meta, tables = read_any(old, read_meta(old))
    write_run(new, meta, tables)
    for extra in ("analysis.json",):
        if (old / extra).is_file():
            (new / extra).write_bytes((old / extra).read_bytes())
    check = load_run(new)
    print(f"{new}: schema {check.schema_version} ({len(check.summary)} trials) from {old / META_FILE} "
          f"schema {run.schema_version}")
    return 0
