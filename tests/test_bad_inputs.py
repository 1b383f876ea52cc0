"""Every CLI refuses generated corruptions of everything it reads, and bad output paths, cleanly:
exit 2, one line `prog: error: ...` naming the file and the problem, no traceback, and no file
changed or created (readers never write; writers write nothing when the input is bad).

The corruptions come from tests/corrupt.py, driven by hypothesis seeds; `scripts/fuzz_inputs.py`
runs many more and prints how many each CLI handled (README, issue notes).
"""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.cli.ab import main as ab_main
from bench.cli.compare import main as compare_main
from bench.cli.history import main as history_main
from bench.cli.plot import main as plot_main
from bench.cli.run import main as run_main
from tests import corrupt
from tests.synthetic import make_run

ROOT = Path(__file__).resolve().parent.parent
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz")
    good = make_run(base / "good", devices="cpu")
    return good


@pytest.mark.parametrize("cli", list(corrupt.RUN_DIR_CLIS))
@given(seed=SEEDS)
@FUZZ
def test_every_cli_refuses_a_corrupted_run_directory(pristine, cli, seed):
    what, problem = corrupt.run_dir_case(pristine, seed, cli)
    assert problem is None, f"{cli}: {what}: {problem}"


@given(seed=SEEDS)
@FUZZ
def test_compare_refuses_corrupted_pytest_benchmark_json(seed):
    what, problem = corrupt.benchmark_json_case(seed)
    assert problem is None, f"{what}: {problem}"


@pytest.fixture(scope="module")
def history_file(pristine, tmp_path_factory):
    path = tmp_path_factory.mktemp("hist") / "history.csv"
    assert history_main(["append", str(pristine), "--history", str(path)]) == 0
    return path


@given(seed=SEEDS)
@FUZZ
def test_history_refuses_a_corrupted_history(pristine, history_file, seed):
    what, problem = corrupt.history_case(pristine, history_file, seed)
    assert problem is None, f"{what}: {problem}"


def bad_outputs(tmp: Path, run: Path) -> list[tuple[object, str, list[str]]]:
    """Output paths that cannot be written: a directory where a file goes, a file where a folder goes."""
    (tmp / "a-dir").mkdir()
    (tmp / "a-file").write_text("x")
    return [
        (compare_main, "python -m bench.compare", [str(run), str(run), "--json", str(tmp / "a-dir")]),
        (compare_main, "python -m bench.compare", [str(run), str(run), "--markdown", str(tmp / "a-dir")]),
        (compare_main, "python -m bench.compare", [str(run), str(run), "--json", str(tmp / "a-file" / "x.json")]),
        (history_main, "python -m bench.history", ["export", str(run), "--out", str(tmp / "a-dir")]),
        (history_main, "python -m bench.history", ["export", str(run), "--out", str(tmp / "a-file" / "b.json")]),
        (history_main, "python -m bench.history", ["append", str(run), "--history", str(tmp / "a-dir")]),
        (history_main, "python -m bench.history", ["plot", "--history", str(tmp / "a-dir")]),
        (plot_main, "python -m bench.plot", [str(run), str(run), "--out", str(tmp / "a-file")]),
        (run_main, "python -m bench.run", ["--out", str(tmp / "a-file"), "--quiet"]),
        (run_main, "python -m bench.run", ["--out", str(tmp / "a-file" / "run"), "--quiet"]),
        (run_main, "python -m bench.run", ["--resume", str(tmp / "a-file"), "--quiet"]),
        (ab_main, "python -m bench.ab", ["--baseline-tree", str(ROOT), "--out", str(tmp / "a-file")]),
        (ab_main, "python -m bench.ab", ["--baseline-tree", str(ROOT), "--out", str(tmp / "ab"), "--markdown",
                                         str(tmp / "a-dir")]),
        (ab_main, "python -m bench.ab", ["--baseline-tree", str(tmp / "a-dir"), "--out", str(tmp / "ab")]),
    ]


def test_unwritable_outputs_are_refused_before_any_work(pristine, tmp_path):
    run = corrupt.fresh_copy(pristine, tmp_path / "run")
    for main, prog, argv in bad_outputs(tmp_path, run):
        before = corrupt.digest(tmp_path)
        code, _, err = corrupt.call(main, argv)
        assert corrupt.handled(code, err, prog, before, corrupt.digest(tmp_path)) is None, (argv, err)


def test_nothing_to_report_says_so_and_exits_nonzero(pristine, tmp_path):
    run = corrupt.fresh_copy(pristine, tmp_path / "run")
    lines = (run / "summary.csv").read_text().splitlines()
    (run / "summary.csv").write_text("\n".join([lines[0]] + [ln.replace(",ok,", ",error,", 1) for ln in lines[1:]])
                                     + "\n")
    before = corrupt.digest(tmp_path)
    for main, prog, argv, message in (
            (history_main, "python -m bench.history", ["export", str(run)], "nothing to export"),
            (history_main, "python -m bench.history", ["append", str(run), "--history", str(tmp_path / "h.csv")],
             "nothing to append"),
            (compare_main, "python -m bench.compare", [str(run), str(run)], "nothing to compare")):
        code, out, err = corrupt.call(main, argv)
        assert corrupt.handled(code, err, prog, before, corrupt.digest(tmp_path)) is None and message in err
        assert out == ""  # in particular no "[]" on stdout for github-action-benchmark to choke on


@pytest.mark.parametrize("flag, value, limit", [("--sizes", "20," + "1" + "0" * 30, "1,000,000"),
                                                ("--hidden-sizes", str(10**30), "1,000,000"),
                                                ("--n-train", str(10**30), "100,000,000"),
                                                ("--batch-sizes", str(10**12), "10,000,000"),
                                                ("--epochs", str(10**9), "100,000"),
                                                ("--max-repeats", str(10**9), "1,000,000")])
def test_a_huge_integer_is_refused_at_validation_naming_the_field_and_the_limit(tmp_path, capsys, flag, value,
                                                                                 limit):
    out = tmp_path / "run"
    assert run_main(["--devices", "cpu", flag, value, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"larger than the limit {limit}" in err, err
    field = {"--hidden-sizes": "sizes"}.get(flag, flag.removeprefix("--").replace("-", "_"))
    assert field in err and not out.exists()


@pytest.mark.parametrize("flag", ["--out", "--resume"])
def test_an_empty_output_or_resume_path_is_refused(tmp_path, capsys, monkeypatch, flag):
    monkeypatch.chdir(tmp_path)  # (were it taken as the default, results/ would appear here)
    assert run_main(["--devices", "cpu", flag, ""]) == 2
    err = capsys.readouterr().err
    assert f"{flag.removeprefix('--')}" in err and "empty" in err and "Traceback" not in err
    assert not (tmp_path / "results").exists()
    assert plot_main([str(tmp_path), "--out", " "]) == 2
    assert "--out: empty" in capsys.readouterr().err
