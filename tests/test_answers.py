"""The answers say what their data supports: verdicts worked out by hand for every outcome and its wording,
the t intervals and Benjamini-Hochberg adjustment against formulas computed here, planted runs whose answers
are known, the stop rule that spends time on open questions, the run's time budget, the noise probe and the
estimate with a fake clock."""

from __future__ import annotations

import io
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from bench.analysis import answers, compile_cost, evidence, findings, questions
from bench.engine import loop, session
from bench.engine.probe import noise_probe
from bench.engine.progress import Progress
from bench.format import load_run
from bench.format.spec import build_spec
from bench.format.stats import LogRatio, log_ratio, p_beyond, repeats_to_decide, verdict_of
from tests.fake_executor import FakeExecutor
from tests.synthetic import make_run

ROOT = Path(__file__).resolve().parent.parent

NOISY = ((0.7, 1.0, 1.3), (1.2, 1.25, 1.4), (0.8, 0.8, 0.85))  # repeat medians 1, 1.25, 0.8: CV ~22%


# ---- the verdict of one interval -------------------------------------------------------------------
@pytest.mark.parametrize(("low", "high", "p_adj", "expected"), [
    (1.10, 1.20, 0.001, "slower"),  # wholly beyond 1.05, significant
    (0.80, 0.90, 0.001, "faster"),  # wholly below 1 / 1.05 = 0.952
    (0.97, 1.03, 0.5, "no-difference"),  # inside [0.952, 1.05]
    (0.99, 1.049, 0.01, "no-difference"),  # significant, but the whole difference is inside the margin
    (1.02, 1.09, 0.001, "inconclusive"),  # significant, and it may or may not pass the margin
    (0.70, 1.40, 0.6, "inconclusive"),  # wide
    (1.10, 1.20, 0.2, "inconclusive"),  # beyond the margin, but not significant after the adjustment
    (math.nan, math.nan, 1.0, "inconclusive"),  # no interval
    (0.953, 1.05, 0.9, "no-difference"),  # the bounds themselves: 1 / 1.05 = 0.95238 < 0.953
])
def test_verdict_of_each_outcome(low, high, p_adj, expected):
    assert verdict_of(low, high, p_adj, margin=0.05, alpha=0.05) == expected


def _welch_by_hand(ref, cand, confidence=0.95):
    x, y = np.log(ref), np.log(cand)
    d = y.mean() - x.mean()
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    t = stats.t.ppf(0.5 + confidence / 2, df)  # the t table
    return math.exp(d), math.exp(d - t * se), math.exp(d + t * se), 2 * stats.t.sf(abs(d / se), df), df


def test_log_ratio_is_welchs_t_on_log_times():
    ref, cand = np.array([1.0, 1.1, 0.9, 1.05]), np.array([1.3, 1.2, 1.25])
    est = log_ratio(ref, cand)
    ratio, low, high, p, df = _welch_by_hand(ref, cand)
    assert (est.ratio, est.low, est.high, est.p, est.df) == pytest.approx((ratio, low, high, p, df), rel=1e-9)
    assert est.ratio == pytest.approx(math.exp(np.mean(np.log(cand)) - np.mean(np.log(ref))))  # geometric means
    assert not est.paired and (est.n_reference, est.n_candidate) == (4, 3)


def test_paired_log_ratio_is_the_one_sample_t_of_the_per_round_ratios():
    ref, cand = np.array([1.0, 1.1, 0.9, 1.05]), np.array([1.2, 1.3, 1.1, 1.27])
    est = log_ratio(ref, cand, paired=True)
    d = np.log(cand / ref)
    se = d.std(ddof=1) / 2
    t = stats.t.ppf(0.975, 3)
    assert (est.low, est.high) == pytest.approx((math.exp(d.mean() - t * se), math.exp(d.mean() + t * se)))
    assert est.p == pytest.approx(2 * stats.t.sf(abs(d.mean() / se), 3))
    # the drift the two sides share cancels: unpaired, the same values give a far wider interval
    wide = log_ratio(ref, cand)
    assert math.log(wide.high / wide.low) > 5 * math.log(est.high / est.low)


def test_too_few_repeats_give_no_interval_and_no_evidence():
    est = log_ratio([1.0], [2.0])
    assert est.ratio == 2.0 and math.isnan(est.low) and est.p == 1.0
    assert verdict_of(est.low, est.high, est.p, margin=0.05, alpha=0.05) == "inconclusive"
    with pytest.raises(ValueError, match="must align"):
        log_ratio([1.0, 2.0], [1.0], paired=True)


