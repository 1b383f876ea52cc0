"""The store: typed reads that never write, schema versions, consistency checks, atomic writes,
strict JSON, the resume-only repair, version 1 directories, the protocol, and the README's column
dictionary."""

import hashlib
import json
import math
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from bench.cli.store import main as store_main
from bench.format import (
    HISTORY,
    RAW,
    REPEATS,
    SCHEMA_VERSION,
    SUMMARY,
    StoreError,
    column_dictionary,
    load_run,
    write_json,
)
from bench.format.identity import legacy_machine
from bench.format.io import dumps_json, read_json, read_table, repair_torn_tail
from bench.format.messages import (
    Hello,
    PeakResult,
    PeakTask,
    ProtocolError,
    RepeatResult,
    RepeatTask,
    decode,
    encode,
)
from tests.synthetic import make_run

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("store") / "run", devices="cpu")


@pytest.fixture
def run_dir(pristine, tmp_path):
    return Path(shutil.copytree(pristine, tmp_path / "run"))


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_load_run_types_the_frames(pristine):
    run = load_run(pristine)
    s, r, raw = run.summary, run.repeats, run.raw
    assert (len(s), len(r), len(raw)) == (48, 48 * 3, 48 * 3 * 4)
    assert str(s["batch_size"].dtype) == "int64" and str(s["median_s"].dtype) == "float64"
    assert set(s["reason"]) == {""} and s["reason"].dtype != float  # empty reasons read as empty text
    assert r["gpu_peak_bytes"].isna().all() and str(r["gpu_peak_bytes"].dtype) == "Int64"  # CPU trials: no GPU peak
    assert str(raw["is_warmup"].dtype) == "bool" and set(raw.columns) >= {"workload", "device", "mode", "size"}
    # summary losses are named for what they are: median, min, max over the 3 repeats (hand-built: 0.25 + 0.01 r)
    row = s.set_index("config_id").loc["cpu-eager-float32-b16-h8-t0"]
    assert row["loss"] == "mse"
    assert (row["train_loss_median"], row["train_loss_min"], row["train_loss_max"]) == pytest.approx((0.26, 0.25, 0.27))
    assert (row["test_loss_median"], row["test_loss_min"], row["test_loss_max"]) == pytest.approx((1.51, 1.5, 1.52))
    assert row[["test_accuracy_median", "test_mae_median"]].isna().all()  # no metric asked for: empty
    assert len(run.samples["cpu-eager-float32-b16-h8-t0"]) == 9  # 3 repeats x 3 timed epochs, warm-ups left out


def test_readers_never_write_and_a_complete_row_without_newline_is_a_row(run_dir):
    for name in ("summary.csv", "raw.csv", "repeats.csv"):
        path = run_dir / name
        path.write_bytes(path.read_bytes().rstrip(b"\n"))
    before = digest(run_dir)
    run = load_run(run_dir)
    assert len(run.summary) == 48 and run.warnings == ()
    assert store_main(["check", str(run_dir)]) == 0
    assert digest(run_dir) == before


def test_a_torn_last_line_is_skipped_by_readers_and_repaired_only_by_resume(run_dir):
    raw = run_dir / "raw.csv"
    good = raw.read_bytes()
    # a kill mid-write: the last repeat's epoch rows and half a line of a repeat never committed
    (run_dir / "meta.json").write_text(json.dumps({**json.loads((run_dir / "meta.json").read_text()),
                                                   "finished_at": None}))
    raw.write_bytes(good + b"cpu-eager-float32-b16-h8-t0,3,0,1,0.0")
    before = digest(run_dir)
    run = load_run(run_dir)
    assert any("torn last line" in w for w in run.warnings) and len(run.raw) == 48 * 12
    assert digest(run_dir) == before  # the reader left it as it was
    assert repair_torn_tail(raw, RAW).startswith("torn last line dropped")
    assert raw.read_bytes() == good
    raw.write_bytes(good.rstrip(b"\n"))
    assert repair_torn_tail(raw, RAW) == "newline added after a complete last row" and raw.read_bytes() == good
    assert repair_torn_tail(raw, RAW) is None


