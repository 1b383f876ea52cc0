"""One self-contained HTML report of one or several runs: the answers first, each with the figure that shows it,
then the warnings, every trial, the other figures, the machine and the command. It reads at any width: figures
at the column's width (a click shows one full size), tables in their own horizontal scroller, short trial
labels with what every row shares said once above the table, skipped trials with one reason on one row.

Rendered with Jinja2 with autoescaping on: a run directory may come from a stranger (a pull request's
artifact), so every string from it is escaped. Figures are SVG embedded as `data:` images, which never
run scripts (matplotlib writes text such as titles into the SVG); a Content-Security-Policy forbids every
request but `data:` images. The file opens offline and attaches to a CI artifact or an e-mail.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from bench.analysis import answers, compare, findings
from bench.analysis.figstyle import STYLE, NothingToPlot, caption_of
from bench.analysis.plot import FIGURE_FUNCS, FIGURES, OVERLAY_FIGURES
from bench.analysis.table import fmt
from bench.format import Run
from bench.format.errors import InputError
from bench.format.io import atomic_write
from bench.format.stats import DEFAULT_ALPHA, DEFAULT_THRESHOLD

REPORT_FILE = "report.html"
# the question each figure answers: its caption, and the start of its alternative text
QUESTIONS = {
    "epoch_time": "How does the epoch time grow with the batch size, per mode and size?",
    "throughput": "How many samples per second does training reach at each batch size?",
    "speedup_gpu_cpu": "Where is the GPU faster than the CPU, and by how much?",
    "speedup_modes": "How much faster than the eager loop is each execution mode?",
    "speedup_dtype": "How do the dtype modes compare?",
    "cast_overhead": "What does casting float64 data to float32 in every step cost?",
    "mse": "Do all modes and devices train the same model (loss per epoch)?",
    "gflops": "How close to the machine's measured matmul ceiling does training get?",
    "modes": "Which execution mode is fastest (at the article's configuration where measured)?",
    "scaling": "How well does training scale over several devices?",
}
# the figure under each answer (questions.Answer.topic); the rest go under "More figures"
FIGURE_OF_TOPIC = {"gpu": "speedup_gpu_cpu", "modes": "modes", "cast": "cast_overhead", "compile": "speedup_modes",
                   "time": "epoch_time"}
COLUMNS = ("trial", "status", "median ms [95% CI]", "test loss", "test accuracy", "test mae", "repeats", "stop",
           "machine", "reason")
NUMERIC = ("median ms [95% CI]", "test loss", "test accuracy", "test mae", "repeats")
LABEL_PARTS = ("device", "mode", "dtype", "batch_size", "size", "threads", "replicas")  # a trial's short label


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("bench.analysis", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True)


def figure_entry(name: str, fig: Any) -> dict[str, str]:
    """A drawn figure as the report shows it: {name, caption, alt, svg_base64} (the figure stays open)."""
    buf = io.BytesIO()
    # the tight box holds every text drawn (a title or label past the canvas would be clipped in an <img>)
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    texts = [fig.get_suptitle(), *(t.get_text() for t in fig.texts)]
    title = " ".join(" ".join(t.split()) for t in texts if t.strip())[:300]
    return {"name": name, "caption": " ".join(filter(None, (QUESTIONS[name], caption_of(fig)))),
            "svg_base64": base64.b64encode(buf.getvalue()).decode("ascii"),
            "alt": f"{QUESTIONS[name]} Figure: {title}" if title else QUESTIONS[name]}


def figures(runs: Sequence[Run], names: Sequence[str]) -> tuple[list[dict[str, str]], list[tuple[str, str]]]:
    """Each named figure that the runs can draw as {name, alt, caption, svg_base64}; and (name, why) of the rest."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out, skipped = [], []
    with plt.rc_context(STYLE):
        for name in names:
            try:
                fig = FIGURE_FUNCS[name](list(runs))
            except NothingToPlot as why:
                skipped.append((name, str(why)))
                continue
            out.append(figure_entry(name, fig))
            plt.close(fig)
    return out, skipped


def _ms(r: Mapping[str, Any]) -> str:
    med, lo, hi = (float(r[k]) * 1e3 for k in ("median_s", "ci_low_s", "ci_high_s"))
    if not math.isfinite(med):
        return "-"
    return fmt(med) + ("" if not math.isfinite(lo) else f" [{fmt(lo)}, {fmt(hi)}]")


def _label_parts(run: Run) -> tuple[list[str], list[str]]:
    """Which of a trial's parts tell the run's trials apart (its short label) and which every trial shares."""
    s = run.summary
    varying = [k for k in LABEL_PARTS if k in s and s[k].nunique(dropna=False) > 1]
    return varying, [k for k in LABEL_PARTS if k in s and k not in varying]


