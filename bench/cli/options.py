"""Every option that more than one command takes, defined once: its flag, its meaning, and the default
the command really applies, so that help texts and behaviour cannot disagree.

The sweep options (matrix, workload, repeats, workers) come from one table whose keys are the
SweepSpec fields; `spec_from` merges preset, TOML file, the command's own defaults and the flags
in that order (later wins) and validates once (bench.format.spec.build_spec). Light on purpose:
`--help` imports this module.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from bench.format.errors import InputError
from bench.format.spec import PRESETS, WORKLOAD_DEFAULTS, SpecError, SweepSpec, build_spec, load_toml
from bench.format.stats import DEFAULT_ALPHA, DEFAULT_THRESHOLD
from mlp_core import modes, workloads


@dataclass(frozen=True, slots=True)
class SweepOption:
    """A flag that sets one SweepSpec field."""

    flag: str
    key: str  # the SweepSpec field (and the TOML key)
    group: str
    help: str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    aliases: tuple[str, ...] = ()  # other spellings of the same flag (older names)


def _modes_help() -> str:
    return "; ".join(f"{m.name} ({m.summary})" for m in modes.all_modes())


GROUPS = {
    "matrix": "matrix (comma-separated lists)",
    "workload": "workload",
    "repeats": "repeats (adaptive: the minimum, then until the median's CI is tight or the budget is spent)",
}
SWEEP_OPTIONS = (
    SweepOption("--devices", "devices", "matrix", "cpu,gpu (a GPU trial where none is visible is skipped, with "
                "the reason)"),
    SweepOption("--batch-sizes", "batch_sizes", "matrix", "samples per step, e.g. 4,32,256"),
    SweepOption("--sizes", "sizes", "matrix", "the workload's size axis: the MLP's hidden-layer widths (e.g. "
                "20,256,2048), the CNN's channels (e.g. 8,32)", aliases=("--hidden-sizes",)),
    SweepOption("--dtypes", "dtypes", "matrix", "dtype modes: float32, float64-cast (float64 data cast to float32 "
                "in every step: the article's), float64"),
    SweepOption("--modes", "modes", "matrix", "execution modes: " + "{modes}"),
    SweepOption("--threads", "threads", "matrix", "CPU intra/inter-op threads, 0 = TensorFlow's default; e.g. 1,2"),
    SweepOption("--replicas", "replicas", "matrix", "devices per trial, tf.distribute.MirroredStrategy (modes "
                "eager, function); e.g. 1,2,4 (on a CPU: logical CPU devices sharing the cores)"),
    SweepOption("--scaling", "scaling", "matrix", "strong: --batch-sizes are global batches split over the "
                "replicas; weak: they are per replica (global = replicas x batch)", choices=("strong", "weak")),
    SweepOption("--workload", "workload", "workload", "the model to measure: {workloads}, or a user's own as "
                "package.module:factory (README: Bring your own model)", metavar="NAME"),
    SweepOption("--epochs", "epochs", "workload", "epochs per repeat; epoch 0 is the warm-up, stored apart"),
    SweepOption("--n-train", "n_train", "workload", "training samples"),
    SweepOption("--n-test", "n_test", "workload", "test samples"),
    SweepOption("--learning-rate", "learning_rate", "workload", "the step size (plain gradient descent's, or the "
                "workload's own optimiser's)"),
    SweepOption("--seed", "seed", "workload", "data seed; repeat r draws its weights from seed + r"),
    SweepOption("--min-repeats", "min_repeats", "repeats", "repeats every trial gets at least"),
    SweepOption("--max-repeats", "max_repeats", "repeats", "repeats a trial gets at most"),
    SweepOption("--target-ci", "target_ci", "repeats", "stop adding repeats when the median's 95%% CI is within "
                "this fraction of it"),
    SweepOption("--trial-budget", "trial_budget_s", "repeats", "seconds of measuring after which a trial stops "
                "adding repeats"),
    SweepOption("--trial-timeout", "trial_timeout_s", "repeats", "seconds one repeat may take before its worker is "
                "killed (the trial is then an error)"),
    SweepOption("--workers", "workers", "repeats", "round: fresh worker processes every round, so each repeat is "
                "its own process (what a comparison of code needs; about 6 s a round here); run: one worker per "
                "thread setting for the whole run", choices=("round", "run")),
    SweepOption("--pairing", "pairing", "repeats", "dtype: the trials that differ only in dtype run back to back in "
                "every round, in alternating order, so the cast's answer comes from paired ratios; none: each trial in "
                "its own place in the shuffled order", choices=("dtype", "none")),
    SweepOption("--margin", "margin", "repeats", "the answers: a difference in time within +-this fraction counts as "
                "no difference, and a decided one must lie beyond it"),
    SweepOption("--stop-rule", "stop_rule", "repeats", "precision: a trial adds repeats until its median's 95%% CI "
                "reaches --target-ci; answers: until every comparison it takes part in (the cast, the reference "
                "mode, the other device) is decided or shown within --margin, so the time goes where an answer is "
                "still open", choices=("precision", "answers")),
    SweepOption("--time-budget", "time_budget_s", "repeats", "seconds of measuring for the whole run: no repeat "
                "starts that would end past it (each trial still gets --min-repeats), and trials stop on it instead "
                "of on --trial-budget"),
    SweepOption("--peak-n", "peak_n", "repeats", "size n of the (n, n) matmul timed once per device as the GFLOP/s "
                "ceiling; 0 = skip"),
)
SPEC_DEFAULTS = {f.name: f.default for f in fields(SweepSpec)}
# the sweep settings of the answers (a run's verdicts and how its time is spent): an A/B run measures exact repeats
# and gives its own verdicts (--threshold), so bench.ab and bench.bisect do not take them
ANSWER_KEYS = ("pairing", "margin", "stop_rule", "time_budget_s")
FLOAT_KEYS = ("learning_rate", "target_ci", "margin")


def _shown(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def default_text(key: str, command_defaults: Mapping[str, Any]) -> str:
    """'default X' as the command applies it: its own default, else the quick preset's (bench.run's default
    preset), with what the other presets set where they differ; the workload's own for its size and step."""
    if key in command_defaults:
        return f"default {_shown(command_defaults[key])}"
    if key in WORKLOAD_DEFAULTS:
        attr = "default_sizes" if key == "sizes" else key
        return "default: the workload's: " + "; ".join(f"{w.name} {_shown(getattr(w, attr))}"
                                                      for w in workloads.BUILTIN.values())
    base = PRESETS["quick"].get(key, SPEC_DEFAULTS[key])
    other = [f"--preset {name}: {_shown(p.get(key, SPEC_DEFAULTS[key]))}" for name, p in PRESETS.items()
             if name != "quick" and _shown(p.get(key, SPEC_DEFAULTS[key])) != _shown(base)]
    return f"default {_shown(base)}" + (f"; {', '.join(other)}" if other else "")


