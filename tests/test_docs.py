"""Every command the README and docs/ show still works as written: each `python -m bench.X ...` (and each
script that passes its flags on to one) is parsed by that command's own parser, so a renamed or removed
flag fails here, and each Python script shown answers --help. The README keeps a newcomer's length."""

from __future__ import annotations

import importlib
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMANDS = {"run", "ab", "compare", "plot", "history", "merge", "ladder", "analysis", "store", "report", "continuous",
            "bisect", "workload"}


def _commands() -> list[tuple[str, str]]:
    """(page, command line) of every shell line in a ```bash block, continuation lines joined."""
    out = []
    for page in PAGES:
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    out.append((page.name, line))
    return out


def _argv(line: str) -> list[list[str]]:
    """The line's commands (split on && and ;), comments dropped."""
    words = shlex.split(line, comments=True)
    parts, cur = [], []
    for w in words:
        if w in ("&&", ";", "||"):
            parts.append(cur)
            cur = []
        else:
            cur.append(w)
    return [p for p in [*parts, cur] if p]


def _parse(module: str, args: list[str]) -> None:
    cli = importlib.import_module(f"bench.cli.{module}")
    p = cli.parser()
    try:
        if module == "ladder":
            p.parse_intermixed_args(args)
        elif module == "continuous":
            ns, rest = p.parse_known_args(args)
            _parse("ab", ["--baseline-tree", "x", *ns.ab_args, *rest])
        else:
            p.parse_args(args)
    except SystemExit as exc:
        if exc.code == 0:  # --help
            return
        raise AssertionError(f"python -m bench.{module} {shlex.join(args)}: refused by its parser") from exc


CASES = _commands()


def test_the_pages_show_commands():
    shown = " ".join(c for _, c in CASES)
    assert len(CASES) > 40 and all(f"bench.{m}" in shown for m in ("run", "continuous", "compare", "merge", "plot"))


@pytest.mark.parametrize("page, line", CASES, ids=[f"{p}:{c[:60]}" for p, c in CASES])
def test_every_shown_command_parses(page, line):
    for argv in _argv(line):
        for i, w in enumerate(argv):
            if w in ("-m",) and i + 1 < len(argv) and argv[i + 1].startswith("bench."):
                module = argv[i + 1].removeprefix("bench.")
                assert module in COMMANDS, f"{page}: python -m bench.{module} is not a command"
                _parse(module, argv[i + 2:])
                break
        else:
            if argv[:2] == ["bash", "scripts/ab.sh"]:
                rest = argv[3:]
                if rest and not rest[0].startswith("--"):
                    rest = rest[1:]  # OUT
                _parse("ab", ["--baseline-tree", "x", "--out", "y", *rest])
            elif argv[:2] == ["bash", "scripts/reproduce_reference.sh"]:
                _parse("run", argv[3:])
            elif argv[0] == "make" and len(argv) > 1 and argv[1].startswith("ARGS="):
                _parse("run", shlex.split(argv[1].removeprefix("ARGS=")))
            elif argv[:2] == ["ray", "start"]:
                ray = Path(sys.executable).parent / "ray"
                if not ray.exists():
                    pytest.skip("Ray is not installed (pip install '.[cluster]')")
                helptext = subprocess.run([str(ray), "start", "--help"], capture_output=True, text=True,
                                          timeout=120).stdout
                for flag in (w.split("=")[0] for w in argv[2:] if w.startswith("--")):
                    assert flag in helptext, f"{page}: ray start has no {flag}"
            elif len(argv) > 1 and argv[0].endswith("python") and argv[1].startswith("scripts/"):
                script = ROOT / argv[1]
                assert script.is_file(), f"{page}: {argv[1]} does not exist"
                proc = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                                      cwd=ROOT, timeout=120)
                assert proc.returncode == 0 and "usage" in proc.stdout.lower(), proc.stderr[-1000:]


def test_the_readme_is_in_a_newcomers_order_and_length():
    text = (ROOT / "README.md").read_text()
    heads = re.findall(r"(?m)^## (.+)$", text)
    assert heads[:5] == ["Set-up: two commands", "Reading a run", "Did my change make training slower?",
                         "Bring your own model", "Past one machine"]
    assert len(text.splitlines()) <= 250
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / link).is_file(), link
    for page in PAGES:  # every relative link of every page resolves
        for link in re.findall(r"\]\((?!https?:|#)([^)#\s]+)", page.read_text()):
            assert (page.parent / link).resolve().exists(), f"{page.name}: {link}"