def test_repeats_to_decide_by_hand():
    # ratio 1 from 4 repeats a side, standard error 0.0315 of the log ratio; to lie inside +-5% the half-width
    # t(0.975, 2n - 2) x 0.0315 x sqrt(4 / n) must fall below ln 1.05 = 0.04879: n = 7 gives 2.179 x 0.0315 x
    # 0.756 = 0.0519, n = 8 gives 2.145 x 0.0315 x 0.707 = 0.0478
    se = 0.0315
    est = LogRatio(1.0, math.exp(-3.182 * se), math.exp(3.182 * se), 0.9, se, 6.0, 4, 4, False)
    assert repeats_to_decide(est, margin=0.05) == 8
    on_the_margin = LogRatio(1.05, 0.9, 1.2, 0.4, 0.05, 3.0, 4, 4, False)
    assert repeats_to_decide(on_the_margin, margin=0.05) is None


def test_the_p_value_of_a_decided_claim_is_against_the_margin():
    # ratio 1.2 with standard error 0.04 on 5 degrees of freedom: (ln 1.2 - ln 1.05) / 0.04 = 3.338
    est = LogRatio(1.2, 1.1, 1.3, 0.001, 0.04, 5.0, 4, 4, False)
    assert p_beyond(est, 0.05) == pytest.approx(2 * stats.t.sf((math.log(1.2) - math.log(1.05)) / 0.04, 5))
    assert p_beyond(LogRatio(1.03, 1.0, 1.06, 0.01, 0.01, 5.0, 4, 4, False), 0.05) == 1.0  # inside: no claim
    # a NaN p (a zero time) is no evidence, and no crash
    family = [{"p": math.nan, "time_ratio_low": None, "time_ratio_high": None,
               "_est": LogRatio(math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, 0, 0, False)}]
    assert evidence.judge(family)[0]["verdict"] == "inconclusive"


# ---- a family: Benjamini-Hochberg ------------------------------------------------------------------
def _se_for(p_beyond_target: float, ratio: float = 1.2, df: float = 5.0) -> float:
    """The standard error that makes p_beyond(ratio, margin 5%) what is asked (inverting the t tail)."""
    return (math.log(ratio) - math.log(1.05)) / stats.t.isf(p_beyond_target / 2, df)


def test_a_family_is_adjusted_together():
    """Claims "beyond the margin" with p = 0.01, 0.04, 0.03, 0.5 over 4 comparisons: BH gives 0.04, 0.0533,
    0.0533, 0.5 (by hand: p_(k) m / k, then the running minimum from the largest), so only the first is decided;
    the other intervals lie beyond the margin too, but their claims do not survive the adjustment."""
    family = [{"p": p, "time_ratio_low": 1.1, "time_ratio_high": 1.3,
               "_est": LogRatio(1.2, 1.1, 1.3, p, _se_for(p), 5.0, 4, 4, False)} for p in (0.01, 0.04, 0.03, 0.5)]
    out = evidence.judge(family, margin=0.05, alpha=0.05)
    assert [c["p_beyond_margin_adjusted"] for c in out] == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.5])
    assert [c["p_adjusted"] for c in out] == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.5])
    assert [c["verdict"] for c in out] == ["slower", "inconclusive", "inconclusive", "inconclusive"]
    assert [c["significant"] for c in out] == [True, False, False, False]
    words = evidence.judge([dict(family[0], _est=LogRatio(1.2, 1.1, 1.3, 0.001, 0.01, 5.0, 4, 4, False))],
                           words=evidence.WORDS["cast"])
    assert words[0]["verdict"] == "costs"


def test_family_lines_put_evidence_first_and_count_the_inconclusive_on_one_line():
    def c(v, mode, batch, low, high, need=None):
        return {"verdict": v, "mode": mode, "device": "cpu", "dtype": "float32", "size": 8, "batch_size": batch,
                "time_ratio": (low * high) ** 0.5, "time_ratio_low": low, "time_ratio_high": high,
                "repeats_to_decide": need}

    family = [c("inconclusive", "eager", 4, 0.6, 1.6, 40), c("no-difference", "eager", 64, 0.98, 1.02),
              c("inconclusive", "graph", 4, 0.9, 1.2, 12), c("costs", "graph", 64, 1.3, 1.5),
              c("costs", "eager", 16, 1.1, 1.2)]
    lines = questions._family_lines(family, lambda x: f"{x['mode']} b{x['batch_size']} {x['verdict']}", 0.05)
    assert lines[:3] == ["eager b16 costs", "graph b64 costs", "eager b64 no-difference"]
    # widths: sqrt(1.6 / 0.6) - 1 = 63%, sqrt(1.2 / 0.9) - 1 = 15%; median of 40 and 12 repeats: 26
    assert lines[3] == ("Inconclusive in 2 configurations: intervals from +-15% to +-63% wide, against a +-5% margin; "
                        "about 26 repeats a trial (median) would decide them (--min-repeats).")
    assert lines[4] == ("With 5 comparisons, chance alone would make about 0.25 look significant at 5%; after "
                        "Benjamini-Hochberg the expected share of false ones among those decided is under 5%.")