def add_sweep_options(p: argparse.ArgumentParser, *, command_defaults: Mapping[str, Any] = {},
                      skip: tuple[str, ...] = ()) -> None:
    """--preset, --config and every sweep option not in `skip` (keys), with the defaults this command applies."""
    p.add_argument("--preset", choices=sorted(PRESETS), help="base sweep (default: quick)")
    p.add_argument("--config", metavar="TOML", help="sweep file with the same keys as these flags (see scripts/)")
    groups = {name: p.add_argument_group(title) for name, title in GROUPS.items()}
    for o in SWEEP_OPTIONS:
        if o.key in skip:
            continue
        text = o.help.replace("{modes}", _modes_help()) if "{modes}" in o.help else o.help
        metavar = o.metavar or (None if o.choices else "LIST" if o.group == "matrix" else
                                "S" if o.key.endswith("_s") else "X" if o.key in FLOAT_KEYS else "N")
        text = text.replace("{workloads}", ", ".join(f"{w.name} ({w.summary})" for w in workloads.BUILTIN.values()))
        groups[o.group].add_argument(o.flag, *o.aliases, dest=o.key, metavar=metavar, choices=o.choices,
                                     help=f"{text} ({default_text(o.key, command_defaults)})")


def add_exact_repeats(p: argparse.ArgumentParser, default: int | None = None) -> None:
    """--repeats N: exactly N repeats a trial (min = max = N, no adaptive stopping)."""
    p.add_argument("--repeats", type=int, metavar="N", help="exactly N repeats per trial (sets --min-repeats and "
                   "--max-repeats both)" + (f" (default {default})" if default else ""))


