"""The facts the docs state hold in the code, so the docs cannot go stale quietly: every file path and every
`bench.` / `mlp_core.` name they quote in backticks exists (a module, or a module's top-level name), the
schema version they call current is the code's, every option on a quoted `python -m bench.X` line is X's,
every quoted `--option` is some command's or script's, and a default they quote is the one the command applies.
Names are read with `ast`; options from each command's own parser (bench.cli: no TensorFlow)."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from bench.format.fields import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PATH = re.compile(r"`((?:bench|mlp_core|scripts|tests|benchmarks|results|docs|examples|\.ci)/[^`\s]*)`")
DOTTED = re.compile(r"`((?:bench|mlp_core)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def _quoted(pattern: re.Pattern) -> list[tuple[str, str]]:
    return sorted({(page.relative_to(ROOT).as_posix(), m) for page in PAGES
                   for m in pattern.findall(page.read_text())})


@cache
def _top_names(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(names)


def _module_file(parts: list[str]) -> Path | None:
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def resolves(dotted: str) -> bool:
    """A module, or a module's top-level name, or a class's attribute one level down (bench.x.Class.attr)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        path = _module_file(parts[:cut])
        if path is None:
            continue
        rest = parts[cut:]
        if not rest:
            return True
        if rest[0] not in _top_names(path):
            return False
        if len(rest) == 1:
            return True
        tree = ast.parse(path.read_text())
        cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == rest[0]), None)
        return cls is not None and len(rest) == 2 and rest[1] in {
            getattr(n, "name", None) or getattr(getattr(n, "target", None), "id", None) for n in cls.body}
    return False


@pytest.mark.parametrize("page, path", _quoted(PATH))
def test_a_quoted_path_exists(page, path):
    if any(c in path for c in "<>*{}") or "runs/" in path or path.endswith("-"):
        pytest.skip("a pattern, not a path")
    assert (ROOT / path.rstrip("/.,;:")).exists(), f"{page} quotes {path}, which is not in the repository"


@pytest.mark.parametrize("page, name", _quoted(DOTTED))
def test_a_quoted_module_or_name_exists(page, name):
    assert resolves(name), f"{page} quotes {name}, which names no module or top-level name"


def test_the_schema_version_the_docs_call_current_is_the_codes():
    said = [(page.name, int(v)) for page in PAGES for v in re.findall(r"current (?:schema|version),? (\d+)",
                                                                       page.read_text())]
    assert said and all(v == SCHEMA_VERSION for _, v in said), said


def test_the_checker_finds_what_is_missing():
    assert resolves("bench.engine.loop.measure") and resolves("mlp_core.workloads.Workload.own_trainers")
    assert not resolves("bench.engine.loop.no_such_name") and not resolves("bench.no_such_module")


# ---- options and their defaults ------------------------------------------------------------------------
COMMANDS = ("ab", "analysis", "bisect", "compare", "continuous", "history", "ladder", "merge", "plot", "report",
            "run", "store", "workload")
# options of other tools the docs quote: pytest-benchmark's, callgrind's, Ray's `ray start`, pip's
FOREIGN = re.compile(r"--(benchmark-[a-z-]+|instr-atstart|separate-threads|node-ip-address|head|port|address|"
                     r"num-cpus|num-gpus|resources|block|no-cache-dir|upgrade|force|durations|collect-only)\Z")
INVOCATION = re.compile(r"python -m bench\.([a-z]+)((?:[^|&;`\n]|\\\n)*)")


@cache
def options() -> dict[str, dict[str, object]]:
    """command -> {option string: its default}, from each command's own parser (subcommands included)."""
    import argparse
    import importlib

    out: dict[str, dict[str, set[str]]] = {}
    for name in COMMANDS:
        found: dict[str, set[str]] = {}
        todo = [importlib.import_module(f"bench.cli.{name}").parser()]
        while todo:
            parser = todo.pop()
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    todo.extend(action.choices.values())
                # the default the command applies: the parser's, or the one its help states (a sweep option's
                # default is the preset's, applied after parsing: bench.cli.options.default_text)
                said = set(re.findall(r"default:? ([^\s;,)]+)", action.help or ""))
                if action.default not in (None, argparse.SUPPRESS):
                    said.add(str(action.default))
                for opt in action.option_strings:
                    found[opt] = said
        out[name] = found
    out["continuous"] = {**out["continuous"], **out["ab"]}  # REF, then every bench.ab option
    return out


def script_options() -> set[str]:
    """The options of the scripts in scripts/ (argparse's add_argument, or a shell script's test of $1)."""
    return {opt for path in (ROOT / "scripts").iterdir() if path.suffix in (".py", ".sh")
            for opt in re.findall(r"[\"'](--[a-z][a-z0-9-]*)[\"']", path.read_text())}


def _invocations() -> list[tuple[str, str, str]]:
    """(page, command, option) for every option on a `python -m bench.X ...` command line in the docs."""
    found = set()
    for page in PAGES:
        for command, rest in INVOCATION.findall(page.read_text()):
            for opt in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", rest):
                found.add((page.relative_to(ROOT).as_posix(), command, opt))
    return sorted(found)


@pytest.mark.parametrize("page, command, opt", _invocations())
def test_an_option_on_a_quoted_command_line_is_that_commands(page, command, opt):
    assert command in options(), f"{page}: python -m bench.{command} is no command"
    assert opt in options()[command] or FOREIGN.match(opt), \
        f"{page}: python -m bench.{command} has no option {opt}"


@pytest.mark.parametrize("page, opt", _quoted(re.compile(r"`(--[a-z][a-z0-9-]*)")))
def test_a_quoted_option_is_some_commands(page, opt):
    assert FOREIGN.match(opt) or opt in script_options() or any(opt in o for o in options().values()), \
        f"{page} quotes {opt}, no command's or script's"


# "`--opt VALUE` (the default" / "`--opt VALUE`, the default" / "`--opt`, default VALUE" / "`--opt` (default VALUE"
DEFAULT_SAID = re.compile(r"`(--[a-z][a-z0-9-]*) ([^`\s]+)`,? \(?the default\b|`(--[a-z][a-z0-9-]*)`,? \(?default:? "
                          r"([0-9][0-9.]*)")


def _defaults_said() -> list[tuple[str, str, str]]:
    found = set()
    for page in PAGES:
        for opt1, value1, opt2, value2 in DEFAULT_SAID.findall(page.read_text()):
            found.add((page.relative_to(ROOT).as_posix(), opt1 or opt2, value1 or value2))
    return sorted(found)


@pytest.mark.parametrize("page, opt, value", _defaults_said())
def test_a_default_the_docs_quote_is_the_parsers(page, opt, value):
    commands = [name for name, o in options().items() if opt in o]
    assert commands, f"{page}: {opt} is no command's option"
    applied = {d for name in commands for d in options()[name][opt]}
    assert value in applied, f"{page} says {opt} defaults to {value}; {', '.join(commands)} apply {sorted(applied)}"


def test_the_option_checks_see_options_and_defaults():
    assert "3" in options()["run"]["--min-repeats"] and "round" in options()["ab"]["--workers"]
    assert ("README.md", "run", "--devices") in _invocations() and _defaults_said()
    assert not any(opt in o for o in options().values() for opt in ["--no-such-option"])
