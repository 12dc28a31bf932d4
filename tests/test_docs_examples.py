"""Every ```python block of the README and docs/ runs, and checks what it shows with an
assertion (the docstring examples run as doctests)."""

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)

# Every block must assert what it shows (none is exempt).
WITHOUT_ASSERT: set[str] = set()


def _all_blocks():
    for path in FILES:
        for i, code in enumerate(BLOCK.findall(path.read_text())):
            yield f"{path.relative_to(ROOT)}#{i}", code


def _blocks():
    for name, code in _all_blocks():
        yield pytest.param(code, id=name)


@pytest.mark.parametrize("code", list(_blocks()))
def test_code_block_runs(code):
    namespace: dict = {}
    exec(compile(code, "<docs>", "exec"), namespace)


def _asserts(code: str) -> bool:
    """An ``assert`` statement, or a call of an ``assert*`` function (``np.testing``'s)."""
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name.startswith("assert"):
                return True
    return False


def test_every_code_block_asserts():
    blocks = dict(_all_blocks())
    assert len(blocks) > 50  # the pattern still finds the blocks
    silent = {name for name, code in blocks.items() if not _asserts(code)}
    assert silent <= WITHOUT_ASSERT, (
        f"blocks without an assertion: {sorted(silent - WITHOUT_ASSERT)}"
    )
    # an exempt block that now asserts (or is gone) leaves the list
    assert silent == WITHOUT_ASSERT, (
        f"no longer without an assertion: {sorted(WITHOUT_ASSERT - silent)}"
    )


def test_assert_check_sees_assertions():
    assert _asserts("assert x == 1")
    assert _asserts("np.testing.assert_allclose(a, b)")
    assert not _asserts("print(x)  # assert nothing")
    assert not _asserts("x = 'assert'")