# ---- planted runs ----------------------------------------------------------------------------------
def _summary(run_dir):
    run = load_run(run_dir)
    data = findings.analyse(run)
    return run, data, answers.summarize(run, data)


def _answer(summary, question):
    (a,) = [a for a in summary.answers if a.question == question]
    return a


def test_a_cast_that_costs_nothing_is_shown_to_cost_nothing(tmp_path):
    run, data, s = _summary(make_run(tmp_path / "r", devices="cpu", cast=1.0, pairing="none"))
    assert {c["verdict"] for c in data["cast_overhead"]} == {"no-difference"}
    n = len(data["cast_overhead"])
    assert _answer(s, "What does the float64 cast cost?").verdict == \
        f"No measurable cost: within +-5% in all {n} configurations."


def test_a_cast_hidden_in_noise_is_inconclusive_never_no_cost(tmp_path):
    run, data, s = _summary(make_run(tmp_path / "r", devices="cpu", cast=1.0, pairing="none", noise=NOISY))
    assert {c["verdict"] for c in data["cast_overhead"]} == {"inconclusive"}
    a = _answer(s, "What does the float64 cast cost?")
    assert a.verdict.startswith("Inconclusive: at this run's noise the intervals run from -")
    assert "No measurable cost" not in a.verdict and "costs" not in a.verdict
    assert a.lines[0].startswith(f"Inconclusive in {len(data['cast_overhead'])} configurations: intervals from +-")
    # the same noise, shared by each back-to-back pair: the paired ratio sees through it
    run, data, s = _summary(make_run(tmp_path / "p", devices="cpu", cast=1.0, pairing="dtype", noise=NOISY))
    assert {c["verdict"] for c in data["cast_overhead"]} == {"no-difference"} and all(
        c["paired"] for c in data["cast_overhead"])


def test_a_cast_that_costs_is_decided_with_what_to_do(tmp_path):
    run, data, s = _summary(make_run(tmp_path / "r", devices="cpu"))
    n = len(data["cast_overhead"])
    a = _answer(s, "What does the float64 cast cost?")
    assert a.verdict == (f"It costs a median +25% in the {n} of {n} configurations where the cost is decided (beyond "
                         "+-5%, after Benjamini-Hochberg); there, store the data as float32 (--dtypes float32).")
    assert a.lines[0] == "cpu eager, batch 16, hidden 8: +25.0% [+25.0%, +25.0%]: costs"  # paired, noise shared
    assert data["conventions"]["margin"] == 0.05


def test_the_fastest_mode_is_a_way_to_run_the_model_and_baselines_stand_apart(tmp_path):
    run, data, s = _summary(make_run(tmp_path / "r", devices="cpu"))
    a = _answer(s, "Which execution mode is fastest?")
    assert data["modes"]["reference"] == "eager" and data["modes"]["fastest"] == "graph"
    assert a.verdict == ("Fastest: graph, a median 4x the eager loop's speed; decidedly faster in 16 of 16 "
                         "configurations.")
    assert "numpy" not in a.verdict  # 10x eager, but the NumPy baseline is not a way to run a TensorFlow model
    (line,) = [x for x in a.lines if x.startswith("numpy")]
    assert "the NumPy baseline" in line and "a median 10x" in line
    # no GPU in the matrix: the question is not asked, and a line says how to ask it
    assert "Is the GPU worth it?" not in [x.question for x in s.answers]
    assert s.not_asked[0] == "Is the GPU worth it? Not asked: the sweep measured the CPU only (add --devices cpu,gpu)."


