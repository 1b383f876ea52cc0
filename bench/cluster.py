"""`python -m bench.run --executor ray [--ray-address ADDR]`: the same sweep on the nodes of a Ray cluster.

A node takes part through the custom resource `bench_slot` (`ray start --resources='{"bench_slot": 1}'`).
The driver places one `NodeRunner` actor on each such node, asking for the node's slot and all of
its CPUs and GPUs, so that nothing else Ray schedules runs beside a measurement, and one trial runs
per node at a time. The actor serves repeats with the runner's own measuring processes
(`bench.worker`, started by a `bench.session.WorkerSession` on the node): the timed region is the
same code as a local run's, and Ray is only the hand-off around it.

Placement (`assign`): a GPU trial goes to a node with a GPU (none in the cluster: the trial is
skipped with that reason); a CPU trial to a node without a GPU when the cluster has one (the CPU you
care about and the GPU you weigh are often different machines), else to any node. Among those, the
trials go longest-expected first to the least loaded node (`expected_cost`, a prior from the workload's
steps and FLOPs: nothing is measured yet). A trial stays on its node for all its repeats; each node's
trials are interleaved round by round, in a shuffled order, as in a local sweep.

Nothing measured is lost: each result is written to the run directory by the driver as it arrives
(the same writer as a local run). A node lost mid-trial costs that repeat: the trial goes on once on
another node of the same machine (same fingerprint id), else it is recorded `error` with the reason;
the rest of the lost node's trials move to other eligible nodes. A killed driver leaves a run that
`--resume DIR --executor ray` finishes on the cluster.
"""

from __future__ import annotations

import os
import random
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.errors import InputError
from bench.protocol import RepeatResult
from bench.ray_node import NodeRunner, reply
from bench.schedule import Sweep, TrialState, repeat_task
from bench.session import BLAS_THREAD_VARS
from mlp_core.enums import Device

SLOT = "bench_slot"
START_TIMEOUT_S = 300.0  # for the actors to be placed (a killed driver's actors are freed within seconds)
RAY_MISSING = "the Ray executor needs Ray: pip install 'eager-mlp-bench[cluster]'"


@dataclass
class Node:
    """A node of the sweep as the driver sees it."""

    key: str  # the node name (host/Ray node id)
    machine: str
    gpus: int
    actor: Any
    alive: bool = True
    pending: list[TrialState] = field(default_factory=list)  # its unfinished trials
    round: deque = field(default_factory=deque)  # what is left of its current round


# A prior of each mode's host cost per step on a small model (s), from this project's 2-core CPU (README: the
# overhead ladder): only to balance the nodes' shares before anything is measured, never reported.
STEP_COST_S = {"article": 2e-3, "eager": 1e-3, "function": 3.5e-4, "xla": 3.5e-4, "graph": 2.5e-4, "jax-step": 3e-4,
               "jax-epoch": 5e-5, "numpy": 5e-5, "numba": 2e-5}
NOMINAL_FLOPS = 20e9  # FLOP/s for the arithmetic part of that prior


def expected_cost(trial: Any, spec: Any) -> float:
    """A trial's expected seconds under the sweep's minimum repeats: epochs x (steps x its mode's step cost
    + the epoch's FLOPs at a nominal rate). Wrong in scale, right in order (the probe of the `full`
    preset: log-correlation 0.75 with the measured durations): what the placement needs."""
    from mlp_core.data import ARTICLE_N_FEATURES
    from mlp_core.flops import epoch_flops, steps_per_epoch

    per_epoch = steps_per_epoch(spec.n_train, trial.batch_size) * STEP_COST_S.get(trial.mode.value, 1e-3) \
        + epoch_flops(spec.n_train, trial.batch_size, ARTICLE_N_FEATURES, trial.hidden) / NOMINAL_FLOPS
    return spec.min_repeats * spec.epochs * per_epoch


def assign(trial_device: str, nodes: list[Node], load: dict[str, float], machine: str | None = None) -> Node | None:
    """The node a trial goes to (None: no node can take it). `machine`: the trial already has repeats
    there, so only nodes of that machine qualify. Among the eligible, the least loaded (`load`: node ->
    the expected seconds of its trials so far)."""
    alive = [n for n in nodes if n.alive]
    if machine is not None:
        eligible = [n for n in alive if n.machine == machine]
    elif trial_device == Device.GPU.value:
        eligible = [n for n in alive if n.gpus > 0]
    else:
        eligible = [n for n in alive if n.gpus == 0] or alive
    return min(eligible, key=lambda n: (load.get(n.key, 0), n.key), default=None)