@pytest.mark.parametrize("version", [99, 0, "2", None, 2.5, True])
def test_unknown_schema_version_is_refused_naming_the_file_and_versions(run_dir, version):
    meta = json.loads((run_dir / "meta.json").read_text())
    meta["schema_version"] = version
    (run_dir / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match=r"meta\.json: schema_version") as err:
        load_run(run_dir)
    if version == 99:
        assert "99 is not one this eager-mlp-bench reads (1, 2, 3, 4, 5, 6, 7)" in str(err.value)


def _edit(path: Path, fn) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(fn(lines)) + "\n")


@pytest.mark.parametrize(("file", "edit", "message"), [
    ("summary.csv", lambda ls: [ls[0]] + [re.sub(r",9,", ",8,", ls[1], count=1)] + ls[2:],
     r"line 2 .*: n 8, but raw.csv has 9 timed epochs"),
    ("summary.csv", lambda ls: ls[:-1], r"the run finished .* 1 trial\(s\) have no row"),
    ("summary.csv", lambda ls: [ls[0], ls[1].replace("-b16-", "-b32-", 1)] + ls[2:], r"does not match the row's axes"),
    ("summary.csv", lambda ls: [ls[0], ls[1].replace(",ok,", ",fine,", 1)] + ls[2:], r"column 'status': 'fine'"),
    ("summary.csv", lambda ls: [ls[0], ls[1]] + ls[1:], r"duplicate row"),
    ("repeats.csv", lambda ls: [ls[0]] + ls[2:], r"repeats \[1, 2\] are not numbered 0..1"),
    ("raw.csv", lambda ls: ls[:5] + ls[6:], r"repeat 1: epochs \[1, 2, 3\], but repeats.csv records 4"),
    ("raw.csv", lambda ls: [ls[0].replace("train_loss", "mse")] + ls[1:], r"header: missing column\(s\) train_loss; "
                                                                          r"unknown column\(s\) mse"),
    ("raw.csv", lambda ls: [ls[0], ls[1].replace(",1,", ",0,", 1)] + ls[2:], r"is_warmup must be 1 for epoch 0"),
    ("raw.csv", lambda ls: [ls[0], ls[1][:-3] + "abc"] + ls[2:], r"line 2: column 'train_loss': .*not a number"),
])
def test_inconsistent_files_are_refused_with_the_file_and_line(run_dir, file, edit, message):
    _edit(run_dir / file, edit)
    before = digest(run_dir)
    with pytest.raises(StoreError, match=message) as err:
        load_run(run_dir)
    assert str(run_dir / file) in str(err.value) or file in str(err.value)
    assert digest(run_dir) == before


