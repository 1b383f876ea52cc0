"""Replay the workflow's `history` job, with github-action-benchmark's own code, against a local bare origin.

    git clone https://github.com/benchmark-action/github-action-benchmark /tmp/gab
    git -C /tmp/gab checkout a60cea5bc7b49e15c1f58f411161f99e0df48372     # v1.22.0: dist/ and node_modules/
    python scripts/replay_dashboard.py --action /tmp/gab                    # node 20+ and git on PATH

The job is read from .github/workflows/benchmark.yml (or --workflow) and its steps run as GitHub runs them: each
`run:` with GitHub's shell (`shell: bash`: bash -eo pipefail; no shell named: bash -e), in a depth-1 fetch of
the pushed commit into an empty repository (what actions/checkout does), with
GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, RUNNER_TEMP and the push event's payload; the action's step runs
`node dist/src/index.js` of the checkout given, with its inputs as INPUT_* variables (its action.yml's defaults
for the rest) and its pushes to https://github.com/<repo> redirected to the local origin (git's url.insteadOf).
The origin's main is protected: a hook refuses any push to it but the developer's.

Scenarios, in order, on one origin:
  1. a first push (gh-pages holds only the empty set-up commit)
  2. a second push
  3. a re-run of the second push's job (a new attempt): nothing may be added twice
  4. two pushes close together: both jobs check out and measure before either publishes, then publish at the
     same moment (GitHub's concurrency group would queue them; this is the case it cannot always prevent)
After each: every job passed, main untouched by the jobs, history.csv and the dashboard's data.js on gh-pages
hold each pushed commit exactly once.

The replay's copy of the tree measures a smaller matrix than scripts/ci.toml (numpy mode, 2 configurations):
the job's steps and commands are the workflow's own. The jobs use this checkout's .venv (make is told it is
installed). Exit 0 when every scenario passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
REPO = "replay/eager-mlp-bench"  # the GitHub repository the job believes it runs in
TOKEN = "replay-token"
SMALL_MATRIX = """# the replay's matrix (scripts/replay_dashboard.py): small, so that a job measures in seconds
devices = ["cpu"]
modes = ["numpy"]
dtypes = ["float32"]
batch_sizes = [64, 256]
sizes = [20]
epochs = 2
min_repeats = 3
max_repeats = 3
peak_n = 0
"""
PROTECT = """#!/bin/sh
# main is protected: only the developer (REPLAY_DEVELOPER=1) may push to it; every attempt is logged
while read old new ref; do
  if [ "$ref" = "refs/heads/main" ] && [ "$REPLAY_DEVELOPER" != "1" ]; then
    echo "$ref $new" >> "$(dirname "$0")/../refused.log"
    echo "main is protected" >&2; exit 1
  fi
