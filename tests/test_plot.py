"""Every figure renders from a small synthetic run, without a display, into non-empty PNG and SVG files."""

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.analysis.plot import FIGURES, FORMATS, OVERLAY_FIGURES, plot_runs, render
from bench.format import load_run
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
    assert list(skipped) == ["scaling"] and "--replicas" in skipped["scaling"]  # a one-device run
    assert sorted(p.name for p in written) == sorted(f"{f}.{e}" for f in FIGURES if f != "scaling" for e in FORMATS)
    _check_files(written)


def test_the_scaling_figure_plots_the_planted_efficiency(tmp_path):
    from tests.synthetic import EFFICIENCY

    run = load_run(make_run(tmp_path / "run", devices="cpu", modes="eager,numpy", replicas="1,2,4"))
    written, skipped = render([run], tmp_path / "plots", figures=["scaling"])
    assert not skipped and len(written) == len(FORMATS)
    _check_files(written)
    import matplotlib

    matplotlib.use("Agg")
    from bench.analysis.plot import fig_scaling

    fig = fig_scaling([run])
    assert len(fig.axes) == 2  # hidden 8 and 64, mode eager
    for ax in fig.axes:
        strong = [line for line in ax.get_lines() if line.get_linestyle() == "-" and len(line.get_xdata()) == 3]
        assert len(strong) == 4 * 2  # batches x dtypes
        assert all(list(line.get_ydata()) == pytest.approx([1.0, EFFICIENCY[2], EFFICIENCY[4]]) for line in strong)
        assert "replicas" in ax.get_xlabel() and "time(1) / (N x time(N))" in ax.get_ylabel()


def test_cpu_only_run_gets_its_comparisons_and_says_why_the_gpu_figure_is_missing(runs, tmp_path):
    written, skipped = render([load_run(runs[1])], tmp_path)
    assert list(skipped) == ["speedup_gpu_cpu", "scaling"] and "no GPU trial measured" in skipped["speedup_gpu_cpu"]
    stems = {p.stem for p in written}
    assert stems == {"modes", "speedup_modes", "cast_overhead", "epoch_time", "mse", "gflops"}
    _check_files(written)
    # one figure per question: the redundant ones (throughput, speedup_dtype) only on request
    written, _ = render([load_run(runs[1])], tmp_path / "more", ["throughput", "speedup_dtype"])
    assert {p.stem for p in written} == {"throughput", "speedup_dtype"}


def test_several_runs_are_overlaid(runs, tmp_path):
    lines = []
    written = plot_runs([load_run(r) for r in runs], tmp_path / "overlay", log=lines.append)
    overlay = [p for p in written if p.parent == tmp_path / "overlay"]
    assert sorted(p.stem for p in overlay) == sorted(f for f in OVERLAY_FIGURES if f in FIGURES for _ in FORMATS)
    # asked for, throughput is drawn and overlaid too; a figure with no overlay draws no overlay
    written = plot_runs([load_run(r) for r in runs], tmp_path / "asked", log=lines.append,
                        figures=["throughput", "mse"])
    assert sorted(p.stem for p in written if p.parent == tmp_path / "asked") == ["throughput", "throughput"]
    _check_files(overlay)
    assert (runs[1] / "plots" / "epoch_time.png").is_file()
    assert not (runs[0] / "analysis.json").exists()  # plotting writes figures only
    # the fingerprints that tell the runs apart are in the figure
    svg = (tmp_path / "overlay" / "epoch_time.svg").read_text()
    assert "Synthetic GPU" in svg and "no GPU" in svg


