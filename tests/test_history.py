"""History: append, change points (ruptures) on series with known steps, plots, github-action-benchmark export."""

import json

import numpy as np
import pytest

from bench.analysis.history import HistoryError, append, change_points, detect, export, plot
from bench.cli.history import main
from bench.format import SCHEMA_VERSION
from tests.synthetic import make_run

NOISE = np.array([1.00, 1.02, 0.98, 1.01, 0.99, 1.02, 0.985, 1.0, 1.015, 0.99])  # +-2%, deterministic


def test_flat_noisy_series_has_no_change_point():
    assert change_points(np.tile(NOISE, 2) * 0.05) == []


def test_a_lasting_20_percent_step_is_found_where_it_starts():
    y = np.concatenate([NOISE * 0.05, NOISE * 0.06])
    assert change_points(y) == [10]


def test_a_single_outlier_is_not_a_change():
    y = np.tile(NOISE, 2) * 0.05
    y[7] *= 1.5
    assert change_points(y) == []


def test_append_plot_detect(tmp_path, capsys):
    history = tmp_path / "history.csv"
    runs = []
    for i in range(8):  # commits c0..c7; the graph trials get 25% slower from c4 on
        factor = 1.25 if i >= 4 else 1.0
        runs.append(make_run(tmp_path / f"run{i}", devices="cpu", commit=f"c{i}" + "0" * 39,
                             slowdown=lambda t, f=factor, i=i: (f if t["mode"] == "graph" else 1.0) * NOISE[i]))
        assert append(runs[-1], history) == 48
    with pytest.raises(HistoryError, match="already in"):
        append(runs[0], history)
    found = detect(history)
    assert all("-graph-" in c["config_id"] for c in found)  # 2 dtypes x 4 batches x 2 hidden graph trials
    assert len(found) == 16 and all(c["index"] == 4 and c["commit"].startswith("c4") for c in found)
    assert all(c["change"] == pytest.approx(0.25, abs=0.04) for c in found)
    files = plot(history, tmp_path / "plots", configs=["cpu-graph-float32-b16-h8-t0", "cpu-eager-float32-b16-h8-t0"])
    assert [f.suffix for f in files] == [".png", ".svg"] and all(f.stat().st_size > 10_000 for f in files)
    assert main(["plot", "--history", str(history), "--out", str(tmp_path / "p2")]) == 0
    assert "change point: cpu-graph-float32-b16-h8-t0 at c400000000: " in capsys.readouterr().out


def test_export_for_github_action_benchmark(tmp_path, capsys):
    run = make_run(tmp_path / "r", devices="cpu")
    entries = export(run)
    assert len(entries) == 48
    e = {x["name"]: x for x in entries}["cpu-eager-float32-b16-h8-t0"]
    # 256 steps of (1e-4 + 16e-6) s = 29.696 ms: the median epoch time of the synthetic run; its 9 epochs carry
    # noise factors 0.98 .. 1.02, and the 95% CI of a median of 9 is the 2nd and 8th (0.985 and 1.015):
    # 29.251 .. 30.141 ms, halves 0.445 ms -> two significant digits: 0.01 ms
    assert e["unit"] == "ms/epoch" and e["value"] == 29.70
    assert e["range"] == "-0.45 / +0.45" and "95% CI [29.25, 30.14] ms" in e["extra"]
    assert set(e) == {"name", "unit", "value", "range", "extra"}
    assert main(["export", str(run), "--out", str(tmp_path / "bench.json")]) == 0
    assert json.loads((tmp_path / "bench.json").read_text()) == entries


def test_bad_input(tmp_path, capsys):
    assert main(["append", str(tmp_path / "missing")]) == 2
    assert "missing: no such directory" in capsys.readouterr().err
    assert main(["append", str(tmp_path)]) == 2
    assert "not a run directory (no meta.json)" in capsys.readouterr().err
    assert main(["plot", "--history", str(tmp_path / "none.csv")]) == 2
    assert "history: " in capsys.readouterr().err


def test_a_schema_1_history_is_read_and_appending_rewrites_it_in_the_current_schema(tmp_path):
    import csv

    from bench.format.history import read_history

    names = ["recorded_utc", "commit", "dirty", "run_id", "run_finished_utc", "machine", "machine_id", "config_id",
             "device", "mode", "dtype", "batch_size", "hidden", "threads", "n", "median_s", "ci_low_s", "ci_high_s"]
    old = dict(zip(names, ["2026-11-24T10:00:00+00:00", "abc", "0", "r1", "", "M x2, no GPU", "123",
                           "cpu-eager-float32-b4-h20-t0", "cpu", "eager", "float32", "4", "20", "0", "12", "0.5", "",
                           ""]))
    history = tmp_path / "history.csv"
    with open(history, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        writer.writerow(old)
    (row,) = read_history(history)
    assert (row["schema_version"], row["median_s"], row["ci_low_s"], row["dirty"]) == (1, 0.5, None, False)
    assert append(make_run(tmp_path / "run", devices="cpu"), history) == 48
    rows = read_history(history)
    assert len(rows) == 49 and {r["schema_version"] for r in rows} == {SCHEMA_VERSION}
    assert history.read_text().splitlines()[0].startswith("schema_version,commit,")


def test_a_schema_6_history_reads_its_machine_columns_under_their_schema_7_names(tmp_path):
    """Schema 7 renamed history.csv's `machine` (a label, not the run tables' machine id) and `machine_id` (the
    label's key); a file written before reads with the new names, and appending rewrites its header."""
    import csv

    from bench.format.history import read_history

    names = ["schema_version", "commit", "dirty", "run_id", "run_finished_utc", "machine", "machine_id", "config_id",
             "workload", "device", "mode", "dtype", "batch_size", "size", "threads", "replicas", "n", "median_s",
             "ci_low_s", "ci_high_s", "recorded_utc"]
    values = ["6", "abc", "0", "r1", "", "M x2, no GPU", "0123456789", "cpu-eager-float32-b4-h20-t0", "mlp", "cpu",
              "eager", "float32", "4", "20", "0", "1", "12", "0.5", "0.4", "0.6", "2026-11-24T10:00:00+00:00"]
    history = tmp_path / "history.csv"
    with open(history, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        writer.writerow(values)
    (row,) = read_history(history)
    assert (row["machine_label"], row["machine_label_key"], row["schema_version"]) == ("M x2, no GPU", "0123456789", 6)
    assert "machine" not in row and "machine_id" not in row
    append(make_run(tmp_path / "run", devices="cpu"), history)
    header = history.read_text().splitlines()[0].split(",")
    assert "machine_label" in header and "machine_label_key" in header and "machine" not in header
    assert read_history(history)[0]["machine_label"] == "M x2, no GPU"
