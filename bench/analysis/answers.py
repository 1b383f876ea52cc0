"""What a person reads first about a run: the answers (bench.analysis.questions), the questions the sweep could
not ask with how to ask them, the run's noise in one line, and the warnings (pyperf's habit: a disturbed trial
is named, with what to do about it). One source for the terminal summary and the HTML report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.analysis import noise, questions
from bench.format import Run


@dataclass(frozen=True, slots=True)
class Caution:
    """Numbers to trust less: what, which trials, what to do."""

    what: str
    trials: tuple[str, ...]
    advice: str


@dataclass(slots=True)
class Summary:
    """What a person reads first about a run."""

    answers: list[questions.Answer] = field(default_factory=list)
    warnings: list[Caution] = field(default_factory=list)
    not_asked: list[str] = field(default_factory=list)  # questions the matrix cannot ask, each with how to ask it
    noise: str = ""  # the run's noise and what it left undecided, one line


def warnings_of(run: Run, data: Mapping[str, Any] | None = None) -> list[Caution]:
    """Trials whose numbers deserve less trust (repeats far noisier than the run's usual), and trials that
    measured nothing, grouped, with what to do. The run's noise itself is one statement (Summary.noise), not a
    warning on every trial."""
    s = run.summary
    out = []
    noisy = ((data or {}).get("noise") or {}).get("noisy_trials") or []
    if noisy:
        out.append(Caution(f"{len(noisy)} trial(s) whose repeats varied over {noise.OUTLIER:g}x the run's median "
                           "spread: something disturbed them", tuple(noisy),
                           "rerun them (--resume a copy, or a sweep of just those) on a quieter machine"))
    for status, advice in (("skipped", "the reason says what is missing"), ("error", "see the reason; rerun those "
                           "trials with --resume after fixing it"), ("diverged", "a smaller --learning-rate")):
        rows = s[s["status"] == status]
        for reason, g in rows.groupby("reason", sort=True):
            out.append(Caution(f"{len(g)} trial(s) {status}: {reason}", tuple(g["config_id"]), advice))
    if run.warnings:
        out.append(Caution("the run directory had leftovers: " + "; ".join(run.warnings), (), "--resume repairs them"))
    return out


def not_asked(run: Run, data: Mapping[str, Any]) -> list[str]:
    """The questions this sweep's matrix cannot ask, each with how to ask it."""
    out = []
    if "gpu" not in {str(d) for d in run.spec.devices}:
        out.append("Is the GPU worth it? Not asked: the sweep measured the CPU only (add --devices cpu,gpu).")
    if data["modes"]["reference"] is None:
        out.append("Which execution mode is fastest? Not asked: one mode measured (e.g. --modes eager,function,graph).")
    dtypes = {str(d) for d in run.spec.dtypes}
    if not {"float32", "float64-cast"} <= dtypes:
        out.append("What does the float64 cast cost? Not asked: the sweep lacks float32 or float64-cast "
                   "(--dtypes float32,float64-cast).")
    return out


def summarize(run: Run, data: Mapping[str, Any]) -> Summary:
    """The answers the run's matrix can give (those with an answer first), the questions it could not ask, the
    run's noise, and the warnings."""
    answers = [a for a in (questions.gpu_answer(run, data), questions.modes_answer(data),
                           questions.dtype_answer(data, run), questions.mixed_answer(data, run),
                           questions.compile_answer(run, data),
                           questions.time_answer(run, data)) if a is not None]
    answers.sort(key=lambda a: a.verdict.startswith("No answer"))
    n = data.get("noise")
    line = noise.statement(n, data["conventions"]["margin"]) + " " + noise.covers(run.spec.workers) if n else ""
    return Summary(answers, warnings_of(run, data), not_asked(run, data), line)


def text(summary: Summary, *, width: int = 100) -> str:
    """The summary as terminal text: each question, its answer, its lines; what was not asked; the noise; then
    the warnings."""
    out = []
    for a in summary.answers:
        out += [a.question, f"  {a.verdict}", *(f"    {line}" for line in a.lines[:12])]
        if len(a.lines) > 12:
            out.append(f"    ... {len(a.lines) - 12} more in report.html")
    out += summary.not_asked
    if summary.noise:
        out.append(summary.noise)
    if summary.warnings:
        out.append("Warnings:")
        for w in summary.warnings:
            ids = ", ".join(w.trials[:4]) + (f" and {len(w.trials) - 4} more" if len(w.trials) > 4 else "")
            out.append(f"  WARNING: {w.what}" + (f" ({ids})" if ids else "") + f"; {w.advice}")
    return "\n".join(out)


def trial_counts(rows: Sequence[Mapping[str, Any]]) -> str:
    """'12 trials: 10 ok, 2 skipped'."""
    counts = Counter(str(r["status"]) for r in rows)
    return f"{len(rows)} trials: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
