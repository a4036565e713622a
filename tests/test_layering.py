"""The layering rule of docs/architecture.md, made executable: a static import graph (``ast``, nothing imported).

Every ``import`` and ``from ... import`` statement of every module under ``engine/`` and ``app/`` counts: module
level, inside functions and methods, and under ``if TYPE_CHECKING:`` (a function-local import hides a cycle from
Python but not from a reader, and a type-only import is still a dependency of the design). Only string imports
(``importlib.import_module("...")``) are invisible here.

Rules:

* **app talks to the public API only.** A module under ``app/`` may import ``engine`` itself and the packages of
  :data:`ENGINE_PUBLIC`, and nothing else of the engine. The public packages are what a script or the explorer
  uses: the streaming session, its documents and the offline pipeline (``engine.generation``), finding and
  loading models (``engine.bundles``), cameras and paths (``engine.camera``), export (``engine.export``), files
  (``engine.io``), typed errors (``engine.errors``), procedural worlds and demos (``engine.synth``), evaluation
  (``engine.eval``), the command-line commands (``engine.commands``, ``engine.cli``), benchmarks
  (``engine.bench``), training (``engine.train``) and the camera-following score (``engine.score``). Everything else is the engine's inside: the DiT
  (``engine.model``), the adapters of external parts (``engine.components``), the numerics (``engine.ops``), test
  helpers (``engine.testing``) and any package added later until it is put on the list on purpose.
* **The engine never imports Qt or the app**: no module under ``engine/`` imports :data:`QT_AND_APP`.
* **No import cycles** among the project's modules (an edge ``a -> b`` for each import in ``a`` naming module
  ``b``; ``from pkg import name`` points at ``pkg.name`` when that is a module, else at ``pkg``).

The checker itself is tested on a tiny package written to ``tmp_path`` (a cycle hidden in a function, an internal
import from the app, Qt in the engine), so a checker that finds nothing cannot pass for a clean tree.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = ("engine", "app")

#: Engine packages and modules the app may import (see the module docstring for why each is public).
ENGINE_PUBLIC = (
    "engine.generation",
    "engine.bundles",
    "engine.camera",
    "engine.export",
    "engine.io",
    "engine.errors",
    "engine.synth",
    "engine.eval",
    "engine.commands",
    "engine.cli",
    "engine.bench",
    "engine.train",
    "engine.score",
)
#: The engine's internals, named in failure messages (the app reaches them only through the public API).
ENGINE_INTERNAL = ("engine.model", "engine.components", "engine.ops")
#: Top-level names no engine module may import.
QT_AND_APP = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "pyqtgraph", "app")


@dataclass(frozen=True)
class Import:
    """One import statement's target as seen from ``module`` (``line`` in its file)."""

    module: str
    target: str  # the dotted name imported (``from pkg import mod`` gives ``pkg.mod`` when that is a module)
    line: int
    internal: bool