def _part(run: Run, key: str, value: Any) -> str:
    """One part of a trial's label: 'b4', 'h20', 'threads default', 'eager'."""
    if key == "batch_size":
        return f"b{int(value)}"
    if key == "size":
        return f"{run.workload.size_name[0]}{int(value)}"
    if key == "threads":
        return f"threads {int(value) or 'default'}"
    if key == "replicas":
        return f"{int(value)} replica(s)"
    return str(value)


def shared(run: Run) -> str:
    """What every trial of the run shares, said once above its table: 'cpu, eager, threads default, 1 replica(s),
    machine 1a2b3c4d (...)'."""
    s = run.summary
    _, same = _label_parts(run)
    out = [f"{run.workload.size_name} {int(s[k].iloc[0])}" if k == "size" else
           f"batch size {int(s[k].iloc[0])}" if k == "batch_size" else _part(run, k, s[k].iloc[0])
           for k in same if len(s)]
    machines = set(s["machine"]) if len(s) else set()
    if len(machines) == 1:
        mid = machines.pop()
        out.append(f"machine {run.machines.get(mid, mid) or '-'}")
    out.append(f"loss {run.workload.loss_name}")  # what the "test loss" column holds
    return ", ".join(out)


def _number(value: Any) -> str:
    """A loss or metric, 4 significant figures; '-' where there is none (a trial that measured nothing)."""
    return "-" if value is None or value != value else f"{float(value):.4g}"


def _rows(run: Run) -> list[dict[str, Any]]:
    """The table's rows: every ok or failed trial, and skipped trials that measured nothing and share a reason and
    a machine as one row (its ids in `ids`). A trial's label names only what tells it apart from the others
    (config_id, whole, in `id`)."""
    varying, _ = _label_parts(run)
    one_machine = run.summary["machine"].nunique() <= 1
    rows, collapsed = [], {}
    for _, r in run.summary.iterrows():
        label = " ".join(_part(run, k, r[k]) for k in varying) or r["config_id"]
        row = {"trial": label, "id": r["config_id"], "status": r["status"], "median ms [95% CI]": _ms(r),
               "repeats": str(int(r["repeats"])), "stop": r["stop_reason"] or "-",
               "machine": run.machines.get(r["machine"], r["machine"]) or "-", "reason": r["reason"] or "",
               "ids": [], "test loss": _number(r["test_loss_median"]),
               **{f"test {m}": _number(r[f"test_{m}_median"]) for m in run.workload.metrics}}
        if r["status"] == "skipped" and int(r["repeats"]) == 0:  # measured nothing: nothing to tell apart
            key = (r["reason"], r["machine"])
            if key not in collapsed:
                collapsed[key] = row
                rows.append(row)
            group = collapsed[key]
            group["ids"].append(r["config_id"])
            if len(group["ids"]) > 1:
                group["trial"] = f"{len(group['ids'])} trials"
            continue
        rows.append(row)
    return rows if not one_machine else [{k: v for k, v in r.items() if k != "machine"} for r in rows]


def _facts(run: Run) -> list[tuple[str, str]]:
    meta, host = run.meta, run.meta.get("host") or {}
    packages = host.get("packages") or {}
    tf = meta.get("tensorflow") or {}
    git = meta.get("git") or {}
    out = [("run", str(meta.get("run_id"))), ("started / finished", f"{meta.get('started_at')} / "
                                                                    f"{meta.get('finished_at') or 'not finished'}")]
    out += [(f"machine {mid}", label) for mid, label in run.machines.items()]
    out += [("CPU", f"{host.get('cpu_model')} ({host.get('cpu_affinity') or host.get('cpu_logical_cores')} cores "
                    f"usable)"),
            ("memory", f"{(host.get('memory_total_bytes') or 0) / 2**30:.1f} GiB"),
            ("OS, Python", f"{host.get('os')}, Python {host.get('python')}"),
            ("TensorFlow", f"{tf.get('tensorflow') or 'not used'}; threads in force intra {tf.get('threads_intra')}, "
                           f"inter {tf.get('threads_inter')}"),
            ("packages", ", ".join(f"{k} {v}" for k, v in sorted(packages.items()) if v)),
            ("code", (git.get("commit") or "unknown commit") + (" (uncommitted changes)" if git.get("dirty") else "")),
            ("executor", str((meta.get("executor") or {}).get("kind", "local")))]
    return out


def _workload(run: Run) -> str:
    s, w = run.spec, run.workload
    return (f"Workload {w.name}: {w.summary} (size axis: {w.size_name}, {w.size_doc}; learning rate "
            f"{s.learning_rate:g}) on {s.n_train} training samples, {s.epochs} epochs a repeat (the first kept "
            f"apart as the warm-up); modes {', '.join(s.modes)}; dtypes {', '.join(s.dtypes)}.")