done
"""


def sh(cwd: Path, *args: str, env: dict | None = None) -> str:
    done = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()[-500:]}")
    return done.stdout.strip()


def git(cwd: Path, *args: str, developer: bool = False) -> str:
    env = {**os.environ, "REPLAY_DEVELOPER": "1"} if developer else None
    return sh(cwd, "git", "-c", "user.name=developer", "-c", "user.email=dev@example.invalid", *args, env=env)


def as_input(value) -> str:
    """An input's value as the runner passes it: YAML's true is the string 'true'."""
    return value if isinstance(value, str) else json.dumps(value)


class Expr:
    """The few GitHub expressions the job uses: contexts, 'strings', ==, !=, &&, ||, always()."""

    CONTEXT = re.compile(r"\b(github|env|steps|runner|secrets)((?:\.[A-Za-z0-9_-]+)+)")

    def __init__(self, contexts: dict):
        self.contexts = contexts

    def value(self, name: str, path: str):
        v = self.contexts[name]
        for part in path.strip(".").split("."):
            v = v.get(part, "") if isinstance(v, dict) else ""
        return v

    def evaluate(self, text: str):
        py = self.CONTEXT.sub(lambda m: repr(self.value(m[1], m[2])), text.replace("${{", "").replace("}}", ""))
        py = py.replace("&&", " and ").replace("||", " or ").replace("always()", "True").replace("success()", "OK")
        return eval(py, {"__builtins__": {}}, {"True": True, "OK": self.contexts["ok"]})  # noqa: S307

    def substitute(self, text: str) -> str:
        return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(self.evaluate(m[1])), str(text))


class Job:
    """One run of the workflow's job on a fresh runner."""

    def __init__(self, world: World, sha: str, label: str, attempt: int = 1):
        self.world, self.sha, self.label, self.attempt = world, sha, label, attempt
        self.home = world.root / "runners" / f"{label}-attempt{attempt}"
        self.work, self.temp = self.home / "work", self.home / "temp"
        self.log: list[str] = []
        self.ran: list[str] = []
        self.failed: str | None = None

    def prepare(self) -> None:
        self.temp.mkdir(parents=True)
        # actions/checkout: an empty repository, the pushed commit fetched at depth 1, main checked out there
        self.work.mkdir(parents=True)
        git(self.work, "init", "--quiet")
        git(self.work, "remote", "add", "origin", f"file://{self.world.origin}")
        git(self.work, "fetch", "--quiet", "--depth=1", "origin", f"+{self.sha}:refs/remotes/origin/main")
        git(self.work, "checkout", "--quiet", "--force", "-B", "main", "refs/remotes/origin/main")
        self.borrow_venv()
        event = {"repository": {"html_url": f"https://github.com/{REPO}", "full_name": REPO, "private": False},
                 "ref": "refs/heads/main", "after": self.sha,
                 "head_commit": {"id": self.sha, "message": git(self.work, "log", "-1", "--format=%s"),
                                 "timestamp": git(self.work, "log", "-1", "--format=%cI"),
                                 "url": f"https://github.com/{REPO}/commit/{self.sha}",
                                 "author": {"name": "developer", "email": "dev@example.invalid", "username": "dev"},
                                 "committer": {"name": "developer", "email": "dev@example.invalid",
                                               "username": "dev"}}}
        (self.home / "event.json").write_text(json.dumps(event))
        gitconfig = self.home / "gitconfig"
        gitconfig.write_text(f'[url "{self.world.origin}"]\n'
                             f"\tinsteadOf = https://x-access-token:{TOKEN}@github.com/{REPO}.git\n")
        self.outputs_file, self.summary = self.home / "github_output", self.home / "step_summary"
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "RUNNER_"))},
                    "GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_SHA": self.sha, "GITHUB_REF": "refs/heads/main",
                    "GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": str(self.home / "event.json"),
                    "GITHUB_REPOSITORY": REPO, "GITHUB_SERVER_URL": "https://github.com",
                    "GITHUB_API_URL": "https://api.github.com", "GITHUB_WORKSPACE": str(self.work),
                    "GITHUB_RUN_ATTEMPT": str(self.attempt), "GITHUB_STEP_SUMMARY": str(self.summary),
                    "RUNNER_TEMP": str(self.temp), "GIT_CONFIG_GLOBAL": str(gitconfig), "HOME": str(self.home)}
        self.contexts = {"github": {"sha": self.sha, "event_name": "push", "ref": "refs/heads/main",
                                    "run_attempt": str(self.attempt), "repository": REPO},
                         "runner": {"temp": str(self.temp)}, "secrets": {"GITHUB_TOKEN": TOKEN},
                         "steps": {}, "env": {}, "ok": True}
        self.expr = Expr(self.contexts)
        spec = self.world.job
        if not self.expr.evaluate(spec["if"]):
            raise RuntimeError(f"the job's condition is false for a push to main: {spec['if']}")
        for k, v in (spec.get("env") or {}).items():
            self.contexts["env"][k] = self.env[k] = self.expr.substitute(v)

    def retries(self) -> dict:
        """How often each writer to gh-pages had to try again (a push rejected because the other job won)."""
        text = "\n".join(self.log)
        pushes = [int(n) for n in re.findall(r"added \(push (\d+)\)", text)]
        return {"history_pushes": pushes[0] if pushes else 0,
                "action_retries": len(re.findall(r"Retrying to generate a commit and push", text))}

    def borrow_venv(self) -> None:
        """The job's .venv: this checkout's interpreter and site-packages, read-only in effect: its install
        stamps lie in the future, so `make` never runs pip (which would repoint this checkout's editable
        install at the runner's clone). `python -m bench...` in the clone imports the clone's code (the
        current folder comes first on sys.path)."""
        venv, real = self.work / ".venv", ROOT / ".venv"
        (venv / "bin").mkdir(parents=True)
        shutil.copy(real / "pyvenv.cfg", venv / "pyvenv.cfg")
        (venv / "bin" / "python").symlink_to(os.path.realpath(real / "bin" / "python"))
        (venv / "lib").symlink_to(real / "lib")
        later = time.time() + 86400
        for stamp in (".installed-run", ".installed-test"):
            (venv / stamp).touch()
            os.utime(venv / stamp, (later, later))

    def steps(self):
        return list(self.world.job["steps"])

    def run_steps(self, steps) -> None:
        for step in steps:
            name = step.get("name") or step.get("uses")
            cond = step.get("if", "success()")
            if not self.expr.evaluate(cond if self.failed is None or "always()" in cond else "False"):
                self.log.append(f"skipped: {name}")
                continue
            try:
                self.run_step(step)
                self.ran.append(name)
            except Exception as e:  # noqa: BLE001 - any failure fails the job, in a thread too
                self.failed = self.failed or f"{name}: {e}"
                self.contexts["ok"] = False
                self.log.append(f"FAILED: {name}: {e}")

    def run_step(self, step: dict) -> None:
        uses = step.get("uses", "")
        if uses.startswith("actions/checkout"):
            return  # done in prepare(): a fresh clone at the pushed commit
        if uses.startswith("actions/setup-python"):
            return  # the job calls .venv/bin/python
        if uses.startswith("actions/upload-artifact"):
            return
        if uses.startswith("benchmark-action/github-action-benchmark"):
            return self.run_action(uses, step.get("with") or {})
        self.outputs_file.write_text("")
        env = {**self.env, "GITHUB_OUTPUT": str(self.outputs_file)}
        script = self.expr.substitute(step["run"])
        done = subprocess.run([*self.world.shell(step), script], cwd=self.work, env=env, capture_output=True,
                              text=True)
        self.log.append(f"ran: {step.get('name')}: exit {done.returncode}\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
        if done.returncode:
            raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-400:]}")
        if step.get("id"):
            outputs = dict(line.split("=", 1) for line in self.outputs_file.read_text().splitlines() if "=" in line)
            self.contexts["steps"][step["id"]] = {"outputs": outputs}

    def run_action(self, uses: str, inputs: dict) -> None:
        pinned = uses.split("@", 1)[1].split()[0]
        have = self.world.action_commit
        if have is not None and have != pinned:
            raise RuntimeError(f"the workflow pins {pinned}, the action checkout is at {have}")
        env = dict(self.env)
        for name, value in self.world.action_defaults.items():
            env[f"INPUT_{name.upper()}"] = str(value)
        for name, value in inputs.items():
            env[f"INPUT_{name.upper()}"] = self.expr.substitute(as_input(value))
        done = subprocess.run(["node", str(self.world.action / "dist" / "src" / "index.js")], cwd=self.work, env=env,
                              capture_output=True, text=True)
        out = done.stdout + done.stderr
        self.log.append(f"ran: github-action-benchmark: exit {done.returncode}\n{out[-3000:]}")
        if done.returncode or "::error::" in out:
            raise RuntimeError(f"the action failed: {out.strip()[-600:]}")


