"""Generated corruptions of the files the CLIs read, and a harness that runs a CLI in-process and
says whether it handled the input cleanly (exit 2, one line naming the problem, no traceback, no
file changed or created). Used by tests/test_bad_inputs.py (hypothesis) and scripts/fuzz_inputs.py.

Every corruption here is one the store can detect by its declared rules (a wrong type, a missing
or extra column, a cut, binary bytes, a row missing or doubled, a file that disagrees with the
others). Changes it cannot see by design (one plausible number for another, free text) are not
generated.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path

from bench.format import HISTORY, RAW, REPEATS, SCHEMA_VERSION, SUMMARY

CSV_TABLES = {"raw.csv": RAW, "repeats.csv": REPEATS, "summary.csv": SUMMARY}
# any text is valid in these
FREE_TEXT = {"device_actual", "reason", "machine", "machine_label", "machine_label_key", "commit", "run_finished_utc",
             "node"}
HISTORY_FREE = {"run_id"}  # history.csv: a row of another run is still a valid row (no meta.json to match)
BAD_TOKENS = {"int": ["abc", "1.5", "-1", "", "1e3", "0x10"], "float": ["abc", "nan", "-1", "", "1,0", "--2"],
              "bool": ["2", "yes", "", "-1"], "enum": ["bogus", "", "CPU"], "time": ["yesterday", "2026-13", ""],
              "str": ["bogus-id"]}


# ---- bytes ---------------------------------------------------------------------------------------
def cut(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Truncate inside a line (never only a trailing newline, never at a line boundary)."""
    body = data.rstrip(b"\r\n")
    if len(body) < 2:
        return b"", "emptied"
    for _ in range(100):
        k = rng.randrange(1, len(body))
        if data[k - 1:k] not in (b"\n", b"\r") and data[k:k + 1] not in (b"\n", b"\r"):
            return data[:k], f"cut at byte {k} of {len(data)}"
    return data[:1], "cut at byte 1"


