"""Sweep specification: presets, TOML, flags, and one clear line for every kind of bad input."""

import subprocess
import sys
from pathlib import Path

import pytest

from bench.format.spec import SpecError, build_spec, load_toml, trials
from mlp_core import Device, ExecMode

ROOT = Path(__file__).resolve().parent.parent


def test_default_is_the_quick_preset():
    spec = build_spec({})
    assert spec.devices == (Device.CPU, Device.GPU)
    assert (spec.batch_sizes, spec.sizes) == ((4, 32, 256), (20, 256, 2048))
    assert [d.value for d in spec.dtypes] == ["float32", "float64-cast"]
    assert spec.modes == (ExecMode.EAGER,) and spec.epochs == 3 and (spec.n_train, spec.n_test) == (800, 200)
    assert spec.min_repeats == 3 and spec.trial_budget_s == 1.5  # 6 timed epochs a trial, at least
    assert len(trials(spec)) == 2 * 3 * 3 * 2


def test_article_preset_is_the_article():
    spec = build_spec({"preset": "article"})
    assert (spec.batch_sizes, spec.sizes, spec.epochs) == ((4,), (20,), 5)
    assert [m.value for m in spec.modes] == ["article", "eager"]
    assert [d.value for d in spec.dtypes] == ["float64-cast"]


def test_full_preset_numpy_only_on_cpu():
    ts = trials(build_spec({"preset": "full"}))
    assert max(t.batch_size for t in ts) == 4096
    assert all(t.device is Device.CPU for t in ts if t.mode == ExecMode.NUMPY)


def test_layers_merge_later_wins(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('batch_sizes = [8, 16]\nmodes = ["function"]\nepochs = 3\n')
    spec = build_spec({"preset": "quick"}, load_toml(toml), {"epochs": "4", "modes": None})
    assert spec.batch_sizes == (8, 16) and spec.epochs == 4 and spec.modes == (ExecMode.FUNCTION,)


def test_thread_axis_is_cpu_only():
    ts = trials(build_spec({"threads": "1,2", "batch_sizes": "4", "sizes": "20", "dtypes": "float32"}))
    assert sorted((t.device.value, t.threads) for t in ts) == [("cpu", 1), ("cpu", 2), ("gpu", 0)]
    assert len({t.config_id for t in ts}) == 3


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"devices": "cpu,tpu"}, "devices: 'tpu': unknown value (choose from cpu, gpu)"),
        ({"dtypes": "float16"}, "dtypes: 'float16': unknown value"),
        ({"modes": "eager,turbo"}, "modes: 'turbo': unknown value"),
        ({"batch_sizes": "4,0"}, "batch_sizes: 0: must be positive"),
        ({"batch_sizes": "4,2.5"}, "batch_sizes: '2.5': expected an integer"),
        ({"sizes": "-3"}, "sizes: -3: must be positive"),
        ({"sizes": ""}, "sizes: '': expected a non-empty comma-separated list"),
        ({"batch_sizes": "4,4"}, "batch_sizes: '4,4': duplicate values"),
        ({"batch_sizes": "1000"}, "batch_sizes: 1000: larger than the training set (n_train=800)"),
        ({"epochs": "1"}, "epochs: 1: need at least 2"),
        ({"epochs": True}, "epochs: True: expected an integer"),
        ({"learning_rate": "-1"}, "learning_rate: '-1': expected a positive number"),
        ({"target_ci": "abc"}, "target_ci: 'abc': expected a positive number"),
        ({"min_repeats": 5, "max_repeats": 4}, "max_repeats: 4: smaller than min_repeats (5)"),
        ({"devices": "gpu", "modes": "numpy"}, "modes: ['numpy']: empty matrix"),
        ({"batch_size": [4]}, "batch_size: [4]: unknown key"),
        ({"preset": "huge"}, "preset: 'huge': unknown preset (choose from quick, article, full)"),
    ],
)
def test_bad_input_names_field_and_value(layer, message):
    with pytest.raises(SpecError) as info:
        build_spec(layer)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_toml_errors(tmp_path):
    with pytest.raises(SpecError, match="config: '.*missing.toml': cannot read"):
        load_toml(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("batch_sizes = [4,\n")
    with pytest.raises(SpecError, match="config: '.*bad.toml': malformed TOML"):
        load_toml(bad)


def run_cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "bench.run", *args], capture_output=True, text=True, timeout=120, **kw)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--modes", "turbo"], "modes: 'turbo': unknown value"),
        (["--config", "/nonexistent/sweep.toml"], "config: '/nonexistent/sweep.toml': cannot read"),
        (["--preset", "huge"], "invalid choice: 'huge'"),
        (["--resume", "/nonexistent/run"], "resume: '/nonexistent/run': no such directory"),
        (["--resume", "x", "--epochs", "3"], "resume: 'x': takes the run's recorded settings; drop --epochs"),
        (["--resume", "x", "--repeats", "3"], "resume: 'x': takes the run's recorded settings; drop --repeats"),
    ],
)
def test_cli_bad_input_exit_2_one_line_no_traceback(args, message):
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_help_does_not_import_tensorflow():
    code = "import sys; from bench.cli import run; run.parser().format_help(); print('tensorflow' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr
    assert "--batch-sizes" in run_cli("--help").stdout


