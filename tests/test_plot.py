"""Every figure renders from a small synthetic run, without a display, into non-empty PNG and SVG files."""

import os
import subprocess
import sys

import pytest

from bench.analysis import load_run
from bench.plot import FIGURES, FORMATS, OVERLAY_FIGURES, plot_run_dirs, render
from tests.synthetic import make_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("plots")
    return make_run(base / "gpu-run"), make_run(base / "cpu-run", devices="cpu")


def _check_files(paths):
    for path in paths:
        data = path.read_bytes()
        if path.suffix == ".png":
            assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000, path
        else:
            assert b"<svg" in data[:2000] and len(data) > 10_000, path


def test_every_figure_of_a_gpu_run(runs, tmp_path):
    written, skipped = render([load_run(runs[0])], tmp_path)
    assert skipped == {}
    assert sorted(p.name for p in written) == sorted(f"{f}.{e}" for f in FIGURES for e in FORMATS)
    _check_files(written)


def test_cpu_only_run_gets_its_comparisons_and_says_why_the_gpu_figure_is_missing(runs, tmp_path):
    written, skipped = render([load_run(runs[1])], tmp_path)
    assert list(skipped) == ["speedup_gpu_cpu"] and "no GPU trial measured" in skipped["speedup_gpu_cpu"]
    stems = {p.stem for p in written}
    assert {"speedup_modes", "speedup_dtype", "cast_overhead", "gflops", "modes", "mse"} <= stems
    _check_files(written)


def test_several_runs_are_overlaid(runs, tmp_path):
    lines = []
    written = plot_run_dirs(list(runs), tmp_path / "overlay", log=lines.append)
    overlay = [p for p in written if p.parent == tmp_path / "overlay"]
    assert sorted(p.stem for p in overlay) == sorted(f for f in OVERLAY_FIGURES for _ in FORMATS)
    _check_files(overlay)
    assert (runs[0] / "analysis.json").is_file() and (runs[1] / "plots" / "epoch_time.png").is_file()
    # the fingerprints that tell the runs apart are in the figure
    svg = (tmp_path / "overlay" / "epoch_time.svg").read_text()
    assert "Synthetic GPU" in svg and "no GPU" in svg


def test_cli_without_a_display(runs, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND")}
    proc = subprocess.run([sys.executable, "-m", "bench.plot", str(runs[1]), "--no-analysis"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "speedup_gpu_cpu: not drawn: no GPU trial measured" in proc.stdout
