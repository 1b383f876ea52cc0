"""Every field of every run-directory file, declared once: name, type, unit, one-line meaning.

The writers write exactly these columns in this order, the readers check and type them, and the
README's column dictionary is generated from them (`python -m bench.store columns`).

Schema history (SCHEMA_VERSION, in meta.json, in every summary.csv and history.csv row):
  1: meta.json, raw.csv (per-repeat values repeated on every epoch row), summary.csv.
  2: repeats.csv added (one row per trial x repeat: warm-up, median epoch, MSEs, memory, worker
     pid, start and finish time); raw.csv keeps only epoch rows; summary.csv's MSEs are named for
     what they are (median, min, max over repeats) and it ends with finished_utc; history.csv
     starts with schema_version. Version 1 directories are still read (bench.format.legacy).
  3: the matrix gains `replicas` (repeats.csv, summary.csv and history.csv; config_id ends in -rN when
     N > 1; older files read as replicas 1). Every row records the machine that measured it:
     `machine` (a short fingerprint id, its facts in meta.json `machines`) in raw.csv, repeats.csv and
     summary.csv, and `node` (the host, or the Ray node) in repeats.csv and summary.csv; a run may
     span machines (bench.run --executor ray, bench.merge). Versions 1 and 2 are read with their one
     machine filled in from meta.json.
  4: repeats.csv gains `cpus`: the cores the worker process could run on (its CPU affinity), so a duet's
     "each side on its own cores" and any pinning are on record, row by row. Version 3 reads with it empty.
  5: the matrix gains `workload` (mlp_core.workloads: the model measured; meta.json `workload` has its facts)
     and the MLP's `hidden` becomes the workload's `size` (the MLP's hidden width, the CNN's channels: the
     axis meta.json `workload.size_name` names). config_id starts with the workload's name unless it is the
     MLP's (whose ids stay as they were). Versions 1-4 read as workload mlp, size = their hidden.
  6: the answers' sweep settings (spec `margin`, `pairing`, `stop_rule`, `time_budget_s`), meta.json `noise`
     (the machine's noise before measuring), and a trial's `stop_reason` may be `decided` (the answers stop
     rule: every comparison it takes part in is decided or shown to make no difference). The tables' columns
     are those of 5, so version 5 reads as it is.
  7: the workload's loss: a workload may train another loss than the mean squared error (Workload.loss), so
     the loss columns are named for what they hold, `train_loss` (raw.csv, repeats.csv) and `test_loss`
     (repeats.csv), their summaries `train_loss_median|min|max` and `test_loss_median|min|max`, and summary.csv's
     `loss` names the loss; the metrics a workload asks for are `test_accuracy` and `test_mae` (repeats.csv)
     and their medians (summary.csv). Versions 1-6 read with their MSE columns under these names and loss mse.
     history.csv's machine columns are named for what they hold: `machine_label` (the human-readable line;
     was `machine`, which in the run tables is the 8-hex machine id) and `machine_label_key` (10 hex digits of
     the label's SHA-1; was `machine_id`); older history files read with the new names.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlp_core.enums import Device, DTypeMode

SCHEMA_VERSION = 7
KNOWN_VERSIONS = (1, 2, 3, 4, 5, 6, 7)
SAME_TABLES = (7,)  # versions whose tables are the current ones

STATUSES = ("ok", "skipped", "diverged", "error")
STOP_REASONS = ("precision", "budget", "max_repeats", "decided")
REPEAT_STATUSES = ("ok", "diverged")


@dataclass(frozen=True, slots=True)
class Field:
    """One column: its name, kind (str, int, float, bool, enum, time), unit and meaning."""

    name: str
    kind: str
    doc: str
    unit: str = ""
    nullable: bool = False  # an empty cell is allowed (and means what `doc` says)
    choices: tuple[str, ...] = ()  # for kind "enum"
    minimum: float | None = None  # smallest allowed value (numbers)
    finite: bool = True  # floats: reject NaN/inf written as text

    @property
    def type_name(self) -> str:
        """How the column dictionary names the type."""
        if self.kind == "enum":
            return " \\| ".join(self.choices)
        return {"time": "UTC timestamp", "bool": "0/1"}.get(self.kind, self.kind)


@dataclass(frozen=True, slots=True)
class Table:
    """One CSV file of the run directory (or the history file)."""

    file: str
    doc: str
    fields: tuple[Field, ...]
    key: tuple[str, ...]  # the columns that identify a row

    @property
    def names(self) -> tuple[str, ...]:
        """Column names in file order."""
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        """The declaration of one column."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


