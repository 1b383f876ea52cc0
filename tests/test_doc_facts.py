"""The facts the docs state hold in the code, so the docs cannot go stale quietly: every file path and every
`bench.` / `mlp_core.` name they quote in backticks exists (a module, or a module's top-level name), and the
schema version they call current is the code's. Read with `ast`: nothing is imported."""

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
