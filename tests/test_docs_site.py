"""The documentation site: every public name has a docstring with an example and a place
in the API reference, every page is in the nav, and ``mkdocs build --strict`` succeeds."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import os
import pathlib
import re
import subprocess
import sys
import types

import pytest

import jaxmle

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: public modules outside ``jaxmle.__all__`` (optional features), checked when they exist
OPTIONAL_MODULES = ("jaxmle.plot", "jaxmle.interop", "jaxmle.dask", "jaxmle.spark")
DIRECTIVE = re.compile(r"^::: *([\w.]+) *\n((?:[ \t]+.*\n|[ \t]*\n)*)", re.M)


# --------------------------------------------------------------------------
# the public names
# --------------------------------------------------------------------------
def _public_modules() -> list[types.ModuleType]:
    mods = [jaxmle]
    for name in OPTIONAL_MODULES:
        if importlib.util.find_spec(name) is not None:
            mods.append(importlib.import_module(name))
    return mods


def _public_names() -> dict[str, object]:
    """Dotted path -> object for every name in the ``__all__`` of the public modules,
    recursing into the submodules they export."""
    out: dict[str, object] = {}
    seen: set[str] = set()

    def walk(mod):
        if mod.__name__ in seen:
            return
        seen.add(mod.__name__)
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            out.setdefault(f"{mod.__name__}.{name}", obj)
            if isinstance(obj, types.ModuleType):
                walk(obj)

    for mod in _public_modules():
        out.setdefault(mod.__name__, mod)
        walk(mod)
    out.pop("jaxmle")
    return out


PUBLIC = _public_names()


def _attribute_docstrings() -> dict[str, list[str]]:
    """Name -> docstrings of the module-level assignments to it in jaxmle (the string
    literal right after ``NAME = ...``, the form mkdocstrings renders)."""
    found: dict[str, list[str]] = {}
    for path in (ROOT / "jaxmle").rglob("*.py"):
        body = ast.parse(path.read_text()).body
        for stmt, nxt in zip(body, body[1:]):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else []
            if isinstance(stmt, ast.AnnAssign):
                targets = [stmt.target]
            doc = (
                nxt.value.value
                if isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
                else None
            )
            for t in targets:
                if isinstance(t, ast.Name) and doc:
                    found.setdefault(t.id, []).append(inspect.cleandoc(doc))
    return found


def _docstring(path: str, obj: object, attribute_docs: dict[str, list[str]]) -> str:
    if isinstance(obj, (types.ModuleType, type)) or callable(obj):
        return obj.__doc__ or ""  # its own docstring, not an inherited one
    return "\n".join(attribute_docs.get(path.rsplit(".", 1)[-1], []))


def test_every_public_name_has_a_docstring_with_an_example():
    attribute_docs = _attribute_docstrings()
    missing = [
        path
        for path, obj in PUBLIC.items()
        if not any(m in _docstring(path, obj, attribute_docs) for m in (">>>", "```python"))
    ]
    assert not missing, (
        "these public names need a docstring with a runnable example (a '>>>' doctest): "
        + ", ".join(sorted(missing))
    )


# --------------------------------------------------------------------------
# the API reference
# --------------------------------------------------------------------------
def _api_pages() -> list[pathlib.Path]:
    return sorted({*DOCS.glob("api*.md"), *DOCS.glob("api/**/*.md")})


def _resolve(ident: str):
    """The object an identifier names, as mkdocstrings resolves it (modules first)."""
    parts = ident.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(ident)


def _option_patterns(options: str, key: str) -> list[str]:
    m = re.search(rf"^\s*{key}:\s*\[(.*)\]\s*$", options, re.M)
    return [s.strip().strip("\"'") for s in m.group(1).split(",")] if m else []


def _documented_ids() -> set[int]:
    """ids of the objects the API pages document: each ``::: ident`` entry, and the public
    members of each module entry (its ``__all__``, less what ``members``/``filters`` drop)."""
    ids: set[int] = set()
    for page in _api_pages():
        for ident, options in DIRECTIVE.findall(page.read_text()):
            obj = _resolve(ident)
            ids.add(id(obj))
            if not isinstance(obj, types.ModuleType):
                continue
            members = _option_patterns(options, "members")
            drop = [p[1:] for p in _option_patterns(options, "filters") if p.startswith("!")]
            for name in getattr(obj, "__all__", ()):
                if members and name not in members:
                    continue
                if any(re.search(p, name) for p in drop):
                    continue
                ids.add(id(getattr(obj, name)))
    return ids


def test_api_pages_exist_and_resolve():
    pages = _api_pages()
    assert pages, "no API reference pages (docs/api.md or docs/api/*.md)"
    for page in pages:
        for ident, _ in DIRECTIVE.findall(page.read_text()):
            _resolve(ident)  # raises for an entry that names nothing


def test_every_public_name_is_in_the_api_reference():
    documented = _documented_ids()
    missing = [path for path, obj in PUBLIC.items() if id(obj) not in documented]
    assert not missing, (
        "these public names are not in the API reference: add a '::: module.name' entry "
        "to a page under docs/api/ (or document their module there): " + ", ".join(sorted(missing))
    )


# --------------------------------------------------------------------------
# the site
# --------------------------------------------------------------------------
def _nav_pages() -> set[str]:
    text = (ROOT / "mkdocs.yml").read_text()
    nav = text[text.index("\nnav:") :]
    return set(re.findall(r"([\w./-]+\.md)\s*$", nav, re.M))


def test_every_page_is_in_the_nav():
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    pages = {p for p in pages if not p.startswith("_")}
    nav = _nav_pages()
    assert not pages - nav, f"pages missing from the nav of mkdocs.yml: {sorted(pages - nav)}"
    assert not nav - pages, f"nav entries without a page: {sorted(nav - pages)}"


def test_mkdocs_build_strict(tmp_path):
    for module in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python", "material"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e '.[docs]')")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stderr[-5000:]}"
    for page in ("index.html", "tutorial/index.html", "api/fitting/index.html"):
        assert (tmp_path / page).is_file(), page
    fitting = (tmp_path / "api/fitting/index.html").read_text()
    assert 'id="jaxmle.fit.fit"' in fitting and 'id="jaxmle.fit.fit_batch"' in fitting
