"""Reading and writing the store's files: typed CSV rows, JSON without NaN, atomic replaces.

Readers never write. The one repair, of a torn last line, is `repair_torn_tail`, which only the
runner calls, on --resume, under the run directory's lock. A last line without a newline that is
a complete, valid row is a row; one that is not is a write cut short by a kill, and readers skip
it (the run's own consistency checks then decide whether anything measured is missing).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.format.errors import InputError
from bench.format.fields import RAW, REPEATS, SUMMARY, Field, Table

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(\+00:00|Z)$")  # cut anywhere: invalid
INT_RE = re.compile(r"^[+-]?\d+$")


class StoreError(InputError):
    """A file that cannot be read or written as the store declares it; names the file and the problem."""


# ---- cells ---------------------------------------------------------------------------------------
def parse_cell(f: Field, text: str) -> Any:
    """A CSV cell as its declared type; ValueError with the problem otherwise."""
    if text == "":
        if f.nullable:
            return "" if f.kind in ("str", "enum", "time") else None
        raise ValueError("empty, but the column needs a value")
    if f.kind == "int":
        if not INT_RE.match(text):
            raise ValueError("not an integer")
        value: Any = int(text)
    elif f.kind == "float":
        try:
            value = float(text)
        except ValueError:
            raise ValueError("not a number") from None
        if math.isnan(value) or (f.finite and math.isinf(value)):
            raise ValueError("not a finite number")
    elif f.kind == "bool":
        if text not in ("0", "1"):
            raise ValueError("expected 0 or 1")
        return text == "1"
    elif f.kind == "enum":
        if text not in f.choices:
            raise ValueError(f"expected one of {', '.join(f.choices)}")
        return text
    elif f.kind == "time":
        if not TIME_RE.match(text):
            raise ValueError("not a UTC timestamp like 2026-01-31T12:00:00+00:00")
        return text
    else:
        return text
    if f.minimum is not None and value < f.minimum:
        raise ValueError(f"below {f.minimum:g}")
    return value


def format_cell(value: Any) -> Any:
    """A value as a CSV cell: None and NaN empty, booleans 0/1, newlines out of text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        return " ".join(value.splitlines())  # one row, one line: readers split on newlines
    if hasattr(value, "item"):  # NumPy scalars
        return format_cell(value.item())
    return value


# ---- reading -------------------------------------------------------------------------------------
@dataclass
class Rows:
    """The typed rows of one CSV file, with the line number of each and a torn last line if skipped."""

    rows: list[dict[str, Any]]
    lines: list[int]
    torn: str | None = None
    path: Path = field(default_factory=Path)