def _f(name: str, kind: str, doc: str, unit: str = "", **kw) -> Field:
    return Field(name, kind, doc, unit, **kw)


# ---- the pieces several files share --------------------------------------------------------------
SCHEMA = _f("schema_version", "int", "format version of this file (see the schema history)", minimum=1)
RUN_ID = _f("run_id", "str", "the run's id (meta.json run_id)")
CONFIG_ID = _f("config_id", "str", "stable id of the trial's configuration, e.g. cpu-eager-float32-b4-h20-t0")
DEVICE = _f("device", "enum", "device the trial asked for", choices=tuple(d.value for d in Device))
MODE = _f("mode", "str", "execution mode (mlp_core.modes; a plug-in's mode reads anywhere, its module need not be "
         "installed to read the run)")
DTYPE = _f("dtype", "enum", "dtype mode: data storage and compute dtype",
           choices=tuple(d.value for d in DTypeMode))
BATCH = _f("batch_size", "int", "samples per training step", "samples", minimum=1)
WORKLOAD = _f("workload", "str", "the model measured (mlp_core.workloads; meta.json workload has its facts): mlp, the "
             "article's MLP; cnn; or a user's own")
SIZE = _f("size", "int", "the workload's size: the MLP's hidden-layer width, the CNN's channels (meta.json "
          "workload.size_name names it; schema < 5 called the MLP's `hidden`)", minimum=1)
THREADS = _f("threads", "int", "CPU intra/inter-op threads asked for; 0 = TensorFlow's default pools "
             "(threads_intra/threads_inter in summary.csv say what was in force)", "threads", minimum=0)
REPLICAS = _f("replicas", "int", "devices it trained on at once (tf.distribute.MirroredStrategy; 1: one device, no "
              "strategy); batch_size is the global batch, split over them", "devices", minimum=1)
AXES = (WORKLOAD, DEVICE, MODE, DTYPE, BATCH, SIZE, THREADS, REPLICAS)  # the matrix: config_id is made of these
REPEAT = _f("repeat", "int", "repeat index within the trial (fresh weights from seed + repeat)", minimum=0)
DEVICE_ACTUAL = _f("device_actual", "str", "device the result tensors really live on, e.g. cpu:0")
MACHINE = _f("machine", "str", "id of the machine that measured it: 8 hex digits of its fingerprint (CPU, cores, "
             "memory, GPUs, OS, Python, numerical packages; meta.json machines has them); identical nodes share it")
NODE = _f("node", "str", "the node that measured it: the host name, or host/Ray node id on a Ray cluster")

# ---- raw.csv --------------------------------------------------------------------------------------
RAW = Table(
    "raw.csv",
    "one row per trial x repeat x epoch, appended as each repeat finishes; epoch 0 is the warm-up",
    (
        CONFIG_ID, MACHINE, REPEAT,
        _f("epoch", "int", "epoch index; 0 is the warm-up (tracing, compilation, first allocations)", minimum=0),
        _f("is_warmup", "bool", "1 for epoch 0: stored apart, never in the statistics"),
        _f("epoch_time_s", "float", "wall time of the epoch between two synced clock reads", "s", minimum=0),
        _f("train_loss", "float", "the workload's loss over the epoch, sample-weighted (summary.csv `loss` names it; "
           "the MLP's: the mean squared error; empty or inf: diverged)", nullable=True, finite=False),
    ),
    key=("config_id", "repeat", "epoch"),
)

