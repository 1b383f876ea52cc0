"""Text report at the end of a run: the speed-up table, statuses, and where the files are."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from bench.analysis import answers, findings, html, plot
from bench.analysis.table import speedup_table
from bench.format import META_FILE, RAW, REPEATS, SUMMARY, Run, load_run


def report(run: Run) -> str:
    """The table, a line on each kind of non-ok trial, and the file locations."""
    rows = run.summary.to_dict("records")
    lines = [speedup_table(rows, run.samples), ""]
    scaled = findings.scaling(run)
    if scaled:
        lines.append("scaling efficiency, time(1) / (N x time(N)) [95% CI] (1 = perfect):")
        for s in scaled:
            ci = "" if s["ci_low"] is None else f" [{s['ci_low']:.2f}, {s['ci_high']:.2f}]"
            lines.append(f"  {s['kind']:6} {s['device']} {s['mode']} {s['dtype']} "
                         f"{run.workload.size_name} {s['size']} global batch "
                         f"{s['global_batch']}, {s['replicas']} replicas: {s['efficiency']:.2f}{ci}")
        lines.append("")
    counts = Counter(r["status"] for r in rows)
    lines.append("trials: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    reasons = Counter((r["status"], r["reason"]) for r in rows if r["status"] != "ok")
    for (status, reason), n in sorted(reasons.items()):
        lines.append(f"  {n} {status}: {reason}")
    lines.append("files: " + ", ".join(str(run.path / name) for name in (META_FILE, RAW.file, REPEATS.file,
                                                                          SUMMARY.file)))
    return "\n".join(lines)


def after_run(run_dir: Path, *, plots: bool, prog: str) -> None:
    """The terminal report, analysis.json, the figures, then report.html (with those same drawings), all read
    back through the store; a failure here never costs the measurements (they are on disk)."""
    def warn(what: str, exc: Exception, retry: str) -> None:
        print(f"{prog}: warning: {what} failed ({type(exc).__name__}: {exc}); the measurements are "
              f"in {run_dir}; retry with: {retry}", file=sys.stderr)

    try:
        run = load_run(run_dir)
        path, data = findings.write_analysis(run)
        print(report(run))
        print()
        print(answers.text(answers.summarize(run, data)))
        print(f"{path}", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - report, keep the run's exit status
        warn("analysis", exc, f"python -m bench.analysis {run_dir}")
        return
    drawn = None  # each figure is drawn once: into plots/, and the same drawing into the report
    if plots:
        entries: list[dict[str, str]] = []
        skipped: dict[str, str] = {}
        try:
            plot.plot_runs([run], log=lambda line: print(line, file=sys.stderr), not_drawn=skipped,
                           on_figure=lambda name, fig: entries.append(html.figure_entry(name, fig)))
            drawn = [(entries, list(skipped.items()))]
        except Exception as exc:  # noqa: BLE001 - report, keep the run's exit status
            warn("plots", exc, f"python -m bench.plot {run_dir}")
    try:
        print(f"{html.write_report([run], analyses=[data], drawn=drawn)}", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - report, keep the run's exit status
        warn("report.html", exc, f"python -m bench.report {run_dir}")