def test_cli_without_a_display(runs, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MPLBACKEND")}
    proc = subprocess.run([sys.executable, "-m", "bench.plot", str(runs[1])], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "speedup_gpu_cpu: not drawn: no GPU trial measured" in proc.stdout


# ---- figure content: the plotted numbers are the run's, every axis says its unit and scale ---------
import re  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bench.analysis import plot as P  # noqa: E402
from tests.synthetic import BATCHES, N_TRAIN, step_time  # noqa: E402


def _draw(fn, run):
    with plt.rc_context(P.STYLE):
        fig = fn([run])
    fig.canvas.draw()
    return fig


def _check_axes_labels(fig):
    for ax in fig.axes:
        if not ax.get_visible() or ax.get_label() == "<colorbar>":
            continue
        for axis, scale, sup in ((ax.xaxis, ax.get_xscale(), fig._supxlabel),
                                 (ax.yaxis, ax.get_yscale(), fig._supylabel)):
            # a label shared by the panels (once per figure) carries the unit; a panel's own may name its row
            text = sup.get_text() if sup is not None else axis.get_label().get_text()
            assert text, (fig.get_suptitle(), ax.get_title())
            assert re.search(r"\(.+\)", text), text  # a unit (or what the ratio is) in brackets
            assert ("log" in text) == (scale == "log"), (text, scale)


def _line_panels(fig):
    """Each plotted line of a batch-size figure (panels: mode rows x hidden columns of the synthetic run): (ax,
    mode, hidden, device, dtype, batch sizes, values, [(batch, bar low, bar high)])."""
    modes, hiddens = ["eager", "graph", "numpy"], [8, 64]
    for idx, ax in enumerate(fig.axes):
        for cont in ax.containers:
            device, dtype = cont.get_label().split()
            x, y = (np.asarray(v, dtype=float) for v in (cont.lines[0].get_xdata(), cont.lines[0].get_ydata()))
            (bars,) = cont.lines[2]
            yield (ax, modes[idx // 2], hiddens[idx % 2], device, dtype, x, y,
                   [(bx, lo, hi) for (bx, lo), (_, hi) in bars.get_segments()])


def test_epoch_time_plots_the_model_medians_and_the_run_intervals(runs):
    run = load_run(runs[0])
    fig = _draw(P.fig_epoch_time, run)
    ok = run.ok.set_index("config_id")
    seen = set()
    for ax, mode, hidden, device, dtype, x, y, bars in _line_panels(fig):
        assert list(ax.get_xticks()) == list(BATCHES)  # the measured sizes: no 1024 tick for a largest of 800
        model = [step_time(device, mode, dtype, b, hidden) * N_TRAIN / b * 1e3 for b in x]
        np.testing.assert_allclose(y, model, rtol=1e-12)  # the model's epoch time (median noise is 1)
        for bx, lo, hi in bars:
            cid = f"{device}-{mode}-{dtype}-b{int(bx)}-h{hidden}-t0"
            assert (lo, hi) == pytest.approx((ok.loc[cid, "ci_low_s"] * 1e3, ok.loc[cid, "ci_high_s"] * 1e3))
            seen.add(cid)
    assert seen == set(ok.index)  # every ok trial is on the figure, once per panel
    _check_axes_labels(fig)


def test_speedup_heatmap_cells_and_colour_bar(runs):
    fig = _draw(P.fig_speedup_modes, load_run(runs[1]))
    panels = [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.get_visible()]
    texts = {ax.get_title(): {t.get_text() for t in ax.texts} for ax in panels}
    # built in: graph = eager / 4, numpy = eager / 10, in every cell; all decided (no parentheses), 2 significant
    # figures
    assert {t for title, ts in texts.items() if title.startswith("graph") for t in ts} == {"4.0"}
    assert {t for title, ts in texts.items() if title.startswith("numpy") for t in ts} == {"10"}
    # the scale is fixed, the same in every run: log2 from 1/2x to 2x, ticks as ratios
    (bar,) = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    labels = [t.get_text() for t in bar.get_xticklabels()]
    assert labels == ["<=1/2x", "1/1.4x", "1x", "1.4x", ">=2x"]
    assert bar.get_xlim() == pytest.approx((-1.0, 1.0))
    # a decided 4x and a decided 10x both take the scale's end colour (beyond 2x), the same in every panel
    colours = {tuple(np.round(ax.images[0].get_array()[0, 0], 6)) for ax in panels}
    assert len(colours) == 1
    _check_axes_labels(fig)


def test_cast_overhead_points_and_legend(runs):
    fig = _draw(P.fig_cast_overhead, load_run(runs[1]))
    (ax,) = fig.axes
    from matplotlib.collections import PathCollection

    ys = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections if isinstance(c, PathCollection)])
    np.testing.assert_allclose(ys, 25.0, rtol=1e-9)  # float64-cast is built 1.25x slower
    (legend,) = fig.legends  # outside the axes, never over the points
    series = [(h, t.get_text()) for h, t in zip(legend.legend_handles, legend.get_texts()) if "(cpu)" in t.get_text()]
    assert len(series) == 3  # one per device x mode (eager, graph, numpy); the fill never marks a series
    assert len({h.get_markerfacecolor() == "white" for h, _ in series}) == 1
    from mlp_core import modes

    assert all(h.get_color() == modes.color(text.split()[0]) for h, text in series)  # each mode's own colour
    assert any("hollow: not decided" in t.get_text() for t in legend.get_texts())
    _check_axes_labels(fig)


def test_gflops_points_intervals_and_dtype_markers(runs):
    run = load_run(runs[1])
    fig = _draw(P.fig_gflops, run)
    ax = fig.axes[0]
    ok = run.ok
    n = 0
    for cont in ax.containers:
        device, mode, dtype = cont.get_label().split()
        assert cont.lines[0].get_marker() == P.MARKERS[dtype]
        rows = ok[(ok["device"] == device) & (ok["mode"] == mode) & (ok["dtype"] == dtype)]
        np.testing.assert_allclose(sorted(cont.lines[0].get_ydata()), sorted(rows["gflops"]), rtol=1e-12)
        (bars,) = cont.lines[2]
        lows = sorted(seg[0][1] for seg in bars.get_segments())
        np.testing.assert_allclose(lows, sorted(rows["gflops"] * rows["median_s"] / rows["ci_high_s"]), rtol=1e-9)
        n += len(rows)
    assert n == len(ok)
    _check_axes_labels(fig)


def test_modes_dots_are_the_medians_at_the_chosen_point(runs):
    """A dot per mode at its median, in the registry's order and colour, on a log axis (no bars there)."""
    import matplotlib.colors as mcolors

    from bench.analysis.figstyle import duration_label
    from mlp_core import modes

    run = load_run(runs[1])
    fig = _draw(P.fig_modes, run)
    ax = fig.axes[0]
    dots = [(c.lines[0].get_xdata()[0], c.lines[0].get_ydata()[0], mcolors.to_hex(c.lines[0].get_color()))
            for c in ax.containers]  # each errorbar's data point (not its caps)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    names = [label.split(":")[0] for label in labels]
    assert names == ["eager", "graph", "numpy"]  # the registry's order
    for label, tick in zip(labels, ax.get_yticklabels()):  # the median in the row's label, in the mode's colour
        mode, value = label.split(": ")
        assert value == duration_label(step_time("cpu", mode, "float32", 16, 8) * N_TRAIN / 16)
        assert mcolors.to_hex(tick.get_color()) == modes.color(mode)
    # no (4, 20) point in the synthetic run: the smallest batch and hidden with every mode, float32
    for x, y, color in dots:
        mode = names[round(float(y))]
        assert x == pytest.approx(step_time("cpu", mode, "float32", 16, 8) * N_TRAIN / 16 * 1e3, rel=1e-12)
        assert color == modes.color(mode)
    assert len(dots) == 3 and ax.get_xscale() == "log" and "log scale" in ax.get_xlabel() and not ax.patches


def test_a_run_over_two_machines_labels_each_series_with_its_machine(tmp_path):
    """A Ray run with a CPU node and a GPU node: the CPU-vs-GPU comparison across machines, each series
    naming the machine that measured it, the title both."""
    import matplotlib

    matplotlib.use("Agg")
    from bench.analysis.plot import fig_epoch_time

    run = load_run(make_run(tmp_path / "run", modes="eager",
                            machine_of=lambda t: "aaaaaaaa" if t["device"] == "cpu" else "bbbbbbbb"))
    fig = fig_epoch_time([run])
    labels = {t.get_text() for legend in fig.legends for t in legend.get_texts()}
    assert labels == {"cpu float32 @ aaaaaaaa", "cpu float64-cast @ aaaaaaaa", "gpu float32 @ bbbbbbbb",
                      "gpu float64-cast @ bbbbbbbb"}
    assert "2 machines: aaaaaaaa" in fig._suptitle.get_text() and "bbbbbbbb" in fig._suptitle.get_text()


@pytest.mark.parametrize("devices", ["cpu,gpu", "cpu"])
def test_every_figure_reads_well(tmp_path, devices):
    """No text over other text or out of the figure, no empty panel, colour bars with three labelled ticks or
    more, no bars on a log axis, the machine named (tests/figure_lint.py), for every figure a run can draw."""
    import matplotlib
    import matplotlib.pyplot as plt

    from tests.figure_lint import problems

    matplotlib.use("Agg")
    run = load_run(make_run(tmp_path / "run", devices=devices, replicas="1,2,4" if devices != "cpu" else "1",
                            modes="eager,graph,numpy,numba"))
    drawn = 0
    with plt.rc_context(P.STYLE):
        for name, draw in P.FIGURE_FUNCS.items():
            try:
                fig = draw([run])
            except P.NothingToPlot:
                continue
            drawn += 1
            assert problems(fig, [run.label.split(",")[0]]) == [], name
            plt.close(fig)
    assert drawn >= (10 if devices != "cpu" else 8)


# ---- what the four remaining figures plot, against the synthetic model (issue 21) -------------------------
def test_throughput_plots_samples_per_second_of_the_model_and_the_run_intervals(runs):
    run = load_run(runs[0])
    fig = _draw(P.fig_throughput, run)
    ok = run.ok.set_index("config_id")
    seen = set()
    for _ax, mode, hidden, device, dtype, x, y, bars in _line_panels(fig):
        model = [N_TRAIN / (step_time(device, mode, dtype, b, hidden) * N_TRAIN / b) for b in x]
        np.testing.assert_allclose(y, model, rtol=1e-12)  # samples/s of the model's epoch
        for bx, lo, hi in bars:
            cid = f"{device}-{mode}-{dtype}-b{int(bx)}-h{hidden}-t0"
            # a time's upper bound is the throughput's lower one
            want = (N_TRAIN / ok.loc[cid, "ci_high_s"], N_TRAIN / ok.loc[cid, "ci_low_s"])
            assert (lo, hi) == pytest.approx(want)
            seen.add(cid)
    assert seen == set(ok.index)
    _check_axes_labels(fig)


def test_gpu_speedup_cells_are_the_model_ratio_and_bold_exactly_where_the_interval_excludes_one(runs):
    from bench.analysis.comparisons import speedups

    run = load_run(runs[0])
    fig = _draw(P.fig_speedup_gpu_cpu, run)
    pairs = {(p["mode"], p["dtype"], p["batch_size"], p["size"]): p for p in speedups(run, "device", "cpu")}
    cells = 0
    panels = [a for a in fig.axes if a.get_label() != "<colorbar>" and a.get_visible()]
    # the panels share their axes: the outer ones carry the tick labels, once per row and column
    hiddens = next([int(t.get_text()) for t in a.get_xticklabels()] for a in panels if a.get_xticklabels())
    batches = next([int(t.get_text()) for t in a.get_yticklabels()] for a in panels if a.get_yticklabels())
    assert hiddens == [8, 64] and batches == list(BATCHES)
    for ax in panels:
        mode, dtype = ax.get_title().split(", ")
        for text in ax.texts:
            x, y = text.get_position()
            batch, hidden = batches[round(y)], hiddens[round(x)]
            p = pairs[(mode, dtype, batch, hidden)]
            model = step_time("cpu", mode, dtype, batch, hidden) / step_time("gpu", mode, dtype, batch, hidden)
            value = text.get_text().strip("()")
            assert value == f"{float(f'{model:.2g}'):g}" or float(value) == pytest.approx(model, rel=0.05)  # 2 sig.
            decided = p["verdict"] in ("faster", "slower")
            assert (text.get_fontweight() == "bold") == decided and (text.get_text()[0] == "(") != decided
            if decided:  # its interval lies wholly beyond the +-5% margin
                assert p["ci_low"] > 1.05 or p["ci_high"] < 1 / 1.05
            if abs(math.log(model)) > math.log(1.5):  # the run's +-2% noise cannot hide a 1.5x difference
                assert decided
            cells += 1
    assert cells == len(pairs)


def test_dtype_speedup_cells_are_the_built_in_cast_cost(runs):
    fig = _draw(P.fig_speedup_dtype, load_run(runs[1]))
    texts = [t.get_text() for ax in fig.axes if ax.get_label() != "<colorbar>" for t in ax.texts]
    # float64-cast is built 1.25x slower in every cell (2 significant figures: 1.2 or 1.3 by the noise), decided
    assert texts and set(texts) <= {"1.2", "1.3"}
    (bar,) = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len([t for t in bar.get_xticklabels() if t.get_text()]) >= 3


def test_mse_plots_the_mean_trajectory_and_no_difference_between_series(runs):
    run = load_run(runs[1])
    fig = _draw(P.fig_mse, run)
    ax, dev = fig.axes[:2]
    # synthetic: train MSE 1/(e+1) + 0.01 r for repeat r = 0, 1, 2: the mean over repeats adds 0.01
    (mean,) = [line for line in ax.lines if len(line.get_xdata()) == 4]
    np.testing.assert_allclose(np.asarray(mean.get_ydata(), float), [1 / (e + 1) + 0.01 for e in range(4)])
    # every other series trains the same numbers: one labelled row each, its difference exactly 0, said in words
    # (a zero has no place on a log axis), no point drawn at a made-up small value
    series = {(r["device"], r["mode"], r["dtype"]) for r in run.one_device.to_dict("records")}
    labels = [t.get_text() for t in dev.get_yticklabels()]
    assert len(labels) == len(series) - 1 and len(set(labels)) == len(labels)
    points = [line for line in dev.lines if len(line.get_xdata()) == 1 and line.get_linestyle() == "None"]
    assert points == []
    assert [t.get_text() for t in dev.texts] == ["identical (0)"] * len(labels)
    assert dev.get_xscale() == "log"


def test_the_figures_option_draws_what_it_names_and_refuses_what_it_does_not_know(runs, tmp_path, capsys):
    import shutil

    from bench.cli.plot import main

    run_dir = tmp_path / "run"
    shutil.copytree(runs[1], run_dir, ignore=shutil.ignore_patterns("plots"))  # (other tests draw there)
    assert main([str(run_dir), "--figures", "throughput,modes"]) == 0
    assert {p.name for p in (run_dir / "plots").iterdir()} == {f"{s}.{e}" for s in ("throughput", "modes")
                                                                for e in FORMATS}
    assert main([str(run_dir), "--figures", "modes,nope"]) == 2
    err = capsys.readouterr().err
    assert "--figures: unknown figure 'nope'" in err and "Traceback" not in err


@pytest.mark.slow
@pytest.mark.parametrize("committed", ["reference", "workloads/mlp", "workloads/cnn"])
def test_the_committed_runs_figures_read_well(committed):
    """The published runs' figures, drawn from their committed files, pass the whole lint (tests/figure_lint.py):
    what the README and docs show is what a reader sees."""
    from tests.figure_lint import problems

    run = load_run(Path(__file__).resolve().parent.parent / "results" / committed)
    drawn = 0
    with plt.rc_context(P.STYLE):
        for name in P.FIGURES:
            try:
                fig = P.FIGURE_FUNCS[name]([run])
            except P.NothingToPlot:
                continue
            drawn += 1
            assert problems(fig, [run.label.split(",")[0]]) == [], name
            plt.close(fig)
    assert drawn >= 5


def test_a_run_of_one_mode_on_one_device_draws_no_modes_figure(tmp_path):
    """One dot compares nothing: the modes figure says why it is not drawn instead."""
    run = load_run(make_run(tmp_path / "one", devices="cpu", modes="eager"))
    written, skipped = render([run], tmp_path / "plots", ["modes", "epoch_time"])
    assert {p.stem for p in written} == {"epoch_time"}
    assert "one execution mode measured (eager)" in skipped["modes"]