# ---- repeats.csv ----------------------------------------------------------------------------------
METRIC_DOCS = {  # mlp_core.metrics: the workload's metrics, computed by the harness on the test set
    "accuracy": "share of test samples whose class is right (empty: the workload does not ask for accuracy)",
    "mae": "mean absolute error on the test set (empty: the workload does not ask for mae)",
}
REPEATS = Table(
    "repeats.csv",
    "one row per trial x repeat, written after the repeat's raw.csv rows (a repeat without one was cut short)",
    (
        RUN_ID, CONFIG_ID, *AXES, REPEAT,
        _f("seed", "int", "weight-initialisation seed of this repeat", minimum=0),
        _f("status", "enum", "ok, or diverged (a non-finite loss)", choices=REPEAT_STATUSES),
        DEVICE_ACTUAL, MACHINE, NODE,
        _f("worker_pid", "int", "process id of the worker that measured it (empty: not recorded, schema 1)",
           nullable=True, minimum=1),
        _f("cpus", "str", "the cores that worker could run on, its CPU affinity (e.g. 0, 0-1; a duet pins each side "
           "to its own; empty: not recorded, schema < 4)", nullable=True),
        _f("epochs", "int", "epochs trained, warm-up included", minimum=1),
        _f("warmup_s", "float", "epoch 0's wall time", "s", minimum=0),
        _f("median_epoch_s", "float", "median wall time of the timed epochs (1..)", "s", minimum=0),
        _f("train_loss", "float", "train loss of the last epoch (empty or inf: diverged)", nullable=True,
           finite=False),
        _f("test_loss", "float", "the loss of the final weights on the test set", nullable=True, finite=False),
        *(_f(f"test_{name}", "float", doc, nullable=True, finite=False) for name, doc in METRIC_DOCS.items()),
        _f("peak_rss_bytes", "int", "peak resident memory of the worker during the repeat", "bytes", minimum=0),
        _f("gpu_peak_bytes", "int", "peak GPU memory during the repeat (empty: not a GPU trial)", "bytes",
           nullable=True, minimum=0),
        _f("wall_s", "float", "the worker's wall time for the repeat, set-up included (the trial budget "
           "counts it; empty: not recorded, schema 1)", "s", nullable=True, minimum=0),
        _f("started_utc", "time", "when the worker started the repeat (empty: not recorded, schema 1)",
           nullable=True),
        _f("finished_utc", "time", "when the repeat's rows were written"),
    ),
    key=("config_id", "repeat"),
)