def _runnable_modules() -> list[str]:
    """Every `python -m bench.X` that does something: modules with a main guard, and packages' __main__."""
    out = []
    for path in sorted((ROOT / "bench").rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if path.name == "__main__.py":
            out.append(name.removesuffix(".__main__"))
        elif 'if __name__ == "__main__":' in path.read_text():
            out.append(name)
    return out


def test_the_runnable_modules_are_the_commands():
    """Only commands (and the worker processes) run as `python -m`; each is checked below."""
    assert set(_runnable_modules()) == {
        "bench.run", "bench.ab", "bench.compare", "bench.plot", "bench.history", "bench.merge", "bench.ladder",
        "bench.analysis", "bench.store", "bench.report", "bench.continuous", "bench.bisect", "bench.workload",
        "bench.worker",
        "bench.callgrind_worker",
        "bench.engine.callgrind_worker"}


@pytest.mark.parametrize("module", _runnable_modules())
def test_every_cli_answers_help_without_tensorflow_pandas_or_scipy(module):
    """--help answers at once: the heavy libraries are imported only when there is work to do."""
    code = (f"import runpy, sys\nsys.argv = ['{module}', '--help']\ntry:\n    runpy.run_module('{module}', "
            "run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('tensorflow', 'pandas', 'scipy', 'matplotlib') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout[-500:]
    assert "usage: python -m " in proc.stdout


def test_example_toml_is_valid():
    from pathlib import Path

    spec = build_spec(load_toml(Path(__file__).parent.parent / "scripts" / "sweep.example.toml"))
    assert trials(spec)


def test_help_texts_show_the_defaults_each_command_applies(tmp_path):
    """One definition per option: bench.run and bench.ab show the defaults they really apply."""
    import re

    def helptext(module):
        out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, cwd=ROOT,
                             timeout=60).stdout
        return " ".join(out.split())

    run, ab = helptext("bench.run"), helptext("bench.ab")
    assert re.search(r"--workers \{round,run\} .*?\(default run\)", run)
    assert re.search(r"--workers \{round,run\} .*?\(default round\)", ab)
    assert "--trial-budget S seconds of measuring after which a trial stops adding repeats (default 1.5; " \
           "--preset article: 4, --preset full: 4)" in run
    assert "--trial-budget" not in ab and "--repeats N repeats per trial and side, exactly (default 10" in ab
    proc = subprocess.run([sys.executable, "-m", "bench.ab", "--baseline-tree", str(ROOT), "--out", str(tmp_path),
                           "--executor", "ray"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and "executor: 'ray': bench.ab measures both sides on this machine" in proc.stderr
    assert "Traceback" not in proc.stderr and not any(tmp_path.iterdir())


def test_repeats_beside_a_consistent_min_or_max_is_accepted_and_a_contradiction_refused():
    """What users already type keeps working: --repeats 10 --max-repeats 10 says one thing twice."""
    from bench.cli import options
    from bench.cli.run import parser as run_parser

    spec = options.spec_from(run_parser().parse_args(["--repeats", "10", "--max-repeats", "10", "--min-repeats", "10"]))
    assert (spec.min_repeats, spec.max_repeats) == (10, 10)
    with pytest.raises(SpecError, match=r"repeats: 10: sets both --min-repeats and --max-repeats to 10; "
                                        r"--max-repeats 5 says otherwise: drop one"):
        options.spec_from(run_parser().parse_args(["--repeats", "10", "--max-repeats", "5"]))
