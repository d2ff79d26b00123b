"""The module graph of ``logad/``: no import cycles, and Ray only at the edges (DESIGN rules 1).

The graph is built from the source with :mod:`ast` (nothing is imported). An edge ``a -> b``
is an ``import``/``from ... import`` in ``a`` that names module ``b`` of logad (``from pkg
import name`` points at ``pkg.name`` when that is a module, else at ``pkg``). Two kinds count:

* module-level imports (run when ``a`` is imported): this graph must have no cycle at all;
* module-level *and* function-level (lazy) imports: this graph must have no cycle either, but
  for the edges in :data:`LAZY_BACK_EDGES`, each a deliberate way back named with its reason.

The subpackages (``logad.models``, ``logad.evaluate``, ...) must import each other in one
direction only, lazy imports included. Importing a submodule runs its package's
``__init__`` too; that implicit edge is not counted (a package may re-export its submodules).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "logad"

#: Lazy imports allowed to close a cycle, with why.
LAZY_BACK_EDGES = {
    # Detector.load on the base class may load any registered detector, and only those; the
    # registry imports every detector, each of which subclasses base.
    ("logad.models.base", "logad.models.registry"),
}

#: Where Ray may be imported (DESIGN rule 1: Ray at the edges).
RAY_EDGES = ("logad.ray", "logad.cli", "logad.pipeline")


def _modules(root: Path = ROOT) -> dict[str, Path]:
    mods = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def _imports(module: str, path: Path) -> list[tuple[tuple[str, ...], int, bool]]:
    """``(names, line, lazy)`` for every imported name in ``path``: ``names`` is ``(module,)``
    for ``import module`` and ``(pkg.name, pkg)`` for ``from pkg import name`` (the first of
    them that is a module is the one imported)."""
    out: list[tuple[tuple[str, ...], int, bool]] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend(((a.name,), child.lineno, inner) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    pkg = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                    pkg = pkg[:len(pkg) - child.level + 1]
                    base = ".".join(pkg + ([base] if base else []))
                out.extend(((f"{base}.{a.name}", base), child.lineno, inner) for a in child.names)
            visit(child, inner)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return out


def _graph(mods: dict[str, Path]) -> dict[str, dict[str, tuple[int, bool]]]:
    """``{a: {b: (line, lazy)}}``; an edge is lazy only when every import of it is."""
    edges: dict[str, dict[str, tuple[int, bool]]] = {m: {} for m in mods}
    for mod, path in mods.items():
        for names, line, lazy in _imports(mod, path):
            name = next((n for n in names if n in mods), None)
            if name is None or name == mod:
                continue
            old = edges[mod].get(name)
            if old is None or (old[1] and not lazy):
                edges[mod][name] = (line, lazy)
    return edges


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(v: str) -> list[str] | None:
        state[v] = 1
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state:
                found = dfs(w)
                if found:
                    return found
        stack.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state:
            found = dfs(v)
            if found:
                return found
    return None


def _describe(cycle: list[str], edges: dict[str, dict[str, tuple[int, bool]]],
              mods: dict[str, Path]) -> str:
    steps = []
    for a, b in zip(cycle, cycle[1:]):
        line, lazy = edges[a][b]
        steps.append(f"{a} -> {b} ({mods[a].relative_to(ROOT.parent)}:{line}"
                     f"{', lazy' if lazy else ''})")
    return "import cycle: " + "; ".join(steps)


MODS = _modules()
EDGES = _graph(MODS)


def test_the_graph_sees_the_package():
    assert len(MODS) > 100
    assert "logad.models.weights" in EDGES["logad.models.pca"]
    assert EDGES["logad.models.base"]["logad.models.registry"][1] is True  # lazy


def test_no_module_level_import_cycle():
    graph = {a: {b for b, (_, lazy) in e.items() if not lazy} for a, e in EDGES.items()}
    cycle = _find_cycle(graph)
    assert cycle is None, _describe(cycle, EDGES, MODS)


def test_no_import_cycle_counting_lazy_imports():
    graph = {a: {b for b in e if (a, b) not in LAZY_BACK_EDGES} for a, e in EDGES.items()}
    cycle = _find_cycle(graph)
    assert cycle is None, _describe(cycle, EDGES, MODS)
    for a, b in LAZY_BACK_EDGES:  # an allowed way back stays lazy, or it is a real cycle
        assert b in EDGES[a] and EDGES[a][b][1], f"{a} -> {b} is no longer a lazy import"


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_subpackages_import_in_one_direction():
    graph: dict[str, set[str]] = {}
    where: dict[str, dict[str, tuple[int, bool]]] = {}
    for a, e in EDGES.items():
        for b, info in e.items():
            pa_, pb = _package(a), _package(b)
            if pa_ != pb and (a, b) not in LAZY_BACK_EDGES:
                graph.setdefault(pa_, set()).add(pb)
                where.setdefault(pa_, {}).setdefault(pb, (a, b, info))
    cycle = _find_cycle(graph)
    if cycle is not None:
        steps = [f"{p} -> {q} (via {where[p][q][0]} -> {where[p][q][1]}, line {where[p][q][2][0]})"
                 for p, q in zip(cycle, cycle[1:])]
        pytest.fail("package import cycle: " + "; ".join(steps))


def _at_edge(module: str) -> bool:
    return any(module == e or module.startswith(f"{e}.") for e in RAY_EDGES)


def test_ray_only_at_the_edges():
    """No pure module imports Ray, lazily or not, nor a runner of ``logad.ray``."""
    bad = []
    for mod, path in MODS.items():
        if _at_edge(mod):
            continue
        for names, line, lazy in _imports(mod, path):
            name = names[-1]
            if name == "ray" or name.startswith("ray.") or name == "logad.ray" \
                    or name.startswith("logad.ray."):
                bad.append(f"{path.relative_to(ROOT.parent)}:{line} imports {name}"
                           f"{' (lazily)' if lazy else ''}")
    assert not bad, "Ray outside the runners (DESIGN rule 1):\n" + "\n".join(bad)


def test_the_checks_catch_a_cycle(tmp_path):
    """The graph code finds a cycle through ``from pkg import sub`` and a lazy import."""
    pkg = tmp_path / "logad" / "p"
    pkg.mkdir(parents=True)
    (tmp_path / "logad" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from logad.p import b\n")
    (pkg / "b.py").write_text("def f():\n    from logad.p.a import x\n")
    mods = _modules(tmp_path / "logad")
    edges = _graph(mods)
    assert edges["logad.p.a"] == {"logad.p.b": (1, False)}
    assert edges["logad.p.b"] == {"logad.p.a": (2, True)}
    assert _find_cycle({a: set(e) for a, e in edges.items()}) == ["logad.p.a", "logad.p.b",
                                                                   "logad.p.a"]
    assert _find_cycle({a: {b for b, (_, lz) in e.items() if not lz}
                        for a, e in edges.items()}) is None