def test_without_eager_the_modes_answer_is_relative_to_what_was_measured(tmp_path):
    run, data, s = _summary(make_run(tmp_path / "r", devices="cpu", modes="graph,numpy,numba"))
    assert data["modes"]["reference"] == "graph" and data["modes"]["fastest"] is None
    a = _answer(s, "Which execution mode is fastest?")
    assert a.verdict == "Only graph among the ways to run the model was measured; the others are shown for scale."
    assert any(x.startswith("numba (the floor") for x in a.lines)


def test_the_runner_up_is_compared_with_the_fastest(tmp_path):
    run, data, s = _summary(make_run(tmp_path / "r", devices="cpu", modes="eager,graph,function"))
    # function takes half eager's time in the synthetic model, graph a quarter: graph leads it by 2x
    runner = data["modes"]["vs_runner_up"]
    assert {c["reference"] for c in runner} == {"function"} and {c["verdict"] for c in runner} == {"faster"}
    assert _answer(s, "Which execution mode is fastest?").verdict.endswith(
        "Ahead of function, the runner-up, in every configuration.")


# ---- when compiling pays off -----------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "ref", "expected"), [
    ((0.5, 0.1), (0.05, 0.4), 1.5),  # (0.5 - 0.05) / (0.4 - 0.1)
    ((0.01, 0.1), (0.05, 0.4), 0.0),  # cheaper to start and faster: ahead from the first epoch
    ((0.5, 0.4), (0.05, 0.4), math.inf),  # no faster: never
])
def test_break_even_by_hand(mode, ref, expected):
    assert compile_cost.break_even(*mode, *ref) == pytest.approx(expected)


def test_the_gpu_answer_counts_verdicts_and_says_why_there_is_none(tmp_path):
    run, data, s = _summary(make_run(tmp_path / "r"))
    a = _answer(s, "Is the GPU worth it?")
    v = [c["verdict"] for c in data["gpu_vs_cpu"]]
    assert a.verdict == (f"The GPU was faster in {v.count('faster')} of {len(v)} configurations and slower in "
                         f"{v.count('slower')} (beyond the +-5% margin, after Benjamini-Hochberg); no difference in "
                         f"{v.count('no-difference')}; {v.count('inconclusive')} inconclusive.")
    # the planted model: the GPU wins from batch 404 (hidden 8) and 201 (hidden 64): at 1024 only, at 16-256 it loses
    assert v.count("faster") == 12 and v.count("slower") == 20


def test_compile_cost_from_the_warm_up_epoch(tmp_path):
    run = load_run(make_run(tmp_path / "r", devices="cpu"))
    entries = {e["config_id"]: e for e in compile_cost.compile_costs(run)}
    e = entries["cpu-graph-float32-b64-h8-t0"]
    epoch = (1e-4 + 64e-6) * 0.25 * 4096 / 64  # the synthetic graph epoch; its warm-up is 10 epochs
    assert e["steady_epoch_s"] == pytest.approx(epoch) and e["one_off_s"] == pytest.approx(9 * epoch)
    # eager's one-off is 9 eager epochs, 4x graph's: graph is ahead from the first epoch
    assert e["pays"] == "at once" and e["break_even_epochs"] == 0.0
    assert "ahead of eager from the first epoch" in compile_cost.describe(e, "hidden")
    run, data, s = _summary(tmp_path / "r")
    assert _answer(s, "When does compiling pay off?").verdict.startswith(
        "Against the eager loop (point estimates; each line has its 95% interval): graph (one-off a median")


# ---- the noise -----------------------------------------------------------------------------------
def test_noise_probe_with_a_fake_clock():
    ticks = iter(np.cumsum([0, 1.0, 0, 1.2, 0, 0.8, 0, 1.0]) * 1e9)
    n = noise_probe(samples=4, kernel=lambda: None, clock=lambda: next(ticks))
    x = np.array([1.0, 1.2, 0.8, 1.0])
    assert n["median_s"] == pytest.approx(1.0) and n["cv"] == pytest.approx(x.std(ddof=1) / x.mean())
    assert (n["min_s"], n["max_s"], n["samples"]) == (pytest.approx(0.8), pytest.approx(1.2), 4)


def test_the_noise_is_one_statement_with_what_would_decide(tmp_path):
    run, data, s = _summary(make_run(tmp_path / "r", devices="cpu", cast=1.0, pairing="none", noise=NOISY))
    n = data["noise"]
    medians = np.array([1.0, 1.25, 0.8])  # every trial's repeat medians, up to its own scale
    assert n["repeat_cv_median"] == pytest.approx(medians.std(ddof=1) / medians.mean())
    assert n["inconclusive"] == len(data["cast_overhead"]) and n["comparisons"] > n["inconclusive"]
    assert s.noise.startswith("Noise: repeats of one trial varied by a median 22% (coefficient of variation")
    assert f"It left {n['inconclusive']} of {n['comparisons']} comparisons inconclusive at the +-5% margin" in s.noise
    # and what an interval covers, by the run's worker policy (one process per thread setting: not a re-run)
    assert s.noise.endswith("which came from one worker process per thread setting: not between processes, runs or "
                            "machines (--workers round for that; docs/answers.md).")
    assert not any("interval wider" in w.what for w in s.warnings)  # no warning on every trial