class World:
    """The bare origin (main protected, gh-pages created once), a developer's clone, the action."""

    def __init__(self, root: Path, action: Path, workflow: Path):
        self.root, self.action = root, action
        flow = yaml.safe_load(workflow.read_text())
        self.job = flow["jobs"]["history"]
        self.default_shell = ((self.job.get("defaults") or flow.get("defaults") or {}).get("run") or {}).get("shell")
        meta = yaml.safe_load((action / "action.yml").read_text())
        self.action_defaults = {k: as_input(v["default"]) for k, v in meta["inputs"].items() if "default" in v}
        try:
            self.action_commit = sh(action, "git", "rev-parse", "HEAD")
        except RuntimeError:
            self.action_commit = None
        self.origin = root / "origin.git"
        git(root, "init", "--quiet", "--bare", "--initial-branch=main", str(self.origin))
        git(self.origin, "config", "uploadpack.allowAnySHA1InWant", "true")  # a fetch by commit, as GitHub allows
        hook = self.origin / "hooks" / "pre-receive"
        hook.write_text(PROTECT)
        hook.chmod(0o755)
        self.dev = root / "developer"
        self.dev.mkdir()
        files = sh(ROOT, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
        for f in filter(None, files):
            src = ROOT / f
            if src.is_file():
                (self.dev / f).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, self.dev / f)
        (self.dev / "scripts" / "ci.toml").write_text(SMALL_MATRIX)
        git(self.dev, "init", "--quiet", "--initial-branch=main")
        git(self.dev, "add", "-A")
        git(self.dev, "commit", "--quiet", "-m", "the tree under replay")
        git(self.dev, "remote", "add", "origin", str(self.origin))
        git(self.dev, "push", "--quiet", "origin", "main", developer=True)
        git(self.dev, "switch", "--quiet", "--orphan", "gh-pages")  # the one-time set-up of docs/workflow.md
        git(self.dev, "commit", "--quiet", "--allow-empty", "-m", "benchmark data")
        git(self.dev, "push", "--quiet", "origin", "gh-pages", developer=True)
        git(self.dev, "switch", "--quiet", "main")

    def shell(self, step: dict) -> list[str]:
        """How GitHub runs a `run:` step on Linux: `shell: bash` is bash --noprofile --norc -eo pipefail; no
        shell named at all is bash -e (no pipefail: a failing command before a pipe does not fail the step)."""
        shell = step.get("shell") or self.default_shell
        if shell == "bash":
            return ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]
        if shell is None:
            return ["bash", "-e", "-c"]
        raise RuntimeError(f"shell {shell!r}: not replayed")

    def push(self, what: str) -> str:
        """A developer's commit pushed to main; its sha."""
        (self.dev / "CHANGES.replay").open("a").write(what + "\n")
        git(self.dev, "add", "CHANGES.replay")
        git(self.dev, "commit", "--quiet", "-m", what)
        git(self.dev, "push", "--quiet", "origin", "main", developer=True)
        return git(self.dev, "rev-parse", "HEAD")

    def state(self) -> dict:
        """What the origin holds now."""
        main_tip = git(self.origin, "rev-parse", "main")
        history = subprocess.run(["git", "show", "gh-pages:history/history.csv"], cwd=self.origin,
                                 capture_output=True, text=True).stdout
        rows = list(csv.DictReader(io.StringIO(history)))
        commits = [row["commit"] for row in rows]
        runs_by_commit = {c: sorted({r["run_id"] for r in rows if r["commit"] == c}) for c in dict.fromkeys(commits)}
        data_js = subprocess.run(["git", "show", "gh-pages:dev/bench/data.js"], cwd=self.origin,
                                 capture_output=True, text=True).stdout
        entries = json.loads(data_js.split("=", 1)[1]).get("entries", {}) if data_js else {}
        refused = self.origin / "refused.log"
        return {"main": main_tip, "gh_pages": git(self.origin, "rev-parse", "gh-pages"),
                "history_rows_by_commit": {c: commits.count(c) for c in dict.fromkeys(commits)},
                "history_runs_by_commit": runs_by_commit,
                "dashboard_by_set": {k: [e["commit"]["id"] for e in v] for k, v in entries.items()},
                "refused_main_pushes": refused.read_text().splitlines() if refused.exists() else []}