def spec_from(args: argparse.Namespace, command_defaults: Mapping[str, Any] = {}) -> SweepSpec:
    """The validated sweep of a command's flags: preset, then TOML, then the command's defaults, then flags."""
    flags = {o.key: getattr(args, o.key, None) for o in SWEEP_OPTIONS}
    repeats = getattr(args, "repeats", None)
    if repeats is not None:  # --repeats N beside a --min-repeats or --max-repeats of the same N: consistent, accepted
        other = [f"{o.flag} {flags[o.key]}" for o in SWEEP_OPTIONS if o.key in ("min_repeats", "max_repeats")
                 and flags[o.key] is not None and str(flags[o.key]).strip() != str(repeats)]
        if other:
            raise SpecError("repeats", repeats, f"sets both --min-repeats and --max-repeats to {repeats}; "
                            f"{', '.join(other)} says otherwise: drop one")
        flags.update(min_repeats=repeats, max_repeats=repeats)
    layers: list[dict[str, Any]] = [{"preset": args.preset}]
    if args.config:
        layers.append(load_toml(args.config))
    layers += [dict(command_defaults), flags]
    return build_spec(*layers)


def given_options(args: argparse.Namespace) -> list[str]:
    """The sweep flags given on the command line (for commands that refuse them, e.g. --resume)."""
    out = [o.flag for o in SWEEP_OPTIONS if getattr(args, o.key, None) is not None]
    out += [f for f, k in (("--preset", "preset"), ("--config", "config"), ("--repeats", "repeats"))
            if getattr(args, k, None) is not None]
    return out


def add_verdict_options(p: argparse.ArgumentParser, *, threshold_help: str = "", per_mode: bool = False) -> None:
    """--threshold and --alpha of a comparison (bench.compare, and bench.ab's timed methods); `per_mode`: the
    threshold may also be given per execution mode (threshold_value)."""
    p.add_argument("--threshold", type=threshold_value if per_mode else float,
                   help=f"smallest relative change that counts (default "
                   f"{DEFAULT_THRESHOLD:g} = {DEFAULT_THRESHOLD * 100:g}%%)" + threshold_help)
    p.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                   help=f"significance level, after the Benjamini-Hochberg adjustment (default {DEFAULT_ALPHA:g})")


def add_quiet(p: argparse.ArgumentParser) -> None:
    """--quiet: no progress bar."""
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_markdown(p: argparse.ArgumentParser) -> None:
    """--markdown FILE: the result as markdown too (a pull-request comment)."""
    p.add_argument("--markdown", metavar="FILE", help="also write the result as markdown (a pull-request comment)")


def threshold_value(text: str) -> float | dict[str, float]:
    """--threshold's value where it may differ by execution mode: a number (0.01), or a comma-separated list of
    MODE=NUMBER with at most one bare NUMBER for the other modes ("0.005,function=0.01"): {mode: value, "*":
    the rest}."""
    try:
        return float(text)
    except ValueError:
        pass
    out: dict[str, float] = {}
    for part in text.split(","):
        mode, eq, number = part.strip().rpartition("=")
        key = mode.strip() if eq else "*"
        try:
            value = float(number)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: {part.strip()!r} is not NUMBER or MODE=NUMBER") from None
        if not key or key in out:
            raise argparse.ArgumentTypeError(f"{text!r}: {'a mode is named twice' if key else 'a mode is empty'} "
                                             f"in {part.strip()!r}")
        out[key] = value
    return out


def threshold_text(value: float | dict[str, float]) -> str:
    """A threshold_value as the user would have typed it."""
    if not isinstance(value, dict):
        return f"{value:g}"
    return ",".join(f"{v:g}" if k == "*" else f"{k}={v:g}" for k, v in value.items())


def check_threshold(value: float | None, default: float, *, upper: float) -> float:
    """A relative threshold in (0, upper); InputError naming it otherwise."""
    value = default if value is None else value
    if not 0 < value < upper:
        raise InputError(f"threshold: {value!r}: expected a relative change between 0 and {upper:g}")
    return value
