"""`python -m bench.run --executor ray [--ray-address ADDR]`: the same sweep on the nodes of a Ray cluster.

A node takes part through the custom resource `bench_slot` (`ray start --resources='{"bench_slot": 1}'`).
The driver places one `NodeRunner` actor on each such node, asking for the node's slot and all of
its CPUs and GPUs, so that nothing else Ray schedules runs beside a measurement, and one trial runs
per node at a time. The actor serves repeats with the runner's own measuring processes
(bench.engine.node.Node, the same code the local executor runs in its own process): the timed region is the
same code as a local run's, and Ray is only the hand-off around it.

Placement (`assign`): a GPU trial goes to a node with a GPU (none in the cluster: the trial is
skipped with that reason); a CPU trial to a node without a GPU when the cluster has one (the CPU you
care about and the GPU you weigh are often different machines), else to any node. Among those, the
trials go longest-expected first to the least loaded node (the loop's placement prior from the
workload's steps and FLOPs and the mode registry's step cost: nothing is measured yet). A trial stays
on its node for all its repeats; each node's trials are interleaved round by round, in a shuffled
order, as in a local sweep.

Nothing measured is lost: each result is written to the run directory by the driver as it arrives
(the same writer as a local run). A node lost mid-trial costs that repeat: the trial goes on once on
another node of the same machine (same fingerprint id), else it is recorded `error` with the reason;
the rest of the lost node's trials move to other eligible nodes. A killed driver leaves a run that
`--resume DIR --executor ray` finishes on the cluster.
"""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.engine.executor import Arrival, Group, Lane, Refusal
from bench.engine.node import Checkout, Node
from bench.engine.pool import BLAS_THREAD_VARS
from bench.format.errors import InputError
from bench.format.messages import NodeReply, RepeatTask
from bench.format.spec import SweepSpec, Trial, build_spec
from mlp_core.enums import Device

SLOT = "bench_slot"
START_TIMEOUT_S = 300.0  # for the actors to be placed (a killed driver's actors are freed within seconds)
RAY_MISSING = "the Ray executor needs Ray: pip install 'eager-mlp-bench[cluster]'"


class NodeRunner:
    """One node's side (a Ray actor): a Node measuring on this node, one repeat per call."""

    def __init__(self, spec: dict[str, Any], driver_env: dict[str, str | None]) -> None:
        import ray  # inside the actor's process (Ray is an optional extra)

        for name, value in driver_env.items():  # the driver's thread settings, not Ray's (it sets OMP_NUM_THREADS)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        node_id = ray.get_runtime_context().get_node_id()
        self.node = Node(build_spec(spec), [Checkout(Path(tempfile.mkdtemp(prefix="emb-node-")))],
                         node=f"{socket.gethostname()}/{node_id[:8]}")

    def info(self) -> dict[str, Any]:
        """Who this node is: machine id and facts, node name."""
        return {"machine": self.node.machine, "facts": self.node.facts, "node": self.node.node}

    def remember(self, peaks: list[dict[str, Any]]) -> None:
        """Ceilings the run already has for this machine."""
        self.node.remember(peaks)

    def run(self, task: RepeatTask) -> NodeReply:
        """One repeat."""
        reply = self.node.run(task)
        if reply.status == "skipped":  # say where: another node may see a GPU
            reply = replace(reply, reason=f"{reply.reason} on node {self.node.node}")
        return reply

    def renew(self) -> None:
        """Fresh measuring processes for the next round (workers = "round")."""
        self.node.renew()

    def worker_starts(self) -> int:
        """Measuring processes started on this node."""
        return self.node.starts

    def close(self) -> None:
        """Stop the measuring processes."""
        self.node.close()



def assign(trial_device: str, lanes: list[Lane], load: dict[str, float], machine: str | None = None) -> Lane | None:
    """The lane (node) a trial goes to (None: no node can take it). `machine`: the trial already has repeats
    there, so only nodes of that machine qualify. Else a GPU trial needs a node with a GPU, and a CPU trial
    goes to a node without one when the cluster has any. Among the eligible, the least loaded (`load`:
    node -> the expected seconds of its trials so far)."""
    alive = [n for n in lanes if n.alive]
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