# ---- summary.csv ----------------------------------------------------------------------------------
STAT_DOCS = {  # bench.format.stats.summarize() returns exactly these keys
    "n": ("int", "timed epochs over all repeats (warm-ups left out)", "epochs"),
    "median_s": ("float", "median epoch time", "s"),
    "iqr_s": ("float", "interquartile range of the epoch times", "s"),
    "ci_low_s": ("float", "lower bound of the 95% CI of the median (order statistics; empty: under 6 epochs)",
                 "s"),
    "ci_high_s": ("float", "upper bound of that interval", "s"),
    "ci_rel_halfwidth": ("float", "the larger half-width of that interval over the median", "ratio"),
    "mean_s": ("float", "mean epoch time", "s"),
    "std_s": ("float", "standard deviation of the epoch times (ddof 1)", "s"),
    "min_s": ("float", "fastest epoch", "s"),
    "max_s": ("float", "slowest epoch", "s"),
}
STAT_FIELDS = tuple(STAT_DOCS)
SUMMARY = Table(
    "summary.csv",
    "one row per trial, written when the trial finishes; statistics over the timed epochs of all its repeats",
    (
        SCHEMA, RUN_ID, CONFIG_ID, WORKLOAD, DEVICE,
        _f("device_actual", "str", "device the results really live on (empty: nothing measured)", nullable=True),
        _f("machine", "str", "id of the machine its repeats ran on (empty: no machine took it, e.g. a GPU trial on a "
           "cluster without a GPU node)", nullable=True),
        _f("node", "str", "node its last repeat ran on (empty: none)", nullable=True),
        MODE, DTYPE, BATCH, SIZE, THREADS, REPLICAS,
        _f("threads_intra", "int", "intra-op threads TensorFlow reported in force (0: its own choice; empty: "
           "no TF worker)", "threads", nullable=True, minimum=0),
        _f("threads_inter", "int", "inter-op threads TensorFlow reported in force", "threads", nullable=True,
           minimum=0),
        _f("status", "enum", "ok, skipped (the device is not there), diverged or error", choices=STATUSES),
        _f("reason", "str", "why, when the status is not ok (empty otherwise)", nullable=True),
        _f("stop_reason", "enum", "why repeats stopped: the CI reached target_ci, the trial's (or the run's) time "
           "budget was spent, max_repeats, or (stop rule answers) every comparison it takes part in was decided",
           nullable=True, choices=STOP_REASONS),
        _f("repeats", "int", "repeats measured (rows in repeats.csv)", minimum=0),
        *(_f(name, kind, doc, unit, nullable=name != "n", minimum=0) for name, (kind, doc, unit) in STAT_DOCS.items()),
        _f("warmup_median_s", "float", "median over repeats of the warm-up epoch", "s", nullable=True, minimum=0),
        _f("warmup_max_s", "float", "slowest warm-up epoch", "s", nullable=True, minimum=0),
        _f("steps_per_s", "float", "optimiser steps per second at the median epoch time", "steps/s",
           nullable=True, minimum=0),
        _f("samples_per_s", "float", "training samples per second at the median epoch time", "samples/s",
           nullable=True, minimum=0),
        _f("gflops", "float", "analytic FLOPs of an epoch (the workload's step_flops) / median epoch time (empty: "
           "the workload gives no FLOPs)", "GFLOP/s",
           nullable=True, minimum=0),
        _f("loss", "str", "the workload's loss, which the train_loss and test_loss columns hold: mse (the mean "
           "squared error: the MLP's, every regression's), a Keras loss's name, or a callable's name"),
        _f("train_loss_median", "float", "median over repeats of the last epoch's train loss", nullable=True,
           finite=False),
        _f("train_loss_min", "float", "smallest of those", nullable=True, finite=False),
        _f("train_loss_max", "float", "largest of those", nullable=True, finite=False),
        _f("test_loss_median", "float", "median over repeats of the test loss", nullable=True, finite=False),
        _f("test_loss_min", "float", "smallest of those", nullable=True, finite=False),
        _f("test_loss_max", "float", "largest of those", nullable=True, finite=False),
        *(_f(f"test_{name}_median", "float", f"median over repeats of test_{name}", nullable=True, finite=False)
          for name in METRIC_DOCS),
        _f("peak_rss_bytes", "int", "largest peak resident memory of any repeat", "bytes", nullable=True,
           minimum=0),
        _f("gpu_peak_bytes", "int", "largest peak GPU memory of any repeat (empty: not a GPU trial)", "bytes",
           nullable=True, minimum=0),
        _f("elapsed_s", "float", "worker wall time the trial used, all repeats", "s", minimum=0),
        _f("finished_utc", "time", "when the trial finished"),
    ),
    key=("config_id",),
)

# ---- history.csv (results/history.csv, bench.history) -------------------------------------------------
HISTORY = Table(
    "history.csv",
    "one row per run x ok trial appended by `python -m bench.history append` (not in a run directory)",
    (
        SCHEMA,
        _f("commit", "str", "git commit the run measured (empty: unknown)", nullable=True),
        _f("dirty", "bool", "1 if the checkout had uncommitted changes"),
        RUN_ID,
        _f("run_finished_utc", "str", "when the run finished (meta.json finished_at; empty: unknown)",
           nullable=True),
        _f("machine_label", "str", "the machine's label: CPU model and cores, GPU, TensorFlow version (schema < 7: "
           "`machine`)"),
        _f("machine_label_key", "str", "10 hex digits of the label's SHA-1 (bench.analysis.history.label_key): the "
           "key history groups and names figures by (schema < 7: `machine_id`)"),
        CONFIG_ID, *AXES,
        *(_f(name, STAT_DOCS[name][0], STAT_DOCS[name][1], STAT_DOCS[name][2], minimum=0,
             nullable=name != "median_s" and name != "n") for name in ("n", "median_s", "ci_low_s", "ci_high_s")),
        _f("recorded_utc", "time", "when the row was appended (last: a row cut short cannot end in a valid one)"),
    ),
    key=("run_id", "config_id"),
)