def test_binary_and_non_utf8_files(run_dir):
    (run_dir / "summary.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(StoreError, match="contains NUL bytes"):
        load_run(run_dir)
    (run_dir / "summary.csv").write_bytes("médian".encode("latin-1"))
    with pytest.raises(StoreError, match="not UTF-8 text"):
        load_run(run_dir)
    (run_dir / "meta.json").write_text("[1, 2]")
    with pytest.raises(StoreError, match="expected a JSON object, found list"):
        load_run(run_dir)


def test_meta_fields_are_checked(run_dir):
    meta = json.loads((run_dir / "meta.json").read_text())
    for bad, message in ((dict(meta, spec=None), "spec: None: expected object"),
                         (dict(meta, spec={**meta["spec"], "batch_sizes": [0]}), "spec: batch_sizes: 0: must be"),
                         ({k: v for k, v in meta.items() if k != "spec"}, "spec: missing"),
                         (dict(meta, host=[]), r"host: \[\]: expected object"),
                         (dict(meta, peak=[{"status": "ok", "device": "cpu"}]), r"peak\[0\]\.dtype")):
        (run_dir / "meta.json").write_text(json.dumps(bad))
        with pytest.raises(StoreError, match=message):
            load_run(run_dir)


def test_json_is_strict_both_ways(tmp_path):
    path = write_json(tmp_path / "a.json", {"x": math.nan, "y": [math.inf, 1.5], "z": -math.inf}, what="a")
    assert json.loads(path.read_text()) == {"x": None, "y": [None, 1.5], "z": None}
    assert "NaN" not in dumps_json([float("nan")])
    (tmp_path / "b.json").write_text('{"value": NaN}')
    with pytest.raises(StoreError, match="NaN is not JSON"):
        read_json(tmp_path / "b.json")
    with pytest.raises(StoreError, match="is a directory"):
        write_json(tmp_path, {}, what="out")


def test_version_1_directories_are_read_and_upgraded(tmp_path):
    reference = ROOT / "tests" / "data" / "schema1-run"  # cut from the schema 1 reference run: 4 trials
    before = digest(reference)
    old = load_run(reference)
    assert digest(reference) == before
    assert old.schema_version == 1 and len(old.summary) == 4 and len(old.repeats) == old.summary["repeats"].sum()
    # per-repeat values that schema 1 repeated on every epoch row are one repeats row each now
    assert len(old.raw) == 5 * len(old.repeats) and old.repeats["worker_pid"].isna().all()
    assert store_main(["upgrade", str(reference), str(tmp_path / "v2")]) == 0
    new = load_run(tmp_path / "v2")
    assert new.schema_version == SCHEMA_VERSION
    (machine,) = old.meta["machines"]  # its one machine, fingerprinted from meta.json's host facts
    assert new.meta["machines"] == old.meta["machines"] and machine == legacy_machine(old.meta)[0]
    for frame in (old.raw, old.repeats, old.summary):
        assert set(frame["machine"]) == {machine}
    for name in ("summary", "repeats", "raw"):
        a, b = getattr(old, name), getattr(new, name)
        if name == "summary":
            assert set(a["schema_version"]) == {1} and set(b["schema_version"]) == {SCHEMA_VERSION}
            a, b = a.drop(columns="schema_version"), b.drop(columns="schema_version")
        assert list(a.columns) == list(b.columns) and a.equals(b), name


def test_version_2_directories_are_read_with_their_machine(tmp_path):
    reference = ROOT / "tests" / "data" / "schema2-run"  # written by schema 2 (cut from the old reference)
    before = digest(reference)
    old = load_run(reference)
    assert digest(reference) == before and old.schema_version == 2
    mid, facts = legacy_machine(old.meta)
    assert old.meta["machines"] == {mid: facts} and facts["cpu_model"] == old.meta["host"]["cpu_model"]
    assert set(old.raw["machine"]) == set(old.repeats["machine"]) == set(old.summary["machine"]) == {mid}
    assert set(old.repeats["node"]) == {old.meta["host"]["hostname"]}
    assert store_main(["upgrade", str(reference), str(tmp_path / "v3")]) == 0
    new = load_run(tmp_path / "v3")
    assert new.schema_version == SCHEMA_VERSION and new.meta["machines"] == {mid: facts}
    pd.testing.assert_frame_equal(old.repeats, new.repeats)
    pd.testing.assert_frame_equal(old.raw, new.raw)


def test_rows_must_name_a_machine_of_meta_and_a_trial_stays_on_one(tmp_path):
    run_dir = make_run(tmp_path / "run", devices="cpu", modes="eager")
    meta = json.loads((run_dir / "meta.json").read_text())
    meta["machines"] = {"0badc0de": {}}
    (run_dir / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match=r"raw\.csv: line 2: machine '5ca1ab1e' is not in meta\.json's machines"):
        load_run(run_dir)
    meta["machines"]["5ca1ab1e"] = {}
    (run_dir / "meta.json").write_text(json.dumps(meta))
    lines = (run_dir / "repeats.csv").read_text().splitlines()
    lines[2] = lines[2].replace("5ca1ab1e", "0badc0de")  # the second repeat of the first trial elsewhere
    (run_dir / "repeats.csv").write_text("\n".join(lines) + "\n")
    raw = (run_dir / "raw.csv").read_text().splitlines()
    cid = lines[2].split(",")[1]
    raw = [r.replace("5ca1ab1e", "0badc0de") if r.startswith(f"{cid},5ca1ab1e,1,") else r for r in raw]
    (run_dir / "raw.csv").write_text("\n".join(raw) + "\n")
    with pytest.raises(StoreError, match=rf"trial {cid}: repeats ran on machines \['0badc0de', '5ca1ab1e'\]"):
        load_run(run_dir)


def test_upgrade_never_overwrites_its_input(pristine, capsys):
    assert store_main(["upgrade", str(pristine), str(pristine)]) == 2
    assert "never overwrites its input" in capsys.readouterr().err


def test_appending_to_a_table_keeps_its_declared_columns(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text(",".join(HISTORY.names) + "\n")
    assert read_table(path, HISTORY).rows == []
    for table in (RAW, REPEATS, SUMMARY, HISTORY):
        assert len(set(table.names)) == len(table.names) and set(table.key) <= set(table.names)


def test_protocol_round_trip_and_the_legacy_dialect():
    task = RepeatTask(device="cpu", mode="eager", dtype="float32", batch_size=4, size=20, threads=0, repeat=1,
                      seed=1, data_seed=0, epochs=5, n_train=800, n_test=200, learning_rate=1e-4)
    for message in (task, PeakTask(device="cpu", dtype="float32", n=64),
                    Hello(pid=7, devices=["cpu:0"], tf={"tensorflow": "2.21.0"}),
                    RepeatResult(status="ok", reason="", wall_s=1.0, worker_pid=7, started_utc="t",
                                 epoch_times_s=[0.1, 0.2], train_loss=[1.0, math.nan], metrics={"accuracy": 0.5})):
        back = decode(encode(message))
        assert type(back) is type(message) and encode(back) == encode(message)
    # workers older than the typed protocol (an A/B baseline checkout) are still driven in their dialect
    old = json.loads(encode(task, legacy=True))
    assert old["trial"] == {"device": "cpu", "mode": "eager", "dtype": "float32", "batch_size": 4, "hidden": 20,
                            "threads": 0} and old["repeat"] == 1 and "type" not in old
    assert json.loads(encode(PeakTask(device="gpu", dtype="float64", n=8), legacy=True))["kind"] == "peak"
    # a typed worker from before workloads (its hello has no protocol: 1) reads the MLP's size as `hidden`, and is
    # never handed another workload's task (it would train the MLP under that name)
    assert decode('{"type": "hello", "pid": 3, "devices": [], "tf": {}}').protocol == 1
    assert json.loads(encode(task, protocol=1))["hidden"] == 20
    cnn = replace(task, workload="cnn")
    for kw in ({"protocol": 1}, {"legacy": True}):
        with pytest.raises(ProtocolError, match="predates workloads.*'cnn'"):
            encode(cnn, **kw)
    assert json.loads(encode(cnn))["workload"] == "cnn"
    hello = decode('{"event": "hello", "pid": 3, "devices": ["cpu:0"], "tf": {}}')
    assert isinstance(hello, Hello) and hello.pid == 3
    res = decode('{"event": "result", "status": "ok", "reason": "", "wall_s": 2.0, "device_actual": "cpu:0"}',
                 reply_to=task)
    assert isinstance(res, RepeatResult) and res.worker_pid == 0 and res.started_utc == ""
    peak = decode('{"event": "result", "status": "ok", "reason": "", "device": "cpu", "dtype": "float32", "n": 8}',
                  reply_to=PeakTask(device="cpu", dtype="float32", n=8))
    assert isinstance(peak, PeakResult)


def test_readme_column_dictionary_is_generated_from_the_declarations():
    readme = (ROOT / "docs" / "columns.md").read_text()
    start, end = "<!-- columns: generated by `python -m bench.store columns` -->\n", "<!-- /columns -->"
    assert start in readme and end in readme
    assert readme.split(start, 1)[1].split(end, 1)[0] == column_dictionary()