def read_text(path: Path, *, what: str = "") -> str:
    """A text file's content; StoreError when missing, a directory, unreadable, binary or not UTF-8."""
    path = Path(path)
    label = f"{what}: {path}" if what else str(path)
    if not path.exists():
        raise StoreError(f"{label}: missing")
    if path.is_dir():
        raise StoreError(f"{label}: is a directory, expected a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"{label}: cannot read: {exc.strerror}") from None
    if b"\x00" in data:
        raise StoreError(f"{label}: contains NUL bytes: a binary or corrupted file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StoreError(f"{label}: not UTF-8 text (byte {exc.start}): a binary or corrupted file") from None


def read_table(path: Path, table: Table, *, allow_missing: bool = False, torn_ok: bool = True) -> Rows:
    """Every row of a CSV file declared by `table`, typed; StoreError naming the line, column and value.

    `torn_ok`: an invalid last line without a newline is a write cut short (skipped, in `Rows.torn`)
    in a file that is appended to; in a file that is only ever replaced whole it is an error.
    """
    path = Path(path)
    if allow_missing and not path.exists():
        return Rows([], [], None, path)
    text = read_text(path)
    if not text:
        raise StoreError(f"{path}: empty file (no header row)")
    lines = text.split("\n")
    terminated = lines[-1] == ""
    if terminated:
        lines.pop()
    header = _cells(lines[0], path, 1)
    if header != list(table.names):
        raise StoreError(f"{path}: {_header_problem(header, table)}")
    out = Rows([], [], None, path)
    names, fields = table.names, table.fields
    seen: dict[tuple, int] = {}
    key_idx = [names.index(k) for k in table.key]
    for i, line in enumerate(lines[1:], start=2):
        last_unterminated = i == len(lines) and not terminated
        try:
            cells = _cells(line, path, i)
            if len(cells) != len(names):
                raise StoreError(f"{path}: line {i}: {len(cells)} fields, expected {len(names)}")
            row = {}
            for f, text_cell in zip(fields, cells):
                try:
                    row[f.name] = parse_cell(f, text_cell)
                except ValueError as exc:
                    raise StoreError(f"{path}: line {i}: column {f.name!r}: {text_cell!r}: {exc}") from None
        except StoreError:
            if last_unterminated and torn_ok:  # a write cut short by a kill: not a row (not ours to repair here)
                out.torn = line
                break
            raise
        key = tuple(cells[k] for k in key_idx)
        if key in seen:
            raise StoreError(f"{path}: line {i}: duplicate row for {dict(zip(table.key, key))} "
                             f"(first on line {seen[key]})")
        seen[key] = i
        out.rows.append(row)
        out.lines.append(i)
    return out


def _cells(line: str, path: Path, lineno: int) -> list[str]:
    try:
        return next(csv.reader([line], strict=True), [])
    except csv.Error as exc:
        raise StoreError(f"{path}: line {lineno}: not valid CSV ({exc})") from None


def _header_problem(header: list[str], table: Table) -> str:
    missing = [n for n in table.names if n not in header]
    unknown = [h for h in header if h not in table.names]
    if missing or unknown:
        parts = ([f"missing column(s) {', '.join(missing)}"] if missing else []) + (
            [f"unknown column(s) {', '.join(unknown)}"] if unknown else [])
        return "header: " + "; ".join(parts) + f" (expected the {table.file} columns of this schema version)"
    return f"header: columns out of order (expected {', '.join(table.names)})"


def read_json(path: Path, *, what: str = "") -> Any:
    """A JSON file; StoreError when unreadable or not strict JSON (NaN and Infinity are refused)."""
    text = read_text(path, what=what)
    label = f"{what}: {path}" if what else str(path)

    def no_constants(token: str) -> Any:
        raise ValueError(f"{token} is not JSON")

    try:
        return json.loads(text, parse_constant=no_constants)
    except ValueError as exc:
        raise StoreError(f"{label}: not valid JSON ({exc})") from None


# ---- writing -------------------------------------------------------------------------------------
def sanitize(value: Any) -> Any:
    """JSON-ready: non-finite floats become None (JSON has no NaN), NumPy scalars plain, paths strings."""
    if isinstance(value, Mapping):
        return {str(k): sanitize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sanitize(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # NumPy scalars
        return sanitize(value.item())
    return str(value)


def dumps_json(data: Any) -> str:
    """Strict JSON text (never NaN or Infinity), indented."""
    return json.dumps(sanitize(data), indent=2, allow_nan=False) + "\n"


def check_output(path: str | Path, what: str, *, directory: bool = False) -> Path:
    """Refuse an output path before any work: StoreError when it cannot be the file (or folder) asked for."""
    if not str(path).strip():
        raise StoreError(f"{what}: empty: name a {'folder' if directory else 'file'}")
    path = Path(path)
    if path.exists() and path.is_dir() != directory:
        raise StoreError(f"{what}: {path}: is {'a file' if directory else 'a directory'}, expected "
                         f"{'a directory' if directory else 'a file name'}")
    parent = next((p for p in ((path, *path.parents) if directory else path.parents) if p.exists()), Path("."))
    if not parent.is_dir():
        raise StoreError(f"{what}: {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK):
        raise StoreError(f"{what}: {path}: {parent} is not writable")
    return path


def atomic_write(path: Path, text: str, *, what: str) -> Path:
    """Write a whole file under a temporary name in its folder, fsync, rename; StoreError on failure.

    A reader never sees a half-written file, and a failure leaves the old file as it was.
    """
    path = Path(path)
    if path.is_dir():
        raise StoreError(f"{what}: {path}: is a directory, expected a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{what}: {path}: cannot create its folder: {exc.strerror or exc}") from None
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WriteError(f"{what}: {path}: cannot write: {exc.strerror or exc}") from None
    return path


def write_json(path: Path, data: Any, *, what: str) -> Path:
    """Strict JSON, written atomically."""
    return atomic_write(path, dumps_json(data), what=what)


def csv_text(table: Table, rows: Iterable[Mapping[str, Any]], *, header: bool = True) -> str:
    """Rows as CSV text with the table's columns in order (a missing or extra key is an error)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=table.names, extrasaction="raise", lineterminator="\n")
    if header:
        writer.writeheader()
    for row in rows:
        missing = [n for n in table.names if n not in row]
        if missing:
            raise KeyError(f"{table.file}: row without {', '.join(missing)}")
        writer.writerow({k: format_cell(v) for k, v in row.items()})
    return buf.getvalue()


def write_table(path: Path, table: Table, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Replace a CSV file atomically."""
    return atomic_write(path, csv_text(table, rows), what=table.file)


class WriteError(StoreError):
    """A file of the run could not be written (a full disk, a lost mount): what was written before stays."""


class CsvAppender:
    """Appends rows to one of the store's CSV files, unbuffered: each write goes to the file at once and is
    fsynced, so a kill or a full disk leaves whole rows and at most one torn last line (repaired by
    --resume), and nothing is left in a buffer to fail again at close."""

    def __init__(self, path: Path, table: Table) -> None:
        self.path, self.table = Path(path), table
        new = not self.path.exists() or self.path.stat().st_size == 0
        if not new:
            with open(self.path, "rb") as fh:
                first = fh.readline().decode("utf-8", "replace").rstrip("\n")
                fh.seek(-1, os.SEEK_END)
                ends_clean = fh.read(1) == b"\n"
            if next(csv.reader([first]), []) != list(table.names):
                raise StoreError(f"{self.path}: {_header_problem(next(csv.reader([first]), []), table)}")
            if not ends_clean:
                raise StoreError(f"{self.path}: last line is torn; resume repairs it first")
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if new:
            self._put(csv_text(table, [], header=True))

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows in one write and put them on disk now."""
        self._put(csv_text(self.table, rows, header=False))

    def _put(self, text: str) -> None:
        data = text.encode("utf-8")
        try:
            while data:
                data = data[os.write(self._fd, data):]
            os.fsync(self._fd)
        except OSError as exc:
            raise WriteError(f"{self.path}: cannot write: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Close the file (nothing is buffered: nothing can fail to be written here)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def repair_torn_tail(path: Path, table: Table) -> str | None:
    """For --resume, under the lock: end the file on a newline. A complete valid last row gets its
    newline; a torn one is cut off. Returns what was done, or None when the file was clean."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return None
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return None
    rows = read_table(path, table)
    with open(path, "r+b") as fh:
        if rows.torn is None:  # a complete row that lacks only its newline: keep it
            fh.seek(0, os.SEEK_END)
            fh.write(b"\n")
            what = "newline added after a complete last row"
        else:
            keep = data.rfind(b"\n") + 1
            fh.truncate(keep)
            what = f"torn last line dropped ({len(data) - keep} bytes)"
        fh.flush()
        os.fsync(fh.fileno())
    return what


@dataclass
class Tables:
    """The three CSV files of a run directory, as typed rows."""

    raw: Rows
    repeats: Rows
    summary: Rows


def read_tables(run_dir: Path) -> Tables:
    """raw.csv, repeats.csv and summary.csv of a current-schema run directory, typed row by row."""
    return Tables(*(read_table(Path(run_dir) / t.file, t) for t in (RAW, REPEATS, SUMMARY)))
