"""The CI workflow is valid for GitHub (its JSON schema, vendored in check-jsonschema) and keeps the
properties the history job depends on."""

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


def test_the_history_job_keeps_its_order_and_fails_loudly():
    from ruamel.yaml import YAML  # comes with check-jsonschema

    flow = YAML(typ="safe").load(WORKFLOW.read_text())
    assert flow["permissions"] == {"contents": "read"} and flow["concurrency"]["group"]
    job = flow["jobs"]["history"]
    assert job["permissions"] == {"contents": "write", "deployments": "write"}
    names = [s.get("name") or s.get("uses") for s in job["steps"]]
    keep = names.index("Keep the history (before the action, so that it finds a clean work tree)")
    action = next(i for i, n in enumerate(names) if str(n).startswith("benchmark-action/github-action-benchmark"))
    assert keep < action  # the action's `git switch gh-pages` needs the history already committed
    script = job["steps"][keep]["run"]
    assert "git push origin HEAD:main" in script and "||" not in script  # a rejected push fails the job
    export = job["steps"][keep - 1]["run"]
    assert "runner.temp" in export  # the export lives outside the work tree
    assert job["steps"][action]["with"]["comment-on-alert"] is False
    for name in ("test", "ab-gate"):
        assert flow["jobs"][name]["permissions"] == {"contents": "read"}
