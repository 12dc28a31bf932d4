"""The test tiers: every node id in tests/extended.txt names a test that exists.

conftest.py marks the listed tests ``extended`` and ignores a line that matches no test, so a
test renamed or moved without its line would fall back into the default run. This checks the
list against the tests the run collected (before ``-m`` deselects the extended ones): all of
them in a run of the whole suite, those of the files it collected in a run of some files."""

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXTENDED = ROOT / "tests" / "extended.txt"


def _listed():
    lines = EXTENDED.read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def test_extended_ids_are_unique_and_name_existing_files():
    listed = _listed()
    assert len(listed) == len(set(listed)), "a node id is listed twice"
    missing = sorted({i.split("::")[0] for i in listed if not (ROOT / i.split("::")[0]).is_file()})
    assert not missing, f"tests/extended.txt lists files that do not exist: {missing}"
    assert all("::" in i for i in listed)


def test_every_extended_id_names_a_collected_test(request, collected_node_ids):
    if any("::" in str(arg) for arg in request.config.args):
        pytest.skip("tests were chosen by node id: a file's other tests were not collected")
    files = {nodeid.split("::")[0] for nodeid in collected_node_ids}
    stale = [i for i in _listed() if i.split("::")[0] in files and i not in collected_node_ids]
    assert not stale, f"tests/extended.txt lists tests that do not exist: {stale}"
