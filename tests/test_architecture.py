"""The layering of the package (docs/architecture.md), read from the source with ``ast``.

The import graph has one node per jaxmle module and one edge per ``import`` statement of a
jaxmle module, at module level or inside a function (relative imports resolved; ``from . import
x`` is an edge to the submodule ``x`` when there is one). Checked here:

* no jaxmle module is imported inside a function (only optional third-party packages are);
* the graph has no cycle. The edges out of a package ``__init__`` are left out of the
  cycle check: a package ``__init__`` is the package's public face and may re-export from
  any layer (``jaxmle.distributions`` re-exports ``fit_dist`` from :mod:`jaxmle.fitdist`,
  above the fit; ``jaxmle/__init__.py`` wires the refitting methods of ``FitResult``).
  That exclusion hides no cycle because no module imports a package ``__init__`` (checked
  too): modules import the submodules they use (``jaxmle.distributions.registry``, not
  ``jaxmle.distributions``), so no path of the graph can pass through a package
  ``__init__``;
* ``FitResult(`` is called in exactly one place;
* no ``_``-prefixed name is imported from a jaxmle module whose own name is public (private
  helpers are shared from private modules: ``_problem``, ``_format``, ``_compile``...).
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jaxmle"


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, pathlib.Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _base(name: str, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names."""
    if node.level == 0:
        return node.module or ""
    package = name if _is_package(name) else name.rsplit(".", 1)[0]
    parts = package.split(".")
    if node.level > 1:
        parts = parts[: len(parts) - (node.level - 1)]
    return ".".join(parts + ([node.module] if node.module else []))


class _Imports(ast.NodeVisitor):
    """Every import of a jaxmle module: (target module, imported names, inside a function?,
    line)."""

    def __init__(self, name: str):
        self.name = name
        self.depth = 0
        self.found: list[tuple[str, list[str], bool, int]] = []

    def _function(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Import(self, node: ast.Import):
        for alias in node.names:
            if alias.name == "jaxmle" or alias.name.startswith("jaxmle."):
                self.found.append((alias.name, [], self.depth > 0, node.lineno))

    def visit_ImportFrom(self, node: ast.ImportFrom):
        base = _base(self.name, node)
        if base != "jaxmle" and not base.startswith("jaxmle."):
            return
        plain = []
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if sub in MODULES:  # from . import submodule
                self.found.append((sub, [], self.depth > 0, node.lineno))
            else:
                plain.append(alias.name)
        if plain:
            self.found.append((base, plain, self.depth > 0, node.lineno))


def _imports() -> dict[str, list[tuple[str, list[str], bool, int]]]:
    out = {}
    for name, path in MODULES.items():
        visitor = _Imports(name)
        visitor.visit(ast.parse(path.read_text(), filename=str(path)))
        out[name] = visitor.found
    return out


IMPORTS = _imports()


def _private(module: str) -> bool:
    return any(part.startswith("_") for part in module.split(".")[1:])


def test_the_graph_is_read():
    assert "jaxmle.fit" in MODULES and "jaxmle.distributions.registry" in MODULES
    targets = {t for t, _, _, _ in IMPORTS["jaxmle.fit"]}
    assert {"jaxmle.results", "jaxmle._problem", "jaxmle.fixed"} <= targets
    assert "jaxmle.fitdist" in {t for t, _, _, _ in IMPORTS["jaxmle.distributions"]}


def test_no_jaxmle_module_is_imported_inside_a_function():
    inside = [
        f"{MODULES[name].relative_to(ROOT)}:{line} imports {target}"
        for name, found in IMPORTS.items()
        for target, _, in_function, line in found
        if in_function
    ]
    assert not inside, "jaxmle modules imported inside functions:\n" + "\n".join(inside)


def test_no_import_cycle():
    graph = {
        name: sorted({t for t, _, _, _ in found if t in MODULES and t != name})
        for name, found in IMPORTS.items()
        if not _is_package(name)
    }
    state: dict[str, int] = {}  # 1: on the path, 2: done
    cycles = []

    def visit(node, path):
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_module_imports_a_package_init():
    # (what lets the cycle check leave out the edges of a package __init__)
    found = [
        f"{name} imports the package {target}"
        for name, imports in IMPORTS.items()
        if not _is_package(name)
        for target, _, _, _ in imports
        if target in MODULES and _is_package(target)
    ]
    assert not found, "\n".join(found)


def test_fit_result_is_built_in_one_place():
    calls = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                called = f.id if isinstance(f, ast.Name) else getattr(f, "attr", None)
                if called == "FitResult":
                    calls.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert len(calls) == 1, f"FitResult( is called in {len(calls)} places: {calls}"


def test_no_private_name_from_a_public_module():
    found = [
        f"{name} imports {n} from {target}"
        for name, imports in IMPORTS.items()
        for target, names, _, _ in imports
        if not _private(target)
        for n in names
        if n.startswith("_") and n != "__version__"
    ]
    assert not found, "private names imported from public modules:\n" + "\n".join(found)
