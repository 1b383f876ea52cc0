"""How many generated bad inputs each CLI refuses cleanly (exit 2, one line, no traceback, no file
changed or created). The corruptions are tests/corrupt.py's; the test suite runs a few of each.

    .venv/bin/python scripts/fuzz_inputs.py --cases 200
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import corrupt  # noqa: E402
from tests.synthetic import make_run  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=200, help="generated inputs per CLI (default 200)")
    p.add_argument("--seed", type=int, default=1, help="first seed")
    args = p.parse_args()
    from bench.cli.history import main as history_main

    with tempfile.TemporaryDirectory() as tmp:
        good = make_run(Path(tmp) / "good", devices="cpu")
        history = Path(tmp) / "history.csv"
        assert history_main(["append", str(good), "--history", str(history)]) == 0
        cases = {cli: (lambda s, c=cli: corrupt.run_dir_case(good, s, c)) for cli in corrupt.RUN_DIR_CLIS}
        cases["compare (pytest-benchmark json)"] = corrupt.benchmark_json_case
        cases["history plot + append (history.csv)"] = lambda s: corrupt.history_case(good, history, s)
        total, bad = 0, 0
        print(f"{'CLI':40} {'tried':>6} {'handled':>8}")
        for name, case in cases.items():
            results = [case(seed) for seed in range(args.seed, args.seed + args.cases)]
            failures = [(what, problem) for what, problem in results if problem]
            kinds = Counter(what.split(":")[0] for what, _ in results)
            print(f"{name:40} {len(results):6d} {len(results) - len(failures):8d}   ({dict(kinds)})")
            for what, problem in failures[:5]:
                print(f"    MISHANDLED {what}: {problem}")
            total, bad = total + len(results), bad + len(failures)
        print(f"{'all':40} {total:6d} {total - bad:8d}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
