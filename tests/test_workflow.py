"""The CI workflow is valid for GitHub (its JSON schema, vendored in check-jsonschema) and keeps the
properties the history job depends on."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "benchmark.yml"


def check(path: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    return subprocess.run([exe, "--builtin-schema", "vendor.github-workflows", str(path)], capture_output=True,
                          text=True, timeout=120)


def test_the_workflow_is_valid_and_the_checker_would_notice_if_not(tmp_path):
    proc = check(WORKFLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-latest", "runs-on: [ubuntu-latest, 3]", 1)
                      .replace("contents: read", "contents: maybe", 1))
    assert check(broken).returncode != 0


def test_the_history_job_writes_only_gh_pages_and_pins_the_action():
    """What the replay (scripts/replay_dashboard.py, tests/test_replay_dashboard.py) relies on, checked on the text."""
    from ruamel.yaml import YAML  # comes with check-jsonschema

    flow = YAML(typ="safe").load(WORKFLOW.read_text())
    assert flow["permissions"] == {"contents": "read"} and flow["concurrency"]["group"]
    job = flow["jobs"]["history"]
    assert job["permissions"] == {"contents": "write"}  # no deployments: the action only pushes a branch
    steps = {s.get("name") or s.get("uses"): s for s in job["steps"]}
    scripts = "\n".join(s.get("run", "") for s in job["steps"])
    assert "main" not in scripts.replace("bench.", "")  # nothing pushes, pulls or commits main
    assert "bench.history publish" in steps["History on gh-pages"]["run"]
    action = steps["Dashboard"]
    name, commit = action["uses"].split("@")
    assert name == "benchmark-action/github-action-benchmark" and re.fullmatch(r"[0-9a-f]{40}", commit)
    assert not {"alert-threshold", "comment-on-alert", "fail-on-alert"} & set(action["with"])  # alerts dropped
    assert action["with"]["name"] == "${{ env.DASHBOARD }}" and "--dashboard-name \"$DASHBOARD\"" in scripts
    # a re-run of a recorded commit measures nothing and adds nothing
    recorded = steps["Already recorded?"]
    assert recorded["id"] == "recorded" and "bench.history recorded" in recorded["run"]
    assert "steps.recorded.outputs.history != 'true'" in steps["History on gh-pages"]["if"]
    assert "steps.recorded.outputs.dashboard != 'true'" in action["if"]
    assert "runner.temp" in steps["Export for the dashboard"]["run"]  # outside the work tree the action switches
    for name in ("test", "ab-gate"):
        assert flow["jobs"][name]["permissions"] == {"contents": "read"}
