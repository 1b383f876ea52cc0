"""The instruction-count gate's verdict table (bench.engine.icount's result document), in the terminal's text or
as Markdown (a pull-request comment): a row per configuration, what a confirmation read first, the thresholds
where they differ by execution mode, and where each explained configuration's count changed
(bench.engine.profile's lists)."""

from __future__ import annotations

import re
from typing import Any

from bench.engine import profile


def table(doc: dict[str, Any], *, markdown: bool = False) -> str:
    """The verdict table, plain or Markdown: a configuration settled by a confirmation run says so, and each
    explained configuration lists where its count changed (profile.sections)."""
    head = ["config", "baseline Ir/epoch", "candidate Ir/epoch", "ratio", "spread A / B / epochs", "verdict"]
    lines = []
    for r in doc["configs"]:
        if r["verdict"] == "error":
            lines.append([r["config_id"], "", "", "", "", f"error: {r['reason']}"])
            continue
        word = r["verdict"] + (" (confirmed)" if r.get("confirmation") else "")
        lines.append([r["config_id"], f"{r['baseline_per_epoch']:,.0f}", f"{r['candidate_per_epoch']:,.0f}",
                      f"{r['ratio']:.4f}", f"{r['spread_baseline']:.2%} / {r['spread_candidate']:.2%} / "
                      f"{r.get('spread_epochs', 0.0):.2%}", word])
    notes = [f"{r['config_id']}: the first count read x{r['confirmation']['first_ratio']:.4f}, within "
             f"+-{r['threshold'] / 2:.2%} of a boundary (x{1 + r['threshold']:.4f} or "
             f"x{1 / (1 + r['threshold']):.4f}); judged over {r['confirmation']['processes_per_side']} processes a side"
             for r in doc["configs"] if r.get("confirmation")]
    why = [(r["config_id"], r) for r in doc["configs"] if r.get("functions")]
    title = ("Where `{}`'s count changed, per counted epoch:" if markdown else
             "where {}'s count changed, per counted epoch:")
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(line) + " |" for line in lines]
        out += ["", *(f"- Confirmed: {n}" for n in notes)] if notes else []
        if isinstance(doc["threshold"], dict):
            out += ["", f"Thresholds: {_thresholds(doc['threshold'], '`')}"]
        for cid, found in why:
            out += ["", title.format(cid), ""]
            for heading, found_lines in profile.sections(found):
                out += [f"- {heading}:", *(f"  - {_code(x)}" for x in found_lines)]
        return "\n".join(out) + "\n"
    widths = [max(len(x) for x in col) for col in zip(head, *lines)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    text = [fmt.format(*line).rstrip() for line in [head, *lines]]
    text += [f"confirmed: {n}" for n in notes]
    if isinstance(doc["threshold"], dict):  # thresholds per execution mode: which configuration had which
        text.append(f"thresholds: {_thresholds(doc['threshold'], '')}")
    for cid, found in why:
        text += [title.format(cid), *profile.as_text(found)]
    return "\n".join(text) + "\n"


def _code(text: str) -> str:
    """Markdown inline code around any text: a fence one backtick longer than the longest run inside it."""
    fence = "`" * (1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    pad = " " if text.startswith("`") or text.endswith("`") else ""  # CommonMark strips one space each side
    return f"{fence}{pad}{text}{pad}{fence}"


def _thresholds(by_config: dict[str, float], quote: str) -> str:
    """'0.50% for a, b; 1.00% for c': which configuration was held to which threshold."""
    return "; ".join(f"{value:.2%} for " + ", ".join(f"{quote}{c}{quote}" for c, v in by_config.items() if v == value)
                     for value in sorted(set(by_config.values())))