class RayExecutor:
    """The `bench_slot` nodes of a Ray cluster, one lane each (module docstring)."""

    def __init__(self, spec: SweepSpec, address: str | None = None) -> None:
        self.spec, self.address = spec, address
        self.ray = connect(address)
        self.lanes: list[Lane] = []
        self.machines: dict[str, dict[str, Any]] = {}
        self.actors: dict[str, Any] = {}
        self._refs: dict[Any, tuple[Lane, RepeatTask]] = {}
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
            ).remote(self.spec.to_dict(), env))
        try:
            infos = ray.get([a.info.remote() for a in actors], timeout=START_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            raise InputError(f"ray-address: {self.address or 'local'}: the {SLOT} nodes were not free within "
                             f"{START_TIMEOUT_S:g} s (another sweep running on them?)") from None
        for n, actor, info in zip(found, actors, infos):
            lane = Lane(key=info["node"], machine=info["machine"], node=info["node"],
                        gpus=int(n["Resources"].get("GPU", 0)))
            self.lanes.append(lane)
            self.actors[lane.key] = actor
            self.machines[info["machine"]] = info["facts"]

    def describe(self) -> dict[str, Any]:
        return {"kind": "ray", "address": self.address, "nodes": {n.key: n.machine for n in self.lanes}}

    def remember(self, peaks: list[dict[str, Any]]) -> None:
        for actor in self.actors.values():
            actor.remember.remote(list(peaks))

    def place(self, trial: Trial, machine: str | None, load: dict[str, float]) -> Lane | Refusal:
        lane = assign(trial.device.value, self.lanes, load, machine)
        if lane is not None:
            return lane
        live = ", ".join(f"{n.key} ({n.machine}, {n.gpus} GPU)" for n in self.lanes if n.alive) or "none left"
        if machine is not None:
            return Refusal("error", f"its repeats ran on machine {machine}, and no live node of the cluster is that "
                           f"machine (nodes: {live})")
        if trial.device is Device.GPU:
            return Refusal("skipped", f"no node of the Ray cluster has a GPU (nodes: {live})")
        return Refusal("error", f"no live node left to run it (nodes: {live})")

    def submit(self, lane: Lane, group: Group) -> None:
        ((_, task),) = group  # one side: an A/B run is refused on a cluster (bench.ab)
        self._refs[self.actors[lane.key].run.remote(task)] = (lane, task)

    def next(self) -> Arrival:
        ray = self.ray
        (ref,), _ = ray.wait(list(self._refs), num_returns=1)
        lane, task = self._refs.pop(ref)
        try:
            return Arrival(lane, [ray.get(ref)])
        except (ray.exceptions.RayActorError, ray.exceptions.NodeDiedError,
                ray.exceptions.WorkerCrashedError) as exc:
            lane.alive = False
            return Arrival(lane, lost=type(exc).__name__)
        except ray.exceptions.RayTaskError as exc:  # a failure inside the node's runner
            return Arrival(lane, [NodeReply(status="error", reason=f"repeat {task.repeat}: on node {lane.key}: "
                                            f"{str(exc).strip().splitlines()[-1][:400]}")])

    def renew(self, lane: Lane, cpus: Any = None) -> None:
        if cpus is not None:
            raise ValueError("a Ray node runs one side: no pinning of sides to cores")
        self.actors[lane.key].renew.remote()  # actor calls run in order: before the next repeat

    def worker_starts(self, side: int) -> int:
        starts = [self.actors[n.key].worker_starts.remote() for n in self.lanes if n.alive]
        try:
            return sum(self.ray.get(starts, timeout=30))
        except Exception:  # noqa: BLE001 - a count for meta.json, never worth failing the run over
            return 0

    def close(self) -> None:
        if not self.ray.is_initialized():
            return
        for lane in self.lanes:
            if lane.alive:
                self.actors[lane.key].close.remote()
        self.ray.shutdown()