TABLES = (RAW, REPEATS, SUMMARY)  # the CSV files of a run directory

# ---- meta.json (top-level keys) -----------------------------------------------------------------------
META_FILE = "meta.json"
ANALYSIS_FILE = "analysis.json"
META_KEYS: tuple[tuple[str, str, bool, str], ...] = (  # name, JSON type, required, meaning
    ("schema_version", "integer", True, "format version of the run directory"),
    ("run_id", "string", True, "the run's id (the directory name it was created with)"),
    ("command", "array", True, "the command line that started the run"),
    ("spec", "object", True, "the resolved sweep (every bench.run setting), re-validated on every read"),
    ("order_seed", "integer", True, "seed of the shuffled trial order"),
    ("started_at", "string", True, "UTC start time"),
    ("finished_at", "string|null", True, "UTC finish time; null while running or after a kill"),
    ("git", "object|null", True, "commit and dirty flag of the checkout that measured"),
    ("host", "object", True, "machine facts: CPU model, cores, memory, OS, Python, package versions, env"),
    ("tensorflow", "object|null", True, "TensorFlow version, build, devices, GPUs, threads (from a worker)"),
    ("machines", "object", True, "machine id -> its fingerprint facts (bench.format.identity.machine_facts), for "
     "every machine a row names (schema 3; filled in when older runs are read)"),
    ("executor", "object", False, "how trials were run: {kind: local} or {kind: ray, address, nodes: {node: machine}}"),
    ("peak", "array", False, "matmul ceilings: device, dtype, threads, n, gflops_best, status, reason (and the "
     "machine that measured them, schema 3)"),
    ("resumed_at", "array", False, "UTC times of each --resume"),
    ("worker_starts", "integer", False, "worker processes started"),
    ("ab", "object", False, "bench.ab pairing: id shared by both sides, side; a duet's also `mode` (the A/B "
                            "method, 'duet') and `cores` (each side's cores)"),
    ("shard", "object", False, "this run's share of the matrix, {index: K, count: N} (bench.run --shard K/N); "
     "absent: the whole matrix"),
    ("merged_from", "array", False, "the shard runs bench.merge joined: run_id, shard, path, start and finish"),
    ("workload", "object", False, "the workload's facts (mlp_core.workloads: name, spec it was loaded by, summary, "
     "size_name, size_doc, has_flops); absent: the MLP (schema < 5)"),
    ("noise", "object", False, "how noisy the machine was before measuring (bench.engine.probe.noise_probe): a fixed "
     "NumPy kernel's times (median_s, min_s, max_s, cv), load_average, steal_fraction (None where not reported)"),
    ("noise_resumed", "array", False, "the same reading at each --resume"),
    ("modes", "object", False, "execution mode -> its registry facts (library, needs_tensorflow, cpu_only, "
     "distributable, role, order, color, summary), so that a plug-in's run reads where the plug-in is not installed"),
)


def column_dictionary() -> str:
    """The README's column dictionary, generated from the declarations above (markdown)."""
    out = []
    for table in (*TABLES, HISTORY):
        out += [f"**`{table.file}`**: {table.doc}.", "", "| column | type | unit | meaning |", "|---|---|---|---|"]
        for f in table.fields:
            doc = f.doc + (" (may be empty)" if f.nullable and "empty" not in f.doc else "")
            out.append(f"| `{f.name}` | {f.type_name} | {f.unit or '-'} | {doc} |")
        out.append("")
    out += [f"**`{META_FILE}`** (top-level keys):", "", "| key | JSON type | required | meaning |", "|---|---|---|---|"]
    out += [f"| `{name}` | {types.replace('|', ' or ')} | {'yes' if req else 'no'} | {doc} |"
            for name, types, req, doc in META_KEYS]
    return "\n".join(out) + "\n"