# ---- the stop rule and the time budget ---------------------------------------------------------------
def _sweep(tmp_path, times, **over):
    spec = build_spec({"devices": "cpu", "modes": "numpy", "dtypes": "float32,float64-cast", "batch_sizes": "16,64",
                       "sizes": "8", "epochs": 3, "peak_n": 0, **over})
    fake = FakeExecutor(times=times)
    rows, done = loop.run_sweep(spec, tmp_path / "run", argv=["test"], executor=fake, progress=False)
    assert done
    return rows


def test_the_answers_rule_stops_a_trial_once_its_comparisons_are_decided(tmp_path):
    # float64-cast takes 2x float32, without noise: decided at the minimum repeats
    rows = _sweep(tmp_path, lambda task, side: ([0.5, *([0.01 * (2 if task.dtype == "float64-cast" else 1)] * 2)],
                                                0.03), stop_rule="answers", min_repeats=3, target_ci=1e-9)
    assert {(r["stop_reason"], r["repeats"]) for r in rows} == {("decided", 3)}


def test_the_answers_rule_keeps_an_open_comparison_measuring(tmp_path):
    rng = np.random.default_rng(0)
    rows = _sweep(tmp_path, lambda task, side: ([0.5, *(0.01 * rng.uniform(0.5, 1.5, 2))], 0.001),
                  stop_rule="answers", min_repeats=3, max_repeats=8, target_ci=0.9, trial_budget_s=100)
    # the median of each trial is "precise" at +-90% after 3 repeats, but the cast's comparison is not decided:
    # both trials of each pair go on, in step, to the repeat limit (the second to stop finds its partner done,
    # with as many repeats: no pair is left to add, and its own rule stops it)
    assert {r["repeats"] for r in rows} == {8}
    assert sorted(r["stop_reason"] for r in rows) == ["max_repeats", "max_repeats", "precision", "precision"]


def test_the_run_time_budget_stops_trials_once_they_have_their_minimum(tmp_path, monkeypatch):
    clock = [0.0]  # each repeat takes 1 s of a fake clock
    monkeypatch.setattr(loop, "time", SimpleNamespace(monotonic=lambda: clock[0]))

    def times(task, side):
        clock[0] += 1.0
        return [0.5, 0.01, 0.012 + 0.001 * task.repeat], 1.0

    rows = _sweep(tmp_path, times, time_budget_s=10.5, min_repeats=2, max_repeats=30, target_ci=1e-9)
    # 4 trials: 2 repeats each (8 s), then repeats while one more still ends by 10.5 s: 10 in all, none past it
    assert sum(r["repeats"] for r in rows) == 10 and clock[0] == 10.0
    assert {r["stop_reason"] for r in rows} == {"budget"} and min(r["repeats"] for r in rows) == 2