Drawn = tuple[list[dict[str, str]], list[tuple[str, str]]]  # figures(): the entries, and (name, why) not drawn


def comparisons(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """Each later run against the first, as bench.compare gives it: the summary line (with the smallest slowdown
    it could have detected at this noise: a `same` is not evidence of no change) and the verdict table, its
    `detectable` column included. A pair that cannot be compared says why."""
    out = []
    if len(runs) < 2:
        return out
    try:
        base = compare.load(runs[0].path)
    except InputError as exc:
        return [{"id": str(r.meta.get("run_id")), "line": f"not compared: {exc}", "columns": [], "rows": []}
                for r in runs[1:]]
    for run in runs[1:]:
        entry: dict[str, Any] = {"id": str(run.meta.get("run_id")), "columns": [], "rows": []}
        try:
            cand = compare.load(run.path)
            differ = compare.check_machines(base, cand)
            if differ:  # as bench.compare refuses them (without --allow-different-machines)
                raise InputError("measured on different machines (" + "; ".join(differ) + "): a time ratio "
                                 "would compare the machines, not the code")
            rows = compare.compare(base, cand)
        except InputError as exc:
            entry["line"] = f"not compared: {exc}"
            out.append(entry)
            continue
        if not rows:
            entry["line"] = "not compared: no configuration was measured in both runs"
        else:
            entry["line"] = compare.summary_line(rows, threshold=DEFAULT_THRESHOLD, alpha=DEFAULT_ALPHA)
            entry["rows"] = compare.table_rows(compare.by_verdict(rows))
            entry["columns"] = list(entry["rows"][0])
        out.append(entry)
    return out


def context(runs: Sequence[Run], analyses: Sequence[Mapping[str, Any]] | None = None,
            drawn: Sequence[Drawn] | None = None) -> dict[str, Any]:
    """Everything the template shows, as plain data (strings from the runs stay raw: the template escapes).
    `analyses`: each run's analysis.json content, and `drawn` its figures, where already made."""
    per_run = []
    for i, run in enumerate(runs):
        data = analyses[i] if analyses else findings.analyse(run)
        figs, skipped = drawn[i] if drawn else figures([run], FIGURES)
        summary = answers.summarize(run, data)
        by_name = {f["name"]: f for f in figs}
        placed = [{"answer": a, "figure": by_name.get(FIGURE_OF_TOPIC.get(a.topic, ""))} for a in summary.answers]
        used = {p["figure"]["name"] for p in placed if p["figure"]}
        rows = _rows(run)
        per_run.append({
            "id": str(run.meta.get("run_id")), "path": str(run.path), "machine": run.label,
            "summary": summary, "answers": placed, "columns": [c for c in COLUMNS if c in rows[0]] if rows else [],
            "numeric": NUMERIC, "rows": rows, "shared": shared(run),
            "figures": [f for f in figs if f["name"] not in used], "not_drawn": skipped, "facts": _facts(run),
            "command": " ".join(str(c) for c in run.meta.get("command") or []),
        })
    if len(runs) > 1:  # the overlays compare the runs: after the last run's own section
        figs, skipped = figures(runs, [f for f in OVERLAY_FIGURES if f in FIGURES])
        per_run[-1]["figures"] = per_run[-1]["figures"] + [
            {**f, "name": f"all-runs-{f['name']}", "caption": f"All runs: {f['caption']}"} for f in figs]
    first = runs[0]
    rows = [r for run in runs for r in run.summary.to_dict("records")]
    return {
        "title": (f"Report of run {first.meta.get('run_id')}" if len(runs) == 1 else
                  f"Report of {len(runs)} runs: " + ", ".join(str(r.meta.get("run_id")) for r in runs)),
        "workload": " ".join(dict.fromkeys(_workload(r) for r in runs)),
        "baseline": str(first.meta.get("run_id")), "comparisons": comparisons(runs),
        "machine": "; ".join(dict.fromkeys(r.label for r in runs)),
        "counts": answers.trial_counts(rows),
        "when": f"started {first.meta.get('started_at')}", "runs": per_run,
    }


def render(runs: Sequence[Run], analyses: Sequence[Mapping[str, Any]] | None = None,
           drawn: Sequence[Drawn] | None = None) -> str:
    """The report's HTML text."""
    return _environment().get_template("report.html.j2").render(**context(runs, analyses, drawn))


def write_report(runs: Sequence[Run], out: Path | None = None, *,
                 analyses: Sequence[Mapping[str, Any]] | None = None, drawn: Sequence[Drawn] | None = None) -> Path:
    """Write the report (default: RUN/report.html of a single run) atomically; returns its path."""
    if out is None:
        if len(runs) != 1:
            raise ValueError("several runs need an output path")
        out = runs[0].path / REPORT_FILE
    return atomic_write(Path(out), render(runs, analyses, drawn), what="--out")