def connect(address: str | None) -> Any:
    """ray, initialised: the cluster at `address`, or a local one-node cluster with one slot."""
    try:
        import ray
    except ImportError:
        raise InputError(f"executor: ray: {RAY_MISSING}") from None
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(address="local", resources={SLOT: 1}, **kwargs)  # a new one, never a running one
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise InputError(f"ray-address: {address!r}: cannot connect ({type(exc).__name__}: {exc})") from None
    return ray


class RaySweep(Sweep):
    """A Sweep whose repeats run on the `bench_slot` nodes of a Ray cluster (module docstring)."""

    def __init__(self, *args: Any, address: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.address = address
        self.ray = connect(address)
        self.nodes: list[Node] = []
        self.facts_of: dict[str, Any] = {}  # machine id -> facts, of the cluster's machines
        self.retried: set[str] = set()
        self.in_force: dict[tuple[str, int], tuple[int, int]] = {}
        self.prior: dict[str, float] = {}  # config_id -> expected_cost, computed once
        try:
            self._start_nodes()
        except BaseException:
            self.ray.shutdown()
            raise

    def _start_nodes(self) -> None:
        ray = self.ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        found = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get(SLOT, 0) >= 1]
        if not found:
            raise InputError(f"ray-address: {self.address or 'local'}: no live node offers the {SLOT!r} resource; "
                             f"start each node with: ray start ... --resources='{{\"{SLOT}\": 1}}'")
        remote = ray.remote(NodeRunner)
        env = {name: os.environ.get(name) for name in BLAS_THREAD_VARS}
        actors = []
        for n in found:
            res = n["Resources"]
            actors.append(remote.options(
                resources={SLOT: 1}, num_cpus=res.get("CPU", 0), num_gpus=res.get("GPU", 0), max_restarts=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False),
            ).remote(self.spec.to_dict(), self.workers.tensorflow, env))
        try:
            infos = ray.get([a.info.remote() for a in actors], timeout=START_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            raise InputError(f"ray-address: {self.address or 'local'}: the {SLOT} nodes were not free within "
                             f"{START_TIMEOUT_S:g} s (another sweep running on them?)") from None
        for n, actor, info in zip(found, actors, infos):
            self.nodes.append(Node(key=info["node"], machine=info["machine"], gpus=int(n["Resources"].get("GPU", 0)),
                                   actor=actor))
            self.facts_of[info["machine"]] = info["facts"]

    def register_machines(self) -> None:
        """The cluster's machines into meta.json."""
        for mid in sorted(self.facts_of):
            self.add_machine(mid, self.facts_of[mid])

    def executor_meta(self) -> dict[str, Any]:
        """meta.json's `executor`: the cluster and which machine each node is."""
        return {"kind": "ray", "address": self.address, "nodes": {n.key: n.machine for n in self.nodes}}

    # ---- the loop ----------------------------------------------------------------------------
    def run(self) -> list[dict[str, Any]]:
        """Every unfinished trial, each node's share interleaved round by round; results written as
        they arrive."""
        ray = self.ray
        try:
            with self.session() as states:
                pending = [s for s in states.values() if s.status is None]
                with self.progress_bar(pending) as bar:
                    # longest expected first, each to the least loaded eligible node (LPT on a prior);
                    # then each node's share in a shuffled order, as a local sweep's, so drift spreads
                    for state in sorted(pending, key=lambda s: -self._cost(s)):
                        self._place(state, bar)
                    rng = random.Random(self.meta["order_seed"])
                    for node in self.nodes:
                        rng.shuffle(node.pending)
                    in_flight: dict[Any, tuple[Node, TrialState, int]] = {}
                    for node in self.nodes:
                        self._submit(node, in_flight, bar)
                    while in_flight:
                        (ref,), _ = ray.wait(list(in_flight), num_returns=1)
                        node, state, repeat = in_flight.pop(ref)
                        try:
                            out = ray.get(ref)
                        except (ray.exceptions.RayActorError, ray.exceptions.NodeDiedError,
                                ray.exceptions.WorkerCrashedError) as exc:
                            self._lost(node, state, repeat, exc, bar, in_flight)
                            continue
                        except ray.exceptions.RayTaskError as exc:  # a failure inside the node's runner
                            out = reply("error", f"repeat {repeat}: on node {node.key}: "
                                        f"{str(exc).strip().splitlines()[-1][:400]}")
                        self._apply(node, state, repeat, out)
                        if self.after_repeat(state, bar):
                            node.pending.remove(state)
                        self._submit(node, in_flight, bar)
        finally:
            for node in self.nodes:
                if node.alive:
                    node.actor.close.remote()
            ray.shutdown()
        return self.rows

    def _place(self, state: TrialState, bar: Any) -> None:
        """Give a trial to a node, or finish it (skipped / error) when none can take it."""
        machine = state.repeats[-1]["machine"] if state.repeats else None
        load = {n.key: sum(self._cost(s) for s in n.pending) for n in self.nodes}
        node = assign(state.trial.device.value, self.nodes, load, machine)
        if node is not None:
            node.pending.append(state)
            return
        live = ", ".join(f"{n.key} ({n.machine}, {n.gpus} GPU)" for n in self.nodes if n.alive) or "none left"
        if machine is not None:
            state.finish("error", f"its repeats ran on machine {machine}, and no live node of the cluster is that "
                         f"machine (nodes: {live})")
        elif state.trial.device is Device.GPU:
            state.finish("skipped", f"no node of the Ray cluster has a GPU (nodes: {live})")
        else:
            state.finish("error", f"no live node left to run it (nodes: {live})")
        state.machine = state.node = ""
        self._write_summary(state)
        bar.update(1)

    def _cost(self, state: TrialState) -> float:
        """What is left of a trial, expected (expected_cost less the share of its repeats already done)."""
        cid = state.trial.config_id
        if cid not in self.prior:
            self.prior[cid] = expected_cost(state.trial, self.spec)
        return self.prior[cid] * max(1 - len(state.repeats) / self.spec.min_repeats, 0.1)

    def _submit(self, node: Node, in_flight: dict, bar: Any) -> None:
        """The node's next repeat (a new round when the last one is done)."""
        if not node.alive:
            return
        if not node.round:
            if not node.pending:
                return
            if self.spec.workers == "round" and any(s.repeats for s in node.pending):
                node.actor.renew.remote()  # actor calls run in order: before the next repeat
            node.round.extend(node.pending)
        state = node.round.popleft()
        repeat = len(state.repeats)
        bar.set_description(f"{state.trial.config_id} r{repeat} @ {node.key}", refresh=True)
        task = asdict(repeat_task(state.trial, repeat, self.spec))
        in_flight[node.actor.run.remote(task)] = (node, state, repeat)

    def _apply(self, node: Node, state: TrialState, repeat: int, out: dict[str, Any]) -> None:
        """A node's reply: ceilings and TF facts into meta.json, the repeat's rows on disk, the stop rule."""
        if out["tf"] and self.meta.get("tensorflow") is None:
            self.meta["tensorflow"] = out["tf"]
            self.save_meta()
        if out["threads_in_force"]:
            self.in_force[(node.machine, state.trial.threads)] = tuple(out["threads_in_force"])
        if out["peaks"]:
            have = {(p.get("machine"), p["device"], p["dtype"], p["threads"]) for p in self.meta.get("peak", [])}
            self.meta.setdefault("peak", []).extend(
                p for p in out["peaks"] if (p["machine"], p["device"], p["dtype"], p["threads"]) not in have)
            self.save_meta()
        state.machine, state.node = node.machine, node.key
        if out["status"] != "ok":
            state.finish(out["status"], out["reason"])
            return
        self.take(state, repeat, RepeatResult(**out["result"]), machine=node.machine, node=node.key)

    def _lost(self, node: Node, state: TrialState, repeat: int, exc: Exception, bar: Any, in_flight: dict) -> None:
        """A node died: the repeat in flight is lost; its trial goes on once on a node of the same
        machine (else error), and the node's other trials move to other eligible nodes."""
        node.alive = False
        why = f"node {node.key} lost during repeat {repeat} ({type(exc).__name__})"
        orphans = [s for s in node.pending if s is not state]
        node.pending.clear()
        node.round.clear()
        cid = state.trial.config_id
        twin = assign(state.trial.device.value, self.nodes, {}, node.machine)
        if cid in self.retried or twin is None:
            state.finish("error", why + ("; lost again after a retry" if cid in self.retried else
                                         f"; no other node of machine {node.machine} to retry on"))
            state.machine, state.node = (node.machine, node.key) if state.repeats else ("", "")
            self._write_summary(state)
            bar.update(1)
        else:
            self.retried.add(cid)
            twin.pending.append(state)
        for s in orphans:
            self._place(s, bar)
        for other in self.nodes:
            if other.alive and not any(n is other for n, _, _ in in_flight.values()):
                self._submit(other, in_flight, bar)

    def threads_in_force(self, state: TrialState) -> tuple[int, int] | None:
        """TF's thread counts in force for the trial, as its node reported them."""
        machine = state.repeats[-1]["machine"] if state.repeats else None
        return self.in_force.get((machine, state.trial.threads))