def find_modules(root: Path, packages: tuple[str, ...] = PROJECT_PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``root/<package>`` (``pkg/__init__.py`` is ``pkg``)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """Every import in ``path`` (all nesting levels); ``internal`` when it names a project module (a name that is
    not one, say a module being renamed, is no edge of the graph but still counts for the app and Qt rules)."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        found += [Import(module, name, node.lineno, name in modules) for name in names]
    return found


def import_graph(root: Path, packages: tuple[str, ...] = PROJECT_PACKAGES) -> dict[str, list[Import]]:
    modules = find_modules(root, packages)
    return {module: imports_of(module, path, modules) for module, path in modules.items()}


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def app_violations(graph: dict[str, list[Import]]) -> list[Import]:
    """Imports from ``app`` of engine modules outside ``engine`` itself and :data:`ENGINE_PUBLIC`."""
    return [imp for module, imps in graph.items() if _within(module, ("app",)) for imp in imps
            if _within(imp.target, ("engine",)) and imp.target != "engine" and not _within(imp.target, ENGINE_PUBLIC)]


def engine_violations(graph: dict[str, list[Import]]) -> list[Import]:
    """Imports from ``engine`` of Qt bindings or of the app."""
    return [imp for module, imps in graph.items() if _within(module, ("engine",)) for imp in imps
            if _within(imp.target, QT_AND_APP)]


def import_cycles(graph: dict[str, list[Import]]) -> list[list[Import]]:
    """One cycle (as its edges, in order) per strongly connected component of the project-module graph."""
    edges: dict[str, dict[str, Import]] = {m: {} for m in graph}
    for module, imps in graph.items():
        for imp in imps:
            if imp.internal:
                edges[module].setdefault(imp.target, imp)
    # Tarjan's strongly connected components, iterative (no recursion limit on deep graphs)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    components.append(sorted(component))
    return [_cycle_in(component, edges) for component in components]


def _cycle_in(component: list[str], edges: dict[str, dict[str, Import]]) -> list[Import]:
    """A shortest cycle through the component's first module (breadth-first within the component)."""
    members = set(component)
    start = component[0]
    previous: dict[str, Import] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for target, imp in sorted(edges[node].items()):
                if target not in members:
                    continue
                if target == start:
                    path = [imp]
                    while path[0].module != start:
                        path.insert(0, previous[path[0].module])
                    return path
                if target not in previous:
                    previous[target] = imp
                    nxt.append(target)
        frontier = nxt
    raise AssertionError(f"no cycle through {start} in component {component}")  # pragma: no cover


def describe(imp: Import) -> str:
    return f"{imp.module} imports {imp.target} (line {imp.line})"


def describe_cycle(cycle: list[Import]) -> str:
    chain = " -> ".join([cycle[0].module, *(imp.target for imp in cycle)])
    return chain + "  [" + "; ".join(f"{imp.module}:{imp.line}" for imp in cycle) + "]"


# ----- the rule on this repository --------------------------------------------------------------------------------


def test_app_imports_only_the_engine_public_api():
    graph = import_graph(ROOT)
    new = [describe(imp) for imp in app_violations(graph)]
    assert not new, "app/ imports engine internals (use the public API, see this file's docstring):\n" + "\n".join(new)


def test_engine_imports_no_qt_and_no_app():
    bad = [describe(imp) for imp in engine_violations(import_graph(ROOT))]
    assert not bad, "engine/ must not import Qt or app/:\n" + "\n".join(bad)


def test_no_import_cycles():
    cycles = [describe_cycle(c) for c in import_cycles(import_graph(ROOT))]
    assert not cycles, "import cycles among project modules:\n" + "\n".join(cycles)


# ----- the checker on a synthetic package -------------------------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_checker_finds_hidden_cycle_internal_import_and_qt_in_engine(tmp_path):
    _write(tmp_path, {
        "engine/__init__.py": "",
        "engine/errors.py": "",
        "engine/model/__init__.py": "",
        "engine/model/block.py": "import torch\n",
        "engine/eval/__init__.py": "",
        "engine/eval/protocol.py": "from engine.eval.metrics import psnr\n\ndef run():\n    from . import exposure\n",
        "engine/eval/exposure.py": "from engine.eval.protocol import run\n",
        "engine/eval/metrics.py": "import numpy as np\n",
        "engine/viewer.py": "def show():\n    from PySide6.QtWidgets import QLabel\n",
        "app/__init__.py": "",
        "app/window.py": "from engine import errors\nfrom engine.model import block\nimport engine.eval.metrics\n",
    })  # fmt: skip
    graph = import_graph(tmp_path)

    assert [(i.module, i.target) for i in app_violations(graph)] == [("app.window", "engine.model.block")]
    assert [(i.module, i.target, i.line) for i in engine_violations(graph)] == [
        ("engine.viewer", "PySide6.QtWidgets", 2)]
    cycles = import_cycles(graph)
    assert len(cycles) == 1
    assert describe_cycle(cycles[0]).startswith(
        "engine.eval.exposure -> engine.eval.protocol -> engine.eval.exposure")


def test_checker_passes_a_layered_package(tmp_path):
    _write(tmp_path, {
        "engine/__init__.py": "from engine.generation import session\n",
        "engine/generation/__init__.py": "",
        "engine/generation/session.py": "from ..model import block\n",
        "engine/model/__init__.py": "",
        "engine/model/block.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import numpy\n",
        "app/__init__.py": "",
        "app/main.py": "from engine.generation.session import WorldSession\nfrom app import helpers\n",
        "app/helpers.py": "import engine\n",
    })  # fmt: skip
    graph = import_graph(tmp_path)

    assert app_violations(graph) == [] and engine_violations(graph) == [] and import_cycles(graph) == []
    assert ("engine.generation.session", "engine.model.block") in {(i.module, i.target) for i in graph[
        "engine.generation.session"]}