def check(world: World, jobs: list[Job], pushed: list[str], main_tip: str) -> list[str]:
    """What is wrong after a scenario ([] when nothing)."""
    s = world.state()
    problems = [f"job {j.label} attempt {j.attempt} failed: {j.failed}" for j in jobs if j.failed]
    if s["main"] != main_tip:
        problems.append(f"main moved to {s['main'][:10]} (the jobs must not write main)")
    if s["refused_main_pushes"]:
        problems.append(f"a job tried to push to the protected main: {s['refused_main_pushes']}")
    rows = s["history_rows_by_commit"]
    if sorted(rows) != sorted(pushed):  # in a burst, in the order the jobs finish (the action's order too)
        problems.append(f"history.csv holds commits {[c[:7] for c in rows]}, expected {[c[:7] for c in pushed]}")
    twice = {c[:7]: runs for c, runs in s["history_runs_by_commit"].items() if len(runs) != 1}
    if twice:
        problems.append(f"history.csv holds a commit from more than one run (added twice): {twice}")
    sets = s["dashboard_by_set"]
    if len(sets) != 1:
        problems.append(f"the dashboard holds {len(sets)} benchmark sets, expected 1: {list(sets)}")
    for name, ids in sets.items():
        if sorted(ids) != sorted(pushed) or len(ids) != len(set(ids)):
            problems.append(f"the dashboard's {name!r} holds {[c[:7] for c in ids]}, expected each of "
                            f"{[c[:7] for c in pushed]} once")
    return problems


