"""What docs/architecture.md says of the layers holds in the code: no import cycle among the project's modules
(every import statement counted, function-level ones too), and each layer imports only the layers below it
(mlp_core < bench.format < bench.engine < bench.analysis < bench.cli < the `python -m bench.X` shims), the one
exception being the `python -m bench.analysis` shim inside its package. A string that names a project module as
"package.module:attribute" (a lazily imported trainer) counts as an import of it: a cycle hidden in a string is a
cycle. Read with `ast`: nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RANK = {"mlp_core": 0, "bench.format": 1, "bench.engine": 2, "bench.analysis": 3, "bench.cli": 4}
SHIMS_INSIDE = {"bench.analysis.__main__"}  # `python -m bench.analysis` is a shim like bench/plot.py


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for pkg in ("bench", "mlp_core") for p in (ROOT / pkg).rglob("*.py")}


def imports(name: str) -> set[str]:
    """The project modules `name` imports, by any import statement in it."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            out.update(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and ":" in node.value:
            out.add(node.value.partition(":")[0].strip())  # "package.module:attribute"
    return {m for m in out if m in MODULES and m != name}


def rank(name: str) -> int:
    return next((r for k, r in sorted(RANK.items(), key=lambda kv: -len(kv[0]))
                 if name == k or name.startswith(k + ".")), len(RANK))


def test_no_module_imports_a_layer_above_its_own():
    upward = [(m, d) for m in MODULES for d in imports(m) if rank(d) > rank(m) and m not in SHIMS_INSIDE]
    assert upward == []


def test_no_import_cycle():
    graph = {m: imports(m) for m in MODULES}
    state: dict[str, int] = {}  # 1: on the path, 2: done
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_reader_finds_imports():
    """The reader sees what a module imports (else the two tests above would pass on nothing)."""
    assert "bench.format.spec" in imports("bench.cli.run") and "mlp_core.modes" in imports("bench.format.spec")
    assert {"mlp_core.tf_train", "mlp_core.keras_train", "mlp_core.numba_train"} <= imports("mlp_core.trainer")
    assert rank("bench.cli.run") > rank("bench.analysis.html") > rank("bench.engine.loop") > rank("bench.format.io")


def test_the_registries_name_no_code():
    """mlp_core.modes and mlp_core.workloads know names and facts: no project module is named in them, by an
    import statement or by a "module:attribute" string (every layer may read them)."""
    assert imports("mlp_core.modes") == set()
    assert imports("mlp_core.workloads") <= {"mlp_core.modes", "mlp_core.cnn", "mlp_core.data", "mlp_core.flops",
                                             "mlp_core.metrics"}
