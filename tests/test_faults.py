"""Fault injection: a long fit_batch interrupted between (or inside) its chunks keeps what
was already computed, and the command line never leaves a partial output file behind."""

import csv
import importlib

import numpy as np
import pytest
from helpers import NORMAL as MODEL

import jaxmle as jm
from jaxmle import cli

jfit = importlib.import_module("jaxmle.fit")  # the module (jm.fit is the function)


B, N, CHUNK = 9, 6, 2  # 5 chunks, the last one padded
X = np.random.default_rng(7).normal(2.0, 1.5, size=(B, N))


class Stop(Exception):
    pass


@pytest.fixture(scope="module")
def full():
    return jm.fit_batch(MODEL, X, chunk_size=CHUNK)


def _same_rows(partial, full, idx):
    for k in ("mu", "sigma"):
        np.testing.assert_array_equal(
            np.asarray(partial.params[k]), np.asarray(full.params[k])[idx]
        )
        np.testing.assert_array_equal(np.asarray(partial.se[k]), np.asarray(full.se[k])[idx])
    np.testing.assert_array_equal(np.asarray(partial.status), np.asarray(full.status)[idx])


def test_progress_callable_sees_every_chunk(full):
    calls = []
    res = jm.fit_batch(
        MODEL, X, chunk_size=CHUNK, progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(2, 9), (4, 9), (6, 9), (8, 9), (9, 9)]
    _same_rows(res, full, slice(None))


@pytest.mark.parametrize("exc", [Stop, KeyboardInterrupt], ids=["exception", "KeyboardInterrupt"])
def test_interrupt_from_the_progress_callback_keeps_finished_chunks(full, exc):
    def stop_after_two_chunks(done, total):
        if done >= 4:
            raise exc("stop")

    with pytest.raises(exc) as info:
        jm.fit_batch(MODEL, X, chunk_size=CHUNK, progress=stop_after_two_chunks)
    err = info.value
    np.testing.assert_array_equal(err.partial_index, [0, 1, 2, 3])
    assert err.partial.batch_shape == (4,)
    _same_rows(err.partial, full, slice(0, 4))
    assert any("4 of 9 datasets" in note for note in err.__notes__)


def test_interrupt_inside_a_chunk(full, monkeypatch):
    # Ctrl-C while the third chunk computes: the first two chunks are kept
    real, calls = jfit._kernel_chunk, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(jfit, "_kernel_chunk", flaky)
    with pytest.raises(KeyboardInterrupt) as info:
        jm.fit_batch(MODEL, X, chunk_size=CHUNK)
    np.testing.assert_array_equal(info.value.partial_index, [0, 1, 2, 3])
    _same_rows(info.value.partial, full, slice(0, 4))


def test_interrupt_before_anything_finished_says_so(monkeypatch):
    def dead(*args, **kwargs):
        raise Stop("device lost")

    monkeypatch.setattr(jfit, "_kernel_chunk", dead)
    with pytest.raises(Stop) as info:
        jm.fit_batch(MODEL, X, chunk_size=CHUNK)
    assert info.value.partial is None
    assert info.value.partial_index.size == 0
    assert any("nothing was kept" in note for note in info.value.__notes__)


# --------------------------------------------------------------------------
# the command line: --out is complete or absent
# --------------------------------------------------------------------------
@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "life.csv"
    lines = ["sensor,hours,failed"]
    for g in range(4):
        for h in 100 * rng.weibull(1.5, size=8):
            lines.append(f"s{g},{h:.3f},{int(rng.uniform() < 0.8)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _argv(table, out):
    return [
        "fit", str(table), "--family", "weibull", "--value", "hours", "--event", "failed",
        "--by", "sensor", "--out", str(out), "--quiet",
    ]  # fmt: skip


def test_cli_interrupted_fit_writes_no_output(table, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(jfit, "_kernel_chunk", interrupted)
    out = tmp_path / "res.csv"
    assert cli.main(_argv(table, out)) == cli.EXIT_INTERRUPTED
    assert not out.exists()


def test_cli_output_is_complete(table, tmp_path):
    out = tmp_path / "res.csv"
    assert cli.main(_argv(table, out)) == 0
    rows = out.read_text().splitlines()
    assert rows[0].startswith("sensor,")
    assert [r.split(",")[0] for r in rows[1:]] == ["s0", "s1", "s2", "s3"]


def test_cli_interrupted_write_leaves_no_partial_file(table, tmp_path, monkeypatch):
    out = tmp_path / "res.csv"
    out.write_text("previous,complete,file\n")
    real_writer = csv.writer

    class Interrupted:
        """A CSV writer interrupted in the middle of the rows (after the header and two)."""

        def __init__(self, *args, **kwargs):
            self.writer = real_writer(*args, **kwargs)

        def writerow(self, row):
            return self.writer.writerow(row)

        def writerows(self, rows):
            for i, row in enumerate(rows):
                if i == 2:
                    raise KeyboardInterrupt
                self.writer.writerow(row)

    monkeypatch.setattr(csv, "writer", Interrupted)
    assert cli.main(_argv(table, out)) == cli.EXIT_INTERRUPTED
    assert out.read_text() == "previous,complete,file\n"
    assert {p.name for p in tmp_path.iterdir()} == {"life.csv", "res.csv"}  # no temp left