def binary(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Random bytes spliced in (a NUL or invalid UTF-8 among them), or the whole file replaced."""
    junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 32))) + rng.choice([b"\x00", b"\xff\xfe", b"\xc3"])
    if rng.random() < 0.3:
        return junk, "replaced by binary"
    k = rng.randrange(len(data) + 1)
    return data[:k] + junk + data[k:], f"binary bytes at {k}"


# ---- CSV -----------------------------------------------------------------------------------------
def _split(line: str) -> list[str]:
    return next(csv.reader([line]))


def _unsplit(cells: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(cells)
    return buf.getvalue()


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8").splitlines()


def _join(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


CSV_KINDS = ("cell", "cell", "cell", "drop_column", "drop_row", "dup_row", "header_only", "extra_column",
             "swap_columns", "fewer_fields")


def csv_edit(data: bytes, table, rng: random.Random, kinds=CSV_KINDS) -> tuple[bytes, str]:
    """A structural or typed change to one of the store's CSV files."""
    lines = _lines(data)
    header, rows = _split(lines[0]), lines[1:]
    kind = rng.choice(kinds)
    if kind == "drop_column":
        # (history.csv without its first column, schema_version, is a valid schema 1 history)
        c = rng.randrange(1 if table is HISTORY else 0, len(header))
        return _join([_unsplit([x for j, x in enumerate(_split(line)) if j != c]) for line in lines]), \
            f"column {header[c]} removed"
    if kind == "extra_column":
        return _join([lines[0] + ",extra"] + [r + ",1" for r in rows]), "unknown column added"
    if kind == "swap_columns" and len(header) > 2:
        i, j = rng.sample(range(len(header)), 2)
        h = header[:]
        h[i], h[j] = h[j], h[i]
        return _join([",".join(h)] + rows), f"columns {header[i]} and {header[j]} swapped in the header"
    if not rows:
        return cut(data, rng)
    r = rng.randrange(len(rows))
    if kind == "drop_row":
        return _join([lines[0]] + rows[:r] + rows[r + 1:]), f"data row {r + 1} removed"
    if kind == "dup_row":
        return _join([lines[0]] + rows[:r + 1] + rows[r:]), f"data row {r + 1} doubled"
    if kind == "header_only":
        return _join([lines[0]]), "header only"
    if kind == "fewer_fields":
        return _join([lines[0]] + rows[:r] + [_unsplit(_split(rows[r])[:-2])] + rows[r + 1:]), \
            f"row {r + 1} short of 2 fields"
    # a cell set to a value its column's type refuses
    fields = [f for f in table.fields if f.name not in FREE_TEXT and f.name in header
              and not (table is HISTORY and f.name in HISTORY_FREE)]
    f = rng.choice(fields)
    tokens = [t for t in BAD_TOKENS[f.kind] if not (t == "" and f.nullable)]
    if f.kind == "float" and f.minimum is None:
        tokens = [t for t in tokens if t != "-1"]
    if f.kind == "int" and f.minimum is not None and f.minimum < 0:
        tokens = [t for t in tokens if t != "-1"]
    token = rng.choice(tokens or ["abc"])
    cells = _split(rows[r])
    c = header.index(f.name)
    if c >= len(cells) or cells[c] == token:
        return _join([lines[0]] + rows[:r] + rows[r + 1:]), f"data row {r + 1} removed"
    cells[c] = token
    rows[r] = _unsplit(cells)
    return _join([lines[0]] + rows), f"row {r + 1} column {f.name} = {token!r}"


# ---- JSON ----------------------------------------------------------------------------------------
def meta_edit(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A meta.json the store must refuse."""
    meta = json.loads(data)
    kind = rng.choice(["type", "version", "missing", "spec", "host", "peak", "nan", "tf", "machines", "workload"])
    if kind == "type":
        value = rng.choice([[], [1, 2], "meta", 3, None, True])
        return json.dumps(value).encode(), f"meta.json is {value!r}"
    if kind == "version":
        # a newer version; 4..1: older readers, wrong columns
        value = rng.choice([99, 0, -1, "2", None, 2.5, True, SCHEMA_VERSION + 1, 4, 3, 2, 1])
        return json.dumps({**meta, "schema_version": value}).encode(), f"schema_version {value!r}"
    if kind == "workload":  # the workload's record, read in place of its module: typed
        key, value = rng.choice([("name", 5), ("size_name", None), ("has_flops", "yes"), ("spec", []),
                                 ("spec", "cnn"), ("name", "cnn")])  # another workload's record than the sweep's
        facts = {**(meta.get("workload") or {"name": "mlp", "spec": "mlp", "summary": "", "size_name": "hidden",
                                              "size_doc": "", "has_flops": True}), key: value}
        return json.dumps({**meta, "workload": facts}).encode(), f"workload.{key} = {value!r}"
    if kind == "missing":
        key = rng.choice(["schema_version", "run_id", "spec", "command", "host", "order_seed", "started_at",
                          "machines"])
        return json.dumps({k: v for k, v in meta.items() if k != key}).encode(), f"{key} removed"
    if kind == "spec":
        key, value = rng.choice([("batch_sizes", [0]), ("modes", ["turbo"]), ("epochs", 1), ("n_train", "many"),
                                 ("devices", []), ("unknown_key", 1), ("target_ci", -1)])
        return json.dumps({**meta, "spec": {**meta["spec"], key: value}}).encode(), f"spec.{key} = {value!r}"
    if kind == "host":
        value = rng.choice([[], "host", 1])
        return json.dumps({**meta, "host": value}).encode(), f"host = {value!r}"
    if kind == "peak":
        value = rng.choice([[1], [{"status": "ok"}], "peaks", [{"status": "ok", "device": "cpu", "dtype": "float32",
                                                                 "threads": 0, "n": 8, "gflops_best": "fast"}]])
        return json.dumps({**meta, "peak": value}).encode(), f"peak = {value!r}"
    if kind == "machines":  # not the object of ids the rows name
        value = rng.choice([[], "m", {"5CA1AB1E": {}}, {"5ca1ab1e": 1}, {}, {"0badc0de": {}}])
        return json.dumps({**meta, "machines": value}).encode(), f"machines = {value!r}"
    if kind == "tf":
        value = rng.choice([{"nvidia_smi": "H100"}, {"tensorflow": 2.21}, "tf"])
        return json.dumps({**meta, "tensorflow": value}).encode(), f"tensorflow = {value!r}"
    text = json.dumps({**meta, "order_seed": 1.5}).replace("1.5", rng.choice(["NaN", "Infinity", "-Infinity"]))
    return text.encode(), "a NaN/Infinity token"


def run_dir_corruption(run_dir: Path, rng: random.Random) -> str:
    """Apply one generated corruption to a copy of a run directory; returns what was done."""
    name = rng.choice(["meta.json", "raw.csv", "repeats.csv", "summary.csv"])
    path = run_dir / name
    how = rng.choice(["edit", "edit", "edit", "cut", "binary", "missing", "directory"])
    if how == "missing":
        path.unlink()
        return f"{name}: deleted"
    if how == "directory":
        path.unlink()
        path.mkdir()
        return f"{name}: a directory"
    data = path.read_bytes()
    if how == "cut":
        new, what = cut(data, rng)
    elif how == "binary":
        new, what = binary(data, rng)
    elif name == "meta.json":
        new, what = meta_edit(data, rng)
    else:
        new, what = csv_edit(data, CSV_TABLES[name], rng)
    path.write_bytes(new)
    return f"{name}: {what}"


def history_corruption(path: Path, rng: random.Random) -> str:
    """Apply one generated corruption to a history.csv."""
    data = path.read_bytes()
    how = rng.choice(["edit", "edit", "cut", "binary"])
    # rows dropped whole are a shorter valid history: no other file says they were there
    kinds = tuple(k for k in CSV_KINDS if k not in ("drop_row", "header_only"))
    new, what = cut(data, rng) if how == "cut" else binary(data, rng) if how == "binary" else \
        csv_edit(data, HISTORY, rng, kinds)
    path.write_bytes(new)
    return f"history.csv: {what}"


def benchmark_json_corruption(path: Path, rng: random.Random) -> str:
    """Apply one generated corruption to a pytest-benchmark JSON file."""
    data = json.loads(path.read_bytes())
    how = rng.choice(["cut", "binary", "type", "benchmarks", "stats", "data", "name"])
    if how == "cut":
        new, what = cut(path.read_bytes(), rng)
        path.write_bytes(new)
        return f"benchmark json: {what}"
    if how == "binary":
        new, what = binary(path.read_bytes(), rng)
        path.write_bytes(new)
        return f"benchmark json: {what}"
    bench = data["benchmarks"][rng.randrange(len(data["benchmarks"]))]
    if how == "type":
        data = rng.choice([[], "x", 1, None, {"machine_info": {}}])
    elif how == "benchmarks":
        data["benchmarks"] = rng.choice([None, "b", [1], [], {"a": 1}])
    elif how == "stats":
        bench["stats"] = rng.choice([None, [], "s", {}])
    elif how == "data":
        bench["stats"]["data"] = rng.choice([["a"], [0.1, -1], [None], "0.1", [0.1, True], [0.0], {"x": 1}])
    else:
        bench.pop("fullname", None)
        bench["name"] = rng.choice([None, 3, "", ["n"]])
    path.write_text(json.dumps(data))
    return f"benchmark json: {how}"


# ---- the harness -------------------------------------------------------------------------------------
def digest(root: Path) -> dict[str, str]:
    """Every file under root (names and content hashes): any write or new file shows."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def call(main: Callable[[list[str]], int], argv: list[str]) -> tuple[int, str, str]:
    """Run a CLI's main in-process: (exit status, stdout, stderr); an escaping exception is a traceback."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except Exception as exc:  # noqa: BLE001 - the failure this harness looks for
            import traceback

            return 99, out.getvalue(), err.getvalue() + "Traceback (in-process)\n" + "".join(
                traceback.format_exception(exc))
    return code, out.getvalue(), err.getvalue()


def handled(code: int, err: str, prog: str, before: dict[str, str], after: dict[str, str]) -> str | None:
    """None when the input was refused cleanly; otherwise what went wrong."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if "Traceback" in err:
        return "traceback: " + err.strip().splitlines()[-1][:200]
    if code != 2:
        return f"exit {code}"
    if len(lines) != 1 or not lines[0].startswith(f"{prog}: error: "):
        return f"message not one '{prog}: error:' line: {err[:200]!r}"
    if before != after:
        changed = sorted(set(before.items()) ^ set(after.items()))
        return f"files changed: {changed[:3]}"
    return None


def fresh_copy(src: Path, dst: Path) -> Path:
    """A copy of a directory to corrupt."""
    if dst.exists():
        shutil.rmtree(dst)
    return Path(shutil.copytree(src, dst))


# ---- the cases -------------------------------------------------------------------------------------
def _clis() -> dict[str, tuple[Callable, str, list[str]]]:
    from bench.cli.analysis import main as analysis_main
    from bench.cli.compare import main as compare_main
    from bench.cli.history import main as history_main
    from bench.cli.plot import main as plot_main
    from bench.cli.run import main as run_main
    from bench.cli.store import main as store_main

    return {  # RUN: the corrupted copy; GOOD: an intact one beside it; OUT: an empty folder for outputs
        "analysis": (analysis_main, "python -m bench.analysis", ["RUN"]),
        "plot": (plot_main, "python -m bench.plot", ["RUN"]),
        "compare (baseline)": (compare_main, "python -m bench.compare", ["RUN", "GOOD"]),
        "compare (candidate)": (compare_main, "python -m bench.compare", ["GOOD", "RUN", "--json", "OUT/rows.json"]),
        "history export": (history_main, "python -m bench.history", ["export", "RUN", "--out", "OUT/bench.json"]),
        "history append": (history_main, "python -m bench.history", ["append", "RUN", "--history",
                                                                     "OUT/history.csv"]),
        "store check": (store_main, "python -m bench.store", ["check", "RUN"]),
        "run --resume": (run_main, "python -m bench.run", ["--resume", "RUN", "--quiet", "--no-plots"]),
    }


RUN_DIR_CLIS = _clis()


def run_dir_case(pristine: Path, seed: int, cli: str) -> tuple[str, str | None]:
    """(the corruption, None or what the CLI got wrong) for one generated corruption of a run directory."""
    import tempfile

    main, prog, argv = RUN_DIR_CLIS[cli]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = fresh_copy(pristine, tmp / "run")
        good = fresh_copy(pristine, tmp / "good")
        (tmp / "out").mkdir()
        what = run_dir_corruption(run, random.Random(seed))
        before = digest(tmp)
        args = [a.replace("RUN", str(run)).replace("GOOD", str(good)).replace("OUT", str(tmp / "out")) for a in argv]
        code, _, err = call(main, args)
        return what, handled(code, err, prog, before, digest(tmp))


def benchmark_json_case(seed: int) -> tuple[str, str | None]:
    """A corrupted pytest-benchmark JSON file as either side of bench.compare."""
    import tempfile

    from bench.cli.compare import main as compare_main

    benches = [{"name": f"test_epoch[{c}]", "fullname": f"b.py::test_epoch[{c}]",
                "stats": {"median": 0.01, "data": [0.01, 0.011, 0.0105]}} for c in ("a", "b")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        good, bad = tmp / "good.json", tmp / "bad.json"
        good.write_text(json.dumps({"machine_info": {"cpu": {"brand_raw": "X"}}, "benchmarks": benches}))
        shutil.copy(good, bad)
        what = benchmark_json_corruption(bad, random.Random(seed))
        before = digest(tmp)
        for argv in ([str(good), str(bad)], [str(bad), str(good)]):
            code, _, err = call(compare_main, argv)
            problem = handled(code, err, "python -m bench.compare", before, digest(tmp))
            if problem:
                return what, problem
        return what, None


def history_case(pristine: Path, history_file: Path, seed: int) -> tuple[str, str | None]:
    """A corrupted history.csv read by `history plot` and `history append`."""
    import tempfile

    from bench.cli.history import main as history_main

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = tmp / "history.csv"
        shutil.copy(history_file, path)
        what = history_corruption(path, random.Random(seed))
        before = digest(tmp)
        for argv in (["plot", "--history", str(path), "--out", str(tmp / "plots")],
                     ["append", str(pristine), "--history", str(path)]):
            code, _, err = call(history_main, argv)
            problem = handled(code, err, "python -m bench.history", before, digest(tmp))
            if problem:
                return f"{argv[0]}: {what}", problem
        return what, None