def run_scenarios(world: World, out) -> list[dict]:
    results, pushed = [], []

    def scenario(title: str, jobs: list[Job], runner) -> None:
        t0 = time.perf_counter()
        main_tip = git(world.origin, "rev-parse", "main")
        before = world.state()["gh_pages"]
        runner(jobs)
        problems = check(world, jobs, pushed, main_tip)
        after = world.state()
        entry = {"scenario": title, "passed": not problems, "problems": problems,
                 "seconds": round(time.perf_counter() - t0, 1),
                 "jobs": [{"commit": j.sha[:10], "attempt": j.attempt, "failed": j.failed, "steps_run": j.ran,
                           **j.retries()} for j in jobs],
                 "gh_pages_moved": after["gh_pages"] != before, "history_rows_by_commit":
                     {c[:10]: n for c, n in after["history_rows_by_commit"].items()},
                 "dashboard_entries": {k: len(v) for k, v in after["dashboard_by_set"].items()}}
        results.append(entry)
        print(f"{'PASS' if entry['passed'] else 'FAIL'}  {title}  ({entry['seconds']} s; history rows by commit "
              f"{entry['history_rows_by_commit']}; dashboard {entry['dashboard_entries']})", file=out)
        for j in entry["jobs"]:
            print(f"      job {j['commit']} attempt {j['attempt']}: {'failed' if j['failed'] else 'passed'}; "
                  f"history pushes {j['history_pushes']}, action retries {j['action_retries']}; "
                  f"steps run: {', '.join(map(str, j['steps_run']))}", file=out)
        for p in problems:
            print(f"      {p}", file=out)
        for j in jobs:
            if j.failed:
                print("\n".join("      | " + line for line in "\n".join(j.log).splitlines()[-40:]), file=out)

    def sequential(jobs):
        for j in jobs:
            j.prepare()
            j.run_steps(j.steps())

    def interleaved(jobs):
        """Both check out and measure first; then both publish at the same moment."""
        for j in jobs:
            j.prepare()
        split = next(i for i, s in enumerate(jobs[0].steps()) if s.get("name") == "Measure") + 1
        threads = [threading.Thread(target=j.run_steps, args=(j.steps()[:split],)) for j in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        barrier = threading.Barrier(len(jobs))

        def rest(j):
            barrier.wait()
            j.run_steps(j.steps()[split:])

        threads = [threading.Thread(target=rest, args=(j,)) for j in jobs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    a = world.push("first change")
    pushed.append(a)
    scenario("1. first push", [Job(world, a, "push1")], sequential)
    b = world.push("second change")
    pushed.append(b)
    scenario("2. second push", [Job(world, b, "push2")], sequential)
    rerun = Job(world, b, "push2", attempt=2)
    scenario("3. re-run of the second push's job", [rerun], sequential)
    if results[-1]["gh_pages_moved"]:
        results[-1]["passed"] = False
        results[-1]["problems"].append("the re-run committed to gh-pages")
    if "Measure" in rerun.ran:  # both stores had the commit: the re-run should not even measure
        results[-1]["passed"] = False
        results[-1]["problems"].append("the re-run measured again")
    c = world.push("third change")
    d = world.push("fourth change, pushed right after")
    pushed += [c, d]
    scenario("4. two pushes close together", [Job(world, c, "push3"), Job(world, d, "push4")], interleaved)
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--action", required=True, type=Path,
                   help="a checkout of benchmark-action/github-action-benchmark (dist/ and node_modules/ inside)")
    p.add_argument("--workflow", type=Path, default=ROOT / ".github" / "workflows" / "benchmark.yml")
    p.add_argument("--keep", type=Path, help="replay in this (new) folder and keep it (default: a temporary one)")
    p.add_argument("--json", type=Path, help="write the scenarios' results here")
    args = p.parse_args(argv)
    if not (args.action / "dist" / "src" / "index.js").is_file() or not (args.action / "node_modules").is_dir():
        print(f"error: --action: {str(args.action)!r} has no dist/src/index.js and node_modules/ (check out the "
              "pinned commit, see this script's help)", file=sys.stderr)
        return 2
    if shutil.which("node") is None or not (ROOT / ".venv" / "bin" / "python").exists():
        print("error: node and this checkout's .venv (make run) are needed", file=sys.stderr)
        return 2
    if args.keep is not None and args.keep.exists():
        print(f"error: --keep: {str(args.keep)!r} exists; give a new folder", file=sys.stderr)
        return 2
    root = args.keep or Path(tempfile.mkdtemp(prefix="emb-replay-"))
    root.mkdir(parents=True, exist_ok=args.keep is None)
    finder = next((ROOT / ".venv" / "lib").glob("python*/site-packages/__editable__*eager_mlp_bench*finder.py"), None)
    before = finder.read_text() if finder else None
    try:
        world = World(root, args.action.resolve(), args.workflow)
        results = run_scenarios(world, sys.stdout)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    if finder and finder.read_text() != before:
        print(f"error: a job reinstalled the package into {ROOT / '.venv'}; run `make test` to repair", file=sys.stderr)
        return 1
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    ok = all(r["passed"] for r in results)
    print("all scenarios passed" if ok else "some scenarios FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
