"""The workflow's history job replayed with github-action-benchmark's own code (scripts/replay_dashboard.py):
two pushes, a re-run of the same commit and two pushes close together against a local bare origin whose main is
protected. It needs a checkout of the action at the pinned commit (dist/ and node_modules/ are committed there),
named by EMB_ACTION_DIR, and node; it skips with that reason elsewhere (CI has no network to fetch the action)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ACTION = Path(os.environ.get("EMB_ACTION_DIR", "/nonexistent"))
PINNED = re.search(r"github-action-benchmark@([0-9a-f]{40})",
                   (ROOT / ".github" / "workflows" / "benchmark.yml").read_text())[1]

pytestmark = [
    pytest.mark.serial,
    pytest.mark.skipif(not (ACTION / "dist" / "src" / "index.js").is_file(),
                       reason=f"no github-action-benchmark checkout: set EMB_ACTION_DIR to one at {PINNED} "
                              "(scripts/replay_dashboard.py's help)"),
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed"),
]


def test_the_history_job_survives_reruns_bursts_and_a_protected_main(tmp_path):
    out = tmp_path / "replay.json"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "replay_dashboard.py"), "--action", str(ACTION),
                           "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    results = json.loads(out.read_text())
    assert [r["scenario"][:2] for r in results] == ["1.", "2.", "3.", "4."] and all(r["passed"] for r in results)
    rerun = results[2]
    assert not rerun["gh_pages_moved"] and "Measure" not in rerun["jobs"][0]["steps_run"]
    assert results[3]["history_rows_by_commit"] and len(results[3]["history_rows_by_commit"]) == 4
    assert list(results[3]["dashboard_entries"].values()) == [4]