def test_the_minimum_repeats_outlast_a_budget_too_small_for_them(tmp_path, monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(loop, "time", SimpleNamespace(monotonic=lambda: clock[0]))

    def times(task, side):
        clock[0] += 10.0
        return [0.5, 0.01, 0.012], 10.0

    rows = _sweep(tmp_path, times, time_budget_s=5, min_repeats=2, max_repeats=30)
    assert {(r["stop_reason"], r["repeats"]) for r in rows} == {("budget", 2)}


def test_pairs_sit_side_by_side_alternate_and_wait_for_a_lagging_partner():
    from bench.engine import design

    spec = build_spec({"devices": "cpu", "modes": "numpy", "dtypes": "float32,float64-cast"})
    key = {"a32": "A", "a64": "A", "b32": "B", "b64": "B", "c": None}
    dtype = {"a32": "float32", "a64": "float64-cast", "b32": "float32", "b64": "float64-cast", "c": "float32"}
    units = design.grouped(["b64", "c", "a32", "b32", "a64"], key.get, dtype.get, spec)
    assert units == ["b32", "b64", "c", "a32", "a64"]  # each pair at its first member's place, float32 first
    assert design.round_order(units, 0, key.get) == units
    assert design.round_order(units, 1, key.get) == ["b64", "b32", "c", "a64", "a32"]
    states = {c: SimpleNamespace(repeats=[{}] * n, status=None) for c, n in (("a32", 3), ("a64", 2))}
    assert design.ahead_of_pair("a32", states, ["a32", "a64"]) and not design.ahead_of_pair("a64", states,
                                                                                           ["a32", "a64"])
    states["a64"].status = "ok"  # a finished partner holds nobody back
    assert not design.ahead_of_pair("a32", states, ["a32", "a64"])


def test_only_repeats_measured_back_to_back_are_paired():
    import pandas as pd

    rows = [{"config_id": c, "repeat": r, "median_epoch_s": 1.0, "node": "n", "worker_pid": pid}
            for c, pids in (("x", (7, 7, 7, 9)), ("y", (7, 7, 8, 9))) for r, pid in enumerate(pids)]
    run = SimpleNamespace(ok=pd.DataFrame({"config_id": ["x", "y"]}), repeats=pd.DataFrame(rows))
    # repeat 2 ran in different processes (a kill and --resume between them): not a pair
    assert evidence.paired_repeats(run, "x", "y") == [0, 1, 3]


def test_decide_by_hand():
    spec = build_spec({"devices": "cpu", "modes": "numpy", "stop_rule": "answers", "min_repeats": 2})
    trial = SimpleNamespace(config_id="x")
    state = session.TrialState(trial=trial)
    state.repeats = [{"status": "ok", "repeat": r, "device_actual": "cpu:0", "median_epoch_s": 1.0} for r in range(2)]
    state.epoch_times = [[2.0, 1.0, 1.0], [2.0, 1.0, 1.0]]
    assert session.decide(state, spec, open_question=lambda s: True) is False  # precise, but a question is open
    assert session.decide(state, spec, open_question=lambda s: True, out_of_time=True) is True
    assert state.stop_reason == "budget" and state.status == "ok"
    state.status = None
    assert session.decide(state, spec, open_question=lambda s: False) and state.stop_reason == "decided"


# ---- the estimate ------------------------------------------------------------------------------------
def test_the_estimate_learns_from_the_first_repeats_and_a_plain_line_comes_every_10_s():
    spec = build_spec({"devices": "cpu", "modes": "numpy", "min_repeats": 3, "trial_budget_s": 1.5})
    states = {c: session.TrialState(trial=SimpleNamespace(config_id=c)) for c in ("a", "b")}
    fake = SimpleNamespace(spec=spec, states=states)
    now = [0.0]
    out = io.StringIO()  # not a terminal: plain lines
    p = Progress([fake], shown=True, prior=lambda t: 0.3, clock=lambda: now[0], stream=out)
    p.outlook([fake], lanes=[object()], nodes=1)
    # before anything is measured: 0.1 s a repeat (the prior), so each trial runs to its 1.5 s budget
    assert "2 of 2 trials to measure: about 3 s" in out.getvalue()
    now[0] = 5.0
    states["a"].repeats = [{"wall_s": 5.0}]
    states["a"].elapsed_s = 5.0
    p.tick(states["a"])  # 5 s a repeat, 50x the prior: 3 repeats each (15 s), for b too (the prior scaled)
    assert "estimate revised from what the trials measured: about 30 s in all, about 25 s left" in out.getvalue()
    assert "measuring:" not in out.getvalue()
    now[0] = 15.5
    p.tick(states["a"])
    assert "measuring: 0 of 2 trials finished" in out.getvalue()


# ---- the reproduction check (scripts/reproduce_check.py) ---------------------------------------------
def test_the_reproduction_check_finds_a_run_that_matches_and_one_that_does_not(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("reproduce_check", ROOT / "scripts" / "reproduce_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    published = make_run(tmp_path / "published", devices="cpu")
    same = make_run(tmp_path / "same", devices="cpu")
    lines, hits, total = mod.check(same, published)
    assert total > 0 and hits == total and lines[-1].startswith(f"{total} of {total} published values")
    # eager 1.5x slower here: every eager time and every comparison with eager misses; the others reproduce
    slower = make_run(tmp_path / "slower", devices="cpu", slowdown=lambda t: 1.5 if t["mode"] == "eager" else 1.0)
    lines, hits, total = mod.check(slower, published)
    misses = [x for x in lines if x.endswith("MISS")]
    assert misses and all("eager" in x for x in misses) and hits == total - len(misses)
