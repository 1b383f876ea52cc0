"""A Ray cluster of N nodes on this machine (ray.cluster_utils.Cluster), a `bench.run --executor ray` sweep
through it, and the cluster stopped again: the Ray executor tried out without a second machine.

    python scripts/local_cluster.py --nodes 2 -- --devices cpu --modes numpy,eager --out results/runs/two-nodes

Everything after `--` goes to `python -m bench.run` (with `--executor ray --ray-address ADDR` added).
Each node offers one `bench_slot` and one CPU; the nodes share this machine's cores, so their timings
are those of one machine measured twice, not of two machines. Exit status: bench.run's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ours, run_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=2, help="nodes to start (default 2)")
    args = p.parse_args(ours)
    if args.nodes < 1:
        p.error(f"--nodes: {args.nodes}: must be at least 1")
    try:
        from ray.cluster_utils import Cluster
    except ImportError:
        print("local_cluster.py: error: needs Ray: pip install 'eager-mlp-bench[cluster]'", file=sys.stderr)
        return 2
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"bench_slot": 1},
                                                             "include_dashboard": False})
    try:
        for _ in range(args.nodes - 1):
            cluster.add_node(num_cpus=1, resources={"bench_slot": 1})
        cluster.wait_for_nodes()
        print(f"local Ray cluster of {args.nodes} nodes at {cluster.address}", file=sys.stderr)
        return subprocess.run([sys.executable, "-m", "bench.run", *run_args, "--executor", "ray", "--ray-address",
                               cluster.address], cwd=ROOT).returncode
    finally:
        cluster.shutdown()


if __name__ == "__main__":
    sys.exit(main())
